// SPDX-License-Identifier: GPL-2.0

//! Page faults in mappings of a file: what a handler sees and what it may return.

use crate::abstractions::{
    ffi,
    folio::{Folio, FolioRef},
};
use core::{marker::PhantomData, mem::ManuallyDrop};
use kernel::{bindings, types::Opaque};

/// A page fault (`struct vm_fault`) in a mapping of a file.
///
/// # Invariants
///
/// `self.0` is the fault being handled, valid for the lifetime of the reference; the mmap
/// lock (or the VMA lock) is held, and so is the faulting file's fault lock for the PMD of the
/// faulting address (the trampolines hold it around the handlers), so no other fault of the
/// file changes that PMD meanwhile.
#[repr(transparent)]
pub(crate) struct VmFault(Opaque<bindings::vm_fault>);

/// What a fault handler ([`FileSystem::fault`]) tells the core, about the fault `'a`.
#[derive(PartialEq, Eq, Debug)]
#[must_use]
pub(crate) enum VmFaultResult<'a> {
    /// The handler installed the page table entry itself (or a racing fault did).
    NoPage,
    /// The handler set the page the core copies from for a private write; only
    /// [`VmFault::set_cow_source`] makes it, so `vmf->page` is always set with it.
    CowSource(CowSourceSet<'a>),
    /// The access is outside the file: the process gets `SIGBUS`.
    SigBus,
    /// Out of memory.
    Oom,
    /// The page has failed (memory failure): the process gets `SIGBUS` (`BUS_MCEERR_AR`).
    HwPoison,
}

/// Proof that [`VmFault::set_cow_source`] set `vmf->page` of the fault `'a`: made only in
/// this module, neither `Clone` nor `Copy`, and bound to that fault.
#[derive(PartialEq, Eq, Debug)]
pub(crate) struct CowSourceSet<'a>(PhantomData<&'a VmFault>);

/// What a PMD fault handler ([`FileSystem::huge_fault`]) tells the core.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[must_use]
pub(crate) enum HugeFaultResult {
    /// The handler installed the PMD itself, or the access is to be retried.
    NoPage,
    /// The access is outside the file: the process gets `SIGBUS`.
    SigBus,
    /// Out of memory.
    Oom,
    /// Not served with a PMD: the core retries with PTEs.
    Fallback,
}

impl VmFaultResult<'_> {
    pub(crate) fn into_raw(self) -> bindings::vm_fault_t {
        match self {
            Self::NoPage => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            Self::CowSource(_) => 0,
            Self::SigBus => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
            Self::Oom => bindings::vm_fault_reason_VM_FAULT_OOM,
            Self::HwPoison => bindings::vm_fault_reason_VM_FAULT_HWPOISON,
        }
    }

    /// The result of an insert (`VM_FAULT_NOPAGE` when it mapped the page).
    fn from_insert(raw: bindings::vm_fault_t) -> Result<(), Self> {
        if raw & bindings::vm_fault_reason_VM_FAULT_OOM != 0 {
            Err(Self::Oom)
        } else if raw & bindings::vm_fault_reason_VM_FAULT_NOPAGE != 0 {
            Ok(())
        } else {
            Err(Self::SigBus)
        }
    }
}

impl HugeFaultResult {
    pub(crate) fn to_raw(self) -> bindings::vm_fault_t {
        match self {
            Self::NoPage => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            Self::SigBus => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
            Self::Oom => bindings::vm_fault_reason_VM_FAULT_OOM,
            Self::Fallback => bindings::vm_fault_reason_VM_FAULT_FALLBACK,
        }
    }

    /// The result of a PMD insert (`VM_FAULT_NOPAGE` when it mapped the folio).
    fn from_insert(raw: bindings::vm_fault_t) -> Result<(), Self> {
        match VmFaultResult::from_insert(raw) {
            Ok(()) => Ok(()),
            Err(VmFaultResult::Oom) => Err(Self::Oom),
            Err(_) => Err(Self::SigBus),
        }
    }
}

impl VmFault {
    /// The fault's VMA. No reference into the `vm_fault` is made: [`VmFault::set_cow_source`]
    /// writes to it through the same pointer.
    fn vma(&self) -> *mut bindings::vm_area_struct {
        // SAFETY: by the type invariant the fault is valid; a plain field read.
        unsafe { (*self.0.get()).__bindgen_anon_1.vma }
    }

