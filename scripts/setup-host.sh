#!/usr/bin/env bash
# Install what refdax needs on a Debian 12 host (as root); idempotent, fetches nothing twice.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "setup-host.sh installs packages: run it as root"
grep -q '^VERSION_CODENAME=bookworm' /etc/os-release ||
	log "warning: this is not Debian 12 (bookworm); continuing, but only bookworm is tested"
mkdir -p "$REFDAX_CACHE"/debs

# Host packages: the LLVM toolchain the kernel is built with, kernel build tools, and the
# tools the guest uses from the host's root filesystem (shared read-only over 9p).
HOST_PKGS=(
	clang-$LLVM_VER lld-$LLVM_VER llvm-$LLVM_VER libclang-$LLVM_VER-dev
	flex bison libelf-dev libssl-dev cpio bc kmod busybox-static make gcc libc6-dev
	xz-utils rsync python3 git
	xfsprogs stress-ng fio trace-cmd ndctl daxctl e2fsprogs util-linux procps strace dmsetup
)
missing=()
for p in "${HOST_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
apt_updated=
if [ ${#missing[@]} -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	apt-get update -qq
	apt_updated=1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# QEMU 10 from bookworm-backports: bookworm's 7.2 conflicts with the qemu-utils 10 the
# machine ships, and 10 is what the NVDIMM flags were verified with.
if ! qemu_ver=$(qemu-system-x86_64 --version 2>/dev/null | sed -n 's/.*version \([0-9]*\).*/\1/p') ||
	[ "${qemu_ver:-0}" -lt 10 ]; then
	bpo=/etc/apt/sources.list.d/refdax-bookworm-backports.sources
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		log "adding bookworm-backports to apt sources (for QEMU 10)"
		cat >"$bpo" <<SRC
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
		apt_updated=
	fi
	[ -n "$apt_updated" ] || apt-get update -qq
	log "installing qemu-system-x86 from bookworm-backports"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-t bookworm-backports qemu-system-x86 qemu-system-data seabios ipxe-qemu
fi

# bindgen, at the version the kernel's Rust build is verified with.
if ! bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	log "installing bindgen-cli $BINDGEN_VERSION from crates.io"
	cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION"
fi
command -v rustc >/dev/null || die "rustc not found: install Rust with rustup (the kernel needs >= 1.85)"

# Private apt state for trixie-backports and sid: the machine's own sources stay untouched.
mkdir -p "$APT_PRIV"/lists/partial "$APT_PRIV"/cache/archives/partial
cat >"$APT_PRIV/sources.list.new" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR trixie-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR trixie main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR sid main
SRC
mv "$APT_PRIV/sources.list.new" "$APT_PRIV/sources.list"
priv_updated=
priv_update() {
	[ -n "$priv_updated" ] && return
	log "reading trixie-backports/trixie/sid package lists (private apt state in $APT_PRIV)"
	apt_priv update -qq
	priv_updated=1
}
fetch_deb() { # fetch_deb NAME VERSION: download NAME=VERSION into the cache once
	local name=$1 ver=$2
	ls "$REFDAX_CACHE"/debs/"${name}_${ver//:/%3a}"_*.deb >/dev/null 2>&1 && return
	log "downloading $name $ver"
	(cd "$REFDAX_CACHE"/debs && apt_priv download -qq "$name=$ver")
}

# Rust library sources of exactly rustc's version (rustup cannot fetch rust-src here).
rel=$(rustc_release)
if [ ! -d "$(rust_lib_src)/core" ]; then
	priv_update
	ver=$(apt_cache_priv madison rust-src | awk -F'|' '{gsub(/ /,"",$2); print $2}' |
		grep -E "^${rel//./\\.}\+" | sort -V | tail -n1 || true)
	[ -n "$ver" ] || die "no Debian rust-src of version $rel (rustc --version says $rel; Debian has: $(apt_cache_priv madison rust-src | awk -F'|' '{print $2}' | tr -d ' ' | tr '\n' ' '))"
	fetch_deb rust-src "$ver"
	rm -rf "$REFDAX_CACHE/rust-src/$rel"
	mkdir -p "$REFDAX_CACHE/rust-src/$rel"
	dpkg -x "$(ls "$REFDAX_CACHE"/debs/rust-src_*"${ver#*:}"*.deb | head -n1)" "$REFDAX_CACHE/rust-src/$rel"
	[ -d "$(rust_lib_src)/core" ] || die "rust-src $ver did not unpack to $(rust_lib_src)"
fi

# The kernel source: Debian's linux-source-7.3, newest available.
if [ -z "$(linux_source_deb)" ]; then
	priv_update
	ver=$(apt_cache_priv madison linux-source-$KERNEL_SERIES | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -V | tail -n1)
	[ -n "$ver" ] || die "Debian has no linux-source-$KERNEL_SERIES in trixie-backports, trixie or sid"
	fetch_deb linux-source-$KERNEL_SERIES "$ver"
fi
log "host ready: $(rustc --version), bindgen $(bindgen --version | awk '{print $2}'), clang $LLVM_VER, $(qemu-system-x86_64 --version | head -n1), linux-source $(linux_source_version)"
