// SPDX-License-Identifier: GPL-2.0

//! `FALLOC_FL_COLLAPSE_RANGE` and `FALLOC_FL_INSERT_RANGE`: pages of a file move, with their
//! blocks, by a whole number of pages.
//!
//! Both run as truncate does (ext4's and xfs's protocol): with the inode lock and the
//! invalidate lock held exclusively, every mapping from the first page that changes to the
//! end of the file is zapped first, so no fault maps a page while its block moves, and
//! mappings made afterwards see the new layout. What still references a page then is a pin,
//! a pipe or a free on its way.
//!
//! A block keeps its data when it moves: the map changes, the pmem does not. Its folio is
//! untied from the file (its `index` would be stale); the next fault ties it at its new
//! page. An idle compound (PMD) folio over moving pages is split first: its extent is broken
//! up. The one exception is a block whose page belongs to a compound folio still referenced
//! (pinned): such a folio is tied to one 2 MiB window and its blocks must stay at their
//! places in it, so the block's data is copied to a fresh block, which moves instead, and the
//! old block leaves the file (Busy until the notification, as on truncate). Those copies need
//! free blocks: without enough, `ENOSPC` and nothing changes (but the splits, which lose
//! nothing). Blocks of the collapsed pages leave the file the same way.
//!
//! Ext4 instead waits for pinned DAX pages before it moves anything
//! (`ext4_break_layouts()`); refdax never waits for a pin.

use super::{map::Shift, FileData, PAGE_SHIFT, PAGE_SIZE};
use crate::{
    abstractions::{fs::LockedInode, sched},
    blocks::BATCH,
    device::Device,
};
use kernel::prelude::*;

/// The [`Shift`] of page-aligned bytes `offset..offset + len`, up (insert) or down (collapse).
fn pages_of(offset: u64, len: u64, up: bool) -> Shift {
    Shift {
        at: (offset >> PAGE_SHIFT) as usize,
        n: (len >> PAGE_SHIFT) as usize,
        up,
    }
}

impl FileData {
    /// `FALLOC_FL_COLLAPSE_RANGE`: bytes `offset..offset + len` leave the file and the bytes
    /// above move down over them; the size shrinks by `len`. `EINVAL` unless both are
    /// multiples of the page size and the range ends below the end of the file (the VFS has
    /// refused `KEEP_SIZE` with it).
    pub(crate) fn collapse_range(
        &self,
        dev: &Device,
        inode: &LockedInode<'_>,
        offset: u64,
        len: u64,
    ) -> Result {
        let size = inode.size();
        let end = offset.checked_add(len).ok_or(EINVAL)?;
        if (offset | len) % PAGE_SIZE != 0 || end >= size {
            return Err(EINVAL);
        }
        self.shift(dev, inode, pages_of(offset, len, false), size - len)
    }

    /// `FALLOC_FL_INSERT_RANGE`: a hole of `len` bytes appears at `offset`, the bytes from
    /// there on move up; the size grows by `len`. `EINVAL` unless both are multiples of the
    /// page size and `offset` is below the end of the file, then `EFBIG` if the new size
    /// passes the file system's limit (ext4's checks, in its order).
    pub(crate) fn insert_range(
        &self,
        dev: &Device,
        inode: &LockedInode<'_>,
        offset: u64,
        len: u64,
    ) -> Result {
        let size = inode.size();
        if (offset | len) % PAGE_SIZE != 0 || offset >= size {
            return Err(EINVAL);
        }
        let new_size = size
            .checked_add(len)
            .filter(|&s| s <= inode.max_bytes())
            .ok_or(EFBIG)?;
        self.shift(dev, inode, pages_of(offset, len, true), new_size)
    }

    fn shift(&self, dev: &Device, inode: &LockedInode<'_>, shift: Shift, new_size: u64) -> Result {
        let invalidate = inode.invalidate_lock();
        let (zap, _) = self.zap_range(dev, shift.at, usize::MAX);
        invalidate.unmap_range(zap as u64 * PAGE_SIZE, 0);
        let mut map = self.map.lock();

        // The moving blocks of referenced compound folios, and fresh blocks to copy them to.
        // Nothing can reference a page anew meanwhile (no fault runs, nothing is mapped), so
        // a folio seen order-0 here, or split here, stays so.
        let mut compound = KVVec::new();
        let mut failed = Ok(());
        map.for_each(shift.first_moved(), usize::MAX, |index, b| {
            let pfn = dev.pool().pfn(b);
            dev.pool().split_idle(dev.pagemap(), pfn);
            let in_compound = dev.pagemap().folio(pfn).is_some_and(|f| f.order() > 0);
            if in_compound {
                // A failed page cannot be copied, and cannot move either: its folio stays
                // tied to its window. The operation fails (nothing has changed but the splits
                // above, which lose nothing).
                failed = if dev.pool().is_poisoned(b) {
                    Err(EIO)
                } else {
                    compound.push((index, b), GFP_KERNEL).map_err(Error::from)
                };
            }
            failed.is_ok()
        });
        failed?;
        let mut fresh = KVVec::new();
        dev.pool().alloc(compound.len(), inode.ino(), &mut fresh)?;
        for (&(_, old), &new) in compound.iter().zip(fresh.iter()) {
            let copied = dev
                .pagemap()
                .copy_page(dev.pool().pfn(new), dev.pool().pfn(old));
            if let Err(e) = copied {
                dev.pool().unalloc(&fresh);
                return Err(e);
            }
            sched::cond_resched();
        }

        // The new layout, built beside the old one so that ENOMEM changes nothing.
        let mut copies = compound.iter().zip(fresh.iter()).peekable();
        let shifted = map.shifted(shift, |index, b| match copies.peek() {
            Some(&(&(i, _), &new)) if i == index => {
                copies.next();
                new
            }
            _ => b,
        });
        let mut old = match shifted {
            Ok(new) => core::mem::replace(&mut *map, new),
            Err(e) => {
                dev.pool().unalloc(&fresh);
                return Err(e);
            }
        };

        // Moved blocks' folios no longer sit at their `index`: untie them (a fault ties them
        // again). The copies are fresh, untied pages.
        let mut heads = [0usize; BATCH];
        let mut n = 0;
        map.for_each(shift.first_dest(), usize::MAX, |_, b| {
            heads[n] = dev.pool().pfn(b);
            n += 1;
            if n == BATCH {
                dev.pagemap().untie_heads(&heads);
                n = 0;
                sched::cond_resched();
            }
            true
        });
        dev.pagemap().untie_heads(&heads[..n]);
        drop(map);

        // What leaves: the collapsed pages' blocks (from the old map, no longer the file's)
        // and the originals of the copies.
        let left = if shift.up {
            0
        } else {
            self.release_range(dev, shift.at, shift.first_moved(), |index, to, batch| {
                old.take_next(index, to, batch)
            })
        };
        for chunk in compound.chunks(BATCH) {
            let mut batch = [0u32; BATCH];
            for (slot, &(_, b)) in batch.iter_mut().zip(chunk) {
                *slot = b;
            }
            self.release(dev, &batch[..chunk.len()]);
        }
        invalidate.sub_blocks(left);
        inode.set_size(new_size);
        Ok(())
    }
}
