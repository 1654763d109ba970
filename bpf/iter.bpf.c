// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The agent's passes over sockets:
 *  - iter/tcp, a full pass in every network namespace that holds sockets,
 *    refreshes each tracked connection's figures, applies its target, picks
 *    up connections that were open before the agent started (or that a full
 *    map once turned away) and stamps every tracked socket with the pass
 *    number, so the agent can drop entries whose socket vanished without a
 *    close event; a targets pass (targets_only), in the namespaces of the
 *    agent's new targets, applies them and touches nothing else;
 *  - iter/bpf_sk_storage_map, the walk pass, refreshes the tracked sockets
 *    that moved with no system call;
 *  - iter/task_file, run when some entry has no owner yet, records the pid and
 *    comm of the process holding each tracked socket. */
#include "tune.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_CGROUP_DEPTH 32
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* The cgroup v2 subtrees in scope; none means the whole host. */
const volatile __u32 nr_scopes = 0;
const volatile __u64 scope_cgroup_ids[TCPTUNE_MAX_SCOPES] = {};

/* Written by the agent before each pass. */
__u64 pass = 0;
/* A targets pass: only the sockets whose target is not in force yet are
 * touched (reading every socket's figures was 0.9 us a socket, about what
 * the walk itself costs). */
bool targets_only = false;

/* Read by the agent, flows and top; written by the agent only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct agent_status);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} status SEC(".maps");

static __always_inline bool in_scope(const struct sock *sk)
{
	struct cgroup *cgrp = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);

	if (!nr_scopes)
		return true;
	for (int depth = 0; depth < MAX_CGROUP_DEPTH && cgrp; depth++) {
		__u64 id = BPF_CORE_READ(cgrp, kn, id);

		for (__u32 i = 0; i < TCPTUNE_MAX_SCOPES && i < nr_scopes; i++)
			if (scope_cgroup_ids[i] == id)
				return true;
		/* cgroup.self is the first member: its parent css is the parent cgroup */
		cgrp = (struct cgroup *)BPF_CORE_READ(cgrp, self.parent);
	}
	return false;
}

/* One buffer toward its target; the lock bits the application set before
 * tcptune first saw the socket keep the buffer the application's. */
static __always_inline bool apply(struct sock *sk, const struct conn_stats *f, __u32 target,
				  __u32 current, __u32 app_lock, int optname)
{
	int val;

	if (!target || target == current)
		return false;
	if (!size_valid(target) || (f->app_locks & app_lock)) {
		count(CNT_REFUSED);
		return false;
	}
	val = setsockopt_value(target);
	if (bpf_setsockopt(sk, SOL_SOCKET, optname, &val, sizeof(val)))
		return false;
	count(CNT_APPLIED);
	return true;
}

/* The agent's targets t (NULL: none) for this tracked connection (lock_sock
 * is held). True when a buffer size changed. */
static __always_inline bool apply_targets(struct sock *sk, const struct conn_target *t,
					  const struct conn_stats *f)
{
	int clamp, lowat;
	bool changed;

	if (!tune_enabled || !t || (t->flags & TARGET_OBSERVE))
		return false;
	changed = apply(sk, f, t->sndbuf, sk->sk_sndbuf, SOCK_SNDBUF_LOCK, SO_SNDBUF);
	changed |= apply(sk, f, t->rcvbuf, sk->sk_rcvbuf, SOCK_RCVBUF_LOCK, SO_RCVBUF);
	/* unsent data a writer may queue: at most max_buf, like the buffers
	 * (which also keeps it a positive int) */
	if (t->notsent_lowat && t->notsent_lowat != ((struct tcp_sock *)sk)->notsent_lowat) {
		lowat = (int)t->notsent_lowat;
		if (t->notsent_lowat <= max_buf &&
		    bpf_setsockopt(sk, SOL_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat)) == 0) {
			count(CNT_APPLIED);
			changed = true;
		} else {
			count(CNT_REFUSED);
		}
	}
	/* a raised rcvbuf does not move window_clamp by itself */
	if (t->window_clamp && !(f->app_locks & SOCK_RCVBUF_LOCK) &&
	    t->window_clamp != ((struct tcp_sock *)sk)->window_clamp) {
		clamp = (int)t->window_clamp;
		if (t->window_clamp <= max_buf)
			bpf_setsockopt(sk, SOL_TCP, TCP_WINDOW_CLAMP, &clamp, sizeof(clamp));
		else
			count(CNT_REFUSED);
	}
	return changed;
}

