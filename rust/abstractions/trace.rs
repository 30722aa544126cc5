// SPDX-License-Identifier: GPL-2.0

//! refdax's trace events (`events/refdax/` in tracefs), defined in `rust/refdax_trace.h`.

use super::{ffi, folio::Folio};

/// `refdax_folio_free`: `folio` reached refcount zero and the owner was notified; `ino` and
/// `index` say which file page it held (0 and 0 for none).
pub(crate) fn folio_free(folio: &Folio, ino: usize, index: usize) {
    folio_free_pfn(folio.pfn(), folio.order(), ino, index);
}

/// `refdax_folio_free` from its fields, for a folio that may no longer be one.
pub(crate) fn folio_free_pfn(pfn: usize, order: u32, ino: usize, index: usize) {
    // SAFETY: the trace wrapper only copies its scalar arguments into the ring buffer.
    unsafe { ffi::refdax_trace_folio_free(pfn, order, ino, index) };
}

/// Whether `refdax_folio_free` is enabled: a notification with nothing else to do skips
/// even the lookups the event needs when it is not.
pub(crate) fn folio_free_enabled() -> bool {
    // SAFETY: reads the tracepoint's static key; no arguments.
    unsafe { ffi::refdax_trace_folio_free_enabled() }
}

/// `refdax_fault`: a fault mapped `folio` at file page `pgoff`.
pub(crate) fn fault(folio: &Folio, pgoff: usize, write: bool) {
    // SAFETY: the trace wrapper only copies its scalar arguments into the ring buffer.
    unsafe { ffi::refdax_trace_fault(folio.pfn(), folio.order(), pgoff, write) };
}

/// `refdax_block_release`: `block`, last held by inode `ino`, is free again.
pub(crate) fn block_release(block: usize, ino: usize) {
    // SAFETY: the trace wrapper only copies its scalar arguments into the ring buffer.
    unsafe { ffi::refdax_trace_block_release(block, ino) };
}

/// Whether `refdax_block_release` is enabled: a caller releasing many blocks at once walks
/// them for the events only then.
pub(crate) fn block_release_enabled() -> bool {
    // SAFETY: reads the tracepoint's static key; no arguments.
    unsafe { ffi::refdax_trace_block_release_enabled() }
}

/// `refdax_block_busy`: `block` left its file with `refcount` references still held.
pub(crate) fn block_busy(block: usize, refcount: i32) {
    // SAFETY: the trace wrapper only copies its scalar arguments into the ring buffer.
    unsafe { ffi::refdax_trace_block_busy(block, refcount) };
}

/// `refdax_pmd_fallback`: a PMD fault at file page `pgoff` fell back to PTEs; `reason` is the
/// index of the reason in the event's symbol table (`rust/refdax_trace.h`).
pub(crate) fn pmd_fallback(pgoff: usize, reason: u32) {
    // SAFETY: the trace wrapper only copies its scalar arguments into the ring buffer.
    unsafe { ffi::refdax_trace_pmd_fallback(pgoff, reason) };
}

/// `refdax_teardown_wait_start`: teardown found `referenced` folios still referenced, the
/// first at `first_pfn`, and starts waiting for them.
pub(crate) fn teardown_wait_start(referenced: usize, first_pfn: usize) {
    // SAFETY: the trace wrapper only copies its scalar arguments into the ring buffer.
    unsafe { ffi::refdax_trace_teardown_wait_start(referenced, first_pfn) };
}

/// `refdax_teardown_wait_end`: no folio is referenced any more, after `passes` scans and
/// `waited_ns` of waiting.
pub(crate) fn teardown_wait_end(passes: usize, waited_ns: u64) {
    // SAFETY: the trace wrapper only copies its scalar arguments into the ring buffer.
    unsafe { ffi::refdax_trace_teardown_wait_end(passes, waited_ns) };
}
