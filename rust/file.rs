// SPDX-License-Identifier: GPL-2.0

//! refdax files: the map from file pages to blocks, and the data path over it.
//!
//! # Locking
//!
//! Lock order: the inode lock (`i_rwsem`, taken by the VFS) -> `FileData::map` -> the pool's
//! spinlock. The fault path takes `map` under the mmap lock without the inode lock. Nobody
//! holds `map` while copying from or to user memory (the user buffer may be a mapping of the
//! same file, whose fault takes `map`): the read and write paths look blocks up under `map`,
//! drop it and copy. That is safe because blocks only leave a file (truncate, punch-hole,
//! eviction) with the inode lock held exclusively, which read and write hold too.
//!
//! Size changes publish the new size before taking `map`, and faults check the size under
//! `map`: a fault either sees the new size or has inserted its PTE before the truncate
//! detaches the block and zaps the mapping.
//!
//! # Allocation and PMD mappings
//!
//! A 2 MiB window of the file (pages `512k..512k + 512`) that has no block yet and lies
//! wholly below the file's size (after the write, `fallocate` or fault that needs it) gets
//! one extent: 512 blocks whose first page is 2 MiB aligned, if the pool has such a run free.
//! Other pages get single blocks. So a file made with `ftruncate`/`fallocate` or written in
//! chunks of 2 MiB and more is PMD-mappable; a file appended in small writes mostly is not.
//!
//! A PMD fault maps the window with one PMD-sized folio when the window lies inside the VMA
//! at a 2 MiB aligned file offset, inside the file, over one extent, and no page of it is
//! referenced on its own; otherwise it falls back to PTEs and counts why ([`PmdFallback`]).

use crate::{
    abstractions::trace,
    abstractions::vfs::{self, Inode, IovIter, LockedInode, NewVma, VmFault, VmFaultResult},
    blocks::EXTENT,
    device::Device,
    stats::PmdFallback,
};
use kernel::{new_mutex, prelude::*, sync::Mutex};

const PAGE_SIZE: u64 = 4096;
const PAGE_SHIFT: u32 = 12;
/// File pages per leaf of the block map: one leaf maps 2 MiB of file, one extent.
const LEAF: usize = EXTENT;
/// The order of a PMD-sized folio.
const PMD_ORDER: u32 = 9;
const HOLE: u32 = u32::MAX;

/// The blocks of 2 MiB of file.
struct Leaf([u32; LEAF]);

/// File page index -> block, two levels so that sparse files cost little.
struct BlockMap {
    leaves: KVVec<Option<KBox<Leaf>>>,
}

impl BlockMap {
    fn get(&self, index: usize) -> Option<u32> {
        let leaf = self.leaves.get(index / LEAF)?.as_ref()?;
        Some(leaf.0[index % LEAF]).filter(|&b| b != HOLE)
    }

    /// Makes sure pages `from..to` have leaves, so that [`BlockMap::set`] cannot fail there.
    fn prepare(&mut self, from: usize, to: usize) -> Result {
        if from >= to {
            return Ok(());
        }
        let last = (to - 1) / LEAF;
        while self.leaves.len() <= last {
            self.leaves.push(None, GFP_KERNEL)?;
        }
        for li in from / LEAF..=last {
            if self.leaves[li].is_none() {
                self.leaves[li] = Some(KBox::new(Leaf([HOLE; LEAF]), GFP_KERNEL)?);
            }
        }
        Ok(())
    }

    /// Records `block` at `index`, a hole whose leaf [`BlockMap::prepare`] made; false if
    /// there is no leaf.
    fn set(&mut self, index: usize, block: u32) -> bool {
        match self.leaves.get_mut(index / LEAF) {
            Some(Some(leaf)) => {
                leaf.0[index % LEAF] = block;
                true
            }
            _ => false,
        }
    }

    /// Removes the blocks of pages `from..to`, passing each to `f` with its index.
    fn take_range(&mut self, from: usize, to: usize, mut f: impl FnMut(usize, u32)) {
        let to = to.min(self.leaves.len() * LEAF);
        let mut index = from;
        while index < to {
            let li = index / LEAF;
            let leaf_end = ((li + 1) * LEAF).min(to);
            if let Some(leaf) = &mut self.leaves[li] {
                for i in index..leaf_end {
                    let b = core::mem::replace(&mut leaf.0[i % LEAF], HOLE);
                    if b != HOLE {
                        f(i, b);
                    }
                }
                if leaf.0.iter().all(|&b| b == HOLE) {
                    self.leaves[li] = None;
                }
            }
            index = leaf_end;
        }
    }

