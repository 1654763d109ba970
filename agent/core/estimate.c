// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* How big each connection's socket buffers should be, from what its last
 * ticks showed. Read top to bottom: configuration, smoothing, the rules for
 * one buffer, the send side, the receive side, est_update() tying them
 * together. */
#include <limits.h>
#include <string.h>
#include <linux/types.h>
#include "tcptune.h"
#include "core/estimate.h"
#include "core/options.h"

/* Thresholds of the rules, as fractions. */
#define QUEUE_PINNED 0.9     /* send queue at least this share of what sndbuf can hold */
#define IN_FLIGHT_FILLS 0.25 /* rate x srtt at least this share of what sndbuf can hold */
#define WINDOW_LIMITED 0.8   /* rate x RTT at least this share of the receive window */
#define APP_LIMITED 0.5      /* unread data at least this share of rcvbuf */
#define PEER_LIMITED 0.25    /* the peer's window held a sender back this share of the tick */
/* a min RTT under 1/this of the receiver's RTT: no path delay to size from */
#define PATH_RTT_SHARE 4.0
#define STEADY_BUSY 0.9 /* a steady sender has data out this share of the tick */
/* The receiver advertises about half of sk_rcvbuf: the rest pays for skb
 * truesize (tcp_adv_win_scale 1; since 6.6 tp->scaling_ratio, which starts
 * at 50% and is measured from the traffic afterwards). */
#define RCVBUF_PER_WINDOW 2.0
#define DEFAULT_MSS 1448 /* Ethernet, IPv4 with timestamps: before the kernel reports one */
/* A buffer holds at least this long of its connection's rate, about a
 * scheduler slice. On a sub-millisecond path rate x RTT is a few dozen KB at
 * GB/s: a send buffer, receive buffer or TCP_NOTSENT_LOWAT that small wakes
 * the writer or the reader every few KB, and where the CPU is the bottleneck
 * those wake-ups cost more throughput than the memory is worth. On a WAN
 * path rate x RTT is far above it. */
#define WAKEUP_US 2000.0

/* ---- configuration ------------------------------------------------------ */

struct est_config est_config_default(void)
{
	return (struct est_config){
		.alpha = 0.25,
		.headroom = 2.0,
		.min_buf = 8u << 10,
		.max_buf = 64u << 20,
		.hysteresis = 0.25,
		.min_change_interval = 3,
		.probe_factor = 2.0,
		.shrink_step = 0.5,
		.limited_fraction = 0.05,
	};
}

/* The options' bounds are core/options.c's; the rest are the estimator's
 * own. Each test is written so that NaN fails it. */
const char *est_config_check(const struct est_config *c)
{
	if (!option_within(OPTION_ALPHA, c->alpha))
		return option_table[OPTION_ALPHA].key_must;
	if (!option_within(OPTION_HEADROOM, c->headroom))
		return option_table[OPTION_HEADROOM].key_must;
	if (!option_within(OPTION_MIN_BUF, c->min_buf))
		return option_table[OPTION_MIN_BUF].key_must;
	/* before max_buf's own bounds: the message that names both */
	if (c->max_buf < c->min_buf)
		return "max_buf must not be below min_buf";
	if (!option_within(OPTION_MAX_BUF, c->max_buf))
		return option_table[OPTION_MAX_BUF].key_must;
	if (!option_within(OPTION_HYSTERESIS, c->hysteresis))
		return option_table[OPTION_HYSTERESIS].key_must;
	if (c->min_change_interval < 1)
		return "min_change_interval must be at least 1 tick";
	/* a smaller probe would fall inside the hysteresis band and never happen */
	if (!(c->probe_factor > 1 + c->hysteresis && c->probe_factor <= 16))
		return "probe_factor must be above 1 + hysteresis and at most 16";
	if (!(c->shrink_step > 0 && c->shrink_step < 1))
		return "shrink_step must be in (0, 1)";
	if (!(c->limited_fraction > 0 && c->limited_fraction < 1))
		return "limited_fraction must be in (0, 1)";
	return NULL;
}

