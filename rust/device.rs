// SPDX-License-Identifier: GPL-2.0

//! The refdax device: one claimed pmem range with refdax's FS DAX pagemap over it.

use crate::{
    abstractions::{
        folio::{Folio, FolioRef},
        pagemap::{pagemap_ops, DevPagemap},
        sched,
    },
    blocks::Pool,
    pmem,
    stats::{NotifyMode, PmdFallback, Stats},
};
use kernel::{
    fmt, new_mutex,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
    time::{Delta, Instant, Monotonic},
};

pagemap_ops! {
    static REFDAX_PGMAP_OPS: Pool;
}

/// Pages scanned between scheduling points.
const SCAN_BATCH: usize = 1 << 14;

/// A claimed pmem range and the pagemap over it.
///
/// Dropping it waits until no folio of the range is referenced any more (see
/// [`Device::wait_idle`]), then unregisters the pagemap and releases the range.
#[pin_data(PinnedDrop)]
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
                pagemap <- DevPagemap::new_fs_dax(region, &REFDAX_PGMAP_OPS, pool),
                probe_lock <- new_mutex!(()),
                folio_free_works: Atomic::new(false),
                mounted: Atomic::new(false),
                last_scan_ns: Atomic::new(0),
            }),
            GFP_KERNEL,
        )?;
        let works = dev.probe_free()?;
        dev.folio_free_works.store(works, Relaxed);
        dev.pool().set_tracks_frees(works);
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

    /// A reference on the folio that page `pfn` belongs to now, `attach`ed to its file in the
    /// same step ([`Pool::get_page`]); `EIO` if the page has failed.
    ///
    /// Referencing an idle page hands it out: the caller must own its block (see
    /// [`Folio::get`]).
    pub(crate) fn get_page(&self, pfn: usize, attach: impl FnOnce(&Folio)) -> Result<FolioRef<'_>> {
        self.pool()
            .get_page(&self.pagemap, pfn, 1, |_| true, attach)?
            .ok_or(EINVAL)
    }

    /// A reference on the PMD-sized folio at `pfn` (2 MiB aligned), building it from the
    /// idle pages there if it does not exist (`pmd_folios_built`), `attach`ed to its file.
    /// `EBUSY` if a page is referenced on its own, `EAGAIN` if the kernel's free path may
    /// still be running for one (see [`Pool::settled`]), `EIO` if one has failed. The caller
    /// owns the blocks and holds their file's map lock, so nobody else can reference the
    /// pages meanwhile.
    pub(crate) fn get_pmd_folio(
        &self,
        pfn: usize,
        order: u32,
        attach: impl Fn(&Folio),
    ) -> Result<FolioRef<'_>> {
        let pool = self.pool();
        let n = 1 << order;
        let whole = |f: &Folio| f.pfn() == pfn && f.order() == order;
        if let Some(folio) = pool.get_page(&self.pagemap, pfn, n, whole, &attach)? {
            return Ok(folio);
        }
        let block = pool.block_of(pfn).ok_or(EINVAL)?;
        if pool.any_poisoned(block as u32, n) {
            return Err(EIO);
        }
        // Referenced pages first (EBUSY): a live reference is unsettled too.
        self.pagemap.check_buildable(pfn, order)?;
        if !pool.settled(block as u32, n) {
            return Err(EAGAIN);
        }
        let folio = self.pagemap.build_folio(pfn, order)?;
        self.stats().pmd_folios_built.inc();
        // On failure the folio is dropped here, outside the pool lock: its free splits it.
        pool.note_built(&folio, attach)?;
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

    /// Scans every folio of the range: how many are referenced, and the first of them (pfn,
    /// refcount).
    fn scan(&self) -> (usize, Option<(usize, i32)>) {
        let start = Instant::<Monotonic>::now();
        let mut n = 0;
        let mut first = None;
        let mut pfn = self.pagemap.pfns().start;
        while let Some(folio) = self.pagemap.folio(pfn) {
            let refs = folio.ref_count();
            if refs > 0 {
                n += 1;
                first.get_or_insert((folio.pfn(), refs));
            }
            pfn = folio.pfn() + (1 << folio.order());
            // Millions of pages on a large range: let others run now and then.
            if pfn % SCAN_BATCH == 0 {
                sched::cond_resched();
            }
        }
        let elapsed = start.elapsed().as_nanos();
        self.last_scan_ns.store(elapsed.max(1) as u64, Relaxed);
        (n, first)
    }

    /// Waits until no folio of the range is referenced, logging every 10 s what is still
    /// held.
    ///
    /// `memunmap_pages()` cannot do this for FS DAX: the pgmap's percpu reference is taken in
    /// bulk for the pagemap's lifetime, not per busy page. By the time the device is dropped
    /// the file system is unmounted (a mount pins the module), so nothing can map a page
    /// again; what is left are references without a mapping (a page in a pipe, a GUP pin),
    /// and their release runs the notification while the pagemap still exists.
    ///
    /// It sleeps on the first referenced folio until the kernel's free path wakes it
    /// (`wake_up_var()` in `free_zone_device_folio()`, on patched and stock kernels alike),
    /// then scans again: each pass costs one scan of the range.
    fn wait_idle(&self) {
        let start = Instant::<Monotonic>::now();
        let mut next_log = 10;
        loop {
            let (held, first) = self.scan();
            let Some((pfn, refs)) = first else {
                break;
            };
            let waited = start.elapsed().as_millis() / 1000;
            if waited >= next_log {
                pr_warn!(
                    "teardown: waited {waited} s; {held} folios still referenced, the first at pfn {pfn:#x} with {refs} references\n"
                );
                next_log += 10;
            }
            let until_log = (next_log * 1000 - start.elapsed().as_millis()).clamp(1, 10_000);
            self.pagemap.wait_idle(pfn, Delta::from_millis(until_log));
        }
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
        let (free, busy) = self.pool().counts();
        writeln!(f, "folios_referenced {}", self.folios_referenced())?;
        writeln!(f, "pte_faults {}", s.pte_faults.get())?;
        writeln!(f, "pmd_faults {}", s.pmd_faults.get())?;
        writeln!(f, "pmd_folios_built {}", s.pmd_folios_built.get())?;
        writeln!(f, "pmd_folios_split {}", s.pmd_folios_split.get())?;
        writeln!(f, "pmd_fallbacks {}", s.pmd_fallbacks_total())?;
        for reason in PmdFallback::ALL {
            writeln!(
                f,
                "pmd_fallback_{} {}",
                reason.name(),
                s.pmd_fallbacks[reason as usize].get()
            )?;
        }
        writeln!(f, "folio_free_calls {}", s.folio_free_calls.get())?;
        writeln!(f, "busy_released {}", s.busy_released.get())?;
        writeln!(f, "blocks_total {}", self.pool().total())?;
        writeln!(f, "blocks_free {free}")?;
        writeln!(f, "blocks_busy {busy}")?;
        writeln!(f, "blocks_quarantined {}", self.pool().quarantined())?;
        writeln!(f, "pages_poisoned {}", s.pages_poisoned.get())?;
        writeln!(f, "probes {}", s.probes.get())?;
        // The scan for `folios_referenced` above, timed: what teardown costs per pass.
        writeln!(f, "scan_pages {}", pfns.len())?;
        writeln!(f, "scan_ns {}", self.last_scan_ns.load(Relaxed))
    }
}

#[pinned_drop]
impl PinnedDrop for Device {
    fn drop(self: Pin<&mut Self>) {
        self.wait_idle();
    }
}
