// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/core/tick_plan.c: one tick of the tuner, decided for
 * every connection together. Table-driven: each case is a few connections
 * with steady traffic, the settings (mode, budgets, pressure) and what the
 * plans of its ticks must say; between ticks the "kernel" applies each
 * target that is not observe-only, as iter/tcp would. The assertions read
 * the plans' output (targets, actions, change records, counts, connections
 * gone, the destination table), never the estimator's state. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "core/format.h"
#include "core/tick_plan.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define TICK_NS 1000000000ull
#define MAX_CONNS 64
#define COOKIE0 100u
#define CGROUP 7u
#define SNDBUF_CAP (4 * MiB) /* the kernel's tcp_wmem[2] and tcp_rmem[2] defaults */
#define RCVBUF_CAP (6 * MiB)

/* One connection of a case: its buffers at the start and its traffic, the
 * same every tick. */
struct conn_setup {
	uint32_t sndbuf, rcvbuf;
	double send_Bps, recv_Bps;
	uint32_t rtt_us;
	double snd_limited; /* share of each tick held back by its send buffer */
};

/* A bulk sender on a 10 ms path at 1 MB/s: its 4 MiB send buffer is far
 * more than 2 x BDP. */
#define BULK_SENDER                                  \
	{                                            \
		4 * MiB, 128 * KiB, 1e6, 0, 10000, 0 \
	}
/* A sender its 64 KiB send buffer holds back half of each tick. */
#define LIMITED_SENDER                                  \
	{                                               \
		64 * KiB, 128 * KiB, 2e6, 0, 50000, 0.5 \
	}
/* A connection with no traffic. */
#define IDLE                                       \
	{                                          \
		4 * MiB, 128 * KiB, 0, 0, 10000, 0 \
	}
/* A receiver at 25 MB/s over 100 ms, its window well above the BDP. */
#define BULK_RECEIVER                                  \
	{                                              \
		64 * KiB, 32 * MiB, 0, 25e6, 100000, 0 \
	}

struct run;

struct plan_case {
	const char *name;
	struct conn_setup conns[MAX_CONNS];
	size_t nconns;
	unsigned ticks;
	enum config_mode mode;
	__u64 budget;       /* the global budget, 0 = unlimited */
	__u64 group_budget; /* a policy budget over all the connections, 0 = none */
	bool pressure;
	unsigned closes_at;           /* the tick before which connection 0 closes, 0 = never */
	size_t block;                 /* plan_work.block: connections decided at a time, 0 = all */
	void (*setup)(struct run *r); /* before the first tick: what the agent wrote before */
	/* expectations over all ticks (want_buffer CHANGE_NONE: no change at all) */
	enum change_buffer want_buffer;
	unsigned int want_reason;
	bool applies;                 /* some change is to be applied */
	bool learns;                  /* some size is learned for a destination */
	__u32 flags_set, flags_clear; /* in every connection's last target */
	void (*check)(const struct plan_case *c, struct run *r);
};

/* A case running: the flows as the collector hands them, the states and
 * the caller's storage, and what the ticks' plans said. */
struct run {
	struct flow flows[MAX_CONNS];
	size_t n;
	struct conn_track a[MAX_CONNS], *prev;
	size_t nprev;
	struct est_decision decisions[MAX_CONNS];
	size_t conn_of[MAX_CONNS];
	struct budget_conn budget[MAX_CONNS], group[MAX_CONNS];
	size_t group_where[MAX_CONNS];
	__u8 actions[MAX_CONNS];
	__u64 gone[MAX_CONNS];
	struct dest_key evicted[2 * MAX_CONNS];
	struct dest_entry slots[8 * DEST_WAYS];
	struct dest_table dests;
	struct tune_policy policies[MAX_CONNS];
	struct plan_output out; /* the last tick's */
	unsigned tick;
	/* over all ticks */
	bool decided[CHANGE_BUFFERS][TUNE_REASONS];
	bool observe_only; /* every change recorded was flagged observe */
	size_t changes, nlearned, logged, ngroups;
	bool urgent;
	__u8 actions0;     /* the first connection's actions, any tick */
	__u64 gone_cookie; /* the one connection gone, and when */
	unsigned gone_tick;
	__u64 max_assigned; /* the largest sum of the targets in force */
};

