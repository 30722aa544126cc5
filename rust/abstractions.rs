// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over the kernel interfaces refdax needs and the `kernel` crate lacks.
//!
//! This is the only part of refdax that touches `kernel::bindings`, raw pointers or the C
//! shim (`rust/refdax_shim.c`). The refdax logic is written against these types alone and has
//! no `unsafe`. Each wrapper is written as if it were to move into `rust/kernel/mm/`.

pub(crate) mod bitmap;
mod ffi;
pub(crate) mod folio;
pub(crate) mod fs;
pub(crate) mod iov;
pub(crate) mod mm;
pub(crate) mod pagemap;
pub(crate) mod reaper;
pub(crate) mod resource;
pub(crate) mod sched;
pub(crate) mod trace;
