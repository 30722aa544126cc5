// SPDX-License-Identifier: GPL-2.0

//! The C shim's entry points (`rust/refdax_shim.c`): static inline kernel helpers and trace
//! events that bindgen cannot give Rust.
//!
//! Each function is a one-line forward to the kernel helper of the same name without the
//! `refdax_` prefix; the kernel helper's contract is the contract here.

use kernel::{
    bindings,
    ffi::{c_char, c_int, c_uint, c_ulong},
};

// bindgen gives `struct folio` a zero-sized member (`its_array`), which the lint flags; only
// pointers cross this boundary, never the structs by value.
#[allow(improper_ctypes)]
unsafe extern "C" {
    /// `page_folio(pfn_to_page(pfn))`: `pfn` must have a struct page (be inside a pagemap).
    pub(super) fn refdax_pfn_folio(pfn: c_ulong) -> *mut bindings::folio;
    /// `pfn_to_page(pfn)`: `pfn` must have a struct page.
    pub(super) fn refdax_pfn_page(pfn: c_ulong) -> *mut bindings::page;
    /// Whether the folio is still its own head (not made a tail page since it was looked up).
    pub(super) fn refdax_folio_is_current(folio: *mut bindings::folio) -> bool;
    /// Builds a compound folio of `order` from the idle order-0 pages at `pfn`, returned with
    /// one reference (see the C comment for the contract).
    pub(super) fn refdax_folio_build(pfn: c_ulong, order: c_uint) -> *mut bindings::folio;
    /// Sleeps until the folio's refcount is zero (woken by `wake_up_var()` on its page) or
    /// `timeout_ms` passed; true if it is zero.
    pub(super) fn refdax_folio_wait_idle(folio: *mut bindings::folio, timeout_ms: c_uint) -> bool;
    /// Starts the reaper kthread over `args` (`reaper::Args`); an `ERR_PTR` on failure.
    pub(super) fn refdax_reaper_start(args: *mut core::ffi::c_void) -> *mut bindings::task_struct;
    /// Wakes the reaper over `args` if it sleeps for want of work.
    pub(super) fn refdax_reaper_kick(args: *mut core::ffi::c_void);
    /// `kthread_stop()` of the reaper.
    pub(super) fn refdax_reaper_stop(task: *mut bindings::task_struct);
    /// `dax_folio_reset_order()`: splits an idle compound folio into order-0 pages.
    pub(super) fn refdax_folio_split(folio: *mut bindings::folio) -> c_uint;
    /// The mount option bits parsed into `fc` (`REFDAX_OPT_*`).
    pub(super) fn refdax_fc_options(fc: *mut bindings::fs_context) -> c_ulong;
    pub(super) fn refdax_trace_pmd_fallback(pgoff: c_ulong, reason: c_uint);
    pub(super) fn refdax_folio_pfn(folio: *mut bindings::folio) -> c_ulong;
    pub(super) fn refdax_folio_order(folio: *mut bindings::folio) -> c_uint;
    /// Moves the refcount from zero to one atomically; false if it was not zero.
    pub(super) fn refdax_folio_try_get_idle(folio: *mut bindings::folio) -> bool;
    pub(super) fn refdax_folio_put(folio: *mut bindings::folio);
    /// `page_pgmap(&folio->page)`: only for `ZONE_DEVICE` folios.
    pub(super) fn refdax_folio_pgmap(folio: *mut bindings::folio) -> *mut bindings::dev_pagemap;
    /// `request_mem_region()`: NULL if any part of the range is already claimed.
    pub(super) fn refdax_request_mem_region(
        start: u64,
        n: u64,
        name: *const c_char,
    ) -> *mut bindings::resource;
    /// `release_mem_region()`.
    pub(super) fn refdax_release_mem_region(start: u64, n: u64);
    /// The pagemap's `folio_free` op: forwards to `refdax_pgmap_folio_free` (Rust).
    pub(super) fn refdax_folio_free(folio: *mut bindings::folio);
    /// The pagemap's `memory_failure` op: forwards to `refdax_pgmap_memory_failure` (Rust).
    pub(super) fn refdax_memory_failure(
        pgmap: *mut bindings::dev_pagemap,
        pfn: c_ulong,
        nr_pages: c_ulong,
        mf_flags: c_int,
    ) -> c_int;
    /// The file mapping and page index that page `pfn` belongs to, through its folio's
    /// mapping and index; NULL if none. No build or split may run meanwhile.
    pub(super) fn refdax_page_mapping(
        pfn: c_ulong,
        index: *mut c_ulong,
    ) -> *mut bindings::address_space;
    /// `igrab(mapping->host)`, under the RCU read lock.
    pub(super) fn refdax_mapping_igrab(
        mapping: *mut bindings::address_space,
    ) -> *mut bindings::inode;
    /// Zaps the mappings of page `index` of `inode` under its invalidate lock (so that no
    /// fault that passed its poison check is still inserting) and puts the inode reference.
    pub(super) fn refdax_unmap_file_page(inode: *mut bindings::inode, index: c_ulong);
    pub(super) fn refdax_trace_folio_free(
        pfn: c_ulong,
        order: c_uint,
        ino: c_ulong,
        index: c_ulong,
    );

    pub(super) fn refdax_folio_ref_count(folio: *mut bindings::folio) -> c_int;
    /// `folio_ref_inc_return()`: valid at refcount zero, unlike `folio_get()`; the new count.
    pub(super) fn refdax_folio_ref_inc(folio: *mut bindings::folio) -> c_int;
    pub(super) fn refdax_folio_set_mapping(
        folio: *mut bindings::folio,
        mapping: *mut bindings::address_space,
        index: c_ulong,
    );
    /// Copy between `pfn`'s linear-map address and an iterator; returns bytes copied.
    pub(super) fn refdax_copy_to_iter(
        pfn: c_ulong,
        offset: usize,
        bytes: usize,
        iter: *mut bindings::iov_iter,
    ) -> usize;
    pub(super) fn refdax_copy_from_iter(
        pfn: c_ulong,
        offset: usize,
        bytes: usize,
        iter: *mut bindings::iov_iter,
    ) -> usize;
    pub(super) fn refdax_zero(pfn: c_ulong, offset: usize, bytes: usize);
    pub(super) fn refdax_iov_iter_count(iter: *mut bindings::iov_iter) -> usize;
    pub(super) fn refdax_i_size_read(inode: *mut bindings::inode) -> i64;
    pub(super) fn refdax_i_size_write(inode: *mut bindings::inode, size: i64);
    pub(super) fn refdax_inode_lock(inode: *mut bindings::inode);
    pub(super) fn refdax_inode_unlock(inode: *mut bindings::inode);
    pub(super) fn refdax_inode_lock_shared(inode: *mut bindings::inode);
    pub(super) fn refdax_inode_unlock_shared(inode: *mut bindings::inode);
    /// `filemap_invalidate_lock()` of the inode's mapping, and its relatives.
    pub(super) fn refdax_invalidate_lock(inode: *mut bindings::inode);
    pub(super) fn refdax_invalidate_unlock(inode: *mut bindings::inode);
    pub(super) fn refdax_invalidate_lock_shared(inode: *mut bindings::inode);
    pub(super) fn refdax_invalidate_unlock_shared(inode: *mut bindings::inode);
    /// `cond_resched()`.
    pub(super) fn refdax_cond_resched();
    pub(super) fn refdax_vma_set_flags(vma: *mut bindings::vm_area_struct, flags: c_ulong);
    /// `file_system_type::init_fs_context` of refdax: installs the C context ops.
    pub(super) fn refdax_init_fs_context(fc: *mut bindings::fs_context) -> c_int;
    /// Sets a directory's mtime and ctime to now, after an entry was added.
    pub(super) fn refdax_touch(dir: *mut bindings::inode);
    /// Fills `statfs()` (`struct kstatfs` is not in the bindings).
    pub(super) fn refdax_fill_statfs(
        buf: *mut bindings::kstatfs,
        magic: u64,
        blocks: u64,
        free: u64,
        namelen: u64,
    );
    pub(super) fn refdax_trace_fault(pfn: c_ulong, order: c_uint, pgoff: c_ulong, write: bool);
    pub(super) fn refdax_trace_block_release(block: c_ulong, ino: c_ulong);
    pub(super) fn refdax_trace_block_busy(block: c_ulong, refcount: c_int);
    pub(super) fn refdax_folio_index(folio: *mut bindings::folio) -> c_ulong;
    /// `lockdep_(un)register_key()` for every lock class key a file_system_type embeds.
    pub(super) fn refdax_fs_type_register_keys(fs_type: *mut bindings::file_system_type);
    pub(super) fn refdax_fs_type_unregister_keys(fs_type: *mut bindings::file_system_type);
    /// Whether the fault's PMD maps a huge page now.
    pub(super) fn refdax_vmf_pmd_is_huge(vmf: *mut bindings::vm_fault) -> bool;
    /// Whether the fault's PMD is empty or maps the folio at `pfn` (see the C comment).
    pub(super) fn refdax_vmf_pmd_insertable(vmf: *mut bindings::vm_fault, pfn: c_ulong) -> bool;
}

/// `REFDAX_OPT_PTE_ONLY` (`rust/refdax_shim.h`): the `pte_only` mount option.
pub(super) const REFDAX_OPT_PTE_ONLY: c_ulong = 1;
