/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Map keys and values shared by the BPF programs and the agent.
 * Fixed-width types only: the layout is read by both sides and by bpftool. */
#ifndef TCPTUNE_H
#define TCPTUNE_H

#define TCPTUNE_PIN_DIR "/sys/fs/bpf/tcptune"
#define TCPTUNE_MAX_SCOPES 16
#define TCPTUNE_COMM_LEN 16
/* the flows and targets maps as compiled; the loader sizes them (--max-flows) */
#define TCPTUNE_DEFAULT_MAX_FLOWS 65536
#define TCPTUNE_MAX_DESTS 4096

/* The kernel's TCP states (include/net/tcp_states.h), as conn_stats.state and
 * conn_mark.state hold them. Named apart from the kernel's TCP_* constants,
 * which vmlinux.h and <netinet/tcp.h> define; bpf/flow.bpf.h checks that the
 * values are the kernel's. */
enum conn_state {
	CONN_ESTABLISHED = 1,
	CONN_SYN_SENT,
	CONN_SYN_RECV,
	CONN_FIN_WAIT1,
	CONN_FIN_WAIT2,
	CONN_TIME_WAIT,
	CONN_CLOSE,
	CONN_CLOSE_WAIT,
	CONN_LAST_ACK,
	CONN_LISTEN,
	CONN_CLOSING,
	CONN_NEW_SYN_RECV,
	CONN_STATES, /* how many values there are, 0 (none) included */
};

/* One tracked TCP connection, keyed by socket cookie in the "flows" map.
 * Values are what tcp_get_info() would report, so they compare with ss.
 * The identity comes first; the figures each refresh writes (flow_refresh in
 * bpf/flow.bpf.h), from state to updated_ns, stay together at the end, so a
 * "moved" record carries them as one copy (CONN_FIGURES_*). */
struct conn_stats {
	__u64 netns_cookie;
	__u64 cgroup_id;
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 sport;  /* host byte order */
	__u16 dport;  /* host byte order */
	/* SOCK_SNDBUF_LOCK 1 / SOCK_RCVBUF_LOCK 2: set by the application before tcptune
	 * first saw the socket */
	__u16 app_locks;
	__u32 pid; /* tgid of the last process seen doing I/O, 0 if not yet known */
	__u8 comm[TCPTUNE_COMM_LEN];
	/* the last target a sockops callback tried (its change_ns, low bit set): each is
	 * tried once, not on every ACK */
	__u32 tried_change;
	__u64 created_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 regrown_ns; /* the last send buffer growth on an ACK (sockops), 0 = none */
	__u64 seen_pass;  /* last agent pass (iter/tcp) that saw the socket */
	/* the figures */
	__u32 state; /* enum conn_state */
	__u32 srtt_us;
	__u32 min_rtt_us;
	__u32 snd_cwnd; /* packets */
	__u32 mss;
	__u32 retrans;         /* total retransmitted segments */
	__u32 snd_queue_bytes; /* written but not yet acked: unsent + in flight */
	__u32 rcv_queue_bytes; /* received but not yet read by the application */
	__u32 sndbuf;          /* sk_sndbuf, the figure ss shows as tb */
	__u32 rcvbuf;          /* sk_rcvbuf, the figure ss shows as rb */
	__u32 rcv_rtt_us;      /* the receiver's RTT estimate (a receiver has no srtt) */
	__u32 notsent_lowat;   /* TCP_NOTSENT_LOWAT in force, 0 = the sysctl's (unlimited) */
	__u32 sndbuf_cap;      /* the socket's namespace's tcp_wmem[2] and tcp_rmem[2]: */
	__u32 rcvbuf_cap;      /* how far the kernel's autotuning grows the buffers */
	__u32 rcv_space;       /* most bytes the application read in one RTT (tcpi_rcv_space) */
	__u16 app_limited;     /* 1: the last delivery rate sample was application-limited */
	/* sk_userlocks now: SOCK_SNDBUF_LOCK 1 / SOCK_RCVBUF_LOCK 2, the application's
	 * (app_locks) or tcptune's */
	__u16 buf_locks;
	/* the application's reads that found all it had written acknowledged:
	 * request/response, never a bulk sender */
	__u32 drained_reads;
	__u32 rtt_callbacks; /* 1: sockops runs on each of its ACKs (the send-buffer regrowth) */
	__u64 delivery_rate_Bps; /* bytes per second, as tcpi_delivery_rate */
	__u64 bytes_acked;
	__u64 bytes_received;
	__u64 sndbuf_limited_us; /* time spent limited by the send buffer */
	__u64 rwnd_limited_us;   /* time spent limited by the peer's receive window */
	/* time with data in flight or unsent, limited or not (tcpi_busy_time) */
	__u64 busy_us;
	/* tcp_mstamp: the last segment received or data sent, CLOCK_MONOTONIC microseconds */
	__u64 active_us;
	__u64 updated_ns; /* CLOCK_MONOTONIC, of the last refresh */
};

