// SPDX-License-Identifier: GPL-2.0

//! The gate of a pagemap's folios: first references, builds, splits, and tying folios to
//! files, decided under one lock (`refs`).
//!
//! A `ZONE_DEVICE` page at refcount zero is idle; whoever takes its first reference hands it
//! out. The kernel never does (`folio_try_get()` fails at zero), so every first reference
//! goes through [`DevPagemap::get`] or [`DevPagemap::try_get_idle`]. A build makes idle pages
//! tail pages of a new folio and a split makes an idle compound folio pages again: both need
//! every page idle, and check it in the same step, under the same lock, as the first
//! references. So two builds, a build and a first reference, or a split and a first
//! reference cannot interleave, and a [`FolioRef`] always holds a folio head.
//!
//! After its refcount drops to zero a folio is still read by the kernel's free path
//! (`free_zone_device_folio()` reads `folio->pgmap` and the mapping) until that calls the
//! pagemap's `folio_free`. On a kernel that does (see [`DevPagemap::set_notified`]) each
//! first reference is counted as *unsettled* until then, and no page with an unsettled
//! reference is built over (`EAGAIN`) or left behind by the pagemap's drop.

use super::{DevPagemap, PagemapOwner};
use crate::abstractions::{
    ffi,
    folio::{Folio, FolioRef},
    fs::{tie_folio, untie_folio, Inode},
};
use core::ops::Range;
use kernel::{bindings, prelude::*};

/// What `refs` guards.
pub(super) struct RefState {
    /// The pages being made one folio, if any.
    building: Option<Range<usize>>,
    /// Per page, first references whose free has not reached `folio_free` yet.
    unsettled: KVVec<u32>,
    /// The sum of `unsettled`.
    pub(super) nunsettled: usize,
    /// Whether the kernel calls `folio_free` for this pagemap's folios.
    notified: bool,
}

impl RefState {
    pub(super) fn new(npages: usize) -> Result<Self> {
        Ok(Self {
            building: None,
            unsettled: KVVec::from_elem(0, npages, GFP_KERNEL)?,
            nunsettled: 0,
            notified: false,
        })
    }
}

impl<T: PagemapOwner> DevPagemap<T> {
    /// Page `pfn`'s index in the pagemap.
    fn page_index(&self, pfn: usize) -> Option<usize> {
        pfn.checked_sub(self.pfns().start)
            .filter(|&i| i < self.pfns().len())
    }

    /// Whether `folio` may be referenced now: one of ours, still a folio head, and not being
    /// built over. Under `refs`.
    fn referenceable(&self, state: &RefState, folio: &Folio) -> bool {
        let pfn = folio.pfn();
        self.page_index(pfn).is_some()
            && folio.is_current()
            && !state.building.as_ref().is_some_and(|r| r.contains(&pfn))
    }

    /// A first reference on the folio at `pfn` was handed out. Under `refs`.
    fn unsettle(&self, state: &mut RefState, pfn: usize) {
        if let Some(i) = self.page_index(pfn).filter(|_| state.notified) {
            state.unsettled[i] = state.unsettled[i].saturating_add(1);
            state.nunsettled += 1;
        }
    }

    /// The kernel's free path for `folio` reached the pagemap's `folio_free`: one first
    /// reference on it is settled.
    pub(super) fn settle(&self, folio: &Folio) {
        let mut state = self.refs.lock();
        if let Some(i) = self.page_index(folio.pfn()) {
            if state.unsettled[i] > 0 {
                state.unsettled[i] -= 1;
                state.nunsettled -= 1;
            }
        }
    }

    /// Whether the kernel calls the pagemap's `folio_free` for its folios (learned by the
    /// owner, who probes it): only then are first references counted until their free ends,
    /// and only then can a build be sure the free path is done with a page. Without it builds
    /// rely on refcounts alone, as `fs/dax.c` does.
    pub(crate) fn set_notified(&self, on: bool) {
        self.refs.lock().notified = on;
    }

