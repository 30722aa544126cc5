#!/bin/bash
# In the guest: the refdax file system under the tools people use on it (xfs_io, stress-ng),
# then the counters that must have returned to rest. TAP output with kselftest-style totals.
set -uo pipefail

mnt=/mnt/refdax
stats=/sys/kernel/debug/refdax/stats
counter() { awk -v k="$1" '$1 == k { print $2 }' "$stats"; }
n=0 pass=0 fail=0 skip=0
result() { # result OK|FAIL|SKIP DESCRIPTION
	n=$((n + 1))
	case $1 in
	OK) pass=$((pass + 1)); echo "ok $n $2" ;;
	SKIP) skip=$((skip + 1)); echo "ok $n $2 # SKIP" ;;
	*) fail=$((fail + 1)); echo "not ok $n $2" ;;
	esac
}
at_rest() { # at_rest: every folio idle, nothing busy, every block free (or out of service)
	local total free refs busy quarantined i
	# On a stock kernel busy blocks go back through the reaper's wake-up: let it settle.
	for i in $(seq 100); do [ "$(counter blocks_busy)" = 0 ] && break; sleep 0.1; done
	total=$(counter blocks_total) free=$(counter blocks_free) refs=$(counter folios_referenced) busy=$(counter blocks_busy)
	quarantined=$(counter blocks_quarantined)
	[ "$refs" = 0 ] && [ "$busy" = 0 ] && [ $((free + quarantined)) = "$total" ] && return 0
	echo "# not at rest: folios_referenced=$refs blocks_busy=$busy blocks_free=$free of $total"
	return 1
}

echo "TAP version 13"
echo "1..4"
if ! mountpoint -q "$mnt"; then
	echo "Bail out! refdax is not mounted at $mnt"
	echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
	exit 1
fi
work=$mnt/tools.$$
mkdir -p "$work"

# xfs_io: write, map, write through the map, punch, truncate; the file must end up as said.
f=$work/xfs_io.dat
out=$(xfs_io -f -c "pwrite -q -S 0x61 0 1m" -c "mmap -rw 0 1m" -c "mwrite -S 0x62 4096 8192" \
	-c "msync -s 0 1m" -c "munmap" -c "fpunch 65536 65536" -c "truncate 524288" \
	-c "pread -q 0 524288" -c "stat" "$f" 2>&1)
want=$( { head -c 4096 /dev/zero | tr '\0' a; head -c 8192 /dev/zero | tr '\0' b
	head -c $((65536 - 12288)) /dev/zero | tr '\0' a; head -c 65536 /dev/zero
	head -c $((524288 - 131072)) /dev/zero | tr '\0' a; } | md5sum)
if [ "$(md5sum <"$f")" = "$want" ] && [ "$(stat -c %s "$f")" = 524288 ]; then
	result OK "xfs_io pwrite/mmap/mwrite/msync/fpunch/truncate leaves the expected data"
else
	echo "$out" | sed 's/^/# /'
	result FAIL "xfs_io pwrite/mmap/mwrite/msync/fpunch/truncate leaves the expected data"
fi
rm -f "$f"

# stress-ng's mmap stressor on files in refdax: many map/touch/unmap cycles, two workers.
if out=$(stress-ng --mmap 2 --mmap-file --mmap-bytes 16m --temp-path "$work" \
	--timeout 20s --metrics-brief 2>&1); then
	result OK "stress-ng --mmap on refdax files"
else
	echo "$out" | sed 's/^/# /'
	result FAIL "stress-ng --mmap on refdax files"
fi

# fio through mappings (ioengine=mmap): two jobs write 32 MiB files at random with checksums,
# then read them back and verify every block.
if out=$(fio --name=refdax-mmap --directory="$work" --ioengine=mmap --rw=randwrite --bs=4k \
	--size=32m --numjobs=2 --verify=crc32c --do_verify=1 --verify_fatal=1 2>&1) &&
	! grep -q "verify: bad" <<<"$out"; then
	result OK "fio ioengine=mmap random writes verified (crc32c)"
else
	echo "$out" | tail -n 20 | sed 's/^/# /'
	result FAIL "fio ioengine=mmap random writes verified (crc32c)"
fi
rm -rf "$work"

# After all of it: no folio still referenced, nothing waiting, every block back in the pool.
if at_rest; then
	result OK "counters at rest after the tools: folios_referenced 0, blocks_busy 0, all blocks free"
else
	result FAIL "counters at rest after the tools: folios_referenced 0, blocks_busy 0, all blocks free"
fi
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
[ "$fail" = 0 ]