/* ---- the harness ------------------------------------------------------------ */

static void start(const struct plan_case *c, struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->n = c->nconns;
	r->prev = r->a;
	r->observe_only = true;
	assert_int_equal(dest_table_init(&r->dests, r->slots, 8 * DEST_WAYS, 0.25), 0);
	for (size_t i = 0; i < c->nconns; i++) {
		struct flow *f = &r->flows[i];
		const struct conn_setup *s = &c->conns[i];

		f->cookie = COOKIE0 + i;
		f->s.family = AF_INET;
		f->s.cgroup_id = CGROUP;
		f->s.saddr[0] = 198, f->s.saddr[1] = 18, f->s.saddr[3] = 1;
		f->s.daddr[0] = 198, f->s.daddr[1] = 18, f->s.daddr[2] = (__u8)i,
		f->s.daddr[3] = 10;
		f->s.sport = 40000 + i, f->s.dport = 5201;
		f->s.state = CONN_ESTABLISHED;
		f->s.mss = 1448, f->s.snd_cwnd = 10;
		f->s.sndbuf = s->sndbuf, f->s.rcvbuf = s->rcvbuf;
		f->s.sndbuf_cap = SNDBUF_CAP, f->s.rcvbuf_cap = RCVBUF_CAP;
		f->s.updated_ns = 1000 * TICK_NS;
	}
	if (c->setup)
		c->setup(r);
}

/* One tick of each connection's traffic. */
static void traffic(const struct plan_case *c, struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct conn_stats *s = &r->flows[i].s;
		const struct conn_setup *t = &c->conns[r->flows[i].cookie - COOKIE0];

		s->updated_ns += TICK_NS;
		s->min_rtt_us = s->srtt_us = s->rcv_rtt_us = t->rtt_us;
		s->bytes_acked += (__u64)t->send_Bps;
		s->bytes_received += (__u64)t->recv_Bps;
		s->delivery_rate_Bps = (__u64)t->send_Bps;
		s->sndbuf_limited_us += (__u64)(t->snd_limited * 1e6);
		if (t->send_Bps)
			s->busy_us += 1000000; /* data out all through the tick */
	}
}

/* What iter/tcp does with the targets: sets those that are not observe's. */
static void kernel_applies(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct conn_target *t = &r->out.conns[i].target;
		struct conn_stats *s = &r->flows[i].s;

		if (t->flags & TARGET_OBSERVE)
			continue;
		if (t->sndbuf && t->sndbuf != s->sndbuf)
			s->sndbuf = t->sndbuf, s->buf_locks |= EST_LOCK_SNDBUF;
		if (t->rcvbuf && t->rcvbuf != s->rcvbuf)
			s->rcvbuf = t->rcvbuf, s->buf_locks |= EST_LOCK_RCVBUF;
		if (t->notsent_lowat)
			s->notsent_lowat = t->notsent_lowat;
	}
}

/* What this tick's plan said, added to the run's account. */
static void account(struct run *r)
{
	const struct plan_output *o = &r->out;
	__u64 assigned = 0;

	for (size_t k = 0; k < o->nlogged; k++) {
		r->decided[o->logged[k].buffer][o->logged[k].reason] = true;
		r->observe_only &= o->logged[k].observe;
	}
	for (size_t i = 0; i < r->n; i++)
		assigned += (__u64)o->conns[i].target.sndbuf + o->conns[i].target.rcvbuf;
	if (assigned > r->max_assigned)
		r->max_assigned = assigned;
	if (o->ngone) {
		assert_int_equal(o->ngone, 1);
		r->gone_cookie = o->gone[0];
		r->gone_tick = r->tick;
	}
	r->changes += o->changes;
	r->nlearned += o->nlearned;
	r->logged += o->nlogged;
	r->ngroups += o->ngroups;
	r->urgent |= o->urgent;
	if (r->n)
		r->actions0 |= o->actions[0];
}

