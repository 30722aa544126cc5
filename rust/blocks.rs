// SPDX-License-Identifier: GPL-2.0

//! The block pool: refdax's pmem pages as file blocks, and the state of each.
//!
//! Block `b` is page `first_pfn + b` of the pagemap. A block is in one of three states:
//!
//! ```text
//!   Free --alloc--> InFile --leave, folio idle--------------------------> Free
//!                   InFile --leave, folio referenced--> Busy --notified--> Free
//! ```
//!
//! A block leaves its file on truncate, punch-hole and eviction. If its folio is still
//! referenced then (mapped by a PTE about to be zapped, pinned by GUP or O_DIRECT, held by a
//! pipe), it becomes Busy: never handed out, until the folio-free notification for it arrives.
//! Leaving and the notification decide under one IRQ-safe spinlock and read the folio's
//! refcount inside it, so exactly one of them frees the block, whatever their order. A late or
//! transient notification (a block back in a file, or re-referenced) finds the block not Busy,
//! or its refcount above zero, and changes nothing.
//!
//! The pool is the pagemap's owner: it receives the notifications, in any context.
//!
//! # PMD-sized folios
//!
//! A file gets *extents* of [`EXTENT`] blocks whose first page is aligned to 2 MiB (see
//! [`Pool::alloc_extent`]), so that a PMD fault can make their pages one compound folio. Such a
//! folio exists only while it is referenced: its free notification releases every Busy block
//! of it at once and splits it back into order-0 pages ([`Folio::split_idle`]). Whoever looks
//! up the folio of a page in order to reference it does so under the pool lock
//! ([`Pool::get_page`]), so that the split cannot happen between the lookup and the
//! reference.
//!
//! Pages are made tail pages of a new compound folio only once the kernel's free path is
//! known to be done with them ([`Pool::settled`]): after its refcount reads zero, a folio is
//! still read by `free_zone_device_folio()` (its `pgmap`) until that calls the notification.
//!
//! # Bounded work
//!
//! The pool lock is taken with interrupts off (notifications come from any context), so
//! everything done under it is bounded: allocation and release go [`BATCH`] blocks at a
//! time and reschedule between batches.

use crate::{
    abstractions::{
        folio::{Folio, FolioRef},
        pagemap::{DevPagemap, PagemapOwner},
        sched, trace,
    },
    stats::Stats,
};
use kernel::{
    new_spinlock_irq, pr_warn,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        SpinLockIrq,
    },
};

/// Blocks in an extent: the pages of a PMD-sized folio (2 MiB on x86-64).
pub(crate) const EXTENT: usize = 512;

/// A fixed-size bitmap.
struct Bitmap {
    words: KVVec<u64>,
}

impl Bitmap {
    fn new(bits: usize, set: bool) -> Result<Self> {
        let nwords = bits.div_ceil(64);
        let mut words = KVVec::with_capacity(nwords, GFP_KERNEL)?;
        for w in 0..nwords {
            let word = if !set {
                0
            } else if (w + 1) * 64 <= bits {
                u64::MAX
            } else {
                (1u64 << (bits % 64)) - 1
            };
            words.push(word, GFP_KERNEL)?;
        }
        Ok(Self { words })
    }

    fn test(&self, bit: usize) -> bool {
        self.words[bit / 64] & (1 << (bit % 64)) != 0
    }

    fn set(&mut self, bit: usize) {
        self.words[bit / 64] |= 1 << (bit % 64);
    }

    fn clear(&mut self, bit: usize) {
        self.words[bit / 64] &= !(1 << (bit % 64));
    }

    /// Whether bits `from..from + n` are all set.
    fn all_set(&self, from: usize, n: usize) -> bool {
        let mut bit = from;
        while bit < from + n {
            if bit % 64 == 0 && bit + 64 <= from + n {
                if self.words[bit / 64] != u64::MAX {
                    return false;
                }
                bit += 64;
            } else {
                if !self.test(bit) {
                    return false;
                }
                bit += 1;
            }
        }
        true
    }

    /// The first set bit at or after `from`, wrapping around once (the last round looks at
    /// the bits of `from`'s word below `from`).
    fn find_set_from(&self, from: usize) -> Option<usize> {
        let n = self.words.len();
        let start = from / 64;
        for i in 0..=n {
            let w = (start + i) % n;
            let mut word = self.words[w];
            if i == 0 {
                word &= u64::MAX << (from % 64);
            }
            if word != 0 {
                return Some(w * 64 + word.trailing_zeros() as usize);
            }
        }
        None
    }
}

