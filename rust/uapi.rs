// SPDX-License-Identifier: GPL-2.0

//! refdax's interface to user space, from `include/uapi/linux/refdax.h` (the header the
//! selftests include): the names of the stats file's lines and of their values.

// bindgen's output: the header's string macros as NUL-terminated byte strings. Not every
// one is used by the module (the file's path is for user space).
#[allow(dead_code, unreachable_pub, clippy::all)]
mod bindings;

pub(crate) use bindings::*;

/// A name of the header as text, without its NUL.
pub(crate) const fn name(c: &'static [u8]) -> &'static str {
    let bytes = match c.split_last() {
        Some((0, rest)) => rest,
        _ => c,
    };
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => "?",
    }
}
