/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim's entry points, called from Rust. The Rust declarations
 * (rust/abstractions/ffi/bindings.rs) are generated from this header by
 * scripts/gen-shim-bindings.sh, and `make check` fails if they differ: edit here, then
 * run `make shim-bindings`.
 *
 * Each helper is a one-line forward to the kernel helper its comment names; that kernel
 * helper's contract is the contract here.
 */
#ifndef _REFDAX_SHIM_H
#define _REFDAX_SHIM_H

#include <linux/fs.h>
#include <linux/memremap.h>
#include <linux/types.h>

struct address_space;
struct dev_pagemap;
struct fiemap_extent_info;
struct folio;
struct fs_context;
struct inode;
struct iov_iter;
struct kstatfs;
struct page;
struct resource;
struct super_block;
struct task_struct;
struct vm_area_struct;
struct vm_fault;

/**
 * A pagemap whose ops (refdax_pgmap_ops()) forward to the callbacks beside it: Rust embeds
 * one in each of its pagemaps. The pagemap is last (its ranges are a flexible array).
 */
struct refdax_pgmap {
	void (*folio_free)(struct folio *folio);
	int (*memory_failure)(struct dev_pagemap *pgmap, unsigned long pfn,
			      unsigned long nr_pages, int mf_flags);
	struct dev_pagemap pgmap;
};

/** A file system type whose get_tree has its superblocks filled by `fill_super`. */
struct refdax_fs_type {
	int (*fill_super)(struct super_block *sb, struct fs_context *fc);
	struct file_system_type type;
};

/* Folios and pages. */

/** `page_folio(pfn_to_page(pfn))`: `pfn` must have a struct page (be inside a pagemap). */
struct folio *refdax_pfn_folio(unsigned long pfn);
/** `pfn_to_page(pfn)`: `pfn` must have a struct page. */
struct page *refdax_pfn_page(unsigned long pfn);
/** Whether the folio is still its own head (not made a tail page since it was looked up). */
bool refdax_folio_is_current(struct folio *folio);
/**
 * Builds a compound folio of `order` from the idle order-0 pages at `pfn`, returned with
 * one reference (see the C comment for the contract).
 */
struct folio *refdax_folio_build(unsigned long pfn, unsigned int order);
/**
 * Splits an idle compound folio into order-0 pages, as `dax_folio_reset_order()` does but
 * without touching the head page's `pgmap` word (a free of the folio may still be reading it).
 */
int refdax_folio_split(struct folio *folio);
/**
 * Sleeps until the folio's refcount is zero (woken by `wake_up_var()` on its page) or
 * `timeout_ms` passed; true if it is zero.
 */
bool refdax_folio_wait_idle(struct folio *folio, unsigned int timeout_ms);
/** `folio_pfn()`. */
unsigned long refdax_folio_pfn(struct folio *folio);
/** `folio_order()`, or 0 for a page that is not a folio head (any more). */
unsigned int refdax_folio_order(struct folio *folio);
/** `folio->index`. */
unsigned long refdax_folio_index(struct folio *folio);
/** Moves the refcount from zero to one atomically; false if it was not zero. */
bool refdax_folio_try_get_idle(struct folio *folio);
/** `folio_put()`. */
void refdax_folio_put(struct folio *folio);
/** `folio_ref_count()`. */
int refdax_folio_ref_count(struct folio *folio);
/** `folio_ref_inc_return()`: valid at refcount zero, unlike `folio_get()`; the new count. */
int refdax_folio_ref_inc(struct folio *folio);
/** Sets `folio->mapping` and `folio->index`, as the page cache does for its folios. */
void refdax_folio_set_mapping(struct folio *folio, struct address_space *mapping,
			      unsigned long index);
/** The inode of `folio->mapping`, or NULL if the folio has no file mapping. */
struct inode *refdax_folio_host(struct folio *folio);
/** `put_page()`: drops a reference on the page's folio. */
void refdax_put_page(struct page *page);
/** `page_pgmap(&folio->page)`: only for `ZONE_DEVICE` folios. */
struct dev_pagemap *refdax_folio_pgmap(struct folio *folio);

/* Pagemaps and their physical range. */

/** `request_mem_region()`: NULL if any part of the range is already claimed. */
struct resource *refdax_request_mem_region(u64 start, u64 n, const char *name);
/** `release_mem_region()`. */
void refdax_release_mem_region(u64 start, u64 n);
/**
 * The ops of every `refdax_pgmap`: `folio_free` is `refdax_folio_free()` (a C function, so
 * that ftrace can name it) and `memory_failure` `refdax_memory_failure()`; both call the
 * callback of the same name in the `refdax_pgmap`.
 */
const struct dev_pagemap_ops *refdax_pgmap_ops(void);
/**
 * The file mapping and page index that page `pfn` belongs to, through its folio's mapping
 * and index; NULL if none. No build or split may run meanwhile.
 */
struct address_space *refdax_page_mapping(unsigned long pfn, unsigned long *index);
/** `igrab(mapping->host)`, under the RCU read lock. */
struct inode *refdax_mapping_igrab(struct address_space *mapping);
/**
 * Zaps the mappings of failed page `index` of `inode` under its invalidate lock (so that no
 * fault that passed its poison check is still inserting), sends the current task
 * `SIGBUS`/`BUS_MCEERR_AR` at its address of the page if `mf_flags` has
 * `MF_ACTION_REQUIRED`, sends `BUS_MCEERR_AO` to other processes mapping it that asked for
 * early kill, and puts the inode reference. Process context.
 */
void refdax_fail_file_page(struct inode *inode, unsigned long index, int mf_flags);