static void run_tick(const struct plan_case *c, struct run *r)
{
	struct plan_work w = { .block = c->block,
			       .decisions = r->decisions,
			       .conn_of = r->conn_of,
			       .budget = r->budget,
			       .group = r->group,
			       .group_where = r->group_where,
			       .actions = r->actions,
			       .gone = r->gone,
			       .evicted = r->evicted };
	struct est_config est = est_config_default();
	static __u64 cookies[MAX_CONNS];
	struct plan_input in = {
		.flows = r->flows,
		.cookies = cookies,
		.n = r->n,
		.prev = r->prev,
		.nprev = r->nprev,
		.policies = c->group_budget ? r->policies : NULL,
		.policy = { .est = est, .mode = c->mode },
		.limits = { .budget = c->budget,
			    .min_buf = est.min_buf,
			    .hysteresis = est.hysteresis,
			    .pressure_shrinks = BUDGET_PRESSURE_SHRINKS,
			    .idle_ticks = BUDGET_IDLE_TICKS },
		.pressure = c->pressure,
		.now_ns = r->flows[0].s.updated_ns,
		.dests = &r->dests,
	};

	for (size_t i = 0; i < r->n; i++)
		cookies[i] = r->flows[i].cookie;
	/* the policies' path: every connection in one policy with a budget */
	for (size_t i = 0; i < r->n; i++)
		r->policies[i] = (struct tune_policy){
			.est = est, .mode = c->mode, .budget_group = 1, .budget = c->group_budget
		};
	tick_plan(&in, &w, &r->out);
	r->prev = r->out.conns;
	r->nprev = r->n;
}

static void run_case(const struct plan_case *c, struct run *r)
{
	start(c, r);
	for (r->tick = 1; r->tick <= c->ticks; r->tick++) {
		if (r->tick == c->closes_at) {
			memmove(&r->flows[0], &r->flows[1], (r->n - 1) * sizeof(r->flows[0]));
			r->n--;
		}
		traffic(c, r);
		run_tick(c, r);
		account(r);
		kernel_applies(r);
	}
}

/* ---- what a case says ------------------------------------------------------- */

static void check_expectations(const struct plan_case *c, struct run *r)
{
	bool any = false;

	for (int b = 0; b < CHANGE_BUFFERS; b++)
		for (int k = 0; k < TUNE_REASONS; k++)
			any |= r->decided[b][k];
	if (c->want_buffer == CHANGE_NONE && any)
		fail_msg("%s: a change was decided", c->name);
	if (c->want_buffer != CHANGE_NONE && !r->decided[c->want_buffer][c->want_reason])
		fail_msg("%s: no %s change for %s", c->name,
			 format_change_buffer((__u16)c->want_buffer),
			 tune_reason_name(c->want_reason));
	if (any && r->observe_only != (c->mode == MODE_OBSERVE))
		fail_msg("%s: changes flagged observe: %d, mode observe: %d", c->name,
			 r->observe_only, c->mode == MODE_OBSERVE);
	if ((r->changes > 0) != c->applies)
		fail_msg("%s: %zu changes to apply", c->name, r->changes);
	if ((r->nlearned > 0) != c->learns)
		fail_msg("%s: %zu sizes learned", c->name, r->nlearned);
	for (size_t i = 0; i < r->n; i++) {
		__u32 flags = r->out.conns[i].target.flags;

		if ((flags & c->flags_set) != c->flags_set || (flags & c->flags_clear))
			fail_msg("%s: connection %zu's target flags %#x", c->name, i, flags);
	}
}

/* The connection's target is the size the plan gave the kernel, with the
 * last change recorded in it, and a write and an apply for it. */
