// SPDX-License-Identifier: GPL-2.0
/*
 * refdax_bench: the same mapping work on refdax, ext4 -o dax, device-dax, tmpfs and anonymous
 * memory, in one run. Each measurement is repeated (--runs, default 5); the table shows the
 * median, the spread ((max - min) / median) and the ratio to the baseline target (--baseline,
 * default ext4-dax); --json writes every value.
 *
 *   refdax_bench [--runs N] [--json FILE] [--baseline NAME] NAME=KIND:PATH...
 *
 * --json also gets a "ratios" object: each refdax row over the better of the fsdax targets.
 *
 * KIND is refdax (PATH: its mount point), fsdax (a DAX file system's directory), tmpfs (a
 * directory), devdax (a /dev/daxX.Y with 2 MiB alignment) or anon (PATH ignored).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096L
#define PMD (2L << 20)
#define PTE_SIZE (256L << 20)
#define BIG_SIZE (1L << 30)
#define MAX_TARGETS 8
#define MAX_RESULTS 256
#define MAX_RUNS 32
#define STATS "/sys/kernel/debug/refdax/stats"
#define WIDE_SPREAD 0.25

enum kind { REFDAX, FSDAX, TMPFS, DEVDAX, ANON };

struct target {
	const char *name;
	enum kind kind;
	const char *path;
};

struct result {
	const char *target, *test, *metric, *unit;
	bool higher_is_better;
	int n;
	double v[MAX_RUNS];
};

static struct result results[MAX_RESULTS];
static int nresults, runs = 5;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static void die(const char *what)
{
	fprintf(stderr, "refdax_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A refdax counter, or -1. */