const char *est_reason_name(enum est_reason r)
{
	switch (r) {
	case EST_NONE:
		return "none";
	case EST_GROW:
		return "grow";
	case EST_SHRINK:
		return "shrink";
	case EST_PROBE:
		return "probe";
	}
	return "?";
}

int est_setsockopt_value(uint32_t sk_size)
{
	uint64_t half = (sk_size + 1ull) / 2;

	return half > INT_MAX ? INT_MAX : (int)half;
}

/* The kernel charges sk_sndbuf with skb->truesize, not payload: each skb
 * carries struct sk_buff (256 bytes aligned), skb_shared_info (320) and
 * header room, about 1 KiB, shared by the segments it holds. Unsent bulk data
 * sits in 64 KiB skbs (~20 bytes per segment); in-flight data, split at
 * transmission, pays more: 20-150 bytes per 1448-byte segment typically, up
 * to ~600 in moments, on a path at MTU 1500 with TSO on or off; the kernel's
 * own autotuning assumes the non-GSO worst case (~2.9 KB). 320 sits on the
 * safe side of that: too small a send buffer costs throughput, too big only
 * memory, and the 22% it adds at MSS 1448 is within the hysteresis band. */
double est_sndbuf_factor(uint32_t mss)
{
	double m = mss ? mss : DEFAULT_MSS;

	return (m + EST_SKB_OVERHEAD) / m;
}

/* ---- smoothing and arithmetic ------------------------------------------- */

/* The first sample seeds the average: no drift up from zero. */
static double ewma(double avg, double sample, double alpha)
{
	return avg == 0 ? sample : alpha * sample + (1 - alpha) * avg;
}

static double max2(double a, double b)
{
	return a > b ? a : b;
}

static uint32_t clamp_buf(const struct est_config *c, double bytes)
{
	if (!(bytes > c->min_buf))
		return c->min_buf;
	if (bytes > c->max_buf)
		return c->max_buf;
	return (uint32_t)(bytes + 0.5);
}

/* ---- the rules for one buffer ------------------------------------------- */

/* The payload bytes WAKEUP_US of the rate moves. */
static double wakeup_payload(double rate_Bps)
{
	return rate_Bps * WAKEUP_US / 1e6;
}

/* The least a buffer target asks for: wakeup_payload() in buffer bytes
 * (per_byte: buffer bytes per payload byte). At most the kernel's ceiling
 * (cap), or the buffer's size where that is unknown: a floor under shrinking,
 * never a reason to grow beyond what the kernel's autotuning would give. */
static double wakeup_bytes(double rate_Bps, double per_byte, uint32_t cap, uint32_t cur)
{
	double bytes = wakeup_payload(rate_Bps) * per_byte;
	double ceiling = cap ? cap : cur;

	return bytes < ceiling ? bytes : ceiling;
}

/* A probe's floor holds while the connection moves at the highest rate seen
 * since the probe; at a lower rate proportionally less is needed. */
static uint32_t floor_now(uint32_t floor, double floor_rate, double rate)
{
	if (!floor || rate >= floor_rate)
		return floor;
	return (uint32_t)(floor * (rate / floor_rate));
}

/* Ticks since this buffer last changed; "forever" when it never did. */
static uint32_t ticks_since(const struct est_state *st, uint32_t change_tick)
{
	return change_tick ? st->tick - change_tick : UINT32_MAX;
}

/* Where the kernel's autotuning suffices, the buffer stays the kernel's:
 * setting it locks it (SOCK_SNDBUF_LOCK, SOCK_RCVBUF_LOCK) for the socket's
 * life, and a locked buffer no longer follows a burst or a faster path
 * within RTTs as the kernel's would. cap is the kernel's autotuning ceiling
 * (0 = unknown: no such limit). A buffer is changed
 *  - above cap, where the kernel cannot take it;
 *  - once above it, back down, to cap at the lowest, unless steady;
 *  - below cap only for a connection steady for EST_STEADY_TICKS (bulk: the
 *    memory a locked small buffer saves is worth it, and its rate says what
 *    it needs), or when it is locked already (ours: the kernel no longer
 *    grows it, so probes and grows are the estimator's to make).
 * rising: the rate is climbing; a target from the lagging average would
 * shrink the buffer under the ramp, so nothing shrinks. */
