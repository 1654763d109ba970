// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The write-back (bpf/tune.bpf.h): a target the agent writes into
 * "targets" is applied to the live socket by the targets pass (iter/tcp in
 * the connection's namespace, bpf/iter.bpf.c), once; targets outside the
 * bounds, on a buffer the application owns or of an observed connection are
 * not; and sizes learned for a destination ("dest_sizes") are given to new
 * connections by sockops. Checked with getsockopt on the real sockets. */
#include "fixture.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

/* Sizes no socket of the test has by itself, within the agent's default
 * bounds and below any net.core.wmem_max / rmem_max (212,992 on a stock
 * host): the kernel sets half of them and doubles that. */
#define TARGET_SNDBUF 73728
#define TARGET_RCVBUF 90112
#define TARGET_LOWAT 16384
#define TARGET_CLAMP 40000

static void target_write(struct bpf_fixture *fx, __u64 cookie, const struct conn_target *t)
{
	assert_int_equal(bpf_map_update_elem(fx->ld.targets_fd, &cookie, t, BPF_ANY), 0);
}

static struct conn_target full_target(void)
{
	return (struct conn_target){ .sndbuf = TARGET_SNDBUF,
				     .rcvbuf = TARGET_RCVBUF,
				     .notsent_lowat = TARGET_LOWAT,
				     .window_clamp = TARGET_CLAMP,
				     .change_ns = monotonic_ns() };
}

/* A pass in another namespace does not reach the socket (an iterator
 * walks its own namespace); the pass in its namespace applies every part,
 * counted, refreshes the entry, and locks the buffers; a second pass finds
 * it all in force. The other end is left alone. */
static void target_applied(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c = conn_open(fx, AF_INET, 0);
	int fd = c->fd[CLIENT], server_sndbuf = sock_int_opt(c->fd[SERVER], SOL_SOCKET, SO_SNDBUF);
	struct conn_target t = full_target();
	__u64 applied = fixture_counter(fx, CNT_APPLIED);
	struct conn_stats s;

	assert_int_not_equal(sock_int_opt(fd, SOL_SOCKET, SO_SNDBUF), TARGET_SNDBUF);
	assert_int_not_equal(sock_int_opt(fd, SOL_SOCKET, SO_RCVBUF), TARGET_RCVBUF);
	target_write(fx, c->cookie[CLIENT], &t);
	fixture_targets_pass(fx, SERVER);
	assert_int_not_equal(sock_int_opt(fd, SOL_SOCKET, SO_SNDBUF), TARGET_SNDBUF);
	assert_int_equal(fixture_counter(fx, CNT_APPLIED), applied);

	fixture_targets_pass(fx, CLIENT);
	assert_int_equal(sock_int_opt(fd, SOL_SOCKET, SO_SNDBUF), TARGET_SNDBUF);
	assert_int_equal(sock_int_opt(fd, SOL_SOCKET, SO_RCVBUF), TARGET_RCVBUF);
	assert_int_equal(sock_int_opt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT), TARGET_LOWAT);
	assert_int_equal(sock_int_opt(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP), TARGET_CLAMP);
	/* the two buffers and TCP_NOTSENT_LOWAT */
	assert_int_equal(fixture_counter(fx, CNT_APPLIED), applied + 3);
	assert_int_equal(flow_get(fx, c->cookie[CLIENT], &s), 0);
	assert_int_equal(s.sndbuf, TARGET_SNDBUF);
	assert_int_equal(s.rcvbuf, TARGET_RCVBUF);
	assert_int_equal(s.notsent_lowat, TARGET_LOWAT);
	assert_int_equal(s.buf_locks, 3); /* SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK: tcptune's now */
	assert_int_equal(s.app_locks, 0);
	assert_int_equal(s.seen_pass, fx->pass);

	fixture_targets_pass(fx, CLIENT);
	assert_int_equal(fixture_counter(fx, CNT_APPLIED), applied + 3);
	assert_int_equal(sock_int_opt(c->fd[SERVER], SOL_SOCKET, SO_SNDBUF), server_sndbuf);
}

/* Sizes outside [min_buf, max_buf], as another root process could write
 * them, are refused and counted; the socket keeps its buffers. */
