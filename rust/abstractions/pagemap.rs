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

use super::reaper::{Reap, Reaper};
use super::{
    ffi,
    folio::{Folio, FolioRef},
    resource::MemRegion,
    vfs::IovIter, //
};
use core::{marker::PhantomData, ops::Range};
use kernel::{
    bindings, error::from_err_ptr, new_mutex, pr_warn_once, prelude::*, sync::Mutex, types::Opaque,
};

/// The receiver of a pagemap's notifications.
pub(crate) trait PagemapOwner: Send + Sync {
    /// `folio`'s refcount has dropped to zero.
    ///
    /// Runs in any context, atomic included (see the module documentation): must not sleep.
    fn folio_free(&self, folio: &Folio);

    /// Page `pfn` has failed (a machine check, or `MADV_HWPOISON`): the owner must stop
    /// handing it out. Afterwards every file mapping of the page is zapped, so that the next
    /// access faults and the owner can refuse it (`VM_FAULT_HWPOISON`). Process context,
    /// under the kernel's memory-failure mutex.
    fn memory_failure(&self, pfn: usize) -> Result;

    /// Runs `f` while no folio of the pagemap is being split: under the lock the owner splits
    /// folios under (in [`PagemapOwner::folio_free`]). `f` must not sleep.
    fn without_splits<R>(&self, f: impl FnOnce() -> R) -> R
    where
        Self: Sized;

    /// For kernels that do not call `folio_free` for FS DAX folios: handle whatever became
    /// idle, as the notifications would have, and return the pfn of a folio still referenced
    /// to wait for (see [`DevPagemap::start_reaper`]), or `None`.
    fn reap(&self, pagemap: &DevPagemap<Self>) -> Option<usize>
    where
        Self: Sized;
}

/// The `dev_pagemap_ops` table of one owner type; make it with [`pagemap_ops!`].
///
/// The `folio_free` op is the C shim's `refdax_folio_free()`: Rust code is not instrumented
/// for ftrace in 7.3, and the callback must be traceable by name (`set_ftrace_filter`). That
/// C function forwards to the Rust symbol `refdax_pgmap_folio_free`, which `pagemap_ops!`
/// defines for its owner type; a module therefore has one owner type with `folio_free`.
pub(crate) struct PagemapOps<T> {
    raw: bindings::dev_pagemap_ops,
    _owner: PhantomData<fn(&T)>,
}

// SAFETY: the table is function pointers only and never written after construction.
unsafe impl<T> Sync for PagemapOps<T> {}

impl<T: PagemapOwner> PagemapOps<T> {
    /// Builds the table.
    ///
    /// # Safety
    ///
    /// `refdax_pgmap_folio_free` and `refdax_pgmap_memory_failure` must do nothing but call
    /// [`folio_free_trampoline::<T>`] and [`memory_failure_trampoline::<T>`] with their
    /// arguments: use [`pagemap_ops!`].
    pub(crate) const unsafe fn new() -> Self {
        Self {
            raw: bindings::dev_pagemap_ops {
                folio_free: Some(ffi::refdax_folio_free),
                migrate_to_ram: None,
                memory_failure: Some(ffi::refdax_memory_failure),
                folio_split: None,
            },
            _owner: PhantomData,
        }
    }
}

