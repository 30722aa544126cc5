// SPDX-License-Identifier: GPL-2.0
/*
 * PMD-sized refdax folios (RFC points 4 and 5): a 2 MiB window of a file that is one aligned
 * extent is mapped by one PMD fault with an order-9 compound folio built from refdax's pages;
 * its free is notified once, for the whole folio. The folio stays compound while the file owns
 * the whole extent (as fs/dax keeps a PMD entry's folio): mapped again without a build, its
 * pages PTE-mapped as pages of it; it is split back into pages when the extent is broken up.
 * Every other case falls back to PTEs and says why.
 */
#include <limits.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "refdax_util.h"
#include "kselftest_harness.h"

#define PAGE 4096L
#define PMD (2L << 20)
#define PER_PMD (PMD / PAGE)

/* Each test works in its own directory, and leaves every folio idle and nothing busy. */
#define PMD_FIXTURE(name)							\
FIXTURE(name)									\
{										\
	char dir[PATH_MAX];							\
};										\
										\
FIXTURE_SETUP(name)								\
{										\
	if (!getenv("REFDAX_KO"))						\
		SKIP(return, "no refdax range set aside (/run/refdax.env)");	\
	ASSERT_EQ(0, refdax_ensure_mounted());					\
	snprintf(self->dir, sizeof(self->dir), REFDAX_MNT "/pmd.%d", getpid());	\
	ASSERT_EQ(0, mkdir(self->dir, 0755));					\
	ASSERT_EQ(0, chdir(self->dir));						\
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));				\
}										\
										\
FIXTURE_TEARDOWN(name)								\
{										\
	char cmd[PATH_MAX + 16];						\
										\
	trace_refdax(0);							\
	chdir("/");								\
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);			\
	EXPECT_EQ(0, system(cmd));						\
	EXPECT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));				\
	EXPECT_EQ(0, refdax_busy_settled());				\
}

PMD_FIXTURE(pmd);
PMD_FIXTURE(split);

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* A new file of @size bytes (a hole: blocks come at the first fault), open read-write. */
static int sized_file(const char *name, long size)
{
	int fd = open(name, O_CREAT | O_TRUNC | O_RDWR, 0644);

	if (fd >= 0 && ftruncate(fd, size)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Maps @len bytes of @fd at offset 0, shared; the address is 2 MiB aligned. */
static char *map_shared(int fd, long len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}

/* Writes one byte per page of @p..@p+@len: the page's number, plus @salt. */
static void touch(char *p, long len, int salt)
{
	for (long i = 0; i < len / PAGE; i++)
		p[i * PAGE] = (char)(i + salt);
}

static bool touched(const char *p, long len, int salt)
{
	for (long i = 0; i < len / PAGE; i++)
		if (p[i * PAGE] != (char)(i + salt))
			return false;
	return true;
}

/*
 * Whether the pages of each 2 MiB of @p..@p+@len are one aligned run of page frames,
 * from /proc/self/pagemap (root only).
 */
static bool pfns_contiguous(const char *p, long len)
{
	long n = len / PAGE;
	uint64_t *e = calloc(n, sizeof(*e));
	int fd = open("/proc/self/pagemap", O_RDONLY);
	bool ok = fd >= 0 && e;

	if (ok)
		ok = pread(fd, e, n * sizeof(*e), (long)p / PAGE * sizeof(*e)) == (ssize_t)(n * sizeof(*e));
	for (long i = 0; ok && i < n; i++) {
		uint64_t pfn = e[i] & ((1ULL << 55) - 1);
		uint64_t head = e[i / PER_PMD * PER_PMD] & ((1ULL << 55) - 1);

		ok = (e[i] >> 63) && head % PER_PMD == 0 && pfn == head + i % PER_PMD;
	}
	if (fd >= 0)
		close(fd);
	free(e);
	return ok;
}

/*
 * Maps the first 2 MiB of @fd (one PMD), fills it with @c and splices page @page into a new
 * pipe @pfd, which holds a reference on the folio until it is read; NULL on failure.
 */
static char *map_filled_and_pin(int fd, int c, long page, int pfd[2])
{
	char *p = map_shared(fd, PMD);
	struct iovec iov;

	if (p == MAP_FAILED)
		return NULL;
	memset(p, c, PMD);
	iov.iov_base = p + page * PAGE;
	iov.iov_len = PAGE;
	if (pipe(pfd) || vmsplice(pfd[1], &iov, 1, 0) != PAGE) {
		munmap(p, PMD);
		return NULL;
	}
	return p;
}

/* The count of one fallback reason: fallbacks(MISALIGNED) reads pmd_fallback_misaligned. */
#define fallbacks(reason) refdax_stat(REFDAX_STAT_PMD_FALLBACK_##reason)

/* The largest multiple of 2 MiB up to 1 GiB that leaves half of the free blocks free. */
static long big_size(void)
{
	long size = free_blocks() / 2 * PAGE / PMD * PMD;

	return size > (1L << 30) ? 1L << 30 : size;
}

TEST_F(pmd, one_fault_per_2mib_and_one_order9_free)
{
	long size = big_size(), n = size / PMD;
	long long pmd_faults = refdax_stat(REFDAX_STAT_PMD_FAULTS), pte_faults = refdax_stat(REFDAX_STAT_PTE_FAULTS);
	long long built = refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT), split = refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT);
	long long calls;
	long flt;
	int fd;
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(4 * PMD, size) TH_LOG("too little pmem for the test");
	TH_LOG("file of %ld MiB: %ld windows of 2 MiB", size >> 20, n);
	fd = sized_file("big", size);
	ASSERT_LE(0, fd);
	p = map_shared(fd, size);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, (long)p % PMD);

	flt = minor_faults();
	touch(p, size, 0);
	flt = minor_faults() - flt;
	EXPECT_EQ(n, flt);
	ASSERT_EQ(pmd_faults + n, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	ASSERT_EQ(pte_faults, refdax_stat(REFDAX_STAT_PTE_FAULTS));
	ASSERT_EQ(built + n, refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT));
	ASSERT_EQ(n, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_TRUE(pfns_contiguous(p, size));
	ASSERT_TRUE(touched(p, size, 0));

	ASSERT_EQ(0, trace_refdax(1));
	calls = refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS);
	ASSERT_EQ(0, munmap(p, size));
	ASSERT_EQ(calls + n, refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS));
	ASSERT_EQ(n, trace_count(" order=9 "));
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	/* Idle, the folios stay compound: the file still owns every extent. */
	ASSERT_EQ(split, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));

	/* The extent maps again with one PMD per window, over the same folios: no build. */
	p = map_shared(fd, size);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_TRUE(touched(p, size, 0));
	ASSERT_EQ(pmd_faults + 2 * n, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	ASSERT_EQ(built + n, refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT));
	ASSERT_EQ(split, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	ASSERT_EQ(0, munmap(p, size));
	close(fd);
}

