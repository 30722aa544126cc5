// SPDX-License-Identifier: GPL-2.0

//! The state of every block, and its transitions: pure data, no locking and no kernel
//! objects (the pool holds it under its lock and feeds it the folio facts it reads).
//!
//! ```text
//!   Free --take--> InFile --leave, folio idle--------------------------> Free
//!                  InFile --leave, folio referenced--> Busy --notified--> Free
//!   any state --poison--> never Free again: Free becomes quarantined at once, InFile and
//!                         Busy when they would have become Free
//! ```

use crate::abstractions::bitmap::LargeBitmap;
use kernel::prelude::*;

/// Blocks in an extent: the pages of a PMD-sized folio (2 MiB on x86-64).
pub(crate) const EXTENT: usize = 512;

/// What became of a block that left its file ([`BlockStates::leave`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Left {
    /// Free again (or quarantined, if its page failed).
    Released,
    /// Busy until its folio's free notification.
    Busy,
}

/// Every block's state. Blocks are `0..nblocks`; extents start at `first_extent` and every
/// [`EXTENT`] blocks after it.
pub(crate) struct BlockStates {
    nblocks: usize,
    first_extent: usize,
    /// Blocks that can be taken.
    free: LargeBitmap,
    /// Blocks waiting for their folio's free notification.
    busy: LargeBitmap,
    /// Blocks whose page failed (memory failure): never free again.
    poisoned: LargeBitmap,
    /// Set bits of `poisoned`.
    npoisoned: usize,
    /// Poisoned blocks in no file and not Busy: out of service.
    nquarantined: usize,
    /// Set bits of `free`.
    nfree: usize,
    /// Free blocks promised to allocations under way ([`BlockStates::reserve`]).
    reserved: usize,
    /// Set bits of `busy`.
    nbusy: usize,
    /// Where the next single-block search starts, so that allocation sweeps the range.
    next: usize,
    /// Where the next extent search starts (an extent's first block).
    next_extent: usize,
    /// The inode that holds (or last held) each block, for the trace events.
    owner: KVVec<u32>,
}

impl BlockStates {
    /// `nblocks` free blocks; the first extent starts at block `first_extent`. `EINVAL` if
    /// block numbers would not fit the `u32`s they are kept in.
    pub(crate) fn new(nblocks: usize, first_extent: usize) -> Result<Self> {
        if u32::try_from(nblocks).is_err() {
            return Err(EINVAL);
        }
        Ok(Self {
            nblocks,
            first_extent,
            free: LargeBitmap::new(nblocks, true)?,
            busy: LargeBitmap::new(nblocks, false)?,
            poisoned: LargeBitmap::new(nblocks, false)?,
            npoisoned: 0,
            nquarantined: 0,
            nfree: nblocks,
            reserved: 0,
            nbusy: 0,
            next: 0,
            next_extent: first_extent,
            owner: KVVec::from_elem(0, nblocks, GFP_KERNEL)?,
        })
    }

    /// Free blocks not promised to an allocation under way.
    pub(crate) fn available(&self) -> usize {
        self.nfree.saturating_sub(self.reserved)
    }

    /// Busy blocks.
    pub(crate) fn busy(&self) -> usize {
        self.nbusy
    }

    /// Poisoned blocks out of service.
    pub(crate) fn quarantined(&self) -> usize {
        self.nquarantined
    }

    /// The inode that holds, or last held, block `b`.
    pub(crate) fn owner(&self, b: usize) -> u32 {
        self.owner.get(b).copied().unwrap_or(0)
    }

    /// Promises `n` free blocks to an allocation, which then takes them one by one
    /// ([`BlockStates::take_reserved`]); `ENOSPC` if fewer are available.
    pub(crate) fn reserve(&mut self, n: usize) -> Result {
        if self.available() < n {
            return Err(ENOSPC);
        }
        self.reserved += n;
        Ok(())
    }

    /// Withdraws `n` blocks of a reservation that will not be taken.
    pub(crate) fn unreserve(&mut self, n: usize) {
        self.reserved = self.reserved.saturating_sub(n);
    }

