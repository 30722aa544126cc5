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

use crate::{
    abstractions::{folio::Folio, pagemap::PagemapOwner, trace},
    stats::Stats,
};
use kernel::{new_spinlock_irq, pr_warn_once, prelude::*, sync::SpinLockIrq};

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
    nfree: usize,
    nbusy: usize,
    /// Where the next search starts, so that allocation sweeps the range.
    next: usize,
    /// The inode that holds (or last held) each block, for the trace events.
    owner: KVVec<u32>,
}

/// The pool of blocks over the pagemap's pages (see the module documentation).
#[pin_data]
pub(crate) struct Pool {
    first_pfn: usize,
    nblocks: usize,
    #[pin]
    inner: SpinLockIrq<Inner>,
    pub(crate) stats: Stats,
}

impl Pool {
    /// A pool of `nblocks` free blocks starting at page `first_pfn`.
    pub(crate) fn new(first_pfn: usize, nblocks: usize) -> Result<impl PinInit<Self, Error>> {
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
            nfree: nblocks,
            nbusy: 0,
            next: 0,
            owner,
        };
        Ok(try_pin_init!(Self {
            first_pfn,
            nblocks,
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

    /// Gives back blocks taken by [`Pool::alloc`] that never reached a file.
    pub(crate) fn unalloc(&self, blocks: &[u32]) {
        let mut inner = self.inner.lock();
        for &b in blocks {
            inner.free.set(b as usize);
            inner.nfree += 1;
        }
    }

    /// `block` leaves its file; `folio` is its folio. Free now if nobody references it,
    /// else Busy until the notification.
    pub(crate) fn release(&self, block: u32, folio: &Folio) {
        let b = block as usize;
        let mut inner = self.inner.lock();
        let refs = folio.ref_count();
        if refs == 0 {
            inner.free.set(b);
            inner.nfree += 1;
            let ino = inner.owner[b];
            drop(inner);
            trace::block_release(b, ino as usize);
        } else {
            inner.busy.set(b);
            inner.nbusy += 1;
            drop(inner);
            trace::block_busy(b, refs);
        }
    }

    fn block_of(&self, pfn: usize) -> Option<usize> {
        pfn.checked_sub(self.first_pfn)
            .filter(|&b| b < self.nblocks)
    }
}

impl PagemapOwner for Pool {
    fn folio_free(&self, folio: &Folio) {
        self.stats.folio_free_calls.inc();
        let pfn = folio.pfn();
        let Some(b) = self.block_of(pfn) else {
            // The probe page, outside the pool.
            trace::folio_free(folio, 0, 0);
            return;
        };
        let mut inner = self.inner.lock();
        let ino = inner.owner[b] as usize;
        let released = inner.busy.test(b) && folio.ref_count() == 0;
        if released {
            inner.busy.clear(b);
            inner.nbusy -= 1;
            inner.free.set(b);
            inner.nfree += 1;
        }
        drop(inner);
        trace::folio_free(folio, ino, folio.index());
        if released {
            self.stats.busy_released.inc();
            trace::block_release(b, ino);
        }
    }
}
