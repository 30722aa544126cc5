#!/usr/bin/env bash
# Boot the refdax guest under QEMU: `run-guest.sh run` (a shell, the demo or $CMD) or `run-guest.sh test`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mode=${1:?usage: run-guest.sh run|test}
flavour=${FLAVOUR:-test}
kdir=$("$REFDAX_TOP/scripts/kernel.sh" dir "$flavour")
bzimage=$kdir/arch/x86/boot/bzImage
[ -f "$bzimage" ] || die "no kernel image $bzimage: run 'make kernel FLAVOUR=$flavour'"
[ -f "$REFDAX_TOP/build/module/refdax.ko" ] || die "no build/module/refdax.ko: run 'make module'"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found: run 'make setup'"

# The guest's writable share: what to run, its status, its results and the console log.
out=${REFDAX_GUEST_OUT:-$REFDAX_TOP/build/guest}
case $out in
"$REFDAX_TOP"/build/*) ;;
*) die "REFDAX_GUEST_OUT must be below $REFDAX_TOP/build/ (it is emptied): $out" ;;
esac
rm -rf "$out"
mkdir -p "$out/scratch"
console=$out/console.log

# Two NVDIMMs backed by sparse files, fresh every boot: nvdimm0 stays with the kernel's pmem
# driver, the guest disables nvdimm1's namespace and refdax claims its range.
mib() { # mib SIZE: SIZE (2G, 512M, bytes) in MiB, a multiple of 2
	local b; b=$(numfmt --from=iec "$1" 2>/dev/null) || die "bad NVDIMM size '$1' (try 2G or 512M)"
	[ $((b % (2 << 20))) = 0 ] && [ "$b" -ge $((16 << 20)) ] || die "NVDIMM size '$1' must be a multiple of 2 MiB and at least 16 MiB"
	echo $((b >> 20))
}
n0=$(mib "${NVDIMM0_SIZE:-2G}")
n1=$(mib "${NVDIMM1_SIZE:-2G}")
# A third and a fourth NVDIMM only when asked (make bench: ext4 -o dax, xfs -o dax and
# device-dax beside refdax).
n2=0 n3=0
[ "${NVDIMM2_SIZE:-0}" = 0 ] || n2=$(mib "$NVDIMM2_SIZE")
[ "${NVDIMM3_SIZE:-0}" = 0 ] || n3=$(mib "$NVDIMM3_SIZE")
ram=$(mib "${GUEST_MEM:-2G}")
mkdir -p "$REFDAX_TOP/build/nvdimm"
nvdimm_args=()
i=0
for size in "$n0" "$n1" "$n2" "$n3"; do
	[ "$size" != 0 ] || continue
	img=$REFDAX_TOP/build/nvdimm/nvdimm$i.img
	rm -f "$img"
	truncate -s "${size}M" "$img"
	nvdimm_args+=(-object "memory-backend-file,id=mem$i,share=on,mem-path=$img,size=${size}M,align=2M"
		-device "nvdimm,id=nv$i,memdev=mem$i")
	i=$((i + 1))
done

interactive=0
if [ "$mode" = run ] && [ -z "${CMD:-}" ] && [ -t 0 ] && [ -t 1 ]; then
	interactive=1
fi
{
	echo "REFDAX_MODE=$mode"
	echo "REFDAX_INTERACTIVE=$interactive"
	echo "REFDAX_FLAVOUR=$flavour"
	echo "REFDAX_KERNEL_PATCHES=${KERNEL_PATCHES:-all}"
	# The test selection and the load tests' durations reach the guest's tests.
	for v in REFDAX_TESTS REFDAX_STRESS_SECONDS REFDAX_COLLIDE_SECONDS; do
		printf '%s=%q\n' "$v" "${!v:-}"
	done
} >"$out/guest.env"
printf '%s\n' "${CMD:-}" >"$out/cmd"

cmdline="console=ttyS0 root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=1048576 ro"
cmdline+=" init=$REFDAX_TOP/qemu/guest/init.sh panic=-1 no5lvl loglevel=6"
cmdline+=" REFDAX_TOP=$REFDAX_TOP"

qemu=(qemu-system-x86_64 -machine pc,nvdimm=on -accel tcg -cpu max -smp 2
	-m "${ram}M,slots=4,maxmem=$((ram + n0 + n1 + n2 + n3 + 2048))M"
	"${nvdimm_args[@]}"
	-fsdev local,id=root,path=/,security_model=none,readonly=on
	-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root
	-fsdev "local,id=out,path=$out,security_model=none"
	-device virtio-9p-pci,fsdev=out,mount_tag=refdax-out
	-kernel "$bzimage" -append "$cmdline"
	-nodefaults -display none -no-reboot)

start=$SECONDS
if [ $interactive = 1 ]; then
	log "booting the guest ($flavour kernel): a root shell follows; 'exit' or Ctrl-A X leaves"
	qemu+=(-chardev "stdio,id=con,mux=on,signal=off,logfile=$console" -serial chardev:con
		-mon chardev=con,mode=readline)
	"${qemu[@]}" || true
else
	log "booting the guest ($flavour kernel, ${TIMEOUT:-2400} s limit); console log: $console"
	qemu+=(-chardev "stdio,id=con,logfile=$console" -serial chardev:con)
	rc=0
	timeout --foreground -k 10 "${TIMEOUT:-2400}" "${qemu[@]}" </dev/null || rc=$?
	[ $rc != 124 ] || log "error: the guest did not finish within ${TIMEOUT:-2400} s"
fi
elapsed=$((SECONDS - start))

splat=0
# The console shows messages up to KERN_NOTICE; the guest saves its whole dmesg at the end.
if ! splats=$(cat "$console" "$out/dmesg.log" 2>/dev/null | "$REFDAX_TOP/scripts/check-splat.sh"); then
	splat=1
	log "error: kernel splat in the guest log ($console):"
	printf '%s\n' "$splats" | head -n 20 >&2
fi

status=$(cat "$out/status" 2>/dev/null || echo "")
case $mode in
run)
	[ -n "$status" ] || { [ $interactive = 1 ] && status=0; } || die "the guest did not report a status (boot failure or timeout?): see $console"
	log "guest finished in $elapsed s, status $status"
	[ $splat = 0 ] || exit 1
	exit "${status:-1}"
	;;
test)
	passed=0 failed=0 skipped=0
	if [ -f "$out/results" ]; then
		. "$out/results"
	else
		log "error: the guest left no test results: see $console"
		failed=$((failed + 1))
	fi
	if [ -z "$status" ]; then
		log "error: the test run did not complete (boot failure, crash or timeout): see $console"
		failed=$((failed + 1))
	elif [ "$status" != 0 ] && [ "$failed" = 0 ]; then
		log "error: the guest's test runner exited with status $status: see $console"
		failed=$((failed + 1))
	fi
	# The guest log itself is one more test: no splat from boot to power-off.
	if [ $splat = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
	log "guest finished in $elapsed s"
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
	;;
*) die "unknown mode '$mode' (run or test)" ;;
esac
