// SPDX-License-Identifier: GPL-2.0
/*
 * The refdax file system as POSIX users see it: names, data, holes, sizes, fallocate,
 * statfs and ENOSPC.
 */
#include <dirent.h>
#include <limits.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "refdax_util.h"
#include "kselftest_harness.h"

#define PAGE 4096L

FIXTURE(fs)
{
	char dir[PATH_MAX];
};

FIXTURE_SETUP(fs)
{
	if (!getenv("REFDAX_KO"))
		SKIP(return, "no refdax range set aside (/run/refdax.env)");
	ASSERT_EQ(0, refdax_ensure_mounted());
	snprintf(self->dir, sizeof(self->dir), REFDAX_MNT "/fs.%d", getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	ASSERT_EQ(0, chdir(self->dir));
}

FIXTURE_TEARDOWN(fs)
{
	char cmd[PATH_MAX + 16];

	chdir("/");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	EXPECT_EQ(0, system(cmd));
}

static void fill(char *buf, size_t len, int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(seed + i * 7);
}

TEST_F(fs, names)
{
	char name[300];
	struct stat st;
	int fd;

	fd = open("a", O_CREAT | O_EXCL | O_RDWR, 0644);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(-1, open("a", O_CREAT | O_EXCL | O_RDWR, 0644));
	ASSERT_EQ(EEXIST, errno);

	memset(name, 'n', 256);
	name[256] = '\0';
	ASSERT_EQ(-1, open(name, O_CREAT | O_RDWR, 0644));
	ASSERT_EQ(ENAMETOOLONG, errno);
	name[255] = '\0';
	fd = open(name, O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, fd) TH_LOG("a 255-byte name: %s", strerror(errno));
	close(fd);
	ASSERT_EQ(0, unlink(name));

	ASSERT_EQ(0, mkdir("d", 0755));
	ASSERT_EQ(-1, mkdir("d", 0755));
	ASSERT_EQ(EEXIST, errno);
	ASSERT_EQ(0, rename("a", "d/b"));
	ASSERT_EQ(-1, stat("a", &st));
	ASSERT_EQ(ENOENT, errno);
	ASSERT_EQ(0, stat("d/b", &st));
	ASSERT_TRUE(S_ISREG(st.st_mode));
	ASSERT_EQ(-1, rmdir("d"));
	ASSERT_EQ(ENOTEMPTY, errno);

	fd = open("d", O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-1, read(fd, name, 1));
	ASSERT_EQ(EISDIR, errno);
	close(fd);
	ASSERT_EQ(-1, open("d", O_WRONLY));
	ASSERT_EQ(EISDIR, errno);

	ASSERT_EQ(0, unlink("d/b"));
	ASSERT_EQ(0, rmdir("d"));
}

/* Every byte but '/' and NUL may appear in a name. */
TEST_F(fs, names_with_every_byte)
{
	int seen[256] = { 0 }, n = 0;
	struct dirent *de;
	char name[4];
	DIR *d;

	for (int c = 1; c < 256; c++) {
		int fd;

		if (c == '/' || c == '.')
			continue;
		snprintf(name, sizeof(name), "%c", c);
		fd = open(name, O_CREAT | O_EXCL | O_RDWR, 0644);
		ASSERT_LE(0, fd) TH_LOG("byte %#x: %s", c, strerror(errno));
		close(fd);
	}
	d = opendir(".");
	ASSERT_NE(NULL, d);
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 1 && de->d_name[0] != '.')
			seen[(unsigned char)de->d_name[0]]++;
	closedir(d);
	for (int c = 1; c < 256; c++) {
		if (c == '/' || c == '.')
			continue;
		ASSERT_EQ(1, seen[c]) TH_LOG("byte %#x", c);
		n++;
		snprintf(name, sizeof(name), "%c", c);
		ASSERT_EQ(0, unlink(name));
	}
	ASSERT_EQ(253, n);
}

TEST_F(fs, readdir_lists_entries)
{
	const char *names[] = { "x", "y", "z" };
	int seen = 0;
	struct dirent *de;
	DIR *d;

	for (int i = 0; i < 3; i++)
		close(open(names[i], O_CREAT | O_RDWR, 0644));
	d = opendir(".");
	ASSERT_NE(NULL, d);
	while ((de = readdir(d)))
		for (int i = 0; i < 3; i++)
			if (!strcmp(de->d_name, names[i]))
				seen |= 1 << i;
	closedir(d);
	ASSERT_EQ(7, seen);
}