static void bulk_sender_shrunk(const struct plan_case *c, struct run *r)
{
	const struct conn_target *t = &r->out.conns[0].target;

	assert_true(t->sndbuf >= 8 * KiB && t->sndbuf <= 2 * MiB);
	assert_int_equal(r->flows[0].s.sndbuf, t->sndbuf);
	assert_true(t->change_ns != 0);
	assert_int_equal(r->actions0, PLAN_WRITE | PLAN_APPLY);
	(void)c;
}

static void sender_probed(const struct plan_case *c, struct run *r)
{
	/* each probe at least doubles: far above the 64 KiB it started at */
	assert_true(r->out.conns[0].target.sndbuf >= 256 * KiB);
	assert_true(r->urgent); /* a grow is applied now, not with the next shrinks */
	(void)c;
}

/* Decided, shown (written), never applied: the kernel's sizes stay. */
static void observed_only(const struct plan_case *c, struct run *r)
{
	assert_true(r->logged > 0);
	assert_int_equal(r->flows[0].s.sndbuf, c->conns[0].sndbuf);
	assert_true(r->out.conns[0].target.sndbuf < c->conns[0].sndbuf);
	assert_false(r->urgent);
	assert_int_equal(r->actions0, PLAN_WRITE); /* shown, never a targets pass */
}

/* The probes, doubling every tick, would go far beyond the budget: the
 * targets in force fill it and never add up to more. */
static void bounded_by_budget(const struct plan_case *c, struct run *r)
{
	__u64 budget = c->budget ? c->budget : c->group_budget;

	assert_int_equal(r->max_assigned, budget);
	if (c->group_budget)
		assert_true(r->ngroups > 0);
}

/* The idle buffer goes straight down to min_buf, and nothing grows. */
static void pressure_shrinks_idle(const struct plan_case *c, struct run *r)
{
	assert_int_equal(r->out.conns[0].target.sndbuf, est_config_default().min_buf);
	assert_int_equal(r->flows[0].s.sndbuf, est_config_default().min_buf);
	assert_false(r->decided[CHANGE_SNDBUF][EST_GROW] || r->decided[CHANGE_SNDBUF][EST_PROBE]);
	(void)c;
}

/* What the agent decided before: a 4 MiB send buffer, in force. */
static void big_target_before(struct run *r)
{
	struct conn_track *t = &r->prev[0];

	t->cookie = COOKIE0;
	t->target.sndbuf = t->target.sndbuf_from = 4 * MiB;
	r->flows[0].s.buf_locks = EST_LOCK_SNDBUF;
	r->nprev = 1;
}

/* The agent shrank the send buffer from 256 KiB to 64 KiB, but before the
 * shrink was applied the buffer grew to 512 KiB. */
static void shrink_outgrown(struct run *r)
{
	struct conn_track *t = &r->prev[0];

	t->cookie = COOKIE0;
	t->target.sndbuf = 64 * KiB;
	t->target.sndbuf_from = 256 * KiB;
	r->flows[0].s.sndbuf = 512 * KiB;
	r->nprev = 1;
}

/* ... by a sockops regrowth: only those grow a buffer tcptune locked. */
static void shrink_overtaken(struct run *r)
{
	shrink_outgrown(r);
	r->flows[0].s.buf_locks = EST_LOCK_SNDBUF;
}

/* The stale target is never applied: the regrown size is the target now,
 * written so that flows shows it and the budget counts it. */
static void regrowth_adopted(const struct plan_case *c, struct run *r)
{
	const struct conn_target *t = &r->out.conns[0].target;

	assert_int_equal(t->sndbuf, 512 * KiB);
	assert_int_equal(t->sndbuf_from, 512 * KiB);
	assert_true(r->out.actions[0] & PLAN_WRITE);
	assert_false(r->out.actions[0] & PLAN_APPLY);
	(void)c;
}

/* An unlocked buffer grows by the kernel's autotuning, which is what the
 * shrink is for: the target stays and is applied. */
