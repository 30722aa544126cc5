// SPDX-License-Identifier: GPL-2.0
/*
 * Mapping refdax files: pages are inserted with the insert-page path and refcounted with
 * their mappings (RFC points 1-3), every free is notified (point 6), and blocks that leave a
 * file while referenced wait for that notification before they are reused.
 */
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "refdax_util.h"
#include "kselftest_harness.h"

#define PAGE 4096L
#define N 64

FIXTURE(map)
{
	char dir[PATH_MAX];
};

FIXTURE_SETUP(map)
{
	if (!getenv("REFDAX_KO"))
		SKIP(return, "no refdax range set aside (/run/refdax.env)");
	ASSERT_EQ(0, refdax_ensure_mounted());
	snprintf(self->dir, sizeof(self->dir), REFDAX_MNT "/map.%d", getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	ASSERT_EQ(0, chdir(self->dir));
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
}

FIXTURE_TEARDOWN(map)
{
	char cmd[PATH_MAX + 16];

	trace_refdax(0);
	write_file(TRACEFS "/current_tracer", "nop");
	write_file(TRACEFS "/set_ftrace_filter", "");
	chdir("/");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	EXPECT_EQ(0, system(cmd));
	/* Whatever the test did, every folio is idle again and nothing waits. */
	EXPECT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	EXPECT_EQ(0, refdax_busy_settled());
}

/* A file of @pages pages filled with bytes @c, open read-write. */
static int make_file(const char *name, long pages, int c)
{
	char buf[PAGE];
	int fd = open(name, O_CREAT | O_TRUNC | O_RDWR, 0644);

	if (fd < 0)
		return -1;
	memset(buf, c, sizeof(buf));
	for (long i = 0; i < pages; i++)
		if (pwrite(fd, buf, PAGE, i * PAGE) != PAGE)
			return -1;
	return fd;
}

/* Whether touching @addr (reading, or writing if @write) kills a child with SIGBUS. */
static bool sigbus_at(volatile char *addr, bool write)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (write)
			*addr = 1;
		else
			(void)*addr;
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS;
}

/* The page frame backing @addr, from /proc/self/pagemap (root only), or 0. */
static unsigned long pfn_of(void *addr)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	pread(fd, &entry, sizeof(entry), ((unsigned long)addr / PAGE) * sizeof(entry));
	close(fd);
	return (entry & (1ULL << 63)) ? entry & ((1ULL << 55) - 1) : 0;
}

TEST_F(map, touch_n_pages_then_munmap_frees_n)
{
	long long calls = refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS);
	long long faults = refdax_stat(REFDAX_STAT_PTE_FAULTS);
	unsigned long first = env_u64("REFDAX_PHYS") / PAGE;
	unsigned long last = first + env_u64("REFDAX_SIZE") / PAGE;
	int fd = open("f", O_CREAT | O_RDWR, 0644);
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, N * PAGE));
	p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, trace_refdax(1));
	for (int i = 0; i < N; i++)
		p[i * PAGE] = (char)i;
	ASSERT_EQ(faults + N, refdax_stat(REFDAX_STAT_PTE_FAULTS));
	ASSERT_EQ(N, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(N, trace_count("refdax_fault: "));
	/* The PTEs map refdax's own pmem pages: the insert-page path, no pfn map. */
	for (int i = 0; i < N; i++) {
		unsigned long pfn = pfn_of(p + i * PAGE);

		ASSERT_TRUE(pfn >= first && pfn < last) TH_LOG("page %d at pfn %#lx", i, pfn);
	}
	ASSERT_EQ(0, msync(p, N * PAGE, MS_SYNC));
	ASSERT_EQ(0, trace_refdax(1));
	ASSERT_EQ(0, munmap(p, N * PAGE));
	ASSERT_EQ(calls + N, refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS));
	ASSERT_EQ(N, trace_count("refdax_folio_free: "));
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	close(fd);
}