static long long stat_of(const char *name)
{
	char line[128], key[64];
	long long v, found = -1;
	FILE *f = fopen(STATS, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lld", key, &v) == 2 && !strcmp(key, name))
			found = v;
	fclose(f);
	return found;
}

static void record(const struct target *t, const char *test, const char *metric,
		   const char *unit, bool higher, double v)
{
	struct result *r = NULL;

	for (int i = 0; i < nresults; i++)
		if (!strcmp(results[i].target, t->name) && !strcmp(results[i].test, test) &&
		    !strcmp(results[i].metric, metric))
			r = &results[i];
	if (!r) {
		if (nresults == MAX_RESULTS)
			return;
		r = &results[nresults++];
		*r = (struct result){ t->name, test, metric, unit, higher, 0, { 0 } };
	}
	if (r->n < MAX_RUNS)
		r->v[r->n++] = v;
}

/* A file of @size bytes under the target, written in full so that blocks exist; or the device. */
static int open_backing(const struct target *t, const char *name, long size)
{
	static char buf[1 << 20];
	char path[512];
	int fd;

	if (t->kind == DEVDAX)
		return open(t->path, O_RDWR);
	snprintf(path, sizeof(path), "%s/%s", t->path, name);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (fd < 0)
		die(path);
	/*
	 * Allocated first, on the empty file: refdax gives windows below the size 2 MiB extents,
	 * and xfs aligns an allocation at EOF to its stripe unit (2 MiB here), which a file sized
	 * by ftruncate() and then written does not get (its extents then start 32 KiB off a
	 * 2 MiB boundary, and every PMD fault falls back).
	 */
	if (fallocate(fd, 0, 0, size) && ftruncate(fd, size))
		die("fallocate");
	memset(buf, 0x5a, sizeof(buf));
	for (long off = 0; off < size; off += sizeof(buf))
		if (pwrite(fd, buf, sizeof(buf), off) != sizeof(buf))
			die("pwrite");
	return fd;
}

static void drop_backing(const struct target *t, const char *name, int fd)
{
	char path[512];

	close(fd);
	if (t->kind == DEVDAX)
		return;
	snprintf(path, sizeof(path), "%s/%s", t->path, name);
	unlink(path);
}

static char *map(const struct target *t, int fd, long size, bool pte_only)
{
	char *p;

	if (t->kind == ANON)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
			 -1, 0);
	else
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	if (pte_only && madvise(p, size, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE)");
	return p;
}

/* Touches one byte per page; records faults/s and the fault count; returns the faults. */
static long touch(const struct target *t, const char *test, char *p, long size)
{
	long f0 = minflt(), faults;
	double t0 = now(), dt;

	for (long off = 0; off < size; off += PAGE)
		p[off] = (char)off;
	dt = now() - t0;
	faults = minflt() - f0;
	record(t, test, "faults", "count", false, faults);
	record(t, test, "fault_rate", "faults/s", true, faults / dt);
	record(t, test, "touch_time", "ms", false, dt * 1e3);
	return faults;
}

/* munmap time, and for refdax the folio-free notifications per second it caused. */
static void unmap(const struct target *t, const char *test, char *p, long size)
{
	long long calls = t->kind == REFDAX ? stat_of("folio_free_calls") : 0;
	double t0 = now(), dt;

	munmap(p, size);
	dt = now() - t0;
	record(t, test, "munmap_time", "ms", false, dt * 1e3);
	if (t->kind == REFDAX)
		record(t, test, "notifications", "frees/s", true,
		       (stat_of("folio_free_calls") - calls) / dt);
}

/* Maps a @size file (or the device), touches every page and unmaps it: test @test. */
static void bench_faults(const struct target *t, const char *test, const char *file, long size,
			 bool pte_only)
{
	int fd = open_backing(t, file, size);
	char *p = map(t, fd, size, pte_only);

	touch(t, test, p, size);
	unmap(t, test, p, size);
	drop_backing(t, file, fd);
}

/* 1. PTE faults: a 256 MiB file, PMDs disabled on the VMA (a 2 MiB device-dax refuses). */
static void bench_pte(const struct target *t)
{
	if (t->kind != DEVDAX && t->kind != ANON)
		bench_faults(t, "pte_fault", "bench.pte", PTE_SIZE, true);
}

/* 2./3. PMD faults over a 1 GiB aligned file, then munmap. */
static void bench_pmd(const struct target *t)
{
	if (t->kind != TMPFS && t->kind != ANON)
		bench_faults(t, "pmd_fault", "bench.pmd", BIG_SIZE, false);
}

/* 4. Streaming through a mapping already faulted in: memset, then memcpy out. */
static void bench_stream(const struct target *t)
{
	static char chunk[PMD];
	double t0, dt;
	int fd = -1;
	char *p;

	if (t->kind == TMPFS)
		return;
	if (t->kind != ANON)
		fd = open_backing(t, "bench.stream", BIG_SIZE);
	p = map(t, fd, BIG_SIZE, false);
	for (long off = 0; off < BIG_SIZE; off += PAGE)
		p[off] = 0;
	t0 = now();
	memset(p, 0xa5, BIG_SIZE);
	dt = now() - t0;
	record(t, "stream", "write", "GiB/s", true, BIG_SIZE / dt / (1 << 30));
	t0 = now();
	for (long off = 0; off < BIG_SIZE; off += PMD)
		memcpy(chunk, p + off, PMD);
	dt = now() - t0;
	if (chunk[PMD - 1] != (char)0xa5)
		fprintf(stderr, "refdax_bench: %s: read back wrong data\n", t->name);
	record(t, "stream", "read", "GiB/s", true, BIG_SIZE / dt / (1 << 30));
	munmap(p, BIG_SIZE);
	if (fd >= 0)
		drop_backing(t, "bench.stream", fd);
}

/* 7. pread/pwrite throughput over a 1 GiB file, 4 KiB and 1 MiB at a time. */
static void bench_rw(const struct target *t)
{
	static char buf[1 << 20];
	static const struct {
		long size;
		const char *read, *write;
	} sizes[] = { { PAGE, "read_4k", "write_4k" }, { 1L << 20, "read_1m", "write_1m" } };
	double t0, dt;
	int fd;

	/* The DAX file systems (tmpfs is too small for 1 GiB in the bench guest). */
	if (t->kind != REFDAX && t->kind != FSDAX)
		return;
	fd = open_backing(t, "bench.rw", BIG_SIZE);
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		long n = sizes[i].size;

		memset(buf, (int)i + 1, n);
		t0 = now();
		for (long off = 0; off < BIG_SIZE; off += n)
			if (pwrite(fd, buf, n, off) != n)
				die("pwrite");
		dt = now() - t0;
		record(t, "rw", sizes[i].write, "GiB/s", true, BIG_SIZE / dt / (1 << 30));
		t0 = now();
		for (long off = 0; off < BIG_SIZE; off += n)
			if (pread(fd, buf, n, off) != n)
				die("pread");
		dt = now() - t0;
		record(t, "rw", sizes[i].read, "GiB/s", true, BIG_SIZE / dt / (1 << 30));
	}
	drop_backing(t, "bench.rw", fd);
}

