// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Part of the agent's one BPF object (tcptune.bpf.c includes it).
 *
 * Sockops, attached to each cgroup in scope: a connection established by a
 * socket of that cgroup gets its entry here, and starts with the buffer sizes
 * the agent learned for its destination (cgroup, remote /24 or /64), its
 * receive window from the SYN on. */
#include "tune.bpf.h"

/* Set by the agent where iter/tcp cannot call bpf_setsockopt (before Linux
 * 5.14): targets are applied here instead, on the RTT callback that a
 * sender's ACKs of new data raise (a socket that only receives gets none). */
const volatile bool apply_on_callbacks = false;

/* Set by the agent once it has learned a destination: until then there is
 * nothing to look up, and establishment stays as cheap as without tuning. */
__u32 dests_learned = 0;

/* The destination key as the agent writes it: v4-mapped IPv6 counts as IPv4. */
static __always_inline void dest_key_of(const struct bpf_sock_ops *skops, __u64 cgroup_id,
					struct dest_map_key *key)
{
	key->cgroup_id = cgroup_id;
	if (skops->family == AF_INET6 && !(skops->remote_ip6[0] == 0 && skops->remote_ip6[1] == 0 &&
					   skops->remote_ip6[2] == bpf_htonl(0xffff))) {
		__u32 hi[2] = { skops->remote_ip6[0], skops->remote_ip6[1] };

		key->family = AF_INET6;
		__builtin_memcpy(key->prefix, hi, 8); /* /64 */
	} else {
		/* both read at fixed offsets: the verifier refuses a computed ctx offset */
		__u32 v4 = skops->remote_ip4, mapped = skops->remote_ip6[3];
		__u32 addr;

		asm volatile("" : "+r"(v4));
		asm volatile("" : "+r"(mapped));
		addr = skops->family == AF_INET ? v4 : mapped;

		key->family = AF_INET;
		__builtin_memcpy(key->prefix, &addr, 3); /* /24 */
	}
}

/* Loopback connections are never tuned (plan_tunable in agent/core/tick_plan.c): they
 * get no per-ACK callbacks either. */
static __always_inline bool remote_is_loopback(const struct bpf_sock_ops *skops)
{
	__u32 v4 = skops->remote_ip4, w0 = skops->remote_ip6[0], w1 = skops->remote_ip6[1];
	__u32 w2 = skops->remote_ip6[2], w3 = skops->remote_ip6[3];

	if (skops->family == AF_INET)
		return (bpf_ntohl(v4) >> 24) == 127;
	if (w0 || w1)
		return false;
	if (w2 == bpf_htonl(0xffff))
		return (bpf_ntohl(w3) >> 24) == 127;
	return w2 == 0 && w3 == bpf_htonl(1);
}

/* What the agent learned for this connection's destination, or NULL. */
static __always_inline struct conn_target *learned_sizes(const struct bpf_sock_ops *skops,
							 __u64 cgroup_id)
{
	struct dest_map_key key = {};

	dest_key_of(skops, cgroup_id, &key);
	return bpf_map_lookup_elem(&dest_sizes, &key);
}

/* True when it set the send buffer. */
static __always_inline bool apply_learned(struct bpf_sock_ops *skops, const struct sock *sk)
{
	struct conn_target *t;
	bool sndbuf_set = false;
	int val;

	/* the application chose its own sizes before connecting */
	if (sock_userlocks(sk) & (SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK))
		return false;
	t = learned_sizes(skops, sock_cgroup_id(sk));
	if (!t)
		return false;
	/* sizes are learned from steady bulk traffic only (est_update() in
	 * agent/core/estimate.c): a burst's connection is not handed a bulk one's */
	if (t->sndbuf && size_valid(t->sndbuf)) {
		val = setsockopt_value(t->sndbuf);
		sndbuf_set = bpf_setsockopt(skops, SOL_SOCKET, SO_SNDBUF, &val, sizeof(val)) == 0;
	}
	/* set before tcp_init_buffer_space(), rcvbuf also sizes window_clamp */
	if (t->rcvbuf && size_valid(t->rcvbuf)) {
		val = setsockopt_value(t->rcvbuf);
		bpf_setsockopt(skops, SOL_SOCKET, SO_RCVBUF, &val, sizeof(val));
	}
	count(CNT_APPLIED_AT_START);
	return sndbuf_set;
}

/* RWND_INIT counts segments; a request socket's MSS is not readable here */
#define ETH_ADVMSS 1460
/* tcp_sndbuf_expand's sizes on x86-64: MAX_TCP_HEADER, the aligned struct
 * skb_shared_info and struct sk_buff */
#define MAX_TCP_HEADER 320
#define SKB_SHINFO_SIZE 320
#define SKB_SIZE 256
#define TCP_INIT_CWND 10
#define SNDBUF_EXPAND 3