TEST_F(map, function_tracer_sees_every_free)
{
	int fd = make_file("f", N, 0x11);
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	p = mmap(NULL, N * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (int i = 0; i < N; i++)
		ASSERT_EQ(0x11, p[i * PAGE]);
	ASSERT_EQ(0, write_file(TRACEFS "/set_ftrace_filter", "refdax_folio_free"));
	ASSERT_EQ(0, write_file(TRACEFS "/current_tracer", "function"));
	ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
	ASSERT_EQ(0, munmap(p, N * PAGE));
	ASSERT_EQ(0, write_file(TRACEFS "/tracing_on", "0"));
	EXPECT_EQ(N, trace_count("refdax_folio_free <-"));
	ASSERT_EQ(0, write_file(TRACEFS "/tracing_on", "1"));
	close(fd);
}

TEST_F(map, populate_maps_at_mmap)
{
	long long faults = refdax_stat(REFDAX_STAT_PTE_FAULTS);
	int fd = make_file("f", N, 0x22);
	char *p;

	ASSERT_LE(0, fd);
	p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	/* Mapped before any access. */
	ASSERT_EQ(N, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(faults + N, refdax_stat(REFDAX_STAT_PTE_FAULTS));
	ASSERT_EQ(0x22, p[5 * PAGE]);
	ASSERT_EQ(faults + N, refdax_stat(REFDAX_STAT_PTE_FAULTS));
	ASSERT_EQ(0, munmap(p, N * PAGE));
	close(fd);
}

/*
 * A mapping the core populates at once (MAP_LOCKED) is filled through the fault path once
 * the VMA is linked (refdax inserts nothing in ->mmap, where a racing truncate could not
 * zap it): every page mapped before the first access, each with one fault.
 */
TEST_F(map, locked_mapping_populated_by_faults)
{
	long long faults = refdax_stat(REFDAX_STAT_PTE_FAULTS);
	long long calls;
	int fd = make_file("f", N, 0x23);
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(N, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(faults + N, refdax_stat(REFDAX_STAT_PTE_FAULTS));
	ASSERT_EQ(0x23, p[7 * PAGE]);
	p[9 * PAGE] = 0x24;
	ASSERT_EQ(faults + N, refdax_stat(REFDAX_STAT_PTE_FAULTS));
	calls = refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS);
	ASSERT_EQ(0, munmap(p, N * PAGE));
	ASSERT_EQ(calls + N, refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS));
	close(fd);
}

TEST_F(map, fork_child_refaults_and_exits)
{
	long long calls;
	int fd = make_file("f", N, 0x33), status;
	char *p;
	pid_t pid;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (int i = 0; i < N; i++)
		p[i * PAGE] = 0x44;
	calls = refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		for (int i = 0; i < N; i++)
			if (p[i * PAGE] != 0x44)
				_exit(1);
		p[0] = 0x55;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The child's references are gone, the parent's remain: nothing was freed. */
	ASSERT_EQ(calls, refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS));
	ASSERT_EQ(N, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0x55, p[0]);
	ASSERT_EQ(0, munmap(p, N * PAGE));
	ASSERT_EQ(calls + N, refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS));
	close(fd);
}

TEST_F(map, private_write_leaves_pmem_untouched)
{
	int fd = make_file("f", 4, 0x66);
	char *p, out[PAGE];

	ASSERT_LE(0, fd);
	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	unsigned long first = env_u64("REFDAX_PHYS") / PAGE;
	unsigned long last = first + env_u64("REFDAX_SIZE") / PAGE;
	unsigned long pfn;

	ASSERT_EQ(0x66, p[PAGE]);	/* read: the shared pmem page */
	pfn = pfn_of(p + PAGE);
	ASSERT_TRUE(pfn >= first && pfn < last) TH_LOG("read maps pfn %#lx", pfn);
	p[PAGE] = 0x77;			/* write after read: copied */
	p[2 * PAGE] = 0x78;		/* write first: copied */
	ASSERT_EQ(0x77, p[PAGE]);
	ASSERT_EQ(0x78, p[2 * PAGE]);
	/* The copies are anonymous pages in DRAM, not pmem. */
	for (int i = 1; i <= 2; i++) {
		pfn = pfn_of(p + i * PAGE);
		ASSERT_NE(0UL, pfn);
		ASSERT_FALSE(pfn >= first && pfn < last) TH_LOG("page %d copy at pfn %#lx", i, pfn);
	}
	ASSERT_EQ(PAGE, pread(fd, out, PAGE, PAGE));
	ASSERT_EQ(0x66, out[0]);
	ASSERT_EQ(PAGE, pread(fd, out, PAGE, 2 * PAGE));
	ASSERT_EQ(0x66, out[0]);
	ASSERT_EQ(0, munmap(p, 4 * PAGE));
	close(fd);
}