    /// The holes among pages `from..to`.
    fn count_holes(&self, from: usize, to: usize) -> usize {
        let mut holes = 0;
        let mut index = from;
        while index < to {
            let li = index / LEAF;
            let leaf_end = ((li + 1) * LEAF).min(to);
            holes += match self.leaves.get(li) {
                Some(Some(leaf)) => (index..leaf_end)
                    .filter(|&i| leaf.0[i % LEAF] == HOLE)
                    .count(),
                _ => leaf_end - index,
            };
            index = leaf_end;
        }
        holes
    }
}

/// Per-file state (`inode->i_private`).
#[pin_data]
pub(crate) struct FileData {
    #[pin]
    map: Mutex<BlockMap>,
}

/// Runs `copy` on block `b`'s page and returns what it copied, unless the page has failed
/// (memory failure): then nothing is copied and `poisoned` is set. A failed page reads and
/// writes as an error (`EIO`), never as data.
fn copy_block(
    dev: &Device,
    b: u32,
    poisoned: &mut bool,
    copy: impl FnOnce(usize) -> usize,
) -> usize {
    if dev.pool().is_poisoned(b) {
        *poisoned = true;
        return 0;
    }
    copy(dev.pool().pfn(b))
}

fn pages(bytes: u64) -> usize {
    bytes.div_ceil(PAGE_SIZE) as usize
}

