// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/core/estimate.c: buffer targets, probing, shrinking,
 * hysteresis, rate limiting, stability, and what a destination learns. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "core/dest_table.h"
#include "core/estimate.h"

#define TICK_US 1000000ull
#define KiB 1024u
#define MiB (1024u * 1024u)
#define MSS 1448u
/* (1448 + 320) / 1448 */
#define FACTOR ((double)(MSS + EST_SKB_OVERHEAD) / MSS)

/* ==== a connection driven one tick at a time ============================= */

struct conn {
	struct est_config cfg;
	struct est_state st;
	struct est_sample s;   /* the figures the next tick reports */
	struct est_decision d; /* the last decision */
};

/* A connection seen for the first time: that tick only primes the state. */
static void conn_start(struct conn *c, uint32_t sndbuf, uint32_t rcvbuf)
{
	memset(c, 0, sizeof(*c));
	c->cfg = est_config_default();
	c->s.now_us = 1000 * TICK_US;
	c->s.mss = MSS;
	c->s.snd_cwnd = 10;
	c->s.sndbuf = sndbuf;
	c->s.rcvbuf = rcvbuf;
	est_update(&c->cfg, &c->st, &c->s, &c->d);
}

static const struct est_decision *tick(struct conn *c)
{
	c->s.now_us += TICK_US;
	est_update(&c->cfg, &c->st, &c->s, &c->d);
	return &c->d;
}

/* A sending tick: `rate` bytes/s acked and reported as delivery rate, path
 * RTT, and the share of the tick the kernel counted as sndbuf-limited. */
static const struct est_decision *send_tick(struct conn *c, double rate, uint32_t rtt_us,
					    double limited_share)
{
	c->s.bytes_acked += (uint64_t)(rate * TICK_US / 1e6);
	c->s.delivery_rate_Bps = (uint64_t)rate;
	c->s.min_rtt_us = rtt_us;
	c->s.srtt_us = rtt_us;
	c->s.sndbuf_limited_us += (uint64_t)(limited_share * TICK_US);
	c->s.busy_us += TICK_US; /* data out all through the tick */
	return tick(c);
}

/* A receiving tick: `rate` bytes/s received, the receiver's RTT estimate. */
static const struct est_decision *recv_tick(struct conn *c, double rate, uint32_t rtt_us)
{
	c->s.bytes_received += (uint64_t)(rate * TICK_US / 1e6);
	c->s.rcv_rtt_us = rtt_us;
	return tick(c);
}

/* What the agent does with a decision: the kernel then reports these sizes. */
static void apply(struct conn *c)
{
	if (c->d.sndbuf)
		c->s.sndbuf = c->d.sndbuf;
	if (c->d.rcvbuf)
		c->s.rcvbuf = c->d.rcvbuf;
}

/* The sender rate whose target (headroom 2) is `target` bytes at this RTT. */
static double rate_for_snd_target(double target, uint32_t rtt_us)
{
	return target / (2.0 * FACTOR) / (rtt_us / 1e6);
}

static void assert_near(double got, double want, double tolerance)
{
	if (got < want - tolerance || got > want + tolerance)
		fail_msg("got %.1f, want %.1f +- %.1f", got, want, tolerance);
}

/* ---- a path to simulate bulk transfers over ----------------------------- */

struct path {
	double rate_Bps;
	double rtt_us;
};

/* Fixed-seed xorshift: the same "noise" every run. */
static uint32_t rng_state = 2463534242u;

static double noise(double amplitude) /* uniform in [-amplitude, +amplitude] */
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return amplitude * (2.0 * rng_state / 4294967295.0 - 1.0);
}

/* One second of a bulk sender: it delivers what the path allows, or what its
 * buffer lets it keep in flight per RTT when that is less, and the kernel
 * counts the shortfall as sndbuf-limited time. */
static const struct est_decision *sim_send(struct conn *c, const struct path *p, double jitter)
{
	double rtt = p->rtt_us * (1 + noise(jitter));
	double path_rate = p->rate_Bps * (1 + noise(jitter));
	double cap = c->s.sndbuf / est_sndbuf_factor(c->s.mss) / (rtt / 1e6);
	double rate = cap < path_rate ? cap : path_rate;

	return send_tick(c, rate, (uint32_t)rtt, 1 - rate / path_rate);
}

/* One second of a bulk receiver: the sender can have one window (half of
 * rcvbuf) in flight per RTT. */
static const struct est_decision *sim_recv(struct conn *c, const struct path *p, double jitter)
{
	double rtt = p->rtt_us * (1 + noise(jitter));
	double path_rate = p->rate_Bps * (1 + noise(jitter));
	double cap = c->s.rcvbuf / 2.0 / (rtt / 1e6);

	return recv_tick(c, cap < path_rate ? cap : path_rate, (uint32_t)rtt);
}

static const struct path long_fat = { 25e6, 100000 }; /* 25 MB/s, 100 ms: BDP 2.5 MB */

/* ==== configuration ====================================================== */

static void config_defaults(void **unused)
{
	(void)unused;
	struct est_config c = est_config_default();

	assert_float_equal(c.alpha, 0.25, 0);
	assert_float_equal(c.headroom, 2.0, 0);
	assert_int_equal(c.min_buf, 8 * KiB);
	assert_int_equal(c.max_buf, 64 * MiB);
	assert_float_equal(c.hysteresis, 0.25, 0);
	assert_int_equal(c.min_change_interval, 3);
	assert_float_equal(c.probe_factor, 2.0, 0);
	assert_float_equal(c.shrink_step, 0.5, 0);
	assert_float_equal(c.limited_fraction, 0.05, 0);
	assert_null(est_config_check(&c));
}

