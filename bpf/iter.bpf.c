// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Part of the agent's one BPF object (tcptune.bpf.c includes it).
 *
 * The agent's passes over sockets:
 *  - iter/tcp, a full pass in every network namespace that holds sockets,
 *    refreshes each tracked connection's figures, applies its target, picks
 *    up connections that were open before the agent started (or that a full
 *    map once turned away) and stamps every tracked socket with the pass
 *    number, so the agent can drop entries whose socket vanished without a
 *    close event; a targets pass (ITER_PASS_TARGETS), in the namespaces of
 *    the agent's new targets, applies them and touches nothing else;
 *  - iter/bpf_sk_storage_map, the walk pass, refreshes the tracked sockets
 *    that moved with no system call; where the kernel refuses map-element
 *    iterators, iter/tcp does it (ITER_PASS_WALK), namespace by namespace;
 *  - iter/task_file, run when some entry has no owner yet, records the pid and
 *    comm of the process holding each tracked socket. */
#include "tune.bpf.h"

#define MAX_CGROUP_DEPTH 32
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* The cgroup v2 subtrees in scope; none means the whole host. */
const volatile __u32 nr_scopes = 0;
const volatile __u64 scope_cgroup_ids[TCPTUNE_MAX_SCOPES] = {};

/* Set by the agent from what the kernel allows: bpf_setsockopt from iter/tcp
 * (Linux 5.14). Without it targets are applied by sockops callbacks. */
const volatile bool iter_writes = false;
/* ... and bpf_get_socket_cookie from iter/tcp (Linux 5.12). Without it a
 * socket's cookie is read, and one that has none yet (open before the agent,
 * never dumped by sock_diag) is not tracked. */
const volatile bool iter_cookie = false;

/* Written by the agent before each pass: its number, and what the iter/tcp
 * pass does (enum iter_pass_kind). A targets pass touches only the sockets
 * whose target is not in force yet: reading every socket's figures costs
 * about what the walk itself does. */
__u64 pass = 0;
__u32 iter_pass_kind = ITER_PASS_FULL;

static __always_inline bool scoped(__u64 cgroup_id)
{
	for (__u32 i = 0; i < TCPTUNE_MAX_SCOPES && i < nr_scopes; i++)
		if (scope_cgroup_ids[i] == cgroup_id)
			return true;
	return false;
}

static __always_inline bool in_scope(const struct sock *sk)
{
	struct cgroup *cgrp = sock_cgroup(sk);

	if (!nr_scopes)
		return true;
	if (!cgrp) /* the root's (before Linux 5.15) */
		return scoped(ROOT_CGROUP_ID);
	for (int depth = 0; depth < MAX_CGROUP_DEPTH && cgrp; depth++) {
		__u64 id = BPF_CORE_READ(cgrp, kn, id);

		if (scoped(id))
			return true;
		/* cgroup.self is the first member: its parent css is the parent cgroup */
		cgrp = (struct cgroup *)BPF_CORE_READ(cgrp, self.parent);
	}
	return false;
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
	if (!f || !in_scope(&tp->inet_conn.icsk_inet.sk) || !apply_targets(tp, tp, t, f))
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

/* The walk pass done by iter/tcp: a tracked socket (one with a mark) that
 * moved since its mark was taken gets its entry refreshed. */
static __always_inline void walk_refresh(struct tcp_sock *tp)
{
	struct conn_mark *m;

	if (!use_marks)
		return;
	m = bpf_sk_storage_get(&marks, tp, NULL, 0);
	if (m && mark_moved(m, tp))
		mark_refresh(m, tp);
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
	if (iter_pass_kind == ITER_PASS_WALK) {
		walk_refresh(tp);
		return 0;
	}
	cookie = iter_cookie ? bpf_get_socket_cookie(skc) : skc->skc_cookie.counter;
	if (!cookie)
		return 0;
	if (iter_pass_kind == ITER_PASS_TARGETS) {
		if (iter_writes)
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
		m = use_marks ? bpf_sk_storage_get(&marks, tp, NULL, 0) : NULL;
		if (m)
			mark_take(m, tp);
		return 0;
	}
	/* the new sizes reach the agent with the read of the whole map that
	 * follows this pass: nothing to list */
	if (tune_enabled && iter_writes)
		apply_targets(tp, tp, bpf_map_lookup_elem(&targets, &cookie), f);
	flow_stamp(f, tp, pass);
	if (!use_marks)
		return 0;
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