/*
 * 8. Remap: a second mapping of a 1 GiB file whose PMD mappings were just unmapped (refdax
 * keeps the idle PMD folios compound and maps them again without a build).
 */
static void bench_remap(const struct target *t)
{
	int fd;
	char *p;

	if (t->kind == TMPFS || t->kind == ANON)
		return;
	fd = open_backing(t, "bench.remap", BIG_SIZE);
	p = map(t, fd, BIG_SIZE, false);
	for (long off = 0; off < BIG_SIZE; off += PAGE)
		p[off] = 1;
	munmap(p, BIG_SIZE);
	p = map(t, fd, BIG_SIZE, false);
	touch(t, "remap", p, BIG_SIZE);
	munmap(p, BIG_SIZE);
	drop_backing(t, "bench.remap", fd);
}

struct half {
	char *p;
	long len;
	double dt;
};

static void *touch_half(void *arg)
{
	struct half *h = arg;
	double t0 = now();

	for (long off = 0; off < h->len; off += PAGE)
		h->p[off] = (char)off;
	h->dt = now() - t0;
	return NULL;
}

/*
 * 9. Two threads faulting disjoint halves of one PTE-only mapping: the aggregate fault rate,
 * and its ratio to one thread's rate over the same size (mmap lock contention shows here).
 */
static void bench_threads(const struct target *t)
{
	struct half h[2];
	pthread_t th;
	double one, two;
	int fd;
	char *p;

	if (t->kind == DEVDAX || t->kind == ANON)
		return;
	fd = open_backing(t, "bench.threads", PTE_SIZE);
	p = map(t, fd, PTE_SIZE, true);
	h[0] = (struct half){ p, PTE_SIZE, 0 };
	touch_half(&h[0]);
	one = PTE_SIZE / PAGE / h[0].dt;
	munmap(p, PTE_SIZE);
	p = map(t, fd, PTE_SIZE, true);
	h[0] = (struct half){ p, PTE_SIZE / 2, 0 };
	h[1] = (struct half){ p + PTE_SIZE / 2, PTE_SIZE / 2, 0 };
	if (pthread_create(&th, NULL, touch_half, &h[1]))
		die("pthread_create");
	touch_half(&h[0]);
	pthread_join(th, NULL);
	two = PTE_SIZE / PAGE / (h[0].dt > h[1].dt ? h[0].dt : h[1].dt);
	record(t, "threads2", "fault_rate", "faults/s", true, two);
	record(t, "threads2", "scaling", "x", true, two / one);
	munmap(p, PTE_SIZE);
	drop_backing(t, "bench.threads", fd);
}

/*
 * Free blocks by statfs() for every file system: refdax's f_bfree is its pool's free count
 * (Busy blocks are not free). Not the debugfs stats, whose read scans the whole range for
 * folios_referenced (tens of ms), which would be timed with refdax's truncate.
 */
static long long free_blocks(const struct target *t)
{
	struct statfs st;

	return statfs(t->path, &st) ? -1 : (long long)st.f_bfree * st.f_bsize / PAGE;
}

/* 5. Truncate of a mapped 1 GiB file: time until every block is free again. */
static void bench_truncate(const struct target *t)
{
	long long before, want;
	double t0;
	int fd;
	char *p;

	if (t->kind != REFDAX && t->kind != FSDAX)
		return;
	before = free_blocks(t);
	fd = open_backing(t, "bench.trunc", BIG_SIZE);
	p = map(t, fd, BIG_SIZE, false);
	for (long off = 0; off < BIG_SIZE; off += PAGE)
		p[off] = 1;
	want = before;
	t0 = now();
	if (ftruncate(fd, 0))
		die("ftruncate");
	while (free_blocks(t) < want && now() - t0 < 10)
		usleep(100);
	if (free_blocks(t) < want)
		fprintf(stderr, "refdax_bench: %s: %lld blocks not free 10 s after truncate\n",
			t->name, want - free_blocks(t));
	record(t, "truncate", "to_free", "ms", false, (now() - t0) * 1e3);
	munmap(p, BIG_SIZE);
	drop_backing(t, "bench.trunc", fd);
}

/*
 * 6. Teardown: unmount a full refdax (every block in a file, evicted at unmount), and the
 * full scan of the range that teardown does, in pages per second.
 */
