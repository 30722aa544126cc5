// SPDX-License-Identifier: GPL-2.0
/*
 * The whole of a large refdax range (make test's second guest: an 8 GiB NVDIMM): fill it,
 * map it, truncate it, fragment it, fill it again with single blocks and unmount, with the
 * soft-lockup detector at a 10 s threshold. Work whose size userspace chooses must be done
 * in bounded batches: nothing may keep a CPU (interrupts off, or without rescheduling) for
 * seconds, and no buffer sized by the request may be asked of the page allocator.
 */
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "refdax_util.h"
#include "kselftest_harness.h"

#define PAGE 4096L
#define PMD (2L << 20)
#define WATCHDOG "/proc/sys/kernel/watchdog_thresh"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Kernel-log lines that mean a CPU was held too long. */
static int lockups(void)
{
	return klog_count("soft lockup") + klog_count("detected stalls") +
	       klog_count("self-detected stall");
}

FIXTURE(big)
{
	char *old_thresh;
};

FIXTURE_SETUP(big)
{
	if (!getenv("REFDAX_KO"))
		SKIP(return, "no refdax range set aside (/run/refdax.env)");
	ASSERT_EQ(0, refdax_ensure_mounted());
	self->old_thresh = read_file(WATCHDOG);
	/* Soft lockups are reported after twice this many seconds (default 10). */
	if (self->old_thresh)
		ASSERT_EQ(0, write_file(WATCHDOG, "5"));
}

FIXTURE_TEARDOWN(big)
{
	if (self->old_thresh) {
		write_file(WATCHDOG, self->old_thresh);
		free(self->old_thresh);
	}
	unlink(REFDAX_MNT "/a");
	unlink(REFDAX_MNT "/b");
}

TEST_F_TIMEOUT(big, fill_map_truncate_fragment_unmount, 1500)
{
	long long total = refdax_stat(REFDAX_STAT_BLOCKS_TOTAL), freeb = refdax_stat(REFDAX_STAT_BLOCKS_FREE);
	long long pmd_faults = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	long size = freeb * PAGE, quarter, holes = 0;
	int seen = lockups(), fa, fb;
	double t;
	char *p;

	TH_LOG("%lld blocks (%lld MiB) free of %lld", freeb, freeb * PAGE >> 20, total);
	if (total * PAGE < (4L << 30))
		SKIP(return, "for a range of 4 GiB or more (make test boots one: REFDAX_BIG_SIZE)");

	/* Fill the whole pool: extents, and single blocks where no aligned run is left. */
	fa = open(REFDAX_MNT "/a", O_CREAT | O_RDWR | O_TRUNC, 0644);
	ASSERT_LE(0, fa);
	t = now();
	ASSERT_EQ(0, fallocate(fa, 0, 0, size)) TH_LOG("fallocate: %s", strerror(errno));
	TH_LOG("fallocate of %ld MiB: %.1f s", size >> 20, now() - t);
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_BLOCKS_FREE));
	ASSERT_EQ(-1, fallocate(fa, FALLOC_FL_KEEP_SIZE, size, PAGE));
	ASSERT_EQ(ENOSPC, errno);

	/* Map all of it and touch every page. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fa, 0);
	ASSERT_NE(MAP_FAILED, p);
	t = now();
	for (long off = 0; off < size; off += PAGE)
		p[off] = (char)(off >> 12);
	TH_LOG("touching %ld pages: %.1f s, %lld PMD faults", size / PAGE, now() - t,
	       refdax_stat(REFDAX_STAT_PMD_FAULTS) - pmd_faults);
	ASSERT_LE(size / PMD - 2, refdax_stat(REFDAX_STAT_PMD_FAULTS) - pmd_faults);
	t = now();
	ASSERT_LT(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	TH_LOG("a scan of the range: %.1f s", now() - t);

	/* Truncate it while mapped: the zap, then every block back. */
	t = now();
	ASSERT_EQ(0, ftruncate(fa, 0));
	TH_LOG("truncate of the mapped file: %.1f s", now() - t);
	ASSERT_EQ(0, munmap(p, size));
	ASSERT_EQ(0, refdax_busy_settled());
	ASSERT_EQ(total, refdax_stat(REFDAX_STAT_BLOCKS_FREE) + refdax_stat(REFDAX_STAT_BLOCKS_QUARANTINED));

	/* Fragment: fill again, then punch every other page of the first quarter. */
	ASSERT_EQ(0, fallocate(fa, 0, 0, size));
	quarter = size / 4 / PMD * PMD;
	t = now();
	for (long off = 0; off < quarter; off += 2 * PAGE, holes++)
		ASSERT_EQ(0, fallocate(fa, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, PAGE));
	TH_LOG("%ld punches: %.1f s", holes, now() - t);
	ASSERT_EQ(holes, refdax_stat(REFDAX_STAT_BLOCKS_FREE));
	/* One allocation of all those scattered single blocks. */
	fb = open(REFDAX_MNT "/b", O_CREAT | O_RDWR | O_TRUNC, 0644);
	ASSERT_LE(0, fb);
	t = now();
	ASSERT_EQ(0, fallocate(fb, FALLOC_FL_KEEP_SIZE, 0, holes * PAGE));
	TH_LOG("fallocate of %ld scattered blocks: %.1f s", holes, now() - t);
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_BLOCKS_FREE));
	close(fa);
	close(fb);

	/* Unmount: eviction gives every block back. */
	t = now();
	ASSERT_EQ(0, umount(REFDAX_MNT));
	TH_LOG("unmount: %.1f s", now() - t);
	ASSERT_EQ(0, refdax_busy_settled());
	ASSERT_EQ(total, refdax_stat(REFDAX_STAT_BLOCKS_FREE) + refdax_stat(REFDAX_STAT_BLOCKS_QUARANTINED));
	ASSERT_EQ(0, refdax_ensure_mounted());

	ASSERT_EQ(seen, lockups()) TH_LOG("a CPU was held too long (see dmesg)");
}

TEST_HARNESS_MAIN
