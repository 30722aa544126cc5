#!/bin/bash
# PID 1 of the refdax guest: mount the basics, load refdax, run the demo, a shell, CMD or the tests, power off.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=${TERM:-linux} LANG=C.UTF-8

# The 9p root shows the host's /proc and /sys: mount the guest's own over them, always
# (mountpoint(1) cannot tell through 9p). The kernel has mounted devtmpfs on /dev already.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
# The root is the host's, read-only: everything written goes to tmpfs or the out share.
# The checkout may sit below one of those directories (a clone in /tmp): keep it reachable
# at its own path by binding it aside first and back afterwards.
mkdir -p /dev/.refdax-top && mount --bind "$REFDAX_TOP" /dev/.refdax-top
for d in /tmp /run /root /mnt /var/tmp /var/log; do mount -t tmpfs tmpfs "$d"; done
if [ ! -d "$REFDAX_TOP/qemu/guest" ]; then
	mkdir -p "$REFDAX_TOP" && mount --bind /dev/.refdax-top "$REFDAX_TOP"
fi
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
mkdir -p /run/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 refdax-out /run/out
# shellcheck source=/dev/null
. /run/out/guest.env
export REFDAX_TOP REFDAX_OUT=/run/out REFDAX_SCRATCH=/run/out/scratch REFDAX_KERNEL_PATCHES REFDAX_TESTS
[ -z "${REFDAX_STRESS_SECONDS:-}" ] || export REFDAX_STRESS_SECONDS
[ -z "${REFDAX_COLLIDE_SECONDS:-}" ] || export REFDAX_COLLIDE_SECONDS

finish() {
	dmesg >/run/out/dmesg.log
	echo "$1" >/run/out/status
	sync
	umount /run/out 2>/dev/null
	/bin/busybox reboot -f
	sleep 5
}

# Claim the second NVDIMM's range for refdax and load the module. On failure CMD, the
# shell and the tests still run: the tests count it, and a person can look around.
"$REFDAX_TOP/qemu/guest/refdax-load.sh" || echo "refdax-guest: could not load refdax (see above)"

case $REFDAX_MODE in
test)
	"$REFDAX_TOP/tools/testing/selftests/refdax/run_tests.sh"
	finish $?
	;;
run)
	cmd=$(cat /run/out/cmd)
	if [ -n "$cmd" ]; then
		cd /root && bash -c "$cmd"
		finish $?
	fi
	"$REFDAX_TOP/qemu/guest/demo.sh"
	rc=$?
	if [ "$REFDAX_INTERACTIVE" = 1 ]; then
		echo "refdax-guest: root shell; refdax is loaded. 'exit' powers the guest off."
		cd /root && setsid -c -w bash -l </dev/ttyS0 >/dev/ttyS0 2>&1
		finish 0
	fi
	finish $rc
	;;
esac
finish 1