    /// Takes a reference on `folio`, whatever its refcount, as `fs/dax.c` does before
    /// inserting a folio; the flag says whether it was the first (refcount zero before):
    /// every first reference ends, when dropped, in exactly one call of the kernel's free
    /// path for the folio. `EAGAIN` if the page has become part of another folio since it
    /// was looked up, or is being made part of one: look it up again.
    ///
    /// Referencing an idle folio hands it out: the caller must be its owner (refdax: the
    /// block belongs to the file being faulted, under the file's lock).
    pub(crate) fn get<'a>(&'a self, folio: &'a Folio) -> Result<(FolioRef<'a>, bool)> {
        let mut state = self.refs.lock();
        if !self.referenceable(&state, folio) {
            return Err(EAGAIN);
        }
        // SAFETY: the folio is a current head of this pagemap, which outlives `'a`.
        let count = unsafe { ffi::refdax_folio_ref_inc(folio.as_raw()) };
        if count == 1 {
            self.unsettle(&mut state, folio.pfn());
        }
        // SAFETY: we own the reference just taken; the folio is a head (checked under `refs`,
        // which builds and splits hold to decide).
        Ok((unsafe { FolioRef::from_owned(folio) }, count == 1))
    }

    /// Takes the first reference on the idle folio page `pfn` belongs to (refcount zero),
    /// atomically; `None` if somebody holds a reference, or outside the pagemap.
    ///
    /// Dropping the returned reference frees the folio again, which runs the pagemap's
    /// free path (`free_zone_device_folio()`).
    pub(crate) fn try_get_idle(&self, pfn: usize) -> Option<FolioRef<'_>> {
        let mut state = self.refs.lock();
        // Looked up under `refs`: no split or build changes which folio it is meanwhile.
        let folio = self.folio(pfn)?;
        if !self.referenceable(&state, folio) {
            return None;
        }
        // SAFETY: the folio is a current head of this pagemap.
        if !unsafe { ffi::refdax_folio_try_get_idle(folio.as_raw()) } {
            return None;
        }
        self.unsettle(&mut state, folio.pfn());
        // SAFETY: as in `get`.
        Some(unsafe { FolioRef::from_owned(folio) })
    }

    /// Splits an idle compound folio back into order-0 pages, as `fs/dax.c` does when the
    /// file's PMD entry goes (`dax_folio_reset_order()`); returns the order it had. Does
    /// nothing (returns 0) for an order-0, referenced, no longer current or foreign folio.
    ///
    /// The check and the split are one step under `refs`, which every first reference
    /// takes: nobody can reference the folio in between. Never sleeps.
    ///
    /// A free of the folio may still be on its way (its refcount read zero, its notification
    /// has not arrived): the split (`refdax_folio_split()`) never writes the head page's
    /// `pgmap` word, which is what that free path reads, and it then sees an order-0 folio.
    /// The head page is not built over before that free has arrived
    /// ([`DevPagemap::build_folio`] checks it); the tail pages never had a free of their own.
    pub(crate) fn split_idle(&self, folio: &Folio) -> u32 {
        let state = self.refs.lock();
        if !self.referenceable(&state, folio) || folio.order() == 0 || folio.ref_count() != 0 {
            return 0;
        }
        // The split clears the pages' mapping: untie the folio first, so that its file's
        // count of tied folios stays true.
        // SAFETY: under `refs`, the tie lock; the folio is a current head.
        unsafe { untie_folio(folio) };
        // SAFETY: the folio is a current, idle compound folio of this pagemap, and nobody can
        // take a reference meanwhile (above).
        let order = unsafe { ffi::refdax_folio_split(folio.as_raw()) };
        order.max(0) as u32
    }

    /// Makes the `1 << order` pages at `pfn` one compound folio and returns it with one
    /// reference: how a PMD-sized folio comes to exist (`fs/dax.c` does the same). Process
    /// context (it sleeps). `EINVAL` if the range is not inside the pagemap or not aligned to
    /// its size, `EBUSY` if a page is referenced or part of a larger folio, `EAGAIN` if the
    /// kernel's free path may still be running for one (its notification has not arrived).
    ///
    /// The pages are checked and marked as being built in one step under `refs`, so that no
    /// first reference, split or other build touches them until the folio exists. It is split
    /// again, once idle, when its owner says so ([`DevPagemap::split_idle`]).
    pub(crate) fn build_folio(&self, pfn: usize, order: u32) -> Result<FolioRef<'_>> {
        kernel::task::might_sleep();
        let _build = self.build_lock.lock();
        {
            let mut state = self.refs.lock();
            self.buildable(&state, pfn, order)?;
            // The build clears every page's mapping: untie them first (see `split_idle`).
            for p in pfn..pfn + (1 << order) {
                if let Some(page) = self.folio(p) {
                    // SAFETY: under `refs`; each page is an idle order-0 head (just checked).
                    unsafe { untie_folio(page) };
                }
            }
            state.building = Some(pfn..pfn + (1 << order));
        }
        // SAFETY: the pages are inside the pagemap, aligned, order 0, idle and settled, and
        // marked as being built: nobody references them until the mark goes (below).
        let raw = unsafe { ffi::refdax_folio_build(pfn, order) };
        let mut state = self.refs.lock();
        state.building = None;
        // SAFETY: `refdax_folio_build` returns the new folio head, of this pagemap.
        let folio = unsafe { Folio::from_raw(raw) };
        self.unsettle(&mut state, pfn);
        // SAFETY: `refdax_folio_build` returns the folio with one reference, which the
        // `FolioRef` takes over.
        Ok(unsafe { FolioRef::from_owned(folio) })
    }

    /// Whether the `1 << order` pages at `pfn` can be made one folio now: `EINVAL` if the
    /// range is not inside the pagemap or not aligned to its size, `EBUSY` if a page is
    /// referenced or part of a larger folio, `EAGAIN` if the kernel's free path may still be
    /// running for one (its notification has not arrived) or another build is under way.
    fn buildable(&self, state: &RefState, pfn: usize, order: u32) -> Result {
        if order > bindings::MAX_PAGE_ORDER {
            return Err(EINVAL);
        }
        let n = 1usize << order;
        let first = self.page_index(pfn).ok_or(EINVAL)?;
        if pfn % n != 0 || self.page_index(pfn + n - 1).is_none() {
            return Err(EINVAL);
        }
        for p in pfn..pfn + n {
            let folio = self.folio(p).ok_or(EINVAL)?;
            if folio.pfn() != p || folio.order() != 0 || folio.ref_count() != 0 {
                return Err(EBUSY);
            }
        }
        if state.building.is_some() || state.unsettled[first..first + n].iter().any(|&u| u > 0) {
            return Err(EAGAIN);
        }
        Ok(())
    }

    /// Ties `folio` to page `index` of `inode`'s file (`folio->mapping` and `index`, as for
    /// page cache folios: the core's rmap and dirtying, and memory failure, find the file
    /// through it), untying it from any other file first. `EINVAL` if `inode` is not a
    /// regular file.
    ///
    /// A file whose inode still has folios tied to it when evicted is never freed (see
    /// `fs::inode::FileState`), so `folio->mapping` never dangles.
    pub(crate) fn tie(&self, folio: &FolioRef<'_>, inode: &Inode, index: usize) -> Result {
        let _state = self.refs.lock();
        // SAFETY: under `refs`, the tie lock; a referenced folio stays a head.
        unsafe { tie_folio(folio, inode, index) }
    }

    /// Unties from its file the folio that starts at each of `pfns`, if it still does (a
    /// page that became a tail page since it was looked up is left alone: its mapping is its
    /// new head's). One hold of `refs` for the lot; `pfns` is short (a caller's batch).
    pub(crate) fn untie_heads(&self, pfns: &[usize]) {
        let state = self.refs.lock();
        for &pfn in pfns {
            if let Some(folio) = self.folio(pfn) {
                if folio.pfn() == pfn && self.referenceable(&state, folio) {
                    // SAFETY: under `refs`, the tie lock; the folio is a head, and stays one
                    // while we hold `refs` (splits and builds decide under it).
                    unsafe { untie_folio(folio) };
                }
            }
        }
    }
}
