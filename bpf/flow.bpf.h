/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Per-socket recording shared by the programs of tcptune.bpf.c, on the
 * maps of maps.bpf.h. */
#ifndef FLOW_BPF_H
#define FLOW_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "tcptune.h"
#include "maps.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define USEC_PER_SEC 1000000ULL
#define E2BIG 7

/* The TCP states are vmlinux.h's; the agent reads them as enum conn_state. */
_Static_assert(CONN_ESTABLISHED == TCP_ESTABLISHED && CONN_SYN_SENT == TCP_SYN_SENT &&
		       CONN_SYN_RECV == TCP_SYN_RECV && CONN_FIN_WAIT1 == TCP_FIN_WAIT1 &&
		       CONN_FIN_WAIT2 == TCP_FIN_WAIT2 && CONN_TIME_WAIT == TCP_TIME_WAIT &&
		       CONN_CLOSE == TCP_CLOSE && CONN_CLOSE_WAIT == TCP_CLOSE_WAIT &&
		       CONN_LAST_ACK == TCP_LAST_ACK && CONN_LISTEN == TCP_LISTEN &&
		       CONN_CLOSING == TCP_CLOSING && CONN_NEW_SYN_RECV == TCP_NEW_SYN_RECV,
	       "enum conn_state (tcptune.h) is the kernel's TCP states");

/* enum tcp_chrono */
#define TCP_CHRONO_BUSY 1
#define TCP_CHRONO_RWND_LIMITED 2
#define TCP_CHRONO_SNDBUF_LIMITED 3

#define SOCK_SNDBUF_LOCK 1
#define SOCK_RCVBUF_LOCK 2

extern unsigned int CONFIG_HZ __kconfig;

/* Set by the agent from what the kernel allows (agent/core/kernel_features.c): the
 * "marks" socket storage, taken from sockops and iter/tcp programs (Linux
 * 5.11). Without it every tick is a full pass and nothing is marked. */
const volatile bool use_marks = false;

static __always_inline void count(enum tcptune_counter counter)
{
	__u64 *val = bpf_map_lookup_elem(&counters, &counter);

	if (val)
		*val += 1;
}

/* A connection is tracked from establishment until it closes; listeners,
 * half-open and time-wait sockets are not connections with a rate. */
static __always_inline bool state_tracked(int state)
{
	return state != TCP_CLOSE && state != TCP_LISTEN && state != TCP_SYN_SENT &&
	       state != TCP_SYN_RECV && state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV;
}

/* Kernel layouts other than vmlinux.h's, matched by CO-RE (the ___ suffix is
 * dropped): before Linux 5.15 the socket's cgroup is packed in an u64 (one
 * of the low two bits set: net_cls/net_prio data or no reference, the
 * socket counts as the root cgroup's, as sock_cgroup_ptr() has it);
 * before 5.12 the netns cookie is an atomic64_t. */
struct sock_cgroup_data___old {
	__u64 val;
};

struct net___old {
	atomic64_t net_cookie;
};

#define ROOT_CGROUP_ID 1

/* The socket's cgroup v2, NULL for the root's. Read with
 * bpf_probe_read_kernel, which iterators and (before Linux 5.15, where
 * sockops needs it) sockops programs may call. */
