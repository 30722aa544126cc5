// SPDX-License-Identifier: GPL-2.0

//! Inodes and the guards of their locks.

use crate::abstractions::{ffi, folio::Folio};
use kernel::{
    bindings, new_mutex,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed, Release},
        Mutex,
    },
    types::Opaque,
};

/// An inode of a file system built here.
///
/// # Invariants
///
/// `self.0` is a valid inode for the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct Inode(Opaque<bindings::inode>);

impl Inode {
    /// # Safety
    ///
    /// `ptr` must be a valid inode for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: `Inode` is transparent over `Opaque<inode>`; validity is the caller's.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// The inode number.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: by the type invariant the inode is valid; `i_ino` is set at creation.
        unsafe { (*self.as_raw()).i_ino }
    }

    /// The file size (`i_size_read()`).
    pub(crate) fn size(&self) -> u64 {
        // SAFETY: by the type invariant the inode is valid.
        unsafe { ffi::refdax_i_size_read(self.as_raw()) as u64 }
    }

    /// The largest file size its file system allows (`s_maxbytes`).
    pub(crate) fn max_bytes(&self) -> u64 {
        // SAFETY: by the type invariant the inode is valid; `i_sb` and its `s_maxbytes` are set
        // before the inode exists and never change.
        unsafe { (*(*self.as_raw()).i_sb).s_maxbytes as u64 }
    }

    /// Accounts `n` more blocks of `PAGE_SIZE` to the file (`st_blocks`).
    pub(crate) fn add_blocks(&self, n: usize) {
        // SAFETY: by the type invariant the inode is valid; `inode_add_bytes` takes `i_lock`.
        unsafe { bindings::inode_add_bytes(self.as_raw(), (n * bindings::PAGE_SIZE) as i64) };
    }

    /// Accounts `n` fewer blocks to the file.
    pub(crate) fn sub_blocks(&self, n: usize) {
        // SAFETY: by the type invariant the inode is valid; `inode_sub_bytes` takes `i_lock`.
        unsafe { bindings::inode_sub_bytes(self.as_raw(), (n * bindings::PAGE_SIZE) as i64) };
    }

    /// The count of folios tied to this file (`None` for an inode that is not a regular
    /// file, which has no state).
    fn tied(&self) -> Option<&Atomic<usize>> {
        // SAFETY: by the type invariant the inode is valid; `i_private` is set before the
        // inode is visible and cleared only once nothing is tied to it (`evict_inode`).
        let state = unsafe { (*self.as_raw()).i_private };
        // SAFETY: a non-NULL `i_private` of one of our inodes is a `FileState`, whose first
        // field (`repr(C)`) is the counter; it lives as long as the inode.
        (!state.is_null()).then(|| unsafe { &*state.cast::<Atomic<usize>>() })
    }
}

/// Fault locks per file (a power of two): faults of one file on different PMDs mostly take
/// different ones.
const FAULT_LOCK_BITS: u32 = 4;
const FAULT_LOCKS: usize = 1 << FAULT_LOCK_BITS;

/// What a regular file's `i_private` points to (pinned): the file system's state, how many
/// folios are tied to the file (`folio->mapping` is the file's mapping), which the
/// abstraction checks at eviction, and the locks that serialise the file's faults on one PMD.
///
/// # Invariants
///
/// `tied` is the number of folios whose `mapping` is this inode's `i_mapping`; it is changed
/// only by [`tie_folio`] and [`untie_folio`]. Every call of `FileSystem::fault` and
/// `FileSystem::huge_fault` for the file holds `faults[FileState::fault_lock(mm, address)]`
/// of its address space and faulting address.
#[repr(C)]
#[pin_data]
pub(super) struct FileState<F> {
    pub(super) tied: Atomic<usize>,
    /// Held by the fault trampolines, one per fault, chosen by the PMD the fault is under: a
    /// PTE fault and a PMD fault of the same file on the same PMD never run at once, so what
    /// one sees of the page table there (a huge PMD or not) holds until it inserts (see
    /// `VmFault`). Faults on other PMDs (other 2 MiB, or another process) run in parallel.
    #[pin]
    faults: [Mutex<()>; FAULT_LOCKS],
    pub(super) file: F,
}

