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
//! ([`Pool::serialised`]), so that the split cannot happen between the lookup and the
//! reference.

use crate::{
    abstractions::{
        folio::Folio,
        pagemap::{DevPagemap, PagemapOwner},
        trace,
    },
    stats::Stats,
};
use kernel::{new_spinlock_irq, pr_warn, pr_warn_once, prelude::*, sync::SpinLockIrq};

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
    nfree: usize,
    nbusy: usize,
    /// Where the next search starts, so that allocation sweeps the range.
    next: usize,
    /// Where the next extent search starts (an aligned block).
    next_extent: usize,
    /// The inode that holds (or last held) each block, for the trace events.
    owner: KVVec<u32>,
}

/// The pool of blocks over the pagemap's pages (see the module documentation).
#[pin_data]
pub(crate) struct Pool {
    first_pfn: usize,
    nblocks: usize,
    /// The first block whose page is 2 MiB aligned: extents start there, every
    /// [`EXTENT`] blocks.
    first_extent: usize,
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
        let mut owner = KVVec::with_capacity(nblocks, GFP_KERNEL)?;
        for _ in 0..nblocks {
            owner.push(0, GFP_KERNEL)?;
        }
        let inner = Inner {
            free: Bitmap::new(nblocks, true)?,
            busy: Bitmap::new(nblocks, false)?,
            poisoned: Bitmap::new(nblocks, false)?,
            nquarantined: 0,
            nfree: nblocks,
            nbusy: 0,
            next: 0,
            next_extent: first_extent,
            owner,
        };
        Ok(try_pin_init!(Self {
            first_pfn,
            nblocks,
            first_extent,
            inner <- new_spinlock_irq!(inner),
            stats: Stats::new(),
        }? Error))
    }

    /// The page of `block`.
    pub(crate) fn pfn(&self, block: u32) -> usize {
        self.first_pfn + block as usize
    }

    /// All blocks.
    pub(crate) fn total(&self) -> usize {
        self.nblocks
    }

    /// `(free, busy)` block counts.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let inner = self.inner.lock();
        (inner.nfree, inner.nbusy)
    }

    /// Takes `n` free blocks for inode `ino`, all or none: `ENOSPC` if fewer are free (Busy
    /// blocks do not count: they are not free until their notification).
    pub(crate) fn alloc(&self, n: usize, ino: u64, out: &mut KVec<u32>) -> Result {
        out.reserve(n, GFP_KERNEL)?;
        let mut inner = self.inner.lock();
        if inner.nfree < n {
            return Err(ENOSPC);
        }
        for _ in 0..n {
            let from = inner.next;
            let Some(b) = inner.free.find_set_from(from) else {
                // nfree said there were enough: the bitmap and the count disagree.
                pr_warn_once!("block pool count out of step with its bitmap\n");
                return Err(ENOSPC);
            };
            inner.free.clear(b);
            inner.nfree -= 1;
            inner.owner[b] = ino as u32;
            inner.next = if b + 1 == self.nblocks { 0 } else { b + 1 };
            out.push(b as u32, GFP_ATOMIC)?;
        }
        Ok(())
    }

    /// Takes an extent for inode `ino`: [`EXTENT`] free blocks whose first page is 2 MiB
    /// aligned; returns its first block, or `None` if no such run is free (the caller falls
    /// back to single blocks). Searches round-robin from where the last extent was found.
    pub(crate) fn alloc_extent(&self, ino: u64) -> Option<u32> {
        let mut inner = self.inner.lock();
        if inner.nfree < EXTENT {
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

    /// Runs `f` under the pool lock: for looking up the folio of a page and referencing it
    /// in one step against the split in [`PagemapOwner::folio_free`]. `f` must not sleep.
    pub(crate) fn serialised<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.inner.lock();
        f()
    }

    /// Gives back blocks taken by [`Pool::alloc`] that never reached a file.
    pub(crate) fn unalloc(&self, blocks: &[u32]) {
        let mut inner = self.inner.lock();
        for &b in blocks {
            inner.free.set(b as usize);
            inner.nfree += 1;
        }
    }

    /// Gives back an extent taken by [`Pool::alloc_extent`] that never reached a file.
    pub(crate) fn unalloc_extent(&self, first: u32) {
        let mut inner = self.inner.lock();
        for b in first as usize..first as usize + EXTENT {
            inner.free.set(b);
        }
        inner.nfree += EXTENT;
    }

    /// `block` leaves its file; `folio_of` finds the folio its page belongs to now (called
    /// under the pool lock, so that no split intervenes). Free now if that folio is an idle
    /// page, else Busy until its notification.
    pub(crate) fn release<'f>(&self, block: u32, folio_of: impl FnOnce() -> Option<&'f Folio>) {
        let b = block as usize;
        let mut inner = self.inner.lock();
        let (refs, order) = folio_of().map_or((0, 0), |f| (f.ref_count(), f.order()));
        // A compound folio exists only while referenced or until its free notification,
        // which splits it under this lock: at refcount zero that notification is still on
        // its way (the refcount dropped, `free_zone_device_folio()` has not called us yet).
        // Freeing the block now would let another file take a page of a folio that the
        // notification has yet to split; it is Busy until then.
        if refs == 0 && order == 0 {
            let ino = inner.owner[b];
            inner.give_back(b);
            drop(inner);
            trace::block_release(b, ino as usize);
        } else {
            inner.busy.set(b);
            inner.nbusy += 1;
            drop(inner);
            trace::block_busy(b, refs);
        }
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
        let inner = self.inner.lock();
        (first as usize..first as usize + n).any(|b| inner.poisoned.test(b))
    }

    /// Poisoned blocks taken out of service (in no file).
    pub(crate) fn quarantined(&self) -> usize {
        self.inner.lock().nquarantined
    }

    fn block_of(&self, pfn: usize) -> Option<usize> {
        pfn.checked_sub(self.first_pfn)
            .filter(|&b| b < self.nblocks)
    }
}

impl Inner {
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
                self.folio_idle(folio);
            } else {
                waiting.get_or_insert(folio.pfn());
            }
            from = b as usize + 1;
        }
        waiting
    }

    fn folio_free(&self, folio: &Folio) {
        self.stats.folio_free_calls.inc();
        self.folio_idle(folio);
    }
}

impl Pool {
    /// `folio` is idle (its free notification, or the reaper on a kernel without one):
    /// release its Busy blocks and split it if compound. A folio that is not idle (any more),
    /// or whose page became part of another folio, is left alone.
    pub(crate) fn folio_idle(&self, folio: &Folio) {
        let pfn = folio.pfn();
        let Some(b) = self.block_of(pfn) else {
            // The probe page, outside the pool.
            trace::folio_free(folio, 0, 0);
            return;
        };
        let mut inner = self.inner.lock();
        let ino = inner.owner[b] as usize;
        // A notification that raced with a compound folio being built over its page, or
        // with a new reference, changes nothing: the folio is not idle.
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