struct ownership {
	uint32_t cap;
	bool locked;
	bool steady;
	bool rising;
};

static bool kernel_suffices(const struct ownership *o, uint32_t cur, uint32_t next,
			    enum est_reason why)
{
	if (!o->cap || o->steady)
		return false;
	if (why == EST_SHRINK)
		return cur <= o->cap;
	return next <= o->cap && !o->locked;
}

/*
 * cur: the buffer now. target: what headroom x BDP asks for (0 = no
 * estimate). limited: the buffer itself held the connection back this tick.
 * urgent: a grow that may come at probe pace. own: see kernel_suffices().
 * Sets *want to what the rules aim at (0 = nothing). Returns the reason for
 * a change and sets *size to the next size, or returns EST_NONE.
 *
 *  - limited: the measured rate is capped by the buffer, so BDP under-reports
 *    the path: multiply (or go to target when that is bigger).
 *  - below target: grow to it in one step (too small costs throughput).
 *  - above target: shrink by at most shrink_step per change (too big only
 *    costs memory, and a target from a lull must not cut a buffer in one go),
 *    and never below floor, the size a probe proved the connection needs:
 *    where BDP under-reports what a connection keeps in flight (a congestion
 *    control that fills the bottleneck queue, a path whose min RTT is ~0),
 *    shrinking back to a size that limited it would start a probe/shrink
 *    cycle.
 *  - only when target is outside current +- hysteresis (noise must not move
 *    anything), and only every min_change_interval ticks (each change needs
 *    time to show its effect in the rate), probes every EST_PROBE_INTERVAL.
 */
static enum est_reason decide(const struct est_config *c, uint32_t cur, uint32_t target,
			      bool limited, bool urgent, uint32_t floor, uint32_t since,
			      const struct ownership *own, uint32_t *want, uint32_t *size)
{
	enum est_reason why;
	uint32_t next;
	uint32_t wait = urgent ? EST_PROBE_INTERVAL : c->min_change_interval;

	*want = target;
	if (limited)
		*want = clamp_buf(c, max2((double)cur * c->probe_factor, target));
	if (*want == 0)
		return EST_NONE; /* no estimate */
	if (!limited && *want < cur && floor > *want)
		*want = floor < cur ? floor : cur;

	if (limited) {
		if (*want <= cur)
			return EST_NONE; /* already at max_buf */
		why = EST_PROBE;
		next = *want;
		wait = EST_PROBE_INTERVAL;
	} else if (*want > cur) {
		why = EST_GROW;
		next = *want;
	} else {
		why = EST_SHRINK;
		next = clamp_buf(c, max2(*want, cur * (1 - c->shrink_step)));
	}

	double gap = *want > cur ? (double)*want - cur : (double)cur - *want;

	if (gap <= c->hysteresis * cur || since < wait)
		return EST_NONE;
	if (why == EST_SHRINK && own->rising)
		return EST_NONE;
	if (kernel_suffices(own, cur, next, why))
		return EST_NONE;
	if (why == EST_SHRINK && !own->steady && own->cap && next < own->cap)
		next = clamp_buf(c, own->cap);
	*size = next;
	return why;
}

/* What moved since the previous sample: the tick's differences. */
struct tick_delta {
	double dt_us;
	uint64_t acked, received;
	uint64_t sndbuf_limited_us, rwnd_limited_us, busy_us;
	bool drained; /* a read found all the application wrote acknowledged */
};

/* ---- send buffer -------------------------------------------------------- */

/* The data the send buffer holds: sk_sndbuf less the kernel's overhead. */
static double sndbuf_data(const struct est_sample *s)
{
	return s->sndbuf / est_sndbuf_factor(s->mss);
}

/* The writer waited for buffer space this tick with nothing left unsent?
 * The kernel's measure (tcpi_sndbuf_limited) counts time with nothing left
 * unsent, cwnd not full and the application waiting for space, whether the
 * send buffer or TCP_NOTSENT_LOWAT kept it waiting. Fallback when that clock
 * says nothing: the queue is pinned at what the buffer holds AND all of it
 * fits in the congestion window (no unsent backlog; a bulk sender with room
 * to spare also keeps its buffer full, of data waiting for cwnd) AND the
 * peer's window is not the limit (then data waits for the peer, and a bigger
 * buffer would not help). */
