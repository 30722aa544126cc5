// SPDX-License-Identifier: GPL-2.0

//! Scheduling points for long loops in process context.

use super::ffi;

/// Gives the CPU to another task if one is due (`cond_resched()`).
///
/// For loops whose length userspace chooses (a range of blocks, a scan of the pagemap): call
/// it between bounded batches, never with a spinlock held. Process context only.
pub(crate) fn cond_resched() {
    // SAFETY: `cond_resched()` has no preconditions beyond process context, which the
    // callers are in (see above); it may sleep.
    unsafe { ffi::refdax_cond_resched() };
}
