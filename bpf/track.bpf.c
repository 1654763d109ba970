// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Part of the agent's one BPF object (tcptune.bpf.c includes it).
 *
 * Lifecycle from the inet_sock_set_state tracepoint: the entry goes the moment
 * the connection reaches TCP_CLOSE, so churn cannot grow the map.
 *
 * Activity from the application's writes and reads (sock_send_length,
 * sock_recv_length, after the system call): per system call, not per packet
 * (a per-segment tracepoint such as tcp_probe costs a bulk flow a share of
 * its throughput), and per event a socket-storage lookup and a clock read unless the entry is due
 * a refresh (include/tcptune.h, struct conn_mark), and on a read a look at
 * the send queue. */
#include "flow.bpf.h"

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	__u64 cookie;

	/* The state itself is refreshed by each pass; here only the end matters.
	 * Every other change (half of them on the way in, the FIN states on the
	 * way out) returns at once. */
	if (newstate != TCP_CLOSE || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	/* read, not bpf_get_socket_cookie(): that would give every untracked
	 * socket a cookie; a tracked one got its cookie when its entry was made */
	cookie = sk->__sk_common.skc_cookie.counter;
	if (cookie && bpf_map_delete_elem(&flows, &cookie) == 0) {
		count(CNT_FLOWS_DELETED);
		moved_output(cookie, 1);
	}
	return 0;
}

/* Set by the agent: how stale a moving socket's entry may get (a tenth of
 * its interval), so what a tick reads is that recent. In jiffies, as the
 * agent converts it: no division on every write and read. */
__u64 refresh_jiffies = 1;

/* An application wrote to or read from the socket (its lock is held). A
 * tracked one (it has a mark) gets its entry refreshed, at most once per
 * refresh_jiffies, and is listed for the agent with those figures once per
 * tick: the first event of a tick refreshes too, so what the agent reads is
 * newer than its last tick. Refreshed again in the same tick (a busy
 * socket), it is listed once more by cookie, and the agent reads its entry
 * at the tick, as fresh as refresh_jiffies. */
static __always_inline void moved_by_app(struct sock *sk, bool read)
{
	struct conn_mark *m = bpf_sk_storage_get(&marks, sk, NULL, 0);
	struct conn_stats *f;
	struct tcp_sock *tp = NULL;

	if (!m)
		return;
	/* A read that finds everything the socket wrote acknowledged: its
	 * sends drained while it waited for the peer. That is request/response
	 * (a server reading the next request), never a bulk sender, which
	 * always has data out; the estimator keeps such a sender's buffer the
	 * kernel's. Counted on every read, refreshed or not. */
	if (read) {
		tp = bpf_skc_to_tcp_sock(sk);
		if (tp && tp->bytes_acked && tp->write_seq == tp->snd_una)
			m->drained_reads++;
	}
	/* jiffies: a load, where bpf_ktime_get_ns() reads a clock source
	 * (slow on a VM) on every write and read */
	if (m->listed_tick == tick && bpf_jiffies64() - m->refreshed_jiffies < refresh_jiffies)
		return;
	if (!read) /* a read looked the socket up above */
		tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	f = mark_refresh(m, tp);
	if (m->listed_tick != tick) {
		if (f ? moved_output_figures(m->cookie, f) : moved_output(m->cookie, 0))
			m->listed_tick = tick;
	} else if (m->relisted_tick != tick && moved_output(m->cookie, 0)) {
		m->relisted_tick = tick;
	}
}

/* After the write, not at tcp_sendmsg_locked (where the writer has just
 * been woken by freed space): a writer held back by its buffer leaves it
 * full, which is what the estimator looks for. Every socket's writes come
 * here; one without a mark returns after the storage lookup. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(tcptune_sendmsg, struct sock *sk, int ret)
{
	if (ret > 0)
		moved_by_app(sk, false);
	return 0;
}

/* After the read too: tcp_rcv_space_adjust, at the start of the function
 * that grows an autotuned receive buffer, sees it before it grows, and a
 * connection idle after its burst would keep the smaller size. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(tcptune_recvmsg, struct sock *sk, int ret)
{
	if (ret > 0)
		moved_by_app(sk, true);
	return 0;
}