/* The figures of struct conn_stats: its bytes from state to the end. */
#define CONN_FIGURES_START __builtin_offsetof(struct conn_stats, state)
#define CONN_FIGURES_SIZE (sizeof(struct conn_stats) - CONN_FIGURES_START)

/* Per tracked socket, in the "marks" socket-storage map (freed with the
 * socket). Between the agent's full passes nothing walks every socket:
 * sock_send_length and sock_recv_length (an application writing or
 * reading) refresh the socket's flows entry, at most once per refresh_jiffies,
 * and list it in the "moved" ring buffer once per agent tick with the figures
 * just refreshed; refreshed again in that tick, it is listed once more, by
 * cookie alone, and the tick reads that entry from the map. The walk pass (iter/bpf_sk_storage_map)
 * visits the marks and refreshes what moved without a system call
 * (tcp_mstamp: the last segment received or data sent). */
struct conn_mark {
	__u64 cookie;     /* the socket's flows key */
	__u64 tcp_mstamp; /* at the last refresh */
	/* bpf_jiffies64() of the last refresh (a cheaper clock than bpf_ktime_get_ns on the
	 * write/read path) */
	__u64 refreshed_jiffies;
	__u32 listed_tick;   /* the agent's tick it was last listed in, with its figures */
	__u32 relisted_tick; /* ... and listed again, refreshed after that record */
	__u32 state;         /* enum conn_state, at the last refresh */
	__u32 drained_reads; /* reads that found all the socket wrote acknowledged */
};

/* A record of the "moved" ring buffer: a connection listed for the tick, by
 * its head alone (the agent looks the entry up), or with its figures when
 * the program that listed it had just refreshed them (the agent then reads
 * nothing of the map). */
struct moved_head {
	__u64 cookie;
	__u32 closed;       /* 1: the connection closed, its entry is gone */
	__u32 with_figures; /* 1: a struct moved_figures */
};

struct moved_figures {
	struct moved_head head;
	__u8 figures[CONN_FIGURES_SIZE]; /* the entry's, as of this record */
};

/* The agent's progress, one entry in the "status" array map, written at the
 * end of each pass: `flows` and `top` ask for a pass (SIGUSR1) and wait for
 * one that started after they asked. */
struct agent_status {
	__u64 pass;          /* passes completed */
	__u64 pass_start_ns; /* CLOCK_MONOTONIC, of the last completed pass */
	__u64 pass_end_ns;
	__u32 pid;        /* the agent's */
	__u32 namespaces; /* network namespaces visited by the last pass */
	/* the tuner's safety limits, written after each tick (agent/core/budget.h) */
	__u64 assigned_bytes;         /* buffer bytes the agent's targets in force add up to */
	__u64 budget_bytes;           /* --budget, 0 = unlimited */
	__u64 tcp_mem_pages;          /* /proc/net/sockstat TCP mem (global) */
	__u64 tcp_mem_pressure_pages; /* net.ipv4.tcp_mem's pressure threshold */
	__u32 pressure;               /* 1 while the tuner acts as under TCP memory pressure */
	__u32 pad;
};

/* What an iter/tcp pass does (iter.bpf.c), set by the agent before each. */
enum iter_pass_kind {
	ITER_PASS_FULL,    /* refresh and pick up every socket, apply targets */
	ITER_PASS_TARGETS, /* apply targets not in force yet, nothing else */
	ITER_PASS_WALK,    /* refresh the tracked sockets that moved */
};

/* Buffer sizes the agent wants for one connection, in the "targets" map
 * (keyed by socket cookie), applied by iter/tcp in the next pass. Sizes are
 * what the kernel shows as sk_sndbuf / sk_rcvbuf (ss tb / rb); 0 = leave. */
