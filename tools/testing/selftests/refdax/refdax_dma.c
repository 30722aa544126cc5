// SPDX-License-Identifier: GPL-2.0
/*
 * DMA pins held for seconds by real direct I/O: the RFC's question of telling pinned pages
 * apart from mapped ones.
 *
 * A slow block device, dm-delay over the pmem driver's /dev/pmem0 (its data moves when the
 * delay ends, as a device's DMA would), reads into and writes from a refdax MAP_SHARED
 * mapping with O_DIRECT: pread/pwrite, AIO and io_uring (without fixed buffers), PTE- and
 * PMD-mapped; the block layer pins the pages (FOLL_PIN) until the I/O completes. While it is
 * in flight the file is truncated, punched or unlinked, and sometimes the pool is filled:
 *
 *  - the operation returns with the I/O still in flight (it does not wait for the pin);
 *  - the pinned blocks are Busy (counter and trace events) and filling the pool never
 *    hands them out (FS_IOC_FIEMAP of the filling file);
 *  - a read's data lands in the old page (seen through a pipe holding it), in no file; a
 *    write sends the device the old page's bytes, although the pool was filled (and every
 *    block handed out zeroed) meanwhile;
 *  - the completion's unpin is the last reference: its free notification releases the
 *    blocks; nothing stays referenced or Busy.
 *
 * And unloading refdax while a pinned page's I/O is in flight waits for it.
 */
#include <dirent.h>
#include <linux/aio_abi.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "refdax_util.h"
#include "kselftest_harness.h"

#define PAGE 4096L
#define PMD (2L << 20)
#define PER_PMD (PMD / PAGE)
#define DM_NAME "refdax-slow"
/* Where on the device the test's I/O goes. */
#define DEV_OFF (8 * PMD)

/* --- the slow device --- */

/* The first pmem block device the pmem driver kept, as "pmemN"; false if none. */
static bool pmem_name(char *name, size_t len)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d)))
		if (!strncmp(e->d_name, "pmem", 4)) {
			snprintf(name, len, "%s", e->d_name);
			found = true;
		}
	if (d)
		closedir(d);
	return found;
}

/* Creates DM_NAME, a dm-delay of @ms over the first 64 MiB of /dev/@pmem; 0 on success. */
static int slow_create(const char *pmem, long ms)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "DM_DISABLE_UDEV=1 dmsetup create " DM_NAME " --noudevsync "
		 "--table '0 131072 delay /dev/%s 0 %ld' >/dev/null", pmem, ms);
	return system(cmd);
}

/* Removes DM_NAME if it exists, waiting (up to 60 s) for I/O an earlier test left on it. */
static void slow_remove(void)
{
	for (int i = 0; i < 120; i++) {
		if (system("DM_DISABLE_UDEV=1 dmsetup info " DM_NAME " >/dev/null 2>&1"))
			return;
		system("DM_DISABLE_UDEV=1 dmsetup remove --noudevsync " DM_NAME " 2>/dev/null");
		usleep(500000);
	}
}

/* Waits (up to 10 s) for the Busy count to read @want: an I/O's completion is seen by its
 * submitter before the block layer unpins the pages (bio_release_pages()). */
static long long busy_becomes(long long want)
{
	long long busy = refdax_stat(REFDAX_STAT_BLOCKS_BUSY);

	for (int i = 0; busy != want && i < 1000; i++) {
		usleep(10000);
		busy = refdax_stat(REFDAX_STAT_BLOCKS_BUSY);
	}
	return busy;
}

/* The device's "dm-N", from sysfs; false if it does not exist. */
static bool slow_sysname(char *out, size_t len)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d))) {
		char path[300], *name;

		if (strncmp(e->d_name, "dm-", 3))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/dm/name", e->d_name);
		name = read_file(path);
		if (name && !strncmp(name, DM_NAME "\n", strlen(DM_NAME) + 1)) {
			snprintf(out, len, "%s", e->d_name);
			found = true;
		}
		free(name);
	}
	if (d)
		closedir(d);
	return found;
}

/*
 * I/Os the slow device is holding (reads plus writes), from dm-delay's status; -1 if
 * unknown. (A bio-based device's /sys/block/dm-N/inflight stays 0.)
 */
static long inflight(void)
{
	FILE *f = popen("DM_DISABLE_UDEV=1 dmsetup status " DM_NAME " 2>/dev/null", "r");
	unsigned long start, len, r, w, fl;
	long n = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%lu %lu delay %lu %lu %lu", &start, &len, &r, &w, &fl) == 5)
		n = r + w;
	pclose(f);
	return n;
}