TEST_F(map, mremap_mprotect_dontneed_partial_munmap)
{
	long long calls = refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS);
	int fd = make_file("f", 32, 0x12);
	char *p, *q;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	p = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (int i = 0; i < 16; i++)
		p[i * PAGE] = 1;
	ASSERT_EQ(16, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0, mprotect(p + 8 * PAGE, 8 * PAGE, PROT_READ));
	ASSERT_EQ(0, madvise(p, 4 * PAGE, MADV_DONTNEED));
	ASSERT_EQ(calls + 4, refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS));
	ASSERT_EQ(0, munmap(p + 4 * PAGE, 4 * PAGE));
	ASSERT_EQ(calls + 8, refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS));
	ASSERT_EQ(8, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	/* Grow the read-only tail onto the rest of the file and touch the new part. */
	q = mremap(p + 8 * PAGE, 8 * PAGE, 24 * PAGE, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, q);
	for (int i = 8; i < 24; i++)
		ASSERT_EQ(0x12, q[i * PAGE]);
	ASSERT_EQ(24, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(1, p[0]);		/* refaults after MADV_DONTNEED: the data stayed */
	ASSERT_EQ(0, munmap(p, 4 * PAGE));
	ASSERT_EQ(0, munmap(q, 24 * PAGE));
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(calls + 8 + 24 + 1, refdax_stat(REFDAX_STAT_FOLIO_FREE_CALLS));
	close(fd);
}

/*
 * Bytes stored through a mapping past EOF (inside the last page) never come back: growing
 * the file by ftruncate, by pwrite past EOF or by fallocate zeroes them first (POSIX: the
 * gap reads as zeros), as ext4 and xfs do.
 */
TEST_F(map, stores_past_eof_do_not_reappear)
{
	static const char *const how[] = { "ftruncate", "pwrite", "fallocate" };
	long size = PAGE + 100;

	for (int k = 0; k < 3; k++) {
		int fd = make_file("f", 2, 0x11);
		char buf[PAGE], *p;

		ASSERT_LE(0, fd);
		ASSERT_EQ(0, ftruncate(fd, size));
		p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, p);
		/* Past EOF, inside the last page: mapped, so the store lands in pmem. */
		memset(p + size, 0x7e, 2 * PAGE - size);
		ASSERT_EQ(0, munmap(p, 2 * PAGE));
		switch (k) {
		case 0:
			ASSERT_EQ(0, ftruncate(fd, 3 * PAGE));
			break;
		case 1:
			ASSERT_EQ(1, pwrite(fd, "x", 1, 3 * PAGE - 1));
			break;
		case 2:
			ASSERT_EQ(0, fallocate(fd, 0, 0, 3 * PAGE));
			break;
		}
		ASSERT_EQ(PAGE, pread(fd, buf, PAGE, PAGE));
		for (long i = 0; i < 100; i++)
			ASSERT_EQ(0x11, buf[i]);
		for (long i = 100; i < PAGE; i++) {
			ASSERT_EQ(0, buf[i]) TH_LOG("%s: byte %ld past the old EOF", how[k], i - 100);
		}
		close(fd);
		ASSERT_EQ(0, unlink("f"));
	}
}

TEST_F(map, fault_beyond_eof_is_sigbus)
{
	int fd = make_file("f", 1, 0x01);
	char *p;

	ASSERT_LE(0, fd);
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_FALSE(sigbus_at(p, false));
	ASSERT_TRUE(sigbus_at(p + PAGE, false));
	ASSERT_TRUE(sigbus_at(p + PAGE, true));
	ASSERT_EQ(0, munmap(p, 2 * PAGE));
	close(fd);
}

TEST_F(map, odd_mappings)
{
	int fd = make_file("f", 2, 0x5e);
	char *p, *q, c;

	ASSERT_LE(0, fd);
	/* Executable mappings of pmem pages work like any file's. */
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0x5e, p[PAGE]);
	ASSERT_EQ(0, munmap(p, 2 * PAGE));
	/* MAP_SHARED | MAP_PRIVATE is MAP_SHARED_VALIDATE: a shared mapping. */
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[1] = 0x5f;
	ASSERT_EQ(0, munmap(p, 2 * PAGE));
	ASSERT_EQ(1, pread(fd, &c, 1, 1));
	ASSERT_EQ(0x5f, c);
	/* Offsets past EOF map, and fault with SIGBUS. */
	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 16 * PAGE);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_TRUE(sigbus_at(p, false));
	ASSERT_EQ(0, munmap(p, PAGE));
	/* A length beyond the address space is refused. */
	ASSERT_EQ(MAP_FAILED, mmap(NULL, 1UL << 62, PROT_READ, MAP_SHARED, fd, 0));
	/* mremap growth past EOF: the new tail faults with SIGBUS, the old part still maps. */
	p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	q = mremap(p, 2 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0x5e, q[PAGE]);
	ASSERT_TRUE(sigbus_at(q + 4 * PAGE, false));
	ASSERT_EQ(0, munmap(q, 8 * PAGE));
	close(fd);
}