impl FileData {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            map <- new_mutex!(BlockMap { leaves: KVVec::new() }),
        })
    }

    /// Gives pages `from..to` blocks where they have none, all or nothing: `ENOSPC` leaves
    /// the file as it was. New blocks are zeroed and attached to the file. `eof` is the
    /// file's size in pages once the operation is done: empty windows below it get extents.
    fn fill_holes(
        &self,
        dev: &Device,
        inode: &Inode,
        from: usize,
        to: usize,
        eof: usize,
    ) -> Result {
        let mut map = self.map.lock();
        self.fill_holes_locked(dev, inode, &mut map, from, to, eof)
    }

    fn fill_holes_locked(
        &self,
        dev: &Device,
        inode: &Inode,
        map: &mut BlockMap,
        from: usize,
        to: usize,
        eof: usize,
    ) -> Result {
        let n = map.count_holes(from, to);
        if n == 0 {
            return Ok(());
        }
        // Extents first: (window, first block) for each empty window below `eof` that
        // `from..to` touches, as long as the pool has aligned runs.
        let mut extents = KVec::new();
        let mut covered = 0;
        let mut w = from / LEAF * LEAF;
        while w < to && w + LEAF <= eof {
            if map.count_holes(w, w + LEAF) == LEAF {
                let Some(b) = dev.pool().alloc_extent(inode.ino()) else {
                    break;
                };
                if let Err(e) = extents.push((w, b), GFP_KERNEL) {
                    dev.pool().unalloc_extent(b);
                    self.unalloc_extents(dev, &extents);
                    return Err(e.into());
                }
                covered += (w + LEAF).min(to) - w.max(from);
            }
            w += LEAF;
        }
        let mut blocks = KVec::new();
        let filled = dev
            .pool()
            .alloc(n - covered, inode.ino(), &mut blocks)
            .and_then(|()| {
                // An extent fills its whole window, which may reach outside `from..to`.
                let lo = extents.first().map_or(from, |&(w, _)| w.min(from));
                let hi = extents.last().map_or(to, |&(w, _)| (w + LEAF).max(to));
                map.prepare(lo, hi)
            });
        if let Err(e) = filled {
            self.unalloc_extents(dev, &extents);
            dev.pool().unalloc(&blocks);
            return Err(e);
        }
        for &(w, b) in extents.iter() {
            for i in 0..LEAF {
                self.attach_new(dev, inode, map, w + i, b + i as u32);
            }
        }
        let mut next = blocks.iter();
        for index in from..to {
            if map.get(index).is_some() {
                continue;
            }
            let Some(&b) = next.next() else { break };
            self.attach_new(dev, inode, map, index, b);
        }
        inode.add_blocks(extents.len() * LEAF + blocks.len());
        Ok(())
    }

    /// Gives back extents taken by [`FileData::fill_holes_locked`] that never reached the map.
    fn unalloc_extents(&self, dev: &Device, extents: &[(usize, u32)]) {
        for &(_, b) in extents {
            dev.pool().unalloc_extent(b);
        }
    }

    /// Zeroes new block `b` and puts it at file page `index` (a hole with a leaf).
    fn attach_new(&self, dev: &Device, inode: &Inode, map: &mut BlockMap, index: usize, b: u32) {
        let pfn = dev.pool().pfn(b);
        dev.pagemap().zero(pfn, 0, PAGE_SIZE as usize);
        if let Some(folio) = dev.pagemap().folio(pfn) {
            inode.attach_folio(folio, index);
        }
        // `prepare` made the leaf: cannot fail.
        map.set(index, b);
    }

    /// Takes pages `from..to` out of the file and hands their blocks back (see
    /// [`crate::blocks`]): free now, or Busy until their folio-free notification.
    fn drop_blocks(&self, dev: &Device, inode: &Inode, from: usize, to: usize) {
        let mut n = 0;
        self.map.lock().take_range(from, to, |_, b| {
            let pfn = dev.pool().pfn(b);
            if let Some(folio) = dev.pagemap().folio(pfn) {
                vfs::detach_folio(folio);
            }
            dev.pool().release(b, || dev.pagemap().folio(pfn));
            n += 1;
        });
        inode.sub_blocks(n);
    }

    pub(crate) fn read(
        &self,
        dev: &Device,
        inode: &Inode,
        pos: u64,
        iter: &mut IovIter,
    ) -> Result<usize> {
        let size = inode.size();
        if pos >= size {
            return Ok(0);
        }
        let end = size.min(pos.saturating_add(iter.count() as u64));
        let mut poisoned = false;
        let done = self.copy_pages(pos, end, |block, offset, n| match block {
            Some(b) => copy_block(dev, b, &mut poisoned, |pfn| {
                dev.pagemap().copy_to_iter(pfn, offset, n, iter)
            }),
            None => iter.zero(n),
        });
        if done == 0 {
            return Err(if poisoned { EIO } else { EFAULT });
        }
        Ok(done)
    }

    /// Walks `pos..end` page by page, handing `copy` each page's block (`None` for a hole),
    /// the offset in the page and the length; stops at the first short copy. Returns the
    /// bytes copied. The map lock is held only for each lookup, never across `copy`.
    fn copy_pages(
        &self,
        pos: u64,
        end: u64,
        mut copy: impl FnMut(Option<u32>, usize, usize) -> usize,
    ) -> usize {
        let mut at = pos;
        while at < end {
            let offset = (at % PAGE_SIZE) as usize;
            let n = ((PAGE_SIZE - at % PAGE_SIZE).min(end - at)) as usize;
            // The block cannot leave the file: the caller holds the inode lock.
            let block = self.map.lock().get((at >> PAGE_SHIFT) as usize);
            let copied = copy(block, offset, n);
            at += copied as u64;
            if copied < n {
                break;
            }
        }
        (at - pos) as usize
    }

    pub(crate) fn write(
        &self,
        dev: &Device,
        inode: &LockedInode<'_>,
        pos: u64,
        iter: &mut IovIter,
    ) -> Result<usize> {
        let count = iter.count() as u64;
        let end = pos.checked_add(count).ok_or(EFBIG)?;
        // All blocks first, so that ENOSPC writes nothing.
        let eof = pages(end.max(inode.size()));
        self.fill_holes(dev, inode, (pos >> PAGE_SHIFT) as usize, pages(end), eof)?;
        // `fill_holes` gave every page a block; a hole here would be a bug: stop there.
        let mut poisoned = false;
        let done = self.copy_pages(pos, end, |block, offset, n| match block {
            Some(b) => copy_block(dev, b, &mut poisoned, |pfn| {
                dev.pagemap().copy_from_iter(pfn, offset, n, iter)
            }),
            None => 0,
        });
        if done == 0 && count > 0 {
            return Err(if poisoned { EIO } else { EFAULT });
        }
        let at = pos + done as u64;
        if at > inode.size() {
            inode.set_size(at);
        }
        Ok(done)
    }

    pub(crate) fn set_size(&self, dev: &Device, inode: &LockedInode<'_>, size: u64) -> Result {
        let old = inode.size();
        inode.set_size(size);
        if size >= old {
            return Ok(());
        }
        // The rest of the last page must read as zeros if the file grows again.
        if size % PAGE_SIZE != 0 {
            if let Some(b) = self.map.lock().get((size >> PAGE_SHIFT) as usize) {
                let offset = (size % PAGE_SIZE) as usize;
                dev.pagemap()
                    .zero(dev.pool().pfn(b), offset, PAGE_SIZE as usize - offset);
            }
        }
        let first = pages(size);
        // Blocks still mapped become Busy here and are released by the zap's notification.
        self.drop_blocks(dev, inode, first, usize::MAX);
        inode.unmap_range(first as u64 * PAGE_SIZE, 0);
        Ok(())
    }

    pub(crate) fn allocate(
        &self,
        dev: &Device,
        inode: &LockedInode<'_>,
        offset: u64,
        len: u64,
        keep_size: bool,
    ) -> Result {
        let end = offset + len;
        let eof = pages(if keep_size {
            inode.size()
        } else {
            end.max(inode.size())
        });
        self.fill_holes(dev, inode, (offset >> PAGE_SHIFT) as usize, pages(end), eof)?;
        if !keep_size && end > inode.size() {
            inode.set_size(end);
        }
        Ok(())
    }

    pub(crate) fn punch_hole(
        &self,
        dev: &Device,
        inode: &LockedInode<'_>,
        offset: u64,
        len: u64,
    ) -> Result {
        let end = offset.saturating_add(len);
        let first_full = pages(offset);
        let end_full = (end >> PAGE_SHIFT) as usize;
        // Partial pages at either edge keep their block and get zeros.
        let zero_range = |from: u64, to: u64| {
            if from < to {
                if let Some(b) = self.map.lock().get((from >> PAGE_SHIFT) as usize) {
                    let pfn = dev.pool().pfn(b);
                    dev.pagemap()
                        .zero(pfn, (from % PAGE_SIZE) as usize, (to - from) as usize);
                }
            }
        };
        if first_full > end_full {
            zero_range(offset, end);
            return Ok(());
        }
        zero_range(offset, (first_full as u64 * PAGE_SIZE).min(end));
        zero_range((end_full as u64 * PAGE_SIZE).max(offset), end);
        if end_full > first_full {
            self.drop_blocks(dev, inode, first_full, end_full);
            inode.unmap_range(
                first_full as u64 * PAGE_SIZE,
                (end_full - first_full) as u64 * PAGE_SIZE,
            );
        }
        Ok(())
    }

    /// A mapping that the core populates right after mmap (`MAP_LOCKED`): map the blocks the
    /// file has now with `vm_insert_page()`, under the mmap write lock, instead of faulting
    /// them one by one. Holes are left to the faults, which allocate.
    pub(crate) fn mmap(&self, dev: &Device, inode: &Inode, vma: &NewVma) -> Result {
        if !vma.populates() || !vma.is_shared() {
            return Ok(());
        }
        let map = self.map.lock();
        let eof = pages(inode.size());
        let npages = (vma.end() - vma.start()) >> PAGE_SHIFT;
        for i in 0..npages.min(eof.saturating_sub(vma.pgoff())) {
            let index = vma.pgoff() + i;
            let Some(b) = map.get(index) else { continue };
            if dev.pool().is_poisoned(b) {
                continue;
            }
            let pfn = dev.pool().pfn(b);
            let Some(folio) = dev.get_page(pfn) else {
                continue;
            };
            if folio.order() == 0 {
                inode.attach_folio(&folio, index);
            }
            vma.vm_insert_page(vma.start() + (i << PAGE_SHIFT), &folio, pfn)?;
            dev.pool().stats.mmap_inserts.inc();
            trace::fault(&folio, index, false);
        }
        Ok(())
    }

    pub(crate) fn fault(&self, dev: &Device, inode: &Inode, vmf: &VmFault) -> VmFaultResult {
        let index = vmf.pgoff();
        let mut map = self.map.lock();
        if index >= pages(inode.size()) {
            return VmFaultResult::SigBus;
        }
        // A PMD fault on the same window, serialised by `map`, mapped it since the core
        // chose the PTE path: nothing to do, the access is retried.
        if vmf.pmd_is_huge() {
            return VmFaultResult::NoPage;
        }
        // A hole gets a zeroed block, for reads too: every mapped page is a pmem page.
        if map.get(index).is_none() {
            let eof = pages(inode.size());
            match self.fill_holes_locked(dev, inode, &mut map, index, index + 1, eof) {
                Ok(()) => {}
                Err(e) if e == ENOMEM => return VmFaultResult::Oom,
                Err(_) => return VmFaultResult::SigBus,
            }
        }
        let Some(b) = map.get(index) else {
            return VmFaultResult::SigBus;
        };
        if dev.pool().is_poisoned(b) {
            return VmFaultResult::HwPoison;
        }
        let pfn = dev.pool().pfn(b);
        // Our reference keeps the refcount above zero across the insert, as fs/dax.c does.
        // The page may be one of a PMD-sized folio mapped elsewhere: then it is mapped as a
        // page of that folio.
        let Some(folio) = dev.get_page(pfn) else {
            return VmFaultResult::SigBus;
        };
        if folio.order() == 0 {
            // A split cleared the page's file; it is ours at `index` (we hold `map`).
            inode.attach_folio(&folio, index);
        }
        dev.pool().stats.pte_faults.inc();
        trace::fault(&folio, index, vmf.is_write());
        if vmf.is_write() && !vmf.is_shared() {
            // A private write: the core copies the page into an anonymous one.
            return vmf.set_cow_source(folio, pfn);
        }
        vmf.insert_page(&folio, pfn, vmf.is_write())
    }

    /// A fault that may map a PMD: maps the 2 MiB window around the address with one
    /// PMD-sized folio, or falls back to PTEs (see the module documentation).
    pub(crate) fn huge_fault(
        &self,
        dev: &Device,
        inode: &Inode,
        vmf: &VmFault,
        pte_only: bool,
    ) -> VmFaultResult {
        // Counted once per fault: under the per-VMA lock, a fallback is retried under the
        // mmap lock, and comes back here.
        let fallback = |reason: PmdFallback| {
            if !vmf.under_vma_lock() {
                dev.stats().pmd_fallback(reason);
                trace::pmd_fallback(vmf.pgoff(), reason as u32);
            }
            VmFaultResult::Fallback
        };
        if pte_only {
            return fallback(PmdFallback::PteOnly);
        }
        if vmf.is_write() && !vmf.is_shared() {
            return fallback(PmdFallback::PrivateWrite);
        }
        let pmd_size = LEAF << PAGE_SHIFT;
        let addr = vmf.address() & !(pmd_size - 1);
        let vma = vmf.vma_range();
        let index = vmf.file_page_at(addr);
        if addr < vma.start || vma.end - addr < pmd_size || index % LEAF != 0 {
            return fallback(PmdFallback::Misaligned);
        }
        let mut map = self.map.lock();
        let eof = pages(inode.size());
        if index + LEAF > eof {
            return fallback(PmdFallback::FileEnd);
        }
        match self.fill_holes_locked(dev, inode, &mut map, index, index + LEAF, eof) {
            Ok(()) => {}
            Err(e) if e == ENOMEM => return fallback(PmdFallback::NoMemory),
            // Not enough space for the window: the PTE fault maps what it can.
            Err(_) => return fallback(PmdFallback::ShortExtent),
        }
        let Some(first) = map.get(index) else {
            return fallback(PmdFallback::ShortExtent);
        };
        let pfn = dev.pool().pfn(first);
        let contiguous =
            pfn % LEAF == 0 && (1..LEAF).all(|i| map.get(index + i) == Some(first + i as u32));
        if !contiguous {
            return fallback(PmdFallback::ShortExtent);
        }
        if dev.pool().any_poisoned(first, LEAF) {
            return fallback(PmdFallback::Poisoned);
        }
        let folio = match dev.get_pmd_folio(pfn, PMD_ORDER) {
            Ok(folio) => {
                inode.attach_folio(&folio, index);
                folio
            }
            Err(e) if e == EBUSY => return fallback(PmdFallback::SubpagesMapped),
            Err(_) => return fallback(PmdFallback::ShortExtent),
        };
        dev.stats().pmd_faults.inc();
        trace::fault(&folio, index, vmf.is_write());
        // If the insert does not map it, dropping our reference frees (and splits) the folio.
        vmf.insert_folio_pmd(&folio, vmf.is_write())
    }

    pub(crate) fn evict(&self, dev: &Device, inode: &Inode) {
        self.drop_blocks(dev, inode, 0, usize::MAX);
    }
}