    /// Takes one reserved free block for inode `ino`: Free -> InFile. `None` if none is free
    /// although one was reserved (a free block was poisoned since); the reservation is then
    /// still held.
    pub(crate) fn take_reserved(&mut self, ino: u32) -> Option<usize> {
        let b = self.free.find_set_from(self.next)?;
        self.free.clear(b);
        self.nfree -= 1;
        self.unreserve(1);
        self.owner[b] = ino;
        self.next = if b + 1 == self.nblocks { 0 } else { b + 1 };
        Some(b)
    }

    /// Takes an extent for inode `ino`: [`EXTENT`] free blocks from an extent boundary, all
    /// Free -> InFile; returns its first block, or `None` if no extent is wholly free.
    /// Searches round-robin from where the last one was found.
    pub(crate) fn take_extent(&mut self, ino: u32) -> Option<usize> {
        if self.available() < EXTENT {
            return None;
        }
        let count = self.nblocks.saturating_sub(self.first_extent) / EXTENT;
        let start = self.next_extent.saturating_sub(self.first_extent) / EXTENT;
        for i in 0..count {
            let b = self.first_extent + (start + i) % count * EXTENT;
            if !self.free.all_set(b, EXTENT) {
                continue;
            }
            for k in b..b + EXTENT {
                self.free.clear(k);
                self.owner[k] = ino;
            }
            self.nfree -= EXTENT;
            self.next_extent = b + EXTENT;
            return Some(b);
        }
        None
    }

    /// Block `b`, taken but never in a file (or out of it with its folio idle and order 0),
    /// is nobody's: InFile -> Free, or quarantined if its page failed.
    pub(crate) fn give_back(&mut self, b: usize) {
        if b >= self.nblocks {
            return;
        }
        if self.poisoned.test(b) {
            self.nquarantined += 1;
        } else {
            self.free.set(b);
            self.nfree += 1;
        }
    }

    /// Block `b` leaves its file; its page's folio has `refs` references and `order`. An idle
    /// page of its own is released now; otherwise the block is Busy until the folio's free
    /// notification: a referenced folio is still in use, and an idle compound folio has a
    /// notification on its way that will split it.
    pub(crate) fn leave(&mut self, b: usize, refs: i32, order: u32) -> Left {
        if refs == 0 && order == 0 {
            self.give_back(b);
            Left::Released
        } else {
            if !self.busy.test(b) {
                self.busy.set(b);
                self.nbusy += 1;
            }
            Left::Busy
        }
    }

    /// Blocks `first..first + n`, all in a file, leave it together with their folio idle and
    /// split (as [`BlockStates::leave`] with no references and order 0, for each): Free in
    /// one step. False, and nothing done, if one of them has failed (each must then leave on
    /// its own, to be quarantined) or the range runs past the end.
    pub(crate) fn leave_all_idle(&mut self, first: usize, n: usize) -> bool {
        if first.checked_add(n).is_none_or(|end| end > self.nblocks) || self.any_poisoned(first, n)
        {
            return false;
        }
        self.free.set_range(first, n);
        self.nfree += n;
        true
    }

    /// The folio over blocks `first..first + n` is idle (its free notification, or the reaper
    /// saw it idle): every Busy block of it is released (Busy -> Free). Blocks not Busy (still
    /// in a file, or already free) do not change: a notification that arrives before the
    /// block leaves its file changes nothing. Calls `released` with each released block and the
    /// inode that last held it.
    pub(crate) fn folio_idle(
        &mut self,
        first: usize,
        n: usize,
        mut released: impl FnMut(usize, u32),
    ) {
        // Every notification comes here, most with nothing Busy: no walk then.
        if self.nbusy == 0 {
            return;
        }
        for b in first..first.saturating_add(n).min(self.nblocks) {
            if self.busy.test(b) {
                self.busy.clear(b);
                self.nbusy -= 1;
                self.give_back(b);
                released(b, self.owner[b]);
            }
        }
    }

    /// The first Busy block at or after `from`, without wrapping around.
    pub(crate) fn next_busy(&self, from: usize) -> Option<usize> {
        if self.nbusy == 0 || from >= self.nblocks {
            return None;
        }
        self.busy.find_set_from(from).filter(|&b| b >= from)
    }

