// SPDX-License-Identifier: GPL-2.0

//! The file and mapping operations of regular files.

use super::{
    inode::{Inode, InodeGuard, InodeSharedGuard, InvalidateSharedGuard},
    registration::{file_parts, file_state, Tables},
    Fallocate, FileSystem, Seek,
};
use crate::abstractions::{
    ffi,
    iov::{IovIterDest, IovIterSource},
    mm::fault::{HugeFaultResult, VmFault, VmFaultResult},
};
use kernel::{
    bindings,
    error::to_result,
    ffi::{c_int, c_long},
    fs::Kiocb,
    prelude::*,
};

/// # Safety
///
/// Called by the VFS as `file_operations::read_iter` of a `T` file.
pub(super) unsafe extern "C" fn read_iter<T: FileSystem>(
    iocb: *mut bindings::kiocb,
    to: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: `iocb` is valid for the call; refdax files have no private data, and `()`'s
    // borrow never reads it.
    let mut kiocb = unsafe { Kiocb::<()>::from_raw(iocb) };
    // SAFETY: `iocb` and its file are valid for the call.
    let raw = unsafe { (*(*iocb).ki_filp).f_inode };
    // SAFETY: `to` is the read's iterator, a destination whose buffers may be written, and
    // used only through `iter` during the call.
    let iter = unsafe { IovIterDest::from_raw(to) };
    if iter.is_empty() {
        return 0;
    }
    // SAFETY: a regular file of type `T` on our superblock, valid while open.
    let (inode, sb, file) = unsafe { file_parts::<T>(raw) };
    // Shared against size changes, which hold the lock exclusively.
    let guard = InodeSharedGuard::lock(inode);
    let pos = kiocb.ki_pos();
    let ret = T::read(sb, inode, file, pos as u64, iter);
    drop(guard);
    match ret {
        Ok(n) => {
            *kiocb.ki_pos_mut() = pos + n as i64;
            n as isize
        }
        Err(e) => e.to_errno() as isize,
    }
}

/// `file_operations::llseek`: `SEEK_DATA` and `SEEK_HOLE` from the file system's block map,
/// under the inode lock shared (the size cannot change meanwhile); the rest as
/// `generic_file_llseek()`.
///
/// # Safety
///
/// Called by the VFS as `file_operations::llseek` of a `T` file.
pub(super) unsafe extern "C" fn llseek<T: FileSystem>(
    filp: *mut bindings::file,
    offset: bindings::loff_t,
    whence: c_int,
) -> bindings::loff_t {
    let whence = match whence as u32 {
        bindings::SEEK_DATA => Seek::Data,
        bindings::SEEK_HOLE => Seek::Hole,
        // SAFETY: by the caller.
        _ => return unsafe { bindings::generic_file_llseek(filp, offset, whence) },
    };
    if offset < 0 {
        return EINVAL.to_errno().into();
    }
    // SAFETY: `filp` is valid for the call.
    let raw = unsafe { (*filp).f_inode };
    // SAFETY: a regular file of type `T` on our superblock, valid while open.
    let (inode, sb, file) = unsafe { file_parts::<T>(raw) };
    let found = {
        let _guard = InodeSharedGuard::lock(inode);
        T::seek(sb, inode, file, offset as u64, whence)
    };
    match found {
        // SAFETY: `filp` and its inode are valid; `vfs_setpos` checks the offset against the
        // limit and sets `f_pos`.
        Ok(pos) => unsafe { bindings::vfs_setpos(filp, pos as i64, (*(*raw).i_sb).s_maxbytes) },
        Err(e) => e.to_errno().into(),
    }
}

