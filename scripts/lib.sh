# SPDX-License-Identifier: GPL-2.0
# Shared settings for the refdax scripts; source it, do not run it.

# Everything expensive lives here, outside the checkout, keyed by its inputs.
REFDAX_CACHE=${REFDAX_CACHE:-/var/cache/refdax}
# The LLVM toolchain suffix the kernel is built with (LLVM=-19).
LLVM_SUFFIX=${LLVM_SUFFIX:--19}
LLVM_VER=${LLVM_SUFFIX#-}
BINDGEN_VERSION=0.72.1
KERNEL_SERIES=7.3
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

REFDAX_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

export PATH="${HOME:-/root}/.cargo/bin:/root/.cargo/bin:$PATH"
export LIBCLANG_PATH=/usr/lib/llvm-$LLVM_VER/lib

log() { printf 'refdax: %s\n' "$*" >&2; }
die() { printf 'refdax: error: %s\n' "$*" >&2; exit 1; }

# The rustc release, e.g. 1.95.0.
rustc_release() { rustc --version | awk '{print $2}'; }

# Where the unpacked Rust library sources matching rustc live.
rust_lib_src() { echo "$REFDAX_CACHE/rust-src/$(rustc_release)/usr/src/rustc-$(rustc_release)/library"; }

# Private apt state for suites the machine itself does not use (trixie-backports, sid).
APT_PRIV=$REFDAX_CACHE/apt
apt_priv() {
	apt-get -o Dir::Etc::sourcelist="$APT_PRIV/sources.list" \
		-o Dir::Etc::sourceparts=/nonexistent \
		-o Dir::State::Lists="$APT_PRIV/lists" \
		-o Dir::Cache="$APT_PRIV/cache" \
		-o Dir::State::status=/var/lib/dpkg/status \
		-o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root "$@"
}
apt_cache_priv() {
	apt-cache -o Dir::Etc::sourcelist="$APT_PRIV/sources.list" \
		-o Dir::Etc::sourceparts=/nonexistent \
		-o Dir::State::Lists="$APT_PRIV/lists" \
		-o Dir::Cache="$APT_PRIV/cache" "$@"
}

# The linux-source .deb and its version, once setup-host.sh fetched it.
linux_source_deb() { ls "$REFDAX_CACHE"/debs/linux-source-"$KERNEL_SERIES"_*.deb 2>/dev/null | sort -V | tail -n1; }
linux_source_version() {
	local deb; deb=$(linux_source_deb)
	[ -n "$deb" ] || die "linux-source-$KERNEL_SERIES is not fetched yet: run scripts/setup-host.sh"
	dpkg-deb -f "$deb" Version
}
