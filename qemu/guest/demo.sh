#!/bin/bash
# In the guest: show refdax at work (what `make run` prints without a terminal).
set -euo pipefail
t=/sys/kernel/tracing
stats=/sys/kernel/debug/refdax/stats
events() { grep -c "$1:" $t/trace || true; }

echo "== refdax is loaded, its pmem range claimed in /proc/iomem, its file system mounted"
grep -E '^refdax ' /proc/modules
grep -B1 ': refdax$' /proc/iomem
grep ' /mnt/refdax ' /proc/mounts
df -h /mnt/refdax
echo "== a 16-page file, mapped, read and unmapped with xfs_io, watched through tracefs"
xfs_io -f -c "pwrite -q 0 64k" /mnt/refdax/demo
echo 1 >$t/events/refdax/enable
echo >$t/trace
xfs_io -c "mmap -r 0 64k" -c "mread 0 64k" -c "munmap" /mnt/refdax/demo
grep -E 'refdax_(fault|folio_free):' $t/trace | sed -n '1p;$p'
echo "   $(events refdax_fault) faults inserted pmem pages; at munmap $(events refdax_folio_free) folios reached refcount zero and refdax was told"
echo "== truncate to zero: the idle blocks go straight back to the pool"
echo >$t/trace
truncate -s 0 /mnt/refdax/demo
echo "   $(events refdax_block_release) refdax_block_release events, $(events refdax_block_busy) blocks had to wait"
echo 0 >$t/events/refdax/enable
rm /mnt/refdax/demo
echo "== /sys/kernel/debug/refdax/stats"
cat $stats
