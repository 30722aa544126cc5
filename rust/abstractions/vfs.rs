// SPDX-License-Identifier: GPL-2.0

//! File systems: registration, superblocks, inodes, file and mapping operations.
//!
//! A [`FileSystem`] provides the data path (read, write, size changes, fallocate, faults) and
//! keeps per-mount and per-file state; this module provides everything else from `libfs`:
//! directories live in the dcache (`simple_lookup`, `simple_rmdir`, `simple_rename`, ...),
//! inodes are created here, and the tables the VFS calls are built once per type.
//!
//! # Locking
//!
//! The inode lock (`i_rwsem`) is held exclusively around [`FileSystem::write`],
//! [`FileSystem::set_size`] and [`FileSystem::fallocate`] (they get a [`LockedInode`]; the
//! VFS takes it for setattr, the trampolines here for the others), shared around
//! [`FileSystem::read`], and not at all around [`FileSystem::fault`], which runs under the
//! mmap lock instead. A file system must therefore not take the inode lock
//! in its fault path, and must not hold its own locks across copies from user memory.
//!
//! The mapping's invalidate lock (`filemap_invalidate_lock()`) orders faults against
//! operations that take pages out of a file, as in ext4 and xfs: the trampolines hold it
//! shared around [`FileSystem::fault`] and [`FileSystem::huge_fault`];
//! truncate and punch-hole take it exclusively ([`LockedInode::invalidate_lock`]) around
//! "zap the mappings, then remove the blocks", and eviction holds it too. Lock order:
//!
//! ```text
//!   i_rwsem -> mmap_lock -> invalidate_lock -> the file system's own locks
//!   i_rwsem -> invalidate_lock -> i_mmap_rwsem (unmap_mapping_range)
//! ```
//!
//! A copy from or to user memory under `i_rwsem` may fault on a mapping of the same file and
//! take the invalidate lock shared; nobody takes it exclusively without `i_rwsem`, so that
//! cannot deadlock, but no file system lock may be held across such a copy.
//!
//! # Contexts
//!
//! Every operation here runs in process context and may sleep.

use super::{
    ffi,
    folio::{Folio, FolioRef},
};
use core::{marker::PhantomData, mem::ManuallyDrop};
use kernel::{
    bindings,
    error::{from_result, to_result},
    ffi::{c_int, c_long, c_uint},
    prelude::*,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

/// What a file system built on this module provides.
pub(crate) trait FileSystem: Sized + 'static {
    /// The name user space mounts it by (`mount -t NAME`).
    const NAME: &'static CStr;
    /// `statfs()`'s `f_type`.
    const MAGIC: u64;
    /// The largest file size.
    const MAX_BYTES: u64;

    /// Module-wide data the type was registered with.
    type Data: Send + Sync;
    /// Per-mount state (`sb->s_fs_info`).
    type Sb: Send + Sync;
    /// Per-regular-file state (`inode->i_private`).
    type File: Send + Sync;

    /// A new mount with `options`: makes its state, or refuses it.
    fn mount(data: &Self::Data, options: MountOptions) -> Result<Self::Sb>;
    /// Block counts for `statfs()`.
    fn statfs(sb: &Self::Sb) -> StatFs;
    /// State for a new, empty regular file.
    fn new_file(sb: &Self::Sb) -> Result<Self::File>;
    /// Reads from `pos` into `iter`; returns the bytes read (0 at or past EOF).
    fn read(
        sb: &Self::Sb,
        inode: &Inode,
        file: &Self::File,
        pos: u64,
        iter: &mut IovIter,
    ) -> Result<usize>;
    /// Writes `iter` at `pos` (already checked against limits); returns the bytes written.
    fn write(
        sb: &Self::Sb,
        inode: &LockedInode<'_>,
        file: &Self::File,
        pos: u64,
        iter: &mut IovIter,
    ) -> Result<usize>;
    /// Changes the size (truncate up or down).
    fn set_size(sb: &Self::Sb, inode: &LockedInode<'_>, file: &Self::File, size: u64) -> Result;
    /// `fallocate()` with a mode this module accepts.
    fn fallocate(
        sb: &Self::Sb,
        inode: &LockedInode<'_>,
        file: &Self::File,
        mode: Fallocate,
        offset: u64,
        len: u64,
    ) -> Result;
    /// A page fault in a mapping of the file. The mapping's invalidate lock is held shared
    /// (see [`InvalidateGuard`]): pages cannot leave the file meanwhile.
    fn fault<'a>(
        sb: &Self::Sb,
        inode: &Inode,
        file: &Self::File,
        vmf: &'a VmFault,
    ) -> VmFaultResult<'a>;
    /// A fault that may be served with a PMD (the page table has no PTE table there yet):
    /// map a PMD-sized folio, or return [`HugeFaultResult::Fallback`] for [`FileSystem::fault`].
    fn huge_fault(
        sb: &Self::Sb,
        inode: &Inode,
        file: &Self::File,
        vmf: &VmFault,
    ) -> HugeFaultResult;
    /// The inode is going away (last link and last user gone): let go of its data.
    fn evict(sb: &Self::Sb, inode: &InvalidateGuard<'_>, file: Self::File);
}

/// The mount options (`mount -o`) the C shim's parser accepts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MountOptions {
    /// `pte_only`: never map with PMDs.
    pub(crate) pte_only: bool,
}

/// Block counts for `statfs()`, in pages.
pub(crate) struct StatFs {
    /// All data blocks.
    pub(crate) blocks: u64,
    /// Blocks a new allocation can have now.
    pub(crate) free: u64,
}

