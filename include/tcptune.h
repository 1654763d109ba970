/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Map keys and values shared by the BPF programs and the agent.
 * Fixed-width types only: the layout is read by both sides and by bpftool. */
#ifndef TCPTUNE_H
#define TCPTUNE_H

#define TCPTUNE_PIN_DIR "/sys/fs/bpf/tcptune"
#define TCPTUNE_MAX_SCOPES 16
#define TCPTUNE_COMM_LEN 16
#define TCPTUNE_DEFAULT_MAX_FLOWS 65536

/* One tracked TCP connection, keyed by socket cookie in the "flows" map.
 * Values are what tcp_get_info() would report, so they compare with ss. */
struct conn_stats {
	__u64 netns_cookie;
	__u64 cgroup_id;
	__u8 saddr[16];          /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 family;            /* AF_INET or AF_INET6 */
	__u16 sport;             /* host byte order */
	__u16 dport;             /* host byte order */
	__u16 state;             /* TCP_ESTABLISHED ... as in include/net/tcp_states.h */
	__u32 pid;               /* tgid of the last process seen doing I/O, 0 if not yet known */
	__u8 comm[TCPTUNE_COMM_LEN];
	__u32 srtt_us;
	__u32 min_rtt_us;
	__u32 snd_cwnd;          /* packets */
	__u32 mss;
	__u64 delivery_rate_Bps; /* bytes per second, as tcpi_delivery_rate */
	__u64 bytes_acked;
	__u64 bytes_received;
	__u32 snd_queue_bytes;   /* written but not yet acked: unsent + in flight */
	__u32 rcv_queue_bytes;   /* received but not yet read by the application */
	__u32 sndbuf;            /* sk_sndbuf, the figure ss shows as tb */
	__u32 rcvbuf;            /* sk_rcvbuf, the figure ss shows as rb */
	__u32 retrans;           /* total retransmitted segments */
	__u32 rcv_rtt_us;        /* the receiver's RTT estimate (a receiver has no srtt) */
	__u32 app_locks;         /* SOCK_SNDBUF_LOCK 1 / SOCK_RCVBUF_LOCK 2: set by the
				  * application before tcptune first saw the socket */
	__u32 pad;
	__u64 sndbuf_limited_us; /* time spent limited by the send buffer */
	__u64 rwnd_limited_us;   /* time spent limited by the peer's receive window */
	__u64 created_ns;        /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 updated_ns;
	__u64 seen_pass;         /* last agent pass (iter/tcp) that saw the socket */
};

/* The agent's progress, one entry in the "status" array map, written at the
 * end of each pass: `flows` and `top` ask for a pass (SIGUSR1) and wait for
 * one that started after they asked. */
struct agent_status {
	__u64 pass;              /* passes completed */
	__u64 pass_start_ns;     /* CLOCK_MONOTONIC, of the last completed pass */
	__u64 pass_end_ns;
	__u32 pid;               /* the agent's */
	__u32 namespaces;        /* network namespaces visited by the last pass */
};

/* Indexes into the per-CPU "counters" array map. */
enum tcptune_counter {
	CNT_FLOWS_CREATED,       /* entries inserted */
	CNT_FLOWS_DELETED,       /* entries removed on close */
	CNT_MAP_FULL,            /* connections not tracked because "flows" was full */
	CNT_MAX,
};

#endif /* TCPTUNE_H */
