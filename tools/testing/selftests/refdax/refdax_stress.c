// SPDX-License-Identifier: GPL-2.0
/*
 * (Poisoned blocks out of service, blocks_quarantined, count with the free ones.)
 *
 * Load: several processes, some with threads, fault, munmap, truncate, punch, fork and pin
 * the same refdax files at once for REFDAX_STRESS_SECONDS (default 30). Each worker also
 * keeps a file of its own whose pages carry a checksum, rewritten and verified through
 * mappings and read() while the others churn the pool. Afterwards every counter must be at
 * rest and consistent: no folio referenced, nothing busy, and
 * blocks_free + blocks in files == blocks_total.
 */
#include <limits.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "refdax_util.h"
#include "kselftest_harness.h"

#define PAGE 4096L
#define PMD (2L << 20)
#define SHARED_SIZE (4 * PMD)
#define OWN_PAGES 256L
#define WORKERS 4
#define PINS 4

/* The worker's own mapping, for telling where an unexpected SIGBUS hit. */
static char *own_map;

/* Pages of the shared files may vanish under a truncate: a SIGBUS skips the access. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	char msg[96];

	if (bus_jump)
		siglongjmp(*bus_jump, 1);
	snprintf(msg, sizeof(msg), "unexpected SIGBUS at %p, code %d (own mapping at %p)\n",
		 si->si_addr, si->si_code, own_map);
	write(2, msg, strlen(msg));
	abort();
}

static uint64_t fnv1a(const void *data, size_t len)
{
	const unsigned char *c = data;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

/* Page @i of generation @gen of worker @w: pseudo-random bytes, then their checksum. */
static void fill_page(char *page, int w, unsigned int gen, long i)
{
	uint64_t x = ((uint64_t)w << 48) ^ ((uint64_t)gen << 24) ^ (uint64_t)i ^ 0x9e3779b97f4a7c15ULL;
	uint64_t *q = (uint64_t *)page, sum;

	for (size_t k = 0; k < PAGE / 8 - 1; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		q[k] = x;
	}
	sum = fnv1a(page, PAGE - 8);
	memcpy(page + PAGE - 8, &sum, 8);
}

static bool page_ok(const char *page, int w, unsigned int gen, long i)
{
	char want[PAGE];
	uint64_t sum;

	memcpy(&sum, page + PAGE - 8, 8);
	if (sum != fnv1a(page, PAGE - 8))
		return false;
	fill_page(want, w, gen, i);
	return !memcmp(want, page, PAGE);
}

