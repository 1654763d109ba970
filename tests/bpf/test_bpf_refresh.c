// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The figures of a connection's entry, refreshed the three ways the agent
 * has (agent/runtime/collect.c): a full pass (iter/tcp, bpf/iter.bpf.c), an
 * application's writes and reads (tp_btf sock_send_length and
 * sock_recv_length, bpf/track.bpf.c) and the walk pass over the tracked
 * sockets that moved without a system call. Each is checked against the
 * real socket. Where the kernel lacks what a way needs (the agent's probe
 * says so), that test is skipped with the reason. */
#include "fixture.h"
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

#define BULK_BYTES (256 * 1024)
/* fits in any receive window: sent while the server does not read */
#define SMALL_BYTES 8000

/* A pass refreshes every figure of both ends from the socket: after a bulk
 * transfer, all of it acknowledged and read, the figures are those of the
 * real sockets (TCP_INFO counts the SYN among the bytes acked), stamped
 * with the pass. */
static void full_pass_refreshes(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c = conn_open(fx, AF_INET, 0);
	struct conn_stats s;
	struct pass_result res;
	struct tcp_info info;
	const struct flow *f;
	__u64 before;

	conn_send(c, BULK_BYTES, true);
	before = monotonic_ns();
	fixture_pass(fx, PASS_FULL, &res);

	assert_int_equal(flow_get(fx, c->cookie[CLIENT], &s), 0);
	sock_tcp_info(c->fd[CLIENT], &info);
	assert_int_equal(s.seen_pass, fx->pass);
	assert_true(s.updated_ns >= before);
	assert_int_equal(s.state, CONN_ESTABLISHED);
	assert_true(s.bytes_acked >= BULK_BYTES);
	assert_int_equal(s.bytes_acked, info.tcpi_bytes_acked);
	assert_int_equal(s.snd_queue_bytes, 0);
	assert_int_equal(s.mss, info.tcpi_snd_mss);
	assert_int_equal(s.snd_cwnd, info.tcpi_snd_cwnd);
	assert_int_equal(s.min_rtt_us, info.tcpi_min_rtt);
	assert_true(s.srtt_us > 0);
	assert_int_equal(s.sndbuf, sock_int_opt(c->fd[CLIENT], SOL_SOCKET, SO_SNDBUF));
	assert_int_equal(s.rcvbuf, sock_int_opt(c->fd[CLIENT], SOL_SOCKET, SO_RCVBUF));
	assert_true(s.sndbuf_cap > 0 && s.rcvbuf_cap > 0);
	f = pass_flow(&res, c->cookie[CLIENT]);
	assert_non_null(f);
	assert_int_equal(f->s.bytes_acked, s.bytes_acked);

	assert_int_equal(flow_get(fx, c->cookie[SERVER], &s), 0);
	sock_tcp_info(c->fd[SERVER], &info);
	assert_int_equal(s.seen_pass, fx->pass);
	assert_int_equal(s.bytes_received, BULK_BYTES);
	assert_int_equal(s.bytes_received, info.tcpi_bytes_received);
	assert_int_equal(s.rcv_queue_bytes, 0);
	assert_int_equal(s.rcvbuf, sock_int_opt(c->fd[SERVER], SOL_SOCKET, SO_RCVBUF));
}

/* A connection with no entry (open before the agent started, or turned
 * away by a full map) is picked up by the next pass, figures and all. */
static void full_pass_picks_up_untracked(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c = conn_open(fx, AF_INET, 0);
	struct conn_stats s;
	struct pass_result res;

	assert_int_equal(bpf_map_delete_elem(fx->ld.flows_fd, &c->cookie[CLIENT]), 0);
	assert_int_equal(flow_get(fx, c->cookie[CLIENT], &s), -ENOENT);
	fixture_pass(fx, PASS_FULL, &res);
	assert_int_equal(flow_get(fx, c->cookie[CLIENT], &s), 0);
	assert_int_equal(s.seen_pass, fx->pass);
	assert_int_equal(s.netns_cookie, fx->netns_id[CLIENT]);
	assert_int_equal(s.cgroup_id, fx->cgroup_id);
	assert_int_equal(s.sndbuf, sock_int_opt(c->fd[CLIENT], SOL_SOCKET, SO_SNDBUF));
	assert_non_null(pass_flow(&res, c->cookie[CLIENT]));
}

