// SPDX-License-Identifier: GPL-2.0

//! Exact event counters, shown in `/sys/kernel/debug/refdax/stats`.

use crate::uapi;
use kernel::sync::atomic::{Atomic, Relaxed};

/// One counter: updated with relaxed atomics from any context, read as a snapshot.
pub(crate) struct Counter(Atomic<u64>);

impl Counter {
    pub(crate) const fn new() -> Self {
        Self(Atomic::new(0))
    }

    pub(crate) fn inc(&self) {
        self.0.add(1, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// How refdax learns that one of its folios is free.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotifyMode {
    /// The kernel calls the pagemap's `folio_free` for FS DAX folios (refdax's patch 0001).
    FolioFree,
    /// A stock kernel: only `wake_up_var()` on the page; refdax must wait on it.
    WakeVar,
}

impl NotifyMode {
    /// The name shown in the `stats` file and the log.
    pub(crate) fn name(self) -> &'static str {
        uapi::name(match self {
            Self::FolioFree => uapi::REFDAX_NOTIFY_FOLIO_FREE,
            Self::WakeVar => uapi::REFDAX_NOTIFY_WAKE_VAR,
        })
    }
}

/// Why a PMD fault fell back to PTEs. The discriminants are the `reason` of the
/// `refdax_pmd_fallback` trace event (`rust/refdax_trace.h` names them in this order).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PmdFallback {
    /// The 2 MiB window around the address is not wholly inside the VMA, or the file offset
    /// of its start is not 2 MiB aligned.
    Misaligned = 0,
    /// The window's file pages are not one aligned, contiguous extent of blocks.
    ShortExtent = 1,
    /// The window reaches past the end of the file.
    FileEnd = 2,
    /// A page of the extent is referenced on its own (mapped by PTEs elsewhere, pinned).
    SubpagesMapped = 3,
    /// A write in a private mapping: the core copies one page.
    PrivateWrite = 4,
    /// The file system was mounted with `pte_only`.
    PteOnly = 5,
    /// No memory for the block map.
    NoMemory = 6,
    /// A page of the window failed (memory failure).
    Poisoned = 7,
    /// The kernel's free path may still be running for a page of the window (its
    /// notification has not arrived): it cannot become a tail page yet.
    Unsettled = 8,
}

impl PmdFallback {
    pub(crate) const ALL: [Self; 9] = [
        Self::Misaligned,
        Self::ShortExtent,
        Self::FileEnd,
        Self::SubpagesMapped,
        Self::PrivateWrite,
        Self::PteOnly,
        Self::NoMemory,
        Self::Poisoned,
        Self::Unsettled,
    ];

    /// The name of its line in the stats file (`pmd_fallback_*`; the trace event shows the
    /// part after the prefix, `rust/refdax_trace.h`), as `include/uapi/linux/refdax.h` has it.
    pub(crate) fn stat_name(self) -> &'static [u8] {
        match self {
            Self::Misaligned => uapi::REFDAX_STAT_PMD_FALLBACK_MISALIGNED,
            Self::ShortExtent => uapi::REFDAX_STAT_PMD_FALLBACK_SHORT_EXTENT,
            Self::FileEnd => uapi::REFDAX_STAT_PMD_FALLBACK_FILE_END,
            Self::SubpagesMapped => uapi::REFDAX_STAT_PMD_FALLBACK_SUBPAGES_MAPPED,
            Self::PrivateWrite => uapi::REFDAX_STAT_PMD_FALLBACK_PRIVATE_WRITE,
            Self::PteOnly => uapi::REFDAX_STAT_PMD_FALLBACK_PTE_ONLY,
            Self::NoMemory => uapi::REFDAX_STAT_PMD_FALLBACK_NO_MEMORY,
            Self::Poisoned => uapi::REFDAX_STAT_PMD_FALLBACK_POISONED,
            Self::Unsettled => uapi::REFDAX_STAT_PMD_FALLBACK_UNSETTLED,
        }
    }
}

/// The counters of one refdax device.
pub(crate) struct Stats {
    /// Calls of the pagemap's `folio_free` callback.
    pub(crate) folio_free_calls: Counter,
    /// Busy blocks freed by their notification.
    pub(crate) busy_released: Counter,
    /// Faults that mapped a page with a PTE (or set up a private copy).
    pub(crate) pte_faults: Counter,
    /// Faults that mapped a PMD folio.
    pub(crate) pmd_faults: Counter,
    /// Compound PMD-sized folios built from idle pages.
    pub(crate) pmd_folios_built: Counter,
    /// Compound folios split back into pages, their extent broken up (a block left the file,
    /// a page failed, pages moved).
    pub(crate) pmd_folios_split: Counter,
    /// Whole extents that left a file in one step ([`crate::blocks::Pool::release_extent`]).
    pub(crate) extents_released: Counter,
    /// PMD faults that fell back to PTEs, by reason ([`PmdFallback`]).
    pub(crate) pmd_fallbacks: [Counter; PmdFallback::ALL.len()],
    /// Pages reported failed (memory failure) and taken out of service.
    pub(crate) pages_poisoned: Counter,
    /// Folio-free probes run (one at load, one per write to `probe_free`).
    pub(crate) probes: Counter,
}

impl Stats {
    /// Counts a PMD fallback.
    pub(crate) fn pmd_fallback(&self, reason: PmdFallback) {
        self.pmd_fallbacks[reason as usize].inc();
    }

    /// All PMD fallbacks.
    pub(crate) fn pmd_fallbacks_total(&self) -> u64 {
        self.pmd_fallbacks.iter().map(Counter::get).sum()
    }

    pub(crate) const fn new() -> Self {
        Self {
            folio_free_calls: Counter::new(),
            busy_released: Counter::new(),
            pte_faults: Counter::new(),
            pmd_faults: Counter::new(),
            pmd_folios_built: Counter::new(),
            pmd_folios_split: Counter::new(),
            extents_released: Counter::new(),
            pmd_fallbacks: [const { Counter::new() }; PmdFallback::ALL.len()],
            probes: Counter::new(),
            pages_poisoned: Counter::new(),
        }
    }
}
