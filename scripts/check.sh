#!/usr/bin/env bash
# Static checks: rustfmt --check and a CLIPPY=1 module build that must print no warning.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cd "$REFDAX_TOP"
log "check: rustfmt --check"
rustfmt --check --edition 2021 --config-path "$("$REFDAX_TOP/scripts/kernel.sh" src "${FLAVOUR:-test}")/.rustfmt.toml" rust/refdax.rs ||
	die "rustfmt: run 'rustfmt --edition 2021 rust/refdax.rs' to fix the formatting above"
log "check: the generated Rust bindings match rust/refdax_shim.h and include/uapi/linux/refdax.h"
gen=$(mktemp) gen2=$(mktemp)
"$REFDAX_TOP/scripts/gen-shim-bindings.sh" "$gen" "$gen2"
stale=0
diff -u rust/abstractions/ffi/bindings.rs "$gen" >&2 || stale=1
diff -u rust/uapi/bindings.rs "$gen2" >&2 || stale=1
rm -f "$gen" "$gen2"
[ "$stale" = 0 ] || die "check: the generated bindings are stale: run 'make shim-bindings'"
log "check: CLIPPY=1 build"
out=$REFDAX_TOP/build/clippy
rm -rf "$out"
mkdir -p "$out"
warnings=$(MODULE_OUT=$out "$REFDAX_TOP/scripts/build-module.sh" CLIPPY=1 2>&1 >/dev/null | tee /dev/stderr | grep -cE '^(warning|error)' || true)
[ "$warnings" = 0 ] || die "check: the CLIPPY=1 build printed $warnings warning(s)"
log "check: the splat detector"
"$REFDAX_TOP/scripts/check-splat.sh" <<<'[    0.1] PCI: Using host bridge windows from ACPI; if necessary, use "pci=nocrs" and report a bug' >/dev/null ||
	die "check-splat.sh flags the benign ACPI 'report a bug' line"
for splat in 'WARNING: CPU: 1 PID: 7 at mm/memremap.c:422 free_zone_device_folio+0x1/0x2' \
	'BUG: KASAN: use-after-free in refdax_folio_free+0x10/0x20' \
	'refcount_t: underflow; use-after-free.' \
	'rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:' \
	'WARNING: possible circular locking dependency detected'; do
	! "$REFDAX_TOP/scripts/check-splat.sh" <<<"[    1.0] $splat" >/dev/null ||
		die "check-splat.sh misses '$splat'"
done
log "check: clean"