/* A write refreshes the writer's entry at once, a read the reader's, with
 * no pass, and each lists its connection in "moved" with the figures,
 * which an events pass takes into the agent's table. */
static void writes_and_reads_refresh(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c;
	struct conn_stats s, passed;
	struct pass_result res;
	const struct flow *f;
	__u64 before, sent;

	if (!fx->plan.app_events || !fx->plan.marks)
		skip_because("this kernel has no write and read events (see tcptune status)");
	c = conn_open(fx, AF_INET, 0);
	fixture_pass(fx, PASS_FULL, &res);
	assert_int_equal(flow_get(fx, c->cookie[CLIENT], &passed), 0);
	/* what the pass found acknowledged (the SYN), and the data */
	sent = passed.bytes_acked + SMALL_BYTES;
	before = monotonic_ns();
	conn_send(c, SMALL_BYTES, false);

	assert_int_equal(flow_get(fx, c->cookie[CLIENT], &s), 0);
	assert_true(s.updated_ns >= before);
	/* whatever was acknowledged by the end of the write, the rest queued */
	assert_int_equal(s.bytes_acked + s.snd_queue_bytes, sent);
	/* the server has not read yet: its entry is as the pass left it */
	assert_int_equal(flow_get(fx, c->cookie[SERVER], &s), 0);
	assert_true(s.updated_ns < before);
	assert_int_equal(s.bytes_received, 0);

	before = monotonic_ns();
	conn_recv(c, SMALL_BYTES);
	assert_int_equal(flow_get(fx, c->cookie[SERVER], &s), 0);
	assert_true(s.updated_ns >= before);
	assert_int_equal(s.bytes_received, SMALL_BYTES);
	assert_int_equal(s.rcv_queue_bytes, 0);

	fixture_pass(fx, PASS_EVENTS, &res);
	f = pass_flow(&res, c->cookie[SERVER]);
	assert_non_null(f);
	assert_int_equal(f->s.bytes_received, SMALL_BYTES);
	f = pass_flow(&res, c->cookie[CLIENT]);
	assert_non_null(f);
	assert_int_equal(f->s.bytes_acked + f->s.snd_queue_bytes, sent);
}

/* Data that arrived at a server that did not read it moved the socket
 * without a system call: the walk refreshes that entry, and leaves the
 * entries of an idle connection as they were. */
static void walk_refreshes_what_moved(void **state)
{
	struct bpf_fixture *fx = *state;
	struct conn *c, *idle;
	struct conn_stats s, idle_before, idle_after;
	struct pass_result res;
	__u64 before;

	if (!fx->plan.marks || fx->plan.walk == WALK_FULL)
		skip_because("this kernel has no socket storage: every walk is a full pass");
	c = conn_open(fx, AF_INET, 0);
	idle = conn_open(fx, AF_INET, 0);
	fixture_pass(fx, PASS_FULL, &res);
	assert_int_equal(flow_get(fx, idle->cookie[SERVER], &idle_before), 0);
	conn_send(c, SMALL_BYTES, false);
	assert_int_equal(flow_get(fx, c->cookie[SERVER], &s), 0);
	assert_int_equal(s.bytes_received, 0);

	before = monotonic_ns();
	fixture_pass(fx, PASS_WALK, &res);
	assert_int_equal(flow_get(fx, c->cookie[SERVER], &s), 0);
	assert_true(s.updated_ns >= before);
	assert_int_equal(s.bytes_received, SMALL_BYTES);
	assert_int_equal(s.rcv_queue_bytes, SMALL_BYTES);
	assert_int_equal(flow_get(fx, idle->cookie[SERVER], &idle_after), 0);
	assert_int_equal(idle_after.updated_ns, idle_before.updated_ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_pass_refreshes),
		cmocka_unit_test(full_pass_picks_up_untracked),
		cmocka_unit_test(writes_and_reads_refresh),
		cmocka_unit_test(walk_refreshes_what_moved),
	};

	return fixture_main("bpf_refresh", tests, sizeof(tests) / sizeof(tests[0]));
}