static void shrink_still_applies(const struct plan_case *c, struct run *r)
{
	const struct conn_target *t = &r->out.conns[0].target;

	assert_int_equal(t->sndbuf, 64 * KiB);
	assert_int_equal(t->sndbuf_from, 256 * KiB);
	assert_int_equal(r->flows[0].s.sndbuf, 64 * KiB);
	(void)c;
}

/* Its policy's mode off: nothing decided, nothing written, the kernel's
 * sizes stay. */
static void left_alone(const struct plan_case *c, struct run *r)
{
	const struct conn_target none = {};

	assert_memory_equal(&r->out.conns[0].target, &none, sizeof(none));
	assert_int_equal(r->actions0, 0);
	assert_int_equal(r->flows[0].s.sndbuf, c->conns[0].sndbuf);
}

/* The closed connection's cookie is listed once, for its target to go;
 * the other connection's state carried on where it was. */
static void closed_is_gone(const struct plan_case *c, struct run *r)
{
	assert_int_equal(r->gone_cookie, COOKIE0);
	assert_int_equal(r->gone_tick, c->closes_at);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->out.conns[0].cookie, COOKIE0 + 1);
	assert_int_equal(r->out.conns[0].st.tick, c->ticks);
	assert_int_equal(r->out.ngone, 0); /* once only */
}

/* The sender's /24 learned its send size for its cgroup; the receiver's
 * /24 its receive size, for its cgroup and for any (a listener's SYN-ACK
 * is sized before the connection has a cgroup). The table marks them to be
 * copied into dest_sizes. */
static void destinations_learned(const struct plan_case *c, struct run *r)
{
	struct dest_key snd_key = dest_key_make(CGROUP, AF_INET, r->flows[0].s.daddr);
	struct dest_key rcv_key = dest_key_make(CGROUP, AF_INET, r->flows[1].s.daddr);
	struct dest_key any_key = dest_key_make(0, AF_INET, r->flows[1].s.daddr);
	uint32_t snd, rcv;
	size_t cursor = 0, dirty = 0;

	(void)c;
	assert_true(dest_lookup(&r->dests, &snd_key, &snd, &rcv));
	assert_true(snd >= 8 * KiB && snd < 4 * MiB);
	assert_int_equal(rcv, 0);
	assert_true(dest_lookup(&r->dests, &rcv_key, &snd, &rcv));
	assert_int_equal(snd, 0);
	assert_true(rcv > RCVBUF_CAP); /* learned only beyond the kernel's ceiling */
	assert_true(dest_lookup(&r->dests, &any_key, &snd, &rcv));
	assert_true(rcv > RCVBUF_CAP);
	while (dest_next_dirty(&r->dests, &cursor))
		dirty++;
	assert_int_equal(dirty, 3);
}

