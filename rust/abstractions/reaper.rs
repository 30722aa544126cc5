// SPDX-License-Identifier: GPL-2.0

//! A kernel thread that waits for FS DAX folios to become idle the upstream way: asleep on
//! the folio's page until `free_zone_device_folio()` calls `wake_up_var()` on it.
//!
//! For kernels that do not call the pagemap's `folio_free` for FS DAX folios (stock 7.3): the
//! owner's [`Reap::reap`] does what the notification would have done for whatever is idle now
//! and names one folio still referenced; the thread sleeps on that folio (at most a second,
//! for the others) and asks again. With nothing to wait for it sleeps until
//! [`Reaper::kick`]ed.

use super::ffi;
use core::{ffi::c_void, ptr::NonNull};
use kernel::{bindings, error::from_err_ptr, ffi::c_ulong, prelude::*, types::Opaque};

/// The work a [`Reaper`] does.
pub(crate) trait Reap: Sync {
    /// Handles whatever became idle; returns the pfn of a folio still referenced that the
    /// thread should wait for, or `None` if there is nothing to wait for.
    fn reap(&self) -> Option<usize>;
}

/// # Safety
///
/// `data` is the `&T` given to [`Reaper::start`], still valid.
unsafe extern "C" fn reap_trampoline<T: Reap>(data: *const c_void) -> c_ulong {
    // SAFETY: `data` is the `&T` given to `Reaper::start`, which outlives the thread (the
    // reaper is stopped before it can go away).
    let this = unsafe { &*data.cast::<T>() };
    this.reap().unwrap_or(0)
}

/// A running reaper thread; stopped (and waited for) on drop.
///
/// # Invariants
///
/// `task` is a thread started by `refdax_reaper_start()` with `args`, not yet stopped.
pub(crate) struct Reaper {
    task: NonNull<bindings::task_struct>,
    /// The thread's argument (`struct refdax_reaper_args`), which it reads and writes.
    args: KBox<Opaque<ffi::refdax_reaper_args>>,
}

impl Reaper {
    /// Starts a thread named `refdax-reaper` calling `owner.reap()`.
    ///
    /// # Safety
    ///
    /// `owner` must stay valid until the returned `Reaper` is dropped.
    pub(crate) unsafe fn start<T: Reap>(owner: &T) -> Result<Self> {
        let args = KBox::new(
            Opaque::new(ffi::refdax_reaper_args {
                reap: Some(reap_trampoline::<T>),
                data: core::ptr::from_ref(owner).cast(),
                kicked: bindings::atomic_t { counter: 0 },
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `args` is valid until the thread is stopped (it is dropped after that).
        let task = from_err_ptr(unsafe { ffi::refdax_reaper_start(args.get()) })?;
        // INVARIANT: `task` was just started with `args`, which the value keeps.
        Ok(Self {
            task: NonNull::new(task).ok_or(ENOMEM)?,
            args,
        })
    }
}

impl Reaper {
    /// Tells the thread there may be work: a block became busy.
    pub(crate) fn kick(&self) {
        // SAFETY: `args` is the thread's argument, valid while `self` lives (type invariant).
        unsafe { ffi::refdax_reaper_kick(self.args.get()) };
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the thread runs; it is stopped once, here.
        unsafe { ffi::refdax_reaper_stop(self.task.as_ptr()) };
    }
}

// SAFETY: the thread may be stopped from any task.
unsafe impl Send for Reaper {}
// SAFETY: `&Reaper` exposes nothing.
unsafe impl Sync for Reaper {}
