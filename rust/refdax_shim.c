// SPDX-License-Identifier: GPL-2.0
/*
 * refdax C shim: the static inline helpers the Rust side cannot call directly, and the
 * trace events. Nothing here decides anything; see rust/abstractions/ffi.rs for the
 * declarations and the contracts.
 */
#include <linux/dax.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/libnvdimm.h>
#include <linux/huge_mm.h>
#include <linux/ioport.h>
#include <linux/kthread.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/statfs.h>
#include <linux/uio.h>

#include "refdax_shim.h"

#define CREATE_TRACE_POINTS
#include "refdax_trace.h"

struct folio *refdax_pfn_folio(unsigned long pfn)
{
	return page_folio(pfn_to_page(pfn));
}

struct page *refdax_pfn_page(unsigned long pfn)
{
	return pfn_to_page(pfn);
}

/* Whether @folio is still a folio of its own, not a tail page of a larger one. */
bool refdax_folio_is_current(struct folio *folio)
{
	return page_folio(&folio->page) == folio;
}

/*
 * Makes the idle order-0 pages at @pfn one compound folio of @order, the way fs/dax.c does
 * when it first maps a PMD, and returns it with one reference. zone_device_page_init() also
 * takes 1 << @order percpu references on the pgmap and locks the folio; the FS DAX free path
 * never gives those back, so put and unlock here. The caller guarantees that every page is
 * order 0 with refcount zero and that nobody takes a reference meanwhile.
 */
struct folio *refdax_folio_build(unsigned long pfn, unsigned int order)
{
	struct page *page = pfn_to_page(pfn);
	struct dev_pagemap *pgmap = page_pgmap(page);
	struct folio *folio = page_folio(page);

	zone_device_page_init(page, pgmap, order);
	percpu_ref_put_many(&pgmap->ref, 1UL << order);
	folio_unlock(folio);
	return folio;
}

/*
 * Sleeps until @folio is idle, at most @timeout_ms: free_zone_device_folio() ends with
 * wake_up_var(&folio->page) for FS DAX folios, which is what dax_break_layout() waits on.
 */
bool refdax_folio_wait_idle(struct folio *folio, unsigned int timeout_ms)
{
	wait_var_event_timeout(&folio->page, !folio_ref_count(folio),
			       msecs_to_jiffies(timeout_ms));
	return !folio_ref_count(folio);
}

/*
 * The reaper: for kernels that do not call folio_free for FS DAX folios. Each pass lets Rust
 * handle what is idle and name a folio still referenced; then sleep on that folio's page,
 * which free_zone_device_folio() wakes with wake_up_var(), at most a second. With nothing
 * to wait for, sleep until refdax_reaper_kick() says a block became busy.
 */
static int refdax_reaper_fn(void *arg)
{
	struct refdax_reaper_args *args = arg;

	while (!kthread_should_stop()) {
		unsigned long pfn = args->reap(args->data);

		if (pfn) {
			struct folio *folio = page_folio(pfn_to_page(pfn));

			wait_var_event_timeout(&folio->page,
					       !folio_ref_count(folio) || kthread_should_stop(), HZ);
		} else {
			wait_var_event_interruptible(&args->kicked,
						     atomic_xchg(&args->kicked, 0) ||
						     kthread_should_stop());
		}
	}
	return 0;
}

void refdax_reaper_kick(struct refdax_reaper_args *args)
{
	/* A full barrier between the store and wake_up_var()'s look at the waitqueue. */
	atomic_xchg(&args->kicked, 1);
	wake_up_var(&args->kicked);
}

struct task_struct *refdax_reaper_start(struct refdax_reaper_args *args)
{
	return kthread_run(refdax_reaper_fn, args, "refdax-reaper");
}

void refdax_reaper_stop(struct task_struct *task)
{
	kthread_stop(task);
}

