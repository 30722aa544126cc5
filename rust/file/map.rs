// SPDX-License-Identifier: GPL-2.0

//! The block map of a file: file page index -> block. Pure data, no locking: the file's
//! map lock guards it (see [`super::FileData`]).

use crate::{abstractions::sched, blocks::EXTENT};
use kernel::prelude::*;

/// File pages per leaf of the block map: one leaf maps 2 MiB of file, one extent.
pub(crate) const LEAF: usize = EXTENT;
const HOLE: u32 = u32::MAX;

/// How [`BlockMap::shifted`] moves pages: `FALLOC_FL_COLLAPSE_RANGE` takes pages
/// `at..at + n` out and moves the pages above down by `n`; `FALLOC_FL_INSERT_RANGE` moves the
/// pages from `at` on up by `n`, leaving holes at `at..at + n`. Pages below `at` stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shift {
    pub(crate) at: usize,
    pub(crate) n: usize,
    pub(crate) up: bool,
}

impl Shift {
    /// Where page `index` goes, `None` if it leaves the file. An insert moves pages by at
    /// most the file size limit (1 TiB): it cannot overflow (saturates, never leaves).
    pub(crate) fn dest(&self, index: usize) -> Option<usize> {
        if index < self.at {
            Some(index)
        } else if self.up {
            Some(index.saturating_add(self.n))
        } else if index - self.at < self.n {
            None
        } else {
            Some(index - self.n)
        }
    }

    /// The first page that moves (every page from it on does).
    pub(crate) fn first_moved(&self) -> usize {
        if self.up {
            self.at
        } else {
            self.at.saturating_add(self.n)
        }
    }

    /// Where the first page that moves lands.
    pub(crate) fn first_dest(&self) -> usize {
        if self.up {
            self.at.saturating_add(self.n)
        } else {
            self.at
        }
    }
}

/// What [`BlockMap::take_next`] took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Taken {
    /// A whole extent: [`LEAF`] consecutive blocks from this one.
    Extent(u32),
    /// This many blocks, in the caller's buffer (0 for a stretch of holes).
    Batch(usize),
}

/// The blocks of 2 MiB of file.
pub(super) struct Leaf([u32; LEAF]);

/// File page index -> block, two levels so that sparse files cost little.
pub(super) struct BlockMap {
    leaves: KVVec<Option<KBox<Leaf>>>,
}

impl BlockMap {
    /// An empty map: every page a hole.
    pub(super) fn new() -> Self {
        Self {
            leaves: KVVec::new(),
        }
    }
}

impl BlockMap {
    pub(super) fn get(&self, index: usize) -> Option<u32> {
        let leaf = self.leaves.get(index / LEAF)?.as_ref()?;
        Some(leaf.0[index % LEAF]).filter(|&b| b != HOLE)
    }

