// SPDX-License-Identifier: GPL-2.0

//! The fault paths of a file: a page per PTE fault, a PMD-sized folio per PMD fault when the
//! window allows it (see [`pmd_window`]), else a fallback counted by reason.

use super::{map::LEAF, pages, FileData};
use crate::{
    abstractions::{
        fs::Inode,
        mm::fault::{HugeFaultResult, VmFault, VmFaultResult},
        trace,
    },
    blocks::Want,
    device::Device,
    stats::PmdFallback,
};
use core::ops::Range;
use kernel::prelude::*;

const PAGE_SHIFT: u32 = 12;
/// The order of a PMD-sized folio.
const PMD_ORDER: u32 = 9;

/// The file page that starts the 2 MiB window a PMD fault at user address `addr` would map,
/// for a VMA over `vma` whose first page maps file page `vma_pgoff`, in a file of `eof`
/// pages: the window must lie wholly inside the VMA (`Misaligned`), start at a 2 MiB aligned
/// file offset (`Misaligned`) and end inside the file (`FileEnd`).
pub(super) fn pmd_window(
    addr: usize,
    vma: Range<usize>,
    vma_pgoff: usize,
    eof: usize,
) -> Result<usize, PmdFallback> {
    let size = LEAF << PAGE_SHIFT;
    let start = addr & !(size - 1);
    if start < vma.start || vma.end.saturating_sub(start) < size {
        return Err(PmdFallback::Misaligned);
    }
    let index = ((start - vma.start) >> PAGE_SHIFT)
        .checked_add(vma_pgoff)
        .ok_or(PmdFallback::Misaligned)?;
    if index % LEAF != 0 {
        return Err(PmdFallback::Misaligned);
    }
    if index.checked_add(LEAF).is_none_or(|end| end > eof) {
        return Err(PmdFallback::FileEnd);
    }
    Ok(index)
}

impl FileData {
    pub(crate) fn fault<'a>(
        &self,
        dev: &Device,
        inode: &Inode,
        vmf: &'a VmFault,
    ) -> VmFaultResult<'a> {
        let index = vmf.pgoff();
        if vmf.is_write() && vmf.is_shared() {
            vmf.update_file_time();
        }
        let mut map = self.map.lock();
        if index >= pages(inode.size()) {
            return VmFaultResult::SigBus;
        }
        // A PMD fault on the same PMD, serialised by the fault lock, mapped it since the core
        // chose the PTE path: nothing to do, the access is retried.
        if vmf.pmd_is_huge() {
            return VmFaultResult::NoPage;
        }
        // A hole gets a zeroed block, for reads too: every mapped page is a pmem page.
        if map.get(index).is_none() {
            let eof = pages(inode.size());
            match self.fill_holes_locked(dev, inode, &mut map, index, index + 1, eof) {
                Ok(()) => {}
                Err(e) if e == ENOMEM => return VmFaultResult::Oom,
                Err(_) => return VmFaultResult::SigBus,
            }
        }
        let Some(b) = map.get(index) else {
            return VmFaultResult::SigBus;
        };
        // The block stays the file's at `index` without `map`: blocks leave a file only under
        // the invalidate lock held exclusively, and the fault holds it shared. Faults of the
        // file on other PMDs, and lookups, go on meanwhile.
        drop(map);
        let pfn = dev.pool().pfn(b);
        // Our reference keeps the refcount above zero across the insert, as fs/dax.c does.
        // The page may be one of a PMD-sized folio (kept while its extent is whole, mapped or
        // not): then it is mapped as a page of that folio, and a PMD fault can still map the
        // whole folio. A page of its own is (again) tied to its file at `index`: a split
        // clears that.
        let want = Want {
            order: None,
            file: inode,
            index,
        };
        let folio = match dev.get_page(pfn, &want) {
            Ok(folio) => folio,
            Err(e) if e == EIO => return VmFaultResult::HwPoison,
            // The page is being made part of a folio: retry the access.
            Err(e) if e == EAGAIN => return VmFaultResult::NoPage,
            Err(_) => return VmFaultResult::SigBus,
        };
        if vmf.is_write() && !vmf.is_shared() {
            // A private write: the core copies the page into an anonymous one.
            dev.stats().pte_faults.inc();
            trace::fault(&folio, index, true);
            return vmf.set_cow_source(folio, pfn);
        }
        match vmf.insert_page(&folio, pfn, vmf.is_write()) {
            Ok(()) => {
                dev.stats().pte_faults.inc();
                trace::fault(&folio, index, vmf.is_write());
                VmFaultResult::NoPage
            }
            Err(result) => result,
        }
    }

    /// A fault that may map a PMD: maps the 2 MiB window around the address with one
    /// PMD-sized folio, or falls back to PTEs (see the module documentation).
    pub(crate) fn huge_fault(
        &self,
        dev: &Device,
        inode: &Inode,
        vmf: &VmFault,
        pte_only: bool,
    ) -> HugeFaultResult {
        // Counted once per fault: with `->map_pages`, a fallback under the per-VMA lock goes
        // on to the PTE fault under the same lock (no retry under the mmap lock).
        let fallback = |reason: PmdFallback| {
            dev.stats().pmd_fallback(reason);
            trace::pmd_fallback(vmf.pgoff(), reason as u32);
            HugeFaultResult::Fallback
        };
        if pte_only {
            return fallback(PmdFallback::PteOnly);
        }
        if vmf.is_write() && !vmf.is_shared() {
            return fallback(PmdFallback::PrivateWrite);
        }
        if vmf.is_write() {
            vmf.update_file_time();
        }
        let mut map = self.map.lock();
        let eof = pages(inode.size());
        let index = match pmd_window(vmf.address(), vmf.vma_range(), vmf.vma_pgoff(), eof) {
            Ok(index) => index,
            Err(reason) => return fallback(reason),
        };
        match self.fill_holes_locked(dev, inode, &mut map, index, index + LEAF, eof) {
            Ok(()) => {}
            Err(e) if e == ENOMEM => return fallback(PmdFallback::NoMemory),
            // Not enough space for the window: the PTE fault maps what it can.
            Err(_) => return fallback(PmdFallback::ShortExtent),
        }
        let Some(first) = map.get(index) else {
            return fallback(PmdFallback::ShortExtent);
        };
        let pfn = dev.pool().pfn(first);
        let contiguous =
            pfn % LEAF == 0 && (1..LEAF).all(|i| map.get(index + i) == Some(first + i as u32));
        if !contiguous {
            return fallback(PmdFallback::ShortExtent);
        }
        let want = Want {
            order: Some(PMD_ORDER),
            file: inode,
            index,
        };
        let folio = match dev.get_pmd_folio(pfn, &want) {
            Ok(folio) => folio,
            Err(e) if e == EBUSY => return fallback(PmdFallback::SubpagesMapped),
            Err(e) if e == EAGAIN => return fallback(PmdFallback::Unsettled),
            Err(e) if e == EIO => return fallback(PmdFallback::Poisoned),
            Err(_) => return fallback(PmdFallback::ShortExtent),
        };
        // If the insert does not map it, dropping our reference frees the folio again.
        match vmf.insert_folio_pmd(&folio, vmf.is_write()) {
            Ok(()) => {
                dev.stats().pmd_faults.inc();
                trace::fault(&folio, index, vmf.is_write());
                HugeFaultResult::NoPage
            }
            Err(HugeFaultResult::Fallback) => fallback(PmdFallback::Misaligned),
            Err(result) => result,
        }
    }
}