/**
 * What the reaper thread is given: `reap(data)` handles what became idle and returns the pfn
 * of a folio still referenced to sleep on, or 0; `kicked` says there may be work.
 */
struct refdax_reaper_args {
	unsigned long (*reap)(const void *data);
	const void *data;
	atomic_t kicked;
};

/** Starts the reaper kthread over `args`; an `ERR_PTR` on failure. */
struct task_struct *refdax_reaper_start(struct refdax_reaper_args *args);
/** `kthread_stop()` of the reaper. */
void refdax_reaper_stop(struct task_struct *task);
/** Wakes the reaper over `args` if it sleeps for want of work. */
void refdax_reaper_kick(struct refdax_reaper_args *args);

/* Data: copies between a page's linear-map address and an iterator; bytes copied. */

/** `copy_mc_to_iter()` from page `pfn`. */
size_t refdax_copy_to_iter(unsigned long pfn, size_t offset, size_t bytes,
			   struct iov_iter *iter);
/** `_copy_from_iter_flushcache()` into page `pfn`. */
size_t refdax_copy_from_iter(unsigned long pfn, size_t offset, size_t bytes,
			     struct iov_iter *iter);
/** Zeroes bytes of page `pfn`, bypassing the CPU cache. */
void refdax_zero(unsigned long pfn, size_t offset, size_t bytes);
/**
 * Copies page `src_pfn` to page `dst_pfn`: `copy_mc_to_kernel()` (machine-check safe), then
 * the destination written back. Returns the bytes not copied (non-zero: the source failed).
 */
unsigned long refdax_copy_page(unsigned long dst_pfn, unsigned long src_pfn);

/* Inodes, their locks, and faults. */

/** `i_size_read()`. */
long long refdax_i_size_read(struct inode *inode);
/** `i_size_write()`. */
void refdax_i_size_write(struct inode *inode, long long size);
/** `inode_lock()`. */
void refdax_inode_lock(struct inode *inode);
/** `inode_unlock()`. */
void refdax_inode_unlock(struct inode *inode);
/** `inode_lock_shared()`. */
void refdax_inode_lock_shared(struct inode *inode);
/** `inode_unlock_shared()`. */
void refdax_inode_unlock_shared(struct inode *inode);
/** `filemap_invalidate_lock()` of the inode's mapping. */
void refdax_invalidate_lock(struct inode *inode);
/** `filemap_invalidate_unlock()`. */
void refdax_invalidate_unlock(struct inode *inode);
/** `filemap_invalidate_lock_shared()`. */
void refdax_invalidate_lock_shared(struct inode *inode);
/** `filemap_invalidate_unlock_shared()`. */
void refdax_invalidate_unlock_shared(struct inode *inode);
/** Sets an inode's mtime and ctime to now. */
void refdax_touch(struct inode *inode);
/** `cond_resched()`. */
void refdax_cond_resched(void);
/** Whether the fault's PMD maps a huge page now. */
bool refdax_vmf_pmd_is_huge(struct vm_fault *vmf);
/** Whether the fault's PMD is empty or maps the folio at `pfn` (see the C comment). */
bool refdax_vmf_pmd_insertable(struct vm_fault *vmf, unsigned long pfn);
/** `vm_flags_set()`. */
void refdax_vma_set_flags(struct vm_area_struct *vma, unsigned long flags);

/** `fiemap_prep()`, with no flags of refdax's own: checks the request, clamps `*len`. */
int refdax_fiemap_prep(struct inode *inode, struct fiemap_extent_info *fieinfo, u64 start,
		       u64 *len);
/**
 * `fiemap_fill_next_extent()` for a mapped extent (`FIEMAP_EXTENT_LAST` if `last`): 1 if the
 * caller's array is full now, 0 to go on, or a negative errno.
 */
int refdax_fiemap_fill(struct fiemap_extent_info *fieinfo, u64 logical, u64 phys, u64 len,
		       bool last);

/* Superblocks and mounting. */

/** Fills `statfs()` (`struct kstatfs` is not in the bindings). */
void refdax_fill_statfs(struct kstatfs *buf, u64 magic, u64 blocks, u64 free, u64 namelen);
/** `lockdep_register_key()` for every lock class key a file_system_type embeds. */
void refdax_fs_type_register_keys(struct file_system_type *type);
/** `lockdep_unregister_key()` for the same keys. */
void refdax_fs_type_unregister_keys(struct file_system_type *type);
/** `file_system_type::init_fs_context` of refdax: installs the C context ops. */
int refdax_init_fs_context(struct fs_context *fc);
/** Mount option bits, as `refdax_fc_options()` returns them: `pte_only`. */
#define REFDAX_OPT_PTE_ONLY	1UL
/** The mount option bits parsed into `fc` (`REFDAX_OPT_*`). */
unsigned long refdax_fc_options(struct fs_context *fc);

/* Trace events (rust/refdax_trace.h). */

void refdax_trace_folio_free(unsigned long pfn, unsigned int order,
			     unsigned long ino, unsigned long index);
void refdax_trace_fault(unsigned long pfn, unsigned int order, unsigned long pgoff, bool write);
void refdax_trace_block_release(unsigned long block, unsigned long ino);
bool refdax_trace_block_release_enabled(void);
bool refdax_trace_folio_free_enabled(void);
void refdax_trace_block_busy(unsigned long block, int refcount);
void refdax_trace_pmd_fallback(unsigned long pgoff, unsigned int reason);
void refdax_trace_teardown_wait_start(unsigned long referenced, unsigned long first_pfn);
void refdax_trace_teardown_wait_end(unsigned long passes, unsigned long long waited_ns);

#endif /* _REFDAX_SHIM_H */