TEST_F(fs, data_holes_and_extension)
{
	char buf[3 * PAGE], out[3 * PAGE], zero[3 * PAGE] = { 0 };
	long long before = free_blocks();
	struct stat st;
	int fd = open("f", O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	fill(buf, sizeof(buf), 1);
	/* Unaligned, across pages, and past EOF: a hole in front. */
	ASSERT_EQ((ssize_t)sizeof(buf), pwrite(fd, buf, sizeof(buf), 10 * PAGE + 100));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(10 * PAGE + 100 + (long)sizeof(buf), st.st_size);
	ASSERT_EQ((ssize_t)sizeof(out), pread(fd, out, sizeof(out), 10 * PAGE + 100));
	ASSERT_EQ(0, memcmp(buf, out, sizeof(buf)));
	/* The hole reads as zeros and holds no blocks. */
	ASSERT_EQ((ssize_t)sizeof(out), pread(fd, out, sizeof(out), 2 * PAGE));
	ASSERT_EQ(0, memcmp(zero, out, sizeof(out)));
	ASSERT_EQ(before - 4, free_blocks());
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(4 * PAGE / 512, st.st_blocks);
	/* Reads stop at EOF. */
	ASSERT_EQ(100, pread(fd, out, sizeof(out), st.st_size - 100));
	ASSERT_EQ(0, pread(fd, out, sizeof(out), st.st_size));
	ASSERT_EQ(0, fsync(fd));
	close(fd);
	ASSERT_EQ(0, unlink("f"));
	ASSERT_EQ(before, free_blocks());
}

TEST_F(fs, truncate_down_then_up_reads_zeros)
{
	char buf[2 * PAGE], out[2 * PAGE];
	long long before = free_blocks();
	int fd = open("t", O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	memset(buf, 0xab, sizeof(buf));
	ASSERT_EQ((ssize_t)sizeof(buf), write(fd, buf, sizeof(buf)));
	ASSERT_EQ(before - 2, free_blocks());
	ASSERT_EQ(0, ftruncate(fd, 100));
	ASSERT_EQ(before - 1, free_blocks());
	ASSERT_EQ(0, ftruncate(fd, 2 * PAGE));
	ASSERT_EQ((ssize_t)sizeof(out), pread(fd, out, sizeof(out), 0));
	for (int i = 0; i < 100; i++)
		ASSERT_EQ((char)0xab, out[i]);
	for (long i = 100; i < 2 * PAGE; i++) {
		ASSERT_EQ(0, out[i]) TH_LOG("byte %ld", i);
	}
	ASSERT_EQ(0, ftruncate(fd, 0));
	ASSERT_EQ(before, free_blocks());
	close(fd);
}

TEST_F(fs, fallocate_modes)
{
	char out[PAGE], pattern[PAGE];
	long long before = free_blocks();
	struct stat st;
	int fd = open("fa", O_CREAT | O_RDWR, 0644);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fallocate(fd, 0, 0, 8 * PAGE));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(8 * PAGE, st.st_size);
	ASSERT_EQ(before - 8, free_blocks());

	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE, 8 * PAGE, 4 * PAGE));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(8 * PAGE, st.st_size);
	ASSERT_EQ(before - 12, free_blocks());

	memset(pattern, 0x5c, sizeof(pattern));
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(PAGE, pwrite(fd, pattern, PAGE, i * PAGE));
	/* Punch two whole pages and the halves of the pages around them. */
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       2 * PAGE + PAGE / 2, 3 * PAGE));
	ASSERT_EQ(before - 10, free_blocks());
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(8 * PAGE, st.st_size);
	ASSERT_EQ(PAGE, pread(fd, out, PAGE, 2 * PAGE));
	for (int i = 0; i < PAGE; i++) {
		ASSERT_EQ(i < PAGE / 2 ? 0x5c : 0, out[i]) TH_LOG("byte %d", i);
	}
	ASSERT_EQ(PAGE, pread(fd, out, PAGE, 5 * PAGE));
	for (int i = 0; i < PAGE; i++) {
		ASSERT_EQ(i < PAGE / 2 ? 0 : 0x5c, out[i]) TH_LOG("byte %d", i);
	}

	ASSERT_EQ(-1, fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, PAGE));
	ASSERT_EQ(EOPNOTSUPP, errno);
	/* The VFS refuses KEEP_SIZE with the moving modes. */
	ASSERT_EQ(-1, fallocate(fd, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, PAGE));
	ASSERT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(-1, fallocate(fd, FALLOC_FL_INSERT_RANGE | FALLOC_FL_KEEP_SIZE, 0, PAGE));
	ASSERT_EQ(EOPNOTSUPP, errno);
	close(fd);
	ASSERT_EQ(0, unlink("fa"));
	ASSERT_EQ(before, free_blocks());
}

TEST_F(fs, statfs_counts_blocks)
{
	struct statfs st;

	ASSERT_EQ(0, statfs(REFDAX_MNT, &st));
	ASSERT_EQ(PAGE, st.f_bsize);
	ASSERT_EQ(refdax_stat(REFDAX_STAT_BLOCKS_TOTAL), (long long)st.f_blocks);
	ASSERT_EQ(refdax_stat(REFDAX_STAT_BLOCKS_FREE), (long long)st.f_bfree);
	ASSERT_EQ(st.f_bfree, st.f_bavail);
	ASSERT_EQ(255, st.f_namelen);
}

TEST_F_TIMEOUT(fs, enospc_writes_nothing, 600)
{
	long long total = free_blocks();
	char *buf, out[PAGE];
	struct stat st;
	int fd, big;

	ASSERT_LT(16, total);
	fd = open("small", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, fd);
	/* More than is free: refused whole, nothing allocated, size unchanged. */
	ASSERT_EQ(-1, fallocate(fd, 0, 0, (total + 1) * PAGE));
	ASSERT_EQ(ENOSPC, errno);
	ASSERT_EQ(total, free_blocks());
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(0, st.st_size);

	/* Fill all but 4 blocks, then a 5-page write fails and a 4-page one fits. */
	big = open("big", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, big);
	ASSERT_EQ(0, fallocate(big, FALLOC_FL_KEEP_SIZE, 0, (total - 4) * PAGE));
	ASSERT_EQ(4, free_blocks());
	buf = malloc(5 * PAGE);
	ASSERT_NE(NULL, buf);
	memset(buf, 0x77, 5 * PAGE);
	ASSERT_EQ(-1, pwrite(fd, buf, 5 * PAGE, 0));
	ASSERT_EQ(ENOSPC, errno);
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(0, st.st_size);
	ASSERT_EQ(4, free_blocks());
	ASSERT_EQ(4 * PAGE, pwrite(fd, buf, 4 * PAGE, 0));
	ASSERT_EQ(0, free_blocks());
	ASSERT_EQ(PAGE, pread(fd, out, PAGE, 3 * PAGE));
	ASSERT_EQ(0, memcmp(buf, out, PAGE));
	free(buf);
	close(big);
	close(fd);
	ASSERT_EQ(0, unlink("big"));
	ASSERT_EQ(0, unlink("small"));
	ASSERT_EQ(total, free_blocks());
}