static bool writer_starved(const struct est_config *c, const struct est_sample *s,
			   const struct tick_delta *d)
{
	double threshold = c->limited_fraction * d->dt_us;
	uint32_t mss = s->mss ? s->mss : DEFAULT_MSS;

	if (d->sndbuf_limited_us > threshold)
		return true;
	bool pinned = s->snd_queue_bytes >= QUEUE_PINNED * sndbuf_data(s);
	bool all_in_window = s->snd_cwnd && s->snd_queue_bytes <= (double)s->snd_cwnd * mss;
	bool peer_window = d->rwnd_limited_us > threshold;

	return pinned && all_in_window && !peer_window;
}

/* A send buffer that holds a connection's rate back is all in flight, so
 * rate x srtt is most of what it holds. Where that is a small share, what
 * kept the writer waiting was TCP_NOTSENT_LOWAT, or bursts of sends before
 * the ACKs were processed (a CPU-bound sender on a sub-millisecond path): a
 * bigger buffer only makes those bursts bigger. */
static bool buffer_in_flight(const struct est_state *st, const struct est_sample *s)
{
	double rate = max2(st->snd_rate_Bps, (double)s->delivery_rate_Bps);

	return !s->srtt_us || rate * s->srtt_us / 1e6 >= IN_FLIGHT_FILLS * sndbuf_data(s);
}

static void decide_sndbuf(const struct est_config *c, const struct est_state *st,
			  const struct est_sample *s, const struct tick_delta *d,
			  struct est_decision *out)
{
	if (!out->sender)
		return; /* only sending shows what a send buffer needs */
	if (s->app_locks & EST_LOCK_SNDBUF)
		return; /* the application sized it: its buffer, and no path figure */
	if (s->sndbuf == 0)
		return; /* size not known yet */

	double bdp = st->snd_rate_Bps * st->snd_rtt_us / 1e6;
	uint32_t target = 0;

	if (bdp > 0)
		target = clamp_buf(c, max2(c->headroom * bdp * est_sndbuf_factor(s->mss),
					   wakeup_bytes(st->snd_rate_Bps, est_sndbuf_factor(s->mss),
							s->sndbuf_cap, s->sndbuf)));
	out->snd_starved = writer_starved(c, s, d);
	out->snd_limited = out->snd_starved && buffer_in_flight(st, s);

	/* The peer's window holds it back. When that window opens (the peer's
	 * receiver probing or autotuning), this buffer must already hold
	 * probe_factor times what is in flight, or it is the limit a tick later
	 * and the two ends take turns, doubling every other tick: keep ahead,
	 * at probe pace. In flight is rate x srtt (queueing included). Only for
	 * a sustained limit (PEER_LIMITED), not the odd moment of a full window. */
	bool peer_limited = d->rwnd_limited_us > PEER_LIMITED * d->dt_us;
	bool ahead = false;

	if (!out->snd_limited && peer_limited && s->srtt_us) {
		double rate = max2(st->snd_rate_Bps, (double)s->delivery_rate_Bps);
		uint32_t room = clamp_buf(c, c->probe_factor * rate * s->srtt_us / 1e6 *
						     est_sndbuf_factor(s->mss));

		if (room > target) {
			target = room; /* and no shrinking below it */
			ahead = room > s->sndbuf;
		}
	}
	struct ownership own = { s->sndbuf_cap, (s->buf_locks & EST_LOCK_SNDBUF) != 0,
				 st->snd_steady >= EST_STEADY_TICKS, st->snd_rising };

	out->learn_sndbuf = target;
	out->snd_reason = decide(c, s->sndbuf, target, out->snd_limited, ahead,
				 floor_now(st->snd_floor, st->snd_floor_rate_Bps, st->snd_rate_Bps),
				 ticks_since(st, st->snd_change_tick), &own, &out->snd_target,
				 &out->sndbuf);
}

/* ---- unsent data --------------------------------------------------------- */