TEST_F(map, read_write_mmap_coherence)
{
	int fd = make_file("f", 2, 0);
	char *p, c = 0x5a, out;

	ASSERT_LE(0, fd);
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(1, pwrite(fd, &c, 1, PAGE + 3));
	ASSERT_EQ(0x5a, p[PAGE + 3]);
	p[17] = 0x6b;
	ASSERT_EQ(1, pread(fd, &out, 1, 17));
	ASSERT_EQ(0x6b, out);
	ASSERT_EQ(0, munmap(p, 2 * PAGE));
	close(fd);
}

/*
 * Another process maps the file; truncate zaps that PTE before it takes the page out of the
 * file (under the invalidate lock, so no fault maps it again in between): the block is idle
 * when it leaves and is free at once. The other process then gets SIGBUS past the new EOF.
 */
TEST_F(map, truncate_while_mapped_elsewhere)
{
	int fd = make_file("f", 2, 0x21), go[2], done[2], status;
	long long before = free_blocks(), released = refdax_stat(REFDAX_STAT_BUSY_RELEASED);
	char c;
	pid_t pid;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		volatile char *p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);

		if (p == MAP_FAILED || p[0] != 0x21 || p[PAGE] != 0x21)
			_exit(1);
		write(done[1], "m", 1);
		read(go[0], &c, 1);
		(void)p[0];
		(void)p[PAGE];	/* past the new EOF: SIGBUS */
		_exit(2);
	}
	ASSERT_EQ(1, read(done[0], &c, 1));
	ASSERT_EQ(2, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0, trace_refdax(1));
	ASSERT_EQ(0, ftruncate(fd, PAGE));
	/* Zapped first, under the invalidate lock: the block is idle when it leaves. */
	ASSERT_EQ(0, trace_count("refdax_block_busy: "));
	ASSERT_EQ(1, trace_count("refdax_block_release: "));
	ASSERT_EQ(released, refdax_stat(REFDAX_STAT_BUSY_RELEASED));
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	ASSERT_EQ(before + 1, free_blocks());
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) TH_LOG("status %#x", status);
	close(fd);
}

/*
 * A page spliced into a pipe holds a reference without any mapping. Truncate or punch-hole
 * must leave its block Busy: not reused even when the file system fills up, its data intact
 * until the pipe lets go, then released by the notification.
 */
static void pinned_block_survives(struct __test_metadata *_metadata, bool punch)
{
	long long before = free_blocks(), released = refdax_stat(REFDAX_STAT_BUSY_RELEASED);
	int fd = make_file("f", 4, 0), filler, pfd[2];
	char pattern[PAGE], out[PAGE];
	struct iovec iov;
	long long filled;
	char *p;

	ASSERT_LE(0, fd);
	for (int i = 0; i < PAGE; i++)
		pattern[i] = (char)(i * 13 + 5);
	ASSERT_EQ(PAGE, pwrite(fd, pattern, PAGE, 2 * PAGE));
	p = mmap(NULL, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, pipe(pfd));
	iov.iov_base = p + 2 * PAGE;
	iov.iov_len = PAGE;
	ASSERT_EQ(PAGE, vmsplice(pfd[1], &iov, 1, 0));
	ASSERT_EQ(0, munmap(p, 4 * PAGE));
	ASSERT_EQ(1, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));

	if (punch) {
		ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * PAGE, PAGE));
	} else {
		ASSERT_EQ(0, ftruncate(fd, 0));
	}
	ASSERT_EQ(1, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	/* The busy block is not free: fill everything that is, with zeroed blocks. */
	filler = open("filler", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, filler);
	filled = free_blocks() * PAGE;
	ASSERT_EQ(0, fallocate(filler, 0, 0, filled));
	ASSERT_EQ(0, free_blocks());
	ASSERT_EQ(-1, fallocate(filler, 0, filled, PAGE));
	ASSERT_EQ(ENOSPC, errno);

	ASSERT_EQ(PAGE, read(pfd[0], out, PAGE));
	ASSERT_EQ(0, memcmp(pattern, out, PAGE));
	close(pfd[0]);
	close(pfd[1]);
	/* The last reference is gone: notified (or reaped), released, free again. */
	ASSERT_EQ(0, refdax_busy_settled());
	ASSERT_EQ(released + 1, refdax_stat(REFDAX_STAT_BUSY_RELEASED));
	ASSERT_EQ(1, free_blocks());
	close(filler);
	ASSERT_EQ(0, unlink("filler"));
	close(fd);
	ASSERT_EQ(0, unlink("f"));
	ASSERT_EQ(before, free_blocks());
}

