/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The kernel features tcptune's BPF programs use, which of them a kernel
 * has (probed at start by agent/runtime/probe.c), and the way of working the agent
 * takes from that: where a feature is missing, a fallback, and only where a
 * required one is missing, a refusal. Pure: no libbpf, no system calls. */
#ifndef TCPTUNE_KERNEL_FEATURES_H
#define TCPTUNE_KERNEL_FEATURES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum feature {
	FEATURE_BTF,               /* kernel BTF (CO-RE, tp_btf, iterators) */
	FEATURE_SOCKOPS,           /* sockops on cgroup v2, reading the full socket */
	FEATURE_STATE_TRACEPOINT,  /* tp_btf/inet_sock_set_state and a ring buffer */
	FEATURE_TCP_ITER,          /* iter/tcp */
	FEATURE_ITER_COOKIE,       /* bpf_get_socket_cookie from iter/tcp */
	FEATURE_NETNS_COOKIE,      /* getsockopt SO_NETNS_COOKIE */
	FEATURE_KCONFIG,           /* the kernel's build configuration, for CONFIG_HZ */
	FEATURE_APP_EVENTS,        /* tp_btf/sock_send_length and sock_recv_length */
	FEATURE_SOCKET_STORAGE,    /* socket storage from tp_btf, iter/tcp and sockops */
	FEATURE_STORAGE_ITER,      /* iter/bpf_sk_storage_map */
	FEATURE_ITER_SETSOCKOPT,   /* bpf_setsockopt from iter/tcp */
	FEATURE_SOCKOPS_CALLBACKS, /* bpf_setsockopt on a sockops RTT callback */
	FEATURE_TASK_FILE_ITER,    /* iter/task_file */
	FEATURE_ITER_CB_FLAGS,     /* bpf_setsockopt(TCP_BPF_SOCK_OPS_CB_FLAGS) from iter/tcp */
	FEATURE_MAX,
};

struct feature_desc {
	const char *name;  /* as status, /metrics and TCPTUNE_FEATURES_OFF spell it */
	const char *what;  /* what it is, for a person */
	const char *since; /* the first Linux release that has it (NULL: not a matter of release) */
	bool required;
};

extern const struct feature_desc feature_desc[FEATURE_MAX];

enum feature_state {
	FEATURE_MISSING, /* probed: the kernel refused it */
	FEATURE_PRESENT,
	FEATURE_FORCED_OFF, /* not probed: turned off by TCPTUNE_FEATURES_OFF */
};

struct features {
	char kernel[65]; /* uname release */
	enum feature_state state[FEATURE_MAX];
	int error[FEATURE_MAX]; /* the probe's -errno where missing */
	/* without the kernel's configuration: CONFIG_HZ measured from the jiffies clock */
	unsigned int config_hz;
	bool config_hz_assumed; /* ... or, with no clock to read, Debian's 250 */
};

/* How connections are refreshed between full passes. */
enum collect_mode {
	COLLECT_EVENTS,         /* applications' writes and reads list them each tick */
	COLLECT_WALK_EACH_TICK, /* a walk pass every tick */
	COLLECT_FULL_EACH_TICK, /* a full pass every tick, nothing marked */
};

/* What a walk pass runs. */
enum walk_mode {
	WALK_STORAGE_ITER, /* iter/bpf_sk_storage_map over the marks, once */
	WALK_TCP_ITER,     /* iter/tcp in each namespace, refreshing marked sockets */
	WALK_FULL,         /* no marks: a full pass */
};

/* How targets reach live connections. */
enum writeback_mode {
	WRITEBACK_PASSES,    /* iter/tcp targets passes */
	WRITEBACK_CALLBACKS, /* sockops RTT callbacks: senders only */
	WRITEBACK_NONE,      /* only at establishment */
};

struct feature_plan {
	bool marks;             /* the "marks" socket storage is used */
	bool app_events;        /* the write/read tracepoint programs are loaded */
	bool owners;            /* the owners' pids and names are found */
	bool iter_cookie;       /* iter/tcp gives a socket its cookie (else reads it) */
	bool netns_by_inode;    /* namespaces keyed by inode number, not cookie */
	unsigned int config_hz; /* CONFIG_HZ to give libbpf, 0: it reads the kernel's */
	enum collect_mode collect;
	enum walk_mode walk;
	enum writeback_mode writeback;
	/* RTT callbacks only on connections whose send buffer tcptune set (else on every
	 * connection) */
	bool callbacks_on_demand;
	int refused; /* a required feature that is missing, or -1 */
};

bool feature_on(const struct features *f, enum feature feature);
/* Why a feature is not on: what its probe returned, or that a test
 * turned it off. */
const char *feature_why(const struct features *f, enum feature feature);
void features_plan(const struct features *f, struct feature_plan *plan);

/* Marks the features named in list (comma-separated, e.g. the environment's
 * TCPTUNE_FEATURES_OFF) forced off. Returns 0, or -1 with the unknown name
 * in bad (a required feature cannot be turned off). */
int features_force_off(struct features *f, const char *list, char *bad, size_t len);

/* One line: the missing required feature, what has it, and what to do. */
void features_refusal(const struct features *f, enum feature missing, char *buf, size_t len);

/* What each missing feature changed, one sentence each; NULL past the last. */
const char *feature_fallback(enum feature feature);

/* A missing optional feature whose fallback the plan takes (some matter
 * only where another feature is there). */
bool feature_fallback_taken(const struct features *f, enum feature feature);

/* For status: text lines ("kernel: ...", "feature: ...", "fallback: ...")
 * or one JSON object (the value of "kernel"). */
void features_render(FILE *out, const struct features *f, bool json);

/* Which connections get sockops RTT callbacks while tuning. */
const char *rtt_callbacks_name(const struct feature_plan *plan);

extern const char *const collect_mode_name[];
extern const char *const walk_mode_name[];
extern const char *const writeback_mode_name[];

#endif