/*
 * Splits an idle compound FS DAX folio back into order-0 pages; returns the old order. What
 * dax_folio_reset_order() does, but the head page's pgmap word is never written: that helper
 * clears the compound head of every page, the head's included, whose compound_info word *is*
 * folio->pgmap, and restores it a few stores later. A free of the folio may still be on its
 * way when refdax splits it (its refcount reached zero on another CPU, before the folio_free
 * op was called): free_zone_device_folio(), refdax_folio_free() and the Rust trampoline read
 * folio->pgmap and would see NULL. They read nothing of the tail pages.
 */
int refdax_folio_split(struct folio *folio)
{
	struct dev_pagemap *pgmap = page_pgmap(&folio->page);
	int order = folio_order(folio);

	folio->mapping = NULL;
	folio->share = 0;
	if (!order)
		return 0;
	folio_reset_order(folio);
	for (int i = 1; i < (1 << order); i++) {
		struct page *page = folio_page(folio, i);
		struct folio *f = (struct folio *)page;

		ClearPageHead(page);
		clear_compound_head(page);
		f->mapping = NULL;
		f->share = 0;
		f->pgmap = pgmap;
	}
	ClearPageHead(&folio->page);
	return order;
}

unsigned long refdax_folio_pfn(struct folio *folio)
{
	return folio_pfn(folio);
}

/* Page-level: a page that became a tail since it was looked up reads as order 0. */
unsigned int refdax_folio_order(struct folio *folio)
{
	return compound_order(&folio->page);
}

/*
 * refdax hands out an idle folio only after moving its refcount from zero to one in one
 * step, so that two claimants can never both believe they took the first reference.
 */
bool refdax_folio_try_get_idle(struct folio *folio)
{
	return atomic_cmpxchg(&folio->_refcount, 0, 1) == 0;
}

void refdax_folio_put(struct folio *folio)
{
	folio_put(folio);
}

void refdax_put_page(struct page *page)
{
	put_page(page);
}

struct dev_pagemap *refdax_folio_pgmap(struct folio *folio)
{
	return page_pgmap(&folio->page);
}

static struct refdax_pgmap *to_refdax_pgmap(struct dev_pagemap *pgmap)
{
	return container_of(pgmap, struct refdax_pgmap, pgmap);
}

/*
 * The folio_free op of refdax's pagemaps. It lives in C only so that ftrace can name it
 * (Rust code is not instrumented for ftrace in 7.3); the work is done by the Rust callback
 * the pagemap carries.
 */
static void refdax_folio_free(struct folio *folio)
{
	to_refdax_pgmap(page_pgmap(&folio->page))->folio_free(folio);
}

/*
 * The memory_failure op, in C beside folio_free for the same reason; refdax's Rust end
 * quarantines the blocks, then every file mapping of each page is zapped.
 */
static int refdax_memory_failure(struct dev_pagemap *pgmap, unsigned long pfn,
				 unsigned long nr_pages, int mf_flags)
{
	return to_refdax_pgmap(pgmap)->memory_failure(pgmap, pfn, nr_pages, mf_flags);
}

static const struct dev_pagemap_ops refdax_pgmap_ops_table = {
	.folio_free	= refdax_folio_free,
	.memory_failure	= refdax_memory_failure,
};

const struct dev_pagemap_ops *refdax_pgmap_ops(void)
{
	return &refdax_pgmap_ops_table;
}

/*
 * The file mapping page @pfn belongs to (folio->mapping) and the page's index in it, or NULL.
 * The caller holds the RCU read lock and keeps builds and splits of compound folios out
 * (both rewrite ->mapping of the pages they turn into tails or back).
 */
struct address_space *refdax_page_mapping(unsigned long pfn, unsigned long *index)
{
	struct folio *folio = page_folio(pfn_to_page(pfn));
	struct address_space *mapping = READ_ONCE(folio->mapping);

	if (!mapping || ((unsigned long)mapping & FOLIO_MAPPING_FLAGS))
		return NULL;
	*index = folio->index + (pfn - folio_pfn(folio));
	return mapping;
}

