// SPDX-License-Identifier: GPL-2.0

//! Registering a file system type, and its superblocks.

use super::{
    file_ops::*,
    inode::{FileState, Inode},
    inode_ops::*,
    FileSystem, MountOptions,
};
use crate::abstractions::ffi;
use core::marker::PhantomData;
use kernel::{
    bindings,
    error::{from_result, to_result},
    ffi::c_int,
    prelude::*,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

/// A registered file system type; unregistered on drop.
///
/// The type is a `refdax_fs_type` of the C shim: the `file_system_type` and, beside it, the
/// `fill_super` its `get_tree` calls, [`fill_super::<T>`]. So every superblock of the type
/// is filled for `T`, whatever other registrations the module makes.
///
/// # Invariants
///
/// `fs_type` is registered with `register_filesystem()` until drop, with `fill_super` set
/// to [`fill_super::<T>`].
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: FileSystem> {
    #[pin]
    fs_type: Opaque<ffi::refdax_fs_type>,
    data: T::Data,
}

// SAFETY: the VFS synchronises its own use of the `file_system_type`; Rust never touches it
// after registration. `T::Data` is `Send + Sync`.
unsafe impl<T: FileSystem> Send for Registration<T> {}
// SAFETY: `&Registration` gives only `&T::Data` (`T::Data: Sync`); the VFS synchronises its
// own use of the `file_system_type`.
unsafe impl<T: FileSystem> Sync for Registration<T> {}

impl<T: FileSystem> Registration<T> {
    /// Registers `T` for `module`; mounts get `data`.
    pub(crate) fn new(module: &'static ThisModule, data: T::Data) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            data,
            // Last: nothing after it can fail and leave the type registered.
            fs_type <- Opaque::try_ffi_init(move |slot: *mut ffi::refdax_fs_type| {
                // SAFETY: `slot` is valid for writes; all-zeroes is a valid refdax_fs_type.
                unsafe { core::ptr::write_bytes(slot, 0, 1) };
                // SAFETY: `slot` is valid and initialised.
                let fs_type = unsafe {
                    (*slot).fill_super = Some(fill_super::<T>);
                    let fs_type = &raw mut (*slot).type_;
                    (*fs_type).name = T::NAME.as_char_ptr();
                    (*fs_type).owner = module.as_ptr();
                    (*fs_type).init_fs_context = Some(ffi::refdax_init_fs_context);
                    (*fs_type).kill_sb = Some(kill_sb::<T>);
                    fs_type
                };
                // SAFETY: `slot` is pinned: its lock class keys stay put until drop, where
                // they are unregistered.
                unsafe { ffi::refdax_fs_type_register_keys(fs_type) };
                // SAFETY: `slot` is pinned and set up; it stays registered until drop.
                // INVARIANT: on success the type is registered until `PinnedDrop`, with
                // `fill_super::<T>`; this is the last field, so nothing fails after it.
                to_result(unsafe { bindings::register_filesystem(fs_type) }).inspect_err(|_| {
                    // SAFETY: registered just above, and nothing used them.
                    unsafe { ffi::refdax_fs_type_unregister_keys(fs_type) };
                })
            }),
        })
    }

    fn raw_type(&self) -> *mut bindings::file_system_type {
        // SAFETY: a field projection of a valid, pinned `refdax_fs_type`.
        unsafe { &raw mut (*self.fs_type.get()).type_ }
    }
}

#[pinned_drop]
impl<T: FileSystem> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered by the type invariant. While mounted, the module cannot be
        // unloaded (the type's owner is pinned by every superblock), so no superblock
        // outlives this.
        unsafe { bindings::unregister_filesystem(self.raw_type()) };
        // SAFETY: registered in `new`; no superblock of the type is left to use them.
        unsafe { ffi::refdax_fs_type_unregister_keys(self.raw_type()) };
        // Inodes are freed by RCU callbacks that run this module's `free_inode`: wait for
        // every one queued before the module's text can go (as ext4, fuse and 9p do).
        // SAFETY: no preconditions; process context (module exit).
        unsafe { bindings::rcu_barrier() };
    }
}