#define EXPECT_BAD(field, value, message)                             \
	do {                                                          \
		struct est_config c_ = est_config_default();          \
		c_.field = (value);                                   \
		const char *why_ = est_config_check(&c_);             \
		if (!why_)                                            \
			fail_msg("%s = %s accepted", #field, #value); \
		assert_string_equal(why_, message);                   \
	} while (0)

#define EXPECT_GOOD(field, value)                                              \
	do {                                                                   \
		struct est_config c_ = est_config_default();                   \
		c_.field = (value);                                            \
		const char *why_ = est_config_check(&c_);                      \
		if (why_)                                                      \
			fail_msg("%s = %s refused: %s", #field, #value, why_); \
	} while (0)

static void config_validation(void **unused)
{
	(void)unused;
	EXPECT_BAD(alpha, 0, "alpha must be a number above 0 and at most 1");
	EXPECT_BAD(alpha, -0.5, "alpha must be a number above 0 and at most 1");
	EXPECT_BAD(alpha, 1.01, "alpha must be a number above 0 and at most 1");
	EXPECT_BAD(alpha, __builtin_nan(""), "alpha must be a number above 0 and at most 1");
	EXPECT_GOOD(alpha, 1);
	EXPECT_GOOD(alpha, 0.01);
	EXPECT_BAD(headroom, 0.9, "headroom must be a number from 1 to 16");
	EXPECT_BAD(headroom, 17, "headroom must be a number from 1 to 16");
	EXPECT_BAD(headroom, __builtin_nan(""), "headroom must be a number from 1 to 16");
	EXPECT_GOOD(headroom, 1);
	EXPECT_BAD(min_buf, 4096, "min_buf must be a size from 8K to 1G");
	EXPECT_GOOD(min_buf, 8192);
	EXPECT_BAD(max_buf, 8 * KiB - 1, "max_buf must not be below min_buf");
	EXPECT_BAD(max_buf, (1u << 30) + 1, "max_buf must be a size from 8K to 1G");
	EXPECT_GOOD(max_buf, 8 * KiB); /* = min_buf: a fixed size */
	EXPECT_GOOD(max_buf, 1u << 30);
	EXPECT_BAD(hysteresis, -0.01, "hysteresis must be a number from 0 to 0.99");
	EXPECT_BAD(hysteresis, 1, "hysteresis must be a number from 0 to 0.99");
	EXPECT_BAD(hysteresis, 0.995, "hysteresis must be a number from 0 to 0.99");
	EXPECT_GOOD(hysteresis, 0);
	EXPECT_BAD(min_change_interval, 0, "min_change_interval must be at least 1 tick");
	EXPECT_GOOD(min_change_interval, 1);
	EXPECT_BAD(probe_factor, 1.25, "probe_factor must be above 1 + hysteresis and at most 16");
	EXPECT_BAD(probe_factor, 1.0, "probe_factor must be above 1 + hysteresis and at most 16");
	EXPECT_BAD(probe_factor, 17, "probe_factor must be above 1 + hysteresis and at most 16");
	EXPECT_GOOD(probe_factor, 1.3);
	EXPECT_BAD(shrink_step, 0, "shrink_step must be in (0, 1)");
	EXPECT_BAD(shrink_step, 1, "shrink_step must be in (0, 1)");
	EXPECT_GOOD(shrink_step, 0.1);
	EXPECT_BAD(limited_fraction, 0, "limited_fraction must be in (0, 1)");
	EXPECT_BAD(limited_fraction, 1, "limited_fraction must be in (0, 1)");
	EXPECT_BAD(limited_fraction, __builtin_nan(""), "limited_fraction must be in (0, 1)");
	EXPECT_GOOD(limited_fraction, 0.5);

	/* probe_factor is checked against the hysteresis actually configured */
	struct est_config c = est_config_default();
	c.hysteresis = 0.5;
	c.probe_factor = 1.4;
	assert_non_null(est_config_check(&c));
}

static void names_and_setsockopt_value(void **unused)
{
	(void)unused;
	assert_string_equal(est_reason_name(EST_NONE), "none");
	assert_string_equal(est_reason_name(EST_GROW), "grow");
	assert_string_equal(est_reason_name(EST_SHRINK), "shrink");
	assert_string_equal(est_reason_name(EST_PROBE), "probe");
	assert_string_equal(est_reason_name((enum est_reason)42), "?");

	/* the kernel doubles: pass half, rounding up so it never ends below */
	assert_int_equal(est_setsockopt_value(64 * KiB), 32 * KiB);
	assert_int_equal(est_setsockopt_value(6104972), 3052486);
	assert_int_equal(est_setsockopt_value(100001), 50001);
	assert_int_equal(est_setsockopt_value(1u << 30), 1 << 29);
	assert_int_equal(est_setsockopt_value(UINT32_MAX), INT_MAX); /* never negative */

	assert_float_equal(est_sndbuf_factor(1448), 1768.0 / 1448, 1e-12);
	assert_float_equal(est_sndbuf_factor(0), 1768.0 / 1448, 1e-12); /* not known yet */
	assert_float_equal(est_sndbuf_factor(536), 856.0 / 536, 1e-12);
}

/* ==== the first tick, idle ticks, roles ================================== */

static void first_sample_only_primes(void **unused)
{
	(void)unused;
	struct conn c;

	/* a connection open long before the agent started: its counters are
	 * since the connection began, not since a previous tick, and its 64 MiB
	 * buffers are far off any target. The first tick has no differences to
	 * take, so it decides nothing */
	memset(&c, 0, sizeof(c));
	c.cfg = est_config_default();
	c.s = (struct est_sample){
		.now_us = 5000 * TICK_US,
		.srtt_us = 1000,
		.min_rtt_us = 1000,
		.rcv_rtt_us = 1000,
		.mss = MSS,
		.snd_cwnd = 10,
		.delivery_rate_Bps = 1000000,
		.bytes_acked = 10000000000ull,
		.bytes_received = 10000000000ull,
		.sndbuf = 64 * MiB,
		.rcvbuf = 64 * MiB,
		.sndbuf_limited_us = 3000 * TICK_US,
	};
	est_update(&c.cfg, &c.st, &c.s, &c.d);
	assert_true(c.st.primed);
	assert_int_equal(c.d.sndbuf, 0);
	assert_int_equal(c.d.rcvbuf, 0);
	assert_int_equal(c.d.snd_reason, EST_NONE);
	assert_int_equal(c.d.rcv_reason, EST_NONE);
	assert_false(c.d.sender);
	assert_false(c.d.receiver);
	assert_false(c.d.snd_limited);
	assert_int_equal(c.d.snd_target, 0);
	assert_float_equal(c.st.snd_rate_Bps, 0, 0);
	/* the second one does */
	c.s.bytes_received += 1000000;
	send_tick(&c, 1e6, 1000, 0);
	assert_int_equal(c.d.snd_reason, EST_SHRINK);
	assert_int_equal(c.d.rcv_reason, EST_SHRINK);
}

static void idle_connection_no_change(void **unused)
{
	(void)unused;
	struct conn c;

	conn_start(&c, 4 * MiB, 4 * MiB);
	send_tick(&c, 10e6, 100000, 0); /* 1 MB in flight: target 2.44 MB */
	assert_int_equal(c.d.snd_reason, EST_SHRINK);
	apply(&c);

	/* nothing acked, nothing received for many ticks: no decision at all,
	 * even with the rate limit long expired and a buffer far off target */
	c.s.sndbuf = 32 * MiB;
	c.s.snd_queue_bytes = 30 * MiB; /* would look pinned */
	c.s.snd_cwnd = 100000;
	for (int i = 0; i < 10; i++) {
		tick(&c);
		assert_false(c.d.sender);
		assert_false(c.d.receiver);
		assert_int_equal(c.d.sndbuf, 0);
		assert_int_equal(c.d.rcvbuf, 0);
		assert_int_equal(c.d.window_clamp, 0);
		assert_int_equal(c.d.snd_reason, EST_NONE);
		assert_int_equal(c.d.snd_target, 0);
	}
	/* ... but the state moved on: a pause is not a rate of zero, and the next
	 * active tick measures over its own tick, not since the last activity */
	assert_int_equal(c.st.last_us, c.s.now_us);
	assert_float_equal(c.st.snd_rate_Bps, 10e6, 1);
	c.s.delivery_rate_Bps = 0; /* use bytes_acked / dt */
	c.s.bytes_acked += 20000000;
	tick(&c);
	assert_true(c.d.sender);
	assert_float_equal(c.st.snd_rate_Bps, 0.25 * 20e6 + 0.75 * 10e6, 1);
}

/* Counters read late (the walk refreshes a connection whose last bytes were
 * acked with no system call since): when its last segment came before the
 * previous sample, those bytes are old news, and the connection is idle this
 * tick; counted as this tick's, they made it look active and kept it out of
 * the idle buffers shrunk under memory pressure. Activity within the tick
 * still counts. */
static void late_counters_are_not_activity(void **unused)
{
	(void)unused;
	struct conn c;

	conn_start(&c, 4 * MiB, 4 * MiB);
	send_tick(&c, 10e6, 100000, 0);
	assert_true(c.d.sender);
	/* three ticks without a refresh: the figures keep their time */
	for (int i = 0; i < 3; i++) {
		est_update(&c.cfg, &c.st, &c.s, &c.d);
		assert_false(c.d.sender);
	}
	/* then a walk's refresh: 2 MB more acked, the last of it just after
	 * the previous figures were taken */
	uint64_t previous = c.s.now_us;

	c.s.now_us += 4 * TICK_US;
	c.s.bytes_acked += 2000000;
	c.s.bytes_received += 1000;
	c.s.active_us = previous + TICK_US / 10;
	est_update(&c.cfg, &c.st, &c.s, &c.d);
	assert_false(c.d.sender);
	assert_false(c.d.receiver);
	assert_int_equal(c.st.bytes_acked, c.s.bytes_acked); /* taken in, not measured */
	assert_float_equal(c.st.snd_rate_Bps, 10e6, 1);
	/* a writer asleep on its full buffer, refreshed 1.4 ticks later by
	 * its next write, ACKs until just now: active, at its real rate */
	c.s.now_us += TICK_US * 14 / 10;
	c.s.bytes_acked += 1400000;
	c.s.delivery_rate_Bps = 0;
	c.s.active_us = c.s.now_us - TICK_US / 100;
	est_update(&c.cfg, &c.st, &c.s, &c.d);
	assert_true(c.d.sender);
	assert_float_equal(c.st.snd_rate_Bps, 0.75 * 10e6 + 0.25 * 1e6, 1);
}

static void roles_decide_their_own_buffer(void **unused)
{
	(void)unused;
	struct conn c;

	/* a pure sender on a long fat path with a tiny receive buffer: only
	 * sndbuf is its business */
	conn_start(&c, 4 * MiB, 64 * KiB);
	send_tick(&c, 25e6, 100000, 0);
	assert_true(c.d.sender);
	assert_false(c.d.receiver);
	assert_int_equal(c.d.snd_reason, EST_GROW);
	assert_int_equal(c.d.rcv_reason, EST_NONE);
	assert_int_equal(c.d.rcvbuf, 0);
	assert_int_equal(c.d.rcv_target, 0);

	/* a pure receiver with a huge send buffer: only rcvbuf */
	conn_start(&c, 64 * MiB, 7000000);
	recv_tick(&c, 25e6, 100000);
	assert_false(c.d.sender);
	assert_true(c.d.receiver);
	assert_int_equal(c.d.rcv_reason, EST_GROW);
	assert_int_equal(c.d.snd_reason, EST_NONE);
	assert_int_equal(c.d.sndbuf, 0);

	/* both directions busy: both buffers decided */
	conn_start(&c, 64 * MiB, 7000000);
	c.s.bytes_received += 25000000;
	c.s.rcv_rtt_us = 100000;
	send_tick(&c, 1e6, 100000, 0);
	assert_true(c.d.sender);
	assert_true(c.d.receiver);
	assert_int_equal(c.d.snd_reason, EST_SHRINK);
	assert_int_equal(c.d.rcv_reason, EST_GROW);
}

/* ==== rates, RTTs, smoothing ============================================= */

static void smoothing_and_fallbacks(void **unused)
{
	(void)unused;
	struct conn c;

	conn_start(&c, 4 * MiB, 4 * MiB);
	send_tick(&c, 10e6, 50000, 0);
	assert_float_equal(c.st.snd_rate_Bps, 10e6, 0.5); /* first sample seeds */
	assert_float_equal(c.st.snd_rtt_us, 50000, 0);
	send_tick(&c, 20e6, 90000, 0);
	assert_float_equal(c.st.snd_rate_Bps, 12.5e6, 0.5); /* 0.25 new + 0.75 old */
	assert_float_equal(c.st.snd_rtt_us, 60000, 1e-9);

	/* path RTT is min_rtt, not srtt (queueing is what headroom is for) */
	c.s.bytes_acked += 10000000;
	c.s.min_rtt_us = 60000;
	c.s.srtt_us = 400000;
	tick(&c);
	assert_float_equal(c.st.snd_rtt_us, 60000, 1e-9);

	/* the kernel's delivery rate, not bytes over the tick: a sender that
	 * idles between bursts delivers each burst at the path's rate */
	conn_start(&c, 4 * MiB, 4 * MiB);
	c.s.bytes_acked += 5000000;
	c.s.delivery_rate_Bps = 25000000;
	c.s.min_rtt_us = 100000;
	tick(&c);
	assert_float_equal(c.st.snd_rate_Bps, 25e6, 0.5);

	/* no delivery rate sample: bytes acked over the tick */
	conn_start(&c, 4 * MiB, 4 * MiB);
	c.s.bytes_acked += 3000000;
	c.s.delivery_rate_Bps = 0;
	c.s.min_rtt_us = 0;
	c.s.srtt_us = 20000; /* no min_rtt yet: srtt */
	c.s.now_us += TICK_US / 2;
	est_update(&c.cfg, &c.st, &c.s, &c.d);
	assert_float_equal(c.st.snd_rate_Bps, 6e6, 0.5);
	assert_float_equal(c.st.snd_rtt_us, 20000, 0);

	/* receiver: bytes received over the tick, its own RTT estimate first */
	conn_start(&c, 4 * MiB, 4 * MiB);
	c.s.min_rtt_us = 30000;
	c.s.srtt_us = 40000;
	recv_tick(&c, 8e6, 70000);
	assert_float_equal(c.st.rcv_rate_Bps, 8e6, 0.5);
	assert_float_equal(c.st.rcv_rtt_us, 70000, 0);
	recv_tick(&c, 8e6, 0); /* no rcv_rtt: min_rtt */
	assert_float_equal(c.st.rcv_rtt_us, 0.25 * 30000 + 0.75 * 70000, 1e-9);
	c.s.min_rtt_us = 0;
	recv_tick(&c, 8e6, 0); /* nor min_rtt: srtt */
	assert_float_equal(c.st.rcv_rtt_us, 0.25 * 40000 + 0.75 * 60000, 1e-9);
	/* the receiver's figures never fed the sender's */
	assert_float_equal(c.st.snd_rate_Bps, 0, 0);

	/* alpha 1: no memory */
	conn_start(&c, 4 * MiB, 4 * MiB);
	c.cfg.alpha = 1;
	send_tick(&c, 10e6, 50000, 0);
	send_tick(&c, 20e6, 50000, 0);
	assert_float_equal(c.st.snd_rate_Bps, 20e6, 0.5);
}

static void counters_going_backwards_reprime(void **unused)
{
	(void)unused;
	struct conn c;

	conn_start(&c, 64 * MiB, 64 * MiB);
	c.s.bytes_acked = 1000;
	c.s.delivery_rate_Bps = 1000000; /* the rate of the good tick below */
	c.s.now_us += TICK_US;
	est_update(&c.cfg, &c.st, &c.s, &c.d);
	c.s.bytes_acked = 10; /* went backwards: nothing to compare with */
	send_tick(&c, 0, 1000, 0);
	assert_false(c.d.sender);
	assert_int_equal(c.d.snd_reason, EST_NONE);
	/* the clock not moving: nothing either */
	c.s.bytes_acked += 5000000;
	est_update(&c.cfg, &c.st, &c.s, &c.d);
	assert_int_equal(c.d.snd_reason, EST_NONE);
	/* and the next good tick works from the re-primed counters */
	send_tick(&c, 1e6, 1000, 0);
	assert_true(c.d.sender);
	assert_int_equal(c.d.snd_reason, EST_SHRINK);
}

/* A sample the state took already: est_update_unchanged() leaves the state
 * as est_update() does and stands for it (which decides nothing on one);
 * any other sample it leaves to est_update(). */
static void unchanged_sample_only_counts_the_tick(void **unused)
{
	(void)unused;
	static const struct est_decision none;
	struct conn c;
	struct est_state before, want;
	struct est_decision d;
	int checked = 0;

	conn_start(&c, 16 * 1024, 64 * MiB);
	for (int t = 0; t < 40; t++) {
		/* limited, then steady, then idle: probes, shrinks and quiet ticks */
		if (t < 15)
			send_tick(&c, 4e6, 40000, 0.5);
		else if (t < 30)
			send_tick(&c, 1e6, 40000, 0);
		else
			tick(&c);
		apply(&c);
		if (c.s.sndbuf != c.st.sndbuf)
			continue; /* a change applied: the next sample differs */
		before = want = c.st;
		est_update(&c.cfg, &want, &c.s, &d);
		assert_memory_equal(&d, &none, sizeof(d));
		assert_true(est_update_unchanged(&c.st, &c.s));
		assert_memory_equal(&c.st, &want, sizeof(want));
		assert_int_equal(c.st.tick, before.tick + 1);
		checked++;
		/* a sample with anything moved is est_update()'s */
		before = c.st;
		c.s.bytes_acked++;
		assert_false(est_update_unchanged(&c.st, &c.s));
		c.s.bytes_acked--;
		c.s.now_us++;
		assert_false(est_update_unchanged(&c.st, &c.s));
		c.s.now_us--;
		assert_memory_equal(&c.st, &before, sizeof(before));
	}
	assert_true(checked > 20);
	/* nothing taken yet: nothing to be unchanged from */
	memset(&c.st, 0, sizeof(c.st));
	assert_false(est_update_unchanged(&c.st, &c.s));
}

/* ==== targets ============================================================ */

static void long_fat_path_sender(void **unused)
{
	(void)unused;
	struct conn c;

	/* 25 MB/s x 100 ms = 2.5 MB in flight; 2 x that, in truesize */
	conn_start(&c, 4 * MiB, 128 * KiB);
	send_tick(&c, 25e6, 100000, 0);
	double want = 2 * 2.5e6 * FACTOR; /* ~6.1 MB */
	assert_near(c.d.snd_target, want, 1);
	assert_int_equal(c.d.snd_reason, EST_GROW);
	assert_near(c.d.sndbuf, want, 1);
	assert_int_equal(c.d.window_clamp, 0); /* that is for receivers */
}

static void long_fat_path_receiver(void **unused)
{
	(void)unused;
	struct conn c;

	/* window 3.5 MB > 2.5 MB in flight: not window-limited, below target */
	conn_start(&c, 4 * MiB, 7000000);
	recv_tick(&c, 25e6, 100000);
	assert_false(c.d.rcv_limited);
	assert_int_equal(c.d.rcv_reason, EST_GROW);
	assert_int_equal(c.d.rcv_target, 10000000); /* 2 x BDP x 2 */
	assert_int_equal(c.d.rcvbuf, 10000000);
	assert_int_equal(c.d.window_clamp, 5000000); /* headroom x BDP */
}

static void short_path_small_target(void **unused)
{
	(void)unused;
	struct conn c;

	/* 100 MB/s at 4 ms: 400 KB in flight; the kernel had autotuned 4 MiB */
	conn_start(&c, 4 * MiB, 4 * MiB);
	c.s.bytes_received += 100000000;
	c.s.rcv_rtt_us = 4000;
	send_tick(&c, 100e6, 4000, 0);
	assert_near(c.d.snd_target, 2 * 400000 * FACTOR, 1);
	assert_int_equal(c.d.rcv_target, 1600000);
	/* far above target: the first step only halves */
	assert_int_equal(c.d.snd_reason, EST_SHRINK);
	assert_int_equal(c.d.sndbuf, 2 * MiB);
	assert_int_equal(c.d.rcv_reason, EST_SHRINK);
	assert_int_equal(c.d.rcvbuf, 2 * MiB);
	assert_int_equal(c.d.window_clamp, 1 * MiB); /* the window 2 MiB backs */
}

static void clamp_at_min_and_max(void **unused)
{
	(void)unused;
	struct conn c;

	/* 1 MB/s at 1 ms: 2.4 KB wanted, 8 KiB is the floor */
	conn_start(&c, 1 * MiB, 64 * KiB);
	uint32_t seen[8];
	int n = 0;
	for (int i = 0; i < 24; i++) {
		send_tick(&c, 1e6, 1000, 0);
		assert_int_equal(c.d.snd_target, 8 * KiB);
		if (c.d.sndbuf && n < 8)
			seen[n++] = c.d.sndbuf;
		apply(&c);
	}
	assert_int_equal(n, 7);
	assert_int_equal(seen[0], 512 * KiB);
	assert_int_equal(seen[1], 256 * KiB);
	assert_int_equal(seen[2], 128 * KiB);
	assert_int_equal(seen[3], 64 * KiB);
	assert_int_equal(seen[4], 32 * KiB);
	assert_int_equal(seen[5], 16 * KiB);
	assert_int_equal(seen[6], 8 * KiB);
	assert_int_equal(c.s.sndbuf, 8 * KiB);

	/* 1 GB/s at 200 ms: 200 MB in flight, 64 MiB is the ceiling */
	conn_start(&c, 16 * MiB, 64 * KiB);
	c.s.bytes_received += 1000000000;
	c.s.rcv_rtt_us = 200000;
	send_tick(&c, 1e9, 200000, 0);
	assert_int_equal(c.d.snd_target, 64 * MiB);
	assert_int_equal(c.d.sndbuf, 64 * MiB);
	assert_int_equal(c.d.rcv_target, 64 * MiB);
	assert_int_equal(c.d.rcvbuf, 64 * MiB);
	apply(&c);
	for (int i = 0; i < 10; i++) {
		c.s.bytes_received += 1000000000;
		send_tick(&c, 1e9, 200000, 0);
		assert_int_equal(c.d.sndbuf, 0);
		assert_int_equal(c.d.rcvbuf, 0);
	}

	/* a configured range is honoured */
	conn_start(&c, 1 * MiB, 64 * KiB);
	c.cfg.min_buf = 256 * KiB;
	c.cfg.max_buf = 2 * MiB;
	send_tick(&c, 1e6, 1000, 0);
	assert_int_equal(c.d.snd_target, 256 * KiB);
	send_tick(&c, 1e9, 200000, 0);
	assert_int_equal(c.d.snd_target, 2 * MiB);
}

/* ==== probing ============================================================ */

static void probe_when_sndbuf_limited(void **unused)
{
	(void)unused;
	struct conn c;
	uint32_t before;

	/* 64 KiB on a 2.5 MB path: the buffer caps the rate at ~0.5 MB/s, so
	 * the rate says nothing about the path. Double every tick until the
	 * buffer holds a BDP (4 MiB holds 3.4 MB). */
	conn_start(&c, 64 * KiB, 64 * KiB);
	for (int i = 0; i < 6; i++) {
		before = c.s.sndbuf;
		sim_send(&c, &long_fat, 0);
		assert_true(c.d.snd_limited);
		assert_int_equal(c.d.snd_reason, EST_PROBE);
		assert_int_equal(c.d.sndbuf, 2 * before);
		assert_int_equal(c.d.learn_sndbuf, 0); /* not the destination's size */
		apply(&c);
	}
	assert_int_equal(c.s.sndbuf, 4 * MiB);
	/* no longer limited: no more probes; the rate now shows the path and
	 * the buffer settles at its target, 2 x 2.5 MB x factor */
	for (int i = 0; i < 30; i++) {
		sim_send(&c, &long_fat, 0);
		assert_false(c.d.snd_limited);
		assert_int_not_equal(c.d.snd_reason, EST_PROBE);
		/* what is learned is the path's figure, not the probe's floor */
		assert_true(c.d.learn_sndbuf > 0 && c.d.learn_sndbuf <= c.d.snd_target);
		apply(&c);
	}
	assert_near(c.s.sndbuf, 2 * 2.5e6 * FACTOR, 0.25 * 2 * 2.5e6 * FACTOR);
	assert_near(c.d.learn_sndbuf, 2 * 2.5e6 * FACTOR, 0.05 * 2 * 2.5e6 * FACTOR);

	/* limited for less than limited_fraction of the tick: not limited */
	conn_start(&c, 4 * MiB, 64 * KiB);
	send_tick(&c, rate_for_snd_target(4 * MiB, 100000), 100000, 0.04);
	assert_false(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_NONE);
	send_tick(&c, rate_for_snd_target(4 * MiB, 100000), 100000, 0.06);
	assert_true(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_PROBE);
	assert_int_equal(c.d.sndbuf, 8 * MiB);
}

static void probe_when_send_queue_pinned(void **unused)
{
	(void)unused;
	struct conn c;
	/* a rate whose target is the current 1 MiB: only a probe would move it */
	double rate = rate_for_snd_target(1 * MiB, 100000);
	uint32_t holds = (uint32_t)(1 * MiB / FACTOR);

	/* the kernel's clock says nothing, but the queue is pinned at what the
	 * buffer holds and all of it is in flight */
	conn_start(&c, 1 * MiB, 64 * KiB);
	c.s.snd_queue_bytes = holds * 95 / 100;
	c.s.snd_cwnd = 600; /* 869 KB */
	send_tick(&c, rate, 100000, 0);
	assert_true(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_PROBE);
	assert_int_equal(c.d.sndbuf, 2 * MiB);

	/* the same queue with more than a window of it unsent: a bulk sender
	 * with room to spare, waiting for cwnd */
	conn_start(&c, 1 * MiB, 64 * KiB);
	c.s.snd_queue_bytes = holds * 95 / 100;
	c.s.snd_cwnd = 100; /* 145 KB */
	send_tick(&c, rate, 100000, 0);
	assert_false(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_NONE);

	/* pinned because the peer's window is full: our buffer is not the limit */
	conn_start(&c, 1 * MiB, 64 * KiB);
	c.s.snd_queue_bytes = holds * 95 / 100;
	c.s.snd_cwnd = 600;
	c.s.rwnd_limited_us += TICK_US / 2;
	send_tick(&c, rate, 100000, 0);
	assert_false(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_NONE);

	/* not pinned (80% < 90%) */
	conn_start(&c, 1 * MiB, 64 * KiB);
	c.s.snd_queue_bytes = holds * 80 / 100;
	c.s.snd_cwnd = 600;
	send_tick(&c, rate, 100000, 0);
	assert_false(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_NONE);
}

static void probe_stops_at_max_buf(void **unused)
{
	(void)unused;
	struct conn c;

	/* 40 MB in flight at 100 ms, most of what 48 MiB holds */
	conn_start(&c, 48 * MiB, 64 * KiB);
	send_tick(&c, 400e6, 100000, 0.5);
	assert_int_equal(c.d.snd_reason, EST_PROBE);
	assert_int_equal(c.d.sndbuf, 64 * MiB); /* clamped, not 96 MiB */
	apply(&c);
	send_tick(&c, 400e6, 100000, 0.5);
	assert_true(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_NONE); /* nothing left to probe */
	assert_int_equal(c.d.sndbuf, 0);

	/* a last step smaller than the hysteresis band is not taken */
	conn_start(&c, 60 * MiB, 64 * KiB);
	send_tick(&c, 400e6, 100000, 0.5);
	assert_true(c.d.snd_limited);
	assert_int_equal(c.d.snd_target, 64 * MiB);
	assert_int_equal(c.d.snd_reason, EST_NONE);

	/* a buffer the kernel made bigger than max_buf is not "probed" down */
	conn_start(&c, 128 * MiB, 64 * KiB);
	send_tick(&c, 400e6, 100000, 0.5);
	assert_int_equal(c.d.snd_reason, EST_NONE);
}

static void receiver_window_limited_probes(void **unused)
{
	(void)unused;
	struct conn c;
	uint32_t before;

	/* 256 KiB: a 128 KiB window, 1.3 MB/s at 100 ms on a 25 MB/s path */
	conn_start(&c, 64 * KiB, 256 * KiB);
	for (int i = 0; i < 5; i++) {
		before = c.s.rcvbuf;
		sim_recv(&c, &long_fat, 0);
		assert_true(c.d.rcv_limited);
		assert_false(c.d.rcv_app_limited);
		assert_int_equal(c.d.rcv_reason, EST_PROBE);
		assert_int_equal(c.d.rcvbuf, 2 * before);
		/* TCP_WINDOW_CLAMP follows the new buffer, or the probe would be
		 * capped at the old window */
		assert_int_equal(c.d.window_clamp, before);
		/* a probe is no size for the destination to learn */
		assert_int_equal(c.d.rcv_target, 2 * before);
		assert_int_equal(c.d.learn_rcvbuf, 0);
		apply(&c);
	}
	/* 8 MiB: a 4.2 MB window over a 2.5 MB path. Done probing; settles
	 * within the band around 2 x 2.5 MB x 2, which is what is learned */
	for (int i = 0; i < 30; i++) {
		sim_recv(&c, &long_fat, 0);
		assert_false(c.d.rcv_limited);
		assert_int_not_equal(c.d.rcv_reason, EST_PROBE);
		assert_true(c.d.learn_rcvbuf > 0 && c.d.learn_rcvbuf <= c.d.rcv_target);
		apply(&c);
	}
	assert_near(c.s.rcvbuf, 10e6, 0.25 * 10e6);
	assert_near(c.d.learn_rcvbuf, 10e6, 0.05 * 10e6);
}

static void receiver_behind_a_queue_does_not_probe(void **unused)
{
	(void)unused;
	struct conn c;

	/* One of 25 flows sharing 6.25 MB/s at 10 ms, the bottleneck queue
	 * full: 250 KB/s at a 30 ms RTT is 7.5 KB in flight, most of a 16 KiB
	 * buffer's 8 KiB window. The RTT is three times the handshake's: the
	 * queue, not the window, sets the rate. Sized to headroom x rate x the
	 * path's RTT (the handshake's: the queue is what headroom covers), 10 KB,
	 * never probed up from there. */
	conn_start(&c, 64 * KiB, 16 * KiB);
	c.s.min_rtt_us = 10000;
	for (int i = 0; i < 10; i++) {
		recv_tick(&c, 250000, 30000);
		assert_false(c.d.rcv_limited);
		assert_int_not_equal(c.d.rcv_reason, EST_PROBE);
		assert_int_equal(c.d.rcv_target, 10000);
		/* learned once steady */
		assert_int_equal(c.d.learn_rcvbuf, i + 1 >= (int)EST_STEADY_TICKS ? 10000 : 0);
		apply(&c);
	}
	assert_int_equal(c.s.rcvbuf, 10000);
	/* the same window-full rate with no queue (RTT at its minimum): the
	 * window is the limit */
	conn_start(&c, 64 * KiB, 16 * KiB);
	c.s.min_rtt_us = 30000;
	recv_tick(&c, 250000, 30000);
	recv_tick(&c, 250000, 30000);
	assert_true(c.d.rcv_limited);
	assert_int_equal(c.d.rcv_reason, EST_PROBE);
	/* and a min RTT never measured (the kernel's ~0U) is no evidence */
	conn_start(&c, 64 * KiB, 16 * KiB);
	c.s.min_rtt_us = UINT32_MAX;
	recv_tick(&c, 250000, 30000);
	recv_tick(&c, 250000, 30000);
	assert_true(c.d.rcv_limited);
}

static void receiver_app_limited_does_not_probe(void **unused)
{
	(void)unused;
	struct conn c;

	/* same window-limited figures, but unread data fills half of rcvbuf
	 * (a whole window): the application is not reading fast enough */
	conn_start(&c, 64 * KiB, 256 * KiB);
	c.s.rcv_queue_bytes = 128 * KiB;
	for (int i = 0; i < 10; i++) {
		sim_recv(&c, &long_fat, 0);
		assert_true(c.d.rcv_app_limited);
		assert_false(c.d.rcv_limited);
		assert_int_equal(c.d.rcv_reason, EST_NONE); /* no probe, no grow */
		assert_int_equal(c.d.rcvbuf, 0);
		assert_int_equal(c.d.window_clamp, 0);
		assert_int_equal(c.d.rcv_target, 0); /* nothing to learn either */
	}
	/* the application catches up: now the window is the limit */
	c.s.rcv_queue_bytes = 0;
	sim_recv(&c, &long_fat, 0);
	assert_true(c.d.rcv_limited);
	assert_int_equal(c.d.rcv_reason, EST_PROBE);
}

/* ==== shrinking, hysteresis, rate limit ================================== */

static void shrink_is_gradual(void **unused)
{
	(void)unused;
	struct conn c;
	double rate = 5e6; /* 100 ms: 500 KB in flight, target 1.22 MB */
	uint32_t target = (uint32_t)(2 * 500000 * FACTOR + 0.5);
	const uint32_t want[] = { 32 * MiB, 16 * MiB, 8 * MiB, 4 * MiB, 2 * MiB, target };
	int n = 0, last_change = 0;

	conn_start(&c, 64 * MiB, 64 * KiB);
	for (int t = 1; t <= 40; t++) {
		send_tick(&c, rate, 100000, 0);
		assert_int_equal(c.d.snd_target, target);
		if (c.d.snd_reason == EST_NONE)
			continue;
		assert_int_equal(c.d.snd_reason, EST_SHRINK);
		assert_true(n < 6);
		assert_int_equal(c.d.sndbuf, want[n]);
		if (n)
			assert_int_equal(t - last_change, 3); /* one step per min_change_interval */
		last_change = t;
		n++;
		apply(&c);
	}
	assert_int_equal(n, 6);
	assert_int_equal(c.s.sndbuf, target);

	/* shrink_step bounds each step: 0.25 takes 64 MiB to 48 MiB */
	conn_start(&c, 64 * MiB, 64 * KiB);
	c.cfg.shrink_step = 0.25;
	send_tick(&c, rate, 100000, 0);
	assert_int_equal(c.d.sndbuf, 48 * MiB);
}

static void hysteresis_band(void **unused)
{
	(void)unused;
	const uint32_t cur = 4000000;
	const struct {
		double share; /* target / current */
		enum est_reason reason;
	} cases[] = {
		{ 1.00, EST_NONE },   { 0.76, EST_NONE }, { 1.24, EST_NONE },
		{ 0.70, EST_SHRINK }, { 1.30, EST_GROW },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conn c;

		conn_start(&c, cur, 64 * KiB);
		send_tick(&c, rate_for_snd_target(cur * cases[i].share, 100000), 100000, 0);
		assert_near(c.d.snd_target, cur * cases[i].share, 2);
		if (c.d.snd_reason != cases[i].reason)
			fail_msg("target %.2f x current: %s, want %s", cases[i].share,
				 est_reason_name(c.d.snd_reason), est_reason_name(cases[i].reason));
	}

	/* the receive side uses the same band: target 1.2 x rcvbuf, with a
	 * window that is not limiting (BDP = 0.3 x rcvbuf) */
	struct conn c;
	conn_start(&c, 64 * KiB, cur);
	recv_tick(&c, 0.3 * cur / 0.1, 100000);
	assert_int_equal(c.d.rcv_target, 4800000);
	assert_int_equal(c.d.rcv_reason, EST_NONE);

	/* hysteresis 0: any difference moves the buffer */
	conn_start(&c, cur, 64 * KiB);
	c.cfg.hysteresis = 0;
	send_tick(&c, rate_for_snd_target(cur * 1.05, 100000), 100000, 0);
	assert_int_equal(c.d.snd_reason, EST_GROW);
}

static void min_change_interval_respected(void **unused)
{
	(void)unused;
	struct conn c;
	double rate = 1e6;
	int changes[16], n = 0;

	/* a path that keeps getting faster wants a bigger buffer every tick */
	conn_start(&c, 64 * KiB, 64 * KiB);
	for (int t = 1; t <= 10; t++) {
		rate *= 1.6;
		send_tick(&c, rate, 100000, 0);
		if (c.d.snd_reason != EST_NONE) {
			assert_int_equal(c.d.snd_reason, EST_GROW);
			changes[n++] = t;
			apply(&c);
		}
	}
	assert_int_equal(n, 4);
	assert_int_equal(changes[0], 1);
	assert_int_equal(changes[1], 4);
	assert_int_equal(changes[2], 7);
	assert_int_equal(changes[3], 10);

	/* configured to 5 */
	conn_start(&c, 64 * KiB, 64 * KiB);
	c.cfg.min_change_interval = 5;
	rate = 1e6;
	n = 0;
	for (int t = 1; t <= 10; t++) {
		rate *= 1.6;
		send_tick(&c, rate, 100000, 0);
		if (c.d.snd_reason != EST_NONE) {
			changes[n++] = t;
			apply(&c);
		}
	}
	assert_int_equal(n, 2);
	assert_int_equal(changes[0], 1);
	assert_int_equal(changes[1], 6);

	/* probes may follow a change on the very next tick... */
	conn_start(&c, 4 * MiB, 64 * KiB);
	send_tick(&c, 25e6, 100000, 0);
	assert_int_equal(c.d.snd_reason, EST_GROW);
	apply(&c);
	send_tick(&c, 25e6, 100000, 0.5);
	assert_int_equal(c.d.snd_reason, EST_PROBE);
	apply(&c);
	/* ...but a grow or shrink after a probe waits min_change_interval */
	send_tick(&c, 1e6, 100000, 0);
	assert_int_equal(c.d.snd_reason, EST_NONE);
	send_tick(&c, 1e6, 100000, 0);
	assert_int_equal(c.d.snd_reason, EST_NONE);
	send_tick(&c, 1e6, 100000, 0);
	assert_int_equal(c.d.snd_reason, EST_SHRINK);

	/* the two buffers are rate-limited separately */
	conn_start(&c, 64 * KiB, 64 * KiB);
	send_tick(&c, 25e6, 100000, 0);
	assert_int_equal(c.d.snd_reason, EST_GROW);
	apply(&c);
	recv_tick(&c, 3e6, 100000);
	assert_int_equal(c.d.rcv_reason, EST_PROBE);
}

/* ==== application-owned buffers ========================================== */

static void app_locks_respected(void **unused)
{
	(void)unused;
	struct conn c;

	/* SO_SNDBUF set by the application: even a limited sender is left alone */
	conn_start(&c, 64 * KiB, 7000000);
	c.s.app_locks = EST_LOCK_SNDBUF;
	c.s.bytes_received += 25000000;
	c.s.rcv_rtt_us = 100000;
	send_tick(&c, 25e6, 100000, 0.9);
	assert_true(c.d.sender);
	assert_int_equal(c.d.snd_reason, EST_NONE);
	assert_int_equal(c.d.sndbuf, 0);
	assert_int_equal(c.d.snd_target, 0);
	assert_false(c.d.snd_limited);
	/* ...while the receive buffer is still ours to size */
	assert_int_equal(c.d.rcv_reason, EST_GROW);

	/* SO_RCVBUF set: a window-limited receiver is left alone */
	conn_start(&c, 4 * MiB, 256 * KiB);
	c.s.app_locks = EST_LOCK_RCVBUF;
	for (int i = 0; i < 5; i++) {
		c.s.bytes_received += 1310720;
		c.s.rcv_rtt_us = 100000;
		send_tick(&c, 25e6, 100000, 0);
		assert_int_equal(c.d.rcv_reason, EST_NONE);
		assert_int_equal(c.d.rcvbuf, 0);
		assert_int_equal(c.d.window_clamp, 0);
		apply(&c);
	}
	assert_int_equal(c.s.sndbuf, (uint32_t)(2 * 2.5e6 * FACTOR + 0.5));

	/* both */
	conn_start(&c, 64 * KiB, 64 * KiB);
	c.s.app_locks = EST_LOCK_SNDBUF | EST_LOCK_RCVBUF;
	for (int i = 0; i < 5; i++) {
		c.s.bytes_received += 1000000;
		c.s.rcv_rtt_us = 100000;
		send_tick(&c, 25e6, 100000, 0.9);
		assert_int_equal(c.d.sndbuf, 0);
		assert_int_equal(c.d.rcvbuf, 0);
	}
}

/* ==== stability ========================================================== */

/* Count the changes a simulated bulk transfer makes per tick range. */
static void stability_run(bool sender, uint32_t start_buf, int *early, int *late, uint32_t *final)
{
	struct conn c;

	conn_start(&c, start_buf, start_buf);
	*early = *late = 0;
	for (int t = 1; t <= 100; t++) {
		const struct est_decision *d = sender ? sim_send(&c, &long_fat, 0.10)
						      : sim_recv(&c, &long_fat, 0.10);
		bool changed = sender ? d->sndbuf != 0 : d->rcvbuf != 0;

		if (changed && t <= 20)
			(*early)++;
		else if (changed)
			(*late)++;
		apply(&c);
	}
	*final = sender ? c.s.sndbuf : c.s.rcvbuf;
}

static void steady_state_is_stable(void **unused)
{
	(void)unused;
	const uint32_t starts[] = { 64 * KiB, 4 * MiB, 32 * MiB };
	int early, late;
	uint32_t final;

	/* 100 ticks of one long fat path with +-10% noise on rate and RTT,
	 * from too small, about right and too big: converged within 20 ticks,
	 * then at most one change */
	rng_state = 2463534242u;
	for (size_t i = 0; i < 3; i++) {
		stability_run(true, starts[i], &early, &late, &final);
		if (late > 1)
			fail_msg("sender from %u: %d changes after convergence", starts[i], late);
		assert_true(early >= 1 && early <= 10);
		assert_near(final, 2 * 2.5e6 * FACTOR, 0.25 * 2 * 2.5e6 * FACTOR);

		stability_run(false, starts[i], &early, &late, &final);
		if (late > 1)
			fail_msg("receiver from %u: %d changes after convergence", starts[i], late);
		assert_true(early >= 1 && early <= 10);
		assert_near(final, 10e6, 0.25 * 10e6);
	}
}

/* A sender behind a TBF with no propagation delay: min RTT is a few
 * microseconds (BDP ~0, so the target is min_buf), but the congestion
 * control keeps `need` bytes queued at the bottleneck, and a buffer that
 * holds less than that limits the rate. */
static const struct est_decision *sim_queue_bound(struct conn *c, double path_rate, double need)
{
	double holds = c->s.sndbuf / est_sndbuf_factor(c->s.mss);
	double rate = holds < need ? path_rate * holds / need : path_rate;

	c->s.bytes_acked += (uint64_t)(rate * TICK_US / 1e6);
	c->s.delivery_rate_Bps = (uint64_t)rate;
	c->s.min_rtt_us = 4;
	c->s.srtt_us = (uint32_t)(need / path_rate * 1e6);
	c->s.sndbuf_limited_us += (uint64_t)((1 - rate / path_rate) * TICK_US);
	return tick(c);
}

static void probe_floor_ends_probe_shrink_cycle(void **unused)
{
	(void)unused;
	struct conn c;
	int changes = 0;

	/* 6 MB/s with 200 KB standing in the queue: the target says 64 KiB,
	 * the connection needs 200 KB x factor. Without a floor: probe to 256
	 * KiB, shrink to 128 KiB three ticks later, limited, probe... */
	conn_start(&c, 64 * KiB, 64 * KiB);
	for (int t = 1; t <= 100; t++) {
		sim_queue_bound(&c, 6e6, 200e3);
		if (t > 10 && c.d.sndbuf)
			changes++;
		apply(&c);
	}
	if (changes > 1)
		fail_msg("%d changes after 10 ticks", changes);
	assert_true(c.s.sndbuf >= 200e3 * FACTOR);
	assert_true(c.s.sndbuf <= 2 * 200e3 * FACTOR + 64 * KiB);
	assert_false(c.d.snd_limited);
	/* what is learned for the destination is the proven size, not 64 KiB */
	assert_int_equal(c.d.snd_target, c.s.sndbuf);

	/* the floor scales with the rate: at a quarter of the rate (and of the
	 * queue) a quarter of the buffer will do, and it shrinks there */
	for (int t = 1; t <= 40; t++) {
		sim_queue_bound(&c, 1.5e6, 50e3);
		apply(&c);
	}
	assert_false(c.d.snd_limited);
	assert_true(c.s.sndbuf <= 128 * KiB);
	assert_true(c.s.sndbuf >= 50e3 * FACTOR);
}

/* The peer's window is the limit: the send buffer keeps room for that window
 * to double, at probe pace, so the two ends do not take turns. */
static void sender_keeps_ahead_of_peer_window(void **unused)
{
	(void)unused;
	struct conn c;

	/* 2.5 MB in flight (25 MB/s, srtt 100 ms) in a 3 MiB buffer, held back
	 * by the peer's window half the tick: room for 2 x 2.5 MB */
	conn_start(&c, 3 * MiB, 64 * KiB);
	c.s.rwnd_limited_us += TICK_US / 2;
	send_tick(&c, 25e6, 100000, 0);
	assert_false(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_GROW);
	assert_near(c.d.sndbuf, 2 * 2.5e6 * FACTOR, 2);
	apply(&c);
	/* the window doubled: the next tick grows again, not 3 ticks later */
	c.s.rwnd_limited_us += TICK_US / 2;
	send_tick(&c, 50e6, 100000, 0);
	assert_int_equal(c.d.snd_reason, EST_GROW);
	assert_true(c.d.sndbuf >= 2 * 5e6 * FACTOR * 0.9);
	apply(&c);
	/* once the peer's window no longer limits, only the target counts */
	send_tick(&c, 50e6, 100000, 0);
	send_tick(&c, 50e6, 100000, 0);
	assert_int_not_equal(c.d.snd_reason, EST_GROW);
	/* a peer-limited sender with room to spare is not grown (here the
	 * ordinary rule shrinks it toward its target) */
	conn_start(&c, 16 * MiB, 64 * KiB);
	c.s.rwnd_limited_us += TICK_US / 2;
	send_tick(&c, 25e6, 100000, 0);
	assert_int_not_equal(c.d.snd_reason, EST_GROW);
	assert_true(c.d.sndbuf < 16 * MiB);
}

/* ==== unsent data (TCP_NOTSENT_LOWAT) ==================================== */

static void lowat_follows_bdp(void **unused)
{
	(void)unused;
	struct conn c;
	int changes = 0;

	/* 6.25 MB/s at 10 ms: one BDP, 62.5 KB, may wait unsent; set once
	 * steady (from the kernel's unlimited default) and left alone under
	 * noise */
	conn_start(&c, 4 * MiB, 64 * KiB);
	for (unsigned t = 1; t < EST_STEADY_TICKS; t++) {
		send_tick(&c, 6.25e6, 10000, 0);
		assert_int_equal(c.d.notsent_lowat, 0);
	}
	send_tick(&c, 6.25e6, 10000, 0);
	assert_int_equal(c.d.lowat_reason, EST_SHRINK);
	assert_near(c.d.notsent_lowat, 62500, 1);
	assert_int_equal(c.d.lowat_target, c.d.notsent_lowat);
	c.s.notsent_lowat = c.d.notsent_lowat;
	for (int t = 0; t < 30; t++) {
		send_tick(&c, 6.25e6 * (1 + noise(0.1)), 10000, 0);
		if (c.d.notsent_lowat) {
			changes++;
			c.s.notsent_lowat = c.d.notsent_lowat;
		}
	}
	assert_int_equal(changes, 0);

	/* the rate falls to a fifth: lowat follows the smoothed rate down, a
	 * change at most every min_change_interval */
	for (int t = 0; t < 20; t++) {
		send_tick(&c, 1.25e6, 10000, 0);
		if (c.d.notsent_lowat) {
			changes++;
			c.s.notsent_lowat = c.d.notsent_lowat;
		}
	}
	assert_true(changes >= 1 && changes <= 4);
	assert_near(c.s.notsent_lowat, 12500, 0.4 * 12500);

	/* never below a segment: a 1 Mbit/s flow at 1 ms */
	conn_start(&c, 64 * KiB, 64 * KiB);
	for (unsigned t = 0; t < EST_STEADY_TICKS; t++)
		send_tick(&c, 125e3, 1000, 0);
	assert_int_equal(c.d.notsent_lowat, MSS);

	/* a receiver has no unsent data */
	conn_start(&c, 64 * KiB, 64 * KiB);
	recv_tick(&c, 6.25e6, 10000);
	assert_int_equal(c.d.notsent_lowat, 0);
	assert_int_equal(c.d.lowat_target, 0);
}

static void lowat_probes_and_respects_application(void **unused)
{
	(void)unused;
	struct conn c;

	/* a writer starved with lowat in force: doubled every tick, like a probe */
	conn_start(&c, 4 * MiB, 64 * KiB);
	for (unsigned t = 0; t < EST_STEADY_TICKS; t++)
		send_tick(&c, 6.25e6, 10000, 0);
	c.s.notsent_lowat = c.d.notsent_lowat;
	send_tick(&c, 6.25e6, 10000, 0.5);
	assert_true(c.d.snd_starved);
	/* the mark held it back, not the send buffer (62.5 KB in flight of the
	 * 3.4 MB it holds): the mark grows, the buffer is not probed */
	assert_false(c.d.snd_limited);
	assert_int_not_equal(c.d.snd_reason, EST_PROBE);
	assert_int_equal(c.d.lowat_reason, EST_PROBE);
	assert_int_equal(c.d.notsent_lowat, 2 * c.s.notsent_lowat);
	c.s.notsent_lowat = c.d.notsent_lowat;
	send_tick(&c, 6.25e6, 10000, 0.5);
	assert_int_equal(c.d.lowat_reason, EST_PROBE);

	/* the application set its own TCP_NOTSENT_LOWAT: never touched */
	conn_start(&c, 4 * MiB, 64 * KiB);
	c.s.notsent_lowat = 16384;
	for (int t = 0; t < 10; t++) {
		send_tick(&c, 6.25e6, 10000, t % 2 ? 0.5 : 0);
		assert_int_equal(c.d.notsent_lowat, 0);
		assert_int_equal(c.d.lowat_target, 0);
	}
	/* nor when it sized its send buffer */
	conn_start(&c, 4 * MiB, 64 * KiB);
	c.s.app_locks = EST_LOCK_SNDBUF;
	send_tick(&c, 6.25e6, 10000, 0);
	assert_int_equal(c.d.notsent_lowat, 0);
}

/* ==== the kernel's autotuning keeps what it can do ======================= */

#define WMEM_CAP (4 * MiB) /* tcp_wmem[2] by default */
#define RMEM_CAP (6 * MiB) /* tcp_rmem[2] by default */

static void conn_start_capped(struct conn *c, uint32_t sndbuf, uint32_t rcvbuf)
{
	conn_start(c, sndbuf, rcvbuf);
	c->s.sndbuf_cap = WMEM_CAP;
	c->s.rcvbuf_cap = RMEM_CAP;
}

static void receiver_behind_its_own_queue_stays_under_the_cap(void **unused)
{
	(void)unused;
	struct conn c;

	/* A CPU-bound receiver on a veth: 3 GB/s, a handshake RTT of 15 us,
	 * but the receiver's RTT 1 ms, data waiting for the reader. Its buffer
	 * at the kernel's ceiling: rate x that RTT asks for more than the
	 * ceiling, which would only let the queue grow. Left at the ceiling. */
	conn_start_capped(&c, 64 * KiB, RMEM_CAP);
	c.s.min_rtt_us = 15;
	for (int i = 0; i < 10; i++) {
		recv_tick(&c, 3e9, 1000);
		assert_false(c.d.rcv_limited);
		assert_int_not_equal(c.d.rcv_reason, EST_GROW);
		assert_int_not_equal(c.d.rcv_reason, EST_PROBE);
		assert_true(c.d.rcv_target <= RMEM_CAP);
		apply(&c);
	}
	assert_int_equal(c.s.rcvbuf, RMEM_CAP);
	/* the same rate and RTT with no queue (a long path, RTT at its
	 * minimum): the window holds the rate back and is probed past the
	 * ceiling */
	conn_start_capped(&c, 64 * KiB, RMEM_CAP);
	c.s.min_rtt_us = 1000;
	recv_tick(&c, 3e9, 1000);
	recv_tick(&c, 3e9, 1000);
	assert_true(c.d.rcv_limited);
	assert_true(c.d.rcvbuf > RMEM_CAP);
}

static void cpu_bound_sender_is_not_probed(void **unused)
{
	(void)unused;
	struct conn c;

	/* A CPU-bound sender on a veth: 4.4 GB/s at an srtt of 28 us is 123 KB
	 * in flight, yet the kernel counts half the tick as sndbuf-limited (it
	 * writes the 4 MiB at the ceiling before the ACKs are processed). A
	 * bigger buffer would only make those bursts bigger: nothing is set,
	 * neither the buffer nor a mark, which could not bind above it. */
	conn_start_capped(&c, WMEM_CAP, 128 * KiB);
	for (int t = 0; t < 20; t++) {
		send_tick(&c, 4.4e9, 28, 0.5);
		assert_true(c.d.snd_starved);
		assert_false(c.d.snd_limited);
		assert_int_equal(c.d.sndbuf, 0);
		assert_int_equal(c.d.notsent_lowat, 0);
	}
	/* the same buffer all in flight (a 1 ms path) is what holds it back */
	conn_start_capped(&c, WMEM_CAP, 128 * KiB);
	send_tick(&c, 4.4e9, 1000, 0.5);
	assert_true(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_PROBE);
	assert_true(c.d.sndbuf >= 2 * WMEM_CAP);
}

static void below_cap_buffers_stay_the_kernels(void **unused)
{
	(void)unused;
	struct conn c;

	/* a sender the application holds back (request/response), its
	 * kernel-tuned 1 MiB far above its target: the kernel's to keep (its
	 * next burst needs it within RTTs), and nothing learned */
	conn_start_capped(&c, 1 * MiB, 1 * MiB);
	c.s.app_limited = true;
	for (int t = 0; t < 10; t++) {
		send_tick(&c, 100e3, 40000, 0);
		assert_true(c.d.snd_target < 1 * MiB / 2);
		assert_int_equal(c.d.snd_reason, EST_NONE);
		assert_int_equal(c.d.sndbuf, 0);
		assert_int_equal(c.d.learn_sndbuf, 0);
	}
	/* steady bulk at that rate: shrunk once steady, and learned */
	c.s.app_limited = false;
	int shrinks = 0;
	for (int t = 0; t < 10; t++) {
		send_tick(&c, 100e3, 40000, 0);
		if (t + 1 < (int)EST_STEADY_TICKS)
			assert_int_equal(c.d.snd_reason, EST_NONE);
		else
			assert_int_equal(c.d.learn_sndbuf, c.d.snd_target);
		shrinks += c.d.snd_reason == EST_SHRINK;
		apply(&c);
	}
	assert_true(shrinks >= 1 && c.s.sndbuf < 1 * MiB);
	/* back-to-back responses with a round trip between them: busy 70% of
	 * each tick, never steady, and its rate samples not flagged */
	conn_start_capped(&c, 1 * MiB, 1 * MiB);
	for (int t = 0; t < 10; t++) {
		c.s.busy_us -= TICK_US * 3 / 10;
		send_tick(&c, 100e3, 40000, 0);
		assert_int_equal(c.d.snd_reason, EST_NONE);
		assert_int_equal(c.d.notsent_lowat, 0);
		assert_int_equal(c.d.learn_sndbuf, 0);
	}
	/* back-to-back 1 MB responses: data out all the time (the ACK of one
	 * comes with the next request) and mid-response rate samples not
	 * flagged; but each request is read with every response byte acked */
	conn_start_capped(&c, 1 * MiB, 1 * MiB);
	for (int t = 0; t < 10; t++) {
		c.s.drained_reads += 7;
		send_tick(&c, 100e3, 40000, 0);
		assert_int_equal(c.st.snd_steady, 0);
		assert_int_equal(c.d.snd_reason, EST_NONE);
		assert_int_equal(c.d.notsent_lowat, 0);
		assert_int_equal(c.d.learn_sndbuf, 0);
	}
	/* the same figures without such reads: a bulk sender, steady */
	for (int t = 0; t < 3; t++)
		send_tick(&c, 100e3, 40000, 0);
	assert_int_equal(c.st.snd_steady, 3);
	/* a receiver that also sends (requests): the same, left alone */
	conn_start_capped(&c, 64 * KiB, 2 * MiB);
	for (int t = 0; t < 10; t++) {
		c.s.bytes_acked += 100;
		recv_tick(&c, 100e3, 40000);
		assert_int_equal(c.d.rcv_reason, EST_NONE);
		assert_int_equal(c.d.learn_rcvbuf, 0);
	}
	/* a pure receiver below the cap, its target window above 128 KiB: a
	 * reader that keeps up holds nothing in its buffer and the peer sends
	 * full-size skbs anyway, so it stays the kernel's, and is not learned */
	conn_start_capped(&c, 64 * KiB, RMEM_CAP);
	for (int t = 0; t < 10; t++) {
		recv_tick(&c, 10e6, 40000);
		assert_true(c.d.rcv_target < RMEM_CAP / 2);
		assert_int_equal(c.d.rcv_reason, EST_NONE);
		assert_int_equal(c.d.learn_rcvbuf, 0);
	}
	/* a slow one, whose window would cut the peer's skbs: steady, shrunk
	 * and learned */
	conn_start_capped(&c, 64 * KiB, 2 * MiB);
	shrinks = 0;
	for (int t = 0; t < 10; t++) {
		recv_tick(&c, 100e3, 40000);
		if (t + 1 < (int)EST_STEADY_TICKS)
			assert_int_equal(c.d.rcv_reason, EST_NONE);
		else
			assert_int_equal(c.d.learn_rcvbuf, c.d.rcv_target);
		shrinks += c.d.rcv_reason == EST_SHRINK;
		apply(&c);
	}
	assert_true(shrinks >= 1);
	/* one the agent took beyond the cap comes back down to the cap */
	conn_start_capped(&c, 64 * KiB, 4 * RMEM_CAP);
	c.s.buf_locks = EST_LOCK_RCVBUF;
	for (int t = 0; t < 10; t++) {
		recv_tick(&c, 10e6, 40000);
		apply(&c);
	}
	assert_int_equal(c.s.rcvbuf, RMEM_CAP);
	/* a target that fits under the cap is not set either: the kernel grows
	 * the buffer there itself */
	conn_start_capped(&c, 64 * KiB, 64 * KiB);
	send_tick(&c, rate_for_snd_target(2 * MiB, 40000), 40000, 0);
	assert_true(c.d.snd_target > 64 * KiB);
	assert_int_equal(c.d.snd_reason, EST_NONE);
	/* without a known cap (0), as before: anywhere */
	conn_start(&c, 64 * KiB, 64 * KiB);
	send_tick(&c, rate_for_snd_target(2 * MiB, 40000), 40000, 0);
	assert_int_equal(c.d.snd_reason, EST_GROW);
}

/* A CPU-bound sub-millisecond path (veth): rate x RTT is tens of KB at GB/s.
 * Buffers and TCP_NOTSENT_LOWAT keep 2 ms of the rate, so writer and reader
 * are not woken every few KB, but never more than the kernel's cap. */
static void fast_path_keeps_wakeup_time(void **unused)
{
	(void)unused;
	struct conn c;

	/* 1 GB/s at 50 us: 50 KB in flight, 2 MB in 2 ms */
	conn_start_capped(&c, WMEM_CAP, RMEM_CAP);
	for (int t = 0; t < 10; t++) {
		send_tick(&c, 1e9, 50, 0);
		assert_near(c.d.snd_target, 2e6 * FACTOR, 1);
		assert_true(c.d.snd_reason == EST_NONE || c.s.sndbuf > 2e6);
		assert_true(c.d.notsent_lowat == 0 || c.d.notsent_lowat >= 2000000);
		apply(&c);
	}
	assert_true(c.s.sndbuf >= 2e6 * FACTOR - 1);
	assert_int_equal(c.st.lowat_set, 2000000);
	/* a receiver: 2 ms of 4 GB/s is beyond the cap, which bounds it */
	conn_start_capped(&c, 64 * KiB, RMEM_CAP);
	for (int t = 0; t < 10; t++) {
		recv_tick(&c, 4e9, 50);
		assert_int_equal(c.d.rcv_target, RMEM_CAP);
		assert_int_equal(c.d.rcv_reason, EST_NONE);
	}
	/* a slow path keeps its BDP: 2 ms of 1 MB/s is below the segment floor */
	conn_start_capped(&c, WMEM_CAP, RMEM_CAP);
	send_tick(&c, 1e6, 40000, 0);
	assert_near(c.d.snd_target, 2 * 40000 * FACTOR, 1);
}

/* A rate step up: the smoothed rate lags the ramp, and a shrink to its
 * target would hold the ramp back. */
static void no_shrink_while_the_rate_climbs(void **unused)
{
	(void)unused;
	struct conn c;
	double rate = 3e6; /* 25 Mbit/s at 80 ms: a 240 KB BDP */

	conn_start_capped(&c, WMEM_CAP, 64 * KiB);
	for (int t = 0; t < 2; t++)
		send_tick(&c, rate, 80000, 0);
	assert_int_equal(c.d.snd_reason, EST_NONE); /* not steady yet */
	/* steady from now on, far above target, but climbing 1.5 x a tick:
	 * left alone */
	for (int t = 0; t < 4; t++) {
		rate *= 1.5;
		send_tick(&c, rate, 80000, 0);
		assert_true(c.st.snd_rising);
		assert_true(c.d.snd_target < WMEM_CAP / 2);
		assert_int_not_equal(c.d.snd_reason, EST_SHRINK);
		apply(&c);
	}
	/* level again: the average catches up, and the rules apply */
	int shrinks = 0;

	for (int t = 0; t < 10; t++) {
		send_tick(&c, 3e6, 80000, 0);
		assert_false(c.st.snd_rising);
		shrinks += c.d.snd_reason == EST_SHRINK;
		apply(&c);
	}
	assert_true(shrinks >= 1);
}

static void beyond_cap_is_ours(void **unused)
{
	(void)unused;
	struct conn c;

	/* limited at the cap: probe above it */
	conn_start_capped(&c, WMEM_CAP, 128 * KiB);
	sim_send(&c, &(struct path){ 125e6, 100000 }, 0); /* 1 Gbit/s, 100 ms */
	assert_true(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_PROBE);
	assert_true(c.d.sndbuf >= 2 * WMEM_CAP);
	/* limited well below it: the kernel grows it within RTTs */
	conn_start_capped(&c, 256 * KiB, 128 * KiB);
	sim_send(&c, &(struct path){ 125e6, 100000 }, 0);
	assert_true(c.d.snd_limited);
	assert_int_equal(c.d.snd_reason, EST_NONE);
	/* a target above the cap is set at once */
	conn_start_capped(&c, 1 * MiB, 128 * KiB);
	send_tick(&c, rate_for_snd_target(16 * MiB, 100000), 100000, 0);
	assert_int_equal(c.d.snd_reason, EST_GROW);
	assert_true(c.d.sndbuf > WMEM_CAP);
	/* once above the cap, a falling rate shrinks it, to the cap at most
	 * while the traffic is not steady */
	conn_start_capped(&c, 16 * MiB, 128 * KiB);
	c.s.app_limited = true;
	for (int t = 0; t < 30; t++) {
		send_tick(&c, 100e3, 100000, 0);
		apply(&c);
		assert_true(c.s.sndbuf >= WMEM_CAP);
	}
	assert_int_equal(c.s.sndbuf, WMEM_CAP);
}

static void regrown_sndbuf_is_a_floor(void **unused)
{
	(void)unused;
	struct conn c;

	/* a shrink decided but not applied by the time of the next figures:
	 * they still show the old size, which did not grow, so it is no
	 * regrowth and sets no floor; the next shrink follows */
	conn_start_capped(&c, 2 * MiB, 128 * KiB);
	int shrinks = 0;
	for (int t = 0; t < 9; t++)
		shrinks += send_tick(&c, 1e6, 40000, 0)->snd_reason == EST_SHRINK;
	assert_int_equal(shrinks, 3);
	assert_int_equal(c.st.snd_floor, 0);
	/* steady bulk, shrunk below the cap */
	conn_start_capped(&c, 2 * MiB, 128 * KiB);
	for (int t = 0; t < 12; t++) {
		send_tick(&c, 1e6, 40000, 0);
		apply(&c);
	}
	uint32_t shrunk = c.s.sndbuf;
	assert_true(shrunk < 512 * KiB);
	/* sockops regrew it on ACKs (the path got faster): not shrunk back
	 * while the rate holds */
	c.s.sndbuf = 4 * shrunk;
	for (int t = 0; t < 12; t++) {
		send_tick(&c, 1e6, 40000, 0);
		assert_int_not_equal(c.d.snd_reason, EST_SHRINK);
		/* the floor is this connection's; its destination learns the
		 * path's rate x RTT */
		assert_int_equal(c.d.snd_target, 4 * shrunk);
		assert_true(c.d.learn_sndbuf > 0 && c.d.learn_sndbuf < shrunk);
		apply(&c);
	}
	assert_int_equal(c.s.sndbuf, 4 * shrunk);
}

static void request_response_receiver_is_not_learned(void **unused)
{
	(void)unused;
	struct conn c;

	/* a pure receiver, steady: learned */
	conn_start(&c, 64 * KiB, 8 * MiB);
	for (unsigned t = 0; t < EST_STEADY_TICKS; t++)
		recv_tick(&c, 100e3, 40000);
	assert_true(c.d.learn_rcvbuf > 0);
	assert_int_equal(c.d.learn_rcvbuf, c.d.rcv_target);
	/* asking as well as receiving: request/response, nothing learned for
	 * the first window of new connections */
	for (int t = 0; t < 5; t++) {
		c.s.bytes_acked += 400;
		recv_tick(&c, 100e3, 40000);
		assert_true(c.d.sender && c.d.receiver);
		assert_true(c.d.rcv_target > 0);
		assert_int_equal(c.d.learn_rcvbuf, 0);
	}
}

static void application_limited_rate_keeps_lowat(void **unused)
{
	(void)unused;
	struct conn c;

	/* the application sends little: its rate does not set a mark */
	conn_start(&c, 1 * MiB, 64 * KiB);
	c.s.app_limited = true;
	for (int t = 0; t < 10; t++) {
		send_tick(&c, 200e3, 40000, 0);
		assert_int_equal(c.d.notsent_lowat, 0);
	}
	/* steady bulk: set from the rate; under our own mark the writer keeps
	 * less than a segment unsent, which the kernel also flags as
	 * application-limited: still steady, the mark follows the rate down */
	conn_start(&c, 1 * MiB, 64 * KiB);
	for (unsigned t = 0; t < EST_STEADY_TICKS; t++)
		send_tick(&c, 6.25e6, 40000, 0);
	assert_int_equal(c.d.lowat_reason, EST_SHRINK);
	c.s.notsent_lowat = c.d.notsent_lowat;
	c.s.app_limited = true;
	int lowered = 0;
	for (int t = 0; t < 20; t++) {
		send_tick(&c, 1e6, 40000, 0);
		if (c.d.notsent_lowat) {
			assert_true(c.d.notsent_lowat < c.s.notsent_lowat);
			c.s.notsent_lowat = c.d.notsent_lowat;
			lowered++;
		}
	}
	assert_true(lowered >= 1);
	/* a writer our own small send buffer holds back is flagged too: all
	 * it wrote is in flight. Its buffer, not the application, limits it:
	 * steady, and the mark is set */
	conn_start(&c, 16 * KiB, 64 * KiB);
	c.s.app_limited = true;
	for (unsigned t = 0; t < EST_STEADY_TICKS; t++)
		send_tick(&c, 60e3, 20000, 0.5);
	assert_int_equal(c.st.snd_steady, EST_STEADY_TICKS);
	assert_int_equal(c.d.lowat_reason, EST_SHRINK);
	assert_true(c.d.notsent_lowat > 0);
}

/* ==== what a destination learns ========================================== */

/* A steady sender's decision feeds its destination the path's target, and
 * nothing for the side it does not use. */
static void learned_size_is_the_target(void **unused)
{
	(void)unused;
	struct dest_entry slots[DEST_WAYS];
	struct dest_table t;
	uint8_t a[16] = { 198, 18, 9, 1 };
	uint32_t snd, rcv;
	struct conn c;

	assert_int_equal(dest_table_init(&t, slots, DEST_WAYS, 0.25), 0);
	struct dest_key k = dest_key_make(1, AF_INET, a);
	conn_start(&c, 4 * MiB, 64 * KiB);
	for (unsigned i = 0; i < EST_STEADY_TICKS; i++)
		send_tick(&c, 25e6, 100000, 0);
	assert_int_equal(dest_learn(&t, &k, c.d.learn_sndbuf, c.d.learn_rcvbuf, 60, NULL), 0);
	assert_true(dest_lookup(&t, &k, &snd, &rcv));
	assert_int_equal(snd, c.d.snd_target);
	assert_int_equal(rcv, 0);
}

/* ==== hostile figures ===================================================== */

/* The flows map is pinned: any root process can write a connection's figures.
 * Whatever they are, a decision stays within [min_buf, max_buf] (or 0 =
 * leave), and so do its window clamp and TCP_NOTSENT_LOWAT. */
static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* mostly extremes: 0, 1, the type's maximum, its sign bit, or anything */
static uint64_t hostile(uint64_t *x, uint64_t max)
{
	switch (xorshift(x) % 6) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return max;
	case 3:
		return max / 2 + 1;
	case 4:
		return xorshift(x) % 100000;
	default:
		return xorshift(x) & max;
	}
}

static void assert_size_in_bounds(const struct est_config *c, uint32_t size)
{
	if (size)
		assert_true(size >= c->min_buf && size <= c->max_buf);
}

static void hostile_figures_stay_in_bounds(void **unused)
{
	(void)unused;
	struct est_config cfg = est_config_default();
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int changes = 0;

	cfg.max_buf = 4u << 20;
	for (int conn = 0; conn < 200; conn++) {
		struct est_state st = {};
		struct est_sample s = {};

		for (int tick = 0; tick < 500; tick++) {
			struct est_decision d;

			/* time and counters move on as they should most of the
			 * time, so that decisions are made at all */
			s.now_us += xorshift(&x) % 4 ? 500000 : hostile(&x, UINT64_MAX);
			s.bytes_acked += xorshift(&x) % 4 ? hostile(&x, UINT32_MAX) : 0;
			s.bytes_received += xorshift(&x) % 4 ? hostile(&x, UINT32_MAX) : 0;
			s.sndbuf_limited_us += hostile(&x, 1000000);
			s.rwnd_limited_us += hostile(&x, 1000000);
			s.srtt_us = (uint32_t)hostile(&x, UINT32_MAX);
			s.min_rtt_us = (uint32_t)hostile(&x, UINT32_MAX);
			s.rcv_rtt_us = (uint32_t)hostile(&x, UINT32_MAX);
			s.mss = (uint32_t)hostile(&x, UINT32_MAX);
			s.snd_cwnd = (uint32_t)hostile(&x, UINT32_MAX);
			s.delivery_rate_Bps = hostile(&x, UINT64_MAX);
			s.snd_queue_bytes = (uint32_t)hostile(&x, UINT32_MAX);
			s.rcv_queue_bytes = (uint32_t)hostile(&x, UINT32_MAX);
			s.sndbuf = (uint32_t)hostile(&x, UINT32_MAX);
			s.rcvbuf = (uint32_t)hostile(&x, UINT32_MAX);
			s.app_locks = (uint32_t)hostile(&x, 3);
			s.notsent_lowat = (uint32_t)hostile(&x, UINT32_MAX);
			est_update(&cfg, &st, &s, &d);
			assert_size_in_bounds(&cfg, d.sndbuf);
			assert_size_in_bounds(&cfg, d.rcvbuf);
			assert_size_in_bounds(&cfg, d.learn_sndbuf);
			assert_size_in_bounds(&cfg, d.learn_rcvbuf);
			assert_true(d.window_clamp <= cfg.max_buf);
			assert_true(d.notsent_lowat <= cfg.max_buf);
			assert_true(d.lowat_target <= cfg.max_buf);
			assert_false(d.window_clamp && !d.rcvbuf);
			changes += d.sndbuf || d.rcvbuf || d.notsent_lowat;
		}
	}
	/* the figures did drive decisions: the bounds were put to the test */
	assert_true(changes > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_defaults),
		cmocka_unit_test(config_validation),
		cmocka_unit_test(names_and_setsockopt_value),
		cmocka_unit_test(first_sample_only_primes),
		cmocka_unit_test(idle_connection_no_change),
		cmocka_unit_test(late_counters_are_not_activity),
		cmocka_unit_test(roles_decide_their_own_buffer),
		cmocka_unit_test(smoothing_and_fallbacks),
		cmocka_unit_test(counters_going_backwards_reprime),
		cmocka_unit_test(unchanged_sample_only_counts_the_tick),
		cmocka_unit_test(long_fat_path_sender),
		cmocka_unit_test(long_fat_path_receiver),
		cmocka_unit_test(short_path_small_target),
		cmocka_unit_test(fast_path_keeps_wakeup_time),
		cmocka_unit_test(clamp_at_min_and_max),
		cmocka_unit_test(probe_when_sndbuf_limited),
		cmocka_unit_test(probe_when_send_queue_pinned),
		cmocka_unit_test(probe_stops_at_max_buf),
		cmocka_unit_test(receiver_window_limited_probes),
		cmocka_unit_test(receiver_behind_a_queue_does_not_probe),
		cmocka_unit_test(receiver_behind_its_own_queue_stays_under_the_cap),
		cmocka_unit_test(receiver_app_limited_does_not_probe),
		cmocka_unit_test(shrink_is_gradual),
		cmocka_unit_test(hysteresis_band),
		cmocka_unit_test(min_change_interval_respected),
		cmocka_unit_test(app_locks_respected),
		cmocka_unit_test(steady_state_is_stable),
		cmocka_unit_test(probe_floor_ends_probe_shrink_cycle),
		cmocka_unit_test(sender_keeps_ahead_of_peer_window),
		cmocka_unit_test(lowat_follows_bdp),
		cmocka_unit_test(lowat_probes_and_respects_application),
		cmocka_unit_test(cpu_bound_sender_is_not_probed),
		cmocka_unit_test(below_cap_buffers_stay_the_kernels),
		cmocka_unit_test(no_shrink_while_the_rate_climbs),
		cmocka_unit_test(beyond_cap_is_ours),
		cmocka_unit_test(regrown_sndbuf_is_a_floor),
		cmocka_unit_test(request_response_receiver_is_not_learned),
		cmocka_unit_test(application_limited_rate_keeps_lowat),
		cmocka_unit_test(learned_size_is_the_target),
		cmocka_unit_test(hostile_figures_stay_in_bounds),
	};

	return cmocka_run_group_tests_name("estimate", tests, NULL, NULL);
}
