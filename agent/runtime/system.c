// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "core/parse.h"
#include "runtime/system.h"

int cgroup2_mount(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (mountinfo_match(line, "cgroup2", buf, len)) {
			err = 0;
			break;
		}
	}
	free(line);
	fclose(f);
	return err;
}

int cgroup_scope_open(const char *path, struct cgroup_scope *scope, char *why, size_t len)
{
	struct statfs sfs;
	struct stat st;

	if (!realpath(path, scope->path)) {
		snprintf(why, len, "--cgroup %s: %s", path, strerror(errno));
		return -1;
	}
	if (stat(scope->path, &st) || !S_ISDIR(st.st_mode)) {
		snprintf(why, len, "--cgroup %s: not a directory", path);
		return -1;
	}
	if (statfs(scope->path, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		char mnt[PATH_MAX];

		if (cgroup2_mount(mnt, sizeof(mnt)))
			snprintf(
				why, len,
				"--cgroup %s: not a cgroup v2 directory (no cgroup2 filesystem is mounted)",
				path);
		else
			snprintf(
				why, len,
				"--cgroup %s: not a cgroup v2 directory (cgroup v2 is mounted at %s)",
				path, mnt);
		return -1;
	}
	scope->fd = open(scope->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (scope->fd < 0) {
		snprintf(why, len, "--cgroup %s: %s", path, strerror(errno));
		return -1;
	}
	scope->id = st.st_ino;
	return 0;
}

bool cgroup_scope_removed(const struct cgroup_scope *scope)
{
	struct stat st;

	if (stat(scope->path, &st))
		return errno == ENOENT;
	return st.st_ino != scope->id;
}

static bool is_bpffs(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC;
}

/* The mark holds the device number of the bpffs the agent mounted: each
 * mount of bpffs is a new instance, so one that someone else mounted after
 * ours was unmounted is not taken for ours. */
static bool bpffs_is_ours(void)
{
	unsigned long long mark_dev = 0;
	struct stat st;
	FILE *f;
	int ok;

	if (!is_bpffs(BPFFS_PATH) || stat(BPFFS_PATH, &st) ||
	    !(f = fopen(TCPTUNE_BPFFS_MARK, "re")))
		return false;
	ok = fscanf(f, "%llu", &mark_dev) == 1;
	fclose(f);
	return ok && mark_dev == (unsigned long long)st.st_dev;
}

int bpffs_ensure(bool *mounted)
{
	struct stat st;
	FILE *f;

	*mounted = false;
	if (is_bpffs(BPFFS_PATH)) {
		/* the mark outlives an agent that was killed: its mount is ours now */
		*mounted = bpffs_is_ours();
		return 0;
	}
	if (mount("bpf", BPFFS_PATH, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700"))
		return -errno;
	*mounted = true;
	f = fopen(TCPTUNE_BPFFS_MARK, "we");
	if (f && stat(BPFFS_PATH, &st) == 0)
		fprintf(f, "%llu\n", (unsigned long long)st.st_dev);
	if (f)
		fclose(f);
	return 0;
}

void bpffs_release(bool mounted)
{
	DIR *d;
	struct dirent *e;
	bool empty = true;

	if (!mounted)
		return;
	/* unmounted under the agent, maybe mounted again by someone else */
	if (!bpffs_is_ours()) {
		unlink(TCPTUNE_BPFFS_MARK);
		return;
	}
	if (!(d = opendir(BPFFS_PATH)))
		return;
	/* maps.debug and progs.debug come with every bpffs mount (bpf_preload) */
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && !strstr(e->d_name, ".debug"))
			empty = false;
	closedir(d);
	if (empty && umount2(BPFFS_PATH, MNT_DETACH) == 0)
		unlink(TCPTUNE_BPFFS_MARK);
}

bool has_privilege(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	static const int needed[] = { CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON };

	if (syscall(SYS_capget, &hdr, data))
		return false;
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		int cap = needed[i];

		if (!(data[cap / 32].effective & (1u << (cap % 32))))
			return false;
	}
	return true;
}

static bool cap_listed(int cap, const int *caps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (caps[i] == cap)
			return true;
	return false;
}

int caps_keep_only(const int *keep, size_t n, char *why, size_t len)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {}, kept[2] = {};
	int last = CAP_LAST_CAP, err;
	FILE *f;

	/* the running kernel may know more capabilities than these headers */
	f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f) {
		if (fscanf(f, "%d", &last) != 1 || last < 0 || last >= 64)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	if (syscall(SYS_capget, &hdr, data)) {
		err = -errno;
		snprintf(why, len, "cannot read the capabilities (capget): %s", strerror(errno));
		return err;
	}
	if (data[0].effective & (1u << CAP_SETPCAP)) {
		for (int cap = 0; cap <= last; cap++) {
			if (cap_listed(cap, keep, n) || prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0 ||
			    errno == EINVAL)
				continue;
			err = -errno;
			snprintf(why, len, "cannot drop capability %d from the bounding set: %s",
				 cap, strerror(errno));
			return err;
		}
	}
	/* none expected; EINVAL on kernels without ambient capabilities */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) {
		err = -errno;
		snprintf(why, len, "cannot clear the ambient capabilities: %s", strerror(errno));
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned int word = (unsigned int)keep[i] / 32, bit = 1u << (keep[i] % 32);

		kept[word].permitted |= data[word].permitted & bit;
		kept[word].effective |= data[word].effective & bit;
	}
	if (syscall(SYS_capset, &hdr, kept)) {
		err = -errno;
		snprintf(why, len, "cannot drop capabilities (capset): %s", strerror(errno));
		return err;
	}
	return 0;
}