/* TCP_NOTSENT_LOWAT: how much written data may wait unsent. The send buffer
 * must hold what is in flight, which can be several BDPs when the congestion
 * control fills the bottleneck queue; everything beyond that waits in it, and
 * that wait (notsent / rate) is the delay an application's fresh data sees.
 * The writer is woken when less than half of lowat is left, so one path BDP
 * keeps the pipe fed with half an RTT to spare and bounds the wait to about
 * one RTT; never below WAKEUP_US of the rate, for the wake-ups. A writer
 * starved anyway (sndbuf-limited) doubles it, like a probe. Unlike a buffer
 * it keeps no probe floor: a mark held up by one starved moment keeps more
 * data unsent for good (docs/benchmarks.md). */
static void decide_lowat(const struct est_config *c, struct est_state *st,
			 const struct est_sample *s, struct est_decision *out)
{
	uint32_t mss = s->mss ? s->mss : DEFAULT_MSS;
	uint32_t cur = s->notsent_lowat, want;
	double bdp = st->snd_rate_Bps * st->snd_rtt_us / 1e6;

	if (!out->sender || (s->app_locks & EST_LOCK_SNDBUF))
		return; /* an application that sized its buffer owns its queueing */
	if (cur && cur != st->lowat_set)
		st->lowat_app = true; /* not ours: the application set it */
	if (st->lowat_app || !(bdp > 0))
		return;
	double bytes = max2(max2(bdp, (double)EST_LOWAT_MIN_SEGS * mss),
			    wakeup_payload(st->snd_rate_Bps)) +
		       0.5;

	if (out->snd_starved && cur)
		bytes = max2(bytes, (double)cur * c->probe_factor);
	/* bounded before the conversion: figures from the map may be absurd */
	want = bytes < c->max_buf ? (uint32_t)bytes : c->max_buf;
	out->lowat_target = want;

	double gap = cur > want ? (double)cur - want : (double)want - cur;

	/* An application-limited rate is what the application asked for, not
	 * what the path carries: a mark sized from it would hold back its next
	 * burst. Only steady traffic lowers the mark; any may raise it. */
	if (st->snd_steady < EST_STEADY_TICKS && (!cur || want < cur))
		return;
	/* No more than the send buffer can wait unsent in it: a first mark at
	 * or above the buffer would change nothing. */
	if (!cur && want >= (out->sndbuf ? out->sndbuf : s->sndbuf))
		return;
	if (cur && (gap <= c->hysteresis * cur ||
		    ticks_since(st, st->lowat_change_tick) <
			    (out->snd_starved ? EST_PROBE_INTERVAL : c->min_change_interval)))
		return;
	out->notsent_lowat = want;
	out->lowat_reason = out->snd_starved && cur ? EST_PROBE
			    : cur && want > cur     ? EST_GROW
						    : EST_SHRINK;
	st->lowat_set = want;
	st->lowat_change_tick = st->tick;
}

/* ---- receive buffer ----------------------------------------------------- */

/* A receive buffer is a limit, not an allocation: a reader that keeps up
 * holds next to nothing in it whatever its size (one that does not is left
 * alone). What a smaller one changes is the peer: it fills its unsent tail
 * skb up to half the largest window it was offered (tcp_xmit_size_goal, at
 * most a 64 KiB GSO skb), and at a slow flow's rate that skb is a long wait
 * in its send buffer. So below the kernel's cap a receive buffer is worth
 * setting (and locking, which stops the kernel growing it when the path
 * speeds up) only for a steady receiver whose target window cuts that skb. */
#define RCV_SMALL_WINDOW (128u << 10)

static bool rcv_shrink_worth_it(const struct est_state *st, uint32_t target)
{
	return st->rcv_steady >= EST_STEADY_TICKS && target < RCV_SMALL_WINDOW * RCVBUF_PER_WINDOW;
}