    /// Block `b`'s page failed: it is never free again. A free block is quarantined now; one
    /// in a file or Busy when it would have become free. False if it already was poisoned.
    pub(crate) fn poison(&mut self, b: usize) -> bool {
        if b >= self.nblocks || self.poisoned.test(b) {
            return false;
        }
        self.poisoned.set(b);
        self.npoisoned += 1;
        if self.free.test(b) {
            self.free.clear(b);
            self.nfree -= 1;
            self.nquarantined += 1;
        }
        true
    }

    /// Whether any of blocks `first..first + n` (those that exist) has failed.
    pub(crate) fn any_poisoned(&self, first: usize, n: usize) -> bool {
        self.npoisoned > 0
            && (first..first.saturating_add(n).min(self.nblocks)).any(|b| self.poisoned.test(b))
    }
}

// The kernel's `#[kunit_tests]` expands to `unsafe` registration code.
#[allow(unsafe_code)]
#[kunit_tests(refdax_block_states)]
mod tests {
    use super::*;

    impl BlockStates {
        fn is_busy(&self, b: usize) -> bool {
            self.busy.test(b)
        }

        fn is_free(&self, b: usize) -> bool {
            self.free.test(b)
        }
    }

    /// Two extents' worth of blocks plus a few, the first extent at block 8.
    fn states() -> Result<BlockStates> {
        BlockStates::new(8 + 2 * EXTENT + 4, 8)
    }

    fn take(s: &mut BlockStates, ino: u32) -> Result<usize> {
        s.reserve(1)?;
        s.take_reserved(ino).ok_or(ENOSPC)
    }

    #[test]
    fn free_to_in_file_and_back() -> Result {
        let mut s = states()?;
        let total = s.available();
        let b = take(&mut s, 7)?;
        assert!(!s.is_free(b));
        assert_eq!(s.owner(b), 7);
        assert_eq!(s.available(), total - 1);
        assert_eq!(s.leave(b, 0, 0), Left::Released);
        assert!(s.is_free(b) && !s.is_busy(b));
        assert_eq!(s.available(), total);
        Ok(())
    }

    #[test]
    fn referenced_block_is_busy_until_notified() -> Result {
        let mut s = states()?;
        let b = take(&mut s, 1)?;
        assert_eq!(s.leave(b, 2, 0), Left::Busy);
        assert!(s.is_busy(b) && !s.is_free(b));
        assert_eq!((s.busy(), s.next_busy(0)), (1, Some(b)));
        let mut released = KVec::new();
        s.folio_idle(b, 1, |k, ino| {
            assert_eq!(ino, 1);
            released.push(k, GFP_ATOMIC).unwrap_or(())
        });
        assert_eq!(&released[..], &[b]);
        assert!(s.is_free(b) && !s.is_busy(b));
        assert_eq!((s.busy(), s.next_busy(0)), (0, None));
        Ok(())
    }

    #[test]
    fn notification_before_leaving_changes_nothing() -> Result {
        let mut s = states()?;
        let b = take(&mut s, 1)?;
        // The last PTE goes (munmap) before the truncate: the block is still in its file.
        let mut n = 0;
        s.folio_idle(b, 1, |_, _| n += 1);
        assert_eq!(n, 0);
        assert!(!s.is_free(b) && !s.is_busy(b));
        // The truncate then finds the folio idle and frees it itself.
        assert_eq!(s.leave(b, 0, 0), Left::Released);
        assert!(s.is_free(b));
        // A late, second notification does not free it twice.
        let before = s.available();
        s.folio_idle(b, 1, |_, _| n += 1);
        assert_eq!((n, s.available()), (0, before));
        Ok(())
    }