/*
 * A reference on @mapping's inode, or NULL if it is going away. Inodes are freed after an
 * RCU grace period and refdax unties its folios from an inode before evicting it, so a
 * mapping read from a folio under the RCU read lock still has a valid host here.
 */
struct inode *refdax_mapping_igrab(struct address_space *mapping)
{
	return igrab(mapping->host);
}

/*
 * The address at which @mm maps page @index of @mapping (a shared or private file mapping of
 * it), or 0; also 0 if @mm's mmap lock is contended and @trylock is set (another process's
 * mm: a task stuck with its mmap lock held must not stall memory failure). Never call it
 * under the invalidate lock (faults take that under the mmap lock).
 */
static unsigned long refdax_mm_address_of(struct mm_struct *mm, struct address_space *mapping,
					  pgoff_t index, bool trylock)
{
	struct vm_area_struct *vma;
	unsigned long addr = 0;

	if (!trylock)
		mmap_read_lock(mm);
	else if (!mmap_read_trylock(mm))
		return 0;
	for (vma = find_vma(mm, 0); vma && !addr; vma = find_vma(mm, vma->vm_end)) {
		if (!vma->vm_file || vma->vm_file->f_mapping != mapping ||
		    index < vma->vm_pgoff || index - vma->vm_pgoff >= vma_pages(vma))
			continue;
		addr = vma->vm_start + ((index - vma->vm_pgoff) << PAGE_SHIFT);
	}
	mmap_read_unlock(mm);
	return addr;
}

/* Processes asking for early kill, taken in one pass over the task list. */
#define REFDAX_EARLY_KILL_MAX 32

/*
 * Sends BUS_MCEERR_AO to one thread of every process that asked for early kill
 * (prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY)) and has a VMA over page @index of
 * @mapping, at its address of the page, as memory_failure() does for early-kill processes
 * (find_early_kill_thread()); the current process is left out when @skip_current (it got
 * BUS_MCEERR_AR). The system-wide vm.memory_failure_early_kill is not read (not exported).
 */
static void refdax_kill_early(struct address_space *mapping, pgoff_t index, bool skip_current)
{
	struct task_struct *found[REFDAX_EARLY_KILL_MAX];
	struct task_struct *p, *t, *early;
	int n = 0, i;

	rcu_read_lock();
	for_each_process(p) {
		if (!p->mm || (skip_current && same_thread_group(p, current)))
			continue;
		early = NULL;
		for_each_thread(p, t) {
			if ((t->flags & (PF_MCE_PROCESS | PF_MCE_EARLY)) ==
			    (PF_MCE_PROCESS | PF_MCE_EARLY)) {
				early = t;
				break;
			}
		}
		if (!early)
			continue;
		if (n == REFDAX_EARLY_KILL_MAX) {
			pr_warn_ratelimited("refdax: more than %d early-kill processes: not all told of the failure\n",
					    REFDAX_EARLY_KILL_MAX);
			break;
		}
		get_task_struct(early);
		found[n++] = early;
	}
	rcu_read_unlock();
	for (i = 0; i < n; i++) {
		struct mm_struct *mm = get_task_mm(found[i]);
		unsigned long addr = 0;

		if (mm) {
			addr = refdax_mm_address_of(mm, mapping, index, true);
			mmput(mm);
		}
		if (addr)
			send_sig_mceerr(BUS_MCEERR_AO, (void __user *)addr, PAGE_SHIFT, found[i]);
		put_task_struct(found[i]);
	}
}

/*
 * Zaps every mapping of failed page @index of @inode and puts the reference
 * refdax_mapping_igrab() took. Under the invalidate lock: a fault that passed its poison
 * check before the page was marked failed has inserted its PTE by the time the lock is ours.
 * Then, as memory_failure() does for ext4 -o dax (kill_procs()): if the failure was met by
 * the current task (MF_ACTION_REQUIRED: a consumed machine check, or MADV_HWPOISON), it gets
 * SIGBUS with BUS_MCEERR_AR and the address it maps the page at, at once (and a plain,
 * forced SIGBUS if MF_MUST_KILL says it cannot go on); other processes mapping the page that
 * asked for early kill get BUS_MCEERR_AO.
 */
