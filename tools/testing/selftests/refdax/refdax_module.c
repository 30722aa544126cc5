// SPDX-License-Identifier: GPL-2.0
/*
 * refdax module lifecycle: loads and unloads cleanly, claims and releases its pmem range,
 * refuses bad parameters and leaves the system as it was.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "refdax_util.h"
#include "kselftest_harness.h"

#define SZ_2M (2ULL << 20)

FIXTURE(module)
{
	uint64_t phys, size;
};

FIXTURE_SETUP(module)
{
	if (!getenv("REFDAX_KO") || !env_u64("REFDAX_SIZE"))
		SKIP(return, "no refdax range set aside (/run/refdax.env)");
	self->phys = env_u64("REFDAX_PHYS");
	self->size = env_u64("REFDAX_SIZE");
	if (refdax_loaded())
		ASSERT_EQ(0, refdax_unload());
	ASSERT_FALSE(iomem_has("refdax"));
}

FIXTURE_TEARDOWN(module)
{
	if (refdax_loaded())
		EXPECT_EQ(0, refdax_unload());
	EXPECT_FALSE(iomem_has("refdax"));
}

/* Each refused load must leave nothing behind: no module, no claim. */
#define ASSERT_REFUSED(err, phys, size) do {				\
	ASSERT_EQ(-(err), refdax_load_range((phys), (size)));		\
	ASSERT_FALSE(refdax_loaded());					\
	ASSERT_FALSE(iomem_has("refdax"));				\
} while (0)

TEST_F_TIMEOUT(module, load_unload_20_times, 600)
{
	for (int i = 0; i < 20; i++) {
		ASSERT_EQ(0, refdax_load_range(self->phys, self->size)) TH_LOG("load %d", i);
		ASSERT_TRUE(refdax_loaded());
		ASSERT_TRUE(iomem_has("refdax"));
		ASSERT_EQ(0, access(REFDAX_STATS, R_OK));
		ASSERT_EQ((long long)(self->size / 4096), refdax_stat(REFDAX_STAT_PAGES_TOTAL));
		ASSERT_EQ((long long)self->phys, refdax_stat(REFDAX_STAT_PHYS_ADDR));
		ASSERT_EQ(0, refdax_unload()) TH_LOG("unload %d", i);
		ASSERT_FALSE(refdax_loaded());
		ASSERT_FALSE(iomem_has("refdax"));
		ASSERT_NE(0, access(REFDAX_DEBUGFS, F_OK));
	}
}

TEST_F(module, refuses_missing_size)
{
	ASSERT_EQ(-EINVAL, refdax_load(""));
	ASSERT_REFUSED(EINVAL, self->phys, 0);
}

/* A refused load whose log line gives @reason: any EINVAL is not enough. */
#define ASSERT_REFUSED_BECAUSE(err, phys, size, reason) do {		\
	int seen = klog_count(reason);					\
									\
	ASSERT_REFUSED(err, phys, size);				\
	ASSERT_LT(seen, klog_count(reason))				\
		TH_LOG("refused, but not with '%s' in the log", reason);	\
} while (0)

TEST_F(module, refuses_unaligned_range)
{
	ASSERT_REFUSED_BECAUSE(EINVAL, self->phys + 4096, self->size - SZ_2M,
			       "both must be multiples of 2 MiB");
	ASSERT_REFUSED_BECAUSE(EINVAL, self->phys, self->size - 4096,
			       "both must be multiples of 2 MiB");
}

TEST_F(module, refuses_range_outside_pmem)
{
	/* Straddling the end of the NVDIMM, then wholly past it. */
	ASSERT_REFUSED_BECAUSE(EINVAL, self->phys + self->size - SZ_2M, 2 * SZ_2M,
			       "is not inside one \"Persistent Memory\" range");
	ASSERT_REFUSED_BECAUSE(EINVAL, self->phys + self->size, SZ_2M,
			       "is not inside one \"Persistent Memory\" range");
}

TEST_F(module, refuses_system_ram)
{
	ASSERT_REFUSED_BECAUSE(EINVAL, 16ULL << 20, SZ_2M, "overlaps System RAM");
}

