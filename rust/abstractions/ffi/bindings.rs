// SPDX-License-Identifier: GPL-2.0

// Generated from rust/refdax_shim.h by scripts/gen-shim-bindings.sh: do not edit.

use kernel::bindings::*;

pub const REFDAX_OPT_PTE_ONLY: u32 = 1;
#[doc = " A pagemap whose ops (refdax_pgmap_ops()) forward to the callbacks beside it: Rust embeds\n one in each of its pagemaps. The pagemap is last (its ranges are a flexible array)."]
#[repr(C)]
pub struct refdax_pgmap {
    pub folio_free: ::core::option::Option<unsafe extern "C" fn(folio: *mut folio)>,
    pub memory_failure: ::core::option::Option<
        unsafe extern "C" fn(
            pgmap: *mut dev_pagemap,
            pfn: kernel::ffi::c_ulong,
            nr_pages: kernel::ffi::c_ulong,
            mf_flags: kernel::ffi::c_int,
        ) -> kernel::ffi::c_int,
    >,
    pub pgmap: dev_pagemap,
}
#[doc = " A file system type whose get_tree has its superblocks filled by `fill_super`."]
#[repr(C)]
pub struct refdax_fs_type {
    pub fill_super: ::core::option::Option<
        unsafe extern "C" fn(sb: *mut super_block, fc: *mut fs_context) -> kernel::ffi::c_int,
    >,
    pub type_: file_system_type,
}
#[doc = " What the reaper thread is given: `reap(data)` handles what became idle and returns the pfn\n of a folio still referenced to sleep on, or 0; `kicked` says there may be work."]
#[repr(C)]
pub struct refdax_reaper_args {
    pub reap: ::core::option::Option<
        unsafe extern "C" fn(data: *const kernel::ffi::c_void) -> kernel::ffi::c_ulong,
    >,
    pub data: *const kernel::ffi::c_void,
    pub kicked: atomic_t,
}
unsafe extern "C" {
    #[doc = " `page_folio(pfn_to_page(pfn))`: `pfn` must have a struct page (be inside a pagemap)."]
    pub fn refdax_pfn_folio(pfn: kernel::ffi::c_ulong) -> *mut folio;
    #[doc = " `pfn_to_page(pfn)`: `pfn` must have a struct page."]
    pub fn refdax_pfn_page(pfn: kernel::ffi::c_ulong) -> *mut page;
    #[doc = " Whether the folio is still its own head (not made a tail page since it was looked up)."]
    pub fn refdax_folio_is_current(folio: *mut folio) -> bool_;
    #[doc = " Builds a compound folio of `order` from the idle order-0 pages at `pfn`, returned with\n one reference (see the C comment for the contract)."]
    pub fn refdax_folio_build(pfn: kernel::ffi::c_ulong, order: kernel::ffi::c_uint) -> *mut folio;
    #[doc = " Splits an idle compound folio into order-0 pages, as `dax_folio_reset_order()` does but\n without touching the head page's `pgmap` word (a free of the folio may still be reading it)."]
    pub fn refdax_folio_split(folio: *mut folio) -> kernel::ffi::c_int;
    #[doc = " Sleeps until the folio's refcount is zero (woken by `wake_up_var()` on its page) or\n `timeout_ms` passed; true if it is zero."]
    pub fn refdax_folio_wait_idle(folio: *mut folio, timeout_ms: kernel::ffi::c_uint) -> bool_;
    #[doc = " `folio_pfn()`."]
    pub fn refdax_folio_pfn(folio: *mut folio) -> kernel::ffi::c_ulong;
    #[doc = " `folio_order()`, or 0 for a page that is not a folio head (any more)."]
    pub fn refdax_folio_order(folio: *mut folio) -> kernel::ffi::c_uint;
    #[doc = " `folio->index`."]
    pub fn refdax_folio_index(folio: *mut folio) -> kernel::ffi::c_ulong;
    #[doc = " Moves the refcount from zero to one atomically; false if it was not zero."]
    pub fn refdax_folio_try_get_idle(folio: *mut folio) -> bool_;
    #[doc = " `folio_put()`."]
    pub fn refdax_folio_put(folio: *mut folio);
    #[doc = " `folio_ref_count()`."]
    pub fn refdax_folio_ref_count(folio: *mut folio) -> kernel::ffi::c_int;
    #[doc = " `folio_ref_inc_return()`: valid at refcount zero, unlike `folio_get()`; the new count."]
    pub fn refdax_folio_ref_inc(folio: *mut folio) -> kernel::ffi::c_int;
    #[doc = " Sets `folio->mapping` and `folio->index`, as the page cache does for its folios."]
    pub fn refdax_folio_set_mapping(
        folio: *mut folio,
        mapping: *mut address_space,
        index: kernel::ffi::c_ulong,
    );
    #[doc = " The inode of `folio->mapping`, or NULL if the folio has no file mapping."]
    pub fn refdax_folio_host(folio: *mut folio) -> *mut inode;
    #[doc = " `put_page()`: drops a reference on the page's folio."]
    pub fn refdax_put_page(page: *mut page);
    #[doc = " `page_pgmap(&folio->page)`: only for `ZONE_DEVICE` folios."]
    pub fn refdax_folio_pgmap(folio: *mut folio) -> *mut dev_pagemap;
    #[doc = " `request_mem_region()`: NULL if any part of the range is already claimed."]
    pub fn refdax_request_mem_region(
        start: u64_,
        n: u64_,
        name: *const kernel::ffi::c_char,
    ) -> *mut resource;
    #[doc = " `release_mem_region()`."]
    pub fn refdax_release_mem_region(start: u64_, n: u64_);
    #[doc = " The ops of every `refdax_pgmap`: `folio_free` is `refdax_folio_free()` (a C function, so\n that ftrace can name it) and `memory_failure` `refdax_memory_failure()`; both call the\n callback of the same name in the `refdax_pgmap`."]
    pub fn refdax_pgmap_ops() -> *const dev_pagemap_ops;
    #[doc = " The file mapping and page index that page `pfn` belongs to, through its folio's mapping\n and index; NULL if none. No build or split may run meanwhile."]
    pub fn refdax_page_mapping(
        pfn: kernel::ffi::c_ulong,
        index: *mut kernel::ffi::c_ulong,
    ) -> *mut address_space;
    #[doc = " `igrab(mapping->host)`, under the RCU read lock."]
    pub fn refdax_mapping_igrab(mapping: *mut address_space) -> *mut inode;
    #[doc = " Zaps the mappings of failed page `index` of `inode` under its invalidate lock (so that no\n fault that passed its poison check is still inserting), sends the current task\n `SIGBUS`/`BUS_MCEERR_AR` at its address of the page if `mf_flags` has\n `MF_ACTION_REQUIRED`, sends `BUS_MCEERR_AO` to other processes mapping it that asked for\n early kill, and puts the inode reference. Process context."]
    pub fn refdax_fail_file_page(
        inode: *mut inode,
        index: kernel::ffi::c_ulong,
        mf_flags: kernel::ffi::c_int,
    );
    #[doc = " Starts the reaper kthread over `args`; an `ERR_PTR` on failure."]
    pub fn refdax_reaper_start(args: *mut refdax_reaper_args) -> *mut task_struct;
    #[doc = " `kthread_stop()` of the reaper."]
    pub fn refdax_reaper_stop(task: *mut task_struct);
    #[doc = " Wakes the reaper over `args` if it sleeps for want of work."]
    pub fn refdax_reaper_kick(args: *mut refdax_reaper_args);
    #[doc = " `copy_mc_to_iter()` from page `pfn`."]
    pub fn refdax_copy_to_iter(
        pfn: kernel::ffi::c_ulong,
        offset: usize,
        bytes: usize,
        iter: *mut iov_iter,
    ) -> usize;
    #[doc = " `_copy_from_iter_flushcache()` into page `pfn`."]
    pub fn refdax_copy_from_iter(
        pfn: kernel::ffi::c_ulong,
        offset: usize,
        bytes: usize,
        iter: *mut iov_iter,
    ) -> usize;
    #[doc = " Zeroes bytes of page `pfn`, bypassing the CPU cache."]
    pub fn refdax_zero(pfn: kernel::ffi::c_ulong, offset: usize, bytes: usize);
    #[doc = " Copies page `src_pfn` to page `dst_pfn`: `copy_mc_to_kernel()` (machine-check safe), then\n the destination written back. Returns the bytes not copied (non-zero: the source failed)."]
    pub fn refdax_copy_page(
        dst_pfn: kernel::ffi::c_ulong,
        src_pfn: kernel::ffi::c_ulong,
    ) -> kernel::ffi::c_ulong;
    #[doc = " `i_size_read()`."]
    pub fn refdax_i_size_read(inode: *mut inode) -> kernel::ffi::c_longlong;
    #[doc = " `i_size_write()`."]
    pub fn refdax_i_size_write(inode: *mut inode, size: kernel::ffi::c_longlong);
    #[doc = " `inode_lock()`."]
    pub fn refdax_inode_lock(inode: *mut inode);
    #[doc = " `inode_unlock()`."]
    pub fn refdax_inode_unlock(inode: *mut inode);
    #[doc = " `inode_lock_shared()`."]
    pub fn refdax_inode_lock_shared(inode: *mut inode);
    #[doc = " `inode_unlock_shared()`."]
    pub fn refdax_inode_unlock_shared(inode: *mut inode);
    #[doc = " `filemap_invalidate_lock()` of the inode's mapping."]
    pub fn refdax_invalidate_lock(inode: *mut inode);
    #[doc = " `filemap_invalidate_unlock()`."]
    pub fn refdax_invalidate_unlock(inode: *mut inode);
    #[doc = " `filemap_invalidate_lock_shared()`."]
    pub fn refdax_invalidate_lock_shared(inode: *mut inode);
    #[doc = " `filemap_invalidate_unlock_shared()`."]
    pub fn refdax_invalidate_unlock_shared(inode: *mut inode);
    #[doc = " Sets an inode's mtime and ctime to now."]
    pub fn refdax_touch(inode: *mut inode);
    #[doc = " `cond_resched()`."]
    pub fn refdax_cond_resched();
    #[doc = " Whether the fault's PMD maps a huge page now."]
    pub fn refdax_vmf_pmd_is_huge(vmf: *mut vm_fault) -> bool_;
    #[doc = " Whether the fault's PMD is empty or maps the folio at `pfn` (see the C comment)."]
    pub fn refdax_vmf_pmd_insertable(vmf: *mut vm_fault, pfn: kernel::ffi::c_ulong) -> bool_;
    #[doc = " `vm_flags_set()`."]
    pub fn refdax_vma_set_flags(vma: *mut vm_area_struct, flags: kernel::ffi::c_ulong);
    #[doc = " `fiemap_prep()`, with no flags of refdax's own: checks the request, clamps `*len`."]
    pub fn refdax_fiemap_prep(
        inode: *mut inode,
        fieinfo: *mut fiemap_extent_info,
        start: u64_,
        len: *mut u64_,
    ) -> kernel::ffi::c_int;
    #[doc = " `fiemap_fill_next_extent()` for a mapped extent (`FIEMAP_EXTENT_LAST` if `last`): 1 if the\n caller's array is full now, 0 to go on, or a negative errno."]
    pub fn refdax_fiemap_fill(
        fieinfo: *mut fiemap_extent_info,
        logical: u64_,
        phys: u64_,
        len: u64_,
        last: bool_,
    ) -> kernel::ffi::c_int;
    #[doc = " Fills `statfs()` (`struct kstatfs` is not in the bindings)."]
    pub fn refdax_fill_statfs(
        buf: *mut kstatfs,
        magic: u64_,
        blocks: u64_,
        free: u64_,
        namelen: u64_,
    );
    #[doc = " `lockdep_register_key()` for every lock class key a file_system_type embeds."]
    pub fn refdax_fs_type_register_keys(type_: *mut file_system_type);
    #[doc = " `lockdep_unregister_key()` for the same keys."]
    pub fn refdax_fs_type_unregister_keys(type_: *mut file_system_type);
    #[doc = " `file_system_type::init_fs_context` of refdax: installs the C context ops."]
    pub fn refdax_init_fs_context(fc: *mut fs_context) -> kernel::ffi::c_int;
    #[doc = " The mount option bits parsed into `fc` (`REFDAX_OPT_*`)."]
    pub fn refdax_fc_options(fc: *mut fs_context) -> kernel::ffi::c_ulong;
    pub fn refdax_trace_folio_free(
        pfn: kernel::ffi::c_ulong,
        order: kernel::ffi::c_uint,
        ino: kernel::ffi::c_ulong,
        index: kernel::ffi::c_ulong,
    );
    pub fn refdax_trace_fault(
        pfn: kernel::ffi::c_ulong,
        order: kernel::ffi::c_uint,
        pgoff: kernel::ffi::c_ulong,
        write: bool_,
    );
    pub fn refdax_trace_block_release(block: kernel::ffi::c_ulong, ino: kernel::ffi::c_ulong);
    pub fn refdax_trace_block_release_enabled() -> bool_;
    pub fn refdax_trace_folio_free_enabled() -> bool_;
    pub fn refdax_trace_block_busy(block: kernel::ffi::c_ulong, refcount: kernel::ffi::c_int);
    pub fn refdax_trace_pmd_fallback(pgoff: kernel::ffi::c_ulong, reason: kernel::ffi::c_uint);
    pub fn refdax_trace_teardown_wait_start(
        referenced: kernel::ffi::c_ulong,
        first_pfn: kernel::ffi::c_ulong,
    );
    pub fn refdax_trace_teardown_wait_end(
        passes: kernel::ffi::c_ulong,
        waited_ns: kernel::ffi::c_ulonglong,
    );
}
