/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Write-back shared by iter.bpf.c (live connections, each pass) and
 * sockops.bpf.c (new connections, from learned per-destination sizes).
 * The maps are written by the agent, but any root process could write them:
 * sizes outside [min_buf, max_buf] are refused here as well. */
#ifndef TUNE_BPF_H
#define TUNE_BPF_H
#include "flow.bpf.h"

#define SOL_SOCKET 1
#define SO_SNDBUF 7
#define SO_RCVBUF 8
#define SOL_TCP 6
#define TCP_WINDOW_CLAMP 10
#define TCP_NOTSENT_LOWAT 25
#define SOCK_SNDBUF_LOCK 1
#define SOCK_RCVBUF_LOCK 2

/* Set by the agent: off in --observe mode (targets are computed and shown,
 * never applied), and its configured bounds in sk-level bytes. */
const volatile bool tune_enabled = false;
const volatile __u32 min_buf = 0;
const volatile __u32 max_buf = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCPTUNE_DEFAULT_MAX_FLOWS);
	__type(key, __u64); /* socket cookie */
	__type(value, struct conn_target);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCPTUNE_MAX_DESTS);
	__type(key, struct dest_map_key);
	__type(value, struct conn_target);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dest_sizes SEC(".maps");

static __always_inline bool size_valid(__u32 size)
{
	return tune_enabled && size >= min_buf && size <= max_buf;
}

/* What setsockopt needs for sk_sndbuf/sk_rcvbuf == size: the kernel doubles. */
static __always_inline int setsockopt_value(__u32 size)
{
	return (int)(size / 2);
}

#endif
