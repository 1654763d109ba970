// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Sockops, attached to each cgroup in scope: a connection established by a
 * socket of that cgroup gets its entry here. */
#include "flow.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("sockops")
int tcptune_sockops(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk;
	struct tcp_sock *tp;

	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		break;
	default:
		return 1;
	}
	sk = skops->sk;
	if (!sk)
		return 1;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 1;
	flow_record(bpf_get_socket_cookie(skops), tp, 0, false);
	return 1;
}