/*
 * The block map is sparse: a byte just below the 1 TiB limit costs one 2 MiB extent (an
 * empty 2 MiB window inside the file gets a whole extent, README "Allocation"), a byte in a
 * small file one block.
 */
/*
 * fallocate() far beyond the pool (four times its size, with and without KEEP_SIZE) is
 * ENOSPC at once, changes nothing, and allocates no buffer sized by the request (which the
 * page allocator would WARN about).
 */
TEST_F(fs, fallocate_beyond_the_pool_is_enospc)
{
	long long total = refdax_stat(REFDAX_STAT_BLOCKS_TOTAL), freeb = free_blocks();
	int warnings = klog_count("WARNING:");
	int fd = open("f", O_CREAT | O_RDWR, 0644);
	struct stat st;

	ASSERT_LE(0, fd);
	ASSERT_EQ(-1, fallocate(fd, 0, 0, 4 * total * PAGE));
	ASSERT_EQ(ENOSPC, errno);
	ASSERT_EQ(-1, fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4 * total * PAGE));
	ASSERT_EQ(ENOSPC, errno);
	ASSERT_EQ(-1, fallocate(fd, FALLOC_FL_KEEP_SIZE, PAGE, 2 * total * PAGE));
	ASSERT_EQ(ENOSPC, errno);
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(0, st.st_size);
	ASSERT_EQ(0, st.st_blocks);
	ASSERT_EQ(freeb, free_blocks());
	if (warnings >= 0)
		ASSERT_LE(klog_count("WARNING:"), warnings);
	close(fd);
}

/*
 * A short write (the source buffer ends in an inaccessible page) keeps no block past the
 * new end of the file, so a later extension reads zeros there and st_blocks counts only
 * what the file holds.
 */
TEST_F(fs, short_write_keeps_no_blocks_past_eof)
{
	char *buf = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	int fd = open("f", O_CREAT | O_RDWR, 0644);
	long long freeb = free_blocks();
	char out[PAGE];
	struct stat st;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_LE(0, fd);
	memset(buf, 0x6b, 2 * PAGE);
	ASSERT_EQ(0, mprotect(buf + 2 * PAGE, PAGE, PROT_NONE));
	ASSERT_EQ(2 * PAGE, pwrite(fd, buf, 3 * PAGE, 0));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(2 * PAGE, st.st_size);
	ASSERT_EQ(2 * PAGE / 512, st.st_blocks);
	ASSERT_EQ(freeb - 2, free_blocks());
	/* Nothing written at all: EFAULT, and no block kept either. */
	ASSERT_EQ(-1, pwrite(fd, buf + 2 * PAGE, PAGE, 4 * PAGE));
	ASSERT_EQ(EFAULT, errno);
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(2 * PAGE, st.st_size);
	ASSERT_EQ(2 * PAGE / 512, st.st_blocks);
	ASSERT_EQ(0, ftruncate(fd, 5 * PAGE));
	for (long off = 2 * PAGE; off < 5 * PAGE; off += PAGE) {
		ASSERT_EQ(PAGE, pread(fd, out, PAGE, off));
		for (int i = 0; i < PAGE; i++)
			ASSERT_EQ(0, out[i]);
	}
	munmap(buf, 3 * PAGE);
	close(fd);
}

/*
 * The inode types every Linux file system has: symlinks (read, followed, dangling, long),
 * FIFOs, sockets, character and block device nodes, and regular files made by mknod; and a
 * tree holding them copied in with cp -a.
 */
