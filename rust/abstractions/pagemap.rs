// SPDX-License-Identifier: GPL-2.0

//! Device page maps (`struct dev_pagemap`): `ZONE_DEVICE` struct pages over a physical range.
//!
//! # Notifications
//!
//! [`PagemapOwner::folio_free`] runs when the refcount of one of the pagemap's folios drops
//! to zero, from `free_zone_device_folio()`. Which pagemap types get it:
//!
//! - `MEMORY_DEVICE_PRIVATE`, `_COHERENT`, `_PCI_P2PDMA`: always (upstream).
//! - `MEMORY_DEVICE_FS_DAX`, the only type [`DevPagemap`] builds: only on a kernel with
//!   refdax's patch 0001 (`qemu/patches/`); upstream 7.3 merely does `wake_up_var()` on the
//!   page. The refcount then stays at zero and no pgmap reference is dropped.
//!
//! The callback runs in the context of whoever dropped the last reference: a task in
//! `munmap()`, the TLB-flush batch of `folios_put_refs()` (atomic), a GUP unpin, a pipe
//! buffer release. It must not sleep. A folio may also pass through zero transiently (an
//! insert that fails and drops its reference), so an owner must not assume every
//! notification ends a mapping.

mod refs;
mod teardown;

use super::reaper::{Reap, Reaper};
use super::{
    ffi,
    folio::Folio,
    iov::{IovIterDest, IovIterSource}, //
    resource::MemRegion,
};
use core::ops::Range;
use kernel::{
    bindings,
    error::from_err_ptr,
    ffi::c_int,
    new_mutex, new_spinlock_irq, pr_warn_once,
    prelude::*,
    sync::{Mutex, SpinLockIrq},
    types::Opaque,
};

/// The receiver of a pagemap's notifications.
pub(crate) trait PagemapOwner: Send + Sync {
    /// `folio`'s refcount has dropped to zero.
    ///
    /// Runs in any context, atomic included (see the module documentation): must not sleep.
    fn folio_free(&self, pagemap: Freeing<'_, Self>, folio: &Folio)
    where
        Self: Sized;

    /// Page `pfn` has failed (a machine check, or `MADV_HWPOISON`): the owner must stop
    /// handing it out. Afterwards every file mapping of the page is zapped, so that the next
    /// access faults and the owner can refuse it (`VM_FAULT_HWPOISON`). Process context,
    /// under the kernel's memory-failure mutex.
    fn memory_failure(&self, pfn: usize) -> Result;

    /// For kernels that do not call `folio_free` for FS DAX folios: handle whatever became
    /// idle, as the notifications would have, and return the pfn of a folio still referenced
    /// to wait for (see [`DevPagemap::start_reaper`]), or `None`.
    fn reap(&self, pagemap: Freeing<'_, Self>) -> Option<usize>
    where
        Self: Sized;
}

/// What a [`PagemapOwner::folio_free`] callback (or the reaper's [`PagemapOwner::reap`]) may
/// do with its pagemap: look folios up and split idle ones, nothing that sleeps.
pub(crate) struct Freeing<'a, T: PagemapOwner>(&'a DevPagemap<T>);

impl<'a, T: PagemapOwner> Freeing<'a, T> {
    /// See [`DevPagemap::folio`].
    pub(crate) fn folio(&self, pfn: usize) -> Option<&'a Folio> {
        self.0.folio(pfn)
    }

    /// See [`DevPagemap::split_idle`].
    pub(crate) fn split_idle(&self, folio: &Folio) -> u32 {
        self.0.split_idle(folio)
    }
}

impl<T: PagemapOwner> Clone for Freeing<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: PagemapOwner> Copy for Freeing<'_, T> {}

/// The pagemap of a [`DevPagemap<T>`], from its `dev_pagemap`.
///
/// # Safety
///
/// `pgmap` must be the `dev_pagemap` of a live [`DevPagemap<T>`], which stays live for `'a`.
unsafe fn from_pgmap<'a, T: PagemapOwner>(pgmap: *mut bindings::dev_pagemap) -> &'a DevPagemap<T> {
    // SAFETY: `pgmap` is the `pgmap` field of the `refdax_pgmap` in the `pgmap` field of a
    // pinned `DevPagemap<T>` (caller).
    unsafe {
        let raw = kernel::container_of!(pgmap, ffi::refdax_pgmap, pgmap);
        &*kernel::container_of!(Opaque::cast_from(raw), DevPagemap<T>, pgmap)
    }
}

