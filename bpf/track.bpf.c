// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Lifecycle from the inet_sock_set_state tracepoint: every state change of a
 * tracked connection is recorded as it happens, and the entry goes when the
 * connection reaches TCP_CLOSE, so churn cannot grow the map.
 *
 * The figures themselves are refreshed by iter.bpf.c once per agent pass, not
 * per packet: a per-ACK tracepoint (tcp_probe) cost 14% of loopback iperf3
 * throughput here (bench/overhead.sh), while the agent only acts per tick. */
#include "flow.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	struct conn_stats *f;
	__u64 cookie;

	/* Entries are made after the move to ESTABLISHED (sockops runs later), so
	 * only the moves out of it matter: SYN_SENT, SYN_RECV, LISTEN and
	 * ESTABLISHED itself return here, half of all state changes. */
	if (newstate <= TCP_SYN_RECV || newstate == TCP_LISTEN || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	/* read, not bpf_get_socket_cookie(): that would give every untracked
	 * socket a cookie; a tracked one got its cookie when its entry was made */
	cookie = sk->__sk_common.skc_cookie.counter;
	if (!cookie)
		return 0;
	if (newstate == TCP_CLOSE) {
		if (bpf_map_delete_elem(&flows, &cookie) == 0)
			count(CNT_FLOWS_DELETED);
		return 0;
	}
	f = bpf_map_lookup_elem(&flows, &cookie);
	if (f)
		f->state = newstate;
	return 0;
}