TEST_F(fs, symlinks_fifos_sockets_and_device_nodes)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char buf[4096], target[4001];
	struct stat st;
	int fd, sk[2];

	fd = open("target", O_CREAT | O_RDWR, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(5, write(fd, "hello", 5));
	close(fd);
	ASSERT_EQ(0, symlink("target", "l")) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, lstat("l", &st));
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	ASSERT_EQ(6, st.st_size);
	ASSERT_EQ(6, readlink("l", buf, sizeof(buf)));
	ASSERT_EQ(0, memcmp(buf, "target", 6));
	fd = open("l", O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(5, read(fd, buf, sizeof(buf)));
	ASSERT_EQ(0, memcmp(buf, "hello", 5));
	close(fd);
	ASSERT_EQ(0, symlink("nowhere", "dangling"));
	ASSERT_EQ(-1, open("dangling", O_RDONLY));
	ASSERT_EQ(ENOENT, errno);
	memset(target, 'x', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	ASSERT_EQ(0, symlink(target, "long"));
	ASSERT_EQ((ssize_t)strlen(target), readlink("long", buf, sizeof(buf)));
	ASSERT_EQ(0, symlink("target", "l2") ? errno : 0);
	ASSERT_EQ(-1, symlink("target", "l2"));
	ASSERT_EQ(EEXIST, errno);

	ASSERT_EQ(0, mkfifo("fifo", 0644));
	ASSERT_EQ(0, stat("fifo", &st));
	ASSERT_TRUE(S_ISFIFO(st.st_mode));
	fd = open("fifo", O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, fd);
	ASSERT_EQ(3, write(fd, "abc", 3));
	ASSERT_EQ(3, read(fd, buf, sizeof(buf)));
	close(fd);

	ASSERT_EQ(0, mknod("null", S_IFCHR | 0666, makedev(1, 3)));
	ASSERT_EQ(0, stat("null", &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(makedev(1, 3), st.st_rdev);
	fd = open("null", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(3, write(fd, "abc", 3));
	ASSERT_EQ(0, read(fd, buf, sizeof(buf)));
	close(fd);
	ASSERT_EQ(0, mknod("blk", S_IFBLK | 0600, makedev(7, 0)));
	ASSERT_EQ(0, stat("blk", &st));
	ASSERT_TRUE(S_ISBLK(st.st_mode));
	ASSERT_EQ(makedev(7, 0), st.st_rdev);
	/* mknod(S_IFREG) reaches ->create. */
	ASSERT_EQ(0, mknod("reg", S_IFREG | 0644, 0));
	fd = open("reg", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(2, pwrite(fd, "ok", 2, 0));
	ASSERT_EQ(2, pread(fd, buf, 2, 0));
	close(fd);

	/* A socket bound in the directory, and a connection through it. */
	ASSERT_LT(0, snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/sock", self->dir));
	sk[0] = socket(AF_UNIX, SOCK_DGRAM, 0);
	ASSERT_LE(0, sk[0]);
	ASSERT_EQ(0, bind(sk[0], (struct sockaddr *)&addr, sizeof(addr))) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, stat("sock", &st));
	ASSERT_TRUE(S_ISSOCK(st.st_mode));
	sk[1] = socket(AF_UNIX, SOCK_DGRAM, 0);
	ASSERT_LE(0, sk[1]);
	ASSERT_EQ(2, sendto(sk[1], "hi", 2, 0, (struct sockaddr *)&addr, sizeof(addr)));
	ASSERT_EQ(2, recv(sk[0], buf, sizeof(buf), 0));
	close(sk[0]);
	close(sk[1]);

	/* cp -a of a tree with every kind, and the copies are what they were. */
	ASSERT_EQ(0, system("set -e; src=$(mktemp -d); trap 'rm -rf \"$src\"' EXIT; "
			    "mkdir \"$src/d\"; echo hi > \"$src/d/f\"; ln -s d/f \"$src/l\"; "
			    "mkfifo \"$src/p\"; cp -a \"$src\" tree; cmp \"$src/d/f\" tree/d/f; "
			    "test -p tree/p; [ \"$(readlink tree/l)\" = d/f ]; cmp tree/l tree/d/f"));
	ASSERT_EQ(0, system("rm -rf tree l dangling long l2 fifo null blk reg sock target"));
}

/* sendfile, splice and copy_file_range work from and to refdax files (read_iter/write_iter). */
TEST_F(fs, sendfile_splice_and_copy_file_range)
{
	static char in[256 * 1024], out[sizeof(in)];
	int a = open("a", O_CREAT | O_RDWR, 0644), b = open("b", O_CREAT | O_RDWR, 0644);
	int c = open("c", O_CREAT | O_RDWR, 0644), pfd[2];
	loff_t off_in = 0, off_out = 0;
	off_t off = 0;

	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	ASSERT_LE(0, c);
	fill(in, sizeof(in), 9);
	ASSERT_EQ((ssize_t)sizeof(in), pwrite(a, in, sizeof(in), 0));

	ASSERT_EQ((ssize_t)sizeof(in), sendfile(b, a, &off, sizeof(in))) TH_LOG("%s", strerror(errno));
	ASSERT_EQ((ssize_t)sizeof(out), pread(b, out, sizeof(out), 0));
	ASSERT_EQ(0, memcmp(in, out, sizeof(in)));

	ASSERT_EQ((ssize_t)sizeof(in), copy_file_range(a, &off_in, c, &off_out, sizeof(in), 0))
		TH_LOG("%s", strerror(errno));
	memset(out, 0, sizeof(out));
	ASSERT_EQ((ssize_t)sizeof(out), pread(c, out, sizeof(out), 0));
	ASSERT_EQ(0, memcmp(in, out, sizeof(in)));

	/* Within one file, into a range past its end: it grows. */
	off_in = 0;
	off_out = 2 * sizeof(in);
	ASSERT_EQ((ssize_t)sizeof(in), copy_file_range(a, &off_in, a, &off_out, sizeof(in), 0))
		TH_LOG("%s", strerror(errno));
	ASSERT_EQ((ssize_t)sizeof(out), pread(a, out, sizeof(out), 2 * sizeof(in)));
	ASSERT_EQ(0, memcmp(in, out, sizeof(in)));
	ASSERT_EQ((off_t)(3 * sizeof(in)), lseek(a, 0, SEEK_END));
	/* The gap it left is a hole: zeros. */
	ASSERT_EQ(PAGE, pread(a, out, PAGE, sizeof(in)));
	for (int i = 0; i < PAGE; i++)
		ASSERT_EQ(0, out[i]);

	/* File to pipe to file, a page at a time. */
	ASSERT_EQ(0, pipe(pfd));
	off_in = PAGE;
	off_out = 0;
	ASSERT_EQ(PAGE, splice(a, &off_in, pfd[1], NULL, PAGE, 0)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(PAGE, splice(pfd[0], NULL, b, &off_out, PAGE, 0)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(PAGE, pread(b, out, PAGE, 0));
	ASSERT_EQ(0, memcmp(in + PAGE, out, PAGE));
	close(pfd[0]);
	close(pfd[1]);
	close(a);
	close(b);
	close(c);
}

/*
 * Changing the size changes mtime and ctime, whether by ftruncate(), truncate() (which
 * passes no times to the file system), or fallocate(); so does punching a hole.
 */
TEST_F(fs, size_changes_update_mtime_and_ctime)
{
	int fd = open("t", O_CREAT | O_RDWR, 0644);
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	struct stat st;

	ASSERT_LE(0, fd);
	for (int k = 0; k < 5; k++) {
		struct timespec ctime;
		int ret = 0;

		ASSERT_EQ(0, futimens(fd, old));
		ASSERT_EQ(0, fstat(fd, &st));
		ASSERT_EQ(1000, st.st_mtim.tv_sec);
		ctime = st.st_ctim;
		usleep(20000);
		switch (k) {
		case 0:
			ret = ftruncate(fd, 8 * PAGE);
			break;
		case 1:
			ret = truncate("t", 2 * PAGE);
			break;
		case 2:
			ret = truncate("t", 6 * PAGE);
			break;
		case 3:
			ret = fallocate(fd, 0, 0, 16 * PAGE);
			break;
		case 4:
			ret = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4 * PAGE);
			break;
		}
		ASSERT_EQ(0, ret) TH_LOG("step %d: %s", k, strerror(errno));
		ASSERT_EQ(0, fstat(fd, &st));
		ASSERT_LT(1000, st.st_mtim.tv_sec) TH_LOG("step %d: mtime not updated", k);
		ASSERT_TRUE(st.st_ctim.tv_sec > ctime.tv_sec ||
			    (st.st_ctim.tv_sec == ctime.tv_sec && st.st_ctim.tv_nsec > ctime.tv_nsec))
			TH_LOG("step %d: ctime not updated", k);
	}
	close(fd);
}

/*
 * FALLOC_FL_ZERO_RANGE: the range reads as zeros (partial pages at both edges), holes in it
 * get blocks, the rest of the file keeps its data, and a mapping of the range, PTE- or
 * PMD-mapped, sees the zeros at once; KEEP_SIZE keeps the size, without it the file grows.
 */
TEST_F(fs, zero_range)
{
	const long mb2 = 2 * 1024 * 1024;
	char *buf = malloc(2 * mb2), *p;
	long long before;
	struct stat st;
	int fd = open("z", O_CREAT | O_RDWR, 0644);

	ASSERT_NE(NULL, buf);
	ASSERT_LE(0, fd);
	/* One extent, so that it maps with a PMD. */
	ASSERT_EQ(0, ftruncate(fd, mb2));
	ASSERT_EQ(0, fallocate(fd, 0, 0, mb2));
	fill(buf, mb2, 5);
	/* PMD-mapped first: the PTE round's refilled hole breaks the extent. */
	for (int pmd = 1; pmd >= 0; pmd--) {
		long len = pmd ? mb2 : 64 * PAGE;
		long long pmds = refdax_stat(REFDAX_STAT_PMD_FAULTS);

		ASSERT_EQ(mb2, pwrite(fd, buf, mb2, 0));
		/* PTE-mapped: with a hole of 4 pages in the range, which gets blocks again. */
		if (!pmd)
			ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					       40 * PAGE, 4 * PAGE));
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, p);
		EXPECT_EQ(buf[100], p[100]);
		EXPECT_EQ(pmds + pmd, refdax_stat(REFDAX_STAT_PMD_FAULTS));
		before = free_blocks();
		/* From the middle of page 10 to the middle of page 50, over the hole. */
		ASSERT_EQ(0, fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
				       10 * PAGE + 100, 40 * PAGE));
		EXPECT_EQ(before - (pmd ? 0 : 4), free_blocks());
		for (long i = 0; i < len; i++) {
			char want = i >= 10 * PAGE + 100 && i < 50 * PAGE + 100 ? 0 : buf[i];

			if (p[i] != want) {
				EXPECT_EQ(want, p[i]) TH_LOG("pmd %d byte %ld", pmd, i);
				break;
			}
		}
		ASSERT_EQ(0, munmap(p, len));
		ASSERT_EQ(0, fstat(fd, &st));
		EXPECT_EQ(mb2, st.st_size);
	}
	/* KEEP_SIZE past EOF allocates without growing; without it the file grows, zeroed. */
	before = free_blocks();
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, mb2, 4 * PAGE));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(mb2, st.st_size);
	EXPECT_EQ(before - 4, free_blocks());
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_ZERO_RANGE, mb2 + PAGE / 2, 8 * PAGE));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(mb2 + PAGE / 2 + 8 * PAGE, st.st_size);
	ASSERT_EQ(8 * PAGE, pread(fd, buf, 8 * PAGE, mb2));
	for (long i = 0; i < 8 * PAGE; i++) {
		ASSERT_EQ(0, buf[i]) TH_LOG("byte %ld past the old EOF", i);
	}
	/* All or nothing: far beyond the pool, ENOSPC and no change. */
	before = free_blocks();
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 4 * before * PAGE));
	EXPECT_EQ(ENOSPC, errno);
	EXPECT_EQ(before, free_blocks());
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(mb2 + PAGE / 2 + 8 * PAGE, st.st_size);
	free(buf);
	close(fd);
}