struct Inner {
    /// Blocks that can be allocated.
    free: Bitmap,
    /// Blocks waiting for their folio's free notification.
    busy: Bitmap,
    /// Blocks whose page failed (memory failure): never free again.
    poisoned: Bitmap,
    /// Poisoned blocks in no file and not Busy: out of service.
    nquarantined: usize,
    /// Set bits of `free`.
    nfree: usize,
    /// Free blocks promised to allocations under way ([`Pool::alloc`] takes its blocks in
    /// batches, dropping the lock between them).
    reserved: usize,
    nbusy: usize,
    /// Where the next search starts, so that allocation sweeps the range.
    next: usize,
    /// Where the next extent search starts (an aligned block).
    next_extent: usize,
    /// The inode that holds (or last held) each block, for the trace events.
    owner: KVVec<u32>,
    /// Per page, the first references refdax handed out whose free notification has not
    /// arrived yet: the kernel's free path may still be running for the page
    /// (`free_zone_device_folio()` reads `folio->pgmap` after the refcount reached zero), so
    /// it must not become a tail page. Counted only while the kernel notifies
    /// ([`Pool::set_tracks_frees`]).
    unsettled: KVVec<u32>,
}

/// Blocks taken or given back per hold of the pool lock (interrupts are off under it).
pub(crate) const BATCH: usize = 64;

/// The pool of blocks over the pagemap's pages (see the module documentation).
#[pin_data]
pub(crate) struct Pool {
    first_pfn: usize,
    nblocks: usize,
    /// The first block whose page is 2 MiB aligned: extents start there, every
    /// [`EXTENT`] blocks.
    first_extent: usize,
    /// Whether the kernel calls `folio_free` for FS DAX folios, so that `unsettled` can
    /// be counted down.
    tracks_frees: Atomic<bool>,
    #[pin]
    inner: SpinLockIrq<Inner>,
    pub(crate) stats: Stats,
}

impl Pool {
    /// A pool of `nblocks` free blocks starting at page `first_pfn`.
    pub(crate) fn new(first_pfn: usize, nblocks: usize) -> Result<impl PinInit<Self, Error>> {
        let first_extent = (EXTENT - first_pfn % EXTENT) % EXTENT;
        // The trace events and `owner` hold block numbers as u32.
        if u32::try_from(nblocks).is_err() {
            return Err(EINVAL);
        }
        let zeroes = || -> Result<KVVec<u32>> {
            let mut v = KVVec::with_capacity(nblocks, GFP_KERNEL)?;
            for _ in 0..nblocks {
                v.push(0, GFP_KERNEL)?;
            }
            Ok(v)
        };
        let inner = Inner {
            free: Bitmap::new(nblocks, true)?,
            busy: Bitmap::new(nblocks, false)?,
            poisoned: Bitmap::new(nblocks, false)?,
            nquarantined: 0,
            nfree: nblocks,
            reserved: 0,
            nbusy: 0,
            next: 0,
            next_extent: first_extent,
            owner: zeroes()?,
            unsettled: zeroes()?,
        };
        Ok(try_pin_init!(Self {
            first_pfn,
            nblocks,
            first_extent,
            tracks_frees: Atomic::new(false),
            inner <- new_spinlock_irq!(inner),
            stats: Stats::new(),
        }? Error))
    }

    /// Whether the kernel notifies frees (found by the device's probe at load): only then
    /// can a page's free path be known to have finished (see `Inner::unsettled`).
    pub(crate) fn set_tracks_frees(&self, on: bool) {
        self.tracks_frees.store(on, Relaxed);
    }

    /// The page of `block`.
    pub(crate) fn pfn(&self, block: u32) -> usize {
        self.first_pfn + block as usize
    }

    /// All blocks.
    pub(crate) fn total(&self) -> usize {
        self.nblocks
    }

