#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: the results of refdax's KUnit suites, which KUnit ran when refdax was loaded
# (at boot, by refdax-load.sh), read back from debugfs and counted test by test, as TAP with
# kselftest's "# Totals:" line. Every case of every suite counts; a suite that is missing or
# did not run is a failure (the module was built without its tests, or KUnit is off).
set -uo pipefail

# Every suite the module defines (#[kunit_tests(...)] in rust/).
SUITES=(refdax_block_map refdax_block_states refdax_large_bitmap refdax_pmd_window)
kunit=/sys/kernel/debug/kunit

pass=0 fail=0 skip=0 n=0
tap() { # tap ok|not-ok NAME [DIRECTIVE]
	n=$((n + 1))
	case $1 in
	ok) echo "ok $n $2${3:+ # $3}" ;;
	*) echo "not ok $n $2" ;;
	esac
}

echo "TAP version 13"
if [ ! -d "$kunit" ]; then
	# Only the test kernel has KUnit (qemu/config/test.config); say so, once per suite.
	for s in "${SUITES[@]}"; do
		tap ok "$s" "SKIP no $kunit: this kernel has no KUnit"
		skip=$((skip + 1))
	done
else
	for s in "${SUITES[@]}"; do
		results=$kunit/$s/results
		if [ ! -r "$results" ]; then
			tap not-ok "$s: no results in $kunit (suite not registered)"
			fail=$((fail + 1))
			continue
		fi
		sed 's/^/# /' "$results"
		# The cases are the indented "ok N name" lines; the last, unindented one is the suite.
		cases=0
		# (No process substitution: the guest has no /dev/fd.)
		lines=$(sed -n 's/^    \(ok\|not ok\) [0-9]* /\1 x /p' "$results" | sed 's/^not ok x /not-ok x /')
		while read -r status rest; do
			[ -n "$status" ] || continue
			name=${rest#* }
			cases=$((cases + 1))
			if [ "$status" = ok ] && [[ $name == *"# SKIP"* ]]; then
				tap ok "$s.${name%% #*}" "SKIP${name#*# SKIP}"
				skip=$((skip + 1))
			elif [ "$status" = ok ]; then
				tap ok "$s.$name"
				pass=$((pass + 1))
			else
				tap not-ok "$s.$name"
				fail=$((fail + 1))
			fi
		done <<<"$lines"
		if [ "$cases" = 0 ]; then
			tap not-ok "$s: the suite ran no case"
			fail=$((fail + 1))
		fi
	done
fi
echo "1..$n"
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
[ "$fail" = 0 ]
