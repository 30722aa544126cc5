#!/usr/bin/env bash
# Build the refdax selftests on the host (they run in the guest from build/selftests/).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=$("$REFDAX_TOP/scripts/kernel.sh" src "${FLAVOUR:-test}")
[ -f "$src/tools/testing/selftests/kselftest_harness.h" ] ||
	die "no kselftest_harness.h in $src: run 'make kernel' first"
mkdir -p "$REFDAX_TOP/build/selftests"
make -s -C "$REFDAX_TOP/tools/testing/selftests/refdax" \
	KSFT_DIR="$src/tools/testing/selftests" OUTPUT="$REFDAX_TOP/build/selftests"