    /// Makes sure pages `from..to` have leaves, so that [`BlockMap::set`] cannot fail there.
    pub(super) fn prepare(&mut self, from: usize, to: usize) -> Result {
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
    pub(super) fn set(&mut self, index: usize, block: u32) -> bool {
        match self.leaves.get_mut(index / LEAF) {
            Some(Some(leaf)) => {
                leaf.0[index % LEAF] = block;
                true
            }
            _ => false,
        }
    }

    /// Removes up to `out.len()` blocks of pages `from..to`, all from the leaf of page
    /// `from`, into `out`. Returns how many it took and the page to go on from (`to` when
    /// done).
    pub(super) fn take_batch(&mut self, from: usize, to: usize, out: &mut [u32]) -> (usize, usize) {
        let mapped_end = to.min(self.leaves.len() * LEAF);
        if from >= mapped_end {
            // Nothing left to take up to `to` (which may be `usize::MAX`).
            return (0, to);
        }
        let li = from / LEAF;
        let leaf_end = ((li + 1) * LEAF).min(mapped_end);
        let Some(leaf) = &mut self.leaves[li] else {
            return (0, leaf_end);
        };
        let mut n = 0;
        let mut index = from;
        while index < leaf_end && n < out.len() {
            let b = core::mem::replace(&mut leaf.0[index % LEAF], HOLE);
            if b != HOLE {
                out[n] = b;
                n += 1;
            }
            index += 1;
        }
        if leaf.0.iter().all(|&b| b == HOLE) {
            self.leaves[li] = None;
        }
        (n, index)
    }

    /// Takes what comes next from `from` on, up to `to`: a whole extent if there is one
    /// ([`BlockMap::take_extent`]), else a batch ([`BlockMap::take_batch`]). Returns it and
    /// where to go on from.
    pub(super) fn take_next(&mut self, from: usize, to: usize, out: &mut [u32]) -> (Taken, usize) {
        if let Some(first) = self.take_extent(from, to) {
            return (Taken::Extent(first), from + LEAF);
        }
        let (n, next) = self.take_batch(from, to, out);
        (Taken::Batch(n), next)
    }

    /// Takes the whole leaf at `from` if `from..to` covers it and it maps one run of
    /// consecutive blocks (an extent, as [`super::FileData`] allocates them): returns its
    /// first block, the leaf is gone. `None` (nothing taken) otherwise.
    pub(super) fn take_extent(&mut self, from: usize, to: usize) -> Option<u32> {
        if from % LEAF != 0 || to.saturating_sub(from) < LEAF {
            return None;
        }
        let slot = self.leaves.get_mut(from / LEAF)?;
        let blocks = &slot.as_ref()?.0;
        let first = blocks[0];
        let run = first != HOLE
            && first
                .checked_add(LEAF as u32 - 1)
                .is_some_and(|last| last != HOLE)
            && blocks.iter().zip(first..).all(|(&b, want)| b == want);
        if !run {
            return None;
        }
        *slot = None;
        Some(first)
    }

    /// The first page among `from..to` that has a block (`data`) or has none (`!data`).
    /// Pages past the last leaf are holes, so an unbounded `to` ends at once there.
    pub(super) fn find(&self, from: usize, to: usize, data: bool) -> Option<usize> {
        let mut index = from;
        while index < to {
            let li = index / LEAF;
            if li >= self.leaves.len() {
                // Nothing mapped from here on: all holes.
                return (!data).then_some(index);
            }
            let leaf_end = ((li + 1) * LEAF).min(to);
            match &self.leaves[li] {
                Some(leaf) => {
                    if let Some(i) = (index..leaf_end).find(|&i| (leaf.0[i % LEAF] != HOLE) == data)
                    {
                        return Some(i);
                    }
                }
                None if !data => return Some(index),
                None => {}
            }
            index = leaf_end;
            if index % (LEAF * LEAF) == 0 {
                sched::cond_resched();
            }
        }
        None
    }

    /// Calls `f` with each page that has a block among `from..to`, and the block, in page
    /// order; stops when `f` returns false.
    pub(super) fn for_each(&self, from: usize, to: usize, mut f: impl FnMut(usize, u32) -> bool) {
        let end = to.min(self.leaves.len() * LEAF);
        let mut index = from;
        while index < end {
            let li = index / LEAF;
            let leaf_end = ((li + 1) * LEAF).min(end);
            if let Some(leaf) = &self.leaves[li] {
                for i in index..leaf_end {
                    let b = leaf.0[i % LEAF];
                    if b != HOLE && !f(i, b) {
                        return;
                    }
                }
            }
            index = leaf_end;
            if index % (LEAF * LEAF) == 0 {
                sched::cond_resched();
            }
        }
    }

    /// A new map with this one's blocks moved as `shift` says, each page's block passed
    /// through `swap(page, block)` (which may give another block for it: a copy); pages
    /// leaving the file are left out. `ENOMEM` (or `EFBIG` for a page past the last index)
    /// leaves nothing changed: this map is untouched either way.
    pub(super) fn shifted(
        &self,
        shift: Shift,
        mut swap: impl FnMut(usize, u32) -> u32,
    ) -> Result<BlockMap> {
        let mut new = BlockMap::new();
        let mut failed = Ok(());
        self.for_each(0, usize::MAX, |index, b| {
            let Some(dest) = shift.dest(index) else {
                return true;
            };
            // Past every page a file can have: never with a size limit of 1 TiB.
            let Some(end) = dest.checked_add(1) else {
                failed = Err(EFBIG);
                return false;
            };
            failed = new.prepare(dest, end);
            if failed.is_ok() {
                new.set(dest, swap(index, b));
            }
            failed.is_ok()
        });
        failed.map(|()| new)
    }

    /// The holes among pages `from..to`, counted up to a little past `limit`.
    pub(super) fn count_holes(&self, from: usize, to: usize, limit: usize) -> usize {
        let mut holes = 0;
        let mut index = from;
        while index < to && holes <= limit {
            if index % (LEAF * LEAF) == 0 {
                sched::cond_resched();
            }
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

// The kernel's `#[kunit_tests]` expands to `unsafe` registration code.
#[allow(unsafe_code)]
#[kunit_tests(refdax_block_map)]
mod tests {
    use super::*;

    fn map_with(blocks: &[(usize, u32)]) -> Result<BlockMap> {
        let mut map = BlockMap::new();
        for &(index, b) in blocks {
            map.prepare(index, index + 1)?;
            assert!(map.set(index, b));
        }
        Ok(map)
    }

    #[test]
    fn holes_read_as_none() -> Result {
        let map = map_with(&[(3, 7), (LEAF + 1, 9)])?;
        assert_eq!(map.get(3), Some(7));
        assert_eq!(map.get(LEAF + 1), Some(9));
        assert_eq!(map.get(0), None);
        assert_eq!(map.get(4), None);
        // Far past any leaf: no allocation, no panic.
        assert_eq!(map.get(usize::MAX), None);
        Ok(())
    }

    #[test]
    fn set_needs_a_prepared_leaf() -> Result {
        let mut map = BlockMap::new();
        assert!(!map.set(5, 1));
        map.prepare(5, 6)?;
        assert!(map.set(5, 1));
        // `prepare` of an empty range makes nothing.
        map.prepare(3 * LEAF, 3 * LEAF)?;
        assert!(!map.set(3 * LEAF, 2));
        Ok(())
    }

    #[test]
    fn take_batch_stays_in_one_leaf_and_frees_it() -> Result {
        let mut map = map_with(&[(LEAF - 2, 1), (LEAF - 1, 2), (LEAF, 3)])?;
        let mut out = [0u32; 8];
        let (n, next) = map.take_batch(0, usize::MAX, &mut out);
        assert_eq!((n, next), (2, LEAF));
        assert_eq!(&out[..2], &[1, 2]);
        // The first leaf is gone; the second still maps page LEAF.
        assert_eq!(map.get(LEAF - 1), None);
        assert_eq!(map.get(LEAF), Some(3));
        let (n, next) = map.take_batch(next, usize::MAX, &mut out);
        assert_eq!((n, next, out[0]), (1, 2 * LEAF, 3));
        // Nothing mapped: done at once, even with an unbounded end.
        assert_eq!(map.take_batch(next, usize::MAX, &mut out), (0, usize::MAX));
        Ok(())
    }

    #[test]
    fn take_extent_takes_only_a_whole_run() -> Result {
        let mut run = KVec::new();
        for i in 0..LEAF {
            run.push((LEAF + i, 1000 + i as u32), GFP_KERNEL)?;
        }
        let mut map = map_with(&run)?;
        // Not from the leaf's start, or not to its end: nothing taken.
        assert_eq!(map.take_extent(LEAF + 1, 3 * LEAF), None);
        assert_eq!(map.take_extent(LEAF, 2 * LEAF - 1), None);
        // A leaf of holes.
        assert_eq!(map.take_extent(0, 2 * LEAF), None);
        assert_eq!(map.get(LEAF + 7), Some(1007));
        assert_eq!(map.take_extent(LEAF, 2 * LEAF), Some(1000));
        assert_eq!(map.get(LEAF + 7), None);
        assert_eq!(map.take_extent(LEAF, 2 * LEAF), None);
        // One block out of order, or a hole, and it is not a run.
        let mut map = map_with(&run)?;
        assert!(map.set(LEAF + 9, 5));
        assert_eq!(map.take_extent(LEAF, usize::MAX), None);
        assert_eq!(map.get(LEAF + 8), Some(1008));
        let (n, _) = map.take_batch(2 * LEAF - 1, 2 * LEAF, &mut [0u32; 1]);
        assert_eq!(n, 1);
        assert!(map.set(LEAF + 9, 1009));
        assert_eq!(map.take_extent(LEAF, usize::MAX), None);
        Ok(())
    }

    #[test]
    fn take_batch_is_bounded_by_out_and_to() -> Result {
        let blocks: KVec<(usize, u32)> = {
            let mut v = KVec::new();
            for i in 0..10 {
                v.push((i, 100 + i as u32), GFP_KERNEL)?;
            }
            v
        };
        let mut map = map_with(&blocks)?;
        let mut out = [0u32; 4];
        assert_eq!(map.take_batch(0, 10, &mut out), (4, 4));
        assert_eq!(out, [100, 101, 102, 103]);
        assert_eq!(map.take_batch(4, 6, &mut out), (2, 6));
        assert_eq!(map.get(6), Some(106));
        assert_eq!(map.count_holes(0, 10, 100), 6);
        Ok(())
    }

    #[test]
    fn find_walks_data_and_holes() -> Result {
        let map = map_with(&[(0, 1), (3, 2), (2 * LEAF + 7, 3)])?;
        assert_eq!(map.find(0, usize::MAX, true), Some(0));
        assert_eq!(map.find(0, usize::MAX, false), Some(1));
        assert_eq!(map.find(1, usize::MAX, true), Some(3));
        assert_eq!(map.find(4, usize::MAX, true), Some(2 * LEAF + 7));
        // A missing leaf is a hole; past the last leaf there is no data.
        assert_eq!(map.find(LEAF, usize::MAX, false), Some(LEAF));
        assert_eq!(map.find(2 * LEAF + 8, usize::MAX, true), None);
        assert_eq!(map.find(3 * LEAF, usize::MAX, false), Some(3 * LEAF));
        // Bounded by `to`.
        assert_eq!(map.find(4, 2 * LEAF + 7, true), None);
        assert_eq!(map.find(0, 1, false), None);
        Ok(())
    }

    #[test]
    fn shift_dest_collapse_and_insert() {
        let collapse = Shift {
            at: 10,
            n: 5,
            up: false,
        };
        assert_eq!(collapse.dest(9), Some(9));
        assert_eq!(collapse.dest(10), None);
        assert_eq!(collapse.dest(14), None);
        assert_eq!(collapse.dest(15), Some(10));
        assert_eq!((collapse.first_moved(), collapse.first_dest()), (15, 10));
        let insert = Shift {
            at: 10,
            n: 5,
            up: true,
        };
        assert_eq!(insert.dest(9), Some(9));
        assert_eq!(insert.dest(10), Some(15));
        assert_eq!((insert.first_moved(), insert.first_dest()), (10, 15));
        // No overflow, whatever the page.
        assert_eq!(insert.dest(usize::MAX), Some(usize::MAX));
    }

    #[test]
    fn shifted_moves_blocks_and_swaps_copies() -> Result {
        let map = map_with(&[(1, 1), (LEAF - 1, 2), (LEAF, 3), (3 * LEAF + 4, 4)])?;
        // Collapse pages 2..LEAF: page LEAF - 1's block leaves, the rest above moves down.
        let n = LEAF - 2;
        let down = map.shifted(
            Shift {
                at: 2,
                n,
                up: false,
            },
            |index, b| if index == LEAF { 30 } else { b },
        )?;
        assert_eq!(down.get(1), Some(1));
        assert_eq!(down.get(2), Some(30));
        assert_eq!(down.get(3 * LEAF + 4 - n), Some(4));
        assert_eq!(down.find(3, 3 * LEAF + 4 - n, true), None);
        // The old map is untouched.
        assert_eq!(map.get(LEAF - 1), Some(2));
        // Insert 2 * LEAF + 1 pages at page 1: everything from it moves up.
        let up = map.shifted(
            Shift {
                at: 1,
                n: 2 * LEAF + 1,
                up: true,
            },
            |_, b| b,
        )?;
        assert_eq!(up.find(0, 2 * LEAF + 2, true), None);
        assert_eq!(up.get(2 * LEAF + 2), Some(1));
        assert_eq!(up.get(3 * LEAF), Some(2));
        assert_eq!(up.get(5 * LEAF + 5), Some(4));
        let mut seen = 0;
        up.for_each(0, usize::MAX, |_, _| {
            seen += 1;
            true
        });
        assert_eq!(seen, 4);
        Ok(())
    }

    #[test]
    fn count_holes_stops_past_its_limit() -> Result {
        let map = map_with(&[(1, 1)])?;
        assert_eq!(map.count_holes(0, 4, 100), 3);
        // Unmapped leaves count whole, without being allocated.
        assert_eq!(map.count_holes(0, 4 * LEAF, usize::MAX), 4 * LEAF - 1);
        // A request far beyond any pool stops counting soon after the limit.
        let n = map.count_holes(0, usize::MAX / 2, 10);
        assert!(n > 10 && n <= 10 + LEAF);
        Ok(())
    }
}