/* Waits (up to 20 s) for an I/O to be in flight; true once it is. */
static bool wait_inflight(void)
{
	for (int i = 0; i < 400; i++) {
		if (inflight() > 0)
			return true;
		usleep(50000);
	}
	return false;
}

/* --- three ways to do direct I/O --- */

enum how { PREAD, AIO, URING };

struct dio {
	enum how how;
	bool write;
	int fd;
	char *buf;
	long off;
	/* PREAD: the thread doing it. */
	pthread_t thread;
	long result;
	/* AIO */
	aio_context_t ctx;
	/* URING */
	int ring;
	unsigned int *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static void *dio_thread(void *arg)
{
	struct dio *d = arg;

	if (d->write)
		d->result = pwrite(d->fd, d->buf, PAGE, d->off);
	else
		d->result = pread(d->fd, d->buf, PAGE, d->off);
	if (d->result < 0)
		d->result = -errno;
	return NULL;
}

static int uring_setup(struct dio *d)
{
	struct io_uring_params p = { 0 };
	char *sq, *cq;

	d->ring = syscall(__NR_io_uring_setup, 4, &p);
	if (d->ring < 0)
		return -1;
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned int),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, d->ring, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, d->ring, IORING_OFF_CQ_RING);
	d->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, d->ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || d->sqes == MAP_FAILED)
		return -1;
	d->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	d->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	d->sq_array = (unsigned int *)(sq + p.sq_off.array);
	d->cq_head = (unsigned int *)(cq + p.cq_off.head);
	d->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	d->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	d->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

/* Starts the I/O; it completes in dio_wait(). 0 on success. */
static int dio_start(struct dio *d)
{
	switch (d->how) {
	case PREAD:
		return pthread_create(&d->thread, NULL, dio_thread, d);
	case AIO: {
		struct iocb cb = {
			.aio_fildes = d->fd,
			.aio_lio_opcode = d->write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD,
			.aio_buf = (uint64_t)(unsigned long)d->buf,
			.aio_nbytes = PAGE,
			.aio_offset = d->off,
		};
		struct iocb *cbs[1] = { &cb };

		if (syscall(__NR_io_setup, 1, &d->ctx))
			return -1;
		return syscall(__NR_io_submit, d->ctx, 1, cbs) == 1 ? 0 : -1;
	}
	case URING: {
		unsigned int tail, idx;
		struct io_uring_sqe *sqe;

		if (uring_setup(d))
			return -1;
		tail = *d->sq_tail;
		idx = tail & *d->sq_mask;
		sqe = &d->sqes[idx];
		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = d->write ? IORING_OP_WRITE : IORING_OP_READ;
		sqe->fd = d->fd;
		sqe->addr = (uint64_t)(unsigned long)d->buf;
		sqe->len = PAGE;
		sqe->off = d->off;
		d->sq_array[idx] = idx;
		__atomic_store_n(d->sq_tail, tail + 1, __ATOMIC_RELEASE);
		return syscall(__NR_io_uring_enter, d->ring, 1, 0, 0, NULL, 0) == 1 ? 0 : -1;
	}
	}
	return -1;
}

/* Waits for the I/O; returns its result (bytes, or -errno). */
static long dio_wait(struct dio *d)
{
	long res = -EIO;

	switch (d->how) {
	case PREAD:
		pthread_join(d->thread, NULL);
		return d->result;
	case AIO: {
		struct io_event ev;

		if (syscall(__NR_io_getevents, d->ctx, 1, 1, &ev, NULL) == 1)
			res = ev.res;
		syscall(__NR_io_destroy, d->ctx);
		return res;
	}
	case URING: {
		unsigned int head;

		if (syscall(__NR_io_uring_enter, d->ring, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
			return -errno;
		head = *d->cq_head;
		if (head != __atomic_load_n(d->cq_tail, __ATOMIC_ACQUIRE)) {
			res = d->cqes[head & *d->cq_mask].res;
			__atomic_store_n(d->cq_head, head + 1, __ATOMIC_RELEASE);
		}
		close(d->ring);
		return res;
	}
	}
	return res;
}

/* --- FIEMAP --- */

/* The physical address of byte @off of @fd, 0 if it has no block. */
static uint64_t phys_of(int fd, long off)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent e[1];
	} f = { .fm = { .fm_start = off, .fm_length = 1, .fm_extent_count = 1 } };

	if (ioctl(fd, FS_IOC_FIEMAP, &f.fm) || f.fm.fm_mapped_extents != 1)
		return 0;
	return f.e[0].fe_physical + (off - f.e[0].fe_logical);
}