static const struct plan_case cases[] = {
	{ .name = "steady bulk sender shrunk",
	  .conns = { BULK_SENDER },
	  .nconns = 1,
	  .ticks = 5,
	  .want_buffer = CHANGE_SNDBUF,
	  .want_reason = EST_SHRINK,
	  .applies = true,
	  .learns = true,
	  .flags_clear = TARGET_OBSERVE | TARGET_NO_REGROW | TARGET_SND_LIMITED,
	  .check = bulk_sender_shrunk },
	{ .name = "buffer-limited sender probed",
	  .conns = { LIMITED_SENDER },
	  .nconns = 1,
	  .ticks = 5,
	  .want_buffer = CHANGE_SNDBUF,
	  .want_reason = EST_PROBE,
	  .applies = true,
	  .flags_set = TARGET_SND_LIMITED,
	  .flags_clear = TARGET_NO_REGROW,
	  .check = sender_probed },
	{ .name = "observe mode: decided, flagged observe",
	  .conns = { BULK_SENDER },
	  .nconns = 1,
	  .ticks = 5,
	  .mode = MODE_OBSERVE,
	  .want_buffer = CHANGE_SNDBUF,
	  .want_reason = EST_SHRINK,
	  .flags_set = TARGET_OBSERVE,
	  .check = observed_only },
	{ .name = "policy mode off: left alone",
	  .conns = { BULK_SENDER },
	  .nconns = 1,
	  .ticks = 5,
	  .mode = MODE_OFF,
	  .want_buffer = CHANGE_NONE,
	  .check = left_alone },
	{ .name = "global budget bounds the targets",
	  .conns = { LIMITED_SENDER, LIMITED_SENDER },
	  .nconns = 2,
	  .ticks = 8,
	  .budget = 600 * KiB,
	  .want_buffer = CHANGE_SNDBUF,
	  .want_reason = BUDGET_CAPPED,
	  .applies = true,
	  .flags_set = TARGET_NO_REGROW,
	  .check = bounded_by_budget },
	{ .name = "a policy's budget bounds its connections",
	  .conns = { LIMITED_SENDER, LIMITED_SENDER },
	  .nconns = 2,
	  .ticks = 8,
	  .group_budget = 600 * KiB,
	  .want_buffer = CHANGE_SNDBUF,
	  .want_reason = BUDGET_CAPPED,
	  .applies = true,
	  .flags_set = TARGET_NO_REGROW,
	  .check = bounded_by_budget },
	{ .name = "TCP memory pressure shrinks an idle buffer",
	  .conns = { IDLE },
	  .nconns = 1,
	  .ticks = 4,
	  .pressure = true,
	  .setup = big_target_before,
	  .want_buffer = CHANGE_SNDBUF,
	  .want_reason = BUDGET_PRESSURE,
	  .applies = true,
	  .flags_set = TARGET_NO_REGROW,
	  .check = pressure_shrinks_idle },
	{ .name = "a stale target overtaken by a sockops regrowth",
	  .conns = { IDLE },
	  .nconns = 1,
	  .ticks = 1,
	  .setup = shrink_overtaken,
	  .want_buffer = CHANGE_NONE,
	  .check = regrowth_adopted },
	{ .name = "a shrink the kernel's autotuning outgrew still applies",
	  .conns = { IDLE },
	  .nconns = 1,
	  .ticks = 1,
	  .setup = shrink_outgrown,
	  .want_buffer = CHANGE_NONE,
	  .check = shrink_still_applies },
	{ .name = "a connection that closed",
	  .conns = { IDLE, IDLE },
	  .nconns = 2,
	  .ticks = 4,
	  .closes_at = 3,
	  .want_buffer = CHANGE_NONE,
	  .check = closed_is_gone },
	{ .name = "learned destinations",
	  .conns = { BULK_SENDER, BULK_RECEIVER },
	  .nconns = 2,
	  .ticks = 5,
	  .want_buffer = CHANGE_SNDBUF,
	  .want_reason = EST_SHRINK,
	  .applies = true,
	  .learns = true,
	  .check = destinations_learned },
};

static void plan_cases(void **state)
{
	static struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case: %s\n", cases[i].name);
		run_case(&cases[i], &r);
		check_expectations(&cases[i], &r);
		cases[i].check(&cases[i], &r);
	}
}

/* ---- properties of every plan -------------------------------------------------- */

/* Loopback and connections no pass has refreshed yet are left to the
 * kernel: the plan decides nothing for them. */
static void tunable(void **state)
{
	struct flow f = { .s = { .family = AF_INET, .updated_ns = 1 } };

	(void)state;
	f.s.daddr[0] = 198;
	assert_true(plan_tunable(&f));
	f.s.updated_ns = 0;
	assert_false(plan_tunable(&f));
	f.s.updated_ns = 1;
	f.s.daddr[0] = 127;
	assert_false(plan_tunable(&f));
	memset(f.s.daddr, 0, sizeof(f.s.daddr));
	f.s.family = AF_INET6;
	f.s.daddr[15] = 1; /* ::1 */
	assert_false(plan_tunable(&f));
	f.s.daddr[10] = f.s.daddr[11] = 0xff, f.s.daddr[12] = 127,
	f.s.daddr[15] = 1; /* ::ffff:127.0.0.1 */
	assert_false(plan_tunable(&f));
}

