// SPDX-License-Identifier: GPL-2.0
/*
 * Faults against block removal: threads store into a refdax MAP_SHARED mapping and O_DIRECT
 * read a pmem block device into it (the reads pin the mapping's pages), while another thread
 * punches holes in the file and a third truncates its upper half away and back, and re-faults
 * it. PTE- and PMD-mapped, REFDAX_COLLIDE_SECONDS in all (default 60, half per variant).
 *
 * refdax must behave as ext4 -o dax does: a store or a read into a punched page refaults a
 * fresh zeroed block. No SIGBUS below EOF, no EFAULT from the direct I/O, no kernel WARN
 * (before the invalidate-lock protocol a fault could insert a new block's page over the
 * old block's PTE: "WARNING: mm/memory.c ... insert_page_into_pte_locked"), and afterwards
 * nothing referenced or busy.
 */
#include <dirent.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include "refdax_util.h"
#include "kselftest_harness.h"

#define PAGE 4096L
#define PMD (2L << 20)
#define FILE_SIZE (8 * PMD)
/* Stores and direct I/O stay below this; the truncate thread works above it. */
#define LOW_SIZE (FILE_SIZE / 2)
#define DIO_SIZE (64 * 1024L)
/*
 * Half of every thread's work goes to the first pages of the file: faults of several threads
 * on one page, with a punch between them, are what needs the invalidate lock.
 */
#define HOT_PAGES 16
#define WRITERS 2

struct shared {
	char *map;
	int fd;
	int dev_fd;
	long dev_size;
	volatile int stop;
	/* What went wrong: must stay zero. */
	long sigbus_low;
	long dio_efault;
	long dio_other_errors;
	long op_errors;
	/* That the race ran. */
	long stores, dio_reads, punches, truncates, upper_touches, upper_sigbus;
};

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (bus_jump)
		siglongjmp(*bus_jump, 1);
	abort();
}