/// The `fallocate()` modes a file system built here supports; others get `EOPNOTSUPP`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fallocate {
    /// Mode 0: allocate and extend the size.
    Allocate,
    /// `FALLOC_FL_KEEP_SIZE`: allocate, keep the size.
    AllocateKeepSize,
    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`: free the blocks, keep the size.
    PunchHole,
}

// From include/uapi/linux/falloc.h, which the kernel's bindings do not include.
const FALLOC_FL_KEEP_SIZE: c_int = 0x01;
const FALLOC_FL_PUNCH_HOLE: c_int = 0x02;

impl Fallocate {
    fn from_mode(mode: c_int) -> Result<Self> {
        match mode {
            0 => Ok(Self::Allocate),
            FALLOC_FL_KEEP_SIZE => Ok(Self::AllocateKeepSize),
            m if m == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE => Ok(Self::PunchHole),
            _ => Err(EOPNOTSUPP),
        }
    }
}

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
    unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
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

    /// Makes `folio` point back at page `index` of this file, as page cache folios do.
    pub(crate) fn attach_folio(&self, folio: &Folio, index: usize) {
        // SAFETY: both are valid; the mapping outlives the association because the file
        // system detaches its folios before the inode is freed (`FileSystem::evict`).
        unsafe { ffi::refdax_folio_set_mapping(folio.as_raw(), (*self.as_raw()).i_mapping, index) };
    }
}

/// Ends the association made by [`Inode::attach_folio`].
pub(crate) fn detach_folio(folio: &Folio) {
    // SAFETY: the folio is valid; a NULL mapping is what an unowned folio has.
    unsafe { ffi::refdax_folio_set_mapping(folio.as_raw(), core::ptr::null_mut(), 0) };
}

/// An inode whose lock (`i_rwsem`) the caller holds exclusively: its size may change.
pub(crate) struct LockedInode<'a>(&'a Inode);

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
    fn lock(inode: &'a Inode) -> Self {
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
struct InvalidateSharedGuard<'a>(&'a Inode);

impl<'a> InvalidateSharedGuard<'a> {
    fn lock(inode: &'a Inode) -> Self {
        // SAFETY: the inode is valid; unlocked once, on drop.
        unsafe { ffi::refdax_invalidate_lock_shared(inode.as_raw()) };
        Self(inode)
    }
}

impl Drop for InvalidateSharedGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked shared in `lock`.
        unsafe { ffi::refdax_invalidate_unlock_shared(self.0.as_raw()) };
    }
}

/// Holds an inode's lock exclusively; unlocks on drop.
struct InodeGuard<'a>(LockedInode<'a>);

impl<'a> InodeGuard<'a> {
    fn lock(inode: &'a Inode) -> Self {
        // SAFETY: the inode is valid (type invariant); the guard unlocks it once, on drop.
        unsafe { ffi::refdax_inode_lock(inode.as_raw()) };
        Self(LockedInode(inode))
    }
}

impl Drop for InodeGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked in `lock`.
        unsafe { ffi::refdax_inode_unlock(self.0.as_raw()) };
    }
}

/// Holds an inode's lock shared; unlocks on drop.
struct InodeSharedGuard<'a>(&'a Inode);

impl<'a> InodeSharedGuard<'a> {
    fn lock(inode: &'a Inode) -> Self {
        // SAFETY: as in `InodeGuard::lock`.
        unsafe { ffi::refdax_inode_lock_shared(inode.as_raw()) };
        Self(inode)
    }
}

impl Drop for InodeSharedGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: locked in `lock`.
        unsafe { ffi::refdax_inode_unlock_shared(self.0.as_raw()) };
    }
}

/// An I/O iterator (`struct iov_iter`): the user or kernel buffers of a read or write.
///
/// # Invariants
///
/// `self.0` is a valid iterator for the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct IovIter(Opaque<bindings::iov_iter>);

impl IovIter {
    pub(crate) fn as_raw(&self) -> *mut bindings::iov_iter {
        self.0.get()
    }

    /// Writes `len` zero bytes (a hole); returns the bytes written, short if it faults.
    pub(crate) fn zero(&mut self, len: usize) -> usize {
        // SAFETY: by the type invariant the iterator is valid.
        unsafe { bindings::iov_iter_zero(len, self.as_raw()) }
    }

    /// Bytes left in the iterator.
    pub(crate) fn count(&self) -> usize {
        // SAFETY: by the type invariant the iterator is valid.
        unsafe { ffi::refdax_iov_iter_count(self.as_raw()) }
    }
}

/// A page fault (`struct vm_fault`) in a mapping of a file.
///
/// # Invariants
///
/// `self.0` is the fault being handled, valid for the lifetime of the reference; the mmap
/// lock (or the VMA lock) is held.
#[repr(transparent)]
pub(crate) struct VmFault(Opaque<bindings::vm_fault>);

/// What a fault handler ([`FileSystem::fault`]) tells the core, about the fault `'a`.
#[derive(PartialEq, Eq, Debug)]
#[must_use]
pub(crate) enum VmFaultResult<'a> {
    /// The handler installed the page table entry itself (or a racing fault did).
    NoPage,
    /// The handler set the page the core copies from for a private write; only
    /// [`VmFault::set_cow_source`] makes it, so `vmf->page` is always set with it.
    CowSource(CowSourceSet<'a>),
    /// The access is outside the file: the process gets `SIGBUS`.
    SigBus,
    /// Out of memory.
    Oom,
    /// The page has failed (memory failure): the process gets `SIGBUS` (`BUS_MCEERR_AR`).
    HwPoison,
}

/// Proof that [`VmFault::set_cow_source`] set `vmf->page` of the fault `'a`: made only in
/// this module, neither `Clone` nor `Copy`, and bound to that fault.
#[derive(PartialEq, Eq, Debug)]
pub(crate) struct CowSourceSet<'a>(PhantomData<&'a VmFault>);

/// What a PMD fault handler ([`FileSystem::huge_fault`]) tells the core.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use]
pub(crate) enum HugeFaultResult {
    /// The handler installed the PMD itself, or the access is to be retried.
    NoPage,
    /// The access is outside the file: the process gets `SIGBUS`.
    SigBus,
    /// Out of memory.
    Oom,
    /// Not served with a PMD: the core retries with PTEs.
    Fallback,
}

impl VmFaultResult<'_> {
    fn into_raw(self) -> bindings::vm_fault_t {
        match self {
            Self::NoPage => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            Self::CowSource(_) => 0,
            Self::SigBus => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
            Self::Oom => bindings::vm_fault_reason_VM_FAULT_OOM,
            Self::HwPoison => bindings::vm_fault_reason_VM_FAULT_HWPOISON,
        }
    }

    /// The result of an insert (`VM_FAULT_NOPAGE` when it mapped the page).
    fn from_insert(raw: bindings::vm_fault_t) -> Result<(), Self> {
        if raw & bindings::vm_fault_reason_VM_FAULT_OOM != 0 {
            Err(Self::Oom)
        } else if raw & bindings::vm_fault_reason_VM_FAULT_NOPAGE != 0 {
            Ok(())
        } else {
            Err(Self::SigBus)
        }
    }
}