    /// `(free, busy)` block counts; free blocks promised to allocations under way do not
    /// count as free.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let inner = self.inner.lock();
        (inner.available(), inner.nbusy)
    }

    /// Takes `n` free blocks for inode `ino` into `out`, all or none: `ENOSPC` if fewer are
    /// free (Busy blocks do not count: they are not free until their notification).
    ///
    /// The count is reserved first; the blocks are then found [`BATCH`] at a time, so that
    /// the lock (interrupts off) is held for bounded work however large `n` is. Process
    /// context.
    pub(crate) fn alloc(&self, n: usize, ino: u64, out: &mut KVVec<u32>) -> Result {
        if n == 0 {
            return Ok(());
        }
        {
            let mut inner = self.inner.lock();
            if inner.available() < n {
                return Err(ENOSPC);
            }
            inner.reserved += n;
        }
        let first = out.len();
        if let Err(e) = out.reserve(n, GFP_KERNEL) {
            self.inner.lock().reserved -= n;
            return Err(e.into());
        }
        let mut left = n;
        while left > 0 {
            let mut inner = self.inner.lock();
            for _ in 0..left.min(BATCH) {
                let from = inner.next;
                // A block reserved but not found: a free block was poisoned meanwhile.
                let Some(b) = inner.free.find_set_from(from) else {
                    inner.reserved -= left;
                    drop(inner);
                    self.unalloc(&out[first..]);
                    out.truncate(first);
                    return Err(ENOSPC);
                };
                inner.free.clear(b);
                inner.nfree -= 1;
                inner.reserved -= 1;
                inner.owner[b] = ino as u32;
                inner.next = if b + 1 == self.nblocks { 0 } else { b + 1 };
                left -= 1;
                // `reserve` above made room: this does not allocate.
                if out.push(b as u32, GFP_ATOMIC).is_err() {
                    inner.give_back(b);
                    inner.reserved -= left;
                    drop(inner);
                    self.unalloc(&out[first..]);
                    out.truncate(first);
                    return Err(ENOMEM);
                }
            }
            drop(inner);
            sched::cond_resched();
        }
        Ok(())
    }

    /// Takes an extent for inode `ino`: [`EXTENT`] free blocks whose first page is 2 MiB
    /// aligned; returns its first block, or `None` if no such run is free (the caller falls
    /// back to single blocks). Searches round-robin from where the last extent was found.
    pub(crate) fn alloc_extent(&self, ino: u64) -> Option<u32> {
        let mut inner = self.inner.lock();
        if inner.available() < EXTENT {
            return None;
        }
        let first = self.first_extent;
        let count = self.nblocks.saturating_sub(first) / EXTENT;
        let start = inner.next_extent;
        for i in 0..count {
            let b = first + (start.saturating_sub(first) / EXTENT + i) % count * EXTENT;
            if !inner.free.all_set(b, EXTENT) {
                continue;
            }
            for k in b..b + EXTENT {
                inner.free.clear(k);
                inner.owner[k] = ino as u32;
            }
            inner.nfree -= EXTENT;
            inner.next_extent = b + EXTENT;
            return Some(b as u32);
        }
        None
    }

    /// A reference on the folio that page `pfn` belongs to now, if `want` accepts it
    /// (`Ok(None)` otherwise, or outside the pagemap); `EIO` if one of the `check` pages from
    /// `pfn` has failed.
    ///
    /// One step under the pool lock: the lookup and the reference, so that a concurrent split
    /// (the free notification of a compound folio) cannot change which folio that is; and the
    /// poison check and `attach` (which ties the folio to its file), so that memory failure,
    /// which marks a page and then reads its file under this lock, either finds the folio
    /// attached or is seen here. A first reference is counted as unsettled until its
    /// notification.
    ///
    /// Referencing an idle page hands it out: the caller must own its block (see
    /// [`Folio::get`]). `want` and `attach` run with interrupts off.
    pub(crate) fn get_page<'a>(
        &self,
        pagemap: &'a DevPagemap<Self>,
        pfn: usize,
        check: usize,
        want: impl FnOnce(&Folio) -> bool,
        attach: impl FnOnce(&Folio),
    ) -> Result<Option<FolioRef<'a>>> {
        let mut inner = self.inner.lock();
        let Some(folio) = pagemap.folio(pfn) else {
            return Ok(None);
        };
        if !want(folio) {
            return Ok(None);
        }
        if self
            .block_of(pfn)
            .is_some_and(|b| inner.any_poisoned(b, check))
        {
            return Err(EIO);
        }
        let (folio, first) = folio.get();
        if first {
            self.note_first_ref(&mut inner, folio.pfn());
        }
        attach(&folio);
        Ok(Some(folio))
    }

    /// A first reference on the folio at `head` was handed out (see `Inner::unsettled`).
    fn note_first_ref(&self, inner: &mut Inner, head: usize) {
        if let Some(b) = self.block_of(head) {
            if self.tracks_frees.load(Relaxed) {
                inner.unsettled[b] = inner.unsettled[b].saturating_add(1);
            }
        }
    }

    /// The compound folio `folio` was just built, with its first reference: counted, checked
    /// for failed pages (`EIO`: the caller drops the folio again) and `attach`ed, under the
    /// pool lock as in [`Pool::get_page`].
    pub(crate) fn note_built(&self, folio: &Folio, attach: impl FnOnce(&Folio)) -> Result {
        let mut inner = self.inner.lock();
        self.note_first_ref(&mut inner, folio.pfn());
        if self
            .block_of(folio.pfn())
            .is_some_and(|b| inner.any_poisoned(b, folio.nr_pages()))
        {
            return Err(EIO);
        }
        attach(folio);
        Ok(())
    }

    /// Whether no page of blocks `first..first + n` may still be inside the kernel's free
    /// path, so that they may be made one compound folio.
    pub(crate) fn settled(&self, first: u32, n: usize) -> bool {
        let inner = self.inner.lock();
        let first = first as usize;
        (first..(first + n).min(self.nblocks)).all(|b| inner.unsettled[b] == 0)
    }

    /// Gives back blocks taken by [`Pool::alloc`] that never reached a file.
    pub(crate) fn unalloc(&self, blocks: &[u32]) {
        for chunk in blocks.chunks(BATCH) {
            let mut inner = self.inner.lock();
            for &b in chunk {
                inner.give_back(b as usize);
            }
            drop(inner);
            sched::cond_resched();
        }
    }

    /// Gives back an extent taken by [`Pool::alloc_extent`] that never reached a file.
    pub(crate) fn unalloc_extent(&self, first: u32) {
        let mut inner = self.inner.lock();
        for b in first as usize..first as usize + EXTENT {
            inner.give_back(b);
        }
    }

    /// `blocks` (a batch: at most [`BATCH`]) leave their file. Under the pool lock, so that
    /// no split intervenes, `folio_of` finds the folio each block's page belongs to now and
    /// `leave` is shown it (to end the folio's association with the file); then each block
    /// is free now if that folio is an idle page, else Busy until its notification. Neither
    /// closure may sleep or drop a folio reference. Returns how many became Busy.
    pub(crate) fn release<'f>(
        &self,
        blocks: &[u32],
        folio_of: impl Fn(u32) -> Option<&'f Folio>,
        mut leave: impl FnMut(&Folio),
    ) -> usize {
        let mut busy = 0;
        let mut inner = self.inner.lock();
        for &block in blocks {
            let b = block as usize;
            let folio = folio_of(block);
            if let Some(folio) = folio {
                leave(folio);
            }
            let (refs, order) = folio.map_or((0, 0), |f| (f.ref_count(), f.order()));
            // A compound folio exists only while referenced or until its free notification,
            // which splits it under this lock: at refcount zero that notification is still on
            // its way (the refcount dropped, `free_zone_device_folio()` has not called us
            // yet). Freeing the block now would let another file take a page of a folio that
            // the notification has yet to split; it is Busy until then.
            if refs == 0 && order == 0 {
                let ino = inner.owner[b];
                inner.give_back(b);
                trace::block_release(b, ino as usize);
            } else {
                inner.busy.set(b);
                inner.nbusy += 1;
                busy += 1;
                trace::block_busy(b, refs);
            }
        }
        busy
    }

    /// Page `pfn` failed: its block is never handed out again. A free block is taken out of
    /// service now; one in a file stays there (its accesses fail) until it leaves, and is
    /// then quarantined instead of freed; a Busy one is quarantined at its notification.
    pub(crate) fn poison(&self, pfn: usize) -> Result {
        let b = self.block_of(pfn).ok_or(ENXIO)?;
        let mut inner = self.inner.lock();
        if inner.poisoned.test(b) {
            return Ok(());
        }
        inner.poisoned.set(b);
        if inner.free.test(b) {
            inner.free.clear(b);
            inner.nfree -= 1;
            inner.nquarantined += 1;
        }
        drop(inner);
        self.stats.pages_poisoned.inc();
        pr_warn!("memory failure at pfn {pfn:#x}: block {b} taken out of service\n");
        Ok(())
    }

    /// Whether `block`'s page has failed.
    pub(crate) fn is_poisoned(&self, block: u32) -> bool {
        self.any_poisoned(block, 1)
    }

    /// Whether any of blocks `first..first + n` has failed. Without any failed page (the
    /// usual case) this takes no lock; a failure reported meanwhile is caught by the
    /// mapping zap that follows it.
    pub(crate) fn any_poisoned(&self, first: u32, n: usize) -> bool {
        if self.stats.pages_poisoned.get() == 0 {
            return false;
        }
        self.inner.lock().any_poisoned(first as usize, n)
    }

    /// Poisoned blocks taken out of service (in no file).
    pub(crate) fn quarantined(&self) -> usize {
        self.inner.lock().nquarantined
    }

    /// The block of page `pfn`, if it is one of the pool's.
    pub(crate) fn block_of(&self, pfn: usize) -> Option<usize> {
        pfn.checked_sub(self.first_pfn)
            .filter(|&b| b < self.nblocks)
    }
}

