// SPDX-License-Identifier: GPL-2.0

//! Validating and claiming the pmem range refdax manages (`phys_addr=`, `size=`).

use crate::abstractions::resource::{self, MemKind, MemRegion};
use kernel::{prelude::*, sizes::SZ_2M};

/// Ranges are 2 MiB aligned so that every 2 MiB of a file can be a PMD-mapped folio.
pub(crate) const ALIGN: u64 = SZ_2M as u64;

/// Checks `phys..phys + size` and claims it, saying in the log why a bad range is refused.
///
/// The range must be non-empty, 2 MiB aligned at both ends, clear of System RAM, inside one
/// "Persistent Memory" resource, and claimed by nobody else (the pmem driver holds the range
/// of every enabled namespace).
pub(crate) fn claim(phys: u64, size: u64) -> Result<MemRegion> {
    if size == 0 {
        pr_err!("size= is required: the length of the pmem range to manage, a multiple of 2 MiB\n");
        return Err(EINVAL);
    }
    if phys % ALIGN != 0 || size % ALIGN != 0 {
        pr_err!("phys_addr={phys:#x} size={size:#x}: both must be multiples of 2 MiB\n");
        return Err(EINVAL);
    }
    let Some(end) = phys.checked_add(size) else {
        pr_err!("phys_addr={phys:#x} size={size:#x}: the range wraps around\n");
        return Err(EINVAL);
    };
    if resource::intersects_system_ram(phys, size) {
        pr_err!("{phys:#x}-{:#x} overlaps System RAM\n", end - 1);
        return Err(EINVAL);
    }
    if !resource::covered_by(MemKind::PersistentMemory, phys, size)
        && !resource::covered_by(MemKind::PersistentMemoryLegacy, phys, size)
    {
        pr_err!(
            "{phys:#x}-{:#x} is not inside one \"Persistent Memory\" range (see /proc/iomem)\n",
            end - 1
        );
        return Err(EINVAL);
    }
    MemRegion::request(phys, size, c"refdax").inspect_err(|_| {
        pr_err!(
            "{phys:#x}-{:#x} is claimed already (an enabled pmem namespace or another refdax?): disable its namespace first\n",
            end - 1
        );
    })
}
