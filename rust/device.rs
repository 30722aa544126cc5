// SPDX-License-Identifier: GPL-2.0

//! The refdax device: one claimed pmem range with refdax's FS DAX pagemap over it.

use crate::{
    abstractions::{folio::FolioRef, pagemap::DevPagemap},
    blocks::{Pool, Want},
    pmem,
    stats::{NotifyMode, PmdFallback, Stats},
    uapi::{self, *},
};
use kernel::{
    fmt, new_mutex,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
    time::{Instant, Monotonic},
};

/// A claimed pmem range and the pagemap over it.
///
/// Dropping it waits until no folio of the range is referenced any more (the pagemap's drop
/// does), then unregisters the pagemap and releases the range.
#[pin_data]
pub(crate) struct Device {
    #[pin]
    pagemap: DevPagemap<Pool>,
    /// Serialises probes, which borrow the range's last page (outside the pool).
    #[pin]
    probe_lock: Mutex<()>,
    /// Whether the probe at load saw a `folio_free` call (see [`NotifyMode`]).
    folio_free_works: Atomic<bool>,
    /// Whether the file system is mounted (one mount at a time).
    mounted: Atomic<bool>,
    /// Nanoseconds of the last full scan of the range ([`Device::scan`]), for the benchmarks.
    last_scan_ns: Atomic<u64>,
}