TEST_F_TIMEOUT(map, spliced_page_survives_truncate, 600)
{
	pinned_block_survives(_metadata, false);
}

TEST_F_TIMEOUT(map, spliced_page_survives_punch_hole, 600)
{
	pinned_block_survives(_metadata, true);
}

TEST_F(map, unlink_open_mapped_file)
{
	long long before = free_blocks();
	int fd = make_file("f", 8, 0x3c);
	char *p;

	ASSERT_LE(0, fd);
	p = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 0x3d;
	ASSERT_EQ(0, unlink("f"));
	p[7 * PAGE] = 0x3e;
	ASSERT_EQ(0x3c, p[3 * PAGE]);
	ASSERT_EQ(before - 8, free_blocks());
	close(fd);
	ASSERT_EQ(before - 8, free_blocks());
	ASSERT_EQ(0, munmap(p, 8 * PAGE));
	/* Last user gone: evicted, every block free. */
	ASSERT_EQ(before, free_blocks());
}

TEST_F_TIMEOUT(map, fault_on_full_fs_is_sigbus, 600)
{
	int fd = open("sparse", O_CREAT | O_RDWR, 0644), filler;
	char *p;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 4 * PAGE));
	filler = open("filler", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, filler);
	ASSERT_EQ(0, fallocate(filler, 0, 0, free_blocks() * PAGE));
	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_TRUE(sigbus_at(p, true));
	ASSERT_EQ(0, munmap(p, 4 * PAGE));
	close(filler);
	ASSERT_EQ(0, unlink("filler"));
	close(fd);
}

/*
 * Memory failure (MADV_HWPOISON) on a page of a refdax file: the pagemap's memory_failure op
 * takes the block out of service, the page's mappings go and this process gets SIGBUS
 * (BUS_MCEERR_AR, the page's address) at once; touching it again is SIGBUS
 * (BUS_MCEERR_AR), reading it EIO; the other pages and the file system keep working, also
 * for a PMD-mapped window (its other 511 pages refault with PTEs); the block is never free
 * again (quarantined once the file lets go).
 */
static int ao_pipe[2];

static void ao_record(int sig, siginfo_t *si, void *uc)
{
	long v[2] = { si->si_code, (long)si->si_addr };

	write(ao_pipe[1], v, sizeof(v));
	_exit(0);
}

/*
 * A child mapping @addr (inherited, and touched) that asked for early kill, waiting for the failure;
 * its pid. It writes one byte to ao_pipe when ready, then the code and address of the
 * SIGBUS it gets.
 */
static pid_t early_kill_child(char *addr)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct sigaction sa = { .sa_sigaction = ao_record, .sa_flags = SA_SIGINFO };

		sigaction(SIGBUS, &sa, NULL);
		/* Gone with the test, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0))
			_exit(1);
		alarm(60);
		/* Mapped in this process too (fork does not copy shared file PTEs). */
		(void)*(volatile char *)addr;
		write(ao_pipe[1], "r", 1);
		for (;;)
			pause();
	}
	return pid;
}

/* Four pages read or written at once, across a failed page. */
static char run[4 * PAGE];

