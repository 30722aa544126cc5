/* SPDX-License-Identifier: GPL-2.0 */
/*
 * refdax trace events: the lifetime of refdax's FS DAX folios.
 *
 * Included twice by refdax_shim.c (once with CREATE_TRACE_POINTS); Rust calls the
 * refdax_trace_*() wrappers there.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM refdax

#if !defined(_REFDAX_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _REFDAX_TRACE_H

#include <linux/tracepoint.h>

/* A folio of refdax's pgmap reached refcount zero and the owner was notified. */
TRACE_EVENT(refdax_folio_free,
	TP_PROTO(unsigned long pfn, unsigned int order, unsigned long ino,
		 unsigned long index),
	TP_ARGS(pfn, order, ino, index),
	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(unsigned int, order)
		__field(unsigned long, ino)
		__field(unsigned long, index)
	),
	TP_fast_assign(
		__entry->pfn = pfn;
		__entry->order = order;
		__entry->ino = ino;
		__entry->index = index;
	),
	TP_printk("pfn=0x%lx order=%u inode=%lu index=%lu",
		  __entry->pfn, __entry->order, __entry->ino, __entry->index)
);

/* A fault in a refdax file mapped (or set up the copy of) a folio. */
TRACE_EVENT(refdax_fault,
	TP_PROTO(unsigned long pfn, unsigned int order, unsigned long pgoff, bool write),
	TP_ARGS(pfn, order, pgoff, write),
	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(unsigned int, order)
		__field(unsigned long, pgoff)
		__field(bool, write)
	),
	TP_fast_assign(
		__entry->pfn = pfn;
		__entry->order = order;
		__entry->pgoff = pgoff;
		__entry->write = write;
	),
	TP_printk("pfn=0x%lx order=%u pgoff=%lu write=%d",
		  __entry->pfn, __entry->order, __entry->pgoff, __entry->write)
);

/* A block went back to the free pool. */
TRACE_EVENT(refdax_block_release,
	TP_PROTO(unsigned long block, unsigned long ino),
	TP_ARGS(block, ino),
	TP_STRUCT__entry(
		__field(unsigned long, block)
		__field(unsigned long, ino)
	),
	TP_fast_assign(
		__entry->block = block;
		__entry->ino = ino;
	),
	TP_printk("block=%lu inode=%lu", __entry->block, __entry->ino)
);

/* A block left its file while still referenced: it waits for the free notification. */
TRACE_EVENT(refdax_block_busy,
	TP_PROTO(unsigned long block, int refcount),
	TP_ARGS(block, refcount),
	TP_STRUCT__entry(
		__field(unsigned long, block)
		__field(int, refcount)
	),
	TP_fast_assign(
		__entry->block = block;
		__entry->refcount = refcount;
	),
	TP_printk("block=%lu refcount=%d", __entry->block, __entry->refcount)
);

#endif /* _REFDAX_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE refdax_trace
#include <trace/define_trace.h>