void refdax_fail_file_page(struct inode *inode, unsigned long index, int mf_flags)
{
	bool action = (mf_flags & MF_ACTION_REQUIRED) && current->mm &&
		      !(current->flags & PF_KTHREAD);
	unsigned long addr = 0;

	filemap_invalidate_lock(inode->i_mapping);
	unmap_mapping_range(inode->i_mapping, (loff_t)index << PAGE_SHIFT, PAGE_SIZE, 0);
	filemap_invalidate_unlock(inode->i_mapping);
	if (action) {
		addr = refdax_mm_address_of(current->mm, inode->i_mapping, index, false);
		if (addr)
			send_sig_mceerr(BUS_MCEERR_AR, (void __user *)addr, PAGE_SHIFT, current);
		/* force_sig_mceerr() is not exported: force a SIGBUS through a blocked one. */
		if (mf_flags & MF_MUST_KILL)
			force_sig(SIGBUS);
	}
	refdax_kill_early(inode->i_mapping, index, action);
	iput(inode);
}

struct resource *refdax_request_mem_region(u64 start, u64 n, const char *name)
{
	return request_mem_region(start, n, name);
}

void refdax_release_mem_region(u64 start, u64 n)
{
	release_mem_region(start, n);
}

void refdax_trace_folio_free(unsigned long pfn, unsigned int order,
			     unsigned long ino, unsigned long index)
{
	trace_refdax_folio_free(pfn, order, ino, index);
}

void refdax_trace_fault(unsigned long pfn, unsigned int order, unsigned long pgoff, bool write)
{
	trace_refdax_fault(pfn, order, pgoff, write);
}

void refdax_trace_block_release(unsigned long block, unsigned long ino)
{
	trace_refdax_block_release(block, ino);
}

bool refdax_trace_folio_free_enabled(void)
{
	return trace_refdax_folio_free_enabled();
}

bool refdax_trace_block_release_enabled(void)
{
	return trace_refdax_block_release_enabled();
}

void refdax_trace_block_busy(unsigned long block, int refcount)
{
	trace_refdax_block_busy(block, refcount);
}

void refdax_trace_pmd_fallback(unsigned long pgoff, unsigned int reason)
{
	trace_refdax_pmd_fallback(pgoff, reason);
}

void refdax_trace_teardown_wait_start(unsigned long referenced, unsigned long first_pfn)
{
	trace_refdax_teardown_wait_start(referenced, first_pfn);
}

void refdax_trace_teardown_wait_end(unsigned long passes, unsigned long long waited_ns)
{
	trace_refdax_teardown_wait_end(passes, waited_ns);
}

unsigned long refdax_folio_index(struct folio *folio)
{
	return folio->index;
}

int refdax_folio_ref_count(struct folio *folio)
{
	return folio_ref_count(folio);
}

/*
 * Unlike folio_get(), valid at refcount zero: how fs/dax.c takes its insert reference.
 * Returns the new count, so that the caller sees a zero-to-one transition.
 */
int refdax_folio_ref_inc(struct folio *folio)
{
	return folio_ref_inc_return(folio);
}

/*
 * An FS DAX folio has no page cache entry, but rmap, memory-failure and the dirty hook
 * find its file through ->mapping and ->index, as fs/dax.c sets them.
 */
/* Written under the pagemap's refs lock; read locklessly by the core (rmap, dirtying). */
void refdax_folio_set_mapping(struct folio *folio, struct address_space *mapping,
			      pgoff_t index)
{
	WRITE_ONCE(folio->index, index);
	WRITE_ONCE(folio->mapping, mapping);
}