static unsigned long rnd(unsigned int *seed, unsigned long n)
{
	return (unsigned long)rand_r(seed) % n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *writer(void *arg)
{
	struct shared *s = arg;
	unsigned int seed = (unsigned int)(uintptr_t)&seed;

	while (!s->stop) {
		long pages = rnd(&seed, 2) ? HOT_PAGES : LOW_SIZE / PAGE;
		long off = rnd(&seed, pages) * PAGE + rnd(&seed, PAGE);

		if (!try_write(s->map + off, (char)off))
			__atomic_add_fetch(&s->sigbus_low, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->stores, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* O_DIRECT reads from the pmem block device into the mapping: GUP pins its pages. */
static void *dio_reader(void *arg)
{
	struct shared *s = arg;
	unsigned int seed = 7;

	while (!s->stop) {
		long off = rnd(&seed, 2) ? 0 : rnd(&seed, (LOW_SIZE - DIO_SIZE) / PAGE) * PAGE;
		long from = rnd(&seed, (s->dev_size - DIO_SIZE) / PAGE) * PAGE;
		ssize_t n = pread(s->dev_fd, s->map + off, DIO_SIZE, from);

		if (n < 0 && errno == EFAULT)
			__atomic_add_fetch(&s->dio_efault, 1, __ATOMIC_RELAXED);
		else if (n != DIO_SIZE)
			__atomic_add_fetch(&s->dio_other_errors, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->dio_reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *puncher(void *arg)
{
	struct shared *s = arg;
	unsigned int seed = 11;

	while (!s->stop) {
		/* A few hot pages, or from a page to a whole extent anywhere in the lower half. */
		bool hot = rnd(&seed, 2);
		long len = (1 + rnd(&seed, hot ? HOT_PAGES / 2 : 512)) * PAGE;
		long off = rnd(&seed, ((hot ? HOT_PAGES * PAGE : LOW_SIZE) - len) / PAGE + 1) * PAGE;

		if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len))
			__atomic_add_fetch(&s->op_errors, 1, __ATOMIC_RELAXED);
		s->punches++;
		usleep(rnd(&seed, 200));
	}
	return NULL;
}

/* Truncates the upper half away and back, touching it in between (SIGBUS allowed there). */
static void *truncator(void *arg)
{
	struct shared *s = arg;
	unsigned int seed = 13;

	while (!s->stop) {
		long cut = LOW_SIZE + rnd(&seed, (FILE_SIZE - LOW_SIZE) / PAGE) * PAGE;

		for (int i = 0; i < 64; i++) {
			if (!try_write(s->map + LOW_SIZE + rnd(&seed, LOW_SIZE / PAGE) * PAGE, 1))
				s->upper_sigbus++;
			s->upper_touches++;
		}
		if (ftruncate(s->fd, cut) || ftruncate(s->fd, FILE_SIZE))
			__atomic_add_fetch(&s->op_errors, 1, __ATOMIC_RELAXED);
		s->truncates++;
	}
	return NULL;
}

/* Opens the first pmem block device (the NVDIMM the pmem driver kept), O_DIRECT. */
static int open_pmem(long *size)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	char path[300];
	int fd = -1;

	if (!d)
		return -1;
	while (fd < 0 && (e = readdir(d))) {
		if (strncmp(e->d_name, "pmem", 4))
			continue;
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	}
	closedir(d);
	if (fd >= 0) {
		*size = lseek(fd, 0, SEEK_END);
		if (*size < (long)(DIO_SIZE + PMD)) {
			close(fd);
			fd = -1;
		}
	}
	return fd;
}

FIXTURE(collide)
{
	struct shared s;
	char path[64];
};

FIXTURE_VARIANT(collide)
{
	bool pmd;
};

FIXTURE_VARIANT_ADD(collide, pte) { .pmd = false };
FIXTURE_VARIANT_ADD(collide, pmd) { .pmd = true };

FIXTURE_SETUP(collide)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	long long free_blocks;

	memset(&self->s, 0, sizeof(self->s));
	self->s.fd = self->s.dev_fd = -1;
	if (refdax_ensure_mounted())
		SKIP(return, "refdax cannot be loaded and mounted");
	self->s.dev_fd = open_pmem(&self->s.dev_size);
	if (self->s.dev_fd < 0)
		SKIP(return, "no pmem block device for the direct I/O");
	free_blocks = refdax_stat(REFDAX_STAT_BLOCKS_FREE);
	ASSERT_LT(2 * FILE_SIZE / PAGE, free_blocks) TH_LOG("too little pmem for the test");
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, NULL));
	snprintf(self->path, sizeof(self->path), REFDAX_MNT "/collide-%d", getpid());
	self->s.fd = open(self->path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ASSERT_LE(0, self->s.fd);
	/* Allocated first: 2 MiB extents, so the PMD variant maps PMDs. */
	ASSERT_EQ(0, fallocate(self->s.fd, 0, 0, FILE_SIZE));
	self->s.map = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, self->s.fd, 0);
	ASSERT_NE(MAP_FAILED, self->s.map);
	if (!variant->pmd)
		ASSERT_EQ(0, madvise(self->s.map, FILE_SIZE, MADV_NOHUGEPAGE));
}

FIXTURE_TEARDOWN(collide)
{
	if (self->s.map && self->s.map != MAP_FAILED)
		munmap(self->s.map, FILE_SIZE);
	if (self->s.fd >= 0) {
		close(self->s.fd);
		unlink(self->path);
	}
	if (self->s.dev_fd >= 0)
		close(self->s.dev_fd);
}

TEST_F_TIMEOUT(collide, dio_and_stores_race_punch_and_truncate, 600)
{
	long seconds = env_u64("REFDAX_COLLIDE_SECONDS") ?: 60;
	long long pte0 = refdax_stat(REFDAX_STAT_PTE_FAULTS), pmd0 = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	int warnings = klog_count("WARNING:");
	pthread_t t[WRITERS + 3];
	struct shared *s = &self->s;
	double end = now() + seconds / 2.0;
	int i, n = 0;

	for (i = 0; i < WRITERS; i++)
		ASSERT_EQ(0, pthread_create(&t[n++], NULL, writer, s));
	ASSERT_EQ(0, pthread_create(&t[n++], NULL, dio_reader, s));
	ASSERT_EQ(0, pthread_create(&t[n++], NULL, puncher, s));
	ASSERT_EQ(0, pthread_create(&t[n++], NULL, truncator, s));
	while (now() < end)
		usleep(100000);
	s->stop = 1;
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);

	TH_LOG("%ld stores, %ld direct reads, %ld punches, %ld truncates, %ld/%ld upper touches faulted past EOF, %lld PTE and %lld PMD faults",
	       s->stores, s->dio_reads, s->punches, s->truncates, s->upper_sigbus,
	       s->upper_touches, refdax_stat(REFDAX_STAT_PTE_FAULTS) - pte0,
	       refdax_stat(REFDAX_STAT_PMD_FAULTS) - pmd0);
	/* The race ran. */
	ASSERT_LT(0, s->punches);
	ASSERT_LT(0, s->truncates);
	ASSERT_LT(0, s->dio_reads);
	ASSERT_LT(0, refdax_stat(REFDAX_STAT_PTE_FAULTS) - pte0);
	if (variant->pmd)
		ASSERT_LT(0, refdax_stat(REFDAX_STAT_PMD_FAULTS) - pmd0);
	/* And nothing went wrong below EOF. */
	EXPECT_EQ(0, s->sigbus_low);
	EXPECT_EQ(0, s->dio_efault);
	EXPECT_EQ(0, s->dio_other_errors);
	EXPECT_EQ(0, s->op_errors);
	if (warnings >= 0)
		EXPECT_LE(klog_count("WARNING:"), warnings) TH_LOG("the kernel warned during the race");

	/* Everything comes back once the mapping and the file are gone. */
	ASSERT_EQ(0, munmap(s->map, FILE_SIZE));
	s->map = NULL;
	ASSERT_EQ(0, ftruncate(s->fd, 0));
	EXPECT_EQ(0, refdax_busy_settled());
	EXPECT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
}

TEST_HARNESS_MAIN