impl HugeFaultResult {
    fn to_raw(self) -> bindings::vm_fault_t {
        match self {
            Self::NoPage => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            Self::SigBus => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
            Self::Oom => bindings::vm_fault_reason_VM_FAULT_OOM,
            Self::Fallback => bindings::vm_fault_reason_VM_FAULT_FALLBACK,
        }
    }

    /// The result of a PMD insert (`VM_FAULT_NOPAGE` when it mapped the folio).
    fn from_insert(raw: bindings::vm_fault_t) -> Result<(), Self> {
        match VmFaultResult::from_insert(raw) {
            Ok(()) => Ok(()),
            Err(VmFaultResult::Oom) => Err(Self::Oom),
            Err(_) => Err(Self::SigBus),
        }
    }
}

impl VmFault {
    /// The fault's VMA. No reference into the `vm_fault` is made: [`VmFault::set_cow_source`]
    /// writes to it through the same pointer.
    fn vma(&self) -> *mut bindings::vm_area_struct {
        // SAFETY: by the type invariant the fault is valid; a plain field read.
        unsafe { (*self.0.get()).__bindgen_anon_1.vma }
    }

    /// The fault's flags (`FAULT_FLAG_*`).
    fn flags(&self) -> bindings::fault_flag {
        // SAFETY: by the type invariant the fault is valid; a plain field read.
        unsafe { (*self.0.get()).flags }
    }

    /// The file page the fault is for.
    pub(crate) fn pgoff(&self) -> usize {
        // SAFETY: by the type invariant the fault is valid; a plain field read.
        unsafe { (*self.0.get()).__bindgen_anon_1.pgoff }
    }

    /// The faulting user address, rounded down to its page.
    pub(crate) fn address(&self) -> usize {
        // SAFETY: by the type invariant the fault is valid; a plain field read.
        unsafe { (*self.0.get()).__bindgen_anon_1.address }
    }