struct inode *refdax_folio_host(struct folio *folio)
{
	struct address_space *mapping = READ_ONCE(folio->mapping);

	if (!mapping || ((unsigned long)mapping & FOLIO_MAPPING_FLAGS))
		return NULL;
	return mapping->host;
}

/*
 * The copies go through the pagemap's linear mapping: reads are machine-check safe and
 * writes bypass the cache (flushcache), as fs/dax.c does for pmem.
 */
/*
 * The underscore variants: no hardened-usercopy object check, which would refuse a run that
 * starts in a compound folio and crosses its end (refdax copies runs of consecutive blocks;
 * the pagemap has checked that they are all its own).
 */
size_t refdax_copy_to_iter(unsigned long pfn, size_t offset, size_t bytes,
			   struct iov_iter *iter)
{
	return _copy_mc_to_iter(page_address(pfn_to_page(pfn)) + offset, bytes, iter);
}

size_t refdax_copy_from_iter(unsigned long pfn, size_t offset, size_t bytes,
			     struct iov_iter *iter)
{
	return _copy_from_iter_flushcache(page_address(pfn_to_page(pfn)) + offset, bytes, iter);
}

void refdax_zero(unsigned long pfn, size_t offset, size_t bytes)
{
	memset(page_address(pfn_to_page(pfn)) + offset, 0, bytes);
	arch_wb_cache_pmem(page_address(pfn_to_page(pfn)) + offset, bytes);
}

unsigned long refdax_copy_page(unsigned long dst_pfn, unsigned long src_pfn)
{
	void *dst = page_address(pfn_to_page(dst_pfn));
	unsigned long left = copy_mc_to_kernel(dst, page_address(pfn_to_page(src_pfn)), PAGE_SIZE);

	arch_wb_cache_pmem(dst, PAGE_SIZE);
	return left;
}

loff_t refdax_i_size_read(struct inode *inode)
{
	return i_size_read(inode);
}

void refdax_i_size_write(struct inode *inode, loff_t size)
{
	i_size_write(inode, size);
}

void refdax_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

void refdax_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

void refdax_inode_lock_shared(struct inode *inode)
{
	inode_lock_shared(inode);
}

void refdax_inode_unlock_shared(struct inode *inode)
{
	inode_unlock_shared(inode);
}

void refdax_invalidate_lock(struct inode *inode)
{
	filemap_invalidate_lock(inode->i_mapping);
}

void refdax_invalidate_unlock(struct inode *inode)
{
	filemap_invalidate_unlock(inode->i_mapping);
}

void refdax_invalidate_lock_shared(struct inode *inode)
{
	filemap_invalidate_lock_shared(inode->i_mapping);
}

void refdax_invalidate_unlock_shared(struct inode *inode)
{
	filemap_invalidate_unlock_shared(inode->i_mapping);
}

void refdax_cond_resched(void)
{
	cond_resched();
}

