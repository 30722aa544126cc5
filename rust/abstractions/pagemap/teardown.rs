// SPDX-License-Identifier: GPL-2.0

//! Scanning a pagemap for referenced folios, and waiting for them at teardown.

use super::{DevPagemap, PagemapOwner};
use crate::abstractions::{sched, trace};
use kernel::{
    prelude::*,
    time::{delay::fsleep, Delta, Instant, Monotonic},
};

/// Pages scanned between scheduling points.
const SCAN_BATCH: usize = 1 << 14;

impl<T: PagemapOwner> DevPagemap<T> {
    /// Scans every folio of the pagemap: how many are referenced, and the first of them (pfn,
    /// refcount). Exact at its moment for folios that nobody builds or splits meanwhile.
    pub(crate) fn scan(&self) -> (usize, Option<(usize, i32)>) {
        let mut n = 0;
        let mut first = None;
        let mut pfn = self.pfns().start;
        while let Some(folio) = self.folio(pfn) {
            let refs = folio.ref_count();
            if refs > 0 {
                n += 1;
                first.get_or_insert((folio.pfn(), refs));
            }
            // Onwards even if the page is caught in a build or split.
            let next = (pfn + 1).max(folio.pfn() + folio.nr_pages());
            // Millions of pages on a large range: let others run now and then.
            if next / SCAN_BATCH != pfn / SCAN_BATCH {
                sched::cond_resched();
            }
            pfn = next;
        }
        (n, first)
    }

    /// Waits until no folio of the pagemap is referenced and every free has reached the
    /// pagemap's `folio_free` (on a kernel that calls it), logging every 10 s what is still
    /// held; traced by `refdax_teardown_wait_start` and `_end` when it has to wait.
    ///
    /// It sleeps on the first referenced folio until the kernel's free path wakes it
    /// (`wake_up_var()` in `free_zone_device_folio()`, on patched and stock kernels alike),
    /// then scans again: each pass costs one scan of the range. Called by the drop, before
    /// `memunmap_pages()` (which cannot wait for FS DAX pages), when nothing can map a page
    /// any more: what is left are references without a mapping (a page in a pipe, a GUP pin),
    /// whose release runs the free path while the pagemap still exists.
    pub(super) fn wait_all_idle(&self) {
        let start = Instant::<Monotonic>::now();
        let mut next_log = 10;
        let mut passes = 0usize;
        loop {
            let (held, first) = self.scan();
            let in_free = self.refs.lock().nunsettled;
            passes += 1;
            if first.is_none() && in_free == 0 {
                break;
            }
            if passes == 1 {
                trace::teardown_wait_start(held, first.map_or(0, |(pfn, _)| pfn));
            }
            let waited = start.elapsed().as_millis() / 1000;
            if waited >= next_log {
                match first {
                    Some((pfn, refs)) => pr_warn!(
                        "teardown: waited {waited} s; {held} folios still referenced, the first at pfn {pfn:#x} with {refs} references\n"
                    ),
                    None => pr_warn!("teardown: waited {waited} s; {in_free} frees in progress\n"),
                }
                next_log += 10;
            }
            let until_log = (next_log * 1000 - start.elapsed().as_millis()).clamp(1, 10_000);
            match first {
                Some((pfn, _)) => {
                    self.wait_idle(pfn, Delta::from_millis(until_log));
                }
                // Only frees on their way: they end within microseconds.
                None => fsleep(Delta::from_millis(1)),
            }
        }
        if passes > 1 {
            let waited = start.elapsed().as_nanos().max(0) as u64;
            trace::teardown_wait_end(passes, waited);
        }
    }
}
