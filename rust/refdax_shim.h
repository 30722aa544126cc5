/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim's entry points, called from Rust (declared again in rust/abstractions/ffi.rs).
 */
#ifndef _REFDAX_SHIM_H
#define _REFDAX_SHIM_H

#include <linux/types.h>

struct dev_pagemap;
struct folio;
struct resource;

struct folio *refdax_pfn_folio(unsigned long pfn);
unsigned long refdax_folio_pfn(struct folio *folio);
unsigned int refdax_folio_order(struct folio *folio);
bool refdax_folio_try_get_idle(struct folio *folio);
void refdax_folio_put(struct folio *folio);
struct dev_pagemap *refdax_folio_pgmap(struct folio *folio);

struct resource *refdax_request_mem_region(u64 start, u64 n, const char *name);
void refdax_release_mem_region(u64 start, u64 n);

void refdax_folio_free(struct folio *folio);
/* Defined in Rust by pagemap_ops!. */
void refdax_pgmap_folio_free(struct folio *folio);

void refdax_trace_folio_free(unsigned long pfn, unsigned int order,
			     unsigned long ino, unsigned long index);

#endif /* _REFDAX_SHIM_H */