/* Whether any block of @fd lies in physical @phys..@phys+@len; -1 on error. */
static int blocks_overlap(int fd, uint64_t phys, uint64_t len)
{
	enum { N = 256 };
	struct fiemap *fm = calloc(1, sizeof(*fm) + N * sizeof(struct fiemap_extent));
	uint64_t start = 0;
	int found = 0;

	if (!fm)
		return -1;
	for (;;) {
		struct fiemap_extent *last;

		memset(fm, 0, sizeof(*fm));
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_extent_count = N;
		if (ioctl(fd, FS_IOC_FIEMAP, fm)) {
			found = -1;
			break;
		}
		for (unsigned int i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &fm->fm_extents[i];

			if (e->fe_physical < phys + len && phys < e->fe_physical + e->fe_length)
				found = 1;
		}
		if (!fm->fm_mapped_extents)
			break;
		last = &fm->fm_extents[fm->fm_mapped_extents - 1];
		if (last->fe_flags & FIEMAP_EXTENT_LAST)
			break;
		start = last->fe_logical + last->fe_length;
	}
	free(fm);
	return found;
}

/* --- the tests --- */

enum action { TRUNCATE, PUNCH, UNLINK };

FIXTURE(dma)
{
	char dir[PATH_MAX];
	char pmem[256], dm[256];
	int dev, pmemfd;
};

FIXTURE_VARIANT(dma)
{
	enum how how;
	bool write, pmd, fill, pipe;
	enum action action;
};

/* Reads: the data is seen through a pipe holding the page, or the unpin frees it. */
FIXTURE_VARIANT_ADD(dma, pread_pte_truncate_fill_pipe) {
	.how = PREAD, .action = TRUNCATE, .fill = true, .pipe = true };
FIXTURE_VARIANT_ADD(dma, aio_pte_unlink) { .how = AIO, .action = UNLINK };
FIXTURE_VARIANT_ADD(dma, uring_pmd_truncate) { .how = URING, .pmd = true, .action = TRUNCATE };
FIXTURE_VARIANT_ADD(dma, pread_pmd_punch_pipe) {
	.how = PREAD, .pmd = true, .action = PUNCH, .pipe = true };
/* Writes: the device gets the old page's bytes. */
FIXTURE_VARIANT_ADD(dma, pwrite_pte_punch_fill) {
	.how = PREAD, .write = true, .action = PUNCH, .fill = true };
FIXTURE_VARIANT_ADD(dma, aio_write_pmd_truncate_fill) {
	.how = AIO, .write = true, .pmd = true, .action = TRUNCATE, .fill = true };
FIXTURE_VARIANT_ADD(dma, uring_write_pte_unlink_fill) {
	.how = URING, .write = true, .action = UNLINK, .fill = true };