/* Page @i of a file whose page k holds bytes stamp(k): the first bytes say which page. */
static bool page_is(const char *p, long k)
{
	char want[PAGE];

	fill(want, PAGE, (int)k * 13);
	return !memcmp(p, want, PAGE);
}

static bool page_is_zero(const char *p)
{
	for (long i = 0; i < PAGE; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * FALLOC_FL_COLLAPSE_RANGE and FALLOC_FL_INSERT_RANGE move the pages above the range with
 * their data; a shared mapping made before sees the new layout at once (never a stale
 * page), so do read and SEEK_DATA; the collapsed pages' blocks go back to the pool and an
 * inserted range is a hole; odd arguments get ext4's errors and change nothing.
 */
TEST_F(fs, collapse_and_insert_range)
{
	const long n = 64;
	char *buf = malloc(n * PAGE), *out = malloc((n + 8) * PAGE), *p;
	long long before;
	struct stat st;
	int fd = open("mv", O_CREAT | O_RDWR, 0644);

	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, out);
	ASSERT_LE(0, fd);
	for (long k = 0; k < n; k++)
		fill(buf + k * PAGE, PAGE, (int)k * 13);
	/* Written a page at a time: single blocks, PTE-mapped. */
	for (long k = 0; k < n; k++)
		ASSERT_EQ(PAGE, pwrite(fd, buf + k * PAGE, PAGE, k * PAGE));
	p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (long k = 0; k < n; k++) {
		ASSERT_TRUE(page_is(p + k * PAGE, k)) TH_LOG("page %ld before", k);
	}

	/* Collapse pages 8..11: 12.. move down to 8.., four blocks free again. */
	before = free_blocks();
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 8 * PAGE, 4 * PAGE));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ((n - 4) * PAGE, st.st_size);
	EXPECT_EQ((n - 4) * PAGE / 512, st.st_blocks);
	EXPECT_EQ(before + 4, free_blocks());
	for (long k = 0; k < n - 4; k++) {
		ASSERT_TRUE(page_is(p + k * PAGE, k < 8 ? k : k + 4)) TH_LOG("mapped page %ld", k);
	}
	ASSERT_EQ((n - 4) * PAGE, pread(fd, out, (n + 8) * PAGE, 0));
	for (long k = 0; k < n - 4; k++) {
		ASSERT_TRUE(page_is(out + k * PAGE, k < 8 ? k : k + 4)) TH_LOG("read page %ld", k);
	}

	/* A store through the old mapping lands in the moved page. */
	p[20 * PAGE] = 'x';
	ASSERT_EQ(1, pread(fd, out, 1, 20 * PAGE));
	EXPECT_EQ('x', out[0]);
	p[20 * PAGE] = buf[24 * PAGE];

	/* Insert 8 pages at page 4: a hole there, 4.. move up to 12.., no block taken. */
	before = free_blocks();
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_INSERT_RANGE, 4 * PAGE, 8 * PAGE));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ((n + 4) * PAGE, st.st_size);
	EXPECT_EQ((n - 4) * PAGE / 512, st.st_blocks);
	EXPECT_EQ(before, free_blocks());
	EXPECT_EQ(4 * PAGE, lseek(fd, 4 * PAGE, SEEK_HOLE));
	EXPECT_EQ(12 * PAGE, lseek(fd, 4 * PAGE, SEEK_DATA));
	ASSERT_EQ((n + 4) * PAGE, pread(fd, out, (n + 8) * PAGE, 0));
	for (long k = 0; k < n + 4; k++) {
		/* Old layout: k < 8 is page k, k >= 8 is page k + 4; now shifted by 8 from 4. */
		long old = k < 4 ? k : k - 8, orig = old < 8 ? old : old + 4;

		if (k >= 4 && k < 12) {
			ASSERT_TRUE(page_is_zero(out + k * PAGE)) TH_LOG("inserted page %ld", k);
		} else {
			ASSERT_TRUE(page_is(out + k * PAGE, orig)) TH_LOG("read page %ld", k);
		}
	}
	for (long k = 0; k < n; k++) {
		long old = k < 4 ? k : k - 8, orig = old < 8 ? old : old + 4;

		if (k >= 4 && k < 12) {
			ASSERT_TRUE(page_is_zero(p + k * PAGE)) TH_LOG("inserted mapped page %ld", k);
		} else {
			ASSERT_TRUE(page_is(p + k * PAGE, orig)) TH_LOG("mapped page %ld", k);
		}
	}
	/* Faulting the hole in gave the inserted pages blocks; collapsing them frees them. */
	before = free_blocks();
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 4 * PAGE, 8 * PAGE));
	EXPECT_EQ(before + 8, free_blocks());
	for (long k = 0; k < n - 4; k++) {
		ASSERT_TRUE(page_is(p + k * PAGE, k < 8 ? k : k + 4)) TH_LOG("page %ld again", k);
	}

	/* ext4's errors: unaligned, reaching EOF, at or past EOF, too large; no change. */
	before = free_blocks();
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, PAGE / 2, PAGE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_INSERT_RANGE, PAGE, PAGE + 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, PAGE, (n - 5) * PAGE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_INSERT_RANGE, (n - 4) * PAGE, PAGE));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_INSERT_RANGE, 0, 1L << 40));
	EXPECT_EQ(EFBIG, errno);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ((n - 4) * PAGE, st.st_size);
	EXPECT_EQ(before, free_blocks());
	ASSERT_EQ(0, munmap(p, n * PAGE));
	free(buf);
	free(out);
	close(fd);
}