impl Device {
    /// Claims `phys..phys + size`, registers the pagemap and finds out how this kernel
    /// notifies frees.
    pub(crate) fn new(phys: u64, size: u64) -> Result<Arc<Self>> {
        let region = pmem::claim(phys, size)?;
        let first_pfn = (phys >> 12) as usize;
        // Every page is a block but the last, which the probe borrows.
        let pool = Pool::new(first_pfn, (size >> 12) as usize - 1)?;
        let dev = Arc::pin_init(
            try_pin_init!(Self {
                pagemap <- DevPagemap::new_fs_dax(region, pool),
                probe_lock <- new_mutex!(()),
                folio_free_works: Atomic::new(false),
                mounted: Atomic::new(false),
                last_scan_ns: Atomic::new(0),
            }),
            GFP_KERNEL,
        )?;
        let works = dev.probe_free()?;
        dev.folio_free_works.store(works, Relaxed);
        dev.pagemap.set_notified(works);
        let pfns = dev.pagemap.pfns();
        pr_info!(
            "managing pmem {:#x}-{:#x} ({} pages), free notification: {}\n",
            pfns.start << 12,
            (pfns.end << 12) - 1,
            pfns.len(),
            dev.mode().name()
        );
        if dev.mode() == NotifyMode::WakeVar {
            dev.pagemap.start_reaper()?;
            pr_warn!("this kernel does not call folio_free for FS DAX folios (patch 0001 missing): busy blocks are released by a thread waiting on wake_up_var\n");
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

    /// The block pool.
    pub(crate) fn pool(&self) -> &Pool {
        self.pagemap.owner()
    }

    /// The pagemap: folios and their data.
    pub(crate) fn pagemap(&self) -> &DevPagemap<Pool> {
        &self.pagemap
    }

    /// A reference on the folio that page `pfn` belongs to now, tied to its file in the
    /// same step ([`Pool::get_page`]); `EIO` if the page has failed, `EAGAIN` if it is being
    /// made part of another folio (retry).
    ///
    /// Referencing an idle page hands it out: the caller must own its block.
    pub(crate) fn get_page(&self, pfn: usize, want: &Want<'_>) -> Result<FolioRef<'_>> {
        self.pool()
            .get_page(&self.pagemap, pfn, want)?
            .ok_or(EINVAL)
    }

    /// A reference on the PMD-sized folio at `pfn` (2 MiB aligned) that `want` asks for,
    /// building it from the idle pages there if it does not exist (`pmd_folios_built`), tied
    /// to its file. `EBUSY` if a page is referenced on its own, `EAGAIN` if the kernel's free
    /// path may still be running for one ([`DevPagemap::build_folio`]), `EIO` if one has
    /// failed.
    /// The caller owns the blocks and holds their file's map lock, so no other fault of the
    /// file allocates or builds there meanwhile; a PTE fault of another mapping may still
    /// reference a page (the pagemap decides that race under its lock: `EBUSY` here, or
    /// `EAGAIN` for it while the build runs).
    pub(crate) fn get_pmd_folio(&self, pfn: usize, want: &Want<'_>) -> Result<FolioRef<'_>> {
        let pool = self.pool();
        let order = want.order.ok_or(EINVAL)?;
        let n = 1 << order;
        if let Some(folio) = pool.get_page(&self.pagemap, pfn, want)? {
            return Ok(folio);
        }
        let block = pool.block_of(pfn).ok_or(EINVAL)?;
        if pool.any_poisoned(block as u32, n) {
            return Err(EIO);
        }
        let folio = self.pagemap.build_folio(pfn, order)?;
        self.stats().pmd_folios_built.inc();
        if let Err(e) = pool.note_built(&self.pagemap, &folio, want) {
            // Dropped outside the pool lock, which its free takes; that free runs here, in
            // `folio_put()`, so the idle folio can be split at once (on a kernel without the
            // notification too): a folio that was never tied is never kept.
            drop(folio);
            pool.split_idle(&self.pagemap, pfn);
            return Err(e);
        }
        Ok(folio)
    }

    /// Marks the file system mounted or not; false if it already was in that state.
    pub(crate) fn set_mounted(&self, mounted: bool) -> bool {
        self.mounted.xchg(mounted, Relaxed) != mounted
    }

    /// Folios of the range with a non-zero refcount now: a full scan, exact at its moment.
    pub(crate) fn folios_referenced(&self) -> usize {
        self.scan().0
    }

    /// Scans every folio of the range ([`DevPagemap::scan`]), timed for the stats.
    fn scan(&self) -> (usize, Option<(usize, i32)>) {
        let start = Instant::<Monotonic>::now();
        let found = self.pagemap.scan();
        let elapsed = start.elapsed().as_nanos();
        self.last_scan_ns.store(elapsed.max(1) as u64, Relaxed);
        found
    }

    /// Frees one idle folio through the kernel's free path and reports whether the pagemap's
    /// `folio_free` was called for it.
    ///
    /// Borrows the range's last page, which is idle unless something maps it: then `EBUSY`.
    pub(crate) fn probe_free(&self) -> Result<bool> {
        let _guard = self.probe_lock.lock();
        let last = self.pagemap.pfns().end - 1;
        let before = self.stats().folio_free_calls.get();
        // Dropping the only reference runs free_zone_device_folio() synchronously.
        drop(self.pagemap.try_get_idle(last).ok_or(EBUSY)?);
        self.stats().probes.inc();
        Ok(self.stats().folio_free_calls.get() != before)
    }

    /// Writes the `stats` file: one `name value` per line, named as
    /// `include/uapi/linux/refdax.h` says.
    pub(crate) fn write_stats(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pfns = self.pagemap.pfns();
        let s = self.stats();
        let mut line = |name: &'static [u8], value: &dyn core::fmt::Display| {
            writeln!(f, "{} {}", uapi::name(name), value)
        };
        line(REFDAX_STAT_NOTIFY_MODE, &self.mode().name())?;
        line(
            REFDAX_STAT_PHYS_ADDR,
            &format_args!("{:#x}", pfns.start << 12),
        )?;
        line(REFDAX_STAT_PAGES_TOTAL, &pfns.len())?;
        let (free, busy) = self.pool().counts();
        line(REFDAX_STAT_FOLIOS_REFERENCED, &self.folios_referenced())?;
        line(REFDAX_STAT_PTE_FAULTS, &s.pte_faults.get())?;
        line(REFDAX_STAT_PMD_FAULTS, &s.pmd_faults.get())?;
        line(REFDAX_STAT_PMD_FOLIOS_BUILT, &s.pmd_folios_built.get())?;
        line(REFDAX_STAT_PMD_FOLIOS_SPLIT, &s.pmd_folios_split.get())?;
        line(REFDAX_STAT_EXTENTS_RELEASED, &s.extents_released.get())?;
        line(REFDAX_STAT_PMD_FALLBACKS, &s.pmd_fallbacks_total())?;
        for reason in PmdFallback::ALL {
            line(reason.stat_name(), &s.pmd_fallbacks[reason as usize].get())?;
        }
        line(REFDAX_STAT_FOLIO_FREE_CALLS, &s.folio_free_calls.get())?;
        line(REFDAX_STAT_BUSY_RELEASED, &s.busy_released.get())?;
        line(REFDAX_STAT_BLOCKS_TOTAL, &self.pool().total())?;
        line(REFDAX_STAT_BLOCKS_FREE, &free)?;
        line(REFDAX_STAT_BLOCKS_BUSY, &busy)?;
        line(REFDAX_STAT_BLOCKS_QUARANTINED, &self.pool().quarantined())?;
        line(REFDAX_STAT_PAGES_POISONED, &s.pages_poisoned.get())?;
        line(REFDAX_STAT_PROBES, &s.probes.get())?;
        // The scan for `folios_referenced` above, timed: what teardown costs per pass.
        line(REFDAX_STAT_SCAN_PAGES, &pfns.len())?;
        line(REFDAX_STAT_SCAN_NS, &self.last_scan_ns.load(Relaxed))
    }
}