impl Inner {
    /// Whether any of blocks `first..first + n` (those that exist) has failed.
    fn any_poisoned(&self, first: usize, n: usize) -> bool {
        (first..(first + n).min(self.owner.len())).any(|b| self.poisoned.test(b))
    }

    /// Free blocks not promised to an allocation under way.
    fn available(&self) -> usize {
        self.nfree.saturating_sub(self.reserved)
    }

    /// Block `b` is nobody's any more: free, or out of service if its page failed.
    fn give_back(&mut self, b: usize) {
        if self.poisoned.test(b) {
            self.nquarantined += 1;
        } else {
            self.free.set(b);
            self.nfree += 1;
        }
    }
}

impl Pool {
    /// The first Busy block at or after `from`, if any (no wrap-around).
    pub(crate) fn next_busy(&self, from: usize) -> Option<u32> {
        let inner = self.inner.lock();
        if inner.nbusy == 0 || from >= self.nblocks {
            return None;
        }
        inner
            .busy
            .find_set_from(from)
            .filter(|&b| b >= from)
            .map(|b| b as u32)
    }
}

impl PagemapOwner for Pool {
    fn memory_failure(&self, pfn: usize) -> Result {
        self.poison(pfn)
    }

    fn without_splits<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.inner.lock();
        f()
    }

    /// What the free notification does, for every Busy block whose folio is idle now;
    /// returns a folio still referenced.
    fn reap(&self, pagemap: &DevPagemap<Self>) -> Option<usize> {
        let mut from = 0;
        let mut waiting = None;
        while let Some(b) = self.next_busy(from) {
            let Some(folio) = pagemap.folio(self.pfn(b)) else {
                break;
            };
            if folio.ref_count() == 0 {
                self.folio_idle(folio, false);
            } else {
                waiting.get_or_insert(folio.pfn());
            }
            from = b as usize + 1;
        }
        // A block still Busy whose folio looked idle (a reference was taken meanwhile): wait
        // on it too, rather than sleep until the next kick.
        waiting.or_else(|| {
            self.next_busy(0)
                .and_then(|b| pagemap.folio(self.pfn(b)))
                .map(Folio::pfn)
        })
    }

    fn folio_free(&self, folio: &Folio) {
        self.stats.folio_free_calls.inc();
        self.folio_idle(folio, true);
    }
}

