// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* iter/tcp, run by the agent once per tick in every network namespace
 * that holds sockets: picks up connections that were open before the agent
 * started (or that a full map once turned away) and stamps every tracked
 * socket with the pass number, so the agent can drop entries whose socket
 * vanished without a close event. */
#include "flow.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_CGROUP_DEPTH 32

/* The cgroup v2 subtrees in scope; none means the whole host. */
const volatile __u32 nr_scopes = 0;
const volatile __u64 scope_cgroup_ids[TCPTUNE_MAX_SCOPES] = {};

/* Written by the agent before each pass. */
__u64 pass = 0;

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

SEC("iter/tcp")
int tcptune_iter(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	struct conn_stats *f;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* request and time-wait sockets */
	if (!state_tracked(skc->skc_state) || !in_scope(&tp->inet_conn.icsk_inet.sk))
		return 0;
	f = flow_record(bpf_get_socket_cookie(skc), tp);
	if (f)
		f->seen_pass = pass;
	return 0;
}