    /// The VMA's user address range.
    pub(crate) fn vma_range(&self) -> core::ops::Range<usize> {
        let vma = self.vma();
        // SAFETY: the VMA is valid while its fault is handled, and its range does not change
        // under the mmap or VMA lock the fault holds; plain field reads.
        unsafe {
            (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_start
                ..(*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end
        }
    }

    /// The file page mapped at user address `addr` of the VMA (`linear_page_index()`).
    pub(crate) fn file_page_at(&self, addr: usize) -> usize {
        // SAFETY: the VMA is valid while its fault is handled; plain field.
        let pgoff = unsafe { (*self.vma()).vm_pgoff };
        (addr.wrapping_sub(self.vma_range().start) >> bindings::PAGE_SHIFT).wrapping_add(pgoff)
    }

    /// Whether a PMD maps the faulting address's 2 MiB now: a PMD fault of another thread
    /// won the race. A PTE insert there is a bug (`walk_to_pmd()`); the fault should just
    /// return and be retried, as `fs/dax.c` does. Stable only under a lock that PMD faults
    /// of the same file also hold around their insert.
    pub(crate) fn pmd_is_huge(&self) -> bool {
        // SAFETY: the fault is valid (type invariant).
        unsafe { ffi::refdax_vmf_pmd_is_huge(self.0.get()) }
    }

    /// Whether the fault holds only the per-VMA lock, not the mmap lock. Such a fault that
    /// falls back to PTEs is retried under the mmap lock (the PTE path of a file without
    /// `->map_pages` needs it), so the handler runs twice for it.
    pub(crate) fn under_vma_lock(&self) -> bool {
        self.flags() & bindings::fault_flag_FAULT_FLAG_VMA_LOCK != 0
    }

    /// Whether the access was a write.
    pub(crate) fn is_write(&self) -> bool {
        self.flags() & bindings::fault_flag_FAULT_FLAG_WRITE != 0
    }

    /// Whether the mapping is shared (`MAP_SHARED`) rather than private.
    pub(crate) fn is_shared(&self) -> bool {
        // SAFETY: the VMA is valid while its fault is handled.
        unsafe { (*self.vma()).__bindgen_anon_2.vm_flags & bindings::VM_SHARED != 0 }
    }

    /// Maps page `pfn` of `folio` (a whole order-0 folio, or one page of a larger one) at
    /// the faulting address with `vmf_insert_page_mkwrite()`, the insert-page path: the PTE
    /// takes a folio reference and a file rmap, like a page cache page. `write` maps it
    /// writable and dirty.
    ///
    /// `Ok` when the page is mapped at the address now (by this insert, or already by a
    /// racing fault of the same page); otherwise the result the fault must return.
    pub(crate) fn insert_page(
        &self,
        folio: &FolioRef<'_>,
        pfn: usize,
        write: bool,
    ) -> Result<(), VmFaultResult<'_>> {
        let Some(page) = folio_page(folio, pfn) else {
            return Err(VmFaultResult::SigBus);
        };
        // A PMD fault of another thread mapped this 2 MiB since the core chose the PTE path:
        // a PTE insert there is a bug (`walk_to_pmd()`); the access is just retried. The
        // caller must hold a lock that the file's PMD faults hold around their insert, or this
        // check can race with one (refdax: the file's map lock).
        if self.pmd_is_huge() {
            return Err(VmFaultResult::NoPage);
        }
        // SAFETY: the fault is valid (type invariant) and we hold a reference on the folio,
        // so its refcount is above zero as the insert requires.
        let ret = unsafe { bindings::vmf_insert_page_mkwrite(self.0.get(), page, write) };
        VmFaultResult::from_insert(ret)
    }

    /// Maps the PMD-sized `folio` at the faulting address's 2 MiB window with
    /// `vmf_insert_folio_pmd()`: one PMD, one folio reference, one PMD rmap. The caller has
    /// checked that the window lies inside the VMA and maps the folio's file pages, and holds
    /// a lock that the file's PTE faults also hold around their inserts.
    ///
    /// If the PMD is no longer empty (a PTE fault of another thread installed a page table
    /// since the core looked) or maps another folio, nothing is inserted and the access is
    /// retried (`Err(`[`VmFaultResult::NoPage`]`)`), as `fs/dax.c` does. `Ok` when the folio
    /// is mapped by the PMD now.
    pub(crate) fn insert_folio_pmd(
        &self,
        folio: &FolioRef<'_>,
        write: bool,
    ) -> Result<(), HugeFaultResult> {
        if folio.order() != bindings::HPAGE_PMD_ORDER {
            return Err(HugeFaultResult::SigBus);
        }
        // The PMD must map the window inside the VMA; the core only checks its start.
        let size = bindings::PAGE_SIZE << bindings::HPAGE_PMD_ORDER;
        let addr = self.address() & !(size - 1);
        let vma = self.vma_range();
        if addr < vma.start || vma.end - addr < size {
            return Err(HugeFaultResult::Fallback);
        }
        // SAFETY: the fault is valid; `pmd` is set for a PMD fault.
        if !unsafe { ffi::refdax_vmf_pmd_insertable(self.0.get(), folio.pfn()) } {
            return Err(HugeFaultResult::NoPage);
        }
        // SAFETY: the fault is valid, the folio is PMD-sized and we hold a reference on it.
        let ret = unsafe { bindings::vmf_insert_folio_pmd(self.0.get(), folio.as_raw(), write) };
        HugeFaultResult::from_insert(ret)
    }

    /// For a write fault in a private mapping: hands the core page `pfn` of `folio` to copy
    /// into the new anonymous page (`vmf->page`); the core locks it, copies, and drops the
    /// reference.
    ///
    /// The result must be what the fault returns: the core's reference is only put if it sees
    /// [`VmFaultResult::CowSource`].
    pub(crate) fn set_cow_source(&self, folio: FolioRef<'_>, pfn: usize) -> VmFaultResult<'_> {
        // Only a write fault in a private mapping copies (`do_cow_fault()`).
        if !self.is_write() || self.is_shared() {
            return VmFaultResult::SigBus;
        }
        let Some(page) = folio_page(&folio, pfn) else {
            return VmFaultResult::SigBus;
        };
        let _ = ManuallyDrop::new(folio);
        // SAFETY: the fault is valid; the core takes over the reference we forget here and
        // puts it (on the page's folio) after the copy (`do_cow_fault()`).
        unsafe { (*self.0.get()).page = page };
        VmFaultResult::CowSource(CowSourceSet(PhantomData))
    }
}

/// The struct page of page `pfn` of `folio`, or `None` if `pfn` is not one of its pages.
fn folio_page(folio: &Folio, pfn: usize) -> Option<*mut bindings::page> {
    // SAFETY: a page of a valid folio has a struct page.
    folio
        .contains(pfn)
        .then(|| unsafe { ffi::refdax_pfn_page(pfn) })
}

/// A registered file system type; unregistered on drop.
///
/// # Invariants
///
/// `fs_type` is registered with `register_filesystem()` until drop.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: FileSystem> {
    #[pin]
    fs_type: Opaque<bindings::file_system_type>,
    data: T::Data,
}

// SAFETY: the VFS synchronises its own use of the `file_system_type`; Rust never touches it
// after registration. `T::Data` is `Send + Sync`.
unsafe impl<T: FileSystem> Send for Registration<T> {}
// SAFETY: `&Registration` gives only `&T::Data` (`T::Data: Sync`); the VFS synchronises its
// own use of the `file_system_type`.
unsafe impl<T: FileSystem> Sync for Registration<T> {}

/// A file system type whose superblocks the C shim's `get_tree` fills: implemented only by
/// [`file_system!`], once per module (it defines the one `refdax_fill_super` symbol), so that a
/// [`Registration`] of another type cannot exist and have its superblocks taken for `T`'s.
///
/// # Safety
///
/// Implement only through [`file_system!`].
pub(crate) unsafe trait Declared: FileSystem {}

impl<T: FileSystem + Declared> Registration<T> {
    /// Registers `T` for `module`; mounts get `data`.
    pub(crate) fn new(module: &'static ThisModule, data: T::Data) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            data,
            // Last: nothing after it can fail and leave the type registered.
            fs_type <- Opaque::try_ffi_init(move |slot: *mut bindings::file_system_type| {
                // SAFETY: `slot` is valid for writes; all-zeroes is a valid file_system_type.
                unsafe { core::ptr::write_bytes(slot, 0, 1) };
                // SAFETY: `slot` is valid and initialised.
                unsafe {
                    (*slot).name = T::NAME.as_char_ptr();
                    (*slot).owner = module.as_ptr();
                    (*slot).init_fs_context = Some(ffi::refdax_init_fs_context);
                    (*slot).kill_sb = Some(kill_sb::<T>);
                }
                // SAFETY: `slot` is pinned: its lock class keys stay put until drop, where
                // they are unregistered.
                unsafe { ffi::refdax_fs_type_register_keys(slot) };
                // SAFETY: `slot` is pinned and set up; it stays registered until drop.
                // INVARIANT: on success the type is registered until `PinnedDrop`; this is the
                // last field, so nothing fails after it.
                to_result(unsafe { bindings::register_filesystem(slot) }).inspect_err(|_| {
                    // SAFETY: registered just above, and nothing used them.
                    unsafe { ffi::refdax_fs_type_unregister_keys(slot) };
                })
            }),
        })
    }
}

#[pinned_drop]
impl<T: FileSystem> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered by the type invariant. While mounted, the module cannot be
        // unloaded (the type's owner is pinned by every superblock), so no superblock
        // outlives this.
        unsafe { bindings::unregister_filesystem(self.fs_type.get()) };
        // SAFETY: registered in `new`; no superblock of the type is left to use them.
        unsafe { ffi::refdax_fs_type_unregister_keys(self.fs_type.get()) };
        // Inodes are freed by RCU callbacks that run this module's `free_inode`: wait for
        // every one queued before the module's text can go (as ext4, fuse and 9p do).
        // SAFETY: no preconditions; process context (module exit).
        unsafe { bindings::rcu_barrier() };
    }
}

/// Declares the Rust end of the C shim's `get_tree` for file system type `$fs`.
macro_rules! file_system {
    ($fs:ty) => {
        // SAFETY: `refdax_fill_super` below forwards to `fill_super::<$fs>`: the C shim's
        // `get_tree` fills superblocks of this type, and of no other (the symbol is unique).
        unsafe impl $crate::abstractions::vfs::Declared for $fs {}

        /// Fills a new superblock of refdax (called by the C shim's `get_tree`).
        ///
        /// # Safety
        ///
        /// Only for `get_tree_nodev()`, with a new superblock of the registered type.
        #[no_mangle]
        unsafe extern "C" fn refdax_fill_super(
            sb: *mut kernel::bindings::super_block,
            fc: *mut kernel::bindings::fs_context,
        ) -> kernel::ffi::c_int {
            // SAFETY: forwarded from the caller.
            unsafe { $crate::abstractions::vfs::fill_super::<$fs>(sb, fc) }
        }
    };
}
pub(crate) use file_system;

