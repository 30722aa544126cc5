#!/bin/bash
# In the guest: run every refdax selftest, echo their TAP, and leave the totals for the host.
set -uo pipefail

bin=${REFDAX_SELFTESTS:-$REFDAX_TOP/build/selftests}
results=${REFDAX_OUT:-/tmp}/results
set -a
# shellcheck source=/dev/null
[ -f /run/refdax.env ] && . /run/refdax.env
set +a

# The order matters: the module tests leave refdax unloaded, the later ones load it again.
# REFDAX_TESTS (space-separated) runs a subset instead, as the 8 GiB boot of `make test` does.
if [ -n "${REFDAX_TESTS:-}" ]; then
	read -r -a TESTS <<<"$REFDAX_TESTS"
else
	TESTS=(refdax_kunit.sh refdax_module refdax_notify refdax_fs refdax_map refdax_pmd refdax_fsx refdax_dma refdax_collide refdax_stress
		refdax_tools.sh)
fi

passed=0 failed=0 skipped=0
save() { printf 'passed=%d\nfailed=%d\nskipped=%d\n' "$passed" "$failed" "$skipped" >"$results"; }

# The guest's set-up is the first test: without it every later test would only skip.
echo "# === refdax loaded at boot over a free NVDIMM range"
if [ -f /run/refdax.env ] && [ -d /sys/module/refdax ]; then
	echo "ok - refdax manages $REFDAX_NS ($REFDAX_PHYS, size $REFDAX_SIZE)"
	passed=$((passed + 1))
else
	echo "not ok - refdax-load.sh did not load refdax (see the console log)"
	failed=$((failed + 1))
fi
save

for t in "${TESTS[@]}"; do
	echo "# === $t"
	log=/tmp/$t.tap
	cmd=$bin/$t
	[ "${t%.sh}" = "$t" ] || cmd=$(dirname "$0")/$t
	timeout -k 10 1800 "$cmd" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	totals=$(grep -a '^# Totals:' "$log" | tail -n1)
	if [ -n "$totals" ]; then
		count() { sed -n "s/.* $1:\([0-9]*\).*/\1/p" <<<"$totals"; }
		p=$(count pass) f=$(count fail) s=$(count skip) e=$(count error)
		passed=$((passed + p)) failed=$((failed + f + ${e:-0})) skipped=$((skipped + s))
		# A harness that crashed after its totals still failed.
		if [ "$rc" != 0 ] && [ "$rc" != 4 ] && [ "$f" = 0 ]; then failed=$((failed + 1)); fi
	else
		echo "# $t ended without totals (exit $rc): counted as one failure"
		failed=$((failed + 1))
	fi
	save
done

echo "# === no kernel splat in dmesg"
if dmesg | "$REFDAX_TOP/scripts/check-splat.sh"; then
	echo "ok - dmesg is clean"
	passed=$((passed + 1))
else
	echo "not ok - dmesg has a kernel splat (lines above)"
	failed=$((failed + 1))
fi
save
echo "# guest totals: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
