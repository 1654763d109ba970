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
#define TCP_BPF_SOCK_OPS_CB_FLAGS 1008

/* Set by the agent: off in --observe mode (targets are computed and shown,
 * never applied), and its configured bounds in sk-level bytes. */
const volatile bool tune_enabled = false;
const volatile __u32 min_buf = 0;
const volatile __u32 max_buf = 0;
/* Set by the agent where iter/tcp can turn sockops callbacks on (Linux
 * 6.12): a connection gets RTT callbacks (the send-buffer regrowth) only
 * once tcptune sets its send buffer, not from establishment on, so the
 * connections tcptune leaves to the kernel pay nothing per ACK. */
const volatile bool callbacks_on_demand = false;

static __always_inline bool size_valid(__u32 size)
{
	return tune_enabled && size >= min_buf && size <= max_buf;
}

/* What setsockopt needs for sk_sndbuf/sk_rcvbuf == size: the kernel doubles. */
static __always_inline int setsockopt_value(__u32 size)
{
	return (int)(size / 2);
}

/* Nothing to do for this buffer: no target, the target in force, or a
 * stale one (target_overtaken). from is the size the target was decided
 * from (0: any), locked whether the buffer's size is locked. */
static __always_inline bool settled(__u32 target, __u32 current, __u32 from, bool locked)
{
	return !target || target == current || target_overtaken(target, current, from, locked);
}

/* One buffer toward its target; lock is its bit of sk_userlocks (locks the
 * socket's now). The lock bits the application set before tcptune first
 * saw the socket keep the buffer the application's. */
static __always_inline bool apply(void *ctx, const struct conn_stats *f, __u32 target,
				  __u32 current, __u32 from, __u32 lock, __u32 locks, int optname)
{
	int val;

	if (settled(target, current, from, locks & lock))
		return false;
	if (!size_valid(target) || (f->app_locks & lock)) {
		count(CNT_REFUSED);
		return false;
	}
	val = setsockopt_value(target);
	if (bpf_setsockopt(ctx, SOL_SOCKET, optname, &val, sizeof(val)))
		return false;
	count(CNT_APPLIED);
	return true;
}

/* Turns a connection's sockops RTT callbacks on from iter/tcp (only where
 * callbacks_on_demand: older kernels refuse the option). */
static __always_inline void rtt_callbacks_on(void *ctx, struct tcp_sock *tp)
{
	int flags = tp->bpf_sock_ops_cb_flags;

	if (!(flags & BPF_SOCK_OPS_RTT_CB_FLAG)) {
		flags |= BPF_SOCK_OPS_RTT_CB_FLAG;
		bpf_setsockopt(ctx, SOL_TCP, TCP_BPF_SOCK_OPS_CB_FLAGS, &flags, sizeof(flags));
	}
}

/* The agent's targets t (NULL: none) for this tracked connection (lock_sock
 * is held). ctx is what bpf_setsockopt takes: the socket in iter/tcp, the
 * context in sockops. True when a buffer size changed. */
static __always_inline bool apply_targets(void *ctx, struct tcp_sock *tp,
					  const struct conn_target *t, const struct conn_stats *f)
{
	struct sock *sk = &tp->inet_conn.icsk_inet.sk;
	__u32 locks = sock_userlocks(sk);
	int clamp, lowat;
	bool changed;

	if (!tune_enabled || !t || (t->flags & TARGET_OBSERVE))
		return false;
	changed = apply(ctx, f, t->sndbuf, sk->sk_sndbuf, t->sndbuf_from, SOCK_SNDBUF_LOCK, locks,
			SO_SNDBUF);
	if (changed && callbacks_on_demand)
		rtt_callbacks_on(ctx, tp);
	changed |= apply(ctx, f, t->rcvbuf, sk->sk_rcvbuf, 0, SOCK_RCVBUF_LOCK, locks, SO_RCVBUF);
	/* unsent data a writer may queue: at most max_buf, like the buffers
	 * (which also keeps it a positive int) */
	if (t->notsent_lowat && t->notsent_lowat != tp->notsent_lowat) {
		lowat = (int)t->notsent_lowat;
		if (t->notsent_lowat <= max_buf &&
		    bpf_setsockopt(ctx, SOL_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) == 0) {
			count(CNT_APPLIED);
			changed = true;
		} else {
			count(CNT_REFUSED);
		}
	}
	/* a raised rcvbuf does not move window_clamp by itself */
	if (t->window_clamp && !(f->app_locks & SOCK_RCVBUF_LOCK) &&
	    t->window_clamp != tp->window_clamp) {
		clamp = (int)t->window_clamp;
		if (t->window_clamp <= max_buf)
			bpf_setsockopt(ctx, SOL_TCP, TCP_WINDOW_CLAMP, &clamp, sizeof(clamp));
		else
			count(CNT_REFUSED);
	}
	return changed;
}

/* Is every part of the target the socket's already (or stale)? */
static __always_inline bool target_in_force(const struct tcp_sock *tp, const struct conn_target *t)
{
	const struct sock *sk = &tp->inet_conn.icsk_inet.sk;
	__u32 locks = sock_userlocks(sk);

	return settled(t->sndbuf, sk->sk_sndbuf, t->sndbuf_from, locks & SOCK_SNDBUF_LOCK) &&
	       settled(t->rcvbuf, sk->sk_rcvbuf, 0, false) &&
	       (!t->notsent_lowat || t->notsent_lowat == tp->notsent_lowat) &&
	       (!t->window_clamp || t->window_clamp == tp->window_clamp);
}

#endif