static void decide_rcvbuf(const struct est_config *c, const struct est_state *st,
			  const struct est_sample *s, const struct tick_delta *d,
			  struct est_decision *out)
{
	if (!out->receiver)
		return;
	if (s->app_locks & EST_LOCK_RCVBUF)
		return;
	if (s->rcvbuf == 0)
		return;
	/* Unread data fills the window: the application is the bottleneck and
	 * the rate is its reading rate. Growing would not help; shrinking under
	 * queued data would make the kernel prune and drop. Leave it. */
	out->rcv_app_limited = s->rcv_queue_bytes >= APP_LIMITED * s->rcvbuf;
	if (out->rcv_app_limited)
		return;

	/* The path's RTT, as the sender's target takes it: the min RTT (the
	 * handshake's on a pure receiver), since headroom covers the queue.
	 * Unless it is far below the receiver's own estimate: a path with
	 * next to no propagation delay, whose RTT is all queue, which the
	 * window must then cover. */
	double path_rtt = st->rcv_rtt_us;

	if (s->min_rtt_us && s->min_rtt_us != UINT32_MAX && s->min_rtt_us < path_rtt &&
	    s->min_rtt_us * PATH_RTT_SHARE >= path_rtt)
		path_rtt = s->min_rtt_us;
	double bdp = st->rcv_rate_Bps * path_rtt / 1e6;
	double bdp_this_tick = d->received / d->dt_us * st->rcv_rtt_us;
	double window = s->rcvbuf / RCVBUF_PER_WINDOW;

	if (!(bdp > 0))
		return;
	/* The sender can have at most one window in flight: a rate x RTT close
	 * to it means the window, not the path, set the rate. This tick's own
	 * rate counts too: the window caps every tick, while the smoothed rate
	 * lags a probe by several ticks and would stall the next one. Unless
	 * the RTT is mostly queue (rtt_is_mostly_queue). Probing there also
	 * costs delay for the connection's life: the peer sizes its
	 * unsent tail skb from the largest window it was ever offered. min_rtt
	 * is the handshake's on a pure receiver; ~0 when never measured. */
	bool queue = rtt_is_mostly_queue((uint32_t)st->rcv_rtt_us, s->min_rtt_us);

	out->rcv_limited = !queue && max2(bdp, bdp_this_tick) >= WINDOW_LIMITED * window;

	uint32_t target = clamp_buf(c, max2(c->headroom * bdp * RCVBUF_PER_WINDOW,
					    wakeup_bytes(st->rcv_rate_Bps, RCVBUF_PER_WINDOW,
							 s->rcvbuf_cap, s->rcvbuf)));
	/* Beyond the kernel's ceiling only for a window that holds the rate
	 * back, never from an RTT that is mostly queue: a window sized from a
	 * queue lets the queue grow (a receiver that cannot keep up, a
	 * bottleneck shared with other flows), and the next tick sizes from
	 * the longer one. */
	uint32_t ceiling = s->rcvbuf > s->rcvbuf_cap ? s->rcvbuf : s->rcvbuf_cap;

	if (queue && s->rcvbuf_cap && target > ceiling)
		target = ceiling;
	bool worth_it = rcv_shrink_worth_it(st, target);
	struct ownership own = { s->rcvbuf_cap, (s->buf_locks & EST_LOCK_RCVBUF) != 0, worth_it,
				 st->rcv_rising };

	/* learned only where it would be set: beyond the cap, or worth it below */
	if (!s->rcvbuf_cap || target > s->rcvbuf_cap || worth_it)
		out->learn_rcvbuf = target;
	out->rcv_reason = decide(c, s->rcvbuf, target, out->rcv_limited, false,
				 floor_now(st->rcv_floor, st->rcv_floor_rate_Bps, st->rcv_rate_Bps),
				 ticks_since(st, st->rcv_change_tick), &own, &out->rcv_target,
				 &out->rcvbuf);
	/* window_clamp does not follow a raised rcvbuf by itself: set it to the
	 * window the new buffer backs (headroom x BDP when unclamped). */
	if (out->rcv_reason != EST_NONE)
		out->window_clamp = (uint32_t)(out->rcvbuf / RCVBUF_PER_WINDOW);
}

/* ---- one tick ----------------------------------------------------------- */

/* est_update_unchanged() (estimate.h) compares what this keeps: the two
 * lists stay the same. */
