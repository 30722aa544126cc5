// SPDX-License-Identifier: GPL-2.0

//! Exact event counters, shown in `/sys/kernel/debug/refdax/stats`.

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
        match self {
            Self::FolioFree => "folio_free",
            Self::WakeVar => "wake_var",
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
    /// Pages mapped with `vm_insert_page()` at mmap time (populating mappings).
    pub(crate) mmap_inserts: Counter,
    /// Folio-free probes run (one at load, one per write to `probe_free`).
    pub(crate) probes: Counter,
}

impl Stats {
    pub(crate) const fn new() -> Self {
        Self {
            folio_free_calls: Counter::new(),
            busy_released: Counter::new(),
            pte_faults: Counter::new(),
            pmd_faults: Counter::new(),
            mmap_inserts: Counter::new(),
            probes: Counter::new(),
        }
    }
}