/// # Safety
///
/// Called by the VFS as `file_operations::write_iter` of a `T` file.
pub(super) unsafe extern "C" fn write_iter<T: FileSystem>(
    iocb: *mut bindings::kiocb,
    from: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: as in `read_iter`.
    let mut kiocb = unsafe { Kiocb::<()>::from_raw(iocb) };
    // SAFETY: `iocb` and its file are valid for the call.
    let (filp, raw) = unsafe { ((*iocb).ki_filp, (*(*iocb).ki_filp).f_inode) };
    // SAFETY: a regular file of type `T` on our superblock, valid while open.
    let (inode, sb, file) = unsafe { file_parts::<T>(raw) };
    let ret = (|| -> Result<usize> {
        let inode = InodeGuard::lock(inode);
        // SAFETY: `iocb` and `from` are valid and the inode is locked: applies O_APPEND,
        // the size limits (EFBIG) and truncates `from` to what may be written.
        let count = unsafe { bindings::generic_write_checks(kiocb.as_raw(), from) };
        if count <= 0 {
            to_result(count as c_int)?;
            return Ok(0);
        }
        // SAFETY: `filp` is valid and the inode is locked, as both require.
        to_result(unsafe { bindings::file_remove_privs(filp) })?;
        // SAFETY: `filp` is valid and the inode is locked, as `file_update_time` requires.
        to_result(unsafe { bindings::file_update_time(filp) })?;
        // `generic_write_checks` settled the position.
        let pos = kiocb.ki_pos();
        // SAFETY: `from` is the write's iterator, a source whose buffers may be read, used
        // only through `iter` from here on.
        let iter = unsafe { IovIterSource::from_raw(from) };
        let n = T::write(sb, inode.locked(), file, pos as u64, iter)?;
        *kiocb.ki_pos_mut() = pos + n as i64;
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
pub(super) unsafe extern "C" fn fallocate<T: FileSystem>(
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
        if matches!(mode, Fallocate::Allocate | Fallocate::ZeroRange) {
            // SAFETY: `raw` is valid; checks RLIMIT_FSIZE and s_maxbytes for the new size.
            to_result(unsafe { bindings::inode_newsize_ok(raw, offset + len) })?;
        }
        // Every mode changes the file, as ext4 and xfs count it: privileges go, and mtime and
        // ctime are now.
        // SAFETY: `filp` is valid and the inode locked.
        to_result(unsafe { bindings::file_modified(filp) })?;
        T::fallocate(sb, inode.locked(), file, mode, offset as u64, len as u64)
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
pub(super) unsafe extern "C" fn mmap<T: FileSystem>(
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

/// Runs `handler` for a fault in a mapping of a `T` file, under the locks every fault of the
/// file holds: the mapping's invalidate lock shared, then the file's fault lock for the PMD
/// of the faulting address.
///
/// # Safety
///
/// `vmf` is a fault the core is handling in a mapping of a `T` file (one whose VMA has our
/// `vm_operations_struct`).
unsafe fn handle_fault<T: FileSystem, R>(
    vmf: *mut bindings::vm_fault,
    handler: impl FnOnce(&T::Sb, &Inode, &T::File, &VmFault) -> R,
) -> R {
    // SAFETY: the fault, its VMA and the VMA's file are valid while the fault is handled.
    let raw = unsafe { (*(*(*vmf).__bindgen_anon_1.vma).vm_file).f_inode };
    // SAFETY: the VMA maps a regular file of type `T` (we installed these ops in `mmap`),
    // which the VMA keeps open.
    let (inode, sb, file) = unsafe { file_parts::<T>(raw) };
    let _invalidate = InvalidateSharedGuard::lock(inode);
    // SAFETY: the fault and its VMA are valid while the fault is handled; plain reads of
    // fields that do not change meanwhile.
    let (mm, address) = unsafe {
        (
            (*(*vmf).__bindgen_anon_1.vma).vm_mm as usize,
            (*vmf).__bindgen_anon_1.address,
        )
    };
    // SAFETY: as for `file_parts` above.
    let _faults = unsafe { file_state::<T>(raw) }
        .fault_lock(mm, address)
        .lock();
    // SAFETY: `VmFault` is transparent over `Opaque<vm_fault>`; the fault is valid.
    // INVARIANT: the reference lives for this call, while the core handles the fault with the
    // mmap or the VMA lock held, and we hold the file's fault lock for this PMD.
    let vmf = unsafe { &*vmf.cast::<VmFault>() };
    handler(sb, inode, file, vmf)
}

/// # Safety
///
/// Called by the core as `vm_operations_struct::fault` of a mapping of a `T` file.
pub(super) unsafe extern "C" fn fault<T: FileSystem>(
    vmf: *mut bindings::vm_fault,
) -> bindings::vm_fault_t {
    // SAFETY: by the caller.
    unsafe {
        handle_fault::<T, _>(vmf, |sb, inode, file, vmf| {
            let result = T::fault(sb, inode, file, vmf);
            if !matches!(result, VmFaultResult::CowSource(_)) {
                vmf.drop_unused_cow_source();
            }
            result.into_raw()
        })
    }
}

/// # Safety
///
/// Called by the core as `vm_operations_struct::huge_fault` of a mapping of a `T` file.
pub(super) unsafe extern "C" fn huge_fault<T: FileSystem>(
    vmf: *mut bindings::vm_fault,
    order: c_uint,
) -> bindings::vm_fault_t {
    if order != bindings::HPAGE_PMD_ORDER {
        // PUD-sized folios are not built: let the core try smaller.
        return HugeFaultResult::Fallback.to_raw();
    }
    // SAFETY: by the caller.
    unsafe {
        handle_fault::<T, _>(vmf, |sb, inode, file, vmf| {
            let result = T::huge_fault(sb, inode, file, vmf);
            // A PMD fault never hands the core a page to copy (`wp_huge_pmd()` splits).
            vmf.drop_unused_cow_source();
            result.to_raw()
        })
    }
}
