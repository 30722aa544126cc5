#!/usr/bin/env bash
# Build refdax.ko out of tree against the cached kernel build, into build/module/ (or $MODULE_OUT).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kdir=$("$REFDAX_TOP/scripts/kernel.sh" dir "${FLAVOUR:-test}")
[ -f "$kdir/.refdax-built" ] || die "kernel '${FLAVOUR:-test}' is not built: run 'make kernel'"
out=${MODULE_OUT:-$REFDAX_TOP/build/module}
# Objects built against another kernel (flavour, patches) would link in silently, with that
# kernel's struct layouts: start over when the kernel changes.
if [ "$(cat "$out/.refdax-kdir" 2>/dev/null)" != "$kdir" ]; then
	rm -rf "$out"
fi
mkdir -p "$out"
echo "$kdir" >"$out/.refdax-kdir"
make -s -C "$kdir" M="$REFDAX_TOP" MO="$out" LLVM="$LLVM_SUFFIX" RUST_LIB_SRC="$(rust_lib_src)" \
	"$@" modules
[ -f "$out/refdax.ko" ] || die "the module build produced no $out/refdax.ko"