    #[test]
    fn idle_compound_folio_waits_for_its_notification() -> Result {
        let mut s = states()?;
        let first = s.take_extent(3).ok_or(ENOSPC)?;
        assert_eq!((first - 8) % EXTENT, 0);
        // Refcount zero, but order 9: the notification that splits it is on its way.
        for b in first..first + EXTENT {
            assert_eq!(s.leave(b, 0, 9), Left::Busy);
        }
        assert_eq!(s.busy(), EXTENT);
        let mut n = 0;
        s.folio_idle(first, EXTENT, |_, _| n += 1);
        assert_eq!((n, s.busy()), (EXTENT, 0));
        assert!(s.free.all_set(first, EXTENT));
        Ok(())
    }

    #[test]
    fn a_whole_idle_extent_leaves_at_once_unless_a_page_failed() -> Result {
        let mut s = states()?;
        let total = s.available();
        let a = s.take_extent(3).ok_or(ENOSPC)?;
        assert!(s.leave_all_idle(a, EXTENT));
        assert!(s.free.all_set(a, EXTENT));
        assert_eq!(s.available(), total);
        // Past the end: nothing.
        assert!(!s.leave_all_idle(s.nblocks - 2, 4));
        let b = s.take_extent(3).ok_or(ENOSPC)?;
        assert!(s.poison(b + 9));
        assert!(!s.leave_all_idle(b, EXTENT));
        assert!(!s.is_free(b) && s.available() == total - EXTENT);
        Ok(())
    }

    #[test]
    fn extents_are_aligned_and_round_robin() -> Result {
        let mut s = states()?;
        let a = s.take_extent(1).ok_or(ENOSPC)?;
        let b = s.take_extent(1).ok_or(ENOSPC)?;
        assert_eq!((a, b), (8, 8 + EXTENT));
        assert_eq!(s.take_extent(1), None);
        for k in a..a + EXTENT {
            s.give_back(k);
        }
        assert_eq!(s.take_extent(2), Some(a));
        // A single block taken from a free extent breaks it.
        for k in a..a + EXTENT {
            s.give_back(k);
        }
        s.reserve(1)?;
        s.next = a + 5;
        assert_eq!(s.take_reserved(1), Some(a + 5));
        assert_eq!(s.take_extent(1), None);
        Ok(())
    }

    #[test]
    fn reservations_are_all_or_nothing() -> Result {
        let mut s = BlockStates::new(10, 0)?;
        assert!(s.reserve(11).is_err());
        s.reserve(6)?;
        assert_eq!(s.available(), 4);
        assert!(s.reserve(5).is_err());
        for _ in 0..6 {
            assert!(s.take_reserved(1).is_some());
        }
        assert_eq!(s.available(), 4);
        s.reserve(4)?;
        s.unreserve(4);
        assert_eq!(s.available(), 4);
        // Allocation sweeps the range and wraps around.
        s.next = 9;
        s.reserve(2)?;
        assert_eq!(s.take_reserved(1), Some(9));
        assert_eq!(s.take_reserved(1), Some(6));
        Ok(())
    }

    #[test]
    fn poisoned_blocks_are_never_free_again() -> Result {
        let mut s = BlockStates::new(10, 0)?;
        // Free: quarantined at once.
        assert!(s.poison(2));
        assert!(!s.poison(2));
        assert_eq!((s.quarantined(), s.available()), (1, 9));
        // In a file: quarantined when it leaves.
        s.reserve(1)?;
        s.next = 3;
        assert_eq!(s.take_reserved(1), Some(3));
        assert!(s.poison(3));
        assert!(s.any_poisoned(0, 4) && !s.any_poisoned(4, 100));
        assert_eq!(s.leave(3, 0, 0), Left::Released);
        assert!(!s.is_free(3));
        assert_eq!(s.quarantined(), 2);
        // Busy: quarantined at its notification.
        s.reserve(1)?;
        let b = s.take_reserved(1).ok_or(ENOSPC)?;
        assert_eq!(s.leave(b, 1, 0), Left::Busy);
        s.poison(b);
        s.folio_idle(b, 1, |_, _| {});
        assert!(!s.is_free(b) && !s.is_busy(b));
        assert_eq!(s.quarantined(), 3);
        // A reservation made before the failure finds no block.
        let mut t = BlockStates::new(1, 0)?;
        t.reserve(1)?;
        t.poison(0);
        assert_eq!(t.take_reserved(1), None);
        Ok(())
    }
}