TEST_F(map, memory_failure_quarantines_the_block)
{
	long v[2];
	char ready;
	pid_t child;
	long long total = refdax_stat(REFDAX_STAT_BLOCKS_TOTAL), q = refdax_stat(REFDAX_STAT_BLOCKS_QUARANTINED);
	long long poisoned = refdax_stat(REFDAX_STAT_PAGES_POISONED);
	long win = 512 * PAGE;
	long long pmd = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	long long fb_poisoned = refdax_stat(REFDAX_STAT_PMD_FALLBACK_POISONED);
	char buf[PAGE];
	int fd = open("f", O_CREAT | O_RDWR, 0644), fd2, ret;
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_LE(0, fd);
	/* Sized first, so that both 2 MiB windows are extents (PMD-mappable). */
	ASSERT_EQ(0, ftruncate(fd, 2 * win));
	memset(buf, 0x44, PAGE);
	for (long i = 0; i < 2 * 512; i++)
		ASSERT_EQ(PAGE, pwrite(fd, buf, PAGE, i * PAGE));
	p = mmap(NULL, 2 * win, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (long i = 0; i < 2 * 512; i++)
		ASSERT_EQ(0x44, p[i * PAGE]);
	ASSERT_EQ(pmd + 2, refdax_stat(REFDAX_STAT_PMD_FAULTS));

	/* Another process maps the file too, and asked to hear of failures early. */
	ASSERT_EQ(0, pipe(ao_pipe));
	child = early_kill_child(p + 3 * PAGE);
	ASSERT_LE(0, child);
	close(ao_pipe[1]);
	ASSERT_EQ(1, read(ao_pipe[0], &ready, 1));
	/* The task that met the failure hears at once: SIGBUS, BUS_MCEERR_AR, the address. */
	ASSERT_TRUE(hwpoison_signalled(p + 3 * PAGE, &ret)) TH_LOG("no SIGBUS at once (code %d)",
								   (int)refdax_mce_code);
	ASSERT_EQ(0, ret) TH_LOG("madvise: %s", strerror(errno));
	/* The early-kill process: BUS_MCEERR_AO at its address of the page. */
	ASSERT_EQ((ssize_t)sizeof(v), read(ao_pipe[0], v, sizeof(v))) TH_LOG("no SIGBUS to the early-kill child");
	EXPECT_EQ(BUS_MCEERR_AO, v[0]);
	EXPECT_EQ((long)(p + 3 * PAGE), v[1]);
	ASSERT_EQ(child, waitpid(child, NULL, 0));
	close(ao_pipe[0]);
	ASSERT_EQ(poisoned + 1, refdax_stat(REFDAX_STAT_PAGES_POISONED));
	ASSERT_TRUE(poison_sigbus_at(p + 3 * PAGE));
	ASSERT_TRUE(poison_sigbus_here(p + 3 * PAGE)) TH_LOG("this process's PTE was not zapped");
	ASSERT_EQ(0x44, p[2 * PAGE]);
	ASSERT_EQ(0x44, p[4 * PAGE]);
	ASSERT_EQ(-1, pread(fd, buf, PAGE, 3 * PAGE));
	ASSERT_EQ(EIO, errno);
	ASSERT_EQ(PAGE, pread(fd, buf, PAGE, 4 * PAGE));
	ASSERT_EQ(0x44, buf[0]);
	ASSERT_EQ(-1, pwrite(fd, buf, PAGE, 3 * PAGE));
	ASSERT_EQ(EIO, errno);
	/*
	 * A read or write over several pages (consecutive blocks, copied as one run) stops
	 * short at the failed page: the pages before it are copied, nothing of it.
	 */
	ASSERT_EQ(2 * PAGE, pread(fd, run, 4 * PAGE, PAGE));
	ASSERT_EQ(0x44, run[0]);
	ASSERT_EQ(0x44, run[2 * PAGE - 1]);
	ASSERT_EQ(2 * PAGE, pwrite(fd, run, 4 * PAGE, PAGE));

	/* A page of the second window (mapped with a PMD if it could be). */
	ASSERT_TRUE(hwpoison_signalled(p + win + 7 * PAGE, &ret));
	ASSERT_EQ(0, ret);
	ASSERT_TRUE(poison_sigbus_at(p + win + 7 * PAGE));
	ASSERT_TRUE(poison_sigbus_here(p + win + 7 * PAGE));
	for (long i = 512; i < 2 * 512; i++)
		if (i != 512 + 7)
			ASSERT_EQ(0x44, p[i * PAGE]);
	/* That window cannot be a PMD any more, and refdax says why (the third PMD fault was
	 * the early-kill child's touch of the first window). */
	ASSERT_EQ(pmd + 3, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	ASSERT_LT(fb_poisoned, refdax_stat(REFDAX_STAT_PMD_FALLBACK_POISONED));
	ASSERT_EQ(0, munmap(p, 2 * win));
	close(fd);

	/* Gone with the file: out of service, never free again. */
	ASSERT_EQ(0, unlink("f"));
	ASSERT_EQ(q + 2, refdax_stat(REFDAX_STAT_BLOCKS_QUARANTINED));
	ASSERT_EQ(total, refdax_stat(REFDAX_STAT_BLOCKS_FREE) + refdax_stat(REFDAX_STAT_BLOCKS_QUARANTINED));
	fd2 = make_file("g", 64, 0x55);
	ASSERT_LE(0, fd2);
	close(fd2);
	ASSERT_EQ(0, unlink("g"));
}

/*
 * FS_IOC_FIEMAP reports where a file lives: runs of physically contiguous pmem inside
 * refdax's range, the address a mapping of the page shows in /proc/self/pagemap.
 */
TEST_F(map, fiemap_reports_physical_extents)
{
	const long mb2 = 2 * 1024 * 1024;
	const uint64_t phys = env_u64("REFDAX_PHYS"), size = env_u64("REFDAX_SIZE");
	struct fiemap *fm = calloc(1, sizeof(*fm) + 8 * sizeof(struct fiemap_extent));
	int fd = open("fm", O_CREAT | O_RDWR, 0644);
	struct fiemap_extent *e;
	char page[PAGE];
	char *p;

	ASSERT_NE(NULL, fm);
	ASSERT_LE(0, fd);
	/* Two extents (2 MiB windows below EOF get one each), with a hole between. */
	ASSERT_EQ(0, ftruncate(fd, 4 * mb2));
	ASSERT_EQ(0, fallocate(fd, 0, 0, mb2));
	memset(page, 0x5a, PAGE);
	ASSERT_EQ(PAGE, pwrite(fd, page, PAGE, 3 * mb2 + 5 * PAGE));
	fm->fm_start = 0;
	fm->fm_length = FIEMAP_MAX_OFFSET;
	fm->fm_extent_count = 8;
	ASSERT_EQ(0, ioctl(fd, FS_IOC_FIEMAP, fm)) TH_LOG("FIEMAP: %s", strerror(errno));
	ASSERT_EQ(2u, fm->fm_mapped_extents);
	e = fm->fm_extents;
	EXPECT_EQ(0u, e[0].fe_logical);
	EXPECT_EQ((uint64_t)3 * mb2, e[1].fe_logical);
	for (int i = 0; i < 2; i++) {
		EXPECT_EQ((uint64_t)mb2, e[i].fe_length);
		EXPECT_EQ(0u, e[i].fe_physical % mb2);
		EXPECT_TRUE(e[i].fe_physical >= phys && e[i].fe_physical + mb2 <= phys + size);
	}
	EXPECT_EQ(0u, e[0].fe_flags & FIEMAP_EXTENT_LAST);
	EXPECT_EQ((uint32_t)FIEMAP_EXTENT_LAST, e[1].fe_flags & FIEMAP_EXTENT_LAST);
	/* The physical address is the one the page is mapped from. */
	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 3 * mb2 + 5 * PAGE);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0x5a, p[0]);
	EXPECT_EQ(e[1].fe_physical + 5 * PAGE, (uint64_t)pfn_of(p) * PAGE);
	ASSERT_EQ(0, munmap(p, PAGE));
	/* Counting only; an array of one (no LAST: more follow); a range inside an extent. */
	fm->fm_extent_count = 0;
	ASSERT_EQ(0, ioctl(fd, FS_IOC_FIEMAP, fm));
	EXPECT_EQ(2u, fm->fm_mapped_extents);
	fm->fm_extent_count = 1;
	ASSERT_EQ(0, ioctl(fd, FS_IOC_FIEMAP, fm));
	EXPECT_EQ(1u, fm->fm_mapped_extents);
	EXPECT_EQ(0u, e[0].fe_flags & FIEMAP_EXTENT_LAST);
	fm->fm_extent_count = 8;
	fm->fm_start = mb2 / 2;
	fm->fm_length = PAGE;
	ASSERT_EQ(0, ioctl(fd, FS_IOC_FIEMAP, fm));
	ASSERT_EQ(1u, fm->fm_mapped_extents);
	EXPECT_EQ((uint64_t)mb2 / 2, e[0].fe_logical);
	EXPECT_EQ((uint64_t)PAGE, e[0].fe_length);
	/* A hole only: nothing; bad flags: EBADR, as the VFS says. */
	fm->fm_start = mb2;
	fm->fm_length = mb2;
	ASSERT_EQ(0, ioctl(fd, FS_IOC_FIEMAP, fm));
	EXPECT_EQ(0u, fm->fm_mapped_extents);
	fm->fm_flags = FIEMAP_FLAG_XATTR;
	EXPECT_EQ(-1, ioctl(fd, FS_IOC_FIEMAP, fm));
	EXPECT_EQ(EBADR, errno);
	free(fm);
	close(fd);
}

