// SPDX-License-Identifier: GPL-2.0

//! refdax: FS DAX pages with the lifetimes of ordinary pages.
//!
//! refdax claims a pmem range, registers its own `MEMORY_DEVICE_FS_DAX` pagemap over it with
//! a `folio_free` callback, and learns from that callback when each of its folios is free.
//! See `Documentation/refdax.rst`.

use abstractions::fs::Registration;
use kernel::{prelude::*, sync::Arc};

// The only module with `unsafe`; the logic below cannot write any (its KUnit suites allow the
// kernel's `#[kunit_tests]` expansion).
mod abstractions;
#[deny(unsafe_code)]
mod blocks;
#[deny(unsafe_code)]
mod debug;
#[deny(unsafe_code)]
mod device;
#[deny(unsafe_code)]
mod file;
#[deny(unsafe_code)]
mod fs;
#[deny(unsafe_code)]
mod pmem;
#[deny(unsafe_code)]
mod stats;
#[deny(unsafe_code)]
mod uapi;

module! {
    type: Refdax,
    name: "refdax",
    authors: ["refdax developers"],
    description: "FS DAX pages refcounted like normal pages, with folio-free notifications",
    license: "GPL",
    params: {
        phys_addr: u64 {
            default: 0,
            description: "Physical start of the pmem range to manage (2 MiB aligned)",
        },
        size: u64 {
            default: 0,
            description: "Length of the pmem range in bytes (a multiple of 2 MiB)",
        },
    },
}

/// The loaded module. Fields drop in declaration order: the file system type goes first
/// (nothing is mounted: a mount pins the module), then debugfs, then the device.
struct Refdax {
    _fs: Pin<KBox<Registration<fs::RefdaxFs>>>,
    _debugfs: Pin<KBox<debug::DebugFs>>,
    _dev: Arc<device::Device>,
}

impl kernel::Module for Refdax {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let dev = device::Device::new(
            module_parameters::phys_addr.value(),
            module_parameters::size.value(),
        )?;
        let debugfs = KBox::pin_init(debug::DebugFs::new(&dev), GFP_KERNEL)?;
        let fs = KBox::pin_init(Registration::new(module, dev.clone()), GFP_KERNEL)?;
        Ok(Self {
            _fs: fs,
            _debugfs: debugfs,
            _dev: dev,
        })
    }
}