/// The pagemap's `folio_free` callback (called by the C op `refdax_folio_free()`): forwards
/// to the owner.
///
/// # Safety
///
/// `folio` must be a folio of a live [`DevPagemap<T>`], passed by `free_zone_device_folio()`.
unsafe extern "C" fn folio_free_trampoline<T: PagemapOwner>(folio: *mut bindings::folio) {
    // SAFETY: the caller passes a folio of a live pagemap, valid for the duration of the
    // call; the kernel frees folio heads only.
    let folio = unsafe { Folio::from_raw(folio) };
    // SAFETY: the folio belongs to a pagemap, so it is a `ZONE_DEVICE` folio.
    let pgmap = unsafe { ffi::refdax_folio_pgmap(folio.as_raw()) };
    // SAFETY: the folio's pagemap is a live `DevPagemap<T>` (caller).
    let this = unsafe { from_pgmap::<T>(pgmap) };
    this.owner.folio_free(Freeing(this), folio);
    // The kernel's free path for this folio has got this far: the last thing it does with
    // the folio is call us. Settled last: once it is, the pagemap's drop may go ahead, so
    // nothing here touches the pagemap or the folio after it.
    this.settle(folio);
}

/// The pagemap's `memory_failure` callback (called by the C op `refdax_memory_failure()`):
/// forwards to the owner, page by page, then zaps the failed pages' file mappings and, for a
/// failure the current task met (`MF_ACTION_REQUIRED`), sends it `SIGBUS` (`BUS_MCEERR_AR`).
///
/// # Safety
///
/// `pgmap` must be the `dev_pagemap` of a live [`DevPagemap<T>`].
unsafe extern "C" fn memory_failure_trampoline<T: PagemapOwner>(
    pgmap: *mut bindings::dev_pagemap,
    pfn: usize,
    nr_pages: usize,
    flags: c_int,
) -> c_int {
    // SAFETY: by the caller.
    let this = unsafe { from_pgmap::<T>(pgmap) };
    let pfns = this.pfns();
    for p in pfn..pfn.saturating_add(nr_pages) {
        if !pfns.contains(&p) {
            return ENXIO.to_errno();
        }
        if let Err(e) = this.owner.memory_failure(p) {
            // Not EOPNOTSUPP: the core would take that as "use the generic handler", which
            // locks DAX entries in the file's xarray, where refdax files have none.
            return if e == EOPNOTSUPP { EIO } else { e }.to_errno();
        }
        let mut index = 0;
        let inode = {
            // Neither a build nor a split rewrites the page's `mapping` meanwhile (both turn
            // pages into tails or back: builds hold `build_lock`, splits `refs`), and folios
            // are tied to files and untied under `refs`. The owner marked the page failed
            // above; a fault checks for that before it ties the folio, so it either tied it
            // before (and is found here) or sees the failure.
            let _build = this.build_lock.lock();
            let _rcu = kernel::sync::rcu::read_lock();
            let _refs = this.refs.lock();
            // SAFETY: `p` is inside the pagemap, so it has a struct page; `index` is valid for
            // writes; no build or split is running (above).
            let mapping = unsafe { ffi::refdax_page_mapping(p, &mut index) };
            if mapping.is_null() {
                core::ptr::null_mut()
            } else {
                // SAFETY: `mapping` is the mapping of a file that has a folio tied to it, and
                // an inode with tied folios is never freed (`fs::inode::FileState`); other
                // inodes are freed after an RCU grace period, which the RCU read lock held
                // since holds off.
                unsafe { ffi::refdax_mapping_igrab(mapping) }
            }
        };
        if !inode.is_null() {
            // SAFETY: `inode` was grabbed by `refdax_mapping_igrab`; this puts that reference.
            // The core calls the op in process context, with no lock of ours held.
            unsafe { ffi::refdax_fail_file_page(inode, index, flags) };
        }
    }
    0
}

