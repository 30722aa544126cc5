// SPDX-License-Identifier: GPL-2.0

//! Memory management: the fault handling of file mappings.

pub(crate) mod fault;
