// SPDX-License-Identifier: GPL-2.0

//! The inode and superblock operations: creating, changing and evicting inodes.

use super::{
    inode::{FileState, Inode, InodeSharedGuard, InvalidateGuard, LockedInode},
    registration::{file_data, file_parts, sb_data, StateBox, Tables},
    Extent, FileSystem,
};
use crate::abstractions::ffi;
use kernel::{
    bindings,
    error::{from_result, to_result},
    ffi::{c_int, c_uint},
    prelude::*,
    sync::atomic::Acquire,
    types::ForeignOwnable,
};

/// Makes an inode of the type `mode` says: a regular file with `T::File` state and `S_DAX`
/// (so that its mappings are DAX mappings), a directory, a symlink (the caller sets
/// `i_link`), or a FIFO, socket or device node `rdev`.
///
/// # Safety
///
/// `sb` is a valid superblock of type `T` with its state set; `dir` is NULL or its inode.
pub(super) unsafe fn new_inode<T: FileSystem>(
    sb: *mut bindings::super_block,
    dir: *mut bindings::inode,
    mode: u32,
    rdev: bindings::dev_t,
) -> Result<*mut bindings::inode> {
    let file = if mode & bindings::S_IFMT == bindings::S_IFREG {
        // SAFETY: by the caller.
        Some(KBox::pin_init(
            FileState::new(T::new_file(unsafe { sb_data::<T>(sb) })?),
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
pub(super) unsafe extern "C" fn create<T: FileSystem>(
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
pub(super) unsafe extern "C" fn mkdir<T: FileSystem>(
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
pub(super) unsafe extern "C" fn mknod<T: FileSystem>(
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
pub(super) unsafe extern "C" fn symlink<T: FileSystem>(
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
pub(super) unsafe extern "C" fn free_inode(inode: *mut bindings::inode) {
    // SAFETY: the inode is ours until freed here; a symlink's `i_link` is its `kstrdup` copy.
    unsafe {
        let mode = u32::from((*inode).i_mode) & bindings::S_IFMT;
        if mode == bindings::S_IFLNK {
            bindings::kfree((*inode).__bindgen_anon_5.i_link.cast());
        }
        // A regular file keeps its state only if folios were still tied to it at eviction
        // (`evict_inode` warned): they point at its mapping, so it is never freed.
        if mode == bindings::S_IFREG && !(*inode).i_private.is_null() {
            return;
        }
        bindings::free_inode_nonrcu(inode);
    }
}

/// # Safety
///
/// Called by the VFS as `inode_operations::setattr` of a `T` file, inode lock held.
pub(super) unsafe extern "C" fn setattr<T: FileSystem>(
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

/// `inode_operations::fiemap` of a regular file: the file system's runs of physically
/// contiguous memory, under the inode lock shared; the last one flagged `FIEMAP_EXTENT_LAST`.
///
/// # Safety
///
/// Called by the VFS (`ioctl_fiemap()`) for a `T` regular file, with its `fiemap_extent_info`.
pub(super) unsafe extern "C" fn fiemap<T: FileSystem>(
    raw: *mut bindings::inode,
    fieinfo: *mut bindings::fiemap_extent_info,
    start: u64,
    len: u64,
) -> c_int {
    from_result(|| {
        let mut len = len;
        // SAFETY: `raw` and `fieinfo` are valid for the call; `len` is a valid `u64`.
        to_result(unsafe { ffi::refdax_fiemap_prep(raw, fieinfo, start, &mut len) })?;
        // SAFETY: a regular file of type `T` on our superblock, valid for the call.
        let (inode, sb, file) = unsafe { file_parts::<T>(raw) };
        let _shared = InodeSharedGuard::lock(inode);
        // One extent behind: only the last is flagged, and it is known at the end.
        let mut held: Option<Extent> = None;
        let mut full = false;
        let fill = |e: Extent, last: bool| -> Result<bool> {
            // SAFETY: `fieinfo` is valid for the call; this copies to its user array.
            let ret =
                unsafe { ffi::refdax_fiemap_fill(fieinfo, e.logical, e.physical, e.len, last) };
            to_result(ret.min(0))?;
            Ok(ret == 0)
        };
        T::fiemap(
            sb,
            inode,
            file,
            start,
            start.saturating_add(len),
            &mut |e| {
                if let Some(prev) = held.replace(e) {
                    if !fill(prev, false)? {
                        full = true;
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )?;
        if let (Some(last), false) = (held, full) {
            fill(last, true)?;
        }
        Ok(0)
    })
}

/// `inode_operations::getattr`: `generic_fillattr()`, whose `st_blocks` is `i_blocks`
/// (`simple_getattr()` would count page cache pages, of which there are none).
///
/// # Safety
///
/// Called by the VFS with a valid path to one of our inodes.
pub(super) unsafe extern "C" fn getattr(
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
/// Called by the VFS as `super_operations::evict_inode` of a `T` inode.
pub(super) unsafe extern "C" fn evict_inode<T: FileSystem>(raw: *mut bindings::inode) {
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
    // SAFETY: a regular file of ours: `i_private` is the `Pin<KBox<FileState<T::File>>>` from
    // `new_inode`, which only eviction frees.
    let state = unsafe { <StateBox<T> as ForeignOwnable>::borrow(private.cast()) };
    // SAFETY: `raw` stays valid through eviction; its superblock state is still set.
    let (inode, sb) = unsafe { (Inode::from_raw(raw), sb_data::<T>((*raw).i_sb)) };
    // Nobody maps or opens the inode any more; the lock is the proof that `T::evict` may
    // take blocks out of the file.
    T::evict(sb, &InvalidateGuard::lock(inode), &state.file);
    let tied = state.tied.load(Acquire);
    if tied != 0 {
        // Folios still point at this file's mapping: freeing it would leave them dangling.
        // Keep the state and the inode (`free_inode` sees `i_private` and leaks it).
        pr_warn!(
            "inode {} evicted with {tied} folios still tied to it: leaking it\n",
            inode.ino()
        );
        kernel::warn_on!(true);
        return;
    }
    // SAFETY: as above; nothing uses the state any more (no folio is tied to the file).
    drop(unsafe { <StateBox<T> as ForeignOwnable>::from_foreign(private.cast()) });
    // SAFETY: `raw` is valid until eviction returns; the box it pointed to is gone.
    unsafe { (*raw).i_private = core::ptr::null_mut() };
}

/// # Safety
///
/// Called by the VFS as `super_operations::statfs` of a `T` superblock.
pub(super) unsafe extern "C" fn statfs<T: FileSystem>(
    dentry: *mut bindings::dentry,
    buf: *mut bindings::kstatfs,
) -> c_int {
    // SAFETY: `dentry` is valid and on our superblock.
    let s = T::statfs(unsafe { sb_data::<T>((*dentry).d_sb) });
    // SAFETY: `buf` is valid for writes.
    unsafe { ffi::refdax_fill_statfs(buf, T::MAGIC, s.blocks, s.free, bindings::NAME_MAX.into()) };
    0
}
