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
//! The states and their transitions are [`state::BlockStates`] (pure, tested by KUnit);
//! this file is the locking and the folio facts around them.
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
//! [`Pool::alloc_extent`]), so that a PMD fault can make their pages one compound folio. As
//! `fs/dax.c` keeps a PMD entry's folio, such a folio stays compound, idle or not, while the
//! file owns the whole extent: the next PMD fault maps it again without a build, and a PTE
//! fault maps a page of it as a page of that folio (so a PMD fault may follow). It is split
//! back into order-0 pages ([`DevPagemap::split_idle`]) only when the extent is broken up:
//! when one of its blocks leaves the file ([`Pool::release`], or its free notification if it
//! is referenced then), when one of its pages has failed (at its next free), or before one of
//! its pages moves (`file::shift`). Whoever looks up the folio of a page in order to reference
//! it does so under the pool lock ([`Pool::get_page`]), so that no split happens between the
//! lookup and the reference.
//!
//! Pages are made tail pages of a new compound folio only once the kernel's free path is
//! known to be done with them: after its refcount reads zero, a folio is still read by
//! `free_zone_device_folio()` (its `pgmap`) until that calls the notification. The pagemap
//! checks that itself ([`DevPagemap::build_folio`]).
//!
//! # Bounded work
//!
//! The pool lock is taken with interrupts off (notifications come from any context), so
//! everything done under it is bounded: allocation and release go [`BATCH`] blocks at a
//! time and reschedule between batches.

mod state;

use crate::{
    abstractions::{
        folio::{Folio, FolioRef},
        fs::Inode,
        pagemap::{DevPagemap, Freeing, PagemapOwner},
        sched, trace,
    },
    stats::Stats,
};
use kernel::{
    new_spinlock_irq, pr_warn,
    prelude::*,
    sync::{
        atomic::{Atomic, Full, Relaxed},
        SpinLockIrq,
    },
};
pub(crate) use state::EXTENT;
use state::{BlockStates, Left};

/// Blocks taken or given back per hold of the pool lock (interrupts are off under it).
pub(crate) const BATCH: usize = 64;

/// What a fault wants from [`Pool::get_page`].
pub(crate) struct Want<'i> {
    /// `Some(order)`: the folio must start at the page and have this order (a PMD fault);
    /// `None`: whatever folio the page belongs to (a PTE fault).
    pub(crate) order: Option<u32>,
    /// The file the page is mapped for and the page's index in it: a folio that starts at
    /// the page is tied to them.
    pub(crate) file: &'i Inode,
    pub(crate) index: usize,
}

impl Want<'_> {
    /// Pages from the page on that must not have failed.
    fn pages(&self) -> usize {
        self.order.map_or(1, |o| 1 << o)
    }
}

/// The pool of blocks over the pagemap's pages (see the module documentation).
#[pin_data]
pub(crate) struct Pool {
    first_pfn: usize,
    nblocks: usize,
    #[pin]
    states: SpinLockIrq<BlockStates>,
    /// Busy blocks, plus one for each release deciding under the lock: zero means that no
    /// block waits for a notification, so a notification has nothing to do (see
    /// [`Pool::folio_free`]).
    leaving: Atomic<usize>,
    pub(crate) stats: Stats,
}

impl Pool {
    /// A pool of `nblocks` free blocks starting at page `first_pfn`.
    pub(crate) fn new(first_pfn: usize, nblocks: usize) -> Result<impl PinInit<Self, Error>> {
        let first_extent = (EXTENT - first_pfn % EXTENT) % EXTENT;
        let states = BlockStates::new(nblocks, first_extent)?;
        Ok(try_pin_init!(Self {
            first_pfn,
            nblocks,
            states <- new_spinlock_irq!(states),
            leaving: Atomic::new(0),
            stats: Stats::new(),
        }? Error))
    }

    /// The page of `block`.
    pub(crate) fn pfn(&self, block: u32) -> usize {
        self.first_pfn + block as usize
    }

    /// The block of page `pfn`, if it is one of the pool's.
    pub(crate) fn block_of(&self, pfn: usize) -> Option<usize> {
        pfn.checked_sub(self.first_pfn)
            .filter(|&b| b < self.nblocks)
    }

    /// All blocks.
    pub(crate) fn total(&self) -> usize {
        self.nblocks
    }