void refdax_vma_set_flags(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

int refdax_fiemap_prep(struct inode *inode, struct fiemap_extent_info *fieinfo, u64 start,
		       u64 *len)
{
	return fiemap_prep(inode, fieinfo, start, len, 0);
}

int refdax_fiemap_fill(struct fiemap_extent_info *fieinfo, u64 logical, u64 phys, u64 len,
		       bool last)
{
	return fiemap_fill_next_extent(fieinfo, logical, phys, len,
				       last ? FIEMAP_EXTENT_LAST : 0);
}

void refdax_touch(struct inode *dir)
{
	inode_set_mtime_to_ts(dir, inode_set_ctime_current(dir));
}

void refdax_fill_statfs(struct kstatfs *buf, u64 magic, u64 blocks, u64 free, u64 namelen)
{
	buf->f_type = magic;
	buf->f_bsize = PAGE_SIZE;
	buf->f_frsize = PAGE_SIZE;
	buf->f_blocks = blocks;
	buf->f_bfree = free;
	buf->f_bavail = free;
	buf->f_namelen = namelen;
}

/*
 * Whether the fault's PMD now maps a huge page: a PMD fault of another thread won the race
 * for this 2 MiB (fs/dax.c makes the same check before inserting a PTE).
 */
bool refdax_vmf_pmd_is_huge(struct vm_fault *vmf)
{
	return vmf->pmd && pmd_trans_huge(pmdp_get_lockless(vmf->pmd));
}

/*
 * Whether vmf_insert_folio_pmd() of the folio at @pfn may go ahead at the fault's PMD: it is
 * empty, or maps that very folio (a write upgrade). Anything else (a PTE table another fault
 * installed since the core saw the PMD empty, another folio) means the fault raced and must
 * just be retried, as fs/dax.c does; insert_pmd() would WARN on it.
 */
bool refdax_vmf_pmd_insertable(struct vm_fault *vmf, unsigned long pfn)
{
	pmd_t pmd = pmdp_get_lockless(vmf->pmd);

	return pmd_none(pmd) || (pmd_trans_huge(pmd) && pmd_pfn(pmd) == pfn);
}

/*
 * A file_system_type embeds lock class keys; refdax's lives in allocated memory (a pinned
 * Rust registration), so lockdep must be told about them, and told again before the memory
 * goes away.
 */
#ifdef CONFIG_LOCKDEP
#define refdax_fs_keys(t, op) do {					\
	op(&(t)->s_lock_key);						\
	op(&(t)->s_umount_key);						\
	op(&(t)->s_vfs_rename_key);					\
	for (int i = 0; i < ARRAY_SIZE((t)->s_writers_key); i++)	\
		op(&(t)->s_writers_key[i]);				\
	op(&(t)->i_lock_key);						\
	op(&(t)->i_mutex_key);						\
	op(&(t)->invalidate_lock_key);					\
	op(&(t)->i_mutex_dir_key);					\
} while (0)
#else
/* Without lockdep the keys are empty structs and there is nothing to register. */
#define refdax_fs_keys(t, op) do { } while (0)
#endif

void refdax_fs_type_register_keys(struct file_system_type *type)
{
	refdax_fs_keys(type, lockdep_register_key);
}

void refdax_fs_type_unregister_keys(struct file_system_type *type)
{
	refdax_fs_keys(type, lockdep_unregister_key);
}

/*
 * fs_context.h is not among the headers the kernel's Rust bindings include, so the
 * context glue lives here: get_tree makes an anonymous (nodev) superblock and lets the
 * type's Rust fill_super fill it.
 */
static int refdax_get_tree(struct fs_context *fc)
{
	struct refdax_fs_type *type = container_of(fc->fs_type, struct refdax_fs_type, type);

	return get_tree_nodev(fc, type->fill_super);
}

enum { Opt_pte_only };

static const struct fs_parameter_spec refdax_fs_parameters[] = {
	fsparam_flag("pte_only", Opt_pte_only),
	{}
};

/*
 * Mount options, parsed into the context's private word. Unknown keys return -ENOPARAM,
 * so that the VFS handles "source" and refuses the rest with "Unknown parameter".
 */
static int refdax_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct fs_parse_result result;
	int opt = fs_parse(fc, refdax_fs_parameters, param, &result);

	if (opt < 0)
		return opt;
	switch (opt) {
	case Opt_pte_only:
		fc->fs_private = (void *)((unsigned long)fc->fs_private | REFDAX_OPT_PTE_ONLY);
		break;
	}
	return 0;
}

unsigned long refdax_fc_options(struct fs_context *fc)
{
	return (unsigned long)fc->fs_private;
}

static const struct fs_context_operations refdax_context_ops = {
	.parse_param	= refdax_parse_param,
	.get_tree	= refdax_get_tree,
};

int refdax_init_fs_context(struct fs_context *fc)
{
	fc->fs_private = NULL;
	fc->ops = &refdax_context_ops;
	return 0;
}
