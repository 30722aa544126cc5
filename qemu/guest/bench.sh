#!/bin/bash
# In the guest (make bench): refdax on one NVDIMM, ext4 -o dax, xfs -o dax and device-dax on
# the other three, tmpfs and anonymous memory as ceilings; one refdax_bench run over all.
set -euo pipefail

set -a
# shellcheck source=/dev/null
. /run/refdax.env
set +a
bin=$REFDAX_TOP/build/bench/refdax_bench
out=${REFDAX_OUT:-/run/out}

# The namespaces refdax does not use, lowest address first.
# (No process substitution: the guest has no /dev/fd.)
list=$(for ns in /sys/bus/nd/devices/namespace*.*; do
	[ -f "$ns/resource" ] && [ "$(cat "$ns/size")" -gt 0 ] || continue
	[ "$(basename "$ns")" != "$REFDAX_NS" ] || continue
	echo "$(($(cat "$ns/resource"))) $(basename "$ns")"
done | sort -n | awk '{ print $2 }')
mapfile -t others <<<"$list"
if [ "${#others[@]}" -lt 3 ]; then
	echo "bench: need three NVDIMMs besides refdax's (make bench sets NVDIMM2_SIZE, NVDIMM3_SIZE)" >&2
	exit 1
fi

# ext4 -o dax and xfs -o dax on fsdax namespaces (struct pages in RAM), device-dax with 2 MiB
# alignment.
fsdax=$(ndctl create-namespace -f -e "${others[0]}" -m fsdax -M mem)
pmem=/dev/$(sed -n 's/.*"blockdev":"\([^"]*\)".*/\1/p' <<<"$fsdax" | head -n1)
fsdax2=$(ndctl create-namespace -f -e "${others[1]}" -m fsdax -M mem)
pmem2=/dev/$(sed -n 's/.*"blockdev":"\([^"]*\)".*/\1/p' <<<"$fsdax2" | head -n1)
devdax=$(ndctl create-namespace -f -e "${others[2]}" -m devdax -M mem -a 2M)
dax=/dev/$(sed -n 's/.*"chardev":"\([^"]*\)".*/\1/p' <<<"$devdax" | head -n1)
[ -b "$pmem" ] && [ -b "$pmem2" ] && [ -c "$dax" ] ||
	{ echo "bench: ndctl did not give $pmem, $pmem2 and $dax" >&2; exit 1; }
mkfs.ext4 -F -q -b 4096 "$pmem"
# 2 MiB stripe unit and an inherited 2 MiB extent size: xfs then allocates aligned 2 MiB
# extents and maps them with PMDs, as the DAX documentation advises.
mkfs.xfs -f -q -m reflink=0 -d su=2m,sw=1 "$pmem2"
mkdir -p /mnt/ext4 /mnt/xfs /mnt/tmpfs
mount -o dax "$pmem" /mnt/ext4
mount -o dax=always "$pmem2" /mnt/xfs
xfs_io -c "extsize 2m" /mnt/xfs
mount -t tmpfs -o size=600m none /mnt/tmpfs
echo "bench: refdax on $REFDAX_NS (/mnt/refdax), ext4 -o dax on $pmem (/mnt/ext4), xfs -o dax on $pmem2 (/mnt/xfs), device-dax $dax, tmpfs"

cd /
"$bin" --runs "${BENCH_RUNS:-5}" --json "$out/bench.json" \
	refdax=refdax:/mnt/refdax ext4-dax=fsdax:/mnt/ext4 xfs-dax=fsdax:/mnt/xfs device-dax=devdax:"$dax" \
	tmpfs=tmpfs:/mnt/tmpfs anon=anon:- | tee "$out/bench.txt"
echo "bench: stats after the run"
sed 's/^/  /' /sys/kernel/debug/refdax/stats