static void bench_teardown(const struct target *t)
{
	char path[512];
	double t0, dt;
	int fd;

	if (t->kind != REFDAX)
		return;
	snprintf(path, sizeof(path), "%s/bench.full", t->path);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (fd < 0 || fallocate(fd, 0, 0, stat_of("blocks_free") * PAGE))
		die("filling refdax");
	close(fd);
	t0 = now();
	if (umount(t->path))
		die("umount");
	dt = now() - t0;
	record(t, "teardown", "umount_full", "ms", false, dt * 1e3);
	if (stat_of("folios_referenced") != 0)
		fprintf(stderr, "refdax_bench: folios still referenced after umount\n");
	record(t, "teardown", "scan_rate", "pages/s", true,
	       stat_of("scan_pages") / (stat_of("scan_ns") / 1e9));
	if (mount("none", t->path, "refdax", 0, NULL))
		die("mount");
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const struct result *r, double *spread)
{
	double s[MAX_RUNS], m;

	memcpy(s, r->v, r->n * sizeof(double));
	qsort(s, r->n, sizeof(double), cmp);
	m = r->n % 2 ? s[r->n / 2] : (s[r->n / 2 - 1] + s[r->n / 2]) / 2;
	*spread = m ? (s[r->n - 1] - s[0]) / m : 0;
	return m;
}

static const struct result *find(const char *target, const struct result *like)
{
	for (int i = 0; i < nresults; i++)
		if (!strcmp(results[i].target, target) && !strcmp(results[i].test, like->test) &&
		    !strcmp(results[i].metric, like->metric))
			return &results[i];
	return NULL;
}

/* Ratio to the baseline, oriented so that above 1 is better. */
static double ratio(const struct result *r, const char *baseline)
{
	const struct result *b = find(baseline, r);
	double s, mr, mb;

	if (!b)
		return 0;
	mr = median(r, &s);
	mb = median(b, &s);
	if (!mr || !mb)
		return 0;
	return r->higher_is_better ? mr / mb : mb / mr;
}

static struct target *all_targets;
static int nall;

/*
 * The ratio of @r (a refdax result) to the better of the fsdax anchors (ext4-dax, xfs-dax) for
 * the same row, oriented so that above 1 is better; 0 if no anchor has the row.
 */
static double ratio_best(const struct result *r)
{
	double s, mr = median(r, &s), best = 0;

	/* A fault count is a fact, not a score; the time to touch it all is (below). */
	if (!strcmp(r->metric, "faults"))
		return 0;
	for (int i = 0; i < nall; i++) {
		const struct result *b;
		double mb;

		if (all_targets[i].kind != FSDAX || !(b = find(all_targets[i].name, r)))
			continue;
		/* Fault rates compare only over the same number of faults (PTEs vs PMDs). */
		if (!strcmp(r->metric, "fault_rate")) {
			struct result like = *r;
			const struct result *fr, *fb;

			like.metric = "faults";
			fr = find(r->target, &like);
			fb = find(all_targets[i].name, &like);
			if (fr && fb && median(fr, &s) != median(fb, &s))
				continue;
		}
		mb = median(b, &s);
		if (mb && (!best || (r->higher_is_better ? mb > best : mb < best)))
			best = mb;
	}
	if (!best || !mr)
		return 0;
	return r->higher_is_better ? mr / best : best / mr;
}

static void report(const char *baseline)
{
	int wide = 0;

	printf("\n%-10s %-10s %-13s %-9s %14s %7s %9s\n", "test", "target", "metric", "unit",
	       "median", "spread", "vs base");
	for (int i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		double s, m = median(r, &s), q = ratio(r, baseline);
		char qs[16] = "-";

		if (q)
			snprintf(qs, sizeof(qs), "%.2fx", q);
		printf("%-10s %-10s %-13s %-9s %14.2f %6.0f%% %9s%s\n", r->test, r->target, r->metric,
		       r->unit, m, s * 100, qs, s > WIDE_SPREAD ? "  (wide spread)" : "");
		wide += s > WIDE_SPREAD;
	}
	printf("\n%d runs each; spread = (max - min) / median; \"vs base\" = ratio to %s, above 1 is better.\n",
	       runs, baseline);
	if (wide)
		printf("WARNING: %d measurements have a spread above %.0f%%: compare them with care.\n",
		       wide, WIDE_SPREAD * 100);
	printf("Absolute numbers come from QEMU TCG emulation, not hardware.\n");
}

