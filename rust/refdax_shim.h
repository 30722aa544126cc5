/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim's entry points, called from Rust (declared again in rust/abstractions/ffi.rs).
 */
#ifndef _REFDAX_SHIM_H
#define _REFDAX_SHIM_H

#include <linux/types.h>

struct address_space;
struct dev_pagemap;
struct folio;
struct file_system_type;
struct fs_context;
struct inode;
struct iov_iter;
struct kstatfs;
struct page;
struct resource;
struct super_block;
struct vm_area_struct;
struct vm_fault;

struct folio *refdax_pfn_folio(unsigned long pfn);
struct page *refdax_pfn_page(unsigned long pfn);
bool refdax_folio_is_current(struct folio *folio);
struct folio *refdax_folio_build(unsigned long pfn, unsigned int order);
unsigned int refdax_folio_split(struct folio *folio);
bool refdax_folio_wait_idle(struct folio *folio, unsigned int timeout_ms);
struct task_struct;
struct task_struct *refdax_reaper_start(void *args);
void refdax_reaper_stop(struct task_struct *task);
void refdax_reaper_kick(void *args);
unsigned long refdax_folio_pfn(struct folio *folio);
unsigned int refdax_folio_order(struct folio *folio);
bool refdax_folio_try_get_idle(struct folio *folio);
void refdax_folio_put(struct folio *folio);
struct dev_pagemap *refdax_folio_pgmap(struct folio *folio);

struct resource *refdax_request_mem_region(u64 start, u64 n, const char *name);
void refdax_release_mem_region(u64 start, u64 n);

void refdax_folio_free(struct folio *folio);
int refdax_memory_failure(struct dev_pagemap *pgmap, unsigned long pfn,
			  unsigned long nr_pages, int mf_flags);
/* Defined in Rust by pagemap_ops!. */
int refdax_pgmap_memory_failure(struct dev_pagemap *pgmap, unsigned long pfn,
				unsigned long nr_pages, int mf_flags);
struct address_space *refdax_page_mapping(unsigned long pfn, unsigned long *index);
struct inode *refdax_mapping_igrab(struct address_space *mapping);
void refdax_unmap_file_page(struct inode *inode, unsigned long index);
/* Defined in Rust by pagemap_ops!. */
void refdax_pgmap_folio_free(struct folio *folio);

void refdax_trace_folio_free(unsigned long pfn, unsigned int order,
			     unsigned long ino, unsigned long index);

void refdax_trace_fault(unsigned long pfn, unsigned int order, unsigned long pgoff, bool write);
void refdax_trace_block_release(unsigned long block, unsigned long ino);
void refdax_trace_block_busy(unsigned long block, int refcount);
void refdax_trace_pmd_fallback(unsigned long pgoff, unsigned int reason);
unsigned long refdax_folio_index(struct folio *folio);

int refdax_folio_ref_count(struct folio *folio);
int refdax_folio_ref_inc(struct folio *folio);
void refdax_folio_set_mapping(struct folio *folio, struct address_space *mapping,
			      unsigned long index);

size_t refdax_copy_to_iter(unsigned long pfn, size_t offset, size_t bytes,
			   struct iov_iter *iter);
size_t refdax_copy_from_iter(unsigned long pfn, size_t offset, size_t bytes,
			     struct iov_iter *iter);
void refdax_zero(unsigned long pfn, size_t offset, size_t bytes);
size_t refdax_iov_iter_count(struct iov_iter *iter);

long long refdax_i_size_read(struct inode *inode);
void refdax_i_size_write(struct inode *inode, long long size);
void refdax_inode_lock(struct inode *inode);
void refdax_inode_unlock(struct inode *inode);
void refdax_inode_lock_shared(struct inode *inode);
void refdax_inode_unlock_shared(struct inode *inode);
void refdax_invalidate_lock(struct inode *inode);
void refdax_invalidate_unlock(struct inode *inode);
void refdax_invalidate_lock_shared(struct inode *inode);
void refdax_invalidate_unlock_shared(struct inode *inode);
void refdax_cond_resched(void);
bool refdax_vmf_pmd_is_huge(struct vm_fault *vmf);
bool refdax_vmf_pmd_insertable(struct vm_fault *vmf, unsigned long pfn);
void refdax_vma_set_flags(struct vm_area_struct *vma, unsigned long flags);

void refdax_touch(struct inode *dir);
void refdax_fill_statfs(struct kstatfs *buf, u64 magic, u64 blocks, u64 free, u64 namelen);

void refdax_fs_type_register_keys(struct file_system_type *type);
void refdax_fs_type_unregister_keys(struct file_system_type *type);
int refdax_init_fs_context(struct fs_context *fc);
/* Mount option bits, as refdax_fc_options() returns them. */
#define REFDAX_OPT_PTE_ONLY	1UL
unsigned long refdax_fc_options(struct fs_context *fc);
/* Defined in Rust by file_system!. */
int refdax_fill_super(struct super_block *sb, struct fs_context *fc);

#endif /* _REFDAX_SHIM_H */