impl Pool {
    /// `folio` is idle (its free notification, or the reaper on a kernel without one):
    /// release its Busy blocks and split it if compound. A folio that is not idle (any more),
    /// or whose page became part of another folio, is left alone.
    ///
    /// `notified` is true for the kernel's notification, false for the reaper.
    pub(crate) fn folio_idle(&self, folio: &Folio, notified: bool) {
        let pfn = folio.pfn();
        let Some(b) = self.block_of(pfn) else {
            // The probe page, outside the pool.
            trace::folio_free(folio, 0, 0);
            return;
        };
        let mut inner = self.inner.lock();
        if notified {
            // The kernel's free path for one first reference has got this far: the last
            // thing it does with the folio is call us.
            inner.unsettled[b] = inner.unsettled[b].saturating_sub(1);
        }
        let ino = inner.owner[b] as usize;
        // A notification that raced with a new reference changes nothing: the folio is not
        // idle. (A page with a notification on its way is never made a tail page.)
        if !folio.is_current() || folio.ref_count() != 0 {
            drop(inner);
            // Only the pfn: the order of a page that became a tail page is not its own.
            trace::folio_free_pfn(pfn, 0, ino, 0);
            return;
        }
        // The event shows the folio as it was freed (its order), before any split.
        trace::folio_free(folio, ino, folio.index());
        let end = (b + folio.nr_pages()).min(self.nblocks);
        for k in b..end {
            if inner.busy.test(k) {
                inner.busy.clear(k);
                inner.nbusy -= 1;
                inner.give_back(k);
                self.stats.busy_released.inc();
                trace::block_release(k, inner.owner[k] as usize);
            }
        }
        if folio.order() > 0 && folio.split_idle() > 0 {
            self.stats.pmd_folios_split.inc();
        }
    }
}
