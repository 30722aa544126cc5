// SPDX-License-Identifier: GPL-2.0

//! The block map of a file: file page index -> block. Pure data, no locking: the file's
//! map lock guards it (see [`super::FileData`]).

use crate::{abstractions::sched, blocks::EXTENT};
use kernel::prelude::*;

/// File pages per leaf of the block map: one leaf maps 2 MiB of file, one extent.
pub(crate) const LEAF: usize = EXTENT;
const HOLE: u32 = u32::MAX;

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
