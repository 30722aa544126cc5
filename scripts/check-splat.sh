#!/usr/bin/env bash
# Scan a kernel log (file argument, or stdin) for splats; print them and exit 1 if any.
set -euo pipefail

# Anchored on the kernel's own wording: the benign ACPI line "...please report a bug" must
# not match, so nothing here matches the word "bug" alone.
patterns=(
	'WARNING: .*(CPU|at )'
	'BUG: '
	'kernel BUG at'
	'Oops'
	'general protection fault'
	'Kernel panic'
	'KASAN'
	'UBSAN'
	'possible recursive locking'
	'possible circular locking'
	'inconsistent lock state'
	'suspicious RCU usage'
	'lock held when returning'
	'rcu: INFO: .*stall'
	'rcu_(sched|preempt) self-detected stall'
	'INFO: task .* blocked for more than'
	'refcount_t: '
	'list_(add|del) corruption'
	'Bad page (state|map)'
	'page dumped because'
	'VM_BUG_ON'
	'watchdog: BUG: soft lockup'
	'Call Trace:'
)
re=$(IFS='|'; echo "${patterns[*]}")
if grep -aEn "$re" "${1:--}"; then
	exit 1
fi
exit 0