static void write_json(const char *file, const char *baseline)
{
	FILE *f = fopen(file, "w");

	if (!f)
		die(file);
	fprintf(f, "{\n  \"runs\": %d,\n  \"baseline\": \"%s\",\n  \"results\": [\n", runs, baseline);
	for (int i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		double s, m = median(r, &s), q = ratio(r, baseline);

		fprintf(f, "    {\"test\": \"%s\", \"target\": \"%s\", \"metric\": \"%s\", \"unit\": \"%s\", "
			"\"higher_is_better\": %s, \"median\": %.6g, \"spread\": %.4f, ",
			r->test, r->target, r->metric, r->unit, r->higher_is_better ? "true" : "false",
			m, s);
		if (q)
			fprintf(f, "\"ratio_to_baseline\": %.4f, ", q);
		else
			fprintf(f, "\"ratio_to_baseline\": null, ");
		fprintf(f, "\"values\": [");
		for (int k = 0; k < r->n; k++)
			fprintf(f, "%s%.6g", k ? ", " : "", r->v[k]);
		fprintf(f, "]}%s\n", i + 1 < nresults ? "," : "");
	}
	fprintf(f, "  ],\n  \"ratios\": {");
	for (int i = 0, first = 1; i < nresults; i++) {
		const struct result *r = &results[i];
		double q = ratio_best(r);

		if (strcmp(r->target, "refdax") || !q)
			continue;
		fprintf(f, "%s\n    \"%s/%s\": %.4f", first ? "" : ",", r->test, r->metric, q);
		first = 0;
	}
	fprintf(f, "\n  }\n}\n");
	fclose(f);
}

int main(int argc, char **argv)
{
	struct target targets[MAX_TARGETS];
	const char *json = NULL, *baseline = "ext4-dax";
	int ntargets = 0;

	for (int i = 1; i < argc; i++) {
		char *spec, *kind, *path;

		if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			runs = atoi(argv[++i]);
			continue;
		}
		if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--baseline") && i + 1 < argc) {
			baseline = argv[++i];
			continue;
		}
		spec = strdup(argv[i]);
		kind = strchr(spec, '=');
		path = kind ? strchr(kind, ':') : NULL;
		if (!path || ntargets == MAX_TARGETS) {
			fprintf(stderr, "usage: %s [--runs N] [--json FILE] [--baseline NAME] NAME=KIND:PATH...\n",
				argv[0]);
			return 2;
		}
		*kind++ = *path++ = '\0';
		targets[ntargets].name = spec;
		targets[ntargets].path = path;
		if (!strcmp(kind, "refdax"))
			targets[ntargets].kind = REFDAX;
		else if (!strcmp(kind, "fsdax"))
			targets[ntargets].kind = FSDAX;
		else if (!strcmp(kind, "tmpfs"))
			targets[ntargets].kind = TMPFS;
		else if (!strcmp(kind, "devdax"))
			targets[ntargets].kind = DEVDAX;
		else if (!strcmp(kind, "anon"))
			targets[ntargets].kind = ANON;
		else {
			fprintf(stderr, "refdax_bench: unknown kind '%s'\n", kind);
			return 2;
		}
		ntargets++;
	}
	if (runs < 1 || runs > MAX_RUNS || !ntargets) {
		fprintf(stderr, "refdax_bench: need 1..%d runs and at least one target\n", MAX_RUNS);
		return 2;
	}
	all_targets = targets;
	nall = ntargets;
	/* Interleave the targets run by run, so that a slow phase of the host hits them all. */
	for (int run = 0; run < runs; run++) {
		fprintf(stderr, "refdax_bench: run %d of %d\n", run + 1, runs);
		for (int i = 0; i < ntargets; i++) {
			bench_pte(&targets[i]);
			bench_pmd(&targets[i]);
			bench_stream(&targets[i]);
			bench_truncate(&targets[i]);
			bench_rw(&targets[i]);
			bench_remap(&targets[i]);
			bench_threads(&targets[i]);
			bench_teardown(&targets[i]);
		}
	}
	report(baseline);
	printf("\nrefdax / the better of the fsdax anchors (above 1: refdax ahead):\n");
	for (int i = 0; i < nresults; i++) {
		double q = ratio_best(&results[i]);

		if (!strcmp(results[i].target, "refdax") && q)
			printf("  %-10s %-13s %6.2fx\n", results[i].test, results[i].metric, q);
	}
	if (json)
		write_json(json, baseline);
	return 0;
}
