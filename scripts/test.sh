#!/usr/bin/env bash
# make test: every selftest (or REFDAX_TESTS) in one guest, then the large-range test in a second guest whose refdax NVDIMM is REFDAX_BIG_SIZE (8G; 0 skips it); one summary line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

big=${REFDAX_BIG_SIZE:-8G}
passed=0 failed=0 skipped=0
tmp=$(mktemp)
# The backing files of a large NVDIMM are no longer sparse once filled: never keep them.
trap 'rm -f "$tmp" "$REFDAX_TOP"/build/nvdimm/*.img' EXIT

# boot [VAR=value ...]: one guest running the tests; adds its counts to the totals.
boot() {
	local rc=0 summary
	env "$@" "$REFDAX_TOP/scripts/run-guest.sh" test | tee "$tmp" || rc=$?
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp" | tail -n1 || true)
	if [ -z "$summary" ]; then
		log "error: the guest run ended without a summary (exit $rc)"
		failed=$((failed + 1))
		return
	fi
	read -r p _ f _ s _ <<<"${summary//,/}"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + ${s:-0}))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		failed=$((failed + 1))
	fi
}

boot
# A selection (REFDAX_TESTS) runs in the one guest, as it is.
if [ "$big" != 0 ] && [ -z "${REFDAX_TESTS:-}" ]; then
	log "second guest: refdax over a $big NVDIMM (fill, map, truncate, unmount the whole range)"
	boot NVDIMM1_SIZE="$big" REFDAX_TESTS=refdax_big REFDAX_GUEST_OUT="$REFDAX_TOP/build/guest-big"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
