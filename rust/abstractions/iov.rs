// SPDX-License-Identifier: GPL-2.0

//! I/O iterators: the `kernel` crate's [`IovIterDest`] (the buffers a read fills) and
//! [`IovIterSource`] (the buffers a write takes from), and the one operation refdax needs that
//! they lack.

use kernel::bindings;
pub(crate) use kernel::iov::{IovIterDest, IovIterSource};

/// Writing zeros into the buffers a read fills: what a hole reads as.
pub(crate) trait ZeroFill {
    /// Writes `len` zero bytes; returns the bytes written, short if the buffer faults.
    fn zero(&mut self, len: usize) -> usize;
}

impl ZeroFill for IovIterDest<'_> {
    fn zero(&mut self, len: usize) -> usize {
        // SAFETY: by the type invariant of `IovIterDest` the iterator is valid, a destination,
        // and its buffers may be written; `iov_iter_zero()` writes at most `len` bytes of
        // them and advances the iterator.
        unsafe { bindings::iov_iter_zero(len, self.as_raw()) }
    }
}