static void remember_counters(struct est_state *st, const struct est_sample *s)
{
	st->primed = true;
	st->last_us = s->now_us;
	st->bytes_acked = s->bytes_acked;
	st->bytes_received = s->bytes_received;
	st->sndbuf_limited_us = s->sndbuf_limited_us;
	st->rwnd_limited_us = s->rwnd_limited_us;
	st->busy_us = s->busy_us;
	st->sndbuf = s->sndbuf;
	st->drained_reads = s->drained_reads;
}

/* A counter that went backwards or a clock that did not advance: no
 * difference to take this tick. */
static bool comparable(const struct est_state *st, const struct est_sample *s)
{
	return st->primed && s->now_us > st->last_us && s->bytes_acked >= st->bytes_acked &&
	       s->bytes_received >= st->bytes_received &&
	       s->sndbuf_limited_us >= st->sndbuf_limited_us &&
	       s->rwnd_limited_us >= st->rwnd_limited_us && s->busy_us >= st->busy_us;
}

static uint32_t first_nonzero(uint32_t a, uint32_t b, uint32_t c)
{
	return a ? a : b ? b : c;
}

/* The tick's differences. Counters whose last segment came long before
 * these figures were taken (more than half the time since the previous
 * ones) were read late: a connection whose last bytes were acked with no
 * system call since is refreshed by the next walk. That is a burst that
 * ended, old news, not traffic now: the connection is idle. */
static void take_delta(const struct est_state *st, const struct est_sample *s, struct tick_delta *d)
{
	d->dt_us = (double)(s->now_us - st->last_us);
	if (s->active_us && s->active_us < s->now_us && s->now_us - s->active_us > d->dt_us / 2)
		return; /* the rest stays 0 */
	d->acked = s->bytes_acked - st->bytes_acked;
	d->received = s->bytes_received - st->bytes_received;
	d->sndbuf_limited_us = s->sndbuf_limited_us - st->sndbuf_limited_us;
	d->rwnd_limited_us = s->rwnd_limited_us - st->rwnd_limited_us;
	d->busy_us = s->busy_us - st->busy_us;
	/* wraps harmlessly: only "any" matters */
	d->drained = s->drained_reads != st->drained_reads;
}

/* How many ticks in a row each side has moved steady traffic. */
static void count_steady(const struct est_config *c, struct est_state *st,
			 const struct est_sample *s, const struct tick_delta *d,
			 const struct est_decision *out)
{
	/* A writer our own TCP_NOTSENT_LOWAT holds back keeps less than a
	 * segment unsent, which the kernel also counts as application-limited:
	 * under our mark the flag says nothing about the application. */
	bool our_lowat = s->notsent_lowat && s->notsent_lowat == st->lowat_set;
	bool busy = d->busy_us >= STEADY_BUSY * d->dt_us;
	/* The flag also marks a writer its full send buffer holds back (all
	 * it wrote in flight, less than a segment unsent): not the
	 * application's doing either. */
	bool held_by_buffer = d->sndbuf_limited_us > c->limited_fraction * d->dt_us;

	/* Back-to-back request/response keeps data in flight all the time (the
	 * ACK of a response comes with the next request) and its rate samples
	 * mid-response are not application-limited: what gives it away is a
	 * read that found every response byte acknowledged. */
	st->snd_steady = out->sender && busy && !d->drained &&
					 (!s->app_limited || our_lowat || held_by_buffer)
				 ? st->snd_steady + 1
				 : 0;
	st->rcv_steady = out->receiver && !out->sender ? st->rcv_steady + 1 : 0;
}

/* The smoothed rates and RTTs. Sender: the kernel's delivery rate sample;
 * the tick's average when there is none. Path RTT: min_rtt, the
 * propagation delay without queueing (headroom covers the queue).
 * Receiver: bytes received over the tick; its own RTT estimate (a pure
 * receiver sends no data, so min_rtt/srtt may be empty or stale). */
