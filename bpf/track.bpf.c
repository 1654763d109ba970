// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Collection: keep each tracked connection's entry fresh from TCP
 * tracepoints, and drop it when the connection closes. Entries are created
 * by sockops.bpf.c (new connections, scoped by cgroup attachment) and
 * iter.bpf.c (connections open before the agent started); these programs
 * only update what exists, so scoping needs no work here. */
#include "flow.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline struct conn_stats *refresh(struct sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	__u64 cookie;
	struct conn_stats *f;

	if (!tp)
		return NULL;
	cookie = bpf_get_socket_cookie(sk);
	f = bpf_map_lookup_elem(&flows, &cookie);
	if (f)
		flow_refresh(f, tp);
	return f;
}

/* Every segment received on an established socket: ACKs on a sender,
 * data on a receiver. */
SEC("tp_btf/tcp_probe")
int BPF_PROG(tcp_probe, struct sock *sk, struct sk_buff *skb)
{
	refresh(sk);
	return 0;
}

/* Process context, so the current task owns the socket. */
static __always_inline void refresh_owner(struct sock *sk)
{
	struct conn_stats *f = refresh(sk);

	if (f && !f->pid) {
		f->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(f->comm, sizeof(f->comm));
	}
}

/* Called from recvmsg. */
SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(tcp_rcv_space_adjust, struct sock *sk)
{
	refresh_owner(sk);
	return 0;
}

/* Called from sendmsg. */
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(tcp_sendmsg_locked, const struct sock *sk, const struct msghdr *msg,
	     const struct sk_buff *skb, int size_goal)
{
	refresh_owner((struct sock *)sk);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	__u64 cookie;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate != TCP_CLOSE) {
		struct conn_stats *f = refresh(sk);

		/* the tracepoint fires before the state is written */
		if (f)
			f->state = newstate;
		return 0;
	}
	cookie = bpf_get_socket_cookie(sk);
	if (bpf_map_delete_elem(&flows, &cookie) == 0)
		count(CNT_FLOWS_DELETED);
	return 0;
}
