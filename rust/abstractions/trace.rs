// SPDX-License-Identifier: GPL-2.0

//! refdax's trace events (`events/refdax/` in tracefs), defined in `rust/refdax_trace.h`.

use super::{ffi, folio::Folio};

/// `refdax_folio_free`: `folio` reached refcount zero and the owner was notified; `ino` and
/// `index` say which file page it held (0 and 0 for none).
pub(crate) fn folio_free(folio: &Folio, ino: usize, index: usize) {
    // SAFETY: the trace wrapper only copies its scalar arguments into the ring buffer.
    unsafe { ffi::refdax_trace_folio_free(folio.pfn(), folio.order(), ino, index) };
}