/* SEEK_DATA and SEEK_HOLE follow the block map: pages with a block are data. */
TEST_F(fs, seek_data_and_seek_hole)
{
	int fd = open("sparse", O_CREAT | O_RDWR, 0644);
	char page[PAGE];

	ASSERT_LE(0, fd);
	fill(page, PAGE, 3);
	/* Small writes, then a truncate up: single blocks at pages 0 and 256 only. */
	ASSERT_EQ(PAGE, pwrite(fd, page, PAGE, 0));
	ASSERT_EQ(PAGE, pwrite(fd, page, PAGE, 256 * PAGE));
	ASSERT_EQ(0, ftruncate(fd, 512 * PAGE + 100));
	EXPECT_EQ(0, lseek(fd, 0, SEEK_DATA));
	EXPECT_EQ(100, lseek(fd, 100, SEEK_DATA));
	EXPECT_EQ(PAGE, lseek(fd, 0, SEEK_HOLE));
	EXPECT_EQ(256 * PAGE, lseek(fd, PAGE, SEEK_DATA));
	EXPECT_EQ(257 * PAGE, lseek(fd, 256 * PAGE + 5, SEEK_HOLE));
	EXPECT_EQ(300 * PAGE, lseek(fd, 300 * PAGE, SEEK_HOLE));
	/* No data after page 256, and the end of the file is a hole. */
	EXPECT_EQ(-1, lseek(fd, 257 * PAGE, SEEK_DATA));
	EXPECT_EQ(ENXIO, errno);
	EXPECT_EQ(512 * PAGE + 100, lseek(fd, 0, SEEK_END));
	EXPECT_EQ(-1, lseek(fd, 512 * PAGE + 100, SEEK_HOLE));
	EXPECT_EQ(ENXIO, errno);
	EXPECT_EQ(-1, lseek(fd, -1, SEEK_DATA));
	EXPECT_EQ(EINVAL, errno);
	/* A store through a mapping allocates: the page becomes data. */
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 100 * PAGE);

	ASSERT_NE(MAP_FAILED, p);
	p[PAGE] = 1;
	ASSERT_EQ(0, munmap(p, 2 * PAGE));
	EXPECT_EQ(101 * PAGE, lseek(fd, PAGE, SEEK_DATA));
	/* A punched page is a hole again; the position moved with the last success. */
	ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE));
	EXPECT_EQ(0, lseek(fd, 0, SEEK_HOLE));
	EXPECT_EQ(0, lseek(fd, 0, SEEK_CUR));
	close(fd);
}