/// The tables the VFS calls, one set per file system type.
pub(super) struct Tables<T>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    pub(super) const SUPER: bindings::super_operations = bindings::super_operations {
        statfs: Some(statfs::<T>),
        evict_inode: Some(evict_inode::<T>),
        free_inode: Some(free_inode),
        drop_inode: Some(bindings::inode_just_drop),
        ..pin_init::zeroed()
    };

    pub(super) const DIR_INODE: bindings::inode_operations = bindings::inode_operations {
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

    pub(super) const FILE_INODE: bindings::inode_operations = bindings::inode_operations {
        setattr: Some(setattr::<T>),
        getattr: Some(getattr),
        fiemap: Some(fiemap::<T>),
        ..pin_init::zeroed()
    };

    pub(super) const FILE: bindings::file_operations = bindings::file_operations {
        llseek: Some(llseek::<T>),
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
    pub(super) const ADDRESS_SPACE: bindings::address_space_operations =
        bindings::address_space_operations {
            dirty_folio: Some(bindings::noop_dirty_folio),
            direct_IO: Some(bindings::noop_direct_IO),
            ..pin_init::zeroed()
        };

    /// `map_pages` is `filemap_map_pages()`, as for xfs's DAX files: with no page cache it maps
    /// nothing, but a VMA with `->map_pages` may take its faults under the per-VMA lock
    /// (`vmf_can_call_fault()`); without it the core retries every PTE fault under the mmap
    /// lock, as ext4's DAX faults are. The fault handlers need neither lock beyond the VMA's:
    /// they serialise on the file's fault lock and invalidate lock.
    pub(super) const VM: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(fault::<T>),
        huge_fault: Some(huge_fault::<T>),
        map_pages: Some(bindings::filemap_map_pages),
        ..pin_init::zeroed()
    };
}

/// # Safety
///
/// `sb` is a valid superblock of type `T` whose `s_fs_info` was set by [`fill_super`].
pub(super) unsafe fn sb_data<'a, T: FileSystem>(sb: *mut bindings::super_block) -> &'a T::Sb {
    // SAFETY: `s_fs_info` holds a `KBox<T::Sb>` from `fill_super`, freed only in `kill_sb`.
    unsafe { <KBox<T::Sb> as ForeignOwnable>::borrow((*sb).s_fs_info) }
}

/// # Safety
///
/// `inode` is a valid regular-file inode of type `T`, made by [`new_inode`].
pub(super) unsafe fn file_data<'a, T: FileSystem>(inode: *mut bindings::inode) -> &'a T::File {
    // SAFETY: by the caller.
    &unsafe { file_state::<T>(inode) }.file
}

/// How a regular file's state is owned (`i_private`).
pub(super) type StateBox<T> = Pin<KBox<FileState<<T as FileSystem>::File>>>;

/// The whole state of a regular file: the file system's, and the abstraction's.
///
/// # Safety
///
/// As for [`file_data`].
pub(super) unsafe fn file_state<'a, T: FileSystem>(
    inode: *mut bindings::inode,
) -> &'a FileState<T::File> {
    // SAFETY: `i_private` holds a `Pin<KBox<FileState<T::File>>>` from `new_inode`, freed only
    // in eviction, which the caller's `'a` does not outlive.
    unsafe { <StateBox<T> as ForeignOwnable>::borrow((*inode).i_private) }.get_ref()
}

/// The inode, superblock state and file state of a regular file.
///
/// # Safety
///
/// `raw` is a valid regular-file inode of type `T` made by [`new_inode`], valid for `'a`.
pub(super) unsafe fn file_parts<'a, T: FileSystem>(
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

/// Fills a new superblock: `T::mount`, then the root directory. The `fill_super` of every
/// [`Registration<T>`], called by the C shim's `get_tree`.
///
/// # Safety
///
/// `sb` is a new superblock of the type of a [`Registration<T>`], from `get_tree_nodev()` for
/// the context `fc`.
unsafe extern "C" fn fill_super<T: FileSystem>(
    sb: *mut bindings::super_block,
    fc: *mut bindings::fs_context,
) -> c_int {
    from_result(|| {
        // SAFETY: `s_type` is the `type_` field of the `refdax_fs_type` in the `fs_type`
        // field of a pinned `Registration<T>` (caller), which outlives every superblock (type
        // invariant of `Registration`).
        let reg = unsafe {
            let fs_type = kernel::container_of!((*sb).s_type, ffi::refdax_fs_type, type_);
            &*kernel::container_of!(Opaque::cast_from(fs_type), Registration<T>, fs_type)
        };
        // SAFETY: `fc` is the mount's context, parsed by the C shim.
        let bits = unsafe { ffi::refdax_fc_options(fc) };
        let options = MountOptions {
            pte_only: bits & ffi::REFDAX_OPT_PTE_ONLY as usize != 0,
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
