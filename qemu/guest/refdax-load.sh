#!/bin/bash
# In the guest: free the highest NVDIMM namespace's range from the pmem driver and load refdax over it.
set -euo pipefail

ko=$REFDAX_TOP/build/module/refdax.ko
[ -f "$ko" ] || { echo "refdax-load: no $ko (run 'make module' on the host)" >&2; exit 1; }

# QEMU places the NVDIMMs in device order, so the second one has the highest address.
# Namespace numbers do not follow that order: read the ranges.
best= best_start=0 other= other_start=
for ns in /sys/bus/nd/devices/namespace*.*; do
	[ -f "$ns/resource" ] || continue
	start=$(($(cat "$ns/resource")))
	[ "$(cat "$ns/size")" -gt 0 ] || continue
	if [ -z "$best" ] || [ "$start" -gt "$best_start" ]; then
		other=$best other_start=$best_start
		best=$(basename "$ns") best_start=$start
	else
		other=$(basename "$ns") other_start=$start
	fi
done
[ -n "$best" ] || { echo "refdax-load: no NVDIMM namespace found (are the QEMU nvdimm devices there?)" >&2; exit 1; }
size=$(cat "/sys/bus/nd/devices/$best/size")

# The pmem driver holds the range of an enabled namespace: let go of it.
if [ -e "/sys/bus/nd/drivers/nd_pmem/$best" ]; then
	echo "$best" >/sys/bus/nd/drivers/nd_pmem/unbind
fi
{
	printf 'REFDAX_KO=%s\nREFDAX_NS=%s\nREFDAX_PHYS=%#x\nREFDAX_SIZE=%#x\n' "$ko" "$best" "$best_start" "$size"
	if [ -n "$other" ]; then
		printf 'REFDAX_OTHER_NS=%s\nREFDAX_OTHER_PHYS=%#x\nREFDAX_OTHER_SIZE=%#x\n' "$other" "$other_start" \
			"$(cat "/sys/bus/nd/devices/$other/size")"
	fi
} >/run/refdax.env

if [ ! -d /sys/module/refdax ]; then
	insmod "$ko" phys_addr="$(printf '%#x' "$best_start")" size="$(printf '%#x' "$size")"
fi
mkdir -p /mnt/refdax
mountpoint -q /mnt/refdax || mount -t refdax none /mnt/refdax
echo "refdax-load: refdax manages $best ($(printf '%#x' "$best_start"), $((size >> 20)) MiB), mounted at /mnt/refdax"