// The kernel's `#[kunit_tests]` expands to `unsafe` registration code.
#[allow(unsafe_code)]
#[kunit_tests(refdax_pmd_window)]
mod tests {
    use super::*;

    const MB2: usize = LEAF << PAGE_SHIFT;
    const BASE: usize = 0x7f00_0000_0000;

    #[test]
    fn an_aligned_window_inside_vma_and_file() {
        let vma = BASE..BASE + 4 * MB2;
        assert_eq!(pmd_window(BASE + 5 * 4096, vma.clone(), 0, 4 * LEAF), Ok(0));
        assert_eq!(
            pmd_window(BASE + MB2 + 1, vma.clone(), 0, 4 * LEAF),
            Ok(LEAF)
        );
        // The VMA maps the file from page 512 on.
        assert_eq!(pmd_window(BASE, vma, LEAF, 2 * LEAF), Ok(LEAF));
    }

    #[test]
    fn a_window_leaving_the_vma_falls_back() {
        // The VMA starts 4 KiB after a 2 MiB boundary: the window would start before it.
        let vma = BASE + 4096..BASE + 4 * MB2;
        assert_eq!(
            pmd_window(BASE + 8192, vma, 0, 4 * LEAF),
            Err(PmdFallback::Misaligned)
        );
        // The VMA ends inside the window.
        let vma = BASE..BASE + MB2 + 4096;
        assert_eq!(
            pmd_window(BASE + MB2, vma.clone(), 0, 4 * LEAF),
            Err(PmdFallback::Misaligned)
        );
        assert_eq!(pmd_window(BASE, vma, 0, 4 * LEAF), Ok(0));
    }

    #[test]
    fn a_misaligned_file_offset_falls_back() {
        let vma = BASE..BASE + 4 * MB2;
        assert_eq!(
            pmd_window(BASE, vma.clone(), 1, 4 * LEAF),
            Err(PmdFallback::Misaligned)
        );
        // A huge pgoff does not wrap around.
        assert_eq!(
            pmd_window(BASE, vma, usize::MAX - 3, usize::MAX),
            Err(PmdFallback::Misaligned)
        );
    }

    #[test]
    fn a_window_past_eof_falls_back() {
        let vma = BASE..BASE + 4 * MB2;
        assert_eq!(
            pmd_window(BASE, vma.clone(), 0, LEAF - 1),
            Err(PmdFallback::FileEnd)
        );
        assert_eq!(pmd_window(BASE, vma.clone(), 0, LEAF), Ok(0));
        assert_eq!(
            pmd_window(BASE + MB2, vma, 0, LEAF + 1),
            Err(PmdFallback::FileEnd)
        );
    }
}
