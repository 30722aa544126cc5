// SPDX-License-Identifier: GPL-2.0

//! Physical address ranges in the kernel's iomem resource tree (`/proc/iomem`).

use super::ffi;
use kernel::{bindings, ffi::c_void, prelude::*};

/// A range of physical addresses claimed with `request_mem_region()`, released on drop.
///
/// While it is held, any other `request_mem_region()` over the range fails, e.g. the pmem
/// driver re-enabling the namespace.
///
/// # Invariants
///
/// `start..start + len` is claimed by this value in `iomem_resource`, and `len > 0`.
pub(crate) struct MemRegion {
    start: u64,
    len: u64,
}

impl MemRegion {
    /// Claims `start..start + len` under `name`; `EBUSY` if any part is claimed already.
    pub(crate) fn request(start: u64, len: u64, name: &'static CStr) -> Result<Self> {
        if len == 0 || start.checked_add(len).is_none() {
            return Err(EINVAL);
        }
        // SAFETY: `name` is a NUL-terminated string that lives forever, as the resource tree
        // keeps the pointer.
        let res = unsafe { ffi::refdax_request_mem_region(start, len, name.as_char_ptr()) };
        if res.is_null() {
            return Err(EBUSY);
        }
        // INVARIANT: the request succeeded for exactly this range.
        Ok(Self { start, len })
    }

    /// The first physical address.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

impl Drop for MemRegion {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we hold exactly this claim, given back once here.
        unsafe { ffi::refdax_release_mem_region(self.start, self.len) };
    }
}

/// A kind of memory resource, by its descriptor (`IORES_DESC_*`).
#[derive(Clone, Copy)]
pub(crate) enum MemKind {
    /// "Persistent Memory": an NVDIMM region described by ACPI NFIT.
    PersistentMemory,
    /// "Persistent Memory (legacy)": a `memmap=nn!ss` range.
    PersistentMemoryLegacy,
}

impl MemKind {
    fn desc(self) -> u32 {
        match self {
            Self::PersistentMemory => bindings::IORES_DESC_PERSISTENT_MEMORY,
            Self::PersistentMemoryLegacy => bindings::IORES_DESC_PERSISTENT_MEMORY_LEGACY,
        }
    }
}

/// Whether a single resource of `kind` covers all of `start..start + len`.
pub(crate) fn covered_by(kind: MemKind, start: u64, len: u64) -> bool {
    let Some(end) = start.checked_add(len).and_then(|e| e.checked_sub(1)) else {
        return false;
    };
    let mut want = [start, end];
    // SAFETY: `covers` only reads `want`, which outlives the walk.
    let ret = unsafe {
        bindings::walk_iomem_res_desc(
            kind.desc() as usize,
            bindings::IORESOURCE_MEM as usize,
            start,
            end,
            want.as_mut_ptr().cast(),
            Some(covers),
        )
    };
    ret == 1
}

/// `walk_iomem_res_desc()` callback: stops the walk with 1 at a resource that covers the range.
///
/// # Safety
///
/// `res` is a valid resource (the walk passes its overlap with the range asked for) and `arg`
/// points to `[start, end]`.
unsafe extern "C" fn covers(res: *mut bindings::resource, arg: *mut c_void) -> i32 {
    // SAFETY: by the function's contract.
    let (res, want) = unsafe { (&*res, &*arg.cast::<[u64; 2]>()) };
    i32::from(res.start <= want[0] && res.end >= want[1])
}

/// Whether any part of `start..start + len` is System RAM.
pub(crate) fn intersects_system_ram(start: u64, len: u64) -> bool {
    // SAFETY: `region_intersects()` only reads the resource tree under its lock.
    let ret = unsafe {
        bindings::region_intersects(
            start,
            len as usize,
            bindings::IORESOURCE_SYSTEM_RAM as usize,
            bindings::IORES_DESC_NONE as usize,
        )
    };
    ret != bindings::REGION_DISJOINT as i32
}