/* Is every part of the target the socket's already? */
static __always_inline bool target_in_force(const struct tcp_sock *tp, const struct conn_target *t)
{
	const struct sock *sk = &tp->inet_conn.icsk_inet.sk;

	return (!t->sndbuf || t->sndbuf == (__u32)sk->sk_sndbuf) &&
	       (!t->rcvbuf || t->rcvbuf == (__u32)sk->sk_rcvbuf) &&
	       (!t->notsent_lowat || t->notsent_lowat == tp->notsent_lowat) &&
	       (!t->window_clamp || t->window_clamp == tp->window_clamp);
}

/* A targets pass, on one socket of the namespace: most have no target, or
 * one in force already, and are left after one lookup. */
static __always_inline void apply_pending(struct tcp_sock *tp, __u64 cookie)
{
	struct conn_target *t = bpf_map_lookup_elem(&targets, &cookie);
	struct conn_stats *f;

	if (!t || target_in_force(tp, t))
		return;
	f = bpf_map_lookup_elem(&flows, &cookie);
	if (!f || !in_scope(&tp->inet_conn.icsk_inet.sk) || !apply_targets((struct sock *)tp, t, f))
		return;
	flow_stamp(f, tp, pass);
	/* the agent sees the new sizes, even on an idle connection: with the
	 * figures just refreshed while the ring has room. The mark is left: a
	 * pass visits a socket once, and a size set moves neither tcp_mstamp
	 * nor the state, which the walk compares */
	if (moved_room_for_figures())
		moved_output_figures(cookie, f);
	else
		moved_output(cookie, 0);
}

SEC("iter/tcp")
int tcptune_iter(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct conn_stats *f;
	struct conn_mark *m;
	struct tcp_sock *tp;
	__u64 cookie;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* request and time-wait sockets */
	if (!state_tracked(skc->skc_state))
		return 0;
	cookie = bpf_get_socket_cookie(skc);
	if (targets_only) {
		apply_pending(tp, cookie);
		return 0;
	}
	if (!in_scope(&tp->inet_conn.icsk_inet.sk))
		return 0;
	f = bpf_map_lookup_elem(&flows, &cookie);
	if (!f) {
		/* open before the agent started, or turned away by a full map:
		 * no target can exist for it yet */
		flow_record(cookie, tp, pass, true);
		m = bpf_sk_storage_get(&marks, tp, NULL, 0);
		if (m)
			mark_take(m, tp);
		return 0;
	}
	/* the new sizes reach the agent with the read of the whole map that
	 * follows this pass: nothing to list */
	if (tune_enabled)
		apply_targets((struct sock *)tp, bpf_map_lookup_elem(&targets, &cookie), f);
	flow_stamp(f, tp, pass);
	m = bpf_sk_storage_get(&marks, tp, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!m)
		return 0;
	m->cookie = cookie;
	mark_take(m, tp);
	return 0;
}

/* The walk pass: one walk over the tracked sockets of every namespace (those
 * with a mark), refreshing the entry of each that moved since its mark was
 * taken, with or without a system call. No bucket of the established hash,
 * no socket lock, no untracked socket is visited. */
SEC("iter/bpf_sk_storage_map")
int tcptune_refresh(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct conn_mark *m = ctx->value;
	struct sock *sk = ctx->sk;
	struct tcp_sock *tp;

	if (!sk || !m)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp && mark_moved(m, tp))
		mark_refresh(m, tp);
	return 0;
}

SEC("iter/task_file")
int tcptune_owners(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct conn_stats *f;
	struct socket *sock;
	struct sock *sk;
	__u64 cookie;

	if (!task || !file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	/* the cookie was assigned when the entry was created */
	cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	f = cookie ? bpf_map_lookup_elem(&flows, &cookie) : NULL;
	if (f && !f->pid) {
		f->pid = task->tgid;
		bpf_probe_read_kernel_str(f->comm, sizeof(f->comm), task->comm);
	}
	return 0;
}