/* A store through a shared mapping changes the file: its first write fault sets the times. */
TEST_F(fs, write_fault_updates_mtime_and_ctime)
{
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	int fd = open("t", O_CREAT | O_RDWR, 0644);
	struct stat st;
	char *p;

	ASSERT_LE(0, fd);
	/* Small enough for PTEs; then 2 MiB for a PMD fault. */
	for (long size = 4 * PAGE; size <= 2 * 1024 * 1024; size = 2 * 1024 * 1024) {
		ASSERT_EQ(0, ftruncate(fd, size));
		ASSERT_EQ(0, futimens(fd, old));
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, p);
		/* A read fault changes nothing. */
		EXPECT_EQ(0, p[0]);
		ASSERT_EQ(0, fstat(fd, &st));
		EXPECT_EQ(1000, st.st_mtim.tv_sec);
		p[size - 1] = 1;
		ASSERT_EQ(0, fstat(fd, &st));
		EXPECT_LT(1000, st.st_mtim.tv_sec) TH_LOG("size %ld: mtime not updated", size);
		EXPECT_LT(1000, st.st_ctim.tv_sec) TH_LOG("size %ld: ctime not updated", size);
		ASSERT_EQ(0, munmap(p, size));
		if (size == 2 * 1024 * 1024)
			break;
	}
	close(fd);
}

/* O_APPEND, zero-length writes and RWF_NOWAIT, as the VFS defines them for refdax. */
TEST_F(fs, append_zero_length_and_nowait_writes)
{
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	char buf[3 * PAGE], back[3 * PAGE];
	struct iovec iov = { .iov_base = buf, .iov_len = PAGE };
	int fd = open("a", O_CREAT | O_RDWR | O_APPEND, 0644);
	struct stat st;

	ASSERT_LE(0, fd);
	fill(buf, sizeof(buf), 9);
	/* O_APPEND writes at the end, whatever the offset asked for. */
	ASSERT_EQ(100, write(fd, buf, 100));
	ASSERT_EQ(PAGE, pwrite(fd, buf + 100, PAGE, 0));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(100 + PAGE, st.st_size);
	ASSERT_EQ(100 + PAGE, pread(fd, back, sizeof(back), 0));
	EXPECT_EQ(0, memcmp(buf, back, 100 + PAGE));
	/* A zero-length write returns 0 and changes nothing, not even the times. */
	ASSERT_EQ(0, futimens(fd, old));
	EXPECT_EQ(0, write(fd, buf, 0));
	EXPECT_EQ(0, pwrite(fd, buf, 0, 1L << 40));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(100 + PAGE, st.st_size);
	EXPECT_EQ(1000, st.st_mtim.tv_sec);
	/* No non-blocking I/O: RWF_NOWAIT is refused up front, nothing is written. */
	EXPECT_EQ(-1, pwritev2(fd, &iov, 1, 0, RWF_NOWAIT));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(-1, preadv2(fd, &iov, 1, 0, RWF_NOWAIT));
	EXPECT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(100 + PAGE, st.st_size);
	close(fd);
}

TEST_F(fs, sizes_up_to_the_limit)
{
	long long before = free_blocks();
	int fd = open("far", O_CREAT | O_RDWR, 0644), small = open("small", O_CREAT | O_RDWR, 0644);
	struct stat st;
	char c = 'x';

	ASSERT_LE(0, fd);
	ASSERT_LE(0, small);
	ASSERT_EQ(1, pwrite(small, &c, 1, 5000));
	ASSERT_EQ(before - 1, free_blocks());
	ASSERT_EQ(0, fstat(small, &st));
	ASSERT_EQ(8, st.st_blocks);
	close(small);
	ASSERT_EQ(0, unlink("small"));
	ASSERT_EQ(1, pwrite(fd, &c, 1, (1LL << 40) - 1));
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(1LL << 40, st.st_size);
	ASSERT_EQ(512 * 8, st.st_blocks);
	ASSERT_EQ(before - 512, free_blocks());
	ASSERT_EQ(-1, pwrite(fd, &c, 1, 1LL << 40));
	ASSERT_EQ(EFBIG, errno);
	ASSERT_EQ(-1, ftruncate(fd, (1LL << 40) + 1));
	ASSERT_EQ(EFBIG, errno);
	ASSERT_EQ(0, ftruncate(fd, 0));
	ASSERT_EQ(before, free_blocks());
	close(fd);
}

TEST_F(fs, second_mount_refused)
{
	mkdir("/tmp/refdax2", 0755);
	ASSERT_EQ(-1, mount("none", "/tmp/refdax2", "refdax", 0, NULL));
	ASSERT_EQ(EBUSY, errno);
}

TEST_F(fs, unknown_mount_option_refused)
{
	mkdir("/tmp/refdax2", 0755);
	/* Options are parsed before the superblock: refused whatever else is mounted. */
	ASSERT_EQ(-1, mount("none", "/tmp/refdax2", "refdax", 0, "bogus"));
	ASSERT_EQ(EINVAL, errno);
}

#define FAILSLAB "/sys/kernel/debug/failslab"