static pid_t read_pid(int fd)
{
	char buf[32] = {};

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return 0;
	return (pid_t)atoi(buf);
}

int instance_lock(pid_t *holder)
{
	char buf[32];
	int fd, n;

	if (mkdir(TCPTUNE_STATE_DIR, 0700) && errno != EEXIST)
		return -errno;
	fd = open(TCPTUNE_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		*holder = read_pid(fd);
		close(fd);
		return err;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", getpid());
	if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

bool agent_running(pid_t *holder)
{
	int fd = open(TCPTUNE_LOCK_FILE, O_RDONLY | O_CLOEXEC);
	bool running;

	if (fd < 0)
		return false;
	running = flock(fd, LOCK_SH | LOCK_NB) != 0;
	*holder = running ? read_pid(fd) : 0;
	close(fd);
	return running;
}

static int netns_add(struct netns **list, int *n, int *cap, const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return 0; /* the process or name went away */
	for (int i = 0; i < *n; i++)
		if ((*list)[i].dev == st.st_dev && (*list)[i].ino == st.st_ino)
			return 0;
	if (*n == *cap) {
		int ncap = *cap ? *cap * 2 : 16;
		struct netns *grown = realloc(*list, sizeof(**list) * (size_t)ncap);

		if (!grown)
			return -ENOMEM;
		*list = grown;
		*cap = ncap;
	}
	(*list)[*n].dev = st.st_dev;
	(*list)[*n].ino = st.st_ino;
	snprintf((*list)[*n].path, sizeof((*list)[*n].path), "%s", path);
	(*n)++;
	return 0;
}

int netns_list(struct netns **list)
{
	static const char *const dirs[] = { "/proc", "/run/netns" };
	int n = 0, cap = 0, err = 0;

	*list = NULL;
	/* our own first, so the agent's namespace is always visited */
	err = netns_add(list, &n, &cap, "/proc/self/ns/net");
	for (size_t d = 0; d < 2 && !err; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *e;
		char path[64];

		if (!dir)
			continue;
		while (!err && (e = readdir(dir))) {
			if (d == 0) {
				if (e->d_name[0] < '1' || e->d_name[0] > '9')
					continue;
				snprintf(path, sizeof(path), "/proc/%.20s/ns/net", e->d_name);
			} else {
				if (e->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "/run/netns/%.40s", e->d_name);
			}
			err = netns_add(list, &n, &cap, path);
		}
		closedir(dir);
	}
	if (err) {
		free(*list);
		*list = NULL;
		return err;
	}
	return n;
}

int netns_cookie_current(__u64 *cookie)
{
	socklen_t len = sizeof(*cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
		err = -errno;
	close(fd);
	return err;
}

int netns_inode_current(__u64 *inode)
{
	struct stat st;

	if (stat("/proc/self/ns/net", &st))
		return -errno;
	*inode = st.st_ino;
	return 0;
}

__u64 monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

double monotonic_s(void)
{
	return (double)monotonic_ns() / 1e9;
}

int process_usage(double *cpu_s, __u64 *rss_bytes)
{
	struct rusage ru;
	unsigned long size, resident;
	FILE *f;
	int n;

	if (getrusage(RUSAGE_SELF, &ru))
		return -errno;
	*cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
		 ru.ru_stime.tv_usec / 1e6;
	f = fopen("/proc/self/statm", "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	if (n != 2)
		return -EINVAL;
	*rss_bytes = (__u64)resident * (__u64)sysconf(_SC_PAGESIZE);
	return 0;
}

struct cgroup_name {
	__u64 id;
	char *path;
};

/* nftw has no context argument: the walk in progress */
static struct cgroup_names *walking;
static size_t walk_cap;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct cgroup_names *c = walking;
	size_t rootlen = strlen(c->root);

	(void)ftw;
	if (type != FTW_D)
		return 0;
	if (c->n == walk_cap) {
		size_t cap = walk_cap ? 2 * walk_cap : 64;
		struct cgroup_name *e = realloc(c->entries, cap * sizeof(*e));

		if (!e)
			return 1;
		c->entries = e;
		walk_cap = cap;
	}
	c->entries[c->n].id = st->st_ino;
	c->entries[c->n].path = strdup(path[rootlen] ? path + rootlen : "/");
	if (!c->entries[c->n].path)
		return 1;
	c->n++;
	return 0;
}

static int by_cgroup_id(const void *a, const void *b)
{
	const struct cgroup_name *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void cgroup_names_clear(struct cgroup_names *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->entries[i].path);
	free(c->entries);
	c->entries = NULL;
	c->n = 0;
}

static void cgroup_names_walk(struct cgroup_names *c)
{
	cgroup_names_clear(c);
	walking = c;
	walk_cap = 0;
	/* FTW_PHYS: no symlinks; FTW_MOUNT: stay in the cgroup2 mount */
	nftw(c->root, walk_one, 16, FTW_PHYS | FTW_MOUNT);
	walking = NULL;
	if (c->n)
		qsort(c->entries, c->n, sizeof(*c->entries), by_cgroup_id);
	c->walked_s = monotonic_s();
}

int cgroup_names_init(struct cgroup_names *c)
{
	*c = (struct cgroup_names){};
	return cgroup2_mount(c->root, sizeof(c->root));
}

const char *cgroup_names_get(struct cgroup_names *c, __u64 id)
{
	struct cgroup_name key = { .id = id }, *e;

	for (int attempt = 0; attempt < 2; attempt++) {
		e = c->n ? bsearch(&key, c->entries, c->n, sizeof(key), by_cgroup_id) : NULL;
		if (e)
			return e->path;
		if (attempt || !c->root[0] ||
		    (c->walked_s && monotonic_s() - c->walked_s < CGROUP_NAMES_REWALK_S))
			break;
		cgroup_names_walk(c);
	}
	return NULL;
}

void cgroup_names_free(struct cgroup_names *c)
{
	cgroup_names_clear(c);
}
