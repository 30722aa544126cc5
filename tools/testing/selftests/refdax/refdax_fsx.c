// SPDX-License-Identifier: GPL-2.0
/*
 * A file-system exerciser in the manner of fsx: random read, write, mapped read and write,
 * truncate, fallocate (allocate, punch, zero, collapse, insert) and copy_file_range on one
 * refdax file, each mirrored on a shadow copy in memory; after every operation the file's
 * size and bytes are compared with the shadow (the whole file when it is small, else the
 * part the operation could change, plus the whole file every 64 operations).
 *
 * REFDAX_FSX_OPS (default 100000) operations, REFDAX_FSX_SEED (default: the time; printed)
 * to replay a run. A mismatch prints the last operations.
 */
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#include "refdax_util.h"
#include "kselftest_harness.h"

#define PAGE 4096L
#define PMD (2L << 20)
/* The file stays below this; PMD-sized windows fit, so some faults map 2 MiB at once. */
#define MAXSIZE (2 * PMD)
/* Operations that change at most this much are checked where they can act only. */
#define SMALL (128 * 1024L)
#define HISTORY 32

enum op { READ, WRITE, MAPREAD, MAPWRITE, TRUNCATE, ALLOCATE, PUNCH, ZERO, COLLAPSE, INSERT,
	  COPY, NOPS };
static const char *const op_names[NOPS] = { "read", "write", "mapread", "mapwrite",
	"truncate", "fallocate", "punch", "zero", "collapse", "insert", "copy_file_range" };

struct logged {
	long n;
	enum op op;
	long off, len, size;
};

struct fsx {
	int fd, src;
	char *map, *shadow, *buf, *srcdata;
	long size;
	uint64_t rng;
	struct logged log[HISTORY];
	long ops;
};

static uint64_t next(struct fsx *f)
{
	/* xorshift64* */
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 2685821657736338717ULL;
}

static long below(struct fsx *f, long n)
{
	return n > 0 ? (long)(next(f) % (uint64_t)n) : 0;
}

/* An offset and a length: mostly small and odd, sometimes page aligned and large. */
static void pick(struct fsx *f, long limit, long *off, long *len, bool aligned)
{
	long big = below(f, 16) == 0;

	*off = below(f, limit);
	*len = 1 + below(f, big ? PMD / 2 : 16 * 1024);
	if (aligned) {
		*off &= ~(PAGE - 1);
		*len = (*len + PAGE - 1) & ~(PAGE - 1);
	}
	if (*off + *len > limit)
		*len = limit - *off;
}

/* A page-aligned range for collapse or insert below the size; a 2 MiB one in four times. */
static void pick_move(struct fsx *f, long *off, long *len)
{
	pick(f, f->size & ~(PAGE - 1), off, len, true);
	if (below(f, 4) == 0) {
		*off &= ~(PMD - 1);
		*len = PMD;
	}
}

static void dump(struct fsx *f)
{
	for (long i = f->ops > HISTORY ? f->ops - HISTORY : 0; i < f->ops; i++) {
		struct logged *l = &f->log[i % HISTORY];

		ksft_print_msg("op %ld: %s off %#lx len %#lx -> size %#lx\n", l->n,
			       op_names[l->op], l->off, l->len, l->size);
	}
}

/* Compares bytes @from..@to of the file (clamped to its size) with the shadow. */
static bool check_range(struct fsx *f, long from, long to)
{
	struct stat st;
	long n;

	if (fstat(f->fd, &st) || st.st_size != f->size) {
		ksft_print_msg("size %ld, shadow %ld\n", (long)st.st_size, f->size);
		return false;
	}
	if (to > f->size)
		to = f->size;
	if (from >= to)
		return true;
	n = pread(f->fd, f->buf, to - from, from);
	if (n != to - from) {
		ksft_print_msg("pread %#lx..%#lx: %ld (%s)\n", from, to, n, strerror(errno));
		return false;
	}
	if (!memcmp(f->buf, f->shadow + from, n))
		return true;
	for (long i = 0; i < n; i++) {
		if (f->buf[i] != f->shadow[from + i]) {
			ksft_print_msg("byte %#lx: file %#x, shadow %#x\n", from + i,
				       (unsigned char)f->buf[i], (unsigned char)f->shadow[from + i]);
			return false;
		}
	}
	return true;
}

