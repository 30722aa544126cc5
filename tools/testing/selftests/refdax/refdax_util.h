/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the refdax selftests: loading the module, reading its stats, tracefs.
 *
 * The guest's refdax-load.sh writes /run/refdax.env (REFDAX_KO, REFDAX_PHYS, REFDAX_SIZE,
 * REFDAX_OTHER_PHYS, ...); run_tests.sh exports it to the tests.
 */
#ifndef REFDAX_UTIL_H
#define REFDAX_UTIL_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The stats file's line names, shared with the module. */
#include "../../../../include/uapi/linux/refdax.h"

#define REFDAX_DEBUGFS "/sys/kernel/debug/refdax"
#define REFDAX_STATS REFDAX_STATS_FILE
#define TRACEFS "/sys/kernel/tracing"

static inline uint64_t env_u64(const char *name)
{
	const char *v = getenv(name);

	return v ? strtoull(v, NULL, 0) : 0;
}

/* finit_module() of refdax.ko with @params: 0 or -errno. */
static inline int refdax_load(const char *params)
{
	const char *ko = getenv("REFDAX_KO");
	int fd, ret;

	if (!ko)
		return -ENOENT;
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(__NR_finit_module, fd, params, 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

/* Loads refdax over @phys, @size: 0 or -errno. */
static inline int refdax_load_range(uint64_t phys, uint64_t size)
{
	char params[128];

	snprintf(params, sizeof(params), "phys_addr=%#llx size=%#llx",
		 (unsigned long long)phys, (unsigned long long)size);
	return refdax_load(params);
}

/* Loads refdax over the range the guest set aside for it. */
static inline int refdax_load_default(void)
{
	return refdax_load_range(env_u64("REFDAX_PHYS"), env_u64("REFDAX_SIZE"));
}

/* Unmounts /mnt/refdax if refdax is mounted there, and unloads refdax: 0 or -errno. */
static inline int refdax_unload(void)
{
	umount("/mnt/refdax");
	return syscall(__NR_delete_module, "refdax", O_NONBLOCK) ? -errno : 0;
}

static inline bool refdax_loaded(void)
{
	return access("/sys/module/refdax", F_OK) == 0;
}

/* Whether /proc/iomem has a region named @name. */
static inline bool iomem_has(const char *name)
{
	FILE *f = fopen("/proc/iomem", "r");
	char line[256];
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strstr(line, " : ");

		if (colon && !strncmp(colon + 3, name, strlen(name)) &&
		    colon[3 + strlen(name)] == '\n')
			found = true;
	}
	fclose(f);
	return found;
}

/* The value of @name in the stats file, or -1 if absent. */
static inline long long refdax_stat(const char *name)
{
	FILE *f = fopen(REFDAX_STATS, "r");
	char key[64], val[64];
	long long ret = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %63s", key, val) == 2) {
		if (!strcmp(key, name)) {
			ret = strtoll(val, NULL, 0);
			break;
		}
	}
	fclose(f);
	return ret;
}

/* Whether the stats line @name has the value @want (for the non-numeric ones). */
static inline bool refdax_stat_is(const char *name, const char *want)
{
	FILE *f = fopen(REFDAX_STATS, "r");
	char key[64], val[64];
	bool ret = false;

	if (!f)
		return false;
	while (fscanf(f, "%63s %63s", key, val) == 2)
		if (!strcmp(key, name))
			ret = !strcmp(val, want);
	fclose(f);
	return ret;
}

/* Writes @s to @path: 0 or -errno. */
static inline int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

/* Reads @path into a malloc()ed string, or NULL. */
static inline char *read_file(const char *path)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf || fd < 0) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *nbuf = realloc(buf, cap *= 2);

			if (!nbuf)
				break;
			buf = nbuf;
		}
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* Occurrences of @needle in the kernel log (klogctl READ_ALL), or -1. */
static inline int klog_count(const char *needle)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf, *p;
	int n = 0;

	if (len <= 0)
		return -1;
	buf = malloc(len + 1);
	if (!buf)
		return -1;
	len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	if (len < 0) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	for (p = buf; (p = strstr(p, needle)); p++)
		n++;
	free(buf);
	return n;
}

static void refdax_mceerr_handler(int sig, siginfo_t *si, void *uc)
{
	_exit(si->si_code == BUS_MCEERR_AR ? 42 : 43);
}

/* Whether reading @addr in a child ends in SIGBUS with BUS_MCEERR_AR (a poisoned page). */
static inline bool poison_sigbus_at(volatile char *addr)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct sigaction sa = {
			.sa_sigaction = refdax_mceerr_handler, .sa_flags = SA_SIGINFO,
		};

		sigaction(SIGBUS, &sa, NULL);
		(void)*addr;
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 42;
}

/*
 * Stores that may hit a page truncated away: a test's SIGBUS handler siglongjmp()s to
 * *bus_jump when it is set, and try_write() says whether the store went through.
 */
static __thread sigjmp_buf *volatile bus_jump;

/* Writes @v at @p unless that raises SIGBUS (the page is gone); false if it did. */
static inline bool try_write(volatile char *p, char v)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		bus_jump = NULL;
		return false;
	}
	bus_jump = &jb;
	*p = v;
	bus_jump = NULL;
	return true;
}

static volatile sig_atomic_t refdax_bus_code;

static void refdax_bus_record(int sig, siginfo_t *si, void *uc)
{
	refdax_bus_code = si->si_code;
	if (bus_jump)
		siglongjmp(*bus_jump, 1);
	_exit(99);
}

