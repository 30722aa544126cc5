// SPDX-License-Identifier: GPL-2.0

//! The refdax device: one claimed pmem range with refdax's FS DAX pagemap over it.

use crate::{
    abstractions::{
        folio::Folio,
        pagemap::{pagemap_ops, DevPagemap, PagemapOwner},
        trace,
    },
    pmem,
    stats::{NotifyMode, Stats},
};
use kernel::{
    fmt, new_mutex,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
};

/// Receives the pagemap's notifications.
pub(crate) struct Notifier {
    stats: Stats,
}

impl PagemapOwner for Notifier {
    fn folio_free(&self, folio: &Folio) {
        self.stats.folio_free_calls.inc();
        trace::folio_free(folio, 0, 0);
    }
}

pagemap_ops! {
    static REFDAX_PGMAP_OPS: Notifier;
}

/// A claimed pmem range and the pagemap over it.
#[pin_data]
pub(crate) struct Device {
    #[pin]
    pagemap: DevPagemap<Notifier>,
    /// Serialises probes, which borrow the range's last page.
    #[pin]
    probe_lock: Mutex<()>,
    /// Whether the probe at load saw a `folio_free` call (see [`NotifyMode`]).
    folio_free_works: Atomic<bool>,
}

impl Device {
    /// Claims `phys..phys + size`, registers the pagemap and finds out how this kernel
    /// notifies frees.
    pub(crate) fn new(phys: u64, size: u64) -> Result<Arc<Self>> {
        let region = pmem::claim(phys, size)?;
        let dev = Arc::pin_init(
            try_pin_init!(Self {
                pagemap <- DevPagemap::new_fs_dax(region, &REFDAX_PGMAP_OPS, Notifier {
                    stats: Stats::new(),
                }),
                probe_lock <- new_mutex!(()),
                folio_free_works: Atomic::new(false),
            }),
            GFP_KERNEL,
        )?;
        let works = dev.probe_free()?;
        dev.folio_free_works.store(works, Relaxed);
        let pfns = dev.pagemap.pfns();
        pr_info!(
            "managing pmem {:#x}-{:#x} ({} pages), free notification: {}\n",
            pfns.start << 12,
            (pfns.end << 12) - 1,
            pfns.len(),
            dev.mode().name()
        );
        if dev.mode() == NotifyMode::WakeVar {
            pr_warn!("this kernel does not call folio_free for FS DAX folios (patch 0001 missing): waiting on wake_up_var instead\n");
        }
        Ok(dev)
    }

    /// How this kernel tells refdax that a folio is free.
    pub(crate) fn mode(&self) -> NotifyMode {
        if self.folio_free_works.load(Relaxed) {
            NotifyMode::FolioFree
        } else {
            NotifyMode::WakeVar
        }
    }

    /// The counters.
    pub(crate) fn stats(&self) -> &Stats {
        &self.pagemap.owner().stats
    }

    /// Frees one idle folio through the kernel's free path and reports whether the pagemap's
    /// `folio_free` was called for it.
    ///
    /// Borrows the range's last page, which is idle unless something maps it: then `EBUSY`.
    pub(crate) fn probe_free(&self) -> Result<bool> {
        let _guard = self.probe_lock.lock();
        let last = self.pagemap.pfns().end - 1;
        let folio = self.pagemap.folio(last).ok_or(EINVAL)?;
        let before = self.stats().folio_free_calls.get();
        // Dropping the only reference runs free_zone_device_folio() synchronously.
        drop(folio.try_get_idle().ok_or(EBUSY)?);
        self.stats().probes.inc();
        Ok(self.stats().folio_free_calls.get() != before)
    }

    /// Writes the `stats` file: one `name value` per line.
    pub(crate) fn write_stats(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pfns = self.pagemap.pfns();
        let s = self.stats();
        writeln!(f, "notify_mode {}", self.mode().name())?;
        writeln!(f, "phys_addr {:#x}", pfns.start << 12)?;
        writeln!(f, "pages_total {}", pfns.len())?;
        writeln!(f, "folio_free_calls {}", s.folio_free_calls.get())?;
        writeln!(f, "probes {}", s.probes.get())
    }
}