FIXTURE_SETUP(dma)
{
	/* Long enough to fill the pool (zeroing it all) while the I/O waits. */
	long ms = variant->fill ? 40000 : 3000;
	char path[400];

	self->dev = self->pmemfd = -1;
	if (!getenv("REFDAX_KO"))
		SKIP(return, "no refdax range set aside (/run/refdax.env)");
	if (access("/dev/mapper/control", F_OK) || system("command -v dmsetup >/dev/null"))
		SKIP(return, "no device-mapper or no dmsetup: no slow device");
	ASSERT_TRUE(pmem_name(self->pmem, sizeof(self->pmem))) TH_LOG("no pmem block device");
	slow_remove();
	ASSERT_EQ(0, slow_create(self->pmem, ms)) TH_LOG("dmsetup create failed");
	ASSERT_TRUE(slow_sysname(self->dm, sizeof(self->dm)));
	snprintf(path, sizeof(path), "/dev/%s", self->dm);
	self->dev = open(path, O_RDWR | O_DIRECT);
	snprintf(path, sizeof(path), "/dev/%s", self->pmem);
	self->pmemfd = open(path, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->dev);
	ASSERT_LE(0, self->pmemfd);
	ASSERT_EQ(0, refdax_ensure_mounted());
	snprintf(self->dir, sizeof(self->dir), REFDAX_MNT "/dma.%d", getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	ASSERT_EQ(0, chdir(self->dir));
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
}

FIXTURE_TEARDOWN(dma)
{
	char cmd[PATH_MAX + 16];

	trace_refdax(0);
	if (self->dev >= 0)
		close(self->dev);
	if (self->pmemfd >= 0)
		close(self->pmemfd);
	slow_remove();
	if (!self->dir[0])
		return;
	chdir("/");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	EXPECT_EQ(0, system(cmd));
	EXPECT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	EXPECT_EQ(0, refdax_busy_settled());
}

TEST_F_TIMEOUT(dma, pinned_pages_outlive_their_file, 300)
{
	const long size = variant->pmd ? PMD : 16 * PAGE;
	/* The page the I/O uses: in the middle, a subpage of the PMD folio when PMD-mapped. */
	const long page = variant->pmd ? 77 : 5;
	const long pinned = variant->pmd ? PER_PMD : 1;
	char *file = malloc(size), *devdata = malloc(PAGE), *out;
	long long released, pmds;
	uint64_t phys;
	int fd, fill = -1, pfd[2];
	struct dio d = { .how = variant->how, .write = variant->write, .off = DEV_OFF };
	struct iovec iov;
	char *p;

	NEEDS_FOLIO_FREE();
	ASSERT_EQ(0, posix_memalign((void **)&out, PAGE, PAGE));
	for (long i = 0; i < size; i++)
		file[i] = (char)(i / PAGE * 3 + 0x21);
	for (long i = 0; i < PAGE; i++)
		devdata[i] = (char)(i * 7 + 0x5b);
	/* The device's block: devdata (read tests) or zeros (write tests), through pmem. */
	memcpy(out, devdata, PAGE);
	if (variant->write)
		memset(out, 0, PAGE);
	ASSERT_EQ(PAGE, pwrite(self->pmemfd, out, PAGE, DEV_OFF));

	fd = open("f", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, fd);
	/* Sized first: one extent, PMD-mappable; else single blocks. */
	if (variant->pmd)
		ASSERT_EQ(0, ftruncate(fd, size));
	ASSERT_EQ(size, pwrite(fd, file, size, 0));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	pmds = refdax_stat(REFDAX_STAT_PMD_FAULTS);
	ASSERT_EQ(file[page * PAGE], p[page * PAGE]);
	EXPECT_EQ(pmds + variant->pmd, refdax_stat(REFDAX_STAT_PMD_FAULTS));
	phys = phys_of(fd, page * PAGE);
	ASSERT_NE(0u, phys);
	if (variant->pipe) {
		iov.iov_base = p + page * PAGE;
		iov.iov_len = PAGE;
		ASSERT_EQ(0, pipe(pfd));
		ASSERT_EQ(PAGE, vmsplice(pfd[1], &iov, 1, 0));
	}

	ASSERT_EQ(0, trace_refdax(1));
	released = refdax_stat(REFDAX_STAT_BUSY_RELEASED);
	d.fd = self->dev;
	d.buf = p + page * PAGE;
	ASSERT_EQ(0, dio_start(&d)) TH_LOG("starting the I/O: %s", strerror(errno));
	if (!wait_inflight()) {
		long res = dio_wait(&d);

		ASSERT_TRUE(false) TH_LOG("the I/O never reached the slow device (it returned %ld)", res);
	}

	/* The file lets go of the page while the device still owns it. */
	switch (variant->action) {
	case TRUNCATE:
		ASSERT_EQ(0, ftruncate(fd, 0));
		break;
	case PUNCH:
		ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       variant->pmd ? 0 : page * PAGE, variant->pmd ? PMD : PAGE));
		break;
	case UNLINK:
		ASSERT_EQ(0, munmap(p, size));
		p = NULL;
		close(fd);
		fd = -1;
		ASSERT_EQ(0, unlink("f"));
		break;
	}
	/* It returned at once: the I/O is still in flight. */
	ASSERT_LT(0, inflight()) TH_LOG("%s waited for the pinned page",
						 variant->action == UNLINK ? "unlink" : "the operation");
	EXPECT_EQ(pinned, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	EXPECT_EQ(pinned, trace_count("refdax_block_busy:"));

	if (variant->fill) {
		long long n = free_blocks();

		fill = open("fill", O_CREAT | O_RDWR, 0644);
		ASSERT_LE(0, fill);
		ASSERT_EQ(0, fallocate(fill, 0, 0, n * PAGE)) TH_LOG("%s", strerror(errno));
		EXPECT_EQ(0, free_blocks());
		ASSERT_EQ(0, blocks_overlap(fill, phys - (variant->pmd ? page * PAGE : 0), pinned * PAGE))
			TH_LOG("a pinned block was handed out");
		ASSERT_LT(0, inflight()) TH_LOG("the fill outlasted the delay: raise it");
		EXPECT_EQ(pinned, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
	}

	ASSERT_EQ(PAGE, dio_wait(&d));
	if (variant->write) {
		/* The device got the page's bytes as the file had them. */
		ASSERT_EQ(PAGE, pread(self->pmemfd, out, PAGE, DEV_OFF));
		ASSERT_EQ(0, memcmp(out, file + page * PAGE, PAGE)) TH_LOG("the device got other bytes");
	}
	if (variant->pipe) {
		/* The pipe still holds the page: Busy until it lets go. */
		EXPECT_EQ(pinned, refdax_stat(REFDAX_STAT_BLOCKS_BUSY));
		ASSERT_EQ(PAGE, read(pfd[0], out, PAGE));
		ASSERT_EQ(0, memcmp(out, devdata, PAGE)) TH_LOG("the read did not land in the old page");
		close(pfd[0]);
		close(pfd[1]);
	}
	/* The last reference went with the unpin (or the pipe): the notification released all. */
	EXPECT_EQ(0, busy_becomes(0));
	EXPECT_EQ(released + pinned, refdax_stat(REFDAX_STAT_BUSY_RELEASED));
	if (fill >= 0) {
		close(fill);
		ASSERT_EQ(0, unlink("fill"));
	}
	if (p)
		ASSERT_EQ(0, munmap(p, size));
	if (fd >= 0)
		close(fd);
	free(file);
	free(devdata);
	free(out);
}

/*
 * Unloading refdax while a pinned page's I/O is in flight: the file is gone and refdax
 * unmounted, yet the unload waits until the completion lets go of the page.
 */
FIXTURE(unload) {};
FIXTURE_SETUP(unload) {}
FIXTURE_TEARDOWN(unload)
{
	/* Whatever the test left: the device (once its I/O is done), the file, the mount. */
	slow_remove();
	EXPECT_EQ(0, refdax_ensure_mounted());
	unlink(REFDAX_MNT "/dma-unload");
}

TEST_F_TIMEOUT(unload, waits_for_dma, 120)
{
	char pmem[256], dm[256], path[300], *p;
	struct dio d = { .how = AIO, .off = DEV_OFF };
	int fd, dev, status;
	bool going = false;
	pid_t pid;

	if (!getenv("REFDAX_KO"))
		SKIP(return, "no refdax range set aside (/run/refdax.env)");
	if (access("/dev/mapper/control", F_OK) || system("command -v dmsetup >/dev/null"))
		SKIP(return, "no device-mapper or no dmsetup: no slow device");
	ASSERT_TRUE(pmem_name(pmem, sizeof(pmem)));
	slow_remove();
	ASSERT_EQ(0, slow_create(pmem, 6000));
	ASSERT_TRUE(slow_sysname(dm, sizeof(dm)));
	snprintf(path, sizeof(path), "/dev/%s", dm);
	dev = open(path, O_RDWR | O_DIRECT);
	ASSERT_LE(0, dev);
	ASSERT_EQ(0, refdax_ensure_mounted());
	fd = open(REFDAX_MNT "/dma-unload", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, PAGE));
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;
	d.fd = dev;
	d.buf = p;
	ASSERT_EQ(0, dio_start(&d));
	ASSERT_TRUE(wait_inflight());
	ASSERT_EQ(0, munmap(p, PAGE));
	close(fd);
	ASSERT_EQ(0, unlink(REFDAX_MNT "/dma-unload"));
	ASSERT_EQ(0, umount(REFDAX_MNT));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(refdax_unload() ? 1 : 0);
	/* The unload is under way once the module is going. */
	for (int i = 0; i < 1000 && !going; i++) {
		char *state = read_file("/sys/module/refdax/initstate");

		going = state && !strncmp(state, "going", 5);
		free(state);
		if (!going)
			usleep(1000);
	}
	ASSERT_TRUE(going) TH_LOG("rmmod never started unloading");
	/*
	 * A second later it is not done, and after that the I/O is still in flight: it is
	 * waiting for it (an unload that did not wait would be long gone).
	 */
	sleep(1);
	ASSERT_EQ(0, waitpid(pid, &status, WNOHANG)) TH_LOG("the unload did not wait");
	ASSERT_LT(0, inflight()) TH_LOG("the I/O completed before the check: raise the delay");
	ASSERT_EQ(PAGE, dio_wait(&d));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("status %#x", status);
	ASSERT_FALSE(refdax_loaded());
	close(dev);
	slow_remove();
	/* Later tests find refdax loaded and mounted again. */
	ASSERT_EQ(0, refdax_ensure_mounted());
}

TEST_HARNESS_MAIN
