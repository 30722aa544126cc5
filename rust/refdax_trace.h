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

/*
 * A PMD fault fell back to PTEs. The reasons are rust/stats.rs's PmdFallback, in order;
 * their names are also the pmd_fallback_* lines of the stats file.
 */
TRACE_EVENT(refdax_pmd_fallback,
	TP_PROTO(unsigned long pgoff, unsigned int reason),
	TP_ARGS(pgoff, reason),
	TP_STRUCT__entry(
		__field(unsigned long, pgoff)
		__field(unsigned int, reason)
	),
	TP_fast_assign(
		__entry->pgoff = pgoff;
		__entry->reason = reason;
	),
	TP_printk("pgoff=%lu reason=%s", __entry->pgoff,
		  __print_symbolic(__entry->reason,
				   { 0, "misaligned" },
				   { 1, "short_extent" },
				   { 2, "file_end" },
				   { 3, "subpages_mapped" },
				   { 4, "private_write" },
				   { 5, "pte_only" },
				   { 6, "no_memory" },
				   { 7, "poisoned" },
				   { 8, "unsettled" }))
);

/*
 * Teardown (module unload) found folios still referenced and waits for them: how many, and
 * the first; then, when none is left, how many scans it took and how long.
 */
TRACE_EVENT(refdax_teardown_wait_start,
	TP_PROTO(unsigned long referenced, unsigned long first_pfn),
	TP_ARGS(referenced, first_pfn),
	TP_STRUCT__entry(
		__field(unsigned long, referenced)
		__field(unsigned long, first_pfn)
	),
	TP_fast_assign(
		__entry->referenced = referenced;
		__entry->first_pfn = first_pfn;
	),
	TP_printk("referenced=%lu first_pfn=0x%lx", __entry->referenced, __entry->first_pfn)
);

TRACE_EVENT(refdax_teardown_wait_end,
	TP_PROTO(unsigned long passes, unsigned long long waited_ns),
	TP_ARGS(passes, waited_ns),
	TP_STRUCT__entry(
		__field(unsigned long, passes)
		__field(unsigned long long, waited_ns)
	),
	TP_fast_assign(
		__entry->passes = passes;
		__entry->waited_ns = waited_ns;
	),
	TP_printk("passes=%lu waited_ns=%llu", __entry->passes, __entry->waited_ns)
);

#endif /* _REFDAX_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE refdax_trace
#include <trace/define_trace.h>