/// An FS DAX pagemap: `ZONE_DEVICE` struct pages of type `MEMORY_DEVICE_FS_DAX` over a claimed
/// physical range, made by `memremap_pages()` and removed by `memunmap_pages()` on drop.
///
/// The pages start at refcount zero (idle), order 0, each with a linear-map address. They are
/// mapped to user space through the insert-page family, which refcounts them like normal
/// pages; see the module documentation for when the owner hears that one is free again.
///
/// Dropping the pagemap waits until no page is referenced and, on a kernel that notifies
/// frees, until every free has reached its notification (see [`DevPagemap::wait_all_idle`]):
/// `memunmap_pages()` cannot, as it relies on the pgmap's percpu reference, which FS DAX takes
/// in bulk for the pagemap's lifetime, not per busy page.
///
/// # Invariants
///
/// `pgmap.pgmap` was registered with `memremap_pages()` over `region`'s range, with the ops
/// of `refdax_pgmap_ops()` and the callbacks `folio_free_trampoline::<T>` and
/// `memory_failure_trampoline::<T>`, and stays registered until drop.
///
/// Every first reference on an idle page (refcount zero to one) is taken through
/// [`DevPagemap::get`] or [`DevPagemap::try_get_idle`] under `refs`; the kernel itself only
/// takes references on folios already referenced (`folio_try_get()`). Builds and splits
/// decide under `refs` too, and folios are tied to files and untied under it.
#[pin_data(PinnedDrop)]
pub(crate) struct DevPagemap<T: PagemapOwner> {
    #[pin]
    pgmap: Opaque<ffi::refdax_pgmap>,
    #[pin]
    owner: T,
    /// Taken around every first reference, split, tie and untie, and the start and end of
    /// every build. Interrupts off: splits run in `folio_free`.
    #[pin]
    refs: SpinLockIrq<refs::RefState>,
    // Dropped after `pgmap` is unregistered: the range stays ours while it has struct pages.
    region: MemRegion,
    /// The thread started by [`DevPagemap::start_reaper`], stopped before unregistering.
    #[pin]
    reaper: Mutex<Option<Reaper>>,
    /// Held while pages become tail pages ([`DevPagemap::build_folio`]) and while memory
    /// failure reads a page's `mapping`, which the build rewrites (`TAIL_MAPPING`).
    #[pin]
    build_lock: Mutex<()>,
}

impl<T: PagemapOwner> DevPagemap<T> {
    /// Registers an FS DAX pagemap over `region` whose notifications go to `owner`.
    pub(crate) fn new_fs_dax(
        region: MemRegion,
        owner: impl PinInit<T, Error>,
    ) -> impl PinInit<Self, Error> {
        let range = bindings::range {
            start: region.start(),
            end: region.start() + region.len() - 1,
        };
        let npages = (region.len() >> bindings::PAGE_SHIFT) as usize;
        try_pin_init!(Self {
            owner <- owner,
            region,
            refs <- new_spinlock_irq!(refs::RefState::new(npages)?),
            reaper <- new_mutex!(None),
            build_lock <- new_mutex!(()),
            // Last, so that no later field can fail and leave the pagemap registered.
            pgmap <- Opaque::try_ffi_init(move |slot: *mut ffi::refdax_pgmap| {
                // SAFETY: `slot` is valid for writes; all-zeroes is a valid `refdax_pgmap`.
                unsafe { core::ptr::write_bytes(slot, 0, 1) };
                // SAFETY: `slot` is valid and initialised; `range` is the union member used
                // with `nr_range == 1`.
                let pgmap = unsafe {
                    (*slot).folio_free = Some(folio_free_trampoline::<T>);
                    (*slot).memory_failure = Some(memory_failure_trampoline::<T>);
                    let pgmap = &raw mut (*slot).pgmap;
                    (*pgmap).type_ = bindings::memory_type_MEMORY_DEVICE_FS_DAX;
                    (*pgmap).ops = ffi::refdax_pgmap_ops();
                    (*pgmap).nr_range = 1;
                    *(*pgmap).__bindgen_anon_1.range.as_mut() = range;
                    pgmap
                };
                // SAFETY: `pgmap` is a fully set up `dev_pagemap`, pinned and ours; its range
                // is claimed by `region`, which is dropped only after `memunmap_pages()`.
                // INVARIANT: on success the pagemap is registered over `region`'s range with
                // refdax's ops and `T`'s callbacks; this is the last field, so nothing can
                // fail after it, and drop unregisters it.
                let ret = unsafe { bindings::memremap_pages(pgmap, bindings::NUMA_NO_NODE) };
                from_err_ptr(ret).map(|_| ())
            }),
        })
    }