impl<F> FileState<F> {
    pub(super) fn new(file: F) -> impl PinInit<Self> {
        pin_init!(Self {
            tied: Atomic::new(0),
            faults <- pin_init::pin_init_array_from_fn(|_| new_mutex!(())),
            file,
        })
    }

    /// The fault lock for a fault at `address` in the address space `mm` (only compared,
    /// never dereferenced): one per PMD, hashed, so that faults on one PMD always take the
    /// same lock and faults on neighbouring PMDs rarely do.
    pub(super) fn fault_lock(&self, mm: usize, address: usize) -> &Mutex<()> {
        let pmd = address >> bindings::PMD_SHIFT;
        let key = (pmd ^ (mm >> 6)) as u64;
        // Fibonacci hashing: neighbouring PMDs spread over all the locks.
        let hash = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (u64::BITS - FAULT_LOCK_BITS);
        &self.faults[hash as usize % FAULT_LOCKS]
    }
}

/// Makes `folio` point back at page `index` of `inode`'s file, as page cache folios do,
/// untying it from the file it pointed at before. `EINVAL` for an inode that is not a
/// regular file.
///
/// # Safety
///
/// The caller holds the lock under which every folio of the pagemap is tied and untied,
/// and keeps the folio a folio head (a reference on it does).
pub(in crate::abstractions) unsafe fn tie_folio(
    folio: &Folio,
    inode: &Inode,
    index: usize,
) -> Result {
    let tied = inode.tied().ok_or(EINVAL)?;
    // SAFETY: by the caller.
    unsafe { untie_folio(folio) };
    tied.add(1, Relaxed);
    // SAFETY: the folio is a head (caller); the mapping is the file's, which stays valid
    // while the counter is above zero (an inode with tied folios is never freed).
    unsafe { ffi::refdax_folio_set_mapping(folio.as_raw(), (*inode.as_raw()).i_mapping, index) };
    Ok(())
}

/// Ends the association made by [`tie_folio`], if any.
///
/// # Safety
///
/// As for [`tie_folio`].
pub(in crate::abstractions) unsafe fn untie_folio(folio: &Folio) {
    // SAFETY: the folio is a head (caller); its mapping is NULL or an inode's of ours that is
    // still allocated (it has tied folios: this one).
    let host = unsafe { ffi::refdax_folio_host(folio.as_raw()) };
    if host.is_null() {
        return;
    }
    // SAFETY: as just said; `Inode` is transparent over the inode.
    let inode = unsafe { Inode::from_raw(host) };
    // SAFETY: the folio is a head (caller); NULL is what an unowned folio has.
    unsafe { ffi::refdax_folio_set_mapping(folio.as_raw(), core::ptr::null_mut(), 0) };
    // After the mapping is cleared: eviction, which reads the count (`Acquire`), frees the
    // inode only once no folio points at it.
    if let Some(tied) = inode.tied() {
        tied.fetch_sub(1, Release);
    }
}

/// An inode whose lock (`i_rwsem`) the caller holds exclusively: its size may change.
pub(crate) struct LockedInode<'a>(pub(super) &'a Inode);

impl LockedInode<'_> {
    /// Sets the modification and change times to now (the file's data changed).
    pub(crate) fn touch(&self) {
        // SAFETY: the inode is valid and we hold its lock, under which the VFS updates times.
        unsafe { ffi::refdax_touch(self.0.as_raw()) };
    }

    /// Sets the file size (`i_size_write()`).
    pub(crate) fn set_size(&self, size: u64) {
        // SAFETY: the inode is valid and we hold its lock, which `i_size_write()` requires.
        unsafe { ffi::refdax_i_size_write(self.0.as_raw(), size as i64) };
    }
}

impl core::ops::Deref for LockedInode<'_> {
    type Target = Inode;

    fn deref(&self) -> &Inode {
        self.0
    }
}

impl LockedInode<'_> {
    /// Takes the mapping's invalidate lock exclusively (`filemap_invalidate_lock()`): no
    /// fault of the file runs until the guard is dropped. For operations that take blocks out
    /// of the file: zap the mappings, then remove the blocks, under one guard.
    pub(crate) fn invalidate_lock(&self) -> InvalidateGuard<'_> {
        InvalidateGuard::lock(self.0)
    }
}

