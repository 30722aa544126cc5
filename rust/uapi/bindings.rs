// SPDX-License-Identifier: GPL-2.0

// Generated from include/uapi/linux/refdax.h by scripts/gen-shim-bindings.sh: do not edit.

pub const REFDAX_STATS_FILE: &[u8; 31] = b"/sys/kernel/debug/refdax/stats\0";
pub const REFDAX_STAT_NOTIFY_MODE: &[u8; 12] = b"notify_mode\0";
pub const REFDAX_STAT_PHYS_ADDR: &[u8; 10] = b"phys_addr\0";
pub const REFDAX_STAT_PAGES_TOTAL: &[u8; 12] = b"pages_total\0";
pub const REFDAX_STAT_FOLIOS_REFERENCED: &[u8; 18] = b"folios_referenced\0";
pub const REFDAX_STAT_PTE_FAULTS: &[u8; 11] = b"pte_faults\0";
pub const REFDAX_STAT_PMD_FAULTS: &[u8; 11] = b"pmd_faults\0";
pub const REFDAX_STAT_PMD_FOLIOS_BUILT: &[u8; 17] = b"pmd_folios_built\0";
pub const REFDAX_STAT_PMD_FOLIOS_SPLIT: &[u8; 17] = b"pmd_folios_split\0";
pub const REFDAX_STAT_EXTENTS_RELEASED: &[u8; 17] = b"extents_released\0";
pub const REFDAX_STAT_PMD_FALLBACKS: &[u8; 14] = b"pmd_fallbacks\0";
pub const REFDAX_STAT_PMD_FALLBACK_MISALIGNED: &[u8; 24] = b"pmd_fallback_misaligned\0";
pub const REFDAX_STAT_PMD_FALLBACK_SHORT_EXTENT: &[u8; 26] = b"pmd_fallback_short_extent\0";
pub const REFDAX_STAT_PMD_FALLBACK_FILE_END: &[u8; 22] = b"pmd_fallback_file_end\0";
pub const REFDAX_STAT_PMD_FALLBACK_SUBPAGES_MAPPED: &[u8; 29] = b"pmd_fallback_subpages_mapped\0";
pub const REFDAX_STAT_PMD_FALLBACK_PRIVATE_WRITE: &[u8; 27] = b"pmd_fallback_private_write\0";
pub const REFDAX_STAT_PMD_FALLBACK_PTE_ONLY: &[u8; 22] = b"pmd_fallback_pte_only\0";
pub const REFDAX_STAT_PMD_FALLBACK_NO_MEMORY: &[u8; 23] = b"pmd_fallback_no_memory\0";
pub const REFDAX_STAT_PMD_FALLBACK_POISONED: &[u8; 22] = b"pmd_fallback_poisoned\0";
pub const REFDAX_STAT_PMD_FALLBACK_UNSETTLED: &[u8; 23] = b"pmd_fallback_unsettled\0";
pub const REFDAX_STAT_FOLIO_FREE_CALLS: &[u8; 17] = b"folio_free_calls\0";
pub const REFDAX_STAT_BUSY_RELEASED: &[u8; 14] = b"busy_released\0";
pub const REFDAX_STAT_BLOCKS_TOTAL: &[u8; 13] = b"blocks_total\0";
pub const REFDAX_STAT_BLOCKS_FREE: &[u8; 12] = b"blocks_free\0";
pub const REFDAX_STAT_BLOCKS_BUSY: &[u8; 12] = b"blocks_busy\0";
pub const REFDAX_STAT_BLOCKS_QUARANTINED: &[u8; 19] = b"blocks_quarantined\0";
pub const REFDAX_STAT_PAGES_POISONED: &[u8; 15] = b"pages_poisoned\0";
pub const REFDAX_STAT_PROBES: &[u8; 7] = b"probes\0";
pub const REFDAX_STAT_SCAN_PAGES: &[u8; 11] = b"scan_pages\0";
pub const REFDAX_STAT_SCAN_NS: &[u8; 8] = b"scan_ns\0";
pub const REFDAX_NOTIFY_FOLIO_FREE: &[u8; 11] = b"folio_free\0";
pub const REFDAX_NOTIFY_WAKE_VAR: &[u8; 9] = b"wake_var\0";