    /// Starts a thread that waits for folios the upstream way (asleep on the page until
    /// `free_zone_device_folio()`'s `wake_up_var()`) and calls [`PagemapOwner::reap`]: for
    /// kernels that do not notify the owner of FS DAX frees. It runs until the pagemap is
    /// dropped.
    pub(crate) fn start_reaper(&self) -> Result {
        let mut reaper = self.reaper.lock();
        if reaper.is_none() {
            // SAFETY: `self` is pinned (a `DevPagemap` is only ever pin-initialised) and its
            // drop stops the reaper before anything of it goes away.
            *reaper = Some(unsafe { Reaper::start(self)? });
        }
        Ok(())
    }

    /// Wakes the thread started by [`DevPagemap::start_reaper`], if any: there is something
    /// to wait for now.
    pub(crate) fn kick_reaper(&self) {
        if let Some(reaper) = self.reaper.lock().as_ref() {
            reaper.kick();
        }
    }

    /// The owner given at registration.
    pub(crate) fn owner(&self) -> &T {
        &self.owner
    }

    /// The page frame numbers the pagemap covers.
    pub(crate) fn pfns(&self) -> Range<usize> {
        let first = (self.region.start() >> bindings::PAGE_SHIFT) as usize;
        first..first + (self.region.len() >> bindings::PAGE_SHIFT) as usize
    }

    /// Copies `len` bytes at `offset` in page `pfn` to `iter` (machine-check safe); returns
    /// the bytes copied, short if `iter` faults. The bytes may run on into the following
    /// pages (physically contiguous, so one run of the linear map), all the pagemap's.
    pub(crate) fn copy_to_iter(
        &self,
        pfn: usize,
        offset: usize,
        len: usize,
        iter: &mut IovIterDest<'_>,
    ) -> usize {
        if !self.in_pages(pfn, offset, len) {
            return 0;
        }
        // SAFETY: the pages are ours and linearly mapped (FS DAX pagemap: `memremap_pages()`
        // maps the range into the linear map, contiguously); the range is inside them;
        // `iter` is valid.
        unsafe { ffi::refdax_copy_to_iter(pfn, offset, len, iter.as_raw()) }
    }

    /// Copies `len` bytes from `iter` to `offset` in page `pfn`, bypassing the CPU cache;
    /// returns the bytes copied, short if `iter` faults. As for
    /// [`DevPagemap::copy_to_iter`], the bytes may run on into the following pages.
    pub(crate) fn copy_from_iter(
        &self,
        pfn: usize,
        offset: usize,
        len: usize,
        iter: &mut IovIterSource<'_>,
    ) -> usize {
        if !self.in_pages(pfn, offset, len) {
            return 0;
        }
        // SAFETY: as in `copy_to_iter`.
        unsafe { ffi::refdax_copy_from_iter(pfn, offset, len, iter.as_raw()) }
    }

    /// Zeroes `len` bytes at `offset` in page `pfn`.
    pub(crate) fn zero(&self, pfn: usize, offset: usize, len: usize) {
        if self.in_page(pfn, offset, len) {
            // SAFETY: as in `copy_to_iter`.
            unsafe { ffi::refdax_zero(pfn, offset, len) };
        }
    }

    /// Copies page `src` to page `dst` (both the pagemap's): reading machine-check safe,
    /// writing back the destination. `EIO` if the source has failed (the destination then
    /// holds part of it at most).
    pub(crate) fn copy_page(&self, dst: usize, src: usize) -> Result {
        if !self.in_page(dst, 0, bindings::PAGE_SIZE) || !self.in_page(src, 0, bindings::PAGE_SIZE)
        {
            return Err(EINVAL);
        }
        // SAFETY: both pages are ours and have a linear mapping (FS DAX pagemap).
        match unsafe { ffi::refdax_copy_page(dst, src) } {
            0 => Ok(()),
            _ => Err(EIO),
        }
    }