    /// `(free, busy)` block counts; free blocks promised to allocations under way do not
    /// count as free.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let states = self.states.lock();
        (states.available(), states.busy())
    }

    /// Poisoned blocks taken out of service (in no file).
    pub(crate) fn quarantined(&self) -> usize {
        self.states.lock().quarantined()
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
        self.states.lock().reserve(n)?;
        let first = out.len();
        if let Err(e) = out.reserve(n, GFP_KERNEL) {
            self.states.lock().unreserve(n);
            return Err(e.into());
        }
        let mut left = n;
        while left > 0 {
            let mut states = self.states.lock();
            for _ in 0..left.min(BATCH) {
                // A block reserved but not found: a free block was poisoned meanwhile.
                let Some(b) = states.take_reserved(ino as u32) else {
                    states.unreserve(left);
                    drop(states);
                    self.unalloc(&out[first..]);
                    out.truncate(first);
                    return Err(ENOSPC);
                };
                left -= 1;
                // `reserve` above made room: this does not allocate.
                if out.push(b as u32, GFP_ATOMIC).is_err() {
                    states.give_back(b);
                    states.unreserve(left);
                    drop(states);
                    self.unalloc(&out[first..]);
                    out.truncate(first);
                    return Err(ENOMEM);
                }
            }
            drop(states);
            sched::cond_resched();
        }
        Ok(())
    }

    /// Takes an extent for inode `ino`: [`EXTENT`] free blocks whose first page is 2 MiB
    /// aligned; returns its first block, or `None` if no such run is free (the caller falls
    /// back to single blocks).
    pub(crate) fn alloc_extent(&self, ino: u64) -> Option<u32> {
        self.states.lock().take_extent(ino as u32).map(|b| b as u32)
    }

    /// Gives back blocks taken by [`Pool::alloc`] that never reached a file.
    pub(crate) fn unalloc(&self, blocks: &[u32]) {
        for chunk in blocks.chunks(BATCH) {
            let mut states = self.states.lock();
            for &b in chunk {
                states.give_back(b as usize);
            }
            drop(states);
            sched::cond_resched();
        }
    }

    /// Gives back an extent taken by [`Pool::alloc_extent`] that never reached a file.
    pub(crate) fn unalloc_extent(&self, first: u32) {
        let mut states = self.states.lock();
        for b in first as usize..first as usize + EXTENT {
            states.give_back(b);
        }
    }

    /// A reference on the folio that page `pfn` belongs to now, if it is the folio `want`
    /// asks for (`Ok(None)` otherwise, or outside the pagemap); `EIO` if one of the wanted
    /// pages has failed, `EAGAIN` if the page is being made part of another folio.
    ///
    /// One step under the pool lock: the lookup and the reference, so that a concurrent split
    /// (every split of the pool's folios holds this lock) cannot change which folio that is;
    /// and the
    /// poison check and tying the folio to its file, so that memory failure, which marks a
    /// page (under this lock) and then reads its file, either finds the folio tied or is
    /// seen here.
    ///
    /// Referencing an idle page hands it out: the caller must own its block.
    pub(crate) fn get_page<'a>(
        &self,
        pagemap: &'a DevPagemap<Self>,
        pfn: usize,
        want: &Want<'_>,
    ) -> Result<Option<FolioRef<'a>>> {
        let states = self.states.lock();
        let Some(folio) = pagemap.folio(pfn) else {
            return Ok(None);
        };
        if want
            .order
            .is_some_and(|o| folio.pfn() != pfn || folio.order() != o)
        {
            return Ok(None);
        }
        if self
            .block_of(pfn)
            .is_some_and(|b| states.any_poisoned(b, want.pages()))
        {
            return Err(EIO);
        }
        let (folio, _first) = pagemap.get(folio)?;
        let tied = if folio.pfn() == pfn {
            pagemap.tie(&folio, want.file, want.index)
        } else {
            Ok(())
        };
        // The lock goes first: dropping the reference on failure may run `folio_free`.
        drop(states);
        tied.map(|()| Some(folio))
    }

    /// The compound folio `folio` was just built, with its first reference, for `want`:
    /// counted, checked for failed pages (`EIO`: the caller drops the folio again) and tied
    /// to its file, under the pool lock as in [`Pool::get_page`].
    pub(crate) fn note_built(
        &self,
        pagemap: &DevPagemap<Self>,
        folio: &FolioRef<'_>,
        want: &Want<'_>,
    ) -> Result {
        let states = self.states.lock();
        if self
            .block_of(folio.pfn())
            .is_some_and(|b| states.any_poisoned(b, folio.nr_pages()))
        {
            return Err(EIO);
        }
        pagemap.tie(folio, want.file, want.index)
    }

    /// `blocks` (a batch: at most [`BATCH`]) leave their file. Under the pool lock, so that
    /// no split intervenes, each block's page's folio is looked up and untied from the file
    /// (a page of its own, or a compound folio starting at one of the pages `compound_gone`,
    /// whose blocks have all left); then each block is free now if that folio is an idle page,
    /// else Busy until its notification. Returns how many became Busy.
    pub(crate) fn release(
        &self,
        pagemap: &DevPagemap<Self>,
        blocks: &[u32],
        compound_gone: &[usize],
    ) -> usize {
        // Untied first, in one hold of the pagemap's lock, and before any block is free (a
        // free block may be taken and tied by another file at once). Nothing ties them again
        // meanwhile: the caller holds the file's invalidate lock, so no fault of the file runs.
        for chunk in blocks.chunks(BATCH) {
            let mut heads = [0usize; BATCH];
            let mut n = 0;
            for &block in chunk {
                if let Some(folio) = pagemap.folio(self.pfn(block)) {
                    if folio.order() == 0 || compound_gone.contains(&folio.pfn()) {
                        heads[n] = folio.pfn();
                        n += 1;
                    }
                }
            }
            pagemap.untie_heads(&heads[..n]);
        }
        let mut busy = 0;
        let mut states = self.states.lock();
        // Announced before any refcount is read (fully ordered): see `folio_free`.
        self.leaving.fetch_add(1, Full);
        for &block in blocks {
            let b = block as usize;
            // An idle compound folio is kept while its extent is whole: this block leaving
            // breaks it up, so it is split now (the pages still in the file stay there, as
            // pages of their own; see `split_idle_locked`).
            self.split_idle_locked(&mut states, pagemap, self.pfn(block));
            let folio = pagemap.folio(self.pfn(block));
            let (refs, order) = folio.map_or((0, 0), |f| (f.ref_count(), f.order()));
            // A referenced folio keeps the block Busy until its free notification, which
            // releases it and splits the folio under this lock.
            busy += usize::from(Self::leave(&mut states, b, refs, order));
        }
        self.leaving.add(busy, Relaxed);
        self.leaving.fetch_sub(1, Relaxed);
        busy
    }

    /// A whole extent from `first` has left its file at once (truncate, punch, eviction):
    /// if its pages are one PMD-sized folio, that folio is untied from the file and all
    /// [`EXTENT`] blocks leave in one step, on one refcount read: free now, after a split, if
    /// the folio is idle, else Busy until its notification. Returns how many became Busy, or
    /// `None` (nothing done) if the pages are not one folio: then they leave block by block
    /// ([`Pool::release`]), each on its own refcount.
    pub(crate) fn release_extent(&self, pagemap: &DevPagemap<Self>, first: u32) -> Option<usize> {
        let pfn = self.pfn(first);
        if pfn % EXTENT != 0 || self.block_of(pfn + EXTENT - 1).is_none() {
            return None;
        }
        let mut states = self.states.lock();
        let folio = pagemap.folio(pfn)?;
        if folio.pfn() != pfn || folio.nr_pages() != EXTENT {
            return None;
        }
        // As in `release`.
        self.leaving.fetch_add(1, Full);
        // The whole folio leaves the file (the caller holds the invalidate lock: no fault
        // ties it again), before any block is free.
        pagemap.untie_heads(&[pfn]);
        // Under the pool lock the refcount cannot leave zero: first references are taken
        // under it (`get_page`), others only on a referenced folio.
        self.split_idle_locked(&mut states, pagemap, pfn);
        self.stats.extents_released.inc();
        let (refs, order) = (folio.ref_count(), folio.order());
        let first = first as usize;
        if refs == 0 && order == 0 && states.leave_all_idle(first, EXTENT) {
            if trace::block_release_enabled() {
                for b in first..first + EXTENT {
                    trace::block_release(b, states.owner(b) as usize);
                }
            }
            self.leaving.fetch_sub(1, Relaxed);
            return Some(0);
        }
        let mut busy = 0;
        for b in first..first + EXTENT {
            busy += usize::from(Self::leave(&mut states, b, refs, order));
        }
        self.leaving.add(busy, Relaxed);
        self.leaving.fetch_sub(1, Relaxed);
        Some(busy)
    }

    /// Splits the folio page `pfn` belongs to if it is an idle compound folio (see the module
    /// documentation); returns whether it did. Never sleeps.
    pub(crate) fn split_idle(&self, pagemap: &DevPagemap<Self>, pfn: usize) -> bool {
        let mut states = self.states.lock();
        self.split_idle_locked(&mut states, pagemap, pfn)
    }

    /// [`Pool::split_idle`] under the pool lock. The folio is idle, so its Busy blocks (if a
    /// free of it is still on its way, its notification has not released them yet) are
    /// released here, as that notification would have: once split, its pages are folios of
    /// their own, and that late notification (which the split does not disturb: it never
    /// writes the head page's `pgmap`) finds an order-0 page and releases one block at most.
    fn split_idle_locked(
        &self,
        states: &mut BlockStates,
        pagemap: &DevPagemap<Self>,
        pfn: usize,
    ) -> bool {
        let Some(folio) = pagemap.folio(pfn).filter(|f| f.order() > 0) else {
            return false;
        };
        let (head, n) = (folio.pfn(), folio.nr_pages());
        if pagemap.split_idle(folio) == 0 {
            return false;
        }
        self.stats.pmd_folios_split.inc();
        if let Some(first) = self.block_of(head) {
            self.release_busy(states, first, n);
        }
        true
    }

    /// Block `b` leaves its file, its folio with `refs` references and `order`
    /// ([`BlockStates::leave`]), traced; true if it became Busy. Under the pool lock.
    fn leave(states: &mut BlockStates, b: usize, refs: i32, order: u32) -> bool {
        match states.leave(b, refs, order) {
            Left::Released => {
                trace::block_release(b, states.owner(b) as usize);
                false
            }
            Left::Busy => {
                trace::block_busy(b, refs);
                true
            }
        }
    }

    /// The folio over blocks `first..first + n` is idle: its Busy blocks are free (or
    /// quarantined) now ([`BlockStates::folio_idle`]), counted and traced; returns how many.
    /// Under the pool lock.
    fn release_busy(&self, states: &mut BlockStates, first: usize, n: usize) -> usize {
        let stats = &self.stats;
        let mut released = 0;
        states.folio_idle(first, n, |k, owner| {
            released += 1;
            stats.busy_released.inc();
            trace::block_release(k, owner as usize);
        });
        self.leaving.fetch_sub(released, Relaxed);
        released
    }

    /// Page `pfn` failed: its block is never handed out again. A free block is taken out of
    /// service now; one in a file stays there (its accesses fail) until it leaves, and is
    /// then quarantined instead of freed; a Busy one is quarantined at its notification.
    pub(crate) fn poison(&self, pfn: usize) -> Result {
        let b = self.block_of(pfn).ok_or(ENXIO)?;
        if !self.states.lock().poison(b) {
            return Ok(());
        }
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
        self.states.lock().any_poisoned(first as usize, n)
    }

    /// The first Busy block at or after `from`, if any (no wrap-around).
    fn next_busy(&self, from: usize) -> Option<u32> {
        self.states.lock().next_busy(from).map(|b| b as u32)
    }

    /// `folio` is idle (its free notification, or the reaper on a kernel without one):
    /// release its Busy blocks, and split it if it is compound and its extent is no longer
    /// whole (a block of it was Busy) or a page of it has failed. A folio that is not idle
    /// (any more), or whose page became part of another folio, is left alone.
    fn folio_idle(&self, pagemap: Freeing<'_, Self>, folio: &Folio) {
        let pfn = folio.pfn();
        let Some(b) = self.block_of(pfn) else {
            // The probe page, outside the pool.
            trace::folio_free(folio, 0, 0);
            return;
        };
        let mut states = self.states.lock();
        let ino = states.owner(b) as usize;
        // A notification that raced with a new reference changes nothing: the folio is not
        // idle. (A page with a notification on its way is never made a tail page.)
        if !folio.is_current() || folio.ref_count() != 0 {
            drop(states);
            // Only the pfn: the order of a page that became a tail page is not its own.
            trace::folio_free_pfn(pfn, 0, ino, 0);
            return;
        }
        // The event shows the folio as it was freed (its order), before any split.
        trace::folio_free(folio, ino, folio.index());
        let released = self.release_busy(&mut states, b, folio.nr_pages());
        // The blocks of a kept folio are all in its file: nothing to do at its free.
        let broken = released > 0 || states.any_poisoned(b, folio.nr_pages());
        if folio.order() > 0 && broken && pagemap.split_idle(folio) > 0 {
            self.stats.pmd_folios_split.inc();
        }
    }
}