/* The trace event of a PMD fault shows the order. */
TEST_F(pmd, fault_event_shows_order_9)
{
	int fd = sized_file("f", PMD);
	char *p;

	ASSERT_LE(0, fd);
	p = map_shared(fd, PMD);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, trace_refdax(1));
	p[0] = 1;
	ASSERT_EQ(1, trace_count("refdax_fault: "));
	ASSERT_EQ(1, trace_count(" order=9 pgoff=0 write=1"));
	ASSERT_EQ(0, munmap(p, PMD));
	close(fd);
}

/* A window whose file offset is not 2 MiB aligned in the VMA is mapped with PTEs. */
TEST_F(pmd, fallback_misaligned)
{
	long long before = fallbacks(MISALIGNED), pte = refdax_stat(REFDAX_STAT_PTE_FAULTS);
	long long pmd = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	int fd = sized_file("f", 3 * PMD);
	char *p;

	ASSERT_LE(0, fd);
	/* Offset 4 KiB: the kernel aligns the address so that offset 2 MiB is aligned. */
	p = mmap(NULL, 2 * PMD, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PAGE);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;
	ASSERT_EQ(before + 1, fallbacks(MISALIGNED));
	ASSERT_EQ(pte + 1, refdax_stat(REFDAX_STAT_PTE_FAULTS));
	ASSERT_EQ(pmd, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	/* ... while the window at file offset 2 MiB, inside the VMA, is a PMD. */
	p[PMD - PAGE] = 2;
	ASSERT_EQ(pmd + 1, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	ASSERT_EQ(0, munmap(p, 2 * PMD));
	close(fd);
}

TEST_F(pmd, fallback_file_end)
{
	long long before = fallbacks(FILE_END), pmd = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	int fd = sized_file("f", PMD + PMD / 2);
	char *p;

	ASSERT_LE(0, fd);
	p = map_shared(fd, 2 * PMD);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;
	ASSERT_EQ(pmd + 1, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	p[PMD] = 2;
	ASSERT_EQ(before + 1, fallbacks(FILE_END));
	ASSERT_EQ(pmd + 1, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	ASSERT_EQ(0, munmap(p, 2 * PMD));
	close(fd);
}

/*
 * A window whose blocks are not one extent takes PTEs: two files written a page at a time,
 * in turns, while smaller than 2 MiB get single blocks that alternate between them.
 */
TEST_F(pmd, fallback_short_extent)
{
	long long before = fallbacks(SHORT_EXTENT), pmd = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	int fd = open("a", O_CREAT | O_RDWR, 0644), other = open("b", O_CREAT | O_RDWR, 0644);
	char buf[PAGE];
	char *p;

	ASSERT_LE(0, fd);
	ASSERT_LE(0, other);
	for (long i = 0; i < PER_PMD; i++) {
		memset(buf, (int)i, PAGE);
		ASSERT_EQ(PAGE, pwrite(fd, buf, PAGE, i * PAGE));
		ASSERT_EQ(PAGE, pwrite(other, buf, PAGE, i * PAGE));
	}
	p = map_shared(fd, PMD);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(5, p[5 * PAGE]);
	ASSERT_EQ(before + 1, fallbacks(SHORT_EXTENT));
	ASSERT_EQ(pmd, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	ASSERT_EQ(0, munmap(p, PMD));
	close(other);
	close(fd);
}

/*
 * A page of the extent mapped on its own by another mapping keeps the window on PTEs; the
 * two kinds of mapping see the same data (mixed PTE/PMD use of one file).
 */
TEST_F(pmd, fallback_subpages_mapped_and_mixed_use)
{
	long long before = fallbacks(SUBPAGES_MAPPED), pmd = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	int fd = sized_file("f", 2 * PMD);
	char *a, *b;

	ASSERT_LE(0, fd);
	/* Mapping a: offset 4 KiB, so its pages are PTE-mapped (misaligned). */
	a = mmap(NULL, 2 * PMD, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PAGE);
	ASSERT_NE(MAP_FAILED, a);
	a[0] = 0x5a;
	b = map_shared(fd, 2 * PMD);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(0x5a, b[PAGE]);
	ASSERT_EQ(before + 1, fallbacks(SUBPAGES_MAPPED));
	/* The second window, untouched by a, is a PMD in b. */
	b[PMD + 3 * PAGE] = 0x6b;
	ASSERT_EQ(pmd + 1, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	ASSERT_EQ(0x6b, a[PMD + 2 * PAGE]);
	ASSERT_EQ(0, munmap(a, 2 * PMD));
	ASSERT_EQ(0, munmap(b, 2 * PMD));
	close(fd);
}

/*
 * MAP_PRIVATE: a first write falls back (the core copies one page); reads map the file's
 * PMD, and a later write unmaps it (the core splits the mapping, not the folio) and copies
 * one page; the other pages refault as pages of the same folio. The file keeps its data.
 */
TEST_F(pmd, fallback_private_write)
{
	long long before = fallbacks(PRIVATE_WRITE), pmd, split;
	int fd = sized_file("f", PMD);
	char *s, *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	s = map_shared(fd, PMD);
	ASSERT_NE(MAP_FAILED, s);
	touch(s, PMD, 7);
	ASSERT_EQ(0, munmap(s, PMD));

	p = mmap(NULL, PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[5 * PAGE] = 'x';
	ASSERT_EQ(before + 1, fallbacks(PRIVATE_WRITE));
	ASSERT_EQ('x', p[5 * PAGE]);
	ASSERT_EQ(0, munmap(p, PMD));

	pmd = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	p = mmap(NULL, PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_TRUE(touched(p, PMD, 7));
	ASSERT_EQ(pmd + 1, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	split = refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT);
	p[6 * PAGE] = 'y';
	ASSERT_EQ('y', p[6 * PAGE]);
	ASSERT_EQ(7 + 7, p[7 * PAGE]);
	ASSERT_EQ(split, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	/* Page 7's PTE references the file's compound folio, the only one referenced. */
	ASSERT_EQ(1, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0, munmap(p, PMD));

	s = map_shared(fd, PMD);
	ASSERT_NE(MAP_FAILED, s);
	ASSERT_TRUE(touched(s, PMD, 7));
	ASSERT_EQ(0, munmap(s, PMD));
	close(fd);
}

/* Unmounts and mounts again with @opts (NULL for none). */
static int remount_with(const char *opts)
{
	if (umount(REFDAX_MNT))
		return -errno;
	return mount("none", REFDAX_MNT, "refdax", 0, opts) ? -errno : 0;
}

/* With -o pte_only every fault is a PTE fault: the comparison the benchmarks use. */
TEST(pte_only_mount_option)
{
	long long before, pmd, pte;
	char *p;
	int fd;

	if (!getenv("REFDAX_KO"))
		SKIP(return, "no refdax range set aside (/run/refdax.env)");
	ASSERT_EQ(0, refdax_ensure_mounted());
	ASSERT_EQ(0, chdir("/"));
	ASSERT_EQ(0, remount_with("pte_only"));
	before = fallbacks(PTE_ONLY);
	pmd = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	pte = refdax_stat(REFDAX_STAT_PTE_FAULTS);
	fd = sized_file(REFDAX_MNT "/pte_only", PMD);
	ASSERT_LE(0, fd);
	p = map_shared(fd, PMD);
	ASSERT_NE(MAP_FAILED, p);
	touch(p, PMD, 0);
	EXPECT_EQ(before + 1, fallbacks(PTE_ONLY));
	EXPECT_EQ(pmd, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	EXPECT_EQ(pte + PER_PMD, refdax_stat(REFDAX_STAT_PTE_FAULTS));
	ASSERT_EQ(0, munmap(p, PMD));
	close(fd);
	ASSERT_EQ(0, unlink(REFDAX_MNT "/pte_only"));
	ASSERT_EQ(0, remount_with(NULL));
	/* A malformed option (a value for a flag) is refused with a clear error. */
	ASSERT_EQ(0, umount(REFDAX_MNT));
	ASSERT_EQ(-1, mount("none", REFDAX_MNT, "refdax", 0, "pte_only=1"));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(0, mount("none", REFDAX_MNT, "refdax", 0, NULL));
}

/*
 * Operations on part of a PMD mapping split the mapping: the PMD goes and the folio's free is
 * notified, but the folio stays compound (its extent is whole); the rest of the window
 * refaults with PTEs, as pages of that folio, and keeps its data.
 */
FIXTURE_VARIANT(split)
{
	int op;
};

enum { OP_MUNMAP, OP_MPROTECT, OP_DONTNEED };

FIXTURE_VARIANT_ADD(split, munmap_half) { .op = OP_MUNMAP };
FIXTURE_VARIANT_ADD(split, mprotect_half) { .op = OP_MPROTECT };
FIXTURE_VARIANT_ADD(split, dontneed_range) { .op = OP_DONTNEED };

TEST_F(split, partial_operation_unmaps_and_refaults)
{
	long long split, pmd, pte, built;
	int fd = sized_file("f", 2 * PMD);
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	p = map_shared(fd, 2 * PMD);
	ASSERT_NE(MAP_FAILED, p);
	touch(p, 2 * PMD, 3);
	ASSERT_EQ(2, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	split = refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT);
	built = refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT);
	ASSERT_EQ(0, trace_refdax(1));
	switch (variant->op) {
	case OP_MUNMAP:
		ASSERT_EQ(0, munmap(p, PMD / 2));
		break;
	case OP_MPROTECT:
		ASSERT_EQ(0, mprotect(p, PMD / 2, PROT_READ));
		break;
	case OP_DONTNEED:
		ASSERT_EQ(0, madvise(p + 16 * PAGE, 32 * PAGE, MADV_DONTNEED));
		break;
	}
	/* The first window's PMD is gone, its folio freed but kept; the second is untouched. */
	ASSERT_EQ(1, trace_count(" order=9 "));
	ASSERT_EQ(split, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	ASSERT_EQ(1, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	pmd = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	pte = refdax_stat(REFDAX_STAT_PTE_FAULTS);
	if (variant->op == OP_MUNMAP) {
		ASSERT_TRUE(touched(p + PMD / 2, PMD + PMD / 2, 3 + PER_PMD / 2));
		ASSERT_EQ(pte + PER_PMD / 2, refdax_stat(REFDAX_STAT_PTE_FAULTS));
		/* 256 PTEs, all pages of the one kept folio. */
		ASSERT_EQ(2, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
		ASSERT_EQ(0, munmap(p + PMD / 2, PMD + PMD / 2));
	} else {
		ASSERT_TRUE(touched(p, 2 * PMD, 3));
		/* What is still one VMA around the window may map it with a PMD again. */
		ASSERT_EQ(pte + pmd + (variant->op == OP_MPROTECT ? PER_PMD : 1),
			  refdax_stat(REFDAX_STAT_PTE_FAULTS) + refdax_stat(REFDAX_STAT_PMD_FAULTS));
		/* The first window's PTEs or PMD, all of one kept folio, and the second's. */
		ASSERT_EQ(2, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
		ASSERT_EQ(0, munmap(p, 2 * PMD));
	}
	ASSERT_EQ(built, refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT));
	ASSERT_EQ(split, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	close(fd);
}

/*
 * A page of a PMD-mapped window moved elsewhere by mremap() and kept mapped there: its PTE
 * references the kept compound folio, so the window maps with a PMD again every time, over
 * the same folio, and both mappings see the same bytes. (With the folio split at its free,
 * the page would be referenced on its own and every PMD fault would fall back.)
 */
TEST_F(pmd, mremapped_page_leaves_the_window_pmd_mappable)
{
	long long sub = fallbacks(SUBPAGES_MAPPED), built, pmd, freeb;
	int fd = sized_file("f", PMD);
	char *p, *q, *hole;

	ASSERT_LE(0, fd);
	p = map_shared(fd, PMD);
	ASSERT_NE(MAP_FAILED, p);
	touch(p, PMD, 4);
	built = refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT);
	pmd = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	hole = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	q = mremap(p + 7 * PAGE, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, hole);
	ASSERT_EQ(hole, q);
	ASSERT_EQ((char)(7 + 4), q[0]);
	ASSERT_EQ(0, munmap(p, PMD));
	ASSERT_EQ(1, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	for (int i = 0; i < 10; i++) {
		p = map_shared(fd, PMD);
		ASSERT_NE(MAP_FAILED, p);
		ASSERT_TRUE(touched(p, PMD, 4));
		q[0] = (char)i;
		ASSERT_EQ((char)i, p[7 * PAGE]);
		p[7 * PAGE] = (char)(7 + 4);
		ASSERT_EQ(0, munmap(p, PMD));
	}
	EXPECT_EQ(sub, fallbacks(SUBPAGES_MAPPED));
	EXPECT_EQ(pmd + 10, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	EXPECT_EQ(built, refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT));
	/*
	 * Truncating half the window while q still maps page 7 of the folio: the whole
	 * window's mappings go (as fs/dax drops the whole PMD entry), so q's PTE does not keep
	 * the folio, and the truncated blocks are free at once rather than Busy while q lives.
	 */
	freeb = free_blocks();
	ASSERT_EQ(0, ftruncate(fd, PMD / 2));
	EXPECT_EQ(0, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	EXPECT_EQ(freeb + PER_PMD / 2, free_blocks());
	ASSERT_EQ((char)(7 + 4), q[0]);
	ASSERT_EQ(0, munmap(q, PAGE));
	close(fd);
}

/* fork: the child refaults the PMD over the parent's folio; nothing is built again. */
TEST_F(pmd, fork_child_maps_the_same_folio)
{
	long long built, pmd;
	int fd = sized_file("f", PMD), status;
	char *p;
	pid_t pid;

	ASSERT_LE(0, fd);
	p = map_shared(fd, PMD);
	ASSERT_NE(MAP_FAILED, p);
	touch(p, PMD, 9);
	built = refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT);
	pmd = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(touched(p, PMD, 9) ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(pmd + 1, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	ASSERT_EQ(built, refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT));
	ASSERT_EQ(1, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0, munmap(p, PMD));
	close(fd);
}

/*
 * Truncating part of a PMD-mapped extent: the mapping goes, the blocks past the new size
 * are Busy while the folio is referenced and released by its one notification.
 */
TEST_F(pmd, truncate_part_of_a_pmd_extent)
{
	long long released = refdax_stat(REFDAX_STAT_BUSY_RELEASED), freeb, extents;
	long long split = refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT);
	int fd = sized_file("f", 2 * PMD);
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	p = map_shared(fd, 2 * PMD);
	ASSERT_NE(MAP_FAILED, p);
	touch(p, 2 * PMD, 1);
	freeb = free_blocks();
	ASSERT_EQ(0, trace_refdax(1));
	ASSERT_EQ(0, ftruncate(fd, PMD + PMD / 2));
	/*
	 * The zap comes first (invalidate lock held): the folio's order-9 free notification
	 * keeps it, its extent still whole. The first block to leave breaks the extent up and
	 * splits the idle folio, so the truncated blocks are idle pages and free at once.
	 */
	ASSERT_EQ(0, trace_count("refdax_block_busy: "));
	ASSERT_EQ(PER_PMD / 2, trace_count("refdax_block_release: "));
	ASSERT_EQ(released, refdax_stat(REFDAX_STAT_BUSY_RELEASED));
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	ASSERT_EQ(freeb + PER_PMD / 2, free_blocks());
	ASSERT_EQ(1, trace_count(" order=9 "));
	ASSERT_EQ(split + 1, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	/* The first window is still a PMD; the second refaults with PTEs up to EOF. */
	ASSERT_EQ(1, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_TRUE(touched(p, PMD + PMD / 2, 1));
	/*
	 * Truncating the rest: the whole first extent leaves in one step (its folio unmapped,
	 * idle, kept, then split once), the second window's pages one by one; all free at once.
	 */
	extents = refdax_stat(REFDAX_STAT_EXTENTS_RELEASED);
	ASSERT_EQ(0, trace_refdax(1));
	ASSERT_EQ(0, ftruncate(fd, 0));
	ASSERT_EQ(0, trace_count("refdax_block_busy: "));
	ASSERT_EQ(PER_PMD + PER_PMD / 2, trace_count("refdax_block_release: "));
	ASSERT_EQ(extents + 1, refdax_stat(REFDAX_STAT_EXTENTS_RELEASED));
	ASSERT_EQ(split + 2, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	ASSERT_EQ(freeb + 2 * PER_PMD, free_blocks());
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0, munmap(p, 2 * PMD));
	close(fd);
}

/*
 * A pinned page of a PMD folio (spliced into a pipe) keeps the whole folio referenced: after
 * munmap and truncate all 512 blocks are Busy until the pipe lets go, then one order-9 free
 * releases them all. The spliced page's data is intact until then.
 */
TEST_F(pmd, pinned_subpage_keeps_the_whole_folio)
{
	long long released = refdax_stat(REFDAX_STAT_BUSY_RELEASED), split, freeb;
	int fd = sized_file("f", PMD), pfd[2];
	char out[PAGE];
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	p = map_filled_and_pin(fd, 0x3c, 77, pfd);
	ASSERT_NE(NULL, p);
	split = refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT);
	ASSERT_EQ(0, munmap(p, PMD));
	ASSERT_EQ(1, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(split, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));

	freeb = free_blocks();
	ASSERT_EQ(0, ftruncate(fd, 0));
	ASSERT_EQ(PER_PMD, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	ASSERT_EQ(freeb, free_blocks());

	/* Reading the pipe empties it: that drops the last reference. */
	ASSERT_EQ(0, trace_refdax(1));
	ASSERT_EQ(PAGE, read(pfd[0], out, PAGE));
	for (int i = 0; i < PAGE; i++)
		ASSERT_EQ(0x3c, out[i]);
	close(pfd[0]);
	close(pfd[1]);
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	ASSERT_EQ(released + PER_PMD, refdax_stat(REFDAX_STAT_BUSY_RELEASED));
	ASSERT_EQ(split + 1, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	ASSERT_EQ(freeb + PER_PMD, free_blocks());
	ASSERT_EQ(1, trace_count(" order=9 "));
	close(fd);
}

/*
 * A pinned PMD folio that lost its first page (Busy), PTE-mapped again through one of its
 * other pages by a misaligned mapping: punching another page zaps the whole window (the
 * leaving page's folio is compound), so once the pin drops nothing keeps the folio and
 * both Busy blocks are released. (Judged by the window's first page, now a hole, the zap
 * would stay one page wide and the mapping would keep them Busy.)
 */
TEST_F(pmd, punch_after_a_pinned_folio_broke_up_zaps_its_window)
{
	int fd = sized_file("f", PMD), pfd[2];
	char out[PAGE];
	char *p, *q;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	p = map_filled_and_pin(fd, 0x2e, 300, pfd);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, munmap(p, PMD));
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE));
	ASSERT_EQ(1, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	/* File page 7, at offset 6 pages of a mapping from file offset 4 KiB. */
	q = mmap(NULL, PMD - PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PAGE);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0x2e, q[6 * PAGE]);
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * PAGE, PAGE));
	ASSERT_EQ(2, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	ASSERT_EQ(PAGE, read(pfd[0], out, PAGE));
	close(pfd[0]);
	close(pfd[1]);
	EXPECT_EQ(0, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	/* The page stays in the file: it refaults, a page of its own now. */
	ASSERT_EQ(0x2e, q[6 * PAGE]);
	ASSERT_EQ(0, munmap(q, PMD - PAGE));
	close(fd);
}

/*
 * A truncate that leaves half of a pinned PMD folio in the file must not end the folio's
 * association with the file: memory failure finds a page's mappings through it. A page of
 * the half still in the file, mapped again (as a subpage of the pinned folio) and then
 * poisoned, is unmapped, and touching it is SIGBUS with BUS_MCEERR_AR.
 */
TEST_F(pmd, memory_failure_in_a_pinned_partly_truncated_folio)
{
	long long poisoned = refdax_stat(REFDAX_STAT_PAGES_POISONED);
	int fd = sized_file("f", PMD), pfd[2], ret;
	char out[PAGE];
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	/* Pin a page of the half that is about to go: the folio stays compound. */
	p = map_filled_and_pin(fd, 0x5a, 300, pfd);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, ftruncate(fd, PMD / 2));
	ASSERT_EQ(PER_PMD / 2, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	/* The first half refaults, as pages of the still-pinned folio. */
	for (long i = 0; i < PER_PMD / 2; i++)
		ASSERT_EQ(0x5a, p[i * PAGE]);
	ASSERT_TRUE(hwpoison_signalled(p + 3 * PAGE, &ret)) TH_LOG("no SIGBUS at once");
	ASSERT_EQ(0, ret) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(poisoned + 1, refdax_stat(REFDAX_STAT_PAGES_POISONED));
	/* Here, not in a child: a child refaults, this process still has its PTE unless zapped. */
	ASSERT_TRUE(poison_sigbus_here(p + 3 * PAGE)) TH_LOG("the poisoned page is still mapped");
	ASSERT_EQ(0x5a, p[4 * PAGE]);
	/*
	 * Moving the failed page is refused: it cannot be copied out of the still-compound
	 * folio, nor leave the folio's window. EIO, and nothing changes.
	 */
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_INSERT_RANGE, 0, PAGE));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(PMD / 2, lseek(fd, 0, SEEK_END));
	ASSERT_EQ(0x5a, p[4 * PAGE]);
	ASSERT_EQ(0, munmap(p, PMD));
	ASSERT_EQ(PAGE, read(pfd[0], out, PAGE));
	close(pfd[0]);
	close(pfd[1]);
	ASSERT_EQ(0, ftruncate(fd, 0));
	close(fd);
	ASSERT_EQ(0, refdax_busy_settled());
}

/*
 * A page of a PMD-mapped window fails: its mappings are zapped, and the folio's free, its
 * extent no longer sound, splits it. The window then maps with PTEs (the PMD fault falls
 * back, poisoned); the other pages keep their data, the failed one is SIGBUS.
 */
TEST_F(pmd, memory_failure_splits_the_kept_folio)
{
	long long split = refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT);
	long long poisoned = fallbacks(POISONED);
	int fd = sized_file("f", PMD), ret;
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	p = map_shared(fd, PMD);
	ASSERT_NE(MAP_FAILED, p);
	touch(p, PMD, 2);
	ASSERT_TRUE(hwpoison_signalled(p + 9 * PAGE, &ret)) TH_LOG("no SIGBUS at once");
	ASSERT_EQ(0, ret) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(split + 1, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	ASSERT_EQ(0, munmap(p, PMD));
	p = map_shared(fd, PMD);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ((char)(8 + 2), p[8 * PAGE]);
	ASSERT_EQ(poisoned + 1, fallbacks(POISONED));
	ASSERT_TRUE(poison_sigbus_here(p + 9 * PAGE));
	ASSERT_EQ((char)(10 + 2), p[10 * PAGE]);
	ASSERT_EQ(0, munmap(p, PMD));
	close(fd);
}

/*
 * FALLOC_FL_COLLAPSE_RANGE and FALLOC_FL_INSERT_RANGE over PMD-mapped extents. Moved by a
 * whole 2 MiB, an extent maps with one PMD again; moved by 4 KiB, its pages keep their data
 * and map with PTEs, and moving them back makes the extent PMD-mappable again. A page of a
 * PMD folio pinned (in a pipe) while its window moves keeps its old data in the pipe: the
 * file gets a copy, stores to the file's page do not reach the pipe, and the folio's blocks
 * stay Busy until the pipe lets go, then are free.
 */
TEST_F(pmd, collapse_and_insert_move_extents)
{
	long long freeb, pmds, busy_released, split;
	char out[PAGE];
	int fd, pfd[2];
	struct iovec iov;
	char *p;

	NEEDS_FOLIO_FREE();
	fd = sized_file("mv", 4 * PMD);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, 0, 0, 4 * PMD));
	p = map_shared(fd, 4 * PMD);
	ASSERT_NE(MAP_FAILED, p);
	pmds = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	/* Each window its own bytes: page i of window w holds (i + 1 + 37 * w). */
	for (int w = 0; w < 4; w++)
		touch(p + w * PMD, PMD, 1 + 37 * w);
	ASSERT_EQ(pmds + 4, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	/* Pin page 5 of the third window: its PMD folio stays referenced. */
	iov.iov_base = p + 2 * PMD + 5 * PAGE;
	iov.iov_len = PAGE;
	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ(PAGE, vmsplice(pfd[1], &iov, 1, 0));

	/* Collapse the second window: the third (pinned: copied) and fourth move down. */
	freeb = free_blocks();
	split = refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT);
	busy_released = refdax_stat(REFDAX_STAT_BUSY_RELEASED);
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, PMD, PMD));
	/* The collapsed window is free, the copies took as many; the originals are Busy. */
	EXPECT_EQ(PER_PMD, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	EXPECT_EQ(freeb, free_blocks());
	/*
	 * The idle folios of the collapsed and the moving fourth window were split (their
	 * extents broken up: a folio's pages must stay at its index); the pinned one is not.
	 */
	EXPECT_EQ(split + 2, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	ASSERT_TRUE(touched(p, PMD, 1));
	ASSERT_TRUE(touched(p + PMD, PMD, 1 + 37 * 2)) TH_LOG("the pinned window's copy");
	pmds = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	ASSERT_TRUE(touched(p + 2 * PMD, PMD, 1 + 37 * 3)) TH_LOG("the moved extent");
	EXPECT_EQ(pmds + 1, refdax_stat(REFDAX_STAT_PMD_FAULTS)) TH_LOG("moved by 2 MiB: one PMD");
	/* The file's page is a copy: a store to it does not reach the pinned page. */
	p[PMD + 5 * PAGE] = 0x7f;
	ASSERT_EQ(PAGE, read(pfd[0], out, PAGE));
	EXPECT_EQ((char)(1 + 37 * 2 + 5), out[0]);
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	EXPECT_EQ(busy_released + PER_PMD, refdax_stat(REFDAX_STAT_BUSY_RELEASED));
	EXPECT_EQ(split + 3, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	EXPECT_EQ(freeb + PER_PMD, free_blocks());
	close(pfd[0]);
	close(pfd[1]);
	p[PMD + 5 * PAGE] = (char)(1 + 37 * 2 + 5);

	/* Insert one page at page 1: everything above moves up 4 KiB and maps with PTEs. */
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_INSERT_RANGE, PAGE, PAGE));
	pmds = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	EXPECT_EQ((char)1, p[0]);
	EXPECT_EQ(0, p[PAGE]);
	for (long i = 1; i < 3 * PER_PMD; i++) {
		/* Windows 0, 2 and 3 of the start, in that order. */
		int w = i / PER_PMD ? i / PER_PMD + 1 : 0;

		ASSERT_EQ((char)(i % PER_PMD + 1 + 37 * w), p[(i + 1) * PAGE])
			TH_LOG("page %ld moved up", i);
	}
	EXPECT_EQ(pmds, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	/*
	 * Collapsing it again puts the extents back in place: PMD-mapped again, in a new
	 * mapping (the old one keeps its emptied page tables, so the core faults PTEs there).
	 */
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, PAGE, PAGE));
	ASSERT_EQ(0, munmap(p, 4 * PMD));
	p = map_shared(fd, 3 * PMD);
	ASSERT_NE(MAP_FAILED, p);
	pmds = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	ASSERT_TRUE(touched(p + 2 * PMD, PMD, 1 + 37 * 3));
	EXPECT_EQ(pmds + 1, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	ASSERT_TRUE(touched(p, PMD, 1));
	ASSERT_TRUE(touched(p + PMD, PMD, 1 + 37 * 2));
	ASSERT_EQ(0, munmap(p, 3 * PMD));
	close(fd);
}

TEST_HARNESS_MAIN
