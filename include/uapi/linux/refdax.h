/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * refdax's interface to user space: the stats file and its line names. One header for the
 * module and its selftests, as lib/test_hmm_uapi.h is for hmm-tests.c: the module's Rust
 * constants are generated from it (rust/uapi/bindings.rs, checked by `make check`), and the
 * selftests include it, so a name cannot change on one side only.
 */
#ifndef _UAPI_LINUX_REFDAX_H
#define _UAPI_LINUX_REFDAX_H

/* The stats file: one "name value" line per counter, in the order below. */
#define REFDAX_STATS_FILE			"/sys/kernel/debug/refdax/stats"

/* How the kernel tells refdax that a folio is free: REFDAX_NOTIFY_*. */
#define REFDAX_STAT_NOTIFY_MODE			"notify_mode"
#define REFDAX_STAT_PHYS_ADDR			"phys_addr"
#define REFDAX_STAT_PAGES_TOTAL			"pages_total"
/* Folios of the range with a non-zero refcount, by a full scan. */
#define REFDAX_STAT_FOLIOS_REFERENCED		"folios_referenced"
#define REFDAX_STAT_PTE_FAULTS			"pte_faults"
#define REFDAX_STAT_PMD_FAULTS			"pmd_faults"
#define REFDAX_STAT_PMD_FOLIOS_BUILT		"pmd_folios_built"
#define REFDAX_STAT_PMD_FOLIOS_SPLIT		"pmd_folios_split"
/* Whole extents that left a file in one step (their pages one folio). */
#define REFDAX_STAT_EXTENTS_RELEASED		"extents_released"
/* All PMD fallbacks, then one line per reason (the refdax_pmd_fallback trace event's). */
#define REFDAX_STAT_PMD_FALLBACKS		"pmd_fallbacks"
#define REFDAX_STAT_PMD_FALLBACK_MISALIGNED	"pmd_fallback_misaligned"
#define REFDAX_STAT_PMD_FALLBACK_SHORT_EXTENT	"pmd_fallback_short_extent"
#define REFDAX_STAT_PMD_FALLBACK_FILE_END	"pmd_fallback_file_end"
#define REFDAX_STAT_PMD_FALLBACK_SUBPAGES_MAPPED "pmd_fallback_subpages_mapped"
#define REFDAX_STAT_PMD_FALLBACK_PRIVATE_WRITE	"pmd_fallback_private_write"
#define REFDAX_STAT_PMD_FALLBACK_PTE_ONLY	"pmd_fallback_pte_only"
#define REFDAX_STAT_PMD_FALLBACK_NO_MEMORY	"pmd_fallback_no_memory"
#define REFDAX_STAT_PMD_FALLBACK_POISONED	"pmd_fallback_poisoned"
#define REFDAX_STAT_PMD_FALLBACK_UNSETTLED	"pmd_fallback_unsettled"
#define REFDAX_STAT_FOLIO_FREE_CALLS		"folio_free_calls"
#define REFDAX_STAT_BUSY_RELEASED		"busy_released"
#define REFDAX_STAT_BLOCKS_TOTAL		"blocks_total"
#define REFDAX_STAT_BLOCKS_FREE			"blocks_free"
#define REFDAX_STAT_BLOCKS_BUSY			"blocks_busy"
#define REFDAX_STAT_BLOCKS_QUARANTINED		"blocks_quarantined"
#define REFDAX_STAT_PAGES_POISONED		"pages_poisoned"
#define REFDAX_STAT_PROBES			"probes"
/* The last full scan of the range (what teardown costs per pass): pages and nanoseconds. */
#define REFDAX_STAT_SCAN_PAGES			"scan_pages"
#define REFDAX_STAT_SCAN_NS			"scan_ns"

/* The values of notify_mode. */
#define REFDAX_NOTIFY_FOLIO_FREE		"folio_free"
#define REFDAX_NOTIFY_WAKE_VAR			"wake_var"

#endif /* _UAPI_LINUX_REFDAX_H */