/* Rewrites the worker's own file through a mapping and verifies it with read() and a new mapping. */
static int own_file_round(int fd, int w, unsigned int gen)
{
	char buf[PAGE];
	char *p = mmap(NULL, OWN_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -1;
	own_map = p;
	for (long i = 0; i < OWN_PAGES; i++)
		fill_page(p + i * PAGE, w, gen, i);
	munmap(p, OWN_PAGES * PAGE);
	for (long i = 0; i < OWN_PAGES; i++)
		if (pread(fd, buf, PAGE, i * PAGE) != PAGE || !page_ok(buf, w, gen, i))
			return -1;
	p = mmap(NULL, OWN_PAGES * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	own_map = p;
	for (long i = 0; i < OWN_PAGES; i += 7)
		if (!page_ok(p + i * PAGE, w, gen, i)) {
			munmap(p, OWN_PAGES * PAGE);
			return -1;
		}
	munmap(p, OWN_PAGES * PAGE);
	return 0;
}

struct toucher {
	char *p;
	unsigned int seed;
};

static void *touch_thread(void *arg)
{
	struct toucher *t = arg;

	for (int k = 0; k < 200; k++)
		try_write(t->p + rand_r(&t->seed) % (SHARED_SIZE / PAGE) * PAGE, (char)k);
	return NULL;
}

/* One random operation on the shared file; pipes holding spliced pages in @pins. */
static void shared_op(int fd, unsigned int *seed, int pins[PINS][2])
{
	long off, len;
	char *p;
	int slot;

	switch (rand_r(seed) % 8) {
	case 0: /* map whole (PMD-able), touch, unmap half then the rest */
		p = mmap(NULL, SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return;
		for (int k = 0; k < 64; k++)
			try_write(p + rand_r(seed) % (SHARED_SIZE / PAGE) * PAGE, (char)k);
		off = rand_r(seed) % (SHARED_SIZE / PAGE) * PAGE;
		munmap(p + off, SHARED_SIZE - off);
		munmap(p, off);
		break;
	case 1: /* misaligned mapping: PTEs, maybe on pages of others' PMD folios */
		p = mmap(NULL, SHARED_SIZE - PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PAGE);
		if (p == MAP_FAILED)
			return;
		for (int k = 0; k < 64; k++)
			try_write(p + rand_r(seed) % (SHARED_SIZE / PAGE - 1) * PAGE, (char)k);
		munmap(p, SHARED_SIZE - PAGE);
		break;
	case 2: /* truncate down somewhere, then back */
		ftruncate(fd, rand_r(seed) % (SHARED_SIZE / PAGE) * PAGE);
		ftruncate(fd, SHARED_SIZE);
		break;
	case 3: /* punch a hole */
		off = rand_r(seed) % (SHARED_SIZE / PAGE) * PAGE;
		len = (1 + rand_r(seed) % 600) * PAGE;
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
		break;
	case 4: /* a child maps, touches and exits */
		if (fork() == 0) {
			p = mmap(NULL, SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (p != MAP_FAILED)
				for (int k = 0; k < 32; k++)
					try_write(p + rand_r(seed) % (SHARED_SIZE / PAGE) * PAGE, 1);
			_exit(0);
		}
		wait(NULL);
		break;
	case 5: /* pin a page in a pipe past its mapping, or let an older pin go */
		slot = rand_r(seed) % PINS;
		if (pins[slot][0] >= 0) {
			close(pins[slot][0]);
			close(pins[slot][1]);
			pins[slot][0] = pins[slot][1] = -1;
			break;
		}
		p = mmap(NULL, SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED || pipe(pins[slot]))
			return;
		off = rand_r(seed) % (SHARED_SIZE / PAGE) * PAGE;
		if (try_write(p + off, 2)) {
			struct iovec iov = { p + off, PAGE };

			vmsplice(pins[slot][1], &iov, 1, SPLICE_F_NONBLOCK);
		}
		munmap(p, SHARED_SIZE);
		break;
	case 6: /* threads fault one mapping while it is partly zapped under them */
	case 7: {
		struct toucher t[2];
		pthread_t th[2];

		p = mmap(NULL, SHARED_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return;
		for (int i = 0; i < 2; i++) {
			t[i].p = p;
			t[i].seed = rand_r(seed);
			pthread_create(&th[i], NULL, touch_thread, &t[i]);
		}
		for (int k = 0; k < 8; k++) {
			off = rand_r(seed) % (SHARED_SIZE / PAGE) * PAGE;
			len = (1 + rand_r(seed) % 64) * PAGE;
			madvise(p + off, off + len > SHARED_SIZE ? SHARED_SIZE - off : len,
				MADV_DONTNEED);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		munmap(p, SHARED_SIZE);
		break;
	}
	}
}

/* A worker: shared-file operations interleaved with rounds on its own file. */
static int worker(int w, int seconds)
{
	time_t end = time(NULL) + seconds;
	unsigned int seed = getpid(), gen = 0;
	int pins[PINS][2];
	char name[32];
	int fd, own, ops = 0;

	for (int i = 0; i < PINS; i++)
		pins[i][0] = pins[i][1] = -1;
	fd = open("shared", O_RDWR);
	snprintf(name, sizeof(name), "own.%d", w);
	own = open(name, O_CREAT | O_RDWR, 0644);
	if (fd < 0 || own < 0 || ftruncate(own, OWN_PAGES * PAGE))
		return 2;
	while (time(NULL) < end) {
		shared_op(fd, &seed, pins);
		if (++ops % 8 == 0 && own_file_round(own, w, ++gen)) {
			fprintf(stderr, "worker %d: own file wrong at generation %u\n", w, gen);
			return 1;
		}
	}
	if (own_file_round(own, w, ++gen))
		return 1;
	for (int i = 0; i < PINS; i++)
		if (pins[i][0] >= 0) {
			close(pins[i][0]);
			close(pins[i][1]);
		}
	printf("# worker %d: %d operations, %u own-file generations verified\n", w, ops, gen);
	return 0;
}

FIXTURE(stress)
{
	char dir[PATH_MAX];
};

FIXTURE_SETUP(stress)
{
	if (!getenv("REFDAX_KO"))
		SKIP(return, "no refdax range set aside (/run/refdax.env)");
	ASSERT_EQ(0, refdax_ensure_mounted());
	snprintf(self->dir, sizeof(self->dir), REFDAX_MNT "/stress.%d", getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	ASSERT_EQ(0, chdir(self->dir));
}

FIXTURE_TEARDOWN(stress)
{
	char cmd[PATH_MAX + 16];

	chdir("/");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	EXPECT_EQ(0, system(cmd));
}

/* Sum of the blocks of the files in the current directory. */
static long long blocks_in_files(void)
{
	const char *names[WORKERS + 1] = { "shared", "own.0", "own.1", "own.2", "own.3" };
	long long n = 0;
	struct stat st;

	for (int i = 0; i < WORKERS + 1; i++)
		if (!stat(names[i], &st))
			n += st.st_blocks / (PAGE / 512);
	return n;
}

TEST_F_TIMEOUT(stress, processes_and_threads_on_shared_files, 900)
{
	int seconds = getenv("REFDAX_STRESS_SECONDS") ? atoi(getenv("REFDAX_STRESS_SECONDS")) : 30;
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	long long faults = refdax_stat(REFDAX_STAT_PTE_FAULTS) + refdax_stat(REFDAX_STAT_PMD_FAULTS);
	long long pmd_faults = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	long long builds = refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT);
	long long splits = refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT);
	pid_t pids[WORKERS];
	int fd, status, bad = 0;

	ASSERT_EQ(0, sigaction(SIGBUS, &sa, NULL));
	fd = open("shared", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, SHARED_SIZE));
	close(fd);
	TH_LOG("%d workers for %d s", WORKERS, seconds);
	for (int w = 0; w < WORKERS; w++) {
		pids[w] = fork();
		ASSERT_LE(0, pids[w]);
		if (pids[w] == 0)
			_exit(worker(w, seconds));
	}
	for (int w = 0; w < WORKERS; w++) {
		ASSERT_EQ(pids[w], waitpid(pids[w], &status, 0));
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			TH_LOG("worker %d: status %#x", w, status);
			bad++;
		}
	}
	ASSERT_EQ(0, bad);
	/* The load took the PMD paths too: folios built, mapped and split under it. */
	EXPECT_LT(pmd_faults, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	EXPECT_LT(builds, refdax_stat(REFDAX_STAT_PMD_FOLIOS_BUILT));
	if (refdax_notified())
		EXPECT_LT(splits, refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT));
	TH_LOG("%lld faults (%lld PMD), %lld PMD folios split, %lld fallbacks",
	       refdax_stat(REFDAX_STAT_PTE_FAULTS) + refdax_stat(REFDAX_STAT_PMD_FAULTS) - faults,
	       refdax_stat(REFDAX_STAT_PMD_FAULTS), refdax_stat(REFDAX_STAT_PMD_FOLIOS_SPLIT) - splits,
	       refdax_stat(REFDAX_STAT_PMD_FALLBACKS));
	/* At rest and consistent, with the files still there ... */
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0, refdax_busy_settled());
	ASSERT_EQ(refdax_stat(REFDAX_STAT_BLOCKS_TOTAL), refdax_stat(REFDAX_STAT_BLOCKS_FREE) + blocks_in_files() +
		  refdax_stat(REFDAX_STAT_BLOCKS_QUARANTINED));
	/* ... and once they are gone. */
	ASSERT_EQ(0, system("rm -f shared own.*"));
	ASSERT_EQ(0, refdax_busy_settled());
	ASSERT_EQ(refdax_stat(REFDAX_STAT_BLOCKS_TOTAL),
		  refdax_stat(REFDAX_STAT_BLOCKS_FREE) + refdax_stat(REFDAX_STAT_BLOCKS_QUARANTINED));
}

TEST_HARNESS_MAIN
