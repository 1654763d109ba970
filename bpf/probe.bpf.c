// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* An object of its own: probing must load where the agent's object would not
 * (the kernel refuses an object as a whole), one program at a time.
 *
 * One minimal program per kernel feature the agent's programs use. The agent
 * loads them one at a time at start (agent/runtime/probe.c) to learn what this
 * kernel allows, then loads its own object (tcptune.bpf.c) with the programs
 * and code paths that kernel takes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SOL_TCP 6
#define TCP_NOTSENT_LOWAT 25

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} probe_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ring SEC(".maps");

/* the close of a connection: track.bpf.c */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_state_tracepoint, struct sock *sk, int oldstate, int newstate)
{
	__u64 v = 0;

	bpf_ringbuf_output(&probe_ring, &v, sizeof(v), BPF_RB_NO_WAKEUP);
	return 0;
}

/* an application's writes and reads (Linux 6.2) */
SEC("tp_btf/sock_send_length")
int BPF_PROG(probe_send_tracepoint, struct sock *sk, int ret)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(probe_recv_tracepoint, struct sock *sk, int ret)
{
	return 0;
}

/* socket storage from a tracing program (Linux 5.11) */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_tracing_storage, struct sock *sk, int oldstate, int newstate)
{
	bpf_sk_storage_get(&probe_storage, sk, NULL, 0);
	return 0;
}

/* the passes over every socket of a namespace (Linux 5.9) */
SEC("iter/tcp")
int probe_tcp_iter(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;

	if (skc)
		bpf_skc_to_tcp_sock(skc);
	return 0;
}

/* ... which give a socket its cookie (Linux 5.12) */
SEC("iter/tcp")
int probe_iter_cookie(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;

	if (skc)
		bpf_get_socket_cookie(skc);
	return 0;
}

/* ... which take socket storage there too (Linux 5.11) */
SEC("iter/tcp")
int probe_iter_storage(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp = skc ? bpf_skc_to_tcp_sock(skc) : NULL;

	if (tp)
		bpf_sk_storage_get(&probe_storage, tp, NULL, 0);
	return 0;
}

/* ... and set a live socket's options (Linux 5.14) */
SEC("iter/tcp")
int probe_iter_setsockopt(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp = skc ? bpf_skc_to_tcp_sock(skc) : NULL;
	int val = 0;

	if (tp)
		bpf_setsockopt(tp, SOL_TCP, TCP_NOTSENT_LOWAT, &val, sizeof(val));
	return 0;
}

/* ... and turn a socket's sockops callbacks on (Linux 6.12). The verifier
 * does not check option names, so this one is run, on a socket of the
 * agent's (probe_port), and its result read back. */
#define TCP_BPF_SOCK_OPS_CB_FLAGS 1008

__u16 probe_port = 0;
int probe_result = 1; /* 1: the socket was not visited; else setsockopt's return */

SEC("iter/tcp")
int probe_iter_cb_flags(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	int flags;

	if (!skc || skc->skc_num != probe_port)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	flags = tp->bpf_sock_ops_cb_flags;
	probe_result =
		bpf_setsockopt(tp, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags));
	return 0;
}

/* the walk over the tracked sockets' storage (Linux 5.9; some kernels refuse
 * map-element iterators by policy) */
SEC("iter/bpf_sk_storage_map")
int probe_storage_iter(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	return 0;
}

/* the owners of sockets (Linux 5.8) */
SEC("iter/task_file")
int probe_task_file_iter(struct bpf_iter__task_file *ctx)
{
	return 0;
}

/* sockops reading the full socket (sockops.bpf.c) */
SEC("sockops")
int probe_sockops_sock(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct tcp_sock *tp = sk ? bpf_skc_to_tcp_sock(sk) : NULL;

	return tp ? (int)tp->snd_cwnd & 1 : 1;
}

/* ... and its storage */
SEC("sockops")
int probe_sockops_storage(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct tcp_sock *tp = sk ? bpf_skc_to_tcp_sock(sk) : NULL;

	if (tp)
		bpf_sk_storage_get(&probe_storage, tp, NULL, 0);
	return 1;
}

/* sockops setting options on its callbacks */
SEC("sockops")
int probe_sockops_setsockopt(struct bpf_sock_ops *skops)
{
	int val = 0;

	if (skops->op == BPF_SOCK_OPS_RTT_CB)
		bpf_setsockopt(skops, SOL_TCP, TCP_NOTSENT_LOWAT, &val, sizeof(val));
	else
		bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_RTT_CB_FLAG);
	return 1;
}
