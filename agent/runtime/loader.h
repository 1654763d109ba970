/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Loading, attaching, pinning and tearing down the BPF side. */
#ifndef TCPTUNE_LOADER_H
#define TCPTUNE_LOADER_H
#include <stdbool.h>
#include "core/kernel_features.h"
#include "runtime/system.h"
#include "tcptune.h"

struct tcptune_bpf;
struct bpf_link;

struct loader_opts {
	const struct cgroup_scope *scopes; /* the cgroups sockops attaches to */
	int nr_scopes;
	bool whole_host; /* scopes[0] is the cgroup2 root */
	__u32 max_flows;
	/* the "moved" ring buffer's size (a power of two), 0: the object's (1 MiB) */
	__u32 moved_ring_bytes;
	bool tune;                /* apply targets (not --observe) */
	__u32 min_buf, max_buf;   /* sizes BPF accepts from the maps */
	struct feature_plan plan; /* what the kernel allows (features_plan) */
};

struct loader {
	struct tcptune_bpf *skel; /* the programs and maps (bpf/tcptune.bpf.c) */
	struct bpf_link *sockops_links[TCPTUNE_MAX_SCOPES];
	struct bpf_link *iter_link;   /* iter/tcp: the per-namespace pass */
	struct bpf_link *owners_link; /* iter/task_file: pids of sockets' owners */
	/* iter/bpf_sk_storage_map on marks: the walk pass (NULL where the plan walks with
	 * iter/tcp) */
	struct bpf_link *refresh_link;
	struct feature_plan plan; /* the programs loaded and passes run on this kernel */
	int flows_fd;
	int counters_fd;
	int moved_fd; /* the "moved" ring buffer */
	int status_fd;
	int targets_fd;
	int dests_fd;
	int bpffs_fd; /* the bpffs the maps are pinned in */
	bool pinned;
	bool bpffs_mounted;
};

/* Remove pins that a killed agent left. Call with the instance lock held. */
int loader_remove_stale_pins(void);

/* A loader that holds nothing: loader_stop does nothing on it. loader_start
 * begins with it. */
void loader_init(struct loader *ld);

/* Open, load (the programs and code paths opts->plan takes), pin and attach
 * everything. On error everything done so far is undone and a one-line
 * reason is in why. */
int loader_start(struct loader *ld, const struct loader_opts *opts, char *why, size_t len);

/* How stale a moving connection's entry may get (BPF refreshes it at most
 * that often), and the pass now starting (a socket's writes and reads list
 * it in "moved" once per tick, and once more if it is refreshed again). */
void loader_set_refresh(struct loader *ld, double seconds);
void loader_set_tick(struct loader *ld, __u64 pass);
/* What the iter/tcp passes do from now on. */
void loader_set_iter_pass(struct loader *ld, enum iter_pass_kind kind);
/* sockops' flag that some destination size was learned (in the .bss). */
__u32 *loader_dests_learned(struct loader *ld);

/* Is the program of that name loaded (the plan took it)? */
bool loader_loaded(const struct loader *ld, const char *program);

/* Run counts and run time of each program (kernel BPF statistics: they
 * count only while enabled, see loader_enable_stats). Returns how many of
 * at most max were filled. */
struct metrics_program;
size_t loader_program_stats(struct loader *ld, struct metrics_program *out, size_t max);
/* Keeps the kernel's BPF run-time statistics on while the returned fd is
 * open (the kernel turns them off again when the last such fd closes, also
 * when the agent is killed). Returns the fd or -errno. */
int loader_enable_stats(void);

/* Detach, unpin and free. Safe on a partly started loader. */
void loader_stop(struct loader *ld);

#endif