/// Holds an inode's invalidate lock (`mapping->invalidate_lock`) exclusively; unlocks on
/// drop.
///
/// Faults hold the same lock shared (the trampolines below take
/// it), so while a guard lives no new page of the file gets mapped: what
/// [`InvalidateGuard::unmap_range`] zapped stays unmapped until the guard is dropped.
///
/// # Invariants
///
/// The current task holds `self.0`'s invalidate lock for write.
pub(crate) struct InvalidateGuard<'a>(&'a Inode);

impl<'a> InvalidateGuard<'a> {
    pub(super) fn lock(inode: &'a Inode) -> Self {
        // SAFETY: the inode is valid (type invariant of `Inode`); unlocked once, on drop.
        unsafe { ffi::refdax_invalidate_lock(inode.as_raw()) };
        // INVARIANT: just locked for write.
        Self(inode)
    }

    /// Zaps every user mapping of the file's pages in `start..start + len` (0: to the end),
    /// private copies included (`unmap_mapping_range(.., even_cows = 1)`). The pages'
    /// references from those mappings are dropped before it returns (the zap flushes the TLB).
    pub(crate) fn unmap_range(&self, start: u64, len: u64) {
        // SAFETY: the inode and its mapping are valid (type invariant of `Inode`).
        unsafe {
            bindings::unmap_mapping_range((*self.0.as_raw()).i_mapping, start as i64, len as i64, 1)
        };
    }
}

impl core::ops::Deref for InvalidateGuard<'_> {
    type Target = Inode;

    fn deref(&self) -> &Inode {
        self.0
    }
}

impl Drop for InvalidateGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked for write by the type invariant.
        unsafe { ffi::refdax_invalidate_unlock(self.0.as_raw()) };
    }
}

/// Holds an inode's invalidate lock shared, as faults do; unlocks on drop.
///
/// # Invariants
///
/// The current task holds `self.0`'s invalidate lock shared.
pub(super) struct InvalidateSharedGuard<'a>(&'a Inode);

impl<'a> InvalidateSharedGuard<'a> {
    pub(super) fn lock(inode: &'a Inode) -> Self {
        // SAFETY: the inode is valid; unlocked once, on drop.
        unsafe { ffi::refdax_invalidate_lock_shared(inode.as_raw()) };
        // INVARIANT: just locked shared.
        Self(inode)
    }
}

impl Drop for InvalidateSharedGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked shared, by the type invariant.
        unsafe { ffi::refdax_invalidate_unlock_shared(self.0.as_raw()) };
    }
}

/// Holds an inode's lock exclusively; unlocks on drop.
///
/// # Invariants
///
/// The current task holds `self.0`'s inode lock exclusively.
pub(super) struct InodeGuard<'a>(LockedInode<'a>);

impl<'a> InodeGuard<'a> {
    pub(super) fn lock(inode: &'a Inode) -> Self {
        // SAFETY: the inode is valid (type invariant); the guard unlocks it once, on drop.
        unsafe { ffi::refdax_inode_lock(inode.as_raw()) };
        // INVARIANT: just locked exclusively.
        Self(LockedInode(inode))
    }

    /// The locked inode.
    pub(super) fn locked(&self) -> &LockedInode<'a> {
        &self.0
    }
}

impl Drop for InodeGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked exclusively, by the type invariant.
        unsafe { ffi::refdax_inode_unlock(self.0.as_raw()) };
    }
}

/// Holds an inode's lock shared; unlocks on drop.
///
/// # Invariants
///
/// The current task holds `self.0`'s inode lock shared.
pub(super) struct InodeSharedGuard<'a>(&'a Inode);

impl<'a> InodeSharedGuard<'a> {
    pub(super) fn lock(inode: &'a Inode) -> Self {
        // SAFETY: as in `InodeGuard::lock`.
        unsafe { ffi::refdax_inode_lock_shared(inode.as_raw()) };
        // INVARIANT: just locked shared.
        Self(inode)
    }
}

impl Drop for InodeSharedGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked in `lock`.
        unsafe { ffi::refdax_inode_unlock_shared(self.0.as_raw()) };
    }
}