TEST_F(module, refuses_wrapping_range)
{
	ASSERT_REFUSED_BECAUSE(EINVAL, 0xffffffffffe00000ULL, 2 * SZ_2M, "the range wraps around");
}

TEST_F(module, refuses_range_held_by_pmem_driver)
{
	if (!env_u64("REFDAX_OTHER_SIZE"))
		SKIP(return, "no second NVDIMM namespace");
	ASSERT_REFUSED_BECAUSE(EBUSY, env_u64("REFDAX_OTHER_PHYS"), SZ_2M, "is claimed already");
}

TEST_F(module, second_load_refused)
{
	ASSERT_EQ(0, refdax_load_range(self->phys, self->size));
	ASSERT_EQ(-EEXIST, refdax_load_range(self->phys, self->size));
	ASSERT_TRUE(refdax_loaded());
	ASSERT_TRUE(iomem_has("refdax"));
	ASSERT_EQ(0, refdax_unload());
}

/* While refdax holds the range the pmem driver cannot take it back; afterwards it can. */
TEST_F(module, claim_excludes_pmem_driver)
{
	const char *ns = getenv("REFDAX_NS");
	char dev[64];

	ASSERT_NE(NULL, ns);
	ASSERT_EQ(0, refdax_load_range(self->phys, self->size));
	ASSERT_NE(0, write_file("/sys/bus/nd/drivers/nd_pmem/bind", ns));
	snprintf(dev, sizeof(dev), "/sys/bus/nd/drivers/nd_pmem/%s", ns);
	ASSERT_NE(0, access(dev, F_OK));
	ASSERT_EQ(0, refdax_unload());

	ASSERT_EQ(0, write_file("/sys/bus/nd/drivers/nd_pmem/bind", ns));
	ASSERT_EQ(0, access(dev, F_OK));
	ASSERT_EQ(-EBUSY, refdax_load_range(self->phys, self->size));
	ASSERT_EQ(0, write_file("/sys/bus/nd/drivers/nd_pmem/unbind", ns));
	ASSERT_NE(0, access(dev, F_OK));
}

/*
 * Unloading waits for pages still referenced without a mapping (RFC point 7): a page spliced
 * into a pipe outlives the file, the mount and the start of rmmod; rmmod completes only when
 * the pipe lets go, and the page's data is intact until then.
 */
/*
 * umount -l while a process still maps a file: the mapping keeps working, the superblock
 * lives on (a new mount of the range is refused, the module cannot be unloaded) until the
 * last mapping goes; then everything is free and the range mounts again.
 */
TEST_F(module, lazy_umount_with_a_mapped_file)
{
	long long total;
	int fd;
	char *p;

	ASSERT_EQ(0, refdax_ensure_mounted());
	total = refdax_stat(REFDAX_STAT_BLOCKS_TOTAL);
	fd = open(REFDAX_MNT "/lazy", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 16 * 4096));
	p = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);
	p[0] = 'a';
	ASSERT_EQ(0, umount2(REFDAX_MNT, MNT_DETACH));
	/* Detached, still alive through the mapping. */
	p[5 * 4096] = 'b';
	ASSERT_EQ('a', p[0]);
	ASSERT_EQ(-1, mount("none", REFDAX_MNT, "refdax", 0, NULL));
	ASSERT_EQ(EBUSY, errno);
	ASSERT_NE(0, refdax_unload());
	ASSERT_TRUE(refdax_loaded());
	ASSERT_EQ(2, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0, munmap(p, 16 * 4096));
	/* The last user gone, the superblock and its file are gone. */
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(total, refdax_stat(REFDAX_STAT_BLOCKS_FREE) + refdax_stat(REFDAX_STAT_BLOCKS_QUARANTINED));
	ASSERT_EQ(0, mount("none", REFDAX_MNT, "refdax", 0, NULL));
	ASSERT_EQ(-1, access(REFDAX_MNT "/lazy", F_OK));
}

