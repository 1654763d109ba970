// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* A connection's entry in "flows" from establishment to close: sockops
 * makes it with the connection's identity (bpf/sockops.bpf.c, flow_record
 * in bpf/flow.bpf.h), and the inet_sock_set_state tracepoint removes it when
 * the connection reaches TCP_CLOSE (bpf/track.bpf.c), by an orderly close or
 * a reset, and lists the close in "moved" for the agent. */
#include "fixture.h"
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

/* How long the last ACK of a close or a reset may take to arrive. */
#define CLOSE_TIMEOUT_MS 2000

/* The address (its length in *len) and the port of a socket address. */
static const void *sockaddr_ip(const struct sockaddr_storage *ss, size_t *len, __u16 *port)
{
	const struct sockaddr_in6 *sin6 = (const void *)ss;
	const struct sockaddr_in *sin = (const void *)ss;

	if (ss->ss_family == AF_INET) {
		*len = sizeof(sin->sin_addr);
		*port = ntohs(sin->sin_port);
		return &sin->sin_addr;
	}
	*len = sizeof(sin6->sin6_addr);
	*port = ntohs(sin6->sin6_port);
	return &sin6->sin6_addr;
}

/* The entry's addresses and ports are the socket's own. */
static void assert_identity(const struct conn_stats *s, int fd, int family)
{
	struct sockaddr_storage local, peer;
	socklen_t len = sizeof(local);
	const void *local_ip, *peer_ip;
	__u16 local_port, peer_port;
	size_t ip_len;

	assert_int_equal(getsockname(fd, (struct sockaddr *)&local, &len), 0);
	len = sizeof(peer);
	assert_int_equal(getpeername(fd, (struct sockaddr *)&peer, &len), 0);
	local_ip = sockaddr_ip(&local, &ip_len, &local_port);
	peer_ip = sockaddr_ip(&peer, &ip_len, &peer_port);
	assert_int_equal(s->family, family);
	assert_int_equal(local.ss_family, family);
	assert_memory_equal(s->saddr, local_ip, ip_len);
	assert_memory_equal(s->daddr, peer_ip, ip_len);
	assert_int_equal(s->sport, local_port);
	assert_int_equal(s->dport, peer_port);
}

/* Both ends of a new connection have an entry: identity, namespace,
 * cgroup, state; the figures wait for a pass or an application's write.
 * The server's entry says ESTABLISHED too, though the passive side's
 * callback runs just before the kernel sets its socket so
 * (tcp_rcv_state_process). */
static void entry_on_established(struct bpf_fixture *fx, int family)
{
	__u64 created = fixture_counter(fx, CNT_FLOWS_CREATED);
	struct conn *c = conn_open(fx, family, 0);
	struct conn_stats s;

	for (int side = CLIENT; side < SIDES; side++) {
		assert_int_equal(flow_get(fx, c->cookie[side], &s), 0);
		assert_identity(&s, c->fd[side], family);
		assert_int_equal(s.netns_cookie, fx->netns_id[side]);
		assert_int_equal(s.cgroup_id, fx->cgroup_id);
		assert_int_equal(s.state, CONN_ESTABLISHED);
		assert_int_equal(s.app_locks, 0);
		assert_true(s.created_ns > 0 && s.created_ns <= monotonic_ns());
		assert_int_equal(s.updated_ns, 0);
		assert_int_equal(s.seen_pass, 0);
	}
	assert_int_equal(fixture_counter(fx, CNT_FLOWS_CREATED), created + 2);
	fixture_pass(fx, PASS_FULL, &(struct pass_result){ 0 });
	assert_int_equal(flow_get(fx, c->cookie[SERVER], &s), 0);
	assert_int_equal(s.state, CONN_ESTABLISHED);
}

static void entry_on_established_v4(void **state)
{
	entry_on_established(*state, AF_INET);
}

static void entry_on_established_v6(void **state)
{
	entry_on_established(*state, AF_INET6);
}

/* An application that set its own buffer before connecting: the entry
 * keeps that lock bit, which keeps the buffer the application's. */