static void randomize(struct fsx *f, char *p, long len)
{
	for (long i = 0; i < len; i += 8) {
		uint64_t v = next(f);

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

/* Grows or shrinks the shadow to @size: bytes past the old end read as zeros. */
static void shadow_resize(struct fsx *f, long size)
{
	if (size < f->size)
		memset(f->shadow + size, 0, f->size - size);
	f->size = size;
}

/* One random operation; the range it may have changed in *@from..*@to. */
static int step(struct fsx *f, enum op op, long *from, long *to)
{
	long off = 0, len = 0, r;

	switch (op) {
	case READ:
		pick(f, f->size ? f->size : 1, &off, &len, false);
		r = pread(f->fd, f->buf, len, off);
		if (r != (off < f->size ? (off + len < f->size ? len : f->size - off) : 0))
			return ksft_print_msg("read returned %ld\n", r), -1;
		if (memcmp(f->buf, f->shadow + off, r))
			return ksft_print_msg("read data differs\n"), -1;
		break;
	case WRITE:
		pick(f, MAXSIZE, &off, &len, false);
		randomize(f, f->shadow + off, len);
		if (pwrite(f->fd, f->shadow + off, len, off) != len)
			return ksft_print_msg("write: %s\n", strerror(errno)), -1;
		if (off + len > f->size)
			f->size = off + len;
		break;
	case MAPREAD:
		pick(f, f->size, &off, &len, false);
		if (len > 0 && memcmp(f->map + off, f->shadow + off, len))
			return ksft_print_msg("mapped data differs\n"), -1;
		break;
	case MAPWRITE:
		/* Below EOF only: a store past it is SIGBUS. */
		pick(f, f->size, &off, &len, false);
		randomize(f, f->shadow + off, len);
		memcpy(f->map + off, f->shadow + off, len);
		break;
	case TRUNCATE:
		len = below(f, 8) ? below(f, MAXSIZE) : below(f, MAXSIZE / PMD + 1) * PMD;
		if (ftruncate(f->fd, len))
			return ksft_print_msg("truncate: %s\n", strerror(errno)), -1;
		off = len < f->size ? len : f->size;
		shadow_resize(f, len);
		len = MAXSIZE - off;
		break;
	case ALLOCATE:
		pick(f, MAXSIZE, &off, &len, below(f, 2));
		r = below(f, 2) ? FALLOC_FL_KEEP_SIZE : 0;
		if (fallocate(f->fd, r, off, len))
			return ksft_print_msg("fallocate: %s\n", strerror(errno)), -1;
		if (!r && off + len > f->size)
			f->size = off + len;
		break;
	case PUNCH:
	case ZERO:
		pick(f, MAXSIZE, &off, &len, below(f, 2));
		r = op == PUNCH || below(f, 2) ? FALLOC_FL_KEEP_SIZE : 0;
		if (fallocate(f->fd, r | (op == PUNCH ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE),
			      off, len))
			return ksft_print_msg("%s: %s\n", op_names[op], strerror(errno)), -1;
		if (!r && off + len > f->size)
			f->size = off + len;
		if (off < f->size)
			memset(f->shadow + off, 0, (off + len < f->size ? off + len : f->size) - off);
		break;
	case COLLAPSE:
		pick_move(f, &off, &len);
		if (len <= 0 || off + len >= f->size)
			return 0;
		if (fallocate(f->fd, FALLOC_FL_COLLAPSE_RANGE, off, len))
			return ksft_print_msg("collapse: %s\n", strerror(errno)), -1;
		memmove(f->shadow + off, f->shadow + off + len, f->size - off - len);
		shadow_resize(f, f->size - len);
		len = MAXSIZE - off;
		break;
	case INSERT:
		pick_move(f, &off, &len);
		if (len <= 0 || off >= f->size || f->size + len > MAXSIZE)
			return 0;
		if (fallocate(f->fd, FALLOC_FL_INSERT_RANGE, off, len))
			return ksft_print_msg("insert: %s\n", strerror(errno)), -1;
		memmove(f->shadow + off + len, f->shadow + off, f->size - off);
		memset(f->shadow + off, 0, len);
		f->size += len;
		len = MAXSIZE - off;
		break;
	case COPY:
		pick(f, MAXSIZE, &off, &len, false);
		{
			loff_t in = below(f, MAXSIZE - len + 1), out = off;
			long done = 0;

			while (done < len) {
				r = copy_file_range(f->src, &in, f->fd, &out, len - done, 0);
				if (r <= 0)
					return ksft_print_msg("copy_file_range: %ld %s\n", r,
							      strerror(errno)), -1;
				memcpy(f->shadow + off + done, f->srcdata + in - r, r);
				done += r;
			}
		}
		if (off + len > f->size)
			f->size = off + len;
		break;
	default:
		return -1;
	}
	*from = off;
	*to = off + len;
	return 0;
}

FIXTURE(fsx) {};
FIXTURE_SETUP(fsx) {}
FIXTURE_TEARDOWN(fsx) {}

TEST_F_TIMEOUT(fsx, exercise_against_a_shadow_copy, 1200)
{
	struct timespec t0, t;
	long ops = env_u64("REFDAX_FSX_OPS") ?: 100000;
	uint64_t seed = env_u64("REFDAX_FSX_SEED") ?: (uint64_t)time(NULL);
	long long free_before;
	long counts[NOPS] = { 0 };
	struct statfs st;
	struct fsx f = { 0 };

	if (!getenv("REFDAX_KO"))
		SKIP(return, "no refdax range set aside (/run/refdax.env)");
	ASSERT_EQ(0, refdax_ensure_mounted());
	/* A failed earlier run's files would count as used here and free at the end. */
	unlink(REFDAX_MNT "/fsx.data");
	unlink(REFDAX_MNT "/fsx.src");
	ASSERT_EQ(0, statfs(REFDAX_MNT, &st));
	free_before = st.f_bfree;
	ksft_print_msg("seed %llu, %ld operations (REFDAX_FSX_SEED, REFDAX_FSX_OPS)\n",
		       (unsigned long long)seed, ops);
	f.rng = seed | 1;
	f.shadow = calloc(1, MAXSIZE);
	f.buf = malloc(MAXSIZE);
	f.srcdata = malloc(MAXSIZE);
	ASSERT_TRUE(f.shadow && f.buf && f.srcdata);
	f.fd = open(REFDAX_MNT "/fsx.data", O_CREAT | O_TRUNC | O_RDWR, 0644);
	f.src = open(REFDAX_MNT "/fsx.src", O_CREAT | O_TRUNC | O_RDWR, 0644);
	ASSERT_LE(0, f.fd);
	ASSERT_LE(0, f.src);
	randomize(&f, f.srcdata, MAXSIZE);
	ASSERT_EQ(MAXSIZE, pwrite(f.src, f.srcdata, MAXSIZE, 0));
	f.map = mmap(NULL, MAXSIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
	ASSERT_NE(MAP_FAILED, f.map);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (f.ops = 0; f.ops < ops; f.ops++) {
		enum op op = below(&f, NOPS);
		struct logged *l = &f.log[f.ops % HISTORY];
		long from = 0, to = 0;
		bool ok;

		*l = (struct logged){ .n = f.ops, .op = op };
		ok = step(&f, op, &from, &to) == 0;
		l->off = from;
		l->len = to - from;
		l->size = f.size;
		counts[op]++;
		if (f.ops && f.ops % 20000 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			ksft_print_msg("%ld operations in %ld s, size %#lx\n", f.ops,
				       (long)(t.tv_sec - t0.tv_sec), f.size);
		}
		if (ok) {
			if (f.size <= SMALL || f.ops % 64 == 0)
				ok = check_range(&f, 0, f.size);
			else
				ok = check_range(&f, from, to);
		}
		if (!ok) {
			dump(&f);
			ASSERT_TRUE(ok) TH_LOG("mismatch at operation %ld (seed %llu)", f.ops,
					       (unsigned long long)seed);
		}
	}
	ASSERT_TRUE(check_range(&f, 0, MAXSIZE));
	clock_gettime(CLOCK_MONOTONIC, &t);
	ksft_print_msg("%ld operations in %ld s\n", f.ops, (long)(t.tv_sec - t0.tv_sec));
	for (int i = 0; i < NOPS; i++)
		ksft_print_msg("%-16s %ld\n", op_names[i], counts[i]);
	ksft_print_msg("pmd faults so far: %lld\n", refdax_stat(REFDAX_STAT_PMD_FAULTS));

	/* Nothing leaked: every block back, nothing referenced or busy. */
	ASSERT_EQ(0, munmap(f.map, MAXSIZE));
	close(f.fd);
	close(f.src);
	ASSERT_EQ(0, unlink(REFDAX_MNT "/fsx.data"));
	ASSERT_EQ(0, unlink(REFDAX_MNT "/fsx.src"));
	EXPECT_EQ(0, refdax_busy_settled());
	EXPECT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0, statfs(REFDAX_MNT, &st));
	EXPECT_EQ(free_before, (long long)st.f_bfree);
	free(f.shadow);
	free(f.buf);
	free(f.srcdata);
}

TEST_HARNESS_MAIN
