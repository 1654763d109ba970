/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the agent needs from the host: cgroup2 and bpffs mounts, privilege,
 * the single-instance lock, and the network namespaces that hold sockets. */
#ifndef TCPTUNE_SYSTEM_H
#define TCPTUNE_SYSTEM_H
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include <linux/types.h>

#define TCPTUNE_STATE_DIR "/run/tcptune"
#define TCPTUNE_LOCK_FILE TCPTUNE_STATE_DIR "/agent.lock"
/* Present while bpffs at /sys/fs/bpf is a mount an agent made (it holds that
 * mount's device number): an agent that was killed could not unmount it, so
 * the next one does. */
#define TCPTUNE_BPFFS_MARK TCPTUNE_STATE_DIR "/bpffs-mounted"
#define BPFFS_PATH "/sys/fs/bpf"
#define KERNEL_BTF_PATH "/sys/kernel/btf/vmlinux"
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

struct cgroup_scope {
	char path[PATH_MAX];
	__u64 id; /* kernfs id: the inode number of the cgroup directory */
	int fd;
};

/* Find the cgroup v2 mount point. Returns 0 or -errno. */
int cgroup2_mount(char *buf, size_t len);

/* Check that path is a cgroup v2 directory and open it. On error, returns -1
 * and writes a one-line reason into why. */
int cgroup_scope_open(const char *path, struct cgroup_scope *scope, char *why, size_t len);
/* Whether the cgroup was removed since it was opened (also when a new one
 * was made at its path since: another id). */
bool cgroup_scope_removed(const struct cgroup_scope *scope);

/* Mount bpffs at /sys/fs/bpf if it is not there. *mounted tells whether it is
 * ours to unmount: we mounted it, or a killed agent did. */
int bpffs_ensure(bool *mounted);
/* Unmount bpffs if we mounted it and it is empty again. */
void bpffs_release(bool mounted);

/* Whether the process has what loading, attaching and setns need. */
bool has_privilege(void);
/* Keep only the capabilities keep[] (those of them the process has) in its
 * effective and permitted sets, for the rest of its life; also in the
 * bounding set when CAP_SETPCAP allows (systemd's bounding set may not).
 * 0, or -errno with why filled. */
int caps_keep_only(const int *keep, size_t n, char *why, size_t len);

/* Take the single-instance lock. Returns an fd, -EBUSY with *holder set when
 * another agent holds it, or another -errno. */
int instance_lock(pid_t *holder);
/* Whether an agent holds the lock right now. */
bool agent_running(pid_t *holder);

/* A network namespace to visit. */
struct netns {
	dev_t dev;
	ino_t ino;
	char path[64]; /* /proc/PID/ns/net or /run/netns/NAME */
};

/* Every network namespace that a process lives in or /run/netns names.
 * *list is malloc'ed. Returns the count or -errno. */
int netns_list(struct netns **list);

/* The cookie of the network namespace the calling thread is in
 * (SO_NETNS_COOKIE: Linux 5.14), or -errno. */
int netns_cookie_current(__u64 *cookie);
/* Its inode number, which identifies it where the cookie cannot be read. */
int netns_inode_current(__u64 *inode);

double monotonic_s(void);

/* The calling process's CPU time (user + system, s) and resident set (bytes). */
int process_usage(double *cpu_s, __u64 *rss_bytes);

/* Paths of cgroup ids below the cgroup2 mount ("/" for its root, "/a/b"),
 * from a walk of the mount redone when an id is not found (at most once per
 * CGROUP_NAMES_REWALK_S). */
struct cgroup_names {
	char root[PATH_MAX];
	struct cgroup_name *entries; /* sorted by id */
	size_t n;
	double walked_s; /* monotonic time of the last walk, 0 = never */
};
#define CGROUP_NAMES_REWALK_S 5.0

int cgroup_names_init(struct cgroup_names *c);
/* The path of id, or NULL when no cgroup has it (removed, or not yet seen). */
const char *cgroup_names_get(struct cgroup_names *c, __u64 id);
void cgroup_names_free(struct cgroup_names *c);
__u64 monotonic_ns(void);

#endif