impl PagemapOwner for Pool {
    fn memory_failure(&self, pfn: usize) -> Result {
        self.poison(pfn)
    }

    /// What the free notification does, for every Busy block whose folio is idle now;
    /// returns a folio still referenced.
    fn reap(&self, pagemap: Freeing<'_, Self>) -> Option<usize> {
        let mut from = 0;
        let mut waiting = None;
        while let Some(b) = self.next_busy(from) {
            let Some(folio) = pagemap.folio(self.pfn(b)) else {
                break;
            };
            if folio.ref_count() == 0 {
                self.folio_idle(pagemap, folio);
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

    /// With no block Busy, no failed page and the `refdax_folio_free` event off, there is
    /// nothing to do: no lock is taken. That is sound because the kernel dropped the folio's
    /// last reference with a fully ordered atomic before calling us, and a release announces
    /// itself in `leaving` with one before it reads a refcount: either this read sees the
    /// release (and the lock orders us after it, to find the block Busy), or the release
    /// sees the refcount at zero and frees the block itself.
    fn folio_free(&self, pagemap: Freeing<'_, Self>, folio: &Folio) {
        self.stats.folio_free_calls.inc();
        if self.leaving.load(Relaxed) == 0
            && self.stats.pages_poisoned.get() == 0
            && !trace::folio_free_enabled()
        {
            return;
        }
        self.folio_idle(pagemap, folio);
    }
}