/*
 * Whether reading @addr in this process raises SIGBUS with BUS_MCEERR_AR: unlike
 * poison_sigbus_at(), whose child refaults (fork does not copy shared file PTEs), this
 * sees a PTE that should have been zapped but was not.
 */
static inline bool poison_sigbus_here(volatile char *addr)
{
	struct sigaction sa = { .sa_sigaction = refdax_bus_record, .sa_flags = SA_SIGINFO };
	struct sigaction old;
	sigjmp_buf jb;
	bool hit = false;

	sigaction(SIGBUS, &sa, &old);
	refdax_bus_code = 0;
	if (sigsetjmp(jb, 1)) {
		hit = refdax_bus_code == BUS_MCEERR_AR;
	} else {
		bus_jump = &jb;
		(void)*addr;
	}
	bus_jump = NULL;
	sigaction(SIGBUS, &old, NULL);
	return hit;
}

static volatile sig_atomic_t refdax_mce_code;
static void *volatile refdax_mce_addr;

static void refdax_mce_record(int sig, siginfo_t *si, void *uc)
{
	refdax_mce_code = si->si_code;
	refdax_mce_addr = si->si_addr;
}

/*
 * Injects a memory failure at @addr (MADV_HWPOISON) and returns whether this process got
 * SIGBUS with BUS_MCEERR_AR and exactly @addr at once, as memory failure sends it to the
 * task that met the failure (ext4 -o dax does; ndctl's dax-poison test checks it).
 * *@ret is madvise's result.
 */
static inline bool hwpoison_signalled(char *addr, int *ret)
{
	struct sigaction sa = { .sa_sigaction = refdax_mce_record, .sa_flags = SA_SIGINFO };
	struct sigaction old;

	sigaction(SIGBUS, &sa, &old);
	refdax_mce_code = 0;
	refdax_mce_addr = NULL;
	*ret = madvise(addr, 4096, MADV_HWPOISON);
	sigaction(SIGBUS, &old, NULL);
	return refdax_mce_code == BUS_MCEERR_AR && refdax_mce_addr == addr;
}

#define REFDAX_MNT "/mnt/refdax"

/* The free blocks of the mounted refdax (statfs), -1 on error. */
static inline long long free_blocks(void)
{
	struct statfs st;

	return statfs(REFDAX_MNT, &st) ? -1 : (long long)st.f_bfree;
}

/* Loads refdax if needed and mounts it at /mnt/refdax: 0 or -errno. */
static inline int refdax_ensure_mounted(void)
{
	FILE *f;
	char line[512];
	bool mounted = false;
	int ret;

	if (!refdax_loaded()) {
		ret = refdax_load_default();
		if (ret)
			return ret;
	}
	f = fopen("/proc/mounts", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " " REFDAX_MNT " refdax "))
			mounted = true;
	fclose(f);
	if (mounted)
		return 0;
	mkdir(REFDAX_MNT, 0755);
	return mount("none", REFDAX_MNT, "refdax", 0, NULL) ? -errno : 0;
}

/* Number of lines of the trace buffer containing @what. */
static inline int trace_count(const char *what)
{
	char *trace = read_file(TRACEFS "/trace"), *p;
	int n = 0;

	if (!trace)
		return -1;
	for (p = trace; (p = strstr(p, what)); p += strlen(what))
		n++;
	free(trace);
	return n;
}

/* Enables (1) or disables (0) every refdax trace event and empties the buffer. */
static inline int trace_refdax(int on)
{
	int ret = write_file(TRACEFS "/events/refdax/enable", on ? "1" : "0");

	return ret ? ret : write_file(TRACEFS "/trace", "");
}

/* Whether this kernel calls refdax's folio_free for FS DAX folios (patch 0001). */
static inline bool refdax_notified(void)
{
	return refdax_stat_is(REFDAX_STAT_NOTIFY_MODE, REFDAX_NOTIFY_FOLIO_FREE);
}

/*
 * Whether the kernel was built with refdax's patches, as the refdax guest says
 * (REFDAX_KERNEL_PATCHES, from make's KERNEL_PATCHES); unknown outside it.
 */
static inline bool refdax_patched_kernel(void)
{
	const char *patches = getenv("REFDAX_KERNEL_PATCHES");

	return patches && strcmp(patches, "none");
}

/*
 * For tests that count or wait for the free notification itself: they skip on a stock
 * kernel, and fail on one built with patch 0001 whose notification does not arrive.
 */
#define NEEDS_FOLIO_FREE()							\
	do {									\
		if (!refdax_notified()) {					\
			ASSERT_FALSE(refdax_patched_kernel())			\
				TH_LOG("kernel built with patch 0001, "	\
				       "but refdax sees no folio_free calls");	\
			SKIP(return, "needs patch 0001: this kernel does not call "	\
			     "folio_free for FS DAX folios");			\
		}								\
	} while (0)

/*
 * blocks_busy once it has settled: with patch 0001 busy blocks are released by the free
 * notification itself, so this returns at once; on a stock kernel refdax's reaper thread
 * releases them after the page's wake_up_var(), so give it up to 10 s.
 */
static inline long long refdax_busy_settled(void)
{
	long long busy = refdax_stat("blocks_busy");

	for (int i = 0; busy > 0 && !refdax_notified() && i < 1000; i++) {
		usleep(10000);
		busy = refdax_stat("blocks_busy");
	}
	return busy;
}

#endif /* REFDAX_UTIL_H */
