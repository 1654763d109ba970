/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Per-connection socket buffer sizing (what it learns per destination is
 * kept by core/dest_table.h). Pure: no libbpf, no system calls, no I/O, no allocation.
 *
 * Once per agent tick the caller turns each connection's conn_stats into an
 * est_sample, calls est_update() with that connection's est_state, and applies
 * the est_decision (bpf_setsockopt from iter/tcp). All buffer sizes here are
 * kernel-visible sizes (sk_sndbuf / sk_rcvbuf, ss's tb / rb), not the value
 * passed to setsockopt: see est_setsockopt_value(). */
#ifndef TCPTUNE_ESTIMATE_H
#define TCPTUNE_ESTIMATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* conn_stats.app_locks and buf_locks bits: the kernel's SOCK_SNDBUF_LOCK and
 * SOCK_RCVBUF_LOCK. */
enum est_lock {
	EST_LOCK_SNDBUF = 1u << 0,
	EST_LOCK_RCVBUF = 1u << 1,
};

/* Smallest and largest min_buf / max_buf accepted. Below the floor the kernel
 * would raise the size itself (SOCK_MIN_SNDBUF is about 4.5 KiB), so the next
 * tick would see a buffer that never matches the target; above the ceiling the
 * halved setsockopt value stops being a sane int. */
#define EST_BUF_FLOOR 8192u
#define EST_BUF_CEILING (1u << 30)

/* The bounds of alpha, headroom, min_buf, max_buf and hysteresis are the
 * options' (core/options.c); the others' are est_config_check()'s. */
struct est_config {
	double alpha; /* EWMA weight of the newest sample (0.25) */
	/* target = headroom x BDP (2.0): a writer blocked on a full send buffer is woken
	 * only when a third of it is free (sk_stream_min_wspace), so at least 1.5 is needed
	 * to keep a BDP in flight; the rest absorbs rate and RTT swings */
	double headroom;
	uint32_t min_buf; /* smallest buffer ever set, bytes (8 KiB) */
	/* largest buffer ever set, bytes (64 MiB). The kernel caps setsockopt at
	 * net.core.wmem_max/rmem_max and doubles: keep max_buf <= 2 x those, or raise them,
	 * else every probe above the cap is wasted. */
	uint32_t max_buf;
	/* change only when |target - current| > hysteresis x current (0.25) */
	double hysteresis;
	/* ticks between two changes of one buffer, >= 1 (3); probes wait EST_PROBE_INTERVAL
	 * ticks instead */
	uint32_t min_change_interval;
	/* a limiting buffer is multiplied by this; must be > 1 + hysteresis, <= 16 (2.0) */
	double probe_factor;
	double shrink_step; /* largest fraction one change removes, 0 < s < 1 (0.5) */
	/* "limited" = limited time grew by more than this fraction of the tick, 0 < f < 1
	 * (0.05) */
	double limited_fraction;
};

/* Probes may follow each other every tick: each tick's limited time is measured
 * at the size the previous probe set, so a probe acts on fresh evidence. */
#define EST_PROBE_INTERVAL 1u

/* The defaults above. */
struct est_config est_config_default(void);
/* NULL when usable, else what is wrong ("alpha must be a number above 0 and
 * at most 1"...). */
const char *est_config_check(const struct est_config *cfg);

/* One connection at one tick: the conn_stats figures (cumulative counters are
 * as the kernel keeps them; the estimator takes differences) and the time. */
struct est_sample {
	uint64_t now_us; /* monotonic */
	uint32_t srtt_us;
	uint32_t min_rtt_us;
	uint32_t rcv_rtt_us; /* receiver's RTT estimate, 0 if none */
	uint32_t mss;
	uint32_t snd_cwnd;          /* packets (for the pinned-queue test) */
	uint64_t delivery_rate_Bps; /* last delivery rate sample, bytes/s, 0 if none */
	uint64_t bytes_acked;       /* cumulative */
	uint64_t bytes_received;    /* cumulative */
	uint32_t snd_queue_bytes;   /* written, not yet acked (payload) */
	uint32_t rcv_queue_bytes;   /* received, not yet read (payload) */
	uint32_t sndbuf;            /* sk_sndbuf now */
	uint32_t rcvbuf;            /* sk_rcvbuf now */
	uint64_t sndbuf_limited_us; /* cumulative (tcpi_sndbuf_limited) */
	uint64_t rwnd_limited_us;   /* cumulative (tcpi_rwnd_limited) */
	uint64_t busy_us;           /* cumulative (tcpi_busy_time): data in flight or unsent */
	uint32_t app_locks;         /* EST_LOCK_* */
	uint32_t notsent_lowat;     /* TCP_NOTSENT_LOWAT in force, 0 = none (unlimited) */
	uint64_t active_us;         /* monotonic: the last segment in or data out, 0 if unknown */
	uint32_t drained_reads;     /* cumulative: reads that found all written data acked */
	uint32_t sndbuf_cap;        /* how far the kernel's autotuning grows sndbuf */
	uint32_t rcvbuf_cap;        /* ... and rcvbuf (tcp_wmem[2], tcp_rmem[2]); 0 = unknown */
	bool app_limited;           /* the last delivery rate sample was application-limited */
	uint32_t buf_locks;         /* EST_LOCK_* in force now: the application's or tcptune's */
};

/* Per connection. All zero = a connection not seen before. Wide fields
 * first: one of these is kept for every tracked connection. */
struct est_state {
	/* the previous sample, once primed */
	uint64_t last_us;
	uint64_t bytes_acked, bytes_received;
	uint64_t sndbuf_limited_us, rwnd_limited_us, busy_us;
	/* smoothed; 0 = no estimate yet. Each side moves only in ticks where it
	 * was active: a pause is not a rate of zero. */
	double snd_rate_Bps, snd_rtt_us;
	double rcv_rate_Bps, rcv_rtt_us;
	/* The size the last probe raised a limited buffer to (0 = none yet),
	 * and the highest smoothed rate since: shrinking stops at the floor,
	 * scaled down by how far the rate has fallen from that peak. */
	uint32_t snd_floor, rcv_floor;
	double snd_floor_rate_Bps, rcv_floor_rate_Bps;
	uint32_t sndbuf; /* at the previous sample */
	uint32_t drained_reads;
	uint32_t tick;            /* est_update calls so far */
	uint32_t snd_change_tick; /* tick of the last sndbuf change, 0 = never */
	uint32_t rcv_change_tick;
	uint32_t lowat_set; /* the TCP_NOTSENT_LOWAT last decided, 0 = none */
	uint32_t lowat_change_tick;
	/* Consecutive ticks of steady bulk traffic: sending all through the
	 * tick (busy) without running out of data (no application-limited
	 * rate, no read that found the sends drained), or receiving without
	 * sending (no request/response). */
	uint32_t snd_steady, rcv_steady;
	/* the send buffer size last decided (or found regrown by sockops), 0 = none */
	uint32_t snd_set;
	bool primed;    /* last_us to busy_us, sndbuf and drained_reads hold a sample */
	bool lowat_app; /* the application set its own: leave it */
	/* This tick's rate well above the smoothed one (by more than the
	 * hysteresis): a ramp, which the average lags. */
	bool snd_rising, rcv_rising;
};

/* Ticks of steady bulk traffic before a buffer may be set below the kernel's
 * autotuning ceiling, or its size learned for the destination. */
#define EST_STEADY_TICKS 3u

enum est_reason {
	EST_NONE,   /* leave the buffer as it is */
	EST_GROW,   /* below target: up to target */
	EST_SHRINK, /* above target: down by at most shrink_step */
	EST_PROBE,  /* the buffer itself is the limit: x probe_factor */
};

struct est_decision {
	uint32_t sndbuf;        /* new sk_sndbuf, 0 = leave as is */
	uint32_t rcvbuf;        /* new sk_rcvbuf, 0 = leave as is */
	uint32_t window_clamp;  /* TCP_WINDOW_CLAMP bytes with a new rcvbuf, else 0 */
	uint32_t notsent_lowat; /* new TCP_NOTSENT_LOWAT, 0 = leave as is */
	enum est_reason snd_reason, rcv_reason, lowat_reason;
	/* What the rules want this tick before hysteresis and rate limiting, 0 =
	 * no estimate (side idle, buffer owned by the application, no RTT yet,
	 * or receiver app-limited). A limited side's is its probe. */
	uint32_t snd_target, rcv_target;
	/* What dest_learn() (core/dest_table.h) should be fed: the path's target (rate x RTT) of a
	 * side its own buffer did not hold back in a steady tick, else 0. A
	 * limited side's rate under-reports its path and its probe doubles
	 * whatever it had; a probe's floor is this connection's evidence, kept
	 * by it, not its destination's: none of these is the size a new
	 * connection to the destination should start at. */
	uint32_t learn_sndbuf, learn_rcvbuf;
	uint32_t lowat_target; /* what TCP_NOTSENT_LOWAT should be, 0 = no estimate */
	bool sender, receiver; /* bytes_acked / bytes_received grew */
	bool snd_starved;      /* the writer waited for space with nothing unsent */
	bool snd_limited;      /* ... and the send buffer was what held it back */
	bool rcv_limited;      /* held back by its own receive window */
	bool rcv_app_limited;  /* the application is not reading */
};

/* One tick of one connection. Updates *st, fills *out (always). Assumes the
 * caller applies every change it is given: the change is remembered for the
 * rate limit whether or not setsockopt succeeded. */
void est_update(const struct est_config *cfg, struct est_state *st, const struct est_sample *s,
		struct est_decision *out);

/* est_update() for a sample the state took already (the connection's
 * figures were not refreshed since): it decides nothing on one, so this
 * only counts the tick, without the decision. False, and *st untouched,
 * for any other sample. Inline: the caller then builds only the part of
 * the sample it reads, for every connection of every tick. */
static inline bool est_update_unchanged(struct est_state *st, const struct est_sample *s)
{
	/* what est_update() remembers of a sample, all equal: it would remember
	 * them again */
	if (!st->primed || s->now_us != st->last_us || s->bytes_acked != st->bytes_acked ||
	    s->bytes_received != st->bytes_received ||
	    s->sndbuf_limited_us != st->sndbuf_limited_us ||
	    s->rwnd_limited_us != st->rwnd_limited_us || s->busy_us != st->busy_us ||
	    s->sndbuf != st->sndbuf || s->drained_reads != st->drained_reads)
		return false;
	st->tick++; /* as est_update() does before it finds nothing to compare */
	return true;
}

const char *est_reason_name(enum est_reason r);

/* TCP_NOTSENT_LOWAT never below this many segments. One: the writer of a
 * flow whose BDP is under a segment is woken when all it wrote is sent and
 * writes one skb of the kernel's size goal (half the peer's largest window),
 * so what waits unsent is that skb; its data in flight covers the wake-up.
 * With two, 50 cubic flows at 1 Mbit/s, 10 ms waited 30 ms; with one and an
 * 8 KiB min_buf (a one-segment size goal), 20-23 ms. */
#define EST_LOWAT_MIN_SEGS 1u

/* SO_SNDBUF / SO_RCVBUF value that makes the kernel set sk_size (it doubles
 * what it is given, after capping that at wmem_max / rmem_max). Rounds up. */
int est_setsockopt_value(uint32_t sk_size);

/* sk_sndbuf bytes per payload byte for this MSS: (mss + EST_SKB_OVERHEAD) / mss. */
#define EST_SKB_OVERHEAD 320u
double est_sndbuf_factor(uint32_t mss);

#endif
