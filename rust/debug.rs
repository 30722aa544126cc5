// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/refdax/`: counters and probes for tests and people.
//!
//! - `stats`: one `name value` per line (see [`Device::write_stats`]).
//! - `probe_free`: writing anything frees one idle folio through the kernel's free path;
//!   `folio_free_calls` grows by one if the kernel notifies FS DAX frees.

use crate::device::Device;
use kernel::{
    debugfs::{Dir, File},
    prelude::*,
    sync::Arc,
    uaccess::UserSliceReader,
};

/// The debugfs directory and its files, removed on drop.
#[pin_data]
pub(crate) struct DebugFs {
    #[pin]
    _stats: File<Arc<Device>>,
    #[pin]
    _probe: File<Arc<Device>>,
    _dir: Dir,
}

impl DebugFs {
    pub(crate) fn new(dev: &Arc<Device>) -> impl PinInit<Self, Error> + '_ {
        let dir = Dir::new(c"refdax");
        try_pin_init!(Self {
            _stats <- dir.read_callback_file(c"stats", dev.clone(), &|dev: &Arc<Device>, f| {
                dev.write_stats(f)
            }),
            _probe <- dir.write_callback_file(c"probe_free", dev.clone(), &probe_write),
            _dir: dir,
        })
    }
}

fn probe_write(dev: &Arc<Device>, _input: &mut UserSliceReader) -> Result {
    dev.probe_free().map(|_| ())
}