/* Connections come and go between ticks: the states stay in one array.
 * Those still here keep theirs (two ticks of estimates), the new ones start
 * afresh, and the cookies of those gone are listed once, in order. */
static void states_carried_in_place(void **state)
{
	static const struct plan_case c = {
		.name = "in place",
		.conns = { BULK_SENDER, BULK_SENDER, BULK_SENDER, BULK_SENDER, BULK_SENDER,
			   BULK_SENDER },
		.nconns = 6,
	};
	static const size_t first[] = { 0, 1, 3, 4 }, second[] = { 1, 2, 4, 5 };
	static struct flow all[MAX_CONNS];
	static struct run r;

	(void)state;
	start(&c, &r);
	memcpy(all, r.flows, sizeof(all));
	for (size_t k = 0; k < 4; k++)
		r.flows[k] = all[first[k]];
	r.n = 4;
	traffic(&c, &r);
	run_tick(&c, &r);
	for (size_t k = 0; k < 4; k++) /* figures as they went on, for each connection */
		all[first[k]] = r.flows[k];
	for (size_t k = 0; k < 4; k++)
		r.flows[k] = all[second[k]];
	traffic(&c, &r);
	run_tick(&c, &r);

	assert_ptr_equal(r.out.conns, r.a);
	for (size_t k = 0; k < 4; k++) {
		bool kept = second[k] == 1 || second[k] == 4;

		assert_int_equal(r.out.conns[k].cookie, COOKIE0 + second[k]);
		assert_int_equal(r.out.conns[k].st.tick, kept ? 2 : 1);
	}
	assert_int_equal(r.out.ngone, 2);
	assert_int_equal(r.out.gone[0], COOKIE0 + 0);
	assert_int_equal(r.out.gone[1], COOKIE0 + 3);
}

/* Decided a block at a time, as without a shared budget the agent does,
 * connections get what they get decided all at once: the same targets,
 * changes, log lines and learned sizes, tick after tick. */
static void blocks_decide_as_one(void **state)
{
	static struct plan_case c = {
		.name = "blocks",
		.conns = { BULK_SENDER, LIMITED_SENDER, IDLE, BULK_RECEIVER, BULK_SENDER,
			   LIMITED_SENDER, BULK_RECEIVER },
		.nconns = 7,
		.ticks = 6,
	};
	static struct run whole, blocks;

	(void)state;
	c.block = 0;
	run_case(&c, &whole);
	c.block = 3;
	run_case(&c, &blocks);
	assert_true(whole.changes > 0 && whole.nlearned > 0);
	assert_int_equal(blocks.changes, whole.changes);
	assert_int_equal(blocks.nlearned, whole.nlearned);
	assert_int_equal(blocks.logged, whole.logged);
	assert_int_equal(blocks.max_assigned, whole.max_assigned);
	assert_memory_equal(blocks.decided, whole.decided, sizeof(whole.decided));
	assert_int_equal(blocks.out.budget.assigned, whole.out.budget.assigned);
	for (size_t i = 0; i < c.nconns; i++) {
		assert_memory_equal(&blocks.out.conns[i].target, &whole.out.conns[i].target,
				    sizeof(whole.out.conns[i].target));
		assert_memory_equal(&blocks.flows[i].s, &whole.flows[i].s,
				    sizeof(whole.flows[i].s));
	}
}

/* Connections whose figures nothing refreshed since the last tick are
 * counted, not decided: their ticks and idle ticks go on, their targets
 * stay and count in the assigned bytes, nothing is written for them, and
 * the others are decided as if they were not there. */