/// The tables the VFS calls, one set per file system type.
struct Tables<T>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    const SUPER: bindings::super_operations = bindings::super_operations {
        statfs: Some(statfs::<T>),
        evict_inode: Some(evict_inode::<T>),
        free_inode: Some(free_inode),
        drop_inode: Some(bindings::inode_just_drop),
        ..pin_init::zeroed()
    };

    const DIR_INODE: bindings::inode_operations = bindings::inode_operations {
        create: Some(create::<T>),
        lookup: Some(bindings::simple_lookup),
        link: Some(bindings::simple_link),
        unlink: Some(bindings::simple_unlink),
        mkdir: Some(mkdir::<T>),
        mknod: Some(mknod::<T>),
        symlink: Some(symlink::<T>),
        rmdir: Some(bindings::simple_rmdir),
        rename: Some(bindings::simple_rename),
        ..pin_init::zeroed()
    };

    const FILE_INODE: bindings::inode_operations = bindings::inode_operations {
        setattr: Some(setattr::<T>),
        getattr: Some(getattr),
        ..pin_init::zeroed()
    };

    const FILE: bindings::file_operations = bindings::file_operations {
        llseek: Some(bindings::generic_file_llseek),
        read_iter: Some(read_iter::<T>),
        write_iter: Some(write_iter::<T>),
        mmap: Some(mmap::<T>),
        get_unmapped_area: Some(bindings::thp_get_unmapped_area),
        fsync: Some(bindings::noop_fsync),
        // No page cache: splice, sendfile and copy_file_range go through read_iter and
        // write_iter.
        splice_read: Some(bindings::copy_splice_read),
        splice_write: Some(bindings::iter_file_splice_write),
        fallocate: Some(fallocate::<T>),
        open: Some(bindings::generic_file_open),
        ..pin_init::zeroed()
    };

    // Folios are never in the page cache; the dirty hook runs when a dirty PTE is zapped.
    const ADDRESS_SPACE: bindings::address_space_operations = bindings::address_space_operations {
        dirty_folio: Some(bindings::noop_dirty_folio),
        direct_IO: Some(bindings::noop_direct_IO),
        ..pin_init::zeroed()
    };

    const VM: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(fault::<T>),
        huge_fault: Some(huge_fault::<T>),
        ..pin_init::zeroed()
    };
}

/// # Safety
///
/// `sb` is a valid superblock of type `T` whose `s_fs_info` was set by [`fill_super`].
unsafe fn sb_data<'a, T: FileSystem>(sb: *mut bindings::super_block) -> &'a T::Sb {
    // SAFETY: `s_fs_info` holds a `KBox<T::Sb>` from `fill_super`, freed only in `kill_sb`.
    unsafe { <KBox<T::Sb> as ForeignOwnable>::borrow((*sb).s_fs_info) }
}

/// # Safety
///
/// `inode` is a valid regular-file inode of type `T`, made by [`new_inode`].
unsafe fn file_data<'a, T: FileSystem>(inode: *mut bindings::inode) -> &'a T::File {
    // SAFETY: `i_private` holds a `KBox<T::File>` from `new_inode`, freed only in eviction.
    unsafe { <KBox<T::File> as ForeignOwnable>::borrow((*inode).i_private) }
}

/// The inode, superblock state and file state of a regular file.
///
/// # Safety
///
/// `raw` is a valid regular-file inode of type `T` made by [`new_inode`], valid for `'a`.
unsafe fn file_parts<'a, T: FileSystem>(
    raw: *mut bindings::inode,
) -> (&'a Inode, &'a T::Sb, &'a T::File) {
    // SAFETY: by the caller.
    unsafe {
        (
            Inode::from_raw(raw),
            sb_data::<T>((*raw).i_sb),
            file_data::<T>(raw),
        )
    }
}

/// Fills a new superblock: `T::mount`, then the root directory.
///
/// # Safety
///
/// `sb` is a new superblock of the registered type `T`, from `get_tree_nodev()` for the
/// context `fc`.
#[doc(hidden)]
pub(crate) unsafe fn fill_super<T: FileSystem>(
    sb: *mut bindings::super_block,
    fc: *mut bindings::fs_context,
) -> c_int {
    from_result(|| {
        // SAFETY: `s_type` is the `fs_type` field of our pinned `Registration<T>`, which
        // outlives every superblock (type invariant of `Registration`).
        let reg = unsafe {
            &*kernel::container_of!(Opaque::cast_from((*sb).s_type), Registration<T>, fs_type)
        };
        // SAFETY: `fc` is the mount's context, parsed by the C shim.
        let bits = unsafe { ffi::refdax_fc_options(fc) };
        let options = MountOptions {
            pte_only: bits & ffi::REFDAX_OPT_PTE_ONLY != 0,
        };
        let data = KBox::new(T::mount(&reg.data, options)?, GFP_KERNEL)?;
        // SAFETY: `sb` is valid and not yet visible to anyone else.
        unsafe {
            (*sb).s_maxbytes = T::MAX_BYTES as bindings::loff_t;
            (*sb).s_blocksize = bindings::PAGE_SIZE;
            (*sb).s_blocksize_bits = bindings::PAGE_SHIFT as u8;
            (*sb).s_magic = T::MAGIC as usize;
            (*sb).s_op = &Tables::<T>::SUPER;
            (*sb).s_time_gran = 1;
            // From here `kill_sb` frees it, also if the rest fails.
            (*sb).s_fs_info = data.into_foreign().cast();
        }
        // SAFETY: `sb` is valid and its `s_fs_info` is set.
        let root =
            unsafe { new_inode::<T>(sb, core::ptr::null_mut(), bindings::S_IFDIR | 0o755, 0)? };
        // SAFETY: `root` is a new directory inode; `d_make_root` consumes it even on failure.
        let dentry = unsafe { bindings::d_make_root(root) };
        if dentry.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `sb` is valid.
        unsafe { (*sb).s_root = dentry };
        Ok(0)
    })
}

