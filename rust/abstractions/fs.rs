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
//!   i_rwsem -> mmap_lock -> invalidate_lock -> fault lock -> the file system's own locks
//!   i_rwsem -> invalidate_lock -> i_mmap_rwsem (unmap_mapping_range)
//! ```
//!
//! The fault lock is per file and PMD (16 mutexes in the abstraction's part of `i_private`,
//! picked by a hash of the address space and the faulting address's 2 MiB), held around
//! [`FileSystem::fault`] and [`FileSystem::huge_fault`]: a file's PTE and PMD faults on one
//! PMD never run at once, so what a handler sees of the page table there holds until it
//! inserts; faults on other PMDs run in parallel.
//!
//! A copy from or to user memory under `i_rwsem` may fault on a mapping of the same file and
//! take the invalidate lock shared; nobody takes it exclusively without `i_rwsem`, so that
//! cannot deadlock, but no file system lock may be held across such a copy.
//!
//! # Contexts
//!
//! Every operation here runs in process context and may sleep.

mod file_ops;
mod inode;
mod inode_ops;
mod registration;
mod types;

pub(in crate::abstractions) use inode::{tie_folio, untie_folio};
pub(crate) use inode::{Inode, InvalidateGuard, LockedInode};
pub(crate) use registration::Registration;
pub(crate) use types::{Extent, Fallocate, FileSystem, MountOptions, Seek, StatFs};