/* Which of a connection's settings the agent's last change was to. */
enum change_buffer {
	CHANGE_NONE, /* none yet */
	CHANGE_SNDBUF,
	CHANGE_RCVBUF,
	CHANGE_NOTSENT_LOWAT,
	CHANGE_BUFFERS, /* how many values there are */
};

struct conn_target {
	__u32 sndbuf;
	__u32 rcvbuf;
	/* bytes, with rcvbuf: the window follows a raised buffer only through it */
	__u32 window_clamp;
	__u32 flags; /* enum target_flag bits */
	/* the last change the agent decided, for flows/top */
	__u32 change_old;
	__u32 change_new;
	__u16 change_buffer; /* enum change_buffer */
	__u16 change_reason; /* enum est_reason or enum budget_reason (agent/core/budget.h) */
	__u32 notsent_lowat; /* TCP_NOTSENT_LOWAT bytes: unsent data a writer may queue */
	/* the send buffer sndbuf was decided from: a smaller target applies only to it */
	__u32 sndbuf_from;
	__u32 pad;
	__u64 change_ns; /* CLOCK_MONOTONIC */
};

/* An RTT above 1.5 x the connection's minimum is mostly queue. A flow that
 * its own buffer or window holds back builds none, so the queue is the
 * path's (a bottleneck shared with other flows, or a receiver that cannot
 * keep up), and a bigger buffer would only take a bigger share of it.
 * min_rtt_us is 0 or ~0 when never measured. */
static inline int rtt_is_mostly_queue(__u32 rtt_us, __u32 min_rtt_us)
{
	return min_rtt_us && min_rtt_us != (__u32)-1 && (__u64)rtt_us * 2 > (__u64)min_rtt_us * 3;
}

/* A smaller send-buffer target decided from another size than the buffer
 * has now is stale when the buffer is locked (tcptune's own size): only a
 * sockops regrowth grows a locked buffer, so the connection needed more
 * after the agent read it. BPF does not apply it; the agent adopts the grown
 * size. An unlocked buffer grows by the kernel's autotuning, which is what
 * the shrink is for: it still applies. */
static inline int target_overtaken(__u32 target, __u32 current, __u32 from, int locked)
{
	return locked && target && target < current && from && from != current;
}

/* conn_target.flags: what the estimator saw last tick. */
enum target_flag {
	TARGET_SND_LIMITED = 1 << 0,     /* held back by its send buffer */
	TARGET_RCV_LIMITED = 1 << 1,     /* held back by its receive window */
	TARGET_RCV_APP_LIMITED = 1 << 2, /* the application is not reading */
	TARGET_OBSERVE = 1 << 3,         /* its policy is observe: shown, never applied */
	/* a byte budget or TCP memory pressure bounds its buffers: sockops does not regrow
	 * its send buffer */
	TARGET_NO_REGROW = 1 << 4,
};

/* A destination, for sizes learned per (cgroup, remote /24 or /64): the
 * "dest_sizes" map, read by sockops when a connection is established. */
struct dest_map_key {
	__u64 cgroup_id;
	__u16 family; /* AF_INET (also for v4-mapped IPv6) or AF_INET6 */
	__u8 pad[6];
	__u8 prefix[16]; /* address masked to /24 (IPv4) or /64 (IPv6) */
};

/* Indexes into the per-CPU "counters" array map. */
enum tcptune_counter {
	CNT_FLOWS_CREATED,    /* entries inserted */
	CNT_FLOWS_DELETED,    /* entries removed on close */
	CNT_MAP_FULL,         /* connections not tracked because "flows" was full */
	CNT_APPLIED,          /* buffer changes made by iter/tcp from "targets" */
	CNT_APPLIED_AT_START, /* learned sizes set by sockops at establishment */
	/* targets (sizes, window clamp, notsent_lowat) outside [min, max] or on application-
	 * owned buffers */
	CNT_REFUSED,
	CNT_WINDOW_AT_START, /* first receive windows (RWND_INIT) sized from learned rcvbufs */
	/* "moved" records the ring buffer had no room for: the agent's next pass is a walk,
	 * which misses nothing */
	CNT_EVENTS_LOST,
	/* send buffers tcptune set below the kernel's ceiling, grown on an ACK that found
	 * them holding their connection back */
	CNT_REGROWN,
	CNT_MAX,
};

#endif /* TCPTUNE_H */