/// `kill_sb`: the VFS tears the superblock down (inodes are evicted here), then the state
/// `T::mount` made is dropped.
///
/// # Safety
///
/// `sb` is a superblock of type `T`.
unsafe extern "C" fn kill_sb<T: FileSystem>(sb: *mut bindings::super_block) {
    // SAFETY: `sb` is valid until `kill_anon_super()` returns; read its state first.
    let data = unsafe { (*sb).s_fs_info };
    // SAFETY: `sb` is an anonymous superblock (get_tree_nodev); this evicts every inode,
    // which still uses `s_fs_info`.
    unsafe { bindings::kill_anon_super(sb) };
    if !data.is_null() {
        // SAFETY: set by `fill_super` from `KBox::into_foreign`, and not used any more.
        drop(unsafe { <KBox<T::Sb> as ForeignOwnable>::from_foreign(data.cast()) });
    }
}

/// Makes an inode of the type `mode` says: a regular file with `T::File` state and `S_DAX`
/// (so that its mappings are DAX mappings), a directory, a symlink (the caller sets
/// `i_link`), or a FIFO, socket or device node `rdev`.
///
/// # Safety
///
/// `sb` is a valid superblock of type `T` with its state set; `dir` is NULL or its inode.
unsafe fn new_inode<T: FileSystem>(
    sb: *mut bindings::super_block,
    dir: *mut bindings::inode,
    mode: u32,
    rdev: bindings::dev_t,
) -> Result<*mut bindings::inode> {
    let file = if mode & bindings::S_IFMT == bindings::S_IFREG {
        // SAFETY: by the caller.
        Some(KBox::new(
            T::new_file(unsafe { sb_data::<T>(sb) })?,
            GFP_KERNEL,
        )?)
    } else {
        None
    };
    // SAFETY: `sb` is valid.
    let inode = unsafe { bindings::new_inode(sb) };
    if inode.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `inode` is new and ours; `dir` is valid or NULL as `inode_init_owner` allows.
    unsafe {
        (*inode).i_ino = bindings::get_next_ino().into();
        bindings::inode_init_owner(
            &raw mut bindings::nop_mnt_idmap,
            inode,
            dir,
            mode as bindings::umode_t,
        );
        bindings::simple_inode_init_ts(inode);
        (*(*inode).i_mapping).a_ops = &Tables::<T>::ADDRESS_SPACE;
        match (file, mode & bindings::S_IFMT) {
            (Some(file), _) => {
                (*inode).i_op = &Tables::<T>::FILE_INODE;
                (*inode).__bindgen_anon_3.i_fop = &Tables::<T>::FILE;
                (*inode).i_flags |= bindings::S_DAX;
                (*inode).i_private = file.into_foreign().cast();
            }
            (None, bindings::S_IFDIR) => {
                (*inode).i_op = &Tables::<T>::DIR_INODE;
                (*inode).__bindgen_anon_3.i_fop = &raw const bindings::simple_dir_operations;
                // A directory starts with two links: its entry and ".".
                bindings::inc_nlink(inode);
            }
            // The target is `i_link`, which the caller sets (`symlink`).
            (None, bindings::S_IFLNK) => {
                (*inode).i_op = &raw const bindings::simple_symlink_inode_operations;
            }
            // FIFOs, sockets and device nodes: the VFS's own operations.
            (None, _) => bindings::init_special_inode(inode, mode as bindings::umode_t, rdev),
        }
    }
    Ok(inode)
}

/// # Safety
///
/// Called by the VFS as `inode_operations::create` of a `T` directory.
unsafe extern "C" fn create<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> c_int {
    from_result(|| {
        // SAFETY: `dir` is a valid inode of our superblock.
        let inode =
            unsafe { new_inode::<T>((*dir).i_sb, dir, u32::from(mode) | bindings::S_IFREG, 0)? };
        // SAFETY: `dentry` is the negative dentry being created, `inode` is new; the dcache
        // keeps the pair until unlink (libfs style).
        unsafe {
            bindings::d_make_persistent(dentry, inode);
            ffi::refdax_touch(dir);
        }
        Ok(0)
    })
}

/// # Safety
///
/// Called by the VFS as `inode_operations::mkdir` of a `T` directory.
unsafe extern "C" fn mkdir<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> *mut bindings::dentry {
    // SAFETY: `dir` is a valid inode of our superblock.
    match unsafe { new_inode::<T>((*dir).i_sb, dir, u32::from(mode) | bindings::S_IFDIR, 0) } {
        Ok(inode) => {
            // SAFETY: as in `create`; the new directory's ".." links its parent.
            unsafe {
                bindings::d_make_persistent(dentry, inode);
                bindings::inc_nlink(dir);
                ffi::refdax_touch(dir);
            }
            core::ptr::null_mut()
        }
        Err(e) => e.to_ptr(),
    }
}

/// `inode_operations::mknod`: FIFOs, sockets and device nodes (the VFS sends regular files
/// to `create`).
///
/// # Safety
///
/// Called by the VFS as `inode_operations::mknod` of a `T` directory.
unsafe extern "C" fn mknod<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    rdev: bindings::dev_t,
) -> c_int {
    from_result(|| {
        // SAFETY: `dir` is a valid inode of our superblock; the VFS checked the mode's type.
        let inode = unsafe { new_inode::<T>((*dir).i_sb, dir, u32::from(mode), rdev)? };
        // SAFETY: as in `create`.
        unsafe {
            bindings::d_make_persistent(dentry, inode);
            ffi::refdax_touch(dir);
        }
        Ok(0)
    })
}

/// `inode_operations::symlink`: the target lives in `i_link` (freed with the inode in
/// [`free_inode`], after an RCU grace period, since path walks read it under RCU).
///
/// # Safety
///
/// Called by the VFS as `inode_operations::symlink` of a `T` directory, with a
/// NUL-terminated `target` (at most `PATH_MAX` bytes with the NUL).
unsafe extern "C" fn symlink<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    target: *const c_char,
) -> c_int {
    from_result(|| {
        // SAFETY: `target` is a valid C string for the call.
        let len = unsafe { CStr::from_char_ptr(target) }.count_bytes();
        if len >= bindings::PATH_MAX as usize {
            return Err(ENAMETOOLONG);
        }
        // SAFETY: `target` is valid for `len` bytes; a NUL-terminated copy the inode owns,
        // charged to the task's memory cgroup.
        let link = unsafe { bindings::kmemdup_nul(target, len, bindings::GFP_KERNEL_ACCOUNT) };
        if link.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `dir` is a valid inode of our superblock.
        let inode = match unsafe { new_inode::<T>((*dir).i_sb, dir, bindings::S_IFLNK | 0o777, 0) }
        {
            Ok(inode) => inode,
            Err(e) => {
                // SAFETY: `link` came from `kstrdup` and was given to nobody.
                unsafe { bindings::kfree(link.cast()) };
                return Err(e);
            }
        };
        // SAFETY: `inode` is new and ours; `free_inode` frees `i_link` of every symlink.
        unsafe {
            (*inode).__bindgen_anon_5.i_link = link;
            (*inode).i_size = len as bindings::loff_t;
            bindings::d_make_persistent(dentry, inode);
            ffi::refdax_touch(dir);
        }
        Ok(0)
    })
}

