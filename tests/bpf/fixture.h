/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the BPF tests (tests/bpf/test_bpf_*.c) share, in the manner of the
 * kernel's BPF selftests: the agent's BPF object loaded and attached by the
 * agent's own loader (agent/runtime/loader.c) as `tcptune run --cgroup`
 * would, its sockops program on a cgroup made for the test, two network
 * namespaces joined by veth with real TCP connections between them, and the
 * agent's passes (agent/runtime/collect.c). Tests assert on the maps.
 *
 * Everything made is removed again at the end: after a failed assertion
 * (cmocka runs the teardowns), when the setup fails half-way, and on
 * SIGINT, SIGTERM or SIGHUP. */
#ifndef TCPTUNE_BPF_FIXTURE_H
#define TCPTUNE_BPF_FIXTURE_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <linux/types.h>
#include "core/kernel_features.h"
#include "runtime/collect.h"
#include "runtime/loader.h"
#include "tcptune.h"

enum side { CLIENT, SERVER, SIDES };

/* A TCP connection between the two namespaces: both ends are the test's. */
struct conn {
	int fd[SIDES];
	__u64 cookie[SIDES]; /* SO_COOKIE: each end's key in flows and targets */
	int family;
};

#define FIXTURE_MAX_CONNS 4

struct bpf_fixture {
	struct features features; /* what the probe found */
	struct feature_plan plan; /* and the agent's plan on it: what the tests may expect */
	struct loader ld;
	struct collector col;
	__u64 pass;             /* the last pass number given to collect.c */
	__u64 netns_id[SIDES];  /* each namespace as the BPF programs key it */
	__u64 cgroup_id;        /* the test's cgroup */
	__u32 min_buf, max_buf; /* the sizes the programs accept from the maps */
	struct conn conns[FIXTURE_MAX_CONNS];
	int nconns;
	/* what the setup made, for the cleanup */
	char ns_name[SIDES][32];
	bool ns_made[SIDES];
	int home_netns_fd;
	char cgroup_path[4096];
	char home_cgroup[4096]; /* where the process came from */
	struct cgroup_scope scope;
	bool cgroup_made, cgroup_entered;
	bool loaded, collecting;
	int lock_fd;
};

/* The test program's main: fails (1) unless run as root, skips (77, with
 * the reason) while an agent runs, and otherwise runs the tests with the
 * fixture set up around them, cleared after each test (conn_open).
 * Returns the exit status. */
int fixture_main(const char *name, const struct CMUnitTest *tests, size_t ntests);

/* One side's address (struct in_addr or in6_addr) into addr. */
void fixture_addr(enum side side, int family, void *addr);

/* A connection from the client namespace to the server's. client_sndbuf:
 * SO_SNDBUF set by the application before it connects (0: none). Fails the
 * test if it cannot be made. After each test its connections are aborted,
 * and what it wrote into targets and dest_sizes is removed. */
struct conn *conn_open(struct bpf_fixture *fx, int family, int client_sndbuf);
/* Close one end (SO_LINGER 0: abort it with a reset, else an orderly close). */
void conn_close(struct conn *c, enum side side, bool abort);

/* Send n bytes from the client; the server reads them all as they come
 * (read) or none (then n must fit in its receive window). Returns when
 * every byte is acknowledged. */
void conn_send(struct conn *c, size_t n, bool read);
/* Read n bytes that are waiting at the server. */
void conn_recv(struct conn *c, size_t n);

/* An int socket option, as the application sees it (fails the test if
 * getsockopt does). */
int sock_int_opt(int fd, int level, int name);
/* The socket's TCP_INFO: what its entry's figures are taken to match. */
struct tcp_info;
void sock_tcp_info(int fd, struct tcp_info *info);

/* The end's flows entry into *out: 0, or -ENOENT when it has none. */
int flow_get(struct bpf_fixture *fx, __u64 cookie, struct conn_stats *out);
/* Wait up to timeout_ms for the end's entry to be removed; true once it is. */
bool flow_wait_gone(struct bpf_fixture *fx, __u64 cookie, int timeout_ms);

/* One pass of the agent's collector, as a tick runs it; *res as collect_pass
 * gives it. Fails the test if the pass fails. */
void fixture_pass(struct bpf_fixture *fx, enum pass_kind kind, struct pass_result *res);
/* The agent's targets pass (collect_apply) in one side's namespace. */
void fixture_targets_pass(struct bpf_fixture *fx, enum side side);
/* A counter of the "counters" map, summed over CPUs. */
__u64 fixture_counter(struct bpf_fixture *fx, enum tcptune_counter counter);
/* The connection's entry in a pass's table, or NULL. */
const struct flow *pass_flow(const struct pass_result *res, __u64 cookie);

/* cmocka's skip(), with the reason printed first. */
#define skip_because(...)                               \
	do {                                            \
		print_message("skipped: " __VA_ARGS__); \
		print_message("\n");                    \
		skip();                                 \
	} while (0)

#endif
