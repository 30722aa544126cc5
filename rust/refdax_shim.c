// SPDX-License-Identifier: GPL-2.0
/*
 * refdax C shim: the static inline helpers the Rust side cannot call directly, and the
 * trace events. Nothing here decides anything; see rust/abstractions/ffi.rs for the
 * declarations and the contracts.
 */
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/mm.h>

#include "refdax_shim.h"

#define CREATE_TRACE_POINTS
#include "refdax_trace.h"

struct folio *refdax_pfn_folio(unsigned long pfn)
{
	return page_folio(pfn_to_page(pfn));
}

unsigned long refdax_folio_pfn(struct folio *folio)
{
	return folio_pfn(folio);
}

unsigned int refdax_folio_order(struct folio *folio)
{
	return folio_order(folio);
}

/*
 * refdax hands out an idle folio only after moving its refcount from zero to one in one
 * step, so that two claimants can never both believe they took the first reference.
 */
bool refdax_folio_try_get_idle(struct folio *folio)
{
	return atomic_cmpxchg(&folio->_refcount, 0, 1) == 0;
}

void refdax_folio_put(struct folio *folio)
{
	folio_put(folio);
}

struct dev_pagemap *refdax_folio_pgmap(struct folio *folio)
{
	return page_pgmap(&folio->page);
}

/*
 * The folio_free op of refdax's pagemap. It lives in C only so that ftrace can name it
 * (Rust code is not instrumented for ftrace in 7.3); the work is done in Rust.
 */
void refdax_folio_free(struct folio *folio)
{
	refdax_pgmap_folio_free(folio);
}

struct resource *refdax_request_mem_region(u64 start, u64 n, const char *name)
{
	return request_mem_region(start, n, name);
}

void refdax_release_mem_region(u64 start, u64 n)
{
	release_mem_region(start, n);
}

void refdax_trace_folio_free(unsigned long pfn, unsigned int order,
			     unsigned long ino, unsigned long index)
{
	trace_refdax_folio_free(pfn, order, ino, index);
}