/// `super_operations::free_inode`, after an RCU grace period: a symlink's target, then the
/// inode.
///
/// # Safety
///
/// Called by the VFS for an inode of ours that nobody can reach any more.
unsafe extern "C" fn free_inode(inode: *mut bindings::inode) {
    // SAFETY: the inode is ours until freed here; a symlink's `i_link` is its `kstrdup` copy.
    unsafe {
        if u32::from((*inode).i_mode) & bindings::S_IFMT == bindings::S_IFLNK {
            bindings::kfree((*inode).__bindgen_anon_5.i_link.cast());
        }
        bindings::free_inode_nonrcu(inode);
    }
}

/// # Safety
///
/// Called by the VFS as `inode_operations::setattr` of a `T` file, inode lock held.
unsafe extern "C" fn setattr<T: FileSystem>(
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    attr: *mut bindings::iattr,
) -> c_int {
    from_result(|| {
        // SAFETY: `dentry` is valid and positive; `attr` is valid.
        let (raw, valid, size) = unsafe { ((*dentry).d_inode, (*attr).ia_valid, (*attr).ia_size) };
        // SAFETY: all valid; checks permissions and, for ATTR_SIZE, the new size.
        to_result(unsafe { bindings::setattr_prepare(idmap, dentry, attr) })?;
        // SAFETY: a regular file of ours, locked by the VFS for setattr.
        let inode = LockedInode(unsafe { Inode::from_raw(raw) });
        if valid & bindings::ATTR_SIZE != 0 && size as u64 != inode.size() {
            // SAFETY: `raw` is a regular file of type `T` and its superblock is ours.
            let (sb, file) = unsafe { (sb_data::<T>((*raw).i_sb), file_data::<T>(raw)) };
            T::set_size(sb, &inode, file, size as u64)?;
            // A size change is a change of the file's data (POSIX truncate()): ftruncate()
            // also passes the times in `attr`, path truncate() does not.
            inode.touch();
        }
        // SAFETY: all valid; copies the other attributes (times, mode, owner).
        unsafe { bindings::setattr_copy(idmap, raw, attr) };
        Ok(0)
    })
}

/// `inode_operations::getattr`: `generic_fillattr()`, whose `st_blocks` is `i_blocks`
/// (`simple_getattr()` would count page cache pages, of which there are none).
///
/// # Safety
///
/// Called by the VFS with a valid path to one of our inodes.
unsafe extern "C" fn getattr(
    idmap: *mut bindings::mnt_idmap,
    path: *const bindings::path,
    stat: *mut bindings::kstat,
    request_mask: u32,
    _query_flags: c_uint,
) -> c_int {
    // SAFETY: `path` and its positive dentry are valid; `stat` is valid for writes.
    unsafe { bindings::generic_fillattr(idmap, request_mask, (*(*path).dentry).d_inode, stat) };
    0
}

