// SPDX-License-Identifier: GPL-2.0

//! Folios (`struct folio`): the unit in which the kernel maps, refcounts and frees memory.

use super::ffi;
use core::{marker::PhantomData, ops::Deref, ptr::NonNull};
use kernel::{bindings, types::Opaque};

/// A folio of a [`DevPagemap`](super::pagemap::DevPagemap), borrowed from the kernel.
///
/// The struct page memory behind a `ZONE_DEVICE` folio lives as long as its pagemap, so a
/// `&Folio` handed out by the pagemap is bounded by the borrow of the pagemap. The folio's
/// *contents* (order, refcount) change concurrently; the getters below are snapshots. In
/// particular the page may have become a tail page of a larger folio since it was looked up
/// ([`Folio::is_current`]): references are therefore taken only through the pagemap
/// ([`DevPagemap::get`](super::pagemap::DevPagemap::get)), which checks that under the lock
/// that builds and splits folios hold, so that a [`FolioRef`] always holds a folio head.
///
/// # Invariants
///
/// `self.0` is a `struct page` of a live `MEMORY_DEVICE_FS_DAX` pagemap, valid for the
/// lifetime of the reference, that was a folio head when the reference was made.
#[repr(transparent)]
pub(crate) struct Folio(Opaque<bindings::folio>);

impl Folio {
    /// Borrows the folio at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a folio head of a live FS DAX pagemap that stays valid for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::folio) -> &'a Self {
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
}

/// An owned reference to a folio, dropped with `folio_put()`.
///
/// A reference does not keep a `ZONE_DEVICE` folio's struct page alive (`memunmap_pages()`
/// does not wait for FS DAX references), so it borrows the folio for `'a`, which the pagemap
/// bounds.
///
/// # Invariants
///
/// The value owns one reference on the folio at `self.0`, which is valid for `'a`. While that
/// reference lives the folio is neither split nor built over (both need every page idle), so
/// it stays a folio head.
pub(crate) struct FolioRef<'a>(NonNull<Folio>, PhantomData<&'a Folio>);

impl<'a> FolioRef<'a> {
    /// Takes over a reference the caller owns.
    ///
    /// # Safety
    ///
    /// The caller owns one reference on `folio` and gives it to the returned value.
    pub(super) unsafe fn from_owned(folio: &'a Folio) -> Self {
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