static void entry_keeps_app_locks(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c = conn_open(fx, AF_INET, 65536);
	struct conn_stats s;

	assert_int_equal(flow_get(fx, c->cookie[CLIENT], &s), 0);
	assert_int_equal(s.app_locks, 1); /* SOCK_SNDBUF_LOCK */
	assert_int_equal(flow_get(fx, c->cookie[SERVER], &s), 0);
	assert_int_equal(s.app_locks, 0);
}

/* Both ends closed (then the last ACK, the client's in TIME_WAIT): both
 * entries go, each counted, and an events pass drops them from the
 * agent's table from the close records alone. */
static void entry_removed_on_close(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c = conn_open(fx, AF_INET, 0);
	__u64 deleted = fixture_counter(fx, CNT_FLOWS_DELETED);
	struct pass_result res;

	fixture_pass(fx, PASS_FULL, &res);
	assert_non_null(pass_flow(&res, c->cookie[CLIENT]));
	assert_non_null(pass_flow(&res, c->cookie[SERVER]));
	conn_close(c, CLIENT, false);
	conn_close(c, SERVER, false);
	assert_true(flow_wait_gone(fx, c->cookie[CLIENT], CLOSE_TIMEOUT_MS));
	assert_true(flow_wait_gone(fx, c->cookie[SERVER], CLOSE_TIMEOUT_MS));
	assert_int_equal(fixture_counter(fx, CNT_FLOWS_DELETED), deleted + 2);
	fixture_pass(fx, PASS_EVENTS, &res);
	assert_null(pass_flow(&res, c->cookie[CLIENT]));
	assert_null(pass_flow(&res, c->cookie[SERVER]));
}

/* The socket's TCP state, as TCP_INFO gives it. */
static int tcp_state(int fd)
{
	struct tcp_info info;

	sock_tcp_info(fd, &info);
	return info.tcpi_state;
}

/* A half-closed connection is still tracked: only TCP_CLOSE removes it,
 * and a pass refreshes the state of each end. */
static void entry_kept_while_half_closed(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c = conn_open(fx, AF_INET, 0);
	struct conn_stats s;
	char byte;

	assert_int_equal(shutdown(c->fd[CLIENT], SHUT_WR), 0);
	/* the end of the stream has reached the server, and its (maybe
	 * delayed) ACK the client */
	assert_int_equal(recv(c->fd[SERVER], &byte, 1, 0), 0);
	for (int ms = 0; ms < CLOSE_TIMEOUT_MS && tcp_state(c->fd[CLIENT]) != CONN_FIN_WAIT2; ms++)
		poll(NULL, 0, 1);
	fixture_pass(fx, PASS_FULL, &(struct pass_result){ 0 });
	assert_int_equal(flow_get(fx, c->cookie[CLIENT], &s), 0);
	assert_int_equal(s.state, CONN_FIN_WAIT2);
	assert_int_equal(flow_get(fx, c->cookie[SERVER], &s), 0);
	assert_int_equal(s.state, CONN_CLOSE_WAIT);
}

/* A reset closes both ends at once: both entries go although the server
 * has not closed its socket. */
static void entry_removed_on_reset(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c = conn_open(fx, AF_INET, 0);
	__u64 deleted = fixture_counter(fx, CNT_FLOWS_DELETED);
	struct conn_stats s;

	conn_close(c, CLIENT, true);
	assert_true(flow_wait_gone(fx, c->cookie[CLIENT], CLOSE_TIMEOUT_MS));
	assert_true(flow_wait_gone(fx, c->cookie[SERVER], CLOSE_TIMEOUT_MS));
	assert_int_equal(fixture_counter(fx, CNT_FLOWS_DELETED), deleted + 2);
	assert_int_equal(flow_get(fx, c->cookie[SERVER], &s), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(entry_on_established_v4),
		cmocka_unit_test(entry_on_established_v6),
		cmocka_unit_test(entry_keeps_app_locks),
		cmocka_unit_test(entry_removed_on_close),
		cmocka_unit_test(entry_kept_while_half_closed),
		cmocka_unit_test(entry_removed_on_reset),
	};

	return fixture_main("bpf_lifecycle", tests, sizeof(tests) / sizeof(tests[0]));
}