    fn in_page(&self, pfn: usize, offset: usize, len: usize) -> bool {
        offset
            .checked_add(len)
            .is_some_and(|e| e <= bindings::PAGE_SIZE)
            && self.in_pages(pfn, offset, len)
    }

    /// Whether bytes `offset..offset + len` from the start of page `pfn` lie in the pagemap.
    fn in_pages(&self, pfn: usize, offset: usize, len: usize) -> bool {
        let pages = offset
            .checked_add(len)
            .map(|e| e.div_ceil(bindings::PAGE_SIZE));
        let ok = self.pfns().contains(&pfn)
            && pages.is_some_and(|n| pfn.checked_add(n).is_some_and(|e| e <= self.pfns().end));
        if !ok {
            pr_warn_once!(
                "refdax: pmem access outside the pagemap (pfn {pfn:#x}, {offset}+{len})\n"
            );
        }
        ok
    }

    /// The registered `dev_pagemap`.
    fn raw_pgmap(&self) -> *mut bindings::dev_pagemap {
        // SAFETY: a field projection of the valid, pinned `refdax_pgmap`.
        unsafe { &raw mut (*self.pgmap.get()).pgmap }
    }

    /// Sleeps until the folio page `pfn` belongs to is idle (refcount zero) or `timeout` has
    /// passed; true if it is idle. Woken by the kernel's free path (`wake_up_var()` on the
    /// folio's page in `free_zone_device_folio()`), the upstream way of waiting for an FS DAX
    /// page.
    ///
    /// Process context only. It is a method of the pagemap, not of [`Folio`], and
    /// [`Freeing`] does not offer it, so that a [`PagemapOwner::folio_free`] callback (atomic
    /// context) cannot reach it.
    pub(crate) fn wait_idle(&self, pfn: usize, timeout: kernel::time::Delta) -> bool {
        kernel::task::might_sleep();
        let Some(folio) = self.folio(pfn) else {
            return true;
        };
        let ms = u32::try_from(timeout.as_millis().max(0)).unwrap_or(u32::MAX);
        // SAFETY: the folio is valid while the pagemap lives; we may sleep (above).
        unsafe { ffi::refdax_folio_wait_idle(folio.as_raw(), ms) }
    }

    /// The folio that page `pfn` currently belongs to, or `None` outside the pagemap.
    pub(crate) fn folio(&self, pfn: usize) -> Option<&Folio> {
        if !self.pfns().contains(&pfn) {
            return None;
        }
        // SAFETY: `pfn` is inside the registered range (type invariant), so it has a struct
        // page, which lives until `self` is dropped.
        Some(unsafe { Folio::from_raw(ffi::refdax_pfn_folio(pfn)) })
    }
}

// SAFETY: after registration the kernel owns the `dev_pagemap` and synchronises its own
// accesses; Rust only passes its address to `memunmap_pages()`. The owner is `Send + Sync`.
unsafe impl<T: PagemapOwner> Send for DevPagemap<T> {}
// SAFETY: `&DevPagemap` reads the immutable `region`, hands out `&T` (`T: Sync`), and
// otherwise goes through its mutexes, its `refs` spinlock, or kernel functions that
// synchronise themselves (folio refcounts, the kernel's copy and zero helpers); the kernel's
// own accesses to the `dev_pagemap` are its business.
unsafe impl<T: PagemapOwner> Sync for DevPagemap<T> {}

impl<T: PagemapOwner> Reap for DevPagemap<T> {
    fn reap(&self) -> Option<usize> {
        // The reaper sleeps on this page's struct page: one of ours only.
        self.owner
            .reap(Freeing(self))
            .filter(|p| self.pfns().contains(p))
    }
}

#[pinned_drop]
impl<T: PagemapOwner> PinnedDrop for DevPagemap<T> {
    fn drop(self: Pin<&mut Self>) {
        // Nobody can map a page any more (the owner's users are gone); what is left are
        // references without a mapping (a pipe, a GUP pin) and frees on their way.
        self.wait_all_idle();
        // Stopped outside the mutex: `kthread_stop()` waits for the thread.
        let reaper = self.reaper.lock().take();
        drop(reaper);
        // SAFETY: by the type invariant the pagemap is registered; it is unregistered once.
        unsafe { bindings::memunmap_pages(self.raw_pgmap()) };
    }
}