static void unchanged_figures_are_counted(void **state)
{
	static struct plan_case c = {
		.name = "unchanged",
		.conns = { BULK_SENDER, LIMITED_SENDER, IDLE, BULK_RECEIVER },
		.nconns = 4,
		.block = 2,
	};
	static const size_t frozen[] = { 1, 2 };
	static struct run a, all;
	struct conn_track last[2];

	(void)state;
	start(&c, &a);
	start(&c, &all);
	for (unsigned t = 1; t <= 9; t++) {
		struct run *r[] = { &a, &all };

		for (int k = 0; k < 2; k++) {
			struct flow held[2] = { r[k]->flows[frozen[0]], r[k]->flows[frozen[1]] };

			traffic(&c, r[k]);
			/* from tick 6 on, a's frozen connections report nothing new */
			for (int j = 0; k == 0 && t >= 6 && j < 2; j++)
				r[k]->flows[frozen[j]] = held[j];
			run_tick(&c, r[k]);
			account(r[k]);
			kernel_applies(r[k]);
		}
		/* tick 6 takes their last applied sizes: from tick 7 on nothing moved */
		if (t >= 8) {
			__u64 assigned = 0;

			for (int j = 0; j < 2; j++) {
				const struct conn_track *now = &a.out.conns[frozen[j]];

				assert_int_equal(now->st.tick, last[j].st.tick + 1);
				assert_int_equal(now->idle_ticks, last[j].idle_ticks + 1);
				assert_memory_equal(&now->target, &last[j].target,
						    sizeof(now->target));
				assert_int_equal(a.out.actions[frozen[j]], 0);
			}
			for (size_t i = 0; i < c.nconns; i++)
				assigned += (__u64)a.out.conns[i].target.sndbuf +
					    a.out.conns[i].target.rcvbuf;
			assert_int_equal(a.out.budget.assigned, assigned);
			/* the last block decided connection 3 alone */
			assert_int_equal(a.conn_of[0], 3);
		}
		for (int j = 0; j < 2; j++)
			last[j] = a.out.conns[frozen[j]];
	}
	assert_true(a.changes > 0);
	assert_int_equal(a.out.conns[1].target.flags & TARGET_SND_LIMITED, 0);
	for (size_t i = 0; i < c.nconns; i += 3)
		assert_memory_equal(&a.out.conns[i].target, &all.out.conns[i].target,
				    sizeof(a.out.conns[i].target));
}

/* Past PLAN_LOGGED_CHANGES a tick's changes are counted, not listed: the
 * counts hold them all, listed or not. 60 bulk senders turn steady in the
 * same tick, each with a send-buffer shrink and a TCP_NOTSENT_LOWAT. */
static void logged_changes_are_bounded(void **state)
{
	static struct plan_case c = { .name = "many", .nconns = 60, .ticks = 4 };
	static struct run r;
	__u64 counted = 0, unlogged = 0;

	(void)state;
	for (size_t i = 0; i < c.nconns; i++)
		c.conns[i] = (struct conn_setup)BULK_SENDER;
	run_case(&c, &r);
	for (int b = 0; b < CHANGE_BUFFERS; b++)
		for (int k = 0; k < TUNE_REASONS; k++) {
			counted += r.out.counts[b][k];
			unlogged += r.out.unlogged[b][k];
		}
	assert_true(counted > PLAN_LOGGED_CHANGES);
	assert_int_equal(r.out.nlogged, PLAN_LOGGED_CHANGES);
	assert_int_equal(unlogged, counted - PLAN_LOGGED_CHANGES);
	assert_int_equal(r.out.changes, counted);
	/* the first listed is the first connection's */
	assert_int_equal(r.out.logged[0].conn, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plan_cases),
		cmocka_unit_test(tunable),
		cmocka_unit_test(states_carried_in_place),
		cmocka_unit_test(blocks_decide_as_one),
		cmocka_unit_test(unchanged_figures_are_counted),
		cmocka_unit_test(logged_changes_are_bounded),
	};

	return cmocka_run_group_tests_name("tick_plan", tests, NULL, NULL);
}
