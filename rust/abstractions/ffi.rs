// SPDX-License-Identifier: GPL-2.0

//! The C shim's entry points (`rust/refdax_shim.c`): static inline kernel helpers and trace
//! events that bindgen cannot give Rust.
//!
//! Each function is a one-line forward to the kernel helper of the same name without the
//! `refdax_` prefix; the kernel helper's contract is the contract here.

use kernel::{
    bindings,
    ffi::{c_char, c_uint, c_ulong},
};

// bindgen gives `struct folio` a zero-sized member (`its_array`), which the lint flags; only
// pointers cross this boundary, never the structs by value.
#[allow(improper_ctypes)]
unsafe extern "C" {
    /// `page_folio(pfn_to_page(pfn))`: `pfn` must have a struct page (be inside a pagemap).
    pub(super) fn refdax_pfn_folio(pfn: c_ulong) -> *mut bindings::folio;
    pub(super) fn refdax_folio_pfn(folio: *mut bindings::folio) -> c_ulong;
    pub(super) fn refdax_folio_order(folio: *mut bindings::folio) -> c_uint;
    /// Moves the refcount from zero to one atomically; false if it was not zero.
    pub(super) fn refdax_folio_try_get_idle(folio: *mut bindings::folio) -> bool;
    pub(super) fn refdax_folio_put(folio: *mut bindings::folio);
    /// `page_pgmap(&folio->page)`: only for `ZONE_DEVICE` folios.
    pub(super) fn refdax_folio_pgmap(folio: *mut bindings::folio) -> *mut bindings::dev_pagemap;
    /// `request_mem_region()`: NULL if any part of the range is already claimed.
    pub(super) fn refdax_request_mem_region(
        start: u64,
        n: u64,
        name: *const c_char,
    ) -> *mut bindings::resource;
    /// `release_mem_region()`.
    pub(super) fn refdax_release_mem_region(start: u64, n: u64);
    /// The pagemap's `folio_free` op: forwards to `refdax_pgmap_folio_free` (Rust).
    pub(super) fn refdax_folio_free(folio: *mut bindings::folio);
    pub(super) fn refdax_trace_folio_free(
        pfn: c_ulong,
        order: c_uint,
        ino: c_ulong,
        index: c_ulong,
    );
}
