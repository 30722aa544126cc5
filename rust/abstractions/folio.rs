// SPDX-License-Identifier: GPL-2.0

//! Folios (`struct folio`): the unit in which the kernel maps, refcounts and frees memory.

use super::ffi;
use core::{marker::PhantomData, ops::Deref, ptr::NonNull};
use kernel::{bindings, types::Opaque};

/// A folio borrowed from the kernel.
///
/// The struct page memory behind a `ZONE_DEVICE` folio lives as long as its pagemap, so a
/// `&Folio` handed out by [`DevPagemap`](super::pagemap::DevPagemap) is bounded by the borrow
/// of the pagemap. The folio's *contents* (order, refcount) change concurrently; the getters
/// below are snapshots.
///
/// # Invariants
///
/// `self.0` is a valid `struct folio` for the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct Folio(Opaque<bindings::folio>);

impl Folio {
    /// Borrows the folio at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct folio` that stays valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::folio) -> &'a Self {
        // SAFETY: `Folio` is `repr(transparent)` over `Opaque<folio>`, and the caller
        // guarantees that `ptr` is valid for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// The raw `struct folio`.
    pub(crate) fn as_raw(&self) -> *mut bindings::folio {
        self.0.get()
    }

    /// The page frame number of the folio's first page.
    pub(crate) fn pfn(&self) -> usize {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { ffi::refdax_folio_pfn(self.as_raw()) as usize }
    }

    /// The folio's order: 0 for a single page, 9 for a PMD-sized folio on x86-64.
    pub(crate) fn order(&self) -> u32 {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { ffi::refdax_folio_order(self.as_raw()) }
    }

    /// The number of pages in the folio.
    pub(crate) fn nr_pages(&self) -> usize {
        1 << self.order()
    }

    /// Whether page `pfn` is one of the folio's pages.
    pub(crate) fn contains(&self, pfn: usize) -> bool {
        (self.pfn()..self.pfn() + self.nr_pages()).contains(&pfn)
    }

    /// Whether the folio is still a folio of its own: false once its page has become a tail
    /// page of a larger folio (a notification that raced with building one is stale).
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { ffi::refdax_folio_is_current(self.as_raw()) }
    }

    /// Splits an idle compound `ZONE_DEVICE` folio back into order-0 pages, as
    /// `fs/dax.c` does when a PMD folio leaves its last mapping; returns the order it had.
    /// Does nothing (returns 0) for an order-0, referenced or no longer current folio.
    ///
    /// The caller must serialise this against anyone taking a reference on the folio (the
    /// check of the refcount and the split are not one atomic step).
    pub(crate) fn split_idle(&self) -> u32 {
        if !self.is_current() || self.order() == 0 || self.ref_count() != 0 {
            return 0;
        }
        // SAFETY: the folio is a current, idle compound folio of a pagemap; nobody takes a
        // reference meanwhile (caller).
        unsafe { ffi::refdax_folio_split(self.as_raw()) }
    }

    /// The file page index the folio was attached at (meaningful while attached).
    pub(crate) fn index(&self) -> usize {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { ffi::refdax_folio_index(self.as_raw()) }
    }

    /// The folio's reference count (a snapshot).
    pub(crate) fn ref_count(&self) -> i32 {
        // SAFETY: by the type invariant the folio is valid.
        unsafe { ffi::refdax_folio_ref_count(self.as_raw()) }
    }

    /// Takes a reference, whatever the refcount, as `fs/dax.c` does before inserting a folio.
    ///
    /// Taking a reference on an idle `ZONE_DEVICE` folio hands it out: the caller must be its
    /// owner (refdax: the block belongs to the file being faulted, under the file's lock).
    /// The flag says whether the refcount was zero: every such first reference ends, when
    /// dropped, in exactly one call of the kernel's free path for the folio.
    pub(crate) fn get(&self) -> (FolioRef<'_>, bool) {
        // SAFETY: by the type invariant the folio is valid.
        let count = unsafe { ffi::refdax_folio_ref_inc(self.as_raw()) };
        // INVARIANT: we just took the reference that `FolioRef` owns.
        (FolioRef(NonNull::from(self), PhantomData), count == 1)
    }

    /// Takes the first reference on an idle `ZONE_DEVICE` folio (refcount zero), atomically;
    /// `None` if somebody holds a reference.
    ///
    /// Dropping the returned reference frees the folio again, which runs the pagemap's
    /// free path (`free_zone_device_folio()`).
    pub(crate) fn try_get_idle(&self) -> Option<FolioRef<'_>> {
        // SAFETY: by the type invariant the folio is valid.
        if unsafe { ffi::refdax_folio_try_get_idle(self.as_raw()) } {
            // INVARIANT: we just took the reference that `FolioRef` owns.
            Some(FolioRef(NonNull::from(self), PhantomData))
        } else {
            None
        }
    }
}

/// An owned reference to a folio, dropped with `folio_put()`.
///
/// A reference does not keep a `ZONE_DEVICE` folio's struct page alive (`memunmap_pages()`
/// does not wait for FS DAX references), so it borrows the folio for `'a`, which the pagemap
/// bounds.
///
/// # Invariants
///
/// The value owns one reference on the folio at `self.0`, which is valid for `'a`.
pub(crate) struct FolioRef<'a>(NonNull<Folio>, PhantomData<&'a Folio>);

impl<'a> FolioRef<'a> {
    /// Takes over a reference the caller owns.
    ///
    /// # Safety
    ///
    /// The caller owns one reference on `folio` and gives it to the returned value.
    pub(crate) unsafe fn from_owned(folio: &'a Folio) -> Self {
        // INVARIANT: by the caller.
        FolioRef(NonNull::from(folio), PhantomData)
    }
}

impl Deref for FolioRef<'_> {
    type Target = Folio;

    fn deref(&self) -> &Folio {
        // SAFETY: by the type invariant the folio is valid for `'a`.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for FolioRef<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own one reference, given back here exactly once.
        unsafe { ffi::refdax_folio_put(self.as_raw()) };
    }
}

// SAFETY: a folio reference may be dropped from any thread; `folio_put()` has no thread
// affinity.
unsafe impl Send for FolioRef<'_> {}
// SAFETY: `&FolioRef` only gives `&Folio`, whose methods are safe to call concurrently.
unsafe impl Sync for FolioRef<'_> {}