/// Declares the `dev_pagemap_ops` table for an owner type, and the Rust end of its
/// `folio_free` op (see [`PagemapOps`]).
macro_rules! pagemap_ops {
    ($vis:vis static $name:ident: $owner:ty;) => {
        /// The Rust end of the pagemap's `folio_free` op, called by `refdax_folio_free()`.
        ///
        /// # Safety
        ///
        /// Only for the C shim, with a folio of a pagemap whose ops are this table.
        #[no_mangle]
        unsafe extern "C" fn refdax_pgmap_folio_free(folio: *mut kernel::bindings::folio) {
            // SAFETY: the kernel calls the op only for pagemaps created with `$name`, that is
            // for `DevPagemap<$owner>`s, with one of their folios.
            unsafe { $crate::abstractions::pagemap::folio_free_trampoline::<$owner>(folio) }
        }

        /// The Rust end of the pagemap's `memory_failure` op, called by
        /// `refdax_memory_failure()`.
        ///
        /// # Safety
        ///
        /// Only for the C shim, with a pagemap whose ops are this table.
        #[no_mangle]
        unsafe extern "C" fn refdax_pgmap_memory_failure(
            pgmap: *mut kernel::bindings::dev_pagemap,
            pfn: kernel::ffi::c_ulong,
            nr_pages: kernel::ffi::c_ulong,
            _flags: kernel::ffi::c_int,
        ) -> kernel::ffi::c_int {
            // SAFETY: the kernel calls the op only for pagemaps created with `$name`.
            unsafe {
                $crate::abstractions::pagemap::memory_failure_trampoline::<$owner>(
                    pgmap, pfn, nr_pages,
                )
            }
        }

        $vis static $name: $crate::abstractions::pagemap::PagemapOps<$owner> =
            // SAFETY: `refdax_pgmap_folio_free` above only forwards to the trampoline.
            unsafe { $crate::abstractions::pagemap::PagemapOps::new() };
    };
}
pub(crate) use pagemap_ops;

/// Forwards the kernel's `folio_free` call to the owner of the folio's pagemap.
///
/// # Safety
///
/// `folio` must be a folio of a live [`DevPagemap<T>`], passed by `free_zone_device_folio()`.
#[doc(hidden)]
pub(crate) unsafe fn folio_free_trampoline<T: PagemapOwner>(folio: *mut bindings::folio) {
    // SAFETY: the caller passes a valid folio, valid for the duration of the call.
    let folio = unsafe { Folio::from_raw(folio) };
    // SAFETY: the folio belongs to a pagemap, so it is a `ZONE_DEVICE` folio.
    let pgmap = unsafe { ffi::refdax_folio_pgmap(folio.as_raw()) };
    // SAFETY: the pagemap is the `pgmap` field of a live, pinned `DevPagemap<T>` (caller).
    let this = unsafe { &*kernel::container_of!(Opaque::cast_from(pgmap), DevPagemap<T>, pgmap) };
    this.owner.folio_free(folio);
}