    /// The fault's flags (`FAULT_FLAG_*`).
    fn flags(&self) -> bindings::fault_flag {
        // SAFETY: by the type invariant the fault is valid; a plain field read.
        unsafe { (*self.0.get()).flags }
    }

    /// The file page the fault is for.
    pub(crate) fn pgoff(&self) -> usize {
        // SAFETY: by the type invariant the fault is valid; a plain field read.
        unsafe { (*self.0.get()).__bindgen_anon_1.pgoff }
    }

    /// The faulting user address, rounded down to its page.
    pub(crate) fn address(&self) -> usize {
        // SAFETY: by the type invariant the fault is valid; a plain field read.
        unsafe { (*self.0.get()).__bindgen_anon_1.address }
    }

    /// The VMA's user address range.
    pub(crate) fn vma_range(&self) -> core::ops::Range<usize> {
        let vma = self.vma();
        // SAFETY: the VMA is valid while its fault is handled, and its range does not change
        // under the mmap or VMA lock the fault holds; plain field reads.
        unsafe {
            (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_start
                ..(*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end
        }
    }

    /// The file page the VMA's first page maps (`vm_pgoff`).
    pub(crate) fn vma_pgoff(&self) -> usize {
        // SAFETY: the VMA is valid while its fault is handled, and `vm_pgoff` does not change
        // under the mmap or VMA lock the fault holds; a plain field read.
        unsafe { (*self.vma()).vm_pgoff }
    }

    /// Whether a PMD maps the faulting address's 2 MiB now: a PMD fault of another thread
    /// won the race. A PTE insert there is a bug (`walk_to_pmd()`); the fault should just
    /// return and be retried, as `fs/dax.c` does. Stable while the fault is handled: only a
    /// PMD fault of the same file makes the PMD huge, and the file's fault lock for this PMD
    /// is held (type invariant).
    pub(crate) fn pmd_is_huge(&self) -> bool {
        // SAFETY: the fault is valid (type invariant).
        unsafe { ffi::refdax_vmf_pmd_is_huge(self.0.get()) }
    }

    /// Sets the file's modification and change times to now, as a write fault of a shared
    /// mapping must (stores through it change the file): `file_update_time()`, as ext4's
    /// and xfs's DAX faults do. The VFS rate-limits it to the time granularity.
    pub(crate) fn update_file_time(&self) {
        // SAFETY: the VMA and its file are valid while the fault is handled; the function
        // takes no lock the fault holds (it marks the inode dirty under `i_lock`).
        unsafe { bindings::file_update_time((*self.vma()).vm_file) };
    }

    /// Whether the access was a write.
    pub(crate) fn is_write(&self) -> bool {
        self.flags() & bindings::fault_flag_FAULT_FLAG_WRITE != 0
    }

    /// Whether the mapping is shared (`MAP_SHARED`) rather than private.
    pub(crate) fn is_shared(&self) -> bool {
        // SAFETY: the VMA is valid while its fault is handled.
        unsafe { (*self.vma()).__bindgen_anon_2.vm_flags & bindings::VM_SHARED != 0 }
    }

    /// Maps page `pfn` of `folio` (a whole order-0 folio, or one page of a larger one) at
    /// the faulting address with `vmf_insert_page_mkwrite()`, the insert-page path: the PTE
    /// takes a folio reference and a file rmap, like a page cache page. `write` maps it
    /// writable and dirty.
    ///
    /// `Ok` when the page is mapped at the address now (by this insert, or already by a
    /// racing fault of the same page); otherwise the result the fault must return.
    pub(crate) fn insert_page(
        &self,
        folio: &FolioRef<'_>,
        pfn: usize,
        write: bool,
    ) -> Result<(), VmFaultResult<'_>> {
        let Some(page) = folio_page(folio, pfn) else {
            return Err(VmFaultResult::SigBus);
        };
        // A writable mapping of the file's page in a private mapping would let stores change
        // the file: private writes copy (`set_cow_source`).
        if write && !self.is_shared() {
            return Err(VmFaultResult::SigBus);
        }
        // A PMD fault of another thread mapped this 2 MiB since the core chose the PTE path:
        // a PTE insert there is a bug (`walk_to_pmd()`); the access is just retried. No PMD
        // fault of the file on this PMD runs until we return (its fault lock, type invariant).
        if self.pmd_is_huge() {
            return Err(VmFaultResult::NoPage);
        }
        // SAFETY: the fault is valid (type invariant) and we hold a reference on the folio,
        // so its refcount is above zero as the insert requires.
        let ret = unsafe { bindings::vmf_insert_page_mkwrite(self.0.get(), page, write) };
        VmFaultResult::from_insert(ret)
    }

    /// Maps the PMD-sized `folio` at the faulting address's 2 MiB window with
    /// `vmf_insert_folio_pmd()`: one PMD, one folio reference, one PMD rmap. The window must
    /// lie inside the VMA (checked here); that it maps the folio's file pages is the caller's
    /// business. No PTE fault of the file on this PMD runs meanwhile (its fault lock, type
    /// invariant).
    ///
    /// If the PMD is no longer empty (a PTE fault of another thread installed a page table
    /// since the core looked) or maps another folio, nothing is inserted and the access is
    /// retried (`Err(`[`VmFaultResult::NoPage`]`)`), as `fs/dax.c` does. `Ok` when the folio
    /// is mapped by the PMD now.
    pub(crate) fn insert_folio_pmd(
        &self,
        folio: &FolioRef<'_>,
        write: bool,
    ) -> Result<(), HugeFaultResult> {
        if folio.order() != bindings::HPAGE_PMD_ORDER {
            return Err(HugeFaultResult::SigBus);
        }
        // As in `insert_page`: never the file's pages writable in a private mapping.
        if write && !self.is_shared() {
            return Err(HugeFaultResult::Fallback);
        }
        // The PMD must map the window inside the VMA; the core only checks its start.
        let size = bindings::PAGE_SIZE << bindings::HPAGE_PMD_ORDER;
        let addr = self.address() & !(size - 1);
        let vma = self.vma_range();
        if addr < vma.start || vma.end - addr < size {
            return Err(HugeFaultResult::Fallback);
        }
        // SAFETY: the fault is valid; `pmd` is set for a PMD fault.
        if !unsafe { ffi::refdax_vmf_pmd_insertable(self.0.get(), folio.pfn()) } {
            return Err(HugeFaultResult::NoPage);
        }
        // SAFETY: the fault is valid, the folio is PMD-sized and we hold a reference on it.
        let ret = unsafe { bindings::vmf_insert_folio_pmd(self.0.get(), folio.as_raw(), write) };
        HugeFaultResult::from_insert(ret)
    }

    /// For a write fault in a private mapping: hands the core page `pfn` of `folio` to copy
    /// into the new anonymous page (`vmf->page`); the core locks it, copies, and drops the
    /// reference.
    ///
    /// The result must be what the fault returns: the core's reference is only put if it sees
    /// [`VmFaultResult::CowSource`].
    pub(crate) fn set_cow_source(&self, folio: FolioRef<'_>, pfn: usize) -> VmFaultResult<'_> {
        // Only a write fault in a private mapping copies (`do_cow_fault()`).
        if !self.is_write() || self.is_shared() {
            return VmFaultResult::SigBus;
        }
        let Some(page) = folio_page(&folio, pfn) else {
            return VmFaultResult::SigBus;
        };
        // SAFETY: the fault is valid (type invariant); a plain field read.
        if !unsafe { (*self.0.get()).page }.is_null() {
            // Set already: a second source would leak the first's reference.
            return VmFaultResult::SigBus;
        }
        let _ = ManuallyDrop::new(folio);
        // SAFETY: the fault is valid; the core takes over the reference we forget here and
        // puts it (on the page's folio) after the copy (`do_cow_fault()`), if the fault
        // returns `CowSource`; otherwise `drop_unused_cow_source` puts it.
        unsafe { (*self.0.get()).page = page };
        VmFaultResult::CowSource(CowSourceSet(PhantomData))
    }

    /// After a handler returned something other than [`VmFaultResult::CowSource`]: gives
    /// back the reference of a copy source it set nonetheless, which the core would not put.
    pub(in crate::abstractions) fn drop_unused_cow_source(&self) {
        // SAFETY: the fault is valid (type invariant); plain field accesses.
        let page =
            unsafe { core::ptr::replace(&raw mut (*self.0.get()).page, core::ptr::null_mut()) };
        if !page.is_null() {
            // SAFETY: `set_cow_source` set `page` with a reference of ours, which nobody
            // took over.
            unsafe { ffi::refdax_put_page(page) };
        }
    }
}

/// The struct page of page `pfn` of `folio`, or `None` if `pfn` is not one of its pages.
fn folio_page(folio: &Folio, pfn: usize) -> Option<*mut bindings::page> {
    // SAFETY: a page of a valid folio has a struct page.
    folio
        .contains(pfn)
        .then(|| unsafe { ffi::refdax_pfn_page(pfn) })
}