/* One round of work on files f0..f7 in a child whose slab allocations fail at random. */
/* Whether @ok is false (an error), counting ENOMEM from refdax's data path in @enomem. */
static int failed_op(bool ok, long *enomem)
{
	if (!ok && errno == ENOMEM)
		++*enomem;
	return !ok;
}

static int failslab_child(unsigned int seed, long *enomem)
{
	char name[16], buf[8192];
	int errors = 0;

	if (write_file("/proc/self/make-it-fail", "1"))
		return 100;
	for (int k = 0; k < 400; k++) {
		int fd, op = rand_r(&seed) % 6;
		long off = (rand_r(&seed) % 1024) * 4096L;
		char *p;

		snprintf(name, sizeof(name), "f%d", rand_r(&seed) % 8);
		fd = open(name, O_CREAT | O_RDWR, 0644);
		if (fd < 0) {
			errors++;
			continue;
		}
		memset(buf, 'a' + k % 26, sizeof(buf));
		switch (op) {
		case 0:
			errors += failed_op(pwrite(fd, buf, sizeof(buf), off) == sizeof(buf), enomem);
			break;
		case 1:
			errors += failed_op(!fallocate(fd, 0, off, 3 << 20), enomem);
			break;
		case 2:
			errors += failed_op(!ftruncate(fd, off), enomem);
			break;
		case 3:
			errors += failed_op(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
							off, 1 << 20), enomem);
			break;
		case 4:
			p = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (p == MAP_FAILED || ftruncate(fd, 4 << 20)) {
				errors++;
			} else {
				for (long i = 0; i < (4 << 20); i += 64 * 4096)
					p[i] = 1;
			}
			if (p != MAP_FAILED)
				munmap(p, 4 << 20);
			break;
		case 5:
			errors += unlink(name) != 0;
			break;
		}
		close(fd);
	}
	write_file("/proc/self/make-it-fail", "0");
	printf("# failslab round: %d operations failed\n", errors);
	return 0;
}

/*
 * Whether a page of a failslab file holds what the child could have put there: zeros, or
 * one letter of a whole-page pwrite, and perhaps a 1 in its first byte (a mapped store).
 */
static bool page_as_written(const char *buf, ssize_t n)
{
	if (n < 2)
		return true;
	if (buf[1] != 0 && (buf[1] < 'a' || buf[1] > 'z'))
		return false;
	if (buf[0] != buf[1] && buf[0] != 1)
		return false;
	for (ssize_t k = 2; k < n; k++)
		if (buf[k] != buf[1])
			return false;
	return true;
}

/*
 * Allocation failures inside refdax and the VFS (failslab, task-filtered to a child doing
 * writes, fallocate, truncate, punch, faults and unlinks) leave the file system consistent:
 * every file reads back what its size and blocks say, nothing stays referenced or busy, and
 * free + blocks in files + out of service == total.
 */
TEST_F(fs, failslab_leaves_fs_consistent)
{
	long long total = refdax_stat(REFDAX_STAT_BLOCKS_TOTAL), in_files = 0;
	long *enomem = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, enomem);
	*enomem = 0;

	if (access(FAILSLAB "/probability", W_OK))
		SKIP(return, "no failslab in this kernel");
	ASSERT_EQ(0, write_file(FAILSLAB "/task-filter", "Y"));
	ASSERT_EQ(0, write_file(FAILSLAB "/probability", "10"));
	ASSERT_EQ(0, write_file(FAILSLAB "/interval", "1"));
	ASSERT_EQ(0, write_file(FAILSLAB "/times", "-1"));
	ASSERT_EQ(0, write_file(FAILSLAB "/verbose", "0"));
	ASSERT_EQ(0, write_file(FAILSLAB "/ignore-gfp-wait", "N"));
	for (unsigned int round = 1; round <= 4; round++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			_exit(failslab_child(round, enomem));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("status %#x", status);
	}
	write_file(FAILSLAB "/probability", "0");
	write_file(FAILSLAB "/times", "1");
	/* The failures reached refdax's allocations, not just the VFS's. */
	TH_LOG("%ld refdax operations failed with ENOMEM", *enomem);
	ASSERT_LT(0, *enomem);

	ASSERT_EQ(0, refdax_stat(REFDAX_STAT_FOLIOS_REFERENCED));
	ASSERT_EQ(0, refdax_busy_settled());
	for (int i = 0; i < 8; i++) {
		char name[16], buf[4096];
		struct stat st;
		int fd;

		snprintf(name, sizeof(name), "f%d", i);
		fd = open(name, O_RDONLY);
		if (fd < 0)
			continue;
		ASSERT_EQ(0, fstat(fd, &st));
		/*
		 * Every page reads (a hole or a block), nothing past the size, and holds what
		 * the child could have put there: zeros, or one letter of a whole-page pwrite,
		 * and perhaps a 1 in its first byte from a store through a mapping.
		 */
		for (off_t off = 0; off < st.st_size; off += 4096) {
			ssize_t n = pread(fd, buf, 4096, off);

			ASSERT_LT(0, n);
			ASSERT_TRUE(page_as_written(buf, n)) TH_LOG("%s at %ld", name, (long)off);
		}
		ASSERT_EQ(0, pread(fd, buf, 4096, st.st_size));
		in_files += st.st_blocks / 8;
		close(fd);
	}
	ASSERT_EQ(total, refdax_stat(REFDAX_STAT_BLOCKS_FREE) + in_files + refdax_stat(REFDAX_STAT_BLOCKS_QUARANTINED));
	ASSERT_EQ(0, system("rm -f f0 f1 f2 f3 f4 f5 f6 f7"));
	ASSERT_EQ(total, refdax_stat(REFDAX_STAT_BLOCKS_FREE) + refdax_stat(REFDAX_STAT_BLOCKS_QUARANTINED));
	munmap(enomem, sizeof(long));
}

TEST_HARNESS_MAIN