/// Forwards the kernel's `memory_failure` call to the owner, page by page, then zaps the
/// failed pages' file mappings.
///
/// # Safety
///
/// `pgmap` must be the `pgmap` of a live [`DevPagemap<T>`].
#[doc(hidden)]
pub(crate) unsafe fn memory_failure_trampoline<T: PagemapOwner>(
    pgmap: *mut bindings::dev_pagemap,
    pfn: usize,
    nr_pages: usize,
) -> core::ffi::c_int {
    // SAFETY: the pagemap is the `pgmap` field of a live, pinned `DevPagemap<T>` (caller).
    let this = unsafe { &*kernel::container_of!(Opaque::cast_from(pgmap), DevPagemap<T>, pgmap) };
    let pfns = this.pfns();
    for p in pfn..pfn.saturating_add(nr_pages) {
        if !pfns.contains(&p) {
            return ENXIO.to_errno();
        }
        if let Err(e) = this.owner.memory_failure(p) {
            return e.to_errno();
        }
        let mut index = 0;
        let inode = {
            // Neither a build nor a split rewrites the page's `mapping` meanwhile (both turn
            // pages into tails or back). The owner ties folios to files, and unties them
            // before a file goes, under its split lock, after marking the page failed there:
            // a fault either attached the folio before that (and is found here) or sees the
            // failure.
            let _build = this.build_lock.lock();
            let _rcu = kernel::sync::rcu::read_lock();
            let mapping = this.owner.without_splits(|| {
                // SAFETY: `p` is inside the pagemap, so it has a struct page; `index` is valid
                // for writes; no build or split is running (above).
                unsafe { ffi::refdax_page_mapping(p, &mut index) }
            });
            if mapping.is_null() {
                core::ptr::null_mut()
            } else {
                // SAFETY: `mapping` was the page's file's mapping under the owner's lock, and
                // that file's inode is freed only after its folios are untied from it and an
                // RCU grace period, which the RCU read lock held since holds off.
                unsafe { ffi::refdax_mapping_igrab(mapping) }
            }
        };
        if !inode.is_null() {
            // SAFETY: `inode` was grabbed by `refdax_mapping_igrab`; this puts that reference.
            unsafe { ffi::refdax_unmap_file_page(inode, index) };
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
/// Dropping the pagemap does not wait for its pages: `memunmap_pages()` relies on the pgmap's
/// percpu reference, which FS DAX takes in bulk for the pagemap's lifetime, not per busy page.
/// The owner must have made every page idle first (refdax: scan and wait at teardown).
///
/// # Invariants
///
/// `pgmap` was registered with `memremap_pages()` over `region`'s range, with
/// `ops == &PagemapOps<T>::raw`, and stays registered until drop.
#[pin_data(PinnedDrop)]
pub(crate) struct DevPagemap<T: PagemapOwner> {
    #[pin]
    pgmap: Opaque<bindings::dev_pagemap>,
    #[pin]
    owner: T,
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
        ops: &'static PagemapOps<T>,
        owner: impl PinInit<T, Error>,
    ) -> impl PinInit<Self, Error> {
        let range = bindings::range {
            start: region.start(),
            end: region.start() + region.len() - 1,
        };
        try_pin_init!(Self {
            owner <- owner,
            region,
            reaper <- new_mutex!(None),
            build_lock <- new_mutex!(()),
            // Last, so that no later field can fail and leave the pagemap registered.
            pgmap <- Opaque::try_ffi_init(move |slot: *mut bindings::dev_pagemap| {
                // SAFETY: `slot` is valid for writes; all-zeroes is a valid `dev_pagemap`.
                unsafe { core::ptr::write_bytes(slot, 0, 1) };
                // SAFETY: `slot` is valid and initialised; `range` is the union member used
                // with `nr_range == 1`.
                unsafe {
                    (*slot).type_ = bindings::memory_type_MEMORY_DEVICE_FS_DAX;
                    (*slot).ops = &ops.raw;
                    (*slot).nr_range = 1;
                    *(*slot).__bindgen_anon_1.range.as_mut() = range;
                }
                // SAFETY: `slot` is a fully set up `dev_pagemap`, pinned and ours; its range is
                // claimed by `region`, which is dropped only after `memunmap_pages()`.
                // INVARIANT: on success the pagemap is registered over `region`'s range with
                // `ops.raw`; this is the last field, so nothing can fail after it, and drop
                // unregisters it.
                let ret = unsafe { bindings::memremap_pages(slot, bindings::NUMA_NO_NODE) };
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
    /// the bytes copied, short if `iter` faults.
    pub(crate) fn copy_to_iter(
        &self,
        pfn: usize,
        offset: usize,
        len: usize,
        iter: &mut IovIter,
    ) -> usize {
        if !self.in_page(pfn, offset, len) {
            return 0;
        }
        // SAFETY: the page is ours and has a linear mapping (FS DAX pagemap); the range is
        // inside it; `iter` is valid.
        unsafe { ffi::refdax_copy_to_iter(pfn, offset, len, iter.as_raw()) }
    }

    /// Copies `len` bytes from `iter` to `offset` in page `pfn`, bypassing the CPU cache;
    /// returns the bytes copied, short if `iter` faults.
    pub(crate) fn copy_from_iter(
        &self,
        pfn: usize,
        offset: usize,
        len: usize,
        iter: &mut IovIter,
    ) -> usize {
        if !self.in_page(pfn, offset, len) {
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

    fn in_page(&self, pfn: usize, offset: usize, len: usize) -> bool {
        let ok = self.pfns().contains(&pfn)
            && offset
                .checked_add(len)
                .is_some_and(|e| e <= bindings::PAGE_SIZE);
        if !ok {
            pr_warn_once!(
                "refdax: pmem access outside the pagemap (pfn {pfn:#x}, {offset}+{len})\n"
            );
        }
        ok
    }

    /// Makes the `1 << order` pages at `pfn` one compound folio and returns it with one
    /// reference: how a PMD-sized folio comes to exist (`fs/dax.c` does the same). `EINVAL`
    /// if the range is not inside the pagemap or not aligned to its size, `EBUSY` if a page
    /// is referenced or already part of a larger folio.
    ///
    /// The owner must make sure that nobody takes a first reference on these pages while the
    /// folio is built (refdax: only the fault path of the file that owns the blocks does, and
    /// it holds the file's map lock). Splitting again happens when the folio is idle
    /// ([`Folio::split_idle`]).
    pub(crate) fn build_folio(&self, pfn: usize, order: u32) -> Result<FolioRef<'_>> {
        self.check_buildable(pfn, order)?;
        let _build = self.build_lock.lock();
        // SAFETY: the pages are inside the pagemap, aligned, order 0 and idle, and the owner
        // keeps others from referencing them meanwhile (documented contract).
        let folio = unsafe { Folio::from_raw(ffi::refdax_folio_build(pfn, order)) };
        // SAFETY: `refdax_folio_build` returns the folio with one reference, which the
        // `FolioRef` takes over.
        Ok(unsafe { FolioRef::from_owned(folio) })
    }

    /// Whether the `1 << order` pages at `pfn` could be made one folio now: `EINVAL` if the
    /// range is not inside the pagemap or not aligned to its size, `EBUSY` if a page is
    /// referenced or part of a larger folio (a snapshot; see [`DevPagemap::build_folio`]).
    pub(crate) fn check_buildable(&self, pfn: usize, order: u32) -> Result {
        let n = 1usize << order;
        if pfn % n != 0 || !self.pfns().contains(&pfn) || !self.pfns().contains(&(pfn + n - 1)) {
            return Err(EINVAL);
        }
        for p in pfn..pfn + n {
            let folio = self.folio(p).ok_or(EINVAL)?;
            if folio.pfn() != p || folio.order() != 0 || folio.ref_count() != 0 {
                return Err(EBUSY);
            }
        }
        Ok(())
    }

    /// Sleeps until the folio page `pfn` belongs to is idle (refcount zero) or `timeout` has
    /// passed; true if it is idle. Woken by the kernel's free path (`wake_up_var()` on the
    /// folio's page in `free_zone_device_folio()`), the upstream way of waiting for an FS DAX
    /// page.
    ///
    /// Process context only. It is a method of the pagemap, not of [`Folio`], so that a
    /// [`PagemapOwner::folio_free`] callback (atomic context, given only the folio) cannot
    /// reach it.
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
// otherwise goes through its mutexes or through kernel functions that synchronise
// themselves (folio refcounts, the kernel's copy and zero helpers).
unsafe impl<T: PagemapOwner> Sync for DevPagemap<T> {}

impl<T: PagemapOwner> Reap for DevPagemap<T> {
    fn reap(&self) -> Option<usize> {
        self.owner.reap(self)
    }
}

#[pinned_drop]
impl<T: PagemapOwner> PinnedDrop for DevPagemap<T> {
    fn drop(self: Pin<&mut Self>) {
        // Stopped outside the mutex: `kthread_stop()` waits for the thread.
        let reaper = self.reaper.lock().take();
        drop(reaper);
        // SAFETY: by the type invariant the pagemap is registered; it is unregistered once.
        unsafe { bindings::memunmap_pages(self.pgmap.get()) };
    }
}