/* The first window a connection advertises (RWND_INIT, in segments), from
 * the learned rcvbuf. It matters beyond the handshake: the peer sizes the skb
 * it fills from our largest window ever (tcp_xmit_size_goal: half max_window)
 * and appends written data to it whatever its send buffer or
 * TCP_NOTSENT_LOWAT say, so a 64 KB SYN window lets it keep up to 32 KB
 * unsent for the connection's life. A listener's request socket is not a full
 * socket (no cgroup to read from here): it takes the learned size for the
 * remote prefix from any cgroup in scope (key cgroup_id 0). Nothing is
 * locked: the kernel's autotuning keeps the window growing. */
static __always_inline void init_window(struct bpf_sock_ops *skops)
{
	struct conn_target *t;
	struct bpf_sock *sk = skops->sk;
	struct tcp_sock *tp = sk ? bpf_skc_to_tcp_sock(sk) : NULL;
	__u32 mss = ETH_ADVMSS, segs;

	if (tp) { /* active open: the connecting socket is full */
		const struct sock *own = &tp->inet_conn.icsk_inet.sk;

		if (sock_userlocks(own) & SOCK_RCVBUF_LOCK)
			return;
		t = learned_sizes(skops, sock_cgroup_id(own));
		if (tp->advmss)
			mss = tp->advmss;
	} else {
		t = learned_sizes(skops, 0);
	}
	if (!t || !t->rcvbuf || !size_valid(t->rcvbuf))
		return;
	/* the window is about half of sk_rcvbuf, which is twice SO_RCVBUF; a
	 * window below the kernel's first one would slow a connection whose
	 * first burst is larger than what was learned from its destination */
	segs = setsockopt_value(t->rcvbuf) / mss;
	skops->reply = segs > 2 ? segs : 2;
	count(CNT_WINDOW_AT_START);
}

/* A callback of a connection whose target may have changed: applied when
 * it is not in force yet, once per target. A target the kernel rounds (an
 * odd size), refuses (TCP_WINDOW_CLAMP before Linux 6.1) or the policy
 * keeps from the socket would otherwise be tried again on every ACK. */
static __always_inline void apply_on_callback(struct bpf_sock_ops *skops, struct tcp_sock *tp)
{
	__u64 cookie = bpf_get_socket_cookie(skops);
	struct conn_target *t = bpf_map_lookup_elem(&targets, &cookie);
	struct conn_stats *f;
	__u32 change;

	if (!t || target_in_force(tp, t))
		return;
	f = bpf_map_lookup_elem(&flows, &cookie);
	change = (__u32)t->change_ns | 1;
	if (!f || f->tried_change == change)
		return;
	f->tried_change = change;
	apply_targets(skops, tp, t, f);
}

/* The RTT of the most recently sent packet this ACK delivered (RACK's):
 * the queue now, where the smoothed RTT still holds the queue of round
 * trips ago, before the path got faster. */
static __always_inline __u32 latest_rtt_us(const struct tcp_sock *tp)
{
	if (bpf_core_field_exists(tp->rack.rtt_us) && tp->rack.rtt_us)
		return tp->rack.rtt_us;
	return tp->srtt_us >> 3;
}

/* A send buffer tcptune set below the kernel's autotuning ceiling is locked:
 * the kernel no longer grows it as the connection speeds up (it would, on
 * ACKs: tcp_sndbuf_expand). So here, on an ACK that finds the buffer the
 * limit, it is doubled, at most once a round trip, up to that ceiling: a
 * faster path is used within round trips, not agent ticks. Above the ceiling
 * only the agent's probes go. The buffer is the limit when the writer waits
 * for room (SOCK_NOSPACE), this ACK leaves too little for it, its RTT is not
 * mostly queue (rtt_is_mostly_queue: then a shared bottleneck holds the
 * connection back, not its buffer), and either
 *  - the kernel's send-buffer-limited clock runs (it started when a
 *    transmission emptied the queue without a full congestion window: a
 *    paced sender, whose queue the ACK finds holding data for the pacer), or
 *  - nothing is left unsent and the congestion window has room now. The
 *    clock misses this one: it waits for a whole round without a full
 *    window, and a window that stopped growing at what the buffer holds
 *    fills up again on every refill. */
static __always_inline bool sndbuf_is_the_limit(struct tcp_sock *tp, __u32 cur)
{
	struct sock *sk = &tp->inet_conn.icsk_inet.sk;
	struct socket *sock = sk->sk_socket;
	__u32 in_flight;

	if (!sock || !(sock->flags & (1UL << SOCK_NOSPACE)))
		return false;
	/* room enough for the writer to be woken after this ACK
	 * (sk_stream_write_space): what it waits for is not the buffer but
	 * TCP_NOTSENT_LOWAT, which the kernel's clock does not tell apart */
	if ((__u64)sk->sk_wmem_queued * 3 <= (__u64)cur * 2)
		return false;
	if (rtt_is_mostly_queue(latest_rtt_us(tp), tp->rtt_min.s[0].v))
		return false;
	if (bpf_core_field_exists(tp->chrono_type) &&
	    BPF_CORE_READ_BITFIELD(tp, chrono_type) == TCP_CHRONO_SNDBUF_LIMITED)
		return true;
	in_flight = tp->packets_out - tp->sacked_out - tp->lost_out + tp->retrans_out;
	return tp->write_seq == tp->snd_nxt && in_flight < tp->snd_cwnd;
}