static void target_outside_bounds_refused(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c = conn_open(fx, AF_INET, 0);
	int fd = c->fd[CLIENT], sndbuf = sock_int_opt(fd, SOL_SOCKET, SO_SNDBUF);
	int rcvbuf = sock_int_opt(fd, SOL_SOCKET, SO_RCVBUF);
	struct conn_target t = { .sndbuf = fx->max_buf + 2,
				 .rcvbuf = fx->min_buf - 2,
				 .change_ns = monotonic_ns() };
	__u64 applied = fixture_counter(fx, CNT_APPLIED);
	__u64 refused = fixture_counter(fx, CNT_REFUSED);

	target_write(fx, c->cookie[CLIENT], &t);
	fixture_targets_pass(fx, CLIENT);
	assert_int_equal(fixture_counter(fx, CNT_REFUSED), refused + 2);
	assert_int_equal(fixture_counter(fx, CNT_APPLIED), applied);
	assert_int_equal(sock_int_opt(fd, SOL_SOCKET, SO_SNDBUF), sndbuf);
	assert_int_equal(sock_int_opt(fd, SOL_SOCKET, SO_RCVBUF), rcvbuf);
}

/* A send buffer the application set before connecting stays its own: the
 * target for it is refused, the receive buffer's applied. */
static void target_refused_on_app_buffer(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c = conn_open(fx, AF_INET, 65536);
	int fd = c->fd[CLIENT], sndbuf = sock_int_opt(fd, SOL_SOCKET, SO_SNDBUF);
	struct conn_target t = { .sndbuf = TARGET_SNDBUF,
				 .rcvbuf = TARGET_RCVBUF,
				 .change_ns = monotonic_ns() };
	__u64 refused = fixture_counter(fx, CNT_REFUSED);

	target_write(fx, c->cookie[CLIENT], &t);
	fixture_targets_pass(fx, CLIENT);
	assert_int_equal(sock_int_opt(fd, SOL_SOCKET, SO_SNDBUF), sndbuf);
	assert_int_equal(sock_int_opt(fd, SOL_SOCKET, SO_RCVBUF), TARGET_RCVBUF);
	assert_int_equal(fixture_counter(fx, CNT_REFUSED), refused + 1);
}

/* An observed connection's target is shown, never applied. */
static void observed_target_not_applied(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c = conn_open(fx, AF_INET, 0);
	int fd = c->fd[CLIENT], sndbuf = sock_int_opt(fd, SOL_SOCKET, SO_SNDBUF);
	struct conn_target t = full_target();
	__u64 applied = fixture_counter(fx, CNT_APPLIED);

	t.flags = TARGET_OBSERVE;
	target_write(fx, c->cookie[CLIENT], &t);
	fixture_targets_pass(fx, CLIENT);
	assert_int_equal(sock_int_opt(fd, SOL_SOCKET, SO_SNDBUF), sndbuf);
	assert_int_equal(fixture_counter(fx, CNT_APPLIED), applied);
}

/* Sizes learned for the client's (cgroup, /24) are set by sockops when a
 * connection is established, on both ends (each one's remote is in the
 * other's /24); only once the agent says it learned some. */
static void learned_sizes_at_establishment(void **state)
{
	struct bpf_fixture *fx = *state;
	struct dest_map_key key = { .cgroup_id = fx->cgroup_id, .family = AF_INET };
	struct conn_target sizes = { .sndbuf = TARGET_SNDBUF, .rcvbuf = TARGET_RCVBUF };
	__u64 at_start = fixture_counter(fx, CNT_APPLIED_AT_START);
	struct conn *c;
	__u8 client[4];

	fixture_addr(CLIENT, AF_INET, client);
	memcpy(key.prefix, client, 3); /* the /24 */
	assert_int_equal(bpf_map_update_elem(fx->ld.dests_fd, &key, &sizes, BPF_ANY), 0);
	c = conn_open(fx, AF_INET, 0);
	assert_int_not_equal(sock_int_opt(c->fd[CLIENT], SOL_SOCKET, SO_SNDBUF), TARGET_SNDBUF);
	assert_int_equal(fixture_counter(fx, CNT_APPLIED_AT_START), at_start);

	*loader_dests_learned(&fx->ld) = 1;
	c = conn_open(fx, AF_INET, 0);
	for (int side = CLIENT; side < SIDES; side++) {
		assert_int_equal(sock_int_opt(c->fd[side], SOL_SOCKET, SO_SNDBUF), TARGET_SNDBUF);
		assert_int_equal(sock_int_opt(c->fd[side], SOL_SOCKET, SO_RCVBUF), TARGET_RCVBUF);
	}
	assert_int_equal(fixture_counter(fx, CNT_APPLIED_AT_START), at_start + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(target_applied),
		cmocka_unit_test(target_outside_bounds_refused),
		cmocka_unit_test(target_refused_on_app_buffer),
		cmocka_unit_test(observed_target_not_applied),
		cmocka_unit_test(learned_sizes_at_establishment),
	};

	return fixture_main("bpf_targets", tests, sizeof(tests) / sizeof(tests[0]));
}
