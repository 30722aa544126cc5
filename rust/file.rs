// SPDX-License-Identifier: GPL-2.0

//! refdax files: the map from file pages to blocks, and the data path over it.
//!
//! # Locking
//!
//! ```text
//!   i_rwsem -> [mmap_lock] -> invalidate_lock -> [fault lock] -> FileData::map
//!       FileData::map -> DevPagemap's build lock -> DevPagemap's refs
//!       FileData::map -> the pool's spinlock -> DevPagemap's refs
//! ```
//!
//! Faults run under the mmap lock (or the VMA lock) with the mapping's invalidate lock held
//! shared (the VFS layer takes it); truncate, punch-hole, a short write's clean-up
//! and eviction hold it exclusively around "zap the mappings, then take the blocks out"
//! ([`FileData::drop_blocks`] asks for the guard). So a fault never finds a page whose
//! block is leaving: it runs before the truncate (and its PTE is zapped) or after it (and
//! sees the new size, or a hole, which gets a fresh zeroed block). This is ext4's and xfs's
//! protocol.
//!
//! The fault lock (the abstraction's, held around every fault of the file, one per PMD)
//! serialises a file's faults on one PMD, PTE against PMD. `map` guards the block map: a PTE
//! fault holds it to look its block up (or allocate it), a PMD fault until it has mapped its
//! folio; the invalidate lock, held shared, keeps the block in the file afterwards. Nobody
//! holds `map` while copying from or to user memory (the user buffer may be a mapping of the same
//! file, whose fault takes `map`): the read and write paths look blocks up under `map`, drop
//! it and copy. That is safe because blocks only leave a file with the inode lock held
//! exclusively, which read and write hold too.
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

mod fault;
mod map;
mod shift;

use crate::{
    abstractions::fs::{Extent, Inode, InvalidateGuard, LockedInode},
    abstractions::{
        iov::{IovIterDest, IovIterSource, ZeroFill},
        sched,
    },
    blocks::BATCH,
    device::Device,
};
use kernel::{new_mutex, prelude::*, sync::Mutex};
use map::{BlockMap, Taken, LEAF};

const PAGE_SIZE: u64 = 4096;
const PAGE_SHIFT: u32 = 12;

/// Per-file state (`inode->i_private`).
#[pin_data]
pub(crate) struct FileData {
    #[pin]
    map: Mutex<BlockMap>,
}

/// Runs `copy(pfn, offset, len)` over `len` bytes at `offset` in the run of consecutive
/// blocks from `b` and returns what it copied: in one call, unless a page of the run has
/// failed (memory failure): then page by page up to that page, and `poisoned` is set. A
/// failed page reads and writes as an error (`EIO`), never as data.
fn copy_blocks(
    dev: &Device,
    b: u32,
    offset: usize,
    len: usize,
    poisoned: &mut bool,
    mut copy: impl FnMut(usize, usize, usize) -> usize,
) -> usize {
    let page = PAGE_SIZE as usize;
    if !dev.pool().any_poisoned(b, (offset + len).div_ceil(page)) {
        return copy(dev.pool().pfn(b), offset, len);
    }
    let (mut done, mut offset, mut block) = (0, offset, b);
    while done < len {
        if dev.pool().is_poisoned(block) {
            *poisoned = true;
            break;
        }
        let n = (len - done).min(page - offset);
        let copied = copy(dev.pool().pfn(block), offset, n);
        done += copied;
        if copied < n {
            break;
        }
        offset = 0;
        block += 1;
    }
    done
}

fn pages(bytes: u64) -> usize {
    bytes.div_ceil(PAGE_SIZE) as usize
}