static void smooth_rates(const struct est_config *c, struct est_state *st,
			 const struct est_sample *s, const struct tick_delta *d,
			 const struct est_decision *out)
{
	st->snd_rising = st->rcv_rising = false;
	if (out->sender) {
		double rate = s->delivery_rate_Bps ? (double)s->delivery_rate_Bps
						   : d->acked * 1e6 / d->dt_us;
		uint32_t rtt = first_nonzero(s->min_rtt_us, s->srtt_us, 0);

		st->snd_rate_Bps = ewma(st->snd_rate_Bps, rate, c->alpha);
		st->snd_rising = rate > (1 + c->hysteresis) * st->snd_rate_Bps;
		if (rtt)
			st->snd_rtt_us = ewma(st->snd_rtt_us, rtt, c->alpha);
		st->snd_floor_rate_Bps = max2(st->snd_floor_rate_Bps, st->snd_rate_Bps);
	}
	if (out->receiver) {
		uint32_t rtt = first_nonzero(s->rcv_rtt_us, s->min_rtt_us, s->srtt_us);
		double rate = d->received * 1e6 / d->dt_us;

		st->rcv_rate_Bps = ewma(st->rcv_rate_Bps, rate, c->alpha);
		st->rcv_rising = rate > (1 + c->hysteresis) * st->rcv_rate_Bps;
		if (rtt)
			st->rcv_rtt_us = ewma(st->rcv_rtt_us, rtt, c->alpha);
		st->rcv_floor_rate_Bps = max2(st->rcv_floor_rate_Bps, st->rcv_rate_Bps);
	}
}

/* Grown since the last sample, beyond what was set: sockops regrew it on
 * ACKs that found it holding the connection back (regrow_sndbuf in
 * bpf/sockops.bpf.c). That is a probe's evidence, and its size a probe's
 * floor. A size that merely has not come down yet (a shrink decided, not
 * applied by the time of these figures) did not grow. */
static void adopt_regrown_sndbuf(const struct est_config *c, struct est_state *st,
				 const struct est_sample *s, uint32_t prev_sndbuf)
{
	if (st->snd_set && s->sndbuf > st->snd_set + st->snd_set / 8 && s->sndbuf > prev_sndbuf) {
		st->snd_floor = clamp_buf(c, s->sndbuf);
		st->snd_floor_rate_Bps = st->snd_rate_Bps;
		st->snd_set = s->sndbuf;
	}
}

/* What the decisions leave behind: change ticks, what is learned, a
 * probe's floor. */
static void record_decisions(struct est_state *st, struct est_decision *out)
{
	if (out->snd_reason != EST_NONE) {
		st->snd_set = out->sndbuf;
		st->snd_change_tick = st->tick;
	}
	if (out->rcv_reason != EST_NONE)
		st->rcv_change_tick = st->tick;
	/* Only steady traffic is learned: an application-limited rate, or the
	 * answers a request/response exchange asked for, would size a new
	 * connection to the destination for less than its first big burst. */
	if (out->snd_limited || st->snd_steady < EST_STEADY_TICKS)
		out->learn_sndbuf = 0;
	if (out->rcv_limited || st->rcv_steady < EST_STEADY_TICKS)
		out->learn_rcvbuf = 0;
	if (out->snd_reason == EST_PROBE) {
		st->snd_floor = out->sndbuf;
		st->snd_floor_rate_Bps = st->snd_rate_Bps;
	}
	if (out->rcv_reason == EST_PROBE) {
		st->rcv_floor = out->rcvbuf;
		st->rcv_floor_rate_Bps = st->rcv_rate_Bps;
	}
}

void est_update(const struct est_config *c, struct est_state *st, const struct est_sample *s,
		struct est_decision *out)
{
	struct tick_delta d = {};
	uint32_t prev_sndbuf = st->sndbuf;

	memset(out, 0, sizeof(*out));
	st->tick++;
	if (!comparable(st, s)) {
		remember_counters(st, s);
		return;
	}
	take_delta(st, s, &d);
	remember_counters(st, s);
	out->sender = d.acked > 0;
	out->receiver = d.received > 0;
	count_steady(c, st, s, &d, out);
	smooth_rates(c, st, s, &d, out);
	adopt_regrown_sndbuf(c, st, s, prev_sndbuf);
	decide_sndbuf(c, st, s, &d, out);
	decide_lowat(c, st, s, out);
	decide_rcvbuf(c, st, s, &d, out);
	record_decisions(st, out);
}