/* What the kernel's autotuning would give this connection now
 * (tcp_sndbuf_expand): per packet of the congestion window (at least the
 * initial 10), its payload plus the largest TCP header and the skb's shared
 * info, to a power of two, plus the skb itself; three of those (bbr's
 * factor; cubic's is two). A regrowth gives a connection that much back,
 * never more: doubling alone runs a buffer that a shared bottleneck holds
 * back up to the ceiling within round trips, and all of it becomes queue. */
static __always_inline __u32 kernel_sndbuf(const struct tcp_sock *tp)
{
	__u32 per_packet = tp->mss_cache + MAX_TCP_HEADER + SKB_SHINFO_SIZE - 1;
	__u32 packets = tp->snd_cwnd > TCP_INIT_CWND ? tp->snd_cwnd : TCP_INIT_CWND;

	per_packet |= per_packet >> 1;
	per_packet |= per_packet >> 2;
	per_packet |= per_packet >> 4;
	per_packet |= per_packet >> 8;
	per_packet |= per_packet >> 16;
	per_packet += 1 + SKB_SIZE;
	return SNDBUF_EXPAND * packets * per_packet;
}

static __always_inline void regrow_sndbuf(struct bpf_sock_ops *skops, struct tcp_sock *tp)
{
	struct sock *sk = &tp->inet_conn.icsk_inet.sk;
	__u32 cap, cur, next, expand;
	struct conn_target *t;
	struct conn_stats *f;
	__u64 cookie, now;
	int val;

	cap = autotune_cap(sk, false);
	cur = sk->sk_sndbuf;
	if (!(sock_userlocks(sk) & SOCK_SNDBUF_LOCK) || cur >= cap || cap > max_buf) {
		/* nothing to regrow until tcptune sets the buffer again, which
		 * turns the callbacks back on */
		if (callbacks_on_demand)
			bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags &
								 ~BPF_SOCK_OPS_RTT_CB_FLAG);
		return;
	}
	if (!sndbuf_is_the_limit(tp, cur))
		return;
	next = cur < cap / 2 ? cur * 2 : cap;
	expand = kernel_sndbuf(tp);
	if (next > expand)
		next = expand;
	if (next <= cur)
		return;
	cookie = bpf_get_socket_cookie(skops);
	f = bpf_map_lookup_elem(&flows, &cookie);
	if (!f || (f->app_locks & SOCK_SNDBUF_LOCK))
		return; /* the application's buffer */
	/* what the agent assigns under a budget or memory pressure is all a
	 * connection gets: a regrowth would be outside its account */
	t = bpf_map_lookup_elem(&targets, &cookie);
	if (t && (t->flags & TARGET_NO_REGROW))
		return;
	now = bpf_ktime_get_ns();
	if (now - f->regrown_ns < (__u64)(tp->srtt_us >> 3) * 1000)
		return;
	f->regrown_ns = now;
	val = setsockopt_value(next);
	if (bpf_setsockopt(skops, SOL_SOCKET, SO_SNDBUF, &val, sizeof(val)) == 0)
		count(CNT_REGROWN);
}

SEC("sockops")
int tcptune_sockops(struct bpf_sock_ops *skops)
{
	bool sndbuf_set = false;
	struct bpf_sock *sk;
	struct tcp_sock *tp;

	switch (skops->op) {
	case BPF_SOCK_OPS_RWND_INIT:
		if (tune_enabled && dests_learned)
			init_window(skops);
		return 1;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_RTT_CB:
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
	if (skops->op == BPF_SOCK_OPS_RTT_CB) {
		if (!tune_enabled)
			return 1;
		if (apply_on_callbacks)
			apply_on_callback(skops, tp);
		regrow_sndbuf(skops, tp);
		return 1;
	}
	/* record first: the entry keeps the application's lock bits, not ours */
	flow_record(bpf_get_socket_cookie(skops), tp, 0, false);
	if (tune_enabled && dests_learned)
		sndbuf_set = apply_learned(skops, &tp->inet_conn.icsk_inet.sk);
	/* every ACK that updates the RTT: regrow_sndbuf(), and the write-back
	 * where iter/tcp cannot set options; where iter/tcp turns them on, only
	 * once a send buffer is tcptune's */
	if (tune_enabled && !remote_is_loopback(skops) && (!callbacks_on_demand || sndbuf_set))
		bpf_sock_ops_cb_flags_set(skops,
					  skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_RTT_CB_FLAG);
	return 1;
}