impl FileData {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            map <- new_mutex!(BlockMap::new()),
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
        // Before any work: a request far beyond the pool (`fallocate -l 1T`) fails at once.
        let available = dev.pool().counts().0;
        let n = map.count_holes(from, to, available);
        if n == 0 {
            return Ok(());
        }
        if n > available {
            return Err(ENOSPC);
        }
        // Extents first: (window, first block) for each empty window below `eof` that
        // `from..to` touches, as long as the pool has aligned runs.
        let mut extents = KVec::new();
        let mut covered = 0;
        let mut w = from / LEAF * LEAF;
        while w < to && w + LEAF <= eof {
            if map.count_holes(w, w + LEAF, LEAF) == LEAF {
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
            sched::cond_resched();
        }
        let mut blocks = KVVec::new();
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
                self.attach_new(dev, map, w + i, b + i as u32);
            }
            sched::cond_resched();
        }
        let mut next = blocks.iter();
        for index in from..to {
            if index % LEAF == 0 {
                sched::cond_resched();
            }
            if map.get(index).is_some() {
                continue;
            }
            let Some(&b) = next.next() else { break };
            self.attach_new(dev, map, index, b);
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

    /// Zeroes new block `b` and puts it at file page `index` (a hole with a leaf). Its folio
    /// is tied to the file when a fault maps it.
    fn attach_new(&self, dev: &Device, map: &mut BlockMap, index: usize, b: u32) {
        dev.pagemap().zero(dev.pool().pfn(b), 0, PAGE_SIZE as usize);
        // `prepare` made the leaf: cannot fail.
        map.set(index, b);
    }

    /// Takes pages `from..to` out of the file and hands their blocks back (see
    /// [`crate::blocks`]): free now, or Busy until their folio-free notification.
    ///
    /// The caller has zapped every mapping of those pages under the same invalidate lock, so
    /// no fault maps them again meanwhile; what still references a page now is a pin, a pipe
    /// or a free on its way. Works a batch at a time, rescheduling between batches.
    fn drop_blocks(&self, dev: &Device, inode: &InvalidateGuard<'_>, from: usize, to: usize) {
        let dropped = self.release_range(dev, from, to, |index, to, batch| {
            self.map.lock().take_next(index, to, batch)
        });
        inode.sub_blocks(dropped);
    }

    /// The pages to zap before pages `from..to` leave the file (`to` may be `usize::MAX`):
    /// those, widened to the whole 2 MiB window at either end when the first or last leaving
    /// page is a page of a PMD-sized folio, as `fs/dax.c` drops a whole PMD entry. A mapping
    /// of the folio's other pages would keep it referenced, and the leaving blocks Busy, for
    /// as long as it lives; zapped, those pages just refault (as pages of their own once the
    /// folio is split), and only a pin keeps the folio (with mappings made after it while it
    /// is pinned: see the limits in `Documentation/refdax.rst`). Under the invalidate lock,
    /// held exclusively by the caller.
    fn zap_range(&self, dev: &Device, from: usize, to: usize) -> (usize, usize) {
        let map = self.map.lock();
        // The leaving page's own folio: a window whose first page already left may still be
        // one folio (pinned), mapped by PTEs of its other pages.
        let compound = |index: usize| {
            map.get(index)
                .and_then(|b| dev.pagemap().folio(dev.pool().pfn(b)))
                .is_some_and(|f| f.order() > 0)
        };
        let lo = from / LEAF * LEAF;
        let start = if lo < from && compound(from) {
            lo
        } else {
            from
        };
        let hi = to / LEAF * LEAF;
        let end = if to % LEAF != 0 && to < usize::MAX - LEAF && compound(to - 1) {
            hi + LEAF
        } else {
            to
        };
        (start, end)
    }

    /// Releases (see [`FileData::release`]) the blocks of pages `from..to` that `take` takes
    /// out of a block map, a whole extent or a batch at a time ([`BlockMap::take_next`]'s
    /// contract), with no map lock held across a release; returns how many. Reschedules
    /// between batches.
    fn release_range(
        &self,
        dev: &Device,
        from: usize,
        to: usize,
        mut take: impl FnMut(usize, usize, &mut [u32]) -> (Taken, usize),
    ) -> usize {
        let mut batch = [0u32; BATCH];
        let mut index = from;
        let mut released = 0;
        while index < to {
            let (taken, next) = take(index, to, &mut batch);
            index = next;
            match taken {
                Taken::Extent(first) => {
                    self.release_extent(dev, first);
                    released += LEAF;
                }
                // A leaf with no blocks: nothing to release.
                Taken::Batch(0) => continue,
                Taken::Batch(n) => {
                    self.release(dev, &batch[..n]);
                    released += n;
                }
            }
            sched::cond_resched();
        }
        released
    }

    /// Hands back a whole extent that has just left the file: in one step if its pages are
    /// one PMD-sized folio ([`crate::blocks::Pool::release_extent`]), else a batch at a time.
    fn release_extent(&self, dev: &Device, first: u32) {
        let busy = match dev.pool().release_extent(dev.pagemap(), first) {
            Some(busy) => busy,
            None => {
                let mut batch = [0u32; BATCH];
                for start in (0..LEAF).step_by(BATCH) {
                    for (i, slot) in batch.iter_mut().enumerate() {
                        *slot = first + (start + i) as u32;
                    }
                    self.release(dev, &batch);
                    sched::cond_resched();
                }
                return;
            }
        };
        if busy > 0 {
            dev.pagemap().kick_reaper();
        }
    }

    /// Hands back `taken` (at most [`BATCH`] blocks that have just left the file): each is
    /// free now, or Busy until its folio-free notification. A page of its own leaves with its
    /// block; a compound folio stays tied to the file while any of its blocks is still there
    /// (memory failure finds the mappings through it), and leaves with the last.
    fn release(&self, dev: &Device, taken: &[u32]) {
        let mut gone = [0usize; BATCH];
        let n = self.compound_gone(dev, taken, &mut gone);
        let busy = dev.pool().release(dev.pagemap(), taken, &gone[..n]);
        if busy > 0 {
            // On a kernel without the notification the reaper must wait for them.
            dev.pagemap().kick_reaper();
        }
    }

    /// Puts in `gone` the first page of each compound folio that blocks of `taken` belong to
    /// and that has none of its blocks left in the file; returns how many. A compound
    /// folio's blocks only ever sit at their places in its window (moves copy them: see
    /// `shift`). A snapshot: a folio split meanwhile is pages of their own, each untied with
    /// its block.
    fn compound_gone(&self, dev: &Device, taken: &[u32], gone: &mut [usize; BATCH]) -> usize {
        let mut seen = [0usize; BATCH];
        let (mut nseen, mut n) = (0, 0);
        for &b in taken.iter().take(BATCH) {
            let Some(folio) = dev
                .pagemap()
                .folio(dev.pool().pfn(b))
                .filter(|f| f.order() > 0)
            else {
                continue;
            };
            if seen[..nseen].contains(&folio.pfn()) {
                continue;
            }
            seen[nseen] = folio.pfn();
            nseen += 1;
            let Some(head) = dev.pool().block_of(folio.pfn()) else {
                continue;
            };
            let window = folio.index();
            let map = self.map.lock();
            if (0..folio.nr_pages())
                .all(|i| map.get(window.saturating_add(i)) != Some(head as u32 + i as u32))
            {
                gone[n] = folio.pfn();
                n += 1;
            }
        }
        n
    }

    /// Zeroes page `index`'s bytes from `offset` to `end` if the page has a block (and its
    /// page has not failed: it is never touched again).
    fn zero_in_page(&self, dev: &Device, index: usize, offset: usize, end: usize) {
        if offset >= end {
            return;
        }
        if let Some(b) = self.map.lock().get(index) {
            if !dev.pool().is_poisoned(b) {
                dev.pagemap().zero(dev.pool().pfn(b), offset, end - offset);
            }
        }
    }

    /// Zeroes the last page of a file of `size` bytes beyond `size`: a store through a
    /// mapping may have left bytes there, which must read as zeros once the file grows over
    /// them (or after it shrinks to `size`), as in ext4 and xfs.
    fn zero_eof_page(&self, dev: &Device, size: u64) {
        let offset = (size % PAGE_SIZE) as usize;
        if offset != 0 {
            self.zero_in_page(
                dev,
                (size >> PAGE_SHIFT) as usize,
                offset,
                PAGE_SIZE as usize,
            );
        }
    }

    pub(crate) fn read(
        &self,
        dev: &Device,
        inode: &Inode,
        pos: u64,
        iter: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        let size = inode.size();
        if pos >= size {
            return Ok(0);
        }
        let end = size.min(pos.saturating_add(iter.len() as u64));
        let mut poisoned = false;
        let done = self.copy_pages(pos, end, |block, offset, n| match block {
            Some(b) => copy_blocks(dev, b, offset, n, &mut poisoned, |pfn, offset, n| {
                dev.pagemap().copy_to_iter(pfn, offset, n, iter)
            }),
            None => iter.zero(n),
        });
        if done == 0 {
            return Err(if poisoned { EIO } else { EFAULT });
        }
        Ok(done)
    }

    /// Walks `pos..end`, handing `copy` each run of consecutive blocks (its first block), or
    /// each hole page (`None`), with the offset in its first page and the length; stops at
    /// the first short copy. Returns the bytes copied. The map lock is held to look up 16
    /// pages at a time, never across `copy`; a run is at most those 16 pages.
    fn copy_pages(
        &self,
        pos: u64,
        end: u64,
        mut copy: impl FnMut(Option<u32>, usize, usize) -> usize,
    ) -> usize {
        const LOOKUP: usize = 16;
        let mut at = pos;
        while at < end {
            let first = (at >> PAGE_SHIFT) as usize;
            let n = (pages(end) - first).min(LOOKUP);
            let mut blocks = [None; LOOKUP];
            {
                // The blocks cannot leave the file: the caller holds the inode lock.
                let map = self.map.lock();
                for (i, slot) in blocks[..n].iter_mut().enumerate() {
                    *slot = map.get(first + i);
                }
            }
            let mut i = 0;
            while i < n {
                // A run of consecutive blocks is one copy (one run of the linear map).
                let mut j = i + 1;
                if let Some(b) = blocks[i] {
                    while j < n
                        && b.checked_add((j - i) as u32)
                            .is_some_and(|c| blocks[j] == Some(c))
                    {
                        j += 1;
                    }
                }
                let offset = (at % PAGE_SIZE) as usize;
                let len = (((first + j) as u64 * PAGE_SIZE).min(end) - at) as usize;
                let copied = copy(blocks[i], offset, len);
                at += copied as u64;
                if copied < len {
                    return (at - pos) as usize;
                }
                i = j;
            }
        }
        (at - pos) as usize
    }

    pub(crate) fn write(
        &self,
        dev: &Device,
        inode: &LockedInode<'_>,
        pos: u64,
        iter: &mut IovIterSource<'_>,
    ) -> Result<usize> {
        let count = iter.len() as u64;
        let end = pos.checked_add(count).ok_or(EFBIG)?;
        let old = inode.size();
        // All blocks first, so that ENOSPC writes nothing.
        let eof = pages(end.max(old));
        self.fill_holes(dev, inode, (pos >> PAGE_SHIFT) as usize, pages(end), eof)?;
        if end > old {
            // Before the copy, which may cover part of it.
            self.zero_eof_page(dev, old);
        }
        // `fill_holes` gave every page a block; a hole here would be a bug: stop there.
        let mut poisoned = false;
        let done = self.copy_pages(pos, end, |block, offset, n| match block {
            Some(b) => copy_blocks(dev, b, offset, n, &mut poisoned, |pfn, offset, n| {
                dev.pagemap().copy_from_iter(pfn, offset, n, iter)
            }),
            None => 0,
        });
        // A write that copied nothing leaves the size alone, also past EOF.
        let size = if done > 0 {
            old.max(pos + done as u64)
        } else {
            old
        };
        if size > old {
            inode.set_size(size);
        }
        if end > size {
            // A short write: the blocks it took past the new EOF go again, so that their
            // partly copied bytes never show. (Nothing maps pages past EOF.)
            let invalidate = inode.invalidate_lock();
            self.drop_blocks(dev, &invalidate, pages(size), pages(end));
        }
        if done == 0 && count > 0 {
            return Err(if poisoned { EIO } else { EFAULT });
        }
        Ok(done)
    }

    pub(crate) fn set_size(&self, dev: &Device, inode: &LockedInode<'_>, size: u64) -> Result {
        let old = inode.size();
        if size >= old {
            self.zero_eof_page(dev, old);
            inode.set_size(size);
            return Ok(());
        }
        // No fault maps a page of the file until the blocks are gone: one that ran before
        // sees the new size below, or has its PTE zapped here.
        let invalidate = inode.invalidate_lock();
        inode.set_size(size);
        let first = pages(size);
        let (zap, _) = self.zap_range(dev, first, usize::MAX);
        invalidate.unmap_range(zap as u64 * PAGE_SIZE, 0);
        self.zero_eof_page(dev, size);
        // Zapped: only pins, pipes and frees on their way still hold pages; their blocks
        // become Busy and are released by the notification.
        self.drop_blocks(dev, &invalidate, first, usize::MAX);
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
        let old = inode.size();
        if !keep_size && end > old {
            self.zero_eof_page(dev, old);
            inode.set_size(end);
        }
        Ok(())
    }

    /// `FALLOC_FL_ZERO_RANGE`: bytes `offset..offset + len` read as zeros afterwards and have
    /// blocks (holes get zeroed ones, all or nothing: `ENOSPC` changes nothing); the size
    /// grows to the end unless `keep_size`. The blocks stay where they are, so mappings of
    /// the range see the zeros at once, as ext4's DAX zero range shows them after its unmap.
    pub(crate) fn zero_range(
        &self,
        dev: &Device,
        inode: &LockedInode<'_>,
        offset: u64,
        len: u64,
        keep_size: bool,
    ) -> Result {
        let end = offset.checked_add(len).ok_or(EFBIG)?;
        // Holes get zeroed blocks, the size grows as for an allocation.
        self.allocate(dev, inode, offset, len, keep_size)?;
        // Blocks only leave the file under the inode lock, which we hold: zero them in place.
        for index in (offset >> PAGE_SHIFT) as usize..pages(end) {
            let from = (index as u64) << PAGE_SHIFT;
            let start = offset.max(from) - from;
            let stop = end.min(from + PAGE_SIZE) - from;
            self.zero_in_page(dev, index, start as usize, stop as usize);
            if index % LEAF == 0 {
                sched::cond_resched();
            }
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
        let invalidate = inode.invalidate_lock();
        // Partial pages at either edge keep their block (and their mappings) and get zeros.
        let zero_range = |from: u64, to: u64| {
            if from < to {
                let offset = (from % PAGE_SIZE) as usize;
                let index = (from >> PAGE_SHIFT) as usize;
                self.zero_in_page(dev, index, offset, offset + (to - from) as usize);
            }
        };
        if first_full > end_full {
            zero_range(offset, end);
            return Ok(());
        }
        zero_range(offset, (first_full as u64 * PAGE_SIZE).min(end));
        zero_range((end_full as u64 * PAGE_SIZE).max(offset), end);
        if end_full > first_full {
            let (from, to) = self.zap_range(dev, first_full, end_full);
            invalidate.unmap_range(from as u64 * PAGE_SIZE, (to - from) as u64 * PAGE_SIZE);
            self.drop_blocks(dev, &invalidate, first_full, end_full);
        }
        Ok(())
    }

    /// `SEEK_DATA` (`hole` false) or `SEEK_HOLE` from byte `from`: the first byte at or after
    /// it in a page with a block, or in one without (the end of the file counts as a hole).
    /// `ENXIO` at or past the end, or for data when none follows.
    pub(crate) fn seek(&self, inode: &Inode, from: u64, hole: bool) -> Result<u64> {
        let size = inode.size();
        if from >= size {
            return Err(ENXIO);
        }
        let found = self
            .map
            .lock()
            .find((from >> PAGE_SHIFT) as usize, pages(size), !hole);
        match found {
            Some(page) => Ok(((page as u64) << PAGE_SHIFT).max(from).min(size)),
            None if hole => Ok(size),
            None => Err(ENXIO),
        }
    }

    /// The file's bytes `start..end` (clamped to its size) that have blocks, as runs of
    /// physically contiguous pmem, to `emit` in file order until it returns `false` (see
    /// `FileSystem::fiemap`). The map lock is held to find a few runs at a time, never across
    /// `emit`; blocks cannot leave meanwhile (the caller holds the inode lock shared).
    pub(crate) fn fiemap(
        &self,
        dev: &Device,
        inode: &Inode,
        start: u64,
        end: u64,
        emit: &mut dyn FnMut(Extent) -> Result<bool>,
    ) -> Result {
        const RUNS: usize = 16;
        let last = pages(end.min(inode.size()));
        let mut index = (start >> PAGE_SHIFT) as usize;
        while index < last {
            let mut runs = [(0usize, 0u32, 0usize); RUNS];
            let mut n = 0;
            {
                let map = self.map.lock();
                while n < RUNS {
                    let Some(first) = map.find(index, last, true) else {
                        index = last;
                        break;
                    };
                    let Some(block) = map.get(first) else { break };
                    let mut len = 1;
                    while first + len < last && map.get(first + len) == Some(block + len as u32) {
                        len += 1;
                    }
                    runs[n] = (first, block, len);
                    n += 1;
                    index = first + len;
                }
            }
            for &(page, block, len) in &runs[..n] {
                let extent = Extent {
                    logical: (page as u64) << PAGE_SHIFT,
                    physical: (dev.pool().pfn(block) as u64) << PAGE_SHIFT,
                    len: (len as u64) << PAGE_SHIFT,
                };
                if !emit(extent)? {
                    return Ok(());
                }
            }
            sched::cond_resched();
        }
        Ok(())
    }

    pub(crate) fn evict(&self, dev: &Device, inode: &InvalidateGuard<'_>) {
        self.drop_blocks(dev, inode, 0, usize::MAX);
    }
}