/* mm/gup_test.h's long-term pin test (CONFIG_GUP_TEST), as tools/testing/selftests/mm uses it. */
struct refdax_pin_longterm_test {
	__u64 addr;
	__u64 size;
	__u32 flags;
};
#define REFDAX_PIN_LONGTERM_TEST_START _IOW('g', 7, struct refdax_pin_longterm_test)
#define REFDAX_PIN_LONGTERM_TEST_STOP _IO('g', 8)
#define REFDAX_PIN_LONGTERM_TEST_FLAG_USE_FAST 2

/*
 * FOLL_LONGTERM is refused on FS DAX mappings by the core (check_vma_flags(), and
 * folio_is_longterm_pinnable() for the fast path): a DMA pin that may last forever must not
 * hold a page a truncate is waiting to reuse. io_uring fixed buffers and gup_test's
 * long-term pin over a refdax mapping get EOPNOTSUPP, PTE- and PMD-mapped; the same on an
 * anonymous buffer works, so the refusal is about the mapping.
 */
TEST_F(map, longterm_pins_are_refused)
{
	const long size = 2 * 1024 * 1024;
	struct io_uring_params params = { 0 };
	int fd = open("lt", O_CREAT | O_RDWR, 0644);
	char *anon = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p = MAP_FAILED;
	int ring, gup;

	ASSERT_LE(0, fd);
	/* One extent, so that the 2 MiB can be mapped by a PMD. */
	ASSERT_EQ(0, ftruncate(fd, size));
	ASSERT_EQ(0, fallocate(fd, 0, 0, size));
	ASSERT_NE(MAP_FAILED, anon);
	memset(anon, 1, size);
	ring = syscall(__NR_io_uring_setup, 4, &params);
	ASSERT_LE(0, ring) TH_LOG("io_uring_setup: %s", strerror(errno));
	gup = open("/sys/kernel/debug/gup_test", O_RDWR);
	ASSERT_LE(0, gup) TH_LOG("gup_test: %s (CONFIG_GUP_TEST)", strerror(errno));
	for (int pmd = 0; pmd < 2; pmd++) {
		/* One page mapped by a PTE (a 4 KiB VMA cannot hold a PMD), then 2 MiB by one PMD. */
		long len = pmd ? size : PAGE;
		long long before = refdax_stat(REFDAX_STAT_PMD_FAULTS);
		struct iovec iov;

		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, p);
		EXPECT_EQ(0, p[0]);
		EXPECT_EQ(before + pmd, refdax_stat(REFDAX_STAT_PMD_FAULTS));
		iov.iov_base = p;
		iov.iov_len = len;
		EXPECT_EQ(-1, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1));
		EXPECT_EQ(EOPNOTSUPP, errno);
		for (int fast = 0; fast < 2; fast++) {
			struct refdax_pin_longterm_test args = {
				.addr = (unsigned long)p,
				.size = len,
				.flags = fast ? REFDAX_PIN_LONGTERM_TEST_FLAG_USE_FAST : 0,
			};

			EXPECT_EQ(-1, ioctl(gup, REFDAX_PIN_LONGTERM_TEST_START, &args));
			EXPECT_EQ(EOPNOTSUPP, errno) TH_LOG("pmd %d fast %d", pmd, fast);
			ioctl(gup, REFDAX_PIN_LONGTERM_TEST_STOP);
		}
		ASSERT_EQ(0, munmap(p, len));
	}
	/* The same calls over anonymous memory pin, and unpin. */
	struct iovec aiov = { .iov_base = anon, .iov_len = size };
	struct refdax_pin_longterm_test args = { .addr = (unsigned long)anon, .size = size };

	EXPECT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &aiov, 1));
	EXPECT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0));
	EXPECT_EQ(0, ioctl(gup, REFDAX_PIN_LONGTERM_TEST_START, &args));
	EXPECT_EQ(0, ioctl(gup, REFDAX_PIN_LONGTERM_TEST_STOP));
	close(gup);
	close(ring);
	munmap(anon, size);
	close(fd);
}

TEST_HARNESS_MAIN
