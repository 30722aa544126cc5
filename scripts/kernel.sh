#!/usr/bin/env bash
# Build (or find cached) the refdax guest kernel: `kernel.sh build|dir|src FLAVOUR` (test or bench).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

action=${1:?usage: kernel.sh build|dir|src test|bench}
flavour=${2:-test}
frag=$REFDAX_TOP/qemu/config/$flavour.config
[ -f "$frag" ] || die "no kernel configuration '$flavour' (have: $(cd "$REFDAX_TOP/qemu/config" && ls | grep -v base | sed 's/\.config//' | tr '\n' ' '))"

# KERNEL_PATCHES=none builds the stock kernel; otherwise every patch in qemu/patches.
patches=()
if [ "${KERNEL_PATCHES:-all}" != none ]; then
	mapfile -t patches < <(ls "$REFDAX_TOP"/qemu/patches/*.patch 2>/dev/null | sort)
fi

# Bump when the way the kernel is built changes in a way the inputs below do not show.
RECIPE=1
srcver=$(linux_source_version)
patch_key=$( { echo "$srcver"; cat "${patches[@]}" /dev/null; } | sha256sum | cut -c1-12)
tool_id=$( { echo "recipe $RECIPE"; "clang$LLVM_SUFFIX" --version | head -n1; "ld.lld$LLVM_SUFFIX" --version | head -n1
	rustc --version; bindgen --version; echo "rust-src $(rustc_release)"; } )
build_key=$( { echo "$patch_key"; echo "$tool_id"; cat "$REFDAX_TOP/qemu/config/base.config" "$frag"; } | sha256sum | cut -c1-12)
src=$REFDAX_CACHE/src/linux-$srcver-$patch_key
out=$REFDAX_CACHE/kernel/$flavour-$build_key

case $action in
dir) echo "$out"; exit 0 ;;
src) echo "$src"; exit 0 ;;
build) ;;
*) die "unknown action '$action' (build, dir or src)" ;;
esac

kmake() { make -C "$src" O="$out" LLVM="$LLVM_SUFFIX" RUST_LIB_SRC="$(rust_lib_src)" "$@"; }

if [ ! -f "$src/.refdax-ready" ]; then
	log "unpacking linux-source $srcver and applying ${#patches[@]} patch(es) into $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	dpkg-deb --fsys-tarfile "$(linux_source_deb)" |
		tar -xO "./usr/src/linux-source-$KERNEL_SERIES.tar.xz" |
		tar -xJ -C "$src.tmp" --strip-components=1
	for p in "${patches[@]}"; do
		log "  applying $(basename "$p")"
		patch -d "$src.tmp" -p1 --forward --quiet <"$p" || die "patch $(basename "$p") does not apply to linux-source $srcver"
	done
	touch "$src.tmp/.refdax-ready"
	mv "$src.tmp" "$src"
fi

if [ -f "$out/.refdax-built" ]; then
	log "kernel '$flavour' is cached: $out"
	exit 0
fi

log "configuring kernel '$flavour' in $out"
mkdir -p "$out"
kmake -s tinyconfig
"$src"/scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" \
	"$REFDAX_TOP/qemu/config/base.config" "$frag" >"$out/merge.log"
kmake -s olddefconfig
# A fragment line that Kconfig dropped is a configuration bug: name it instead of booting a
# kernel that silently lacks it.
bad=0
while IFS= read -r line; do
	case $line in CONFIG_*=n) want="# ${line%=n} is not set" ;; CONFIG_*) want=$line ;; *) continue ;; esac
	if ! grep -qxF "$want" "$out/.config"; then
		if [ "${line#*=}" = n ] && ! grep -q "^${line%=n}=" "$out/.config"; then continue; fi
		log "config: asked for '$line', got '$(grep -E "^(# )?${line%%=*}[= ]" "$out/.config" || echo "not present")'"
		bad=1
	fi
done < <(cat "$REFDAX_TOP/qemu/config/base.config" "$frag")
[ $bad = 0 ] || die "kernel configuration '$flavour' does not take (see above; dependencies missing from qemu/config?)"
kmake -s rustavailable >/dev/null || die "the kernel says Rust is not available with $(rustc --version), bindgen $(bindgen --version), clang$LLVM_SUFFIX"

log "building kernel '$flavour' ($(nproc) jobs; about 8 minutes on 2 cores)"
start=$SECONDS
kmake -s -j"$(nproc)" >"$out/build.log" 2>&1 || { tail -n 40 "$out/build.log" >&2; die "kernel build failed: $out/build.log"; }
echo "$tool_id" >"$out/.refdax-built"
log "kernel '$flavour' built in $((SECONDS - start)) s: $out"