TEST_F_TIMEOUT(module, unload_waits_for_spliced_page, 300)
{
	/* Logged every 10 s (the exact second may slip under load). */
	static const char waited[] = "; 1 folios still referenced, the first at pfn";
	char pattern[4096], out[4096];
	struct iovec iov;
	int fd, pfd[2], status, rstatus, logged;
	pid_t pid, reader;
	char *p;

	for (int i = 0; i < 4096; i++)
		pattern[i] = (char)(i * 31 + 7);
	ASSERT_EQ(0, refdax_ensure_mounted());
	fd = open(REFDAX_MNT "/spliced", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4096, pwrite(fd, pattern, 4096, 0));
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, pipe(pfd));
	iov.iov_base = p;
	iov.iov_len = 4096;
	ASSERT_EQ(4096, vmsplice(pfd[1], &iov, 1, 0));
	ASSERT_EQ(0, munmap(p, 4096));
	close(fd);
	ASSERT_EQ(0, unlink(REFDAX_MNT "/spliced"));
	ASSERT_EQ(0, umount(REFDAX_MNT));
	ASSERT_EQ(1, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));

	/* The wait is traced: its start now, its end when the page comes back. */
	ASSERT_EQ(0, write_file(TRACEFS "/events/refdax/refdax_teardown_wait_start/enable", "1"));
	ASSERT_EQ(0, write_file(TRACEFS "/events/refdax/refdax_teardown_wait_end/enable", "1"));
	ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
	logged = klog_count(waited);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(refdax_unload() ? 1 : 0);
	/* The unload is under way once the module is going. */
	for (int i = 0; i < 3000; i++) {
		char *state = read_file("/sys/module/refdax/initstate");
		bool going = state && !strncmp(state, "going", 5);

		free(state);
		if (going)
			break;
		usleep(10000);
	}
	ASSERT_EQ(0, system("grep -q going /sys/module/refdax/initstate"));
	/* Signals do not cut the wait short: unloading cannot fail half-way. */
	ASSERT_EQ(0, kill(pid, SIGINT));
	ASSERT_EQ(0, kill(pid, SIGTERM));
	/* Still waiting for the page, and saying which one every 10 s. */
	for (int i = 0; i < 300 && klog_count(waited) <= logged; i++)
		usleep(100000);
	ASSERT_LT(logged, klog_count(waited));
	ASSERT_EQ(0, waitpid(pid, &status, WNOHANG));
	ASSERT_TRUE(iomem_has("refdax"));
	ASSERT_EQ(1, trace_count("refdax_teardown_wait_start: referenced=1 first_pfn=0x"));
	ASSERT_EQ(0, trace_count("refdax_teardown_wait_end:"));
	/*
	 * The end event is read from trace_pipe as it happens: once the module is gone the
	 * kernel empties the trace buffer (its events were used), so it cannot be read after.
	 */
	reader = fork();
	ASSERT_LE(0, reader);
	if (reader == 0) {
		static const char want[] = "refdax_teardown_wait_end: passes=";
		static char seen[1 << 16];
		size_t len = 0;
		int tp = open(TRACEFS "/trace_pipe", O_RDONLY);

		alarm(120);
		while (tp >= 0 && len < sizeof(seen) - 1) {
			ssize_t n = read(tp, seen + len, sizeof(seen) - 1 - len);

			if (n <= 0)
				break;
			len += n;
			seen[len] = 0;
			if (strstr(seen, want))
				_exit(0);
		}
		_exit(1);
	}
	usleep(200000);
	ASSERT_EQ(4096, read(pfd[0], out, 4096));
	ASSERT_EQ(0, memcmp(pattern, out, 4096));
	close(pfd[0]);
	close(pfd[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(reader, waitpid(reader, &rstatus, 0));
	EXPECT_TRUE(WIFEXITED(rstatus) && WEXITSTATUS(rstatus) == 0)
		TH_LOG("no refdax_teardown_wait_end event in trace_pipe (status %#x)", rstatus);
	/* The signals are delivered once the unload is done. */
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) TH_LOG("status %#x", status);
	ASSERT_FALSE(refdax_loaded());
	ASSERT_FALSE(iomem_has("refdax"));
}

TEST_HARNESS_MAIN
