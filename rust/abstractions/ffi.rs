// SPDX-License-Identifier: GPL-2.0

//! The C shim's entry points (`rust/refdax_shim.c`): static inline kernel helpers, trace
//! events and the fs_context glue that the kernel's bindings cannot give Rust.
//!
//! The declarations are generated from `rust/refdax_shim.h` (`scripts/gen-shim-bindings.sh`,
//! checked by `make check`), so that the C and Rust sides cannot disagree. Each function's
//! contract is the kernel helper's that its comment names.

// bindgen's output: C names, and `struct folio`'s zero-sized member (`its_array`) crosses the
// boundary only behind pointers.
#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    improper_ctypes,
    unreachable_pub,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]
mod bindings;

pub(super) use bindings::*;