/// # Safety
///
/// Called by the VFS as `file_operations::read_iter` of a `T` file.
unsafe extern "C" fn read_iter<T: FileSystem>(
    iocb: *mut bindings::kiocb,
    to: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: `iocb` and its file are valid for the call.
    let raw = unsafe { (*(*iocb).ki_filp).f_inode };
    // SAFETY: `to` is valid for the call.
    let iter = unsafe { &mut *to.cast::<IovIter>() };
    if iter.count() == 0 {
        return 0;
    }
    // SAFETY: a regular file of type `T` on our superblock, valid while open.
    let (inode, sb, file) = unsafe { file_parts::<T>(raw) };
    // Shared against size changes, which hold the lock exclusively.
    let guard = InodeSharedGuard::lock(inode);
    // SAFETY: `iocb` is valid.
    let pos = unsafe { (*iocb).ki_pos };
    let ret = T::read(sb, inode, file, pos as u64, iter);
    drop(guard);
    match ret {
        Ok(n) => {
            // SAFETY: `iocb` is valid.
            unsafe { (*iocb).ki_pos = pos + n as i64 };
            n as isize
        }
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by the VFS as `file_operations::write_iter` of a `T` file.
unsafe extern "C" fn write_iter<T: FileSystem>(
    iocb: *mut bindings::kiocb,
    from: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: `iocb` and its file are valid for the call.
    let (filp, raw) = unsafe { ((*iocb).ki_filp, (*(*iocb).ki_filp).f_inode) };
    // SAFETY: a regular file of type `T` on our superblock, valid while open.
    let (inode, sb, file) = unsafe { file_parts::<T>(raw) };
    let ret = (|| -> Result<usize> {
        let inode = InodeGuard::lock(inode);
        // SAFETY: `iocb` and `from` are valid and the inode is locked: applies O_APPEND,
        // the size limits (EFBIG) and truncates `from` to what may be written.
        let count = unsafe { bindings::generic_write_checks(iocb, from) };
        if count <= 0 {
            to_result(count as c_int)?;
            return Ok(0);
        }
        // SAFETY: `filp` is valid and the inode is locked, as both require.
        to_result(unsafe { bindings::file_remove_privs(filp) })?;
        // SAFETY: `filp` is valid and the inode is locked, as `file_update_time` requires.
        to_result(unsafe { bindings::file_update_time(filp) })?;
        // SAFETY: `iocb` is valid; `generic_write_checks` settled the position.
        let pos = unsafe { (*iocb).ki_pos };
        // SAFETY: `from` is valid for the call.
        let iter = unsafe { &mut *from.cast::<IovIter>() };
        let n = T::write(sb, &inode.0, file, pos as u64, iter)?;
        // SAFETY: `iocb` is valid.
        unsafe { (*iocb).ki_pos = pos + n as i64 };
        Ok(n)
    })();
    match ret {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by the VFS as `file_operations::fallocate` of a `T` file.
unsafe extern "C" fn fallocate<T: FileSystem>(
    filp: *mut bindings::file,
    mode: c_int,
    offset: bindings::loff_t,
    len: bindings::loff_t,
) -> c_long {
    // SAFETY: `filp` is valid for the call.
    let raw = unsafe { (*filp).f_inode };
    // SAFETY: a regular file of type `T` on our superblock, valid while open.
    let (inode, sb, file) = unsafe { file_parts::<T>(raw) };
    let ret = (|| -> Result {
        let mode = Fallocate::from_mode(mode)?;
        // vfs_fallocate() has checked offset >= 0, len > 0 and offset + len <= s_maxbytes.
        let inode = InodeGuard::lock(inode);
        if mode == Fallocate::Allocate {
            // SAFETY: `raw` is valid; checks RLIMIT_FSIZE and s_maxbytes for the new size.
            to_result(unsafe { bindings::inode_newsize_ok(raw, offset + len) })?;
        }
        // Every mode changes the file, as ext4 and xfs count it: privileges go, and mtime and
        // ctime are now.
        // SAFETY: `filp` is valid and the inode locked.
        to_result(unsafe { bindings::file_modified(filp) })?;
        T::fallocate(sb, &inode.0, file, mode, offset as u64, len as u64)
    })();
    match ret {
        Ok(()) => 0,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `file_operations::mmap`: installs the fault handlers; pages are mapped by faults only.
///
/// Nothing is inserted here, not even for a mapping the core populates at once
/// (`MAP_LOCKED`): `->mmap` runs before the VMA is linked into the file's `i_mmap`, so a
/// truncate racing the mmap could not zap PTEs inserted now. The core populates such a
/// mapping through the fault path once it is linked.
///
/// # Safety
///
/// Called by the VFS as `file_operations::mmap` of a `T` file, mmap lock held for write.
unsafe extern "C" fn mmap<T: FileSystem>(
    _filp: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: `vma` is the new VMA, ours to set up under the mmap write lock.
    unsafe {
        (*vma).vm_ops = &Tables::<T>::VM;
        // A DAX file: the core may fault it with PMDs (`thp_vma_allowable_order`).
        ffi::refdax_vma_set_flags(vma, bindings::VM_HUGEPAGE);
    }
    0
}

/// # Safety
///
/// Called by the core as `vm_operations_struct::fault` of a mapping of a `T` file.
unsafe extern "C" fn fault<T: FileSystem>(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: the fault, its VMA and the VMA's file are valid while the fault is handled.
    let raw = unsafe { (*(*(*vmf).__bindgen_anon_1.vma).vm_file).f_inode };
    // SAFETY: the VMA maps a regular file of type `T` (we installed these ops in `mmap`),
    // which the VMA keeps open.
    let (inode, sb, file) = unsafe { file_parts::<T>(raw) };
    // SAFETY: `VmFault` is transparent over `Opaque<vm_fault>`; the fault is valid.
    // INVARIANT: the reference lives for this call, while the core handles the fault with the
    // mmap or the VMA lock held.
    let vmf = unsafe { &*vmf.cast::<VmFault>() };
    let _invalidate = InvalidateSharedGuard::lock(inode);
    T::fault(sb, inode, file, vmf).into_raw()
}

/// # Safety
///
/// Called by the core as `vm_operations_struct::huge_fault` of a mapping of a `T` file.
unsafe extern "C" fn huge_fault<T: FileSystem>(
    vmf: *mut bindings::vm_fault,
    order: c_uint,
) -> bindings::vm_fault_t {
    if order != bindings::HPAGE_PMD_ORDER {
        // PUD-sized folios are not built: let the core try smaller.
        return HugeFaultResult::Fallback.to_raw();
    }
    // SAFETY: as in `fault`.
    let raw = unsafe { (*(*(*vmf).__bindgen_anon_1.vma).vm_file).f_inode };
    // SAFETY: as in `fault`.
    let (inode, sb, file) = unsafe { file_parts::<T>(raw) };
    // SAFETY: as in `fault`.
    // INVARIANT: as in `fault`.
    let vmf = unsafe { &*vmf.cast::<VmFault>() };
    let _invalidate = InvalidateSharedGuard::lock(inode);
    T::huge_fault(sb, inode, file, vmf).to_raw()
}

/// # Safety
///
/// Called by the VFS as `super_operations::evict_inode` of a `T` inode.
unsafe extern "C" fn evict_inode<T: FileSystem>(raw: *mut bindings::inode) {
    // SAFETY: `raw` is being evicted and ours until `clear_inode()`.
    unsafe {
        bindings::truncate_inode_pages_final(&raw mut (*raw).i_data);
        bindings::clear_inode(raw);
    }
    // SAFETY: `raw` is valid until eviction returns; `i_private` is a plain field.
    let private = unsafe { (*raw).i_private };
    if private.is_null() {
        return;
    }
    // SAFETY: a regular file of ours: `i_private` is the `KBox<T::File>` from `new_inode`,
    // not used after this.
    let file = unsafe { <KBox<T::File> as ForeignOwnable>::from_foreign(private.cast()) };
    // SAFETY: `raw` stays valid through eviction; its superblock state is still set.
    let (inode, sb) = unsafe { (Inode::from_raw(raw), sb_data::<T>((*raw).i_sb)) };
    // Nobody maps or opens the inode any more; the lock is the proof that `T::evict` may
    // take blocks out of the file.
    T::evict(sb, &InvalidateGuard::lock(inode), KBox::into_inner(file));
    // SAFETY: `raw` is valid until eviction returns; the box it pointed to is gone.
    unsafe { (*raw).i_private = core::ptr::null_mut() };
}

/// # Safety
///
/// Called by the VFS as `super_operations::statfs` of a `T` superblock.
unsafe extern "C" fn statfs<T: FileSystem>(
    dentry: *mut bindings::dentry,
    buf: *mut bindings::kstatfs,
) -> c_int {
    // SAFETY: `dentry` is valid and on our superblock.
    let s = T::statfs(unsafe { sb_data::<T>((*dentry).d_sb) });
    // SAFETY: `buf` is valid for writes.
    unsafe { ffi::refdax_fill_statfs(buf, T::MAGIC, s.blocks, s.free, bindings::NAME_MAX.into()) };
    0
}