static __always_inline struct cgroup *sock_cgroup(const struct sock *sk)
{
	const struct sock_cgroup_data___old *old = (const void *)&sk->sk_cgrp_data;
	__u64 val;

	if (bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	val = BPF_CORE_READ(old, val);
	return (val & 3) ? NULL : (struct cgroup *)val;
}

/* The id of the socket's cgroup v2, as the agent and sockops key it. Where
 * the cgroup is a pointer, read directly (sockops too); packed, as tracing
 * programs can. */
static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	struct cgroup *cgrp;

	if (bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return sk->sk_cgrp_data.cgroup->kn->id;
	cgrp = sock_cgroup(sk);
	return cgrp ? BPF_CORE_READ(cgrp, kn, id) : ROOT_CGROUP_ID;
}

/* The lock bits the application set (SO_SNDBUF, SO_RCVBUF): a 4-bit field
 * before Linux 6.2. */
static __always_inline __u32 sock_userlocks(const struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD(sk, sk_userlocks);
}

/* Set by the agent where a namespace's cookie cannot be read from
 * userspace (SO_NETNS_COOKIE, Linux 5.14): namespaces are told apart by
 * their inode number, on both sides. */
const volatile bool netns_by_inode = false;

static __always_inline __u64 sock_netns_cookie(const struct sock_common *skc)
{
	struct net___old *old = (void *)skc->skc_net.net;

	if (netns_by_inode)
		return skc->skc_net.net->ns.inum;
	if (bpf_core_field_exists(old->net_cookie))
		return BPF_CORE_READ(old, net_cookie.counter);
	return skc->skc_net.net->net_cookie;
}

/* A figure the estimator can do without, 0 (unknown) on a kernel whose
 * tcp_sock lacks the field: such a kernel still loads the programs. */
#define TP_FIGURE(tp, field) (bpf_core_field_exists((tp)->field) ? (tp)->field : 0)

/* Time in one limited state, as tcp_get_info_chrono_stats() reports it, 0
 * where the kernel keeps no such statistics. chrono_type is a 2-bit field
 * before Linux 6.18: read as a bitfield. */
static __always_inline __u64 chrono_us(const struct tcp_sock *tp, int type, __u32 now_jiffies)
{
	__u64 jiffies;

	if (!bpf_core_field_exists(tp->chrono_stat) || !bpf_core_field_exists(tp->chrono_type) ||
	    !bpf_core_field_exists(tp->chrono_start))
		return 0;
	jiffies = tp->chrono_stat[type - 1];
	if (BPF_CORE_READ_BITFIELD(tp, chrono_type) == (__u64)type)
		jiffies += now_jiffies - tp->chrono_start;
	return jiffies * (USEC_PER_SEC / CONFIG_HZ);
}

/* The largest buffer the kernel's autotuning gives a socket of this
 * namespace: tcp_rmem[2] or tcp_wmem[2], per namespace since Linux 4.15. */
static __always_inline __u32 autotune_cap(const struct sock *sk, bool rcv)
{
	const struct net *net = sk->__sk_common.skc_net.net;

	if (!bpf_core_field_exists(net->ipv4.sysctl_tcp_rmem))
		return 0;
	return rcv ? net->ipv4.sysctl_tcp_rmem[2] : net->ipv4.sysctl_tcp_wmem[2];
}

/* The fields that change while the connection runs. */
static __always_inline void flow_refresh(struct conn_stats *f, const struct tcp_sock *tp)
{
	const struct sock *sk = &tp->inet_conn.icsk_inet.sk;
	__u32 rate_delivered = TP_FIGURE(tp, rate_delivered);
	__u32 rate_interval_us = TP_FIGURE(tp, rate_interval_us);
	__u32 now_jiffies = (__u32)bpf_jiffies64();

	f->state = sk->__sk_common.skc_state;
	f->srtt_us = tp->srtt_us >> 3;
	f->min_rtt_us = TP_FIGURE(tp, rtt_min.s[0].v);
	f->snd_cwnd = tp->snd_cwnd;
	f->mss = tp->mss_cache;
	f->delivery_rate_Bps =
		rate_delivered && rate_interval_us
			? (__u64)rate_delivered * tp->mss_cache * USEC_PER_SEC / rate_interval_us
			: 0;
	f->bytes_acked = TP_FIGURE(tp, bytes_acked);
	f->bytes_received = TP_FIGURE(tp, bytes_received);
	f->snd_queue_bytes = tp->write_seq - tp->snd_una;
	f->rcv_queue_bytes = tp->rcv_nxt - tp->copied_seq;
	f->sndbuf = sk->sk_sndbuf;
	f->rcvbuf = sk->sk_rcvbuf;
	f->retrans = TP_FIGURE(tp, total_retrans);
	f->rcv_rtt_us = TP_FIGURE(tp, rcv_rtt_est.rtt_us) >> 3;
	f->notsent_lowat = tp->notsent_lowat;
	f->sndbuf_cap = autotune_cap(sk, false);
	f->rcvbuf_cap = autotune_cap(sk, true);
	f->rcv_space = TP_FIGURE(tp, rcvq_space.space);
	f->app_limited = bpf_core_field_exists(tp->rate_app_limited)
				 ? BPF_CORE_READ_BITFIELD(tp, rate_app_limited)
				 : 0;
	f->buf_locks = sock_userlocks(sk) & (SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK);
	f->rtt_callbacks = (tp->bpf_sock_ops_cb_flags & BPF_SOCK_OPS_RTT_CB_FLAG) != 0;
	f->sndbuf_limited_us = chrono_us(tp, TCP_CHRONO_SNDBUF_LIMITED, now_jiffies);
	f->rwnd_limited_us = chrono_us(tp, TCP_CHRONO_RWND_LIMITED, now_jiffies);
	f->busy_us = chrono_us(tp, TCP_CHRONO_BUSY, now_jiffies) + f->rwnd_limited_us +
		     f->sndbuf_limited_us;
	f->active_us = tp->tcp_mstamp;
	f->updated_ns = bpf_ktime_get_ns();
}

/* Written by the agent at the start of each tick (and, in iter.bpf.c, of
 * each pass): a socket's writes and reads list it in "moved" once per tick
 * with its figures, and once more by cookie if it is refreshed again. */
__u32 tick = 0;

/* Did the socket move since the mark was taken? */
static __always_inline bool mark_moved(const struct conn_mark *m, const struct tcp_sock *tp)
{
	return m->tcp_mstamp != tp->tcp_mstamp ||
	       m->state != tp->inet_conn.icsk_inet.sk.__sk_common.skc_state;
}

static __always_inline void mark_take(struct conn_mark *m, const struct tcp_sock *tp)
{
	m->tcp_mstamp = tp->tcp_mstamp;
	m->state = tp->inet_conn.icsk_inet.sk.__sk_common.skc_state;
	m->refreshed_jiffies = bpf_jiffies64();
}

/* A record wakes the agent only where it fills the ring past a quarter, a
 * half or three quarters: the agent then reads it between ticks, so a
 * tick's records can be many times what the ring holds (a host of many
 * connections that each move a little). Not on every record past a mark:
 * each wakeup costs an interrupt while the agent is busy with a pass. Two
 * CPUs listing at once may both miss a mark; the next one wakes it. */
static __always_inline __u64 moved_wakeup(__u64 filled_before, __u64 record)
{
	__u64 quarter = moved_ring_bytes / 4;

	record += BPF_RINGBUF_HDR_SZ;
	return filled_before / quarter != (filled_before + record) / quarter ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
}

/* A head alone in "moved"; false when it had no room (counted). */
static __always_inline bool moved_output(__u64 cookie, __u32 closed)
{
	struct moved_head e = { .cookie = cookie, .closed = closed };
	__u64 filled = bpf_ringbuf_query(&moved, BPF_RB_AVAIL_DATA);

	if (bpf_ringbuf_output(&moved, &e, sizeof(e), moved_wakeup(filled, sizeof(e))) == 0)
		return true;
	count(CNT_EVENTS_LOST);
	return false;
}

/* A record with the figures of f, just refreshed: the agent reads nothing. */
static __always_inline bool moved_output_figures(__u64 cookie, const struct conn_stats *f)
{
	struct moved_figures *e = bpf_ringbuf_reserve(&moved, sizeof(*e), 0);

	if (!e) {
		count(CNT_EVENTS_LOST);
		return false;
	}
	e->head.cookie = cookie;
	e->head.closed = 0;
	e->head.with_figures = 1;
	__builtin_memcpy(e->figures, (const __u8 *)f + CONN_FIGURES_START, CONN_FIGURES_SIZE);
	/* what is filled counts this record from its reservation */
	bpf_ringbuf_submit(e, moved_wakeup(bpf_ringbuf_query(&moved, BPF_RB_AVAIL_DATA) -
						   sizeof(*e) - BPF_RINGBUF_HDR_SZ,
					   sizeof(*e)));
	return true;
}

/* Figures for a pass's records while "moved" is less than half full, heads
 * (a tenth of the size) after that: the agent reads the ring right after a
 * pass. */
static __always_inline bool moved_room_for_figures(void)
{
	return bpf_ringbuf_query(&moved, BPF_RB_AVAIL_DATA) < moved_ring_bytes / 2;
}

/* An existing entry: new figures, and the pass that saw it (0 outside a pass). */
static __always_inline void flow_stamp(struct conn_stats *f, const struct tcp_sock *tp, __u64 pass)
{
	flow_refresh(f, tp);
	if (pass)
		f->seen_pass = pass;
}

/* The socket's entry refreshed from it, and its mark taken; the entry, or
 * NULL when the socket has none. */
static __always_inline struct conn_stats *mark_refresh(struct conn_mark *m,
						       const struct tcp_sock *tp)
{
	/* a key on the stack: before Linux 6.2 a map lookup takes none from an
	 * iterator's buffer */
	__u64 cookie = m->cookie;
	struct conn_stats *f = bpf_map_lookup_elem(&flows, &cookie);

	if (f) {
		flow_stamp(f, tp, 0);
		f->drained_reads = m->drained_reads;
	}
	mark_take(m, tp);
	return f;
}

/* Insert a new entry with the connection's identity, or refresh an existing
 * one; either way stamp it with the agent's pass number (0 outside a pass).
 * The figures of a new entry are filled in only by a pass (refresh): at
 * establishment they are all still zero, and sockops stays cheap.
 * When the map is full the connection stays untracked, and that is counted. */
static __always_inline void flow_record(__u64 cookie, const struct tcp_sock *tp, __u64 pass,
					bool refresh)
{
	const struct sock *sk = &tp->inet_conn.icsk_inet.sk;
	const struct sock_common *skc = &sk->__sk_common;
	struct conn_stats *f, init = {};
	struct conn_mark *m;

	f = bpf_map_lookup_elem(&flows, &cookie);
	if (f) {
		flow_stamp(f, tp, pass);
		return;
	}

	init.family = skc->skc_family;
	if (init.family == AF_INET) {
		__u32 saddr = skc->skc_rcv_saddr, daddr = skc->skc_daddr;

		__builtin_memcpy(init.saddr, &saddr, 4);
		__builtin_memcpy(init.daddr, &daddr, 4);
	} else {
		struct in6_addr saddr = skc->skc_v6_rcv_saddr, daddr = skc->skc_v6_daddr;

		__builtin_memcpy(init.saddr, &saddr, 16);
		__builtin_memcpy(init.daddr, &daddr, 16);
	}
	init.sport = skc->skc_num;
	init.dport = bpf_ntohs(skc->skc_dport);
	init.netns_cookie = sock_netns_cookie(skc);
	init.cgroup_id = sock_cgroup_id(sk);
	init.app_locks = sock_userlocks(sk) & (SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK);
	init.seen_pass = pass;
	/* outside a pass it is sockops at establishment, whose passive-side
	 * callback runs just before the kernel sets the socket ESTABLISHED */
	init.state = pass ? skc->skc_state : TCP_ESTABLISHED;
	if (refresh)
		flow_refresh(&init, tp);
	init.created_ns = bpf_ktime_get_ns();

	if (bpf_map_update_elem(&flows, &cookie, &init, BPF_NOEXIST) == -E2BIG) {
		count(CNT_MAP_FULL);
		return;
	}
	count(CNT_FLOWS_CREATED);
	if (!use_marks)
		return;
	/* the first write or read refreshes and lists it (its tcp_mstamp
	 * differs from the zero taken here, for the walk pass) */
	m = bpf_sk_storage_get(&marks, (void *)tp, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (m)
		m->cookie = cookie;
}

#endif /* FLOW_BPF_H */
