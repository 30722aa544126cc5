// SPDX-License-Identifier: GPL-2.0

//! What a file system built on [`super`] provides, and the types of its operations.

use super::{Inode, InvalidateGuard, LockedInode};
use crate::abstractions::{
    iov::{IovIterDest, IovIterSource},
    mm::fault::{HugeFaultResult, VmFault, VmFaultResult},
};
use kernel::{ffi::c_int, prelude::*};

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
        iter: &mut IovIterDest<'_>,
    ) -> Result<usize>;
    /// Writes `iter` at `pos` (already checked against limits); returns the bytes written.
    fn write(
        sb: &Self::Sb,
        inode: &LockedInode<'_>,
        file: &Self::File,
        pos: u64,
        iter: &mut IovIterSource<'_>,
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
    /// `lseek()` with `SEEK_DATA` or `SEEK_HOLE` from `from` (below the file's size, which
    /// the caller's shared inode lock keeps): the offset found, or `ENXIO`.
    fn seek(
        sb: &Self::Sb,
        inode: &Inode,
        file: &Self::File,
        from: u64,
        whence: Seek,
    ) -> Result<u64>;
    /// `FS_IOC_FIEMAP` over bytes `start..end`: calls `emit` with each run of the file that
    /// lies in physically contiguous memory, in file order, until it returns `false`. The
    /// inode lock is held shared. `emit` copies to user memory, which may fault on a mapping
    /// of this very file: no lock of the file system's may be held across it.
    fn fiemap(
        sb: &Self::Sb,
        inode: &Inode,
        file: &Self::File,
        start: u64,
        end: u64,
        emit: &mut dyn FnMut(Extent) -> Result<bool>,
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
    /// The inode is going away (last link and last user gone): let go of its data, and
    /// untie every folio tied to it (an inode with folios still tied is never freed: the
    /// abstraction warns and leaks it). The state is dropped afterwards.
    fn evict(sb: &Self::Sb, inode: &InvalidateGuard<'_>, file: &Self::File);
}

/// The `lseek()` modes a file system answers itself ([`FileSystem::seek`]); the others are
/// the VFS's (`generic_file_llseek()`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Seek {
    /// `SEEK_DATA`: the next offset with data.
    Data,
    /// `SEEK_HOLE`: the next offset in a hole (the end of the file is one).
    Hole,
}

/// A run of a file in physically contiguous memory ([`FileSystem::fiemap`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Extent {
    /// Its byte offset in the file.
    pub(crate) logical: u64,
    /// Its physical address.
    pub(crate) physical: u64,
    /// Its length in bytes.
    pub(crate) len: u64,
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
    /// `FALLOC_FL_ZERO_RANGE`: the range reads as zeros, allocated; the size may grow.
    ZeroRange,
    /// `FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE`: the same, keeping the size.
    ZeroRangeKeepSize,
    /// `FALLOC_FL_COLLAPSE_RANGE`: the range leaves, what follows moves down over it.
    CollapseRange,
    /// `FALLOC_FL_INSERT_RANGE`: a hole appears, what follows moves up; the size grows.
    InsertRange,
}

// From include/uapi/linux/falloc.h, which the kernel's bindings do not include.
const FALLOC_FL_KEEP_SIZE: c_int = 0x01;
const FALLOC_FL_PUNCH_HOLE: c_int = 0x02;
const FALLOC_FL_COLLAPSE_RANGE: c_int = 0x08;
const FALLOC_FL_ZERO_RANGE: c_int = 0x10;
const FALLOC_FL_INSERT_RANGE: c_int = 0x20;

impl Fallocate {
    pub(super) fn from_mode(mode: c_int) -> Result<Self> {
        match mode {
            0 => Ok(Self::Allocate),
            FALLOC_FL_KEEP_SIZE => Ok(Self::AllocateKeepSize),
            m if m == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE => Ok(Self::PunchHole),
            FALLOC_FL_ZERO_RANGE => Ok(Self::ZeroRange),
            m if m == FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE => Ok(Self::ZeroRangeKeepSize),
            FALLOC_FL_COLLAPSE_RANGE => Ok(Self::CollapseRange),
            FALLOC_FL_INSERT_RANGE => Ok(Self::InsertRange),
            _ => Err(EOPNOTSUPP),
        }
    }
}
