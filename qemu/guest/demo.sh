#!/bin/bash
# In the guest: show refdax at work (what `make run` prints without a terminal).
set -euo pipefail
. /run/refdax.env

echo "== refdax is loaded"
grep -E '^refdax ' /proc/modules
echo "== its pmem range, claimed in /proc/iomem"
grep -B1 -A0 ': refdax$' /proc/iomem
echo "== /sys/kernel/debug/refdax/"
ls /sys/kernel/debug/refdax/
echo "== stats"
cat /sys/kernel/debug/refdax/stats
echo "== a folio freed through the kernel's free path, watched with the refdax_folio_free trace event"
t=/sys/kernel/tracing
echo 1 >$t/events/refdax/refdax_folio_free/enable
echo >$t/trace
echo 1 >/sys/kernel/debug/refdax/probe_free
grep refdax_folio_free $t/trace
echo 0 >$t/events/refdax/refdax_folio_free/enable
grep folio_free_calls /sys/kernel/debug/refdax/stats
