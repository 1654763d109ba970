// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Lifecycle from the inet_sock_set_state tracepoint: the entry goes the moment
 * the connection reaches TCP_CLOSE, so churn cannot grow the map.
 *
 * The figures themselves are refreshed by iter.bpf.c once per agent pass, not
 * per packet: a per-ACK tracepoint (tcp_probe) cost 14% of loopback iperf3
 * throughput here (bench/overhead.sh), while the agent only acts per tick. */
#include "flow.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
	if (cookie && bpf_map_delete_elem(&flows, &cookie) == 0)
		count(CNT_FLOWS_DELETED);
	return 0;
}
