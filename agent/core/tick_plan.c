// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* One tick of the tuner, decided (tick_plan.h). Read top to bottom: the
 * connections carried from the last tick, the estimator's decisions, the
 * budgets, then each connection's target and what it learned. */
#include <string.h>
#include "core/tick_plan.h"
#include "core/af.h"

static bool is_loopback(const struct conn_stats *s)
{
	static const __u8 mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const __u8 v6_loopback[16] = { [15] = 1 };

	if (s->family == AF_INET)
		return s->daddr[0] == 127;
	if (!memcmp(s->daddr, mapped, sizeof(mapped)))
		return s->daddr[12] == 127;
	return !memcmp(s->daddr, v6_loopback, sizeof(v6_loopback));
}

bool plan_tunable(const struct flow *f)
{
	return f->s.updated_ns && !is_loopback(&f->s);
}

/* ---- the connections carried from the last tick ------------------------- */

/* A send-buffer target that a regrowth overtook is never applied: the
 * size the connection has is its target now, so flows shows it and the
 * budget counts it. True when it changed. */
static bool adopt_regrowth(struct conn_target *target, const struct conn_stats *s)
{
	if (!target_overtaken(target->sndbuf, s->sndbuf, target->sndbuf_from,
			      s->buf_locks & EST_LOCK_SNDBUF))
		return false;
	target->sndbuf = target->sndbuf_from = s->sndbuf;
	return true;
}

/* The last tick's states of the connections still here, moved down over
 * those gone (whose cookies go to out->gone). Returns how many are kept.
 * Both lists are sorted by cookie. */
static size_t drop_gone(const struct plan_input *in, struct plan_output *out)
{
	size_t kept = 0, i = 0;

	for (size_t j = 0; j < in->nprev; j++) {
		__u64 cookie = in->prev[j].cookie;

		while (i < in->n && in->cookies[i] < cookie)
			i++;
		if (i < in->n && in->cookies[i] == cookie) {
			if (kept != j)
				in->prev[kept] = in->prev[j];
			kept++;
		} else {
			out->gone[out->ngone++] = cookie;
		}
	}
	return kept;
}

/* Each connection's state: the last tick's where it was seen, else a new
 * one. In the same array, one state per connection: filled from the end, a
 * kept state moves only up, past those not yet placed. Only the cookies are
 * read: the figures are the decisions' business. */
static void carry(const struct plan_input *in, struct plan_output *out)
{
	size_t kept = drop_gone(in, out);

	if (kept == in->n)
		return; /* the same connections as last tick, in place */
	for (size_t i = in->n; i-- > 0;) {
		struct conn_track *c = &out->conns[i];

		if (kept && in->prev[kept - 1].cookie == in->cookies[i]) {
			if (--kept != i)
				*c = in->prev[kept];
		} else {
			memset(c, 0, sizeof(*c));
			c->cookie = in->cookies[i];
		}
	}
}

/* ---- the estimator's decisions ------------------------------------------- */

static struct est_sample sample_of(const struct conn_stats *s)
{
	return (struct est_sample){
		.now_us = s->updated_ns / 1000,
		.srtt_us = s->srtt_us,
		.min_rtt_us = s->min_rtt_us,
		.rcv_rtt_us = s->rcv_rtt_us,
		.mss = s->mss,
		.snd_cwnd = s->snd_cwnd,
		.delivery_rate_Bps = s->delivery_rate_Bps,
		.bytes_acked = s->bytes_acked,
		.bytes_received = s->bytes_received,
		.snd_queue_bytes = s->snd_queue_bytes,
		.rcv_queue_bytes = s->rcv_queue_bytes,
		.sndbuf = s->sndbuf,
		.rcvbuf = s->rcvbuf,
		.sndbuf_limited_us = s->sndbuf_limited_us,
		.rwnd_limited_us = s->rwnd_limited_us,
		.busy_us = s->busy_us,
		.app_locks = s->app_locks,
		.sndbuf_cap = s->sndbuf_cap,
		.rcvbuf_cap = s->rcvbuf_cap,
		.app_limited = s->app_limited != 0,
		.buf_locks = s->buf_locks,
		.notsent_lowat = s->notsent_lowat,
		.active_us = s->active_us,
		.drained_reads = s->drained_reads,
	};
}

static void budget_buf_of(struct budget_buf *b, __u32 cur, __u32 assigned, __u32 queued,
			  bool app_owned, __u32 next, enum est_reason reason)
{
	*b = (struct budget_buf){ .cur = cur,
				  .assigned = assigned,
				  .queued = queued,
				  .app_owned = app_owned,
				  .next = next,
				  .reason = reason };
}

static const struct tune_policy *policy_of(const struct plan_input *in, size_t i)
{
	return in->policies ? &in->policies[i] : &in->policy;
}

static void take_policy(struct conn_track *c, const struct tune_policy *pol)
{
	c->observe = pol->mode == MODE_OBSERVE;
	c->budget_group = pol->budget_group;
	c->group_budget = pol->budget;
}

static __u32 target_flags(const struct plan_input *in, const struct conn_track *c,
			  const struct est_decision *d)
{
	return (d->snd_limited ? TARGET_SND_LIMITED : 0) |
	       (d->rcv_limited ? TARGET_RCV_LIMITED : 0) |
	       (d->rcv_app_limited ? TARGET_RCV_APP_LIMITED : 0) |
	       (c->observe ? TARGET_OBSERVE : 0) |
	       (in->limits.budget || c->group_budget || in->pressure ? TARGET_NO_REGROW : 0);
}

/* Connection i when its figures are those its state took last tick (no
 * event or pass refreshed them) and it shares no budget: the estimator only
 * counts the tick, the budgets only count its bytes, so it is counted here
 * and takes no place in the decisions. At hundreds of thousands of
 * connections most are like this in any tick. True when it was. */
static bool count_unchanged(const struct plan_input *in, size_t i, struct plan_output *out)
{
	static const struct est_decision none;
	const struct flow *f = &in->flows[i];
	const struct tune_policy *pol = policy_of(in, i);
	struct conn_track *c = &out->conns[i];
	struct est_sample sample;
	__u32 flags;

	if (in->pressure || in->limits.budget || pol->budget || pol->mode == MODE_OFF ||
	    !plan_tunable(f))
		return false;
	sample = sample_of(&f->s);
	if (!est_update_unchanged(&c->st, &sample))
		return false;
	take_policy(c, pol);
	c->idle_ticks++;
	out->budget.assigned += (__u64)c->target.sndbuf + c->target.rcvbuf;
	flags = target_flags(in, c, &none);
	if (flags != c->target.flags) {
		c->target.flags = flags;
		out->actions[i] |= PLAN_WRITE;
	}
	return true;
}

/* Connection i's decision, and its entry for the budgets, both in the
 * block's slot k. Sizes the agent set count against the budget until the
 * connection closes, tuned this tick or not. */
static void decide(const struct plan_input *in, size_t i, size_t k, const struct plan_work *w,
		   struct plan_output *out)
{
	const struct flow *f = &in->flows[i];
	struct conn_track *c = &out->conns[i];
	struct est_decision *d = &w->decisions[k];
	struct budget_conn *b = &w->budget[k];
	const struct tune_policy *pol = policy_of(in, i);
	struct est_sample sample;
	bool seen;

	w->conn_of[k] = i;
	*b = (struct budget_conn){ .id = k };
	b->buf[BUDGET_SND].assigned = c->target.sndbuf;
	b->buf[BUDGET_RCV].assigned = c->target.rcvbuf;
	if (!plan_tunable(f) || pol->mode == MODE_OFF)
		return; /* left to the kernel, or by its policy */
	take_policy(c, pol);
	seen = c->st.tick > 0;
	sample = sample_of(&f->s);
	est_update(&pol->est, &c->st, &sample, d);
	c->idle_ticks = d->sender || d->receiver || !seen ? 0 : c->idle_ticks + 1;
	b->tunable = true;
	b->idle_ticks = c->idle_ticks;
	budget_buf_of(&b->buf[BUDGET_SND], f->s.sndbuf, c->target.sndbuf, f->s.snd_queue_bytes,
		      f->s.app_locks & EST_LOCK_SNDBUF, d->sndbuf, d->snd_reason);
	budget_buf_of(&b->buf[BUDGET_RCV], f->s.rcvbuf, c->target.rcvbuf, f->s.rcv_queue_bytes,
		      f->s.app_locks & EST_LOCK_RCVBUF, d->rcvbuf, d->rcv_reason);
}

/* ---- the budgets ----------------------------------------------------------- */

/* One policy's connections, from budget entry `from` on (the first of
 * them), cut again to what the policy's budget has left. */
static void group_budget(const struct plan_input *in, const struct plan_work *w,
			 struct plan_output *out, size_t from, size_t n, int group, __u64 budget)
{
	struct budget_conn *bc = w->budget, *sub = w->group;
	struct budget_config limits = in->limits;
	struct plan_group *g = &out->groups[out->ngroups++];
	size_t m = 0;

	for (size_t j = from; j < n; j++) {
		if (!bc[j].tunable || out->conns[w->conn_of[bc[j].id]].budget_group != group)
			continue;
		w->group_where[m] = j;
		sub[m] = bc[j];
		sub[m].id = m;
		m++;
	}
	limits.budget = budget;
	budget_apply(&limits, false, sub, m, &g->result);
	g->budget = budget;
	for (size_t j = 0; j < m; j++) {
		struct budget_conn *back = &bc[w->group_where[sub[j].id]];

		memcpy(back->buf, sub[j].buf, sizeof(back->buf));
	}
}

/* The global budget and pressure first; then the grows of each policy with
 * a budget of its own are cut again to what that budget has left (pressure
 * is the global pass's business). */
static void apply_budgets(const struct plan_input *in, const struct plan_work *w, size_t n,
			  struct plan_output *out)
{
	bool done[CONFIG_MAX_POLICIES + 1] = { false };
	struct budget_conn *bc = w->budget;
	struct budget_result r;

	budget_apply(&in->limits, in->pressure, bc, n, &r);
	budget_result_add(&out->budget, &r);
	for (size_t k = 0; k < n; k++) {
		const struct conn_track *first = &out->conns[w->conn_of[bc[k].id]];
		int group = first->budget_group;

		if (group <= 0 || group > CONFIG_MAX_POLICIES || done[group] ||
		    !first->group_budget || !bc[k].tunable)
			continue;
		done[group] = true; /* its first connection: the group is gathered now */
		group_budget(in, w, out, k, n, group, first->group_budget);
	}
}

/* ---- each connection's target ---------------------------------------------- */

/* A change to connection i, recorded in its target (flows and top show the
 * last one), counted, and listed for the log up to PLAN_LOGGED_CHANGES. */
static void change(const struct plan_input *in, struct plan_output *out, size_t i,
		   enum change_buffer buffer, __u32 old, __u32 new, unsigned int reason)
{
	struct conn_track *c = &out->conns[i];

	c->target.change_buffer = (__u16)buffer;
	c->target.change_reason = (__u16)reason;
	c->target.change_old = old;
	c->target.change_new = new;
	c->target.change_ns = in->now_ns;
	out->changes += !c->observe;
	if (reason < TUNE_REASONS) {
		out->counts[buffer][reason]++;
		if (out->nlogged == PLAN_LOGGED_CHANGES)
			out->unlogged[buffer][reason]++;
	}
	if (out->nlogged < PLAN_LOGGED_CHANGES)
		out->logged[out->nlogged++] = (struct plan_change){ .conn = i,
								    .buffer = buffer,
								    .old = old,
								    .new = new,
								    .reason = reason,
								    .observe = c->observe };
}

/* The buffer sizes the budgets left to connection i. */
static void settle_buffers(const struct plan_input *in, const struct budget_conn *b,
			   const struct est_decision *d, size_t i, struct plan_output *out)
{
	const struct budget_buf *snd = &b->buf[BUDGET_SND], *rcv = &b->buf[BUDGET_RCV];
	const struct conn_stats *s = &in->flows[i].s;
	struct conn_track *c = &out->conns[i];

	if (snd->next) {
		change(in, out, i, CHANGE_SNDBUF, s->sndbuf, snd->next, snd->reason);
		c->target.sndbuf = snd->next;
		c->target.sndbuf_from = s->sndbuf;
		out->urgent |= !c->observe && snd->reason != EST_SHRINK;
	}
	if (rcv->next) {
		change(in, out, i, CHANGE_RCVBUF, s->rcvbuf, rcv->next, rcv->reason);
		c->target.rcvbuf = rcv->next;
		out->urgent |= !c->observe && rcv->reason != EST_SHRINK;
		/* the window the buffer backs, in the estimator's proportion; a
		 * pressure shrink leaves the clamp: the smaller buffer bounds the
		 * window by itself */
		if (rcv->reason != BUDGET_PRESSURE && d->rcvbuf)
			c->target.window_clamp =
				(__u32)((__u64)d->window_clamp * rcv->next / d->rcvbuf);
	}
	/* not buffer memory: outside the budget. Under pressure only a lower
	 * mark (less unsent data queued; 0 in force is unlimited) */
	if (d->notsent_lowat &&
	    !(in->pressure && s->notsent_lowat && d->notsent_lowat > s->notsent_lowat)) {
		change(in, out, i, CHANGE_NOTSENT_LOWAT, s->notsent_lowat, d->notsent_lowat,
		       d->lowat_reason);
		c->target.notsent_lowat = d->notsent_lowat;
	}
}

/* Folds one size into the table's entry for key; a destination it replaced
 * is listed, to leave dest_sizes too. */
static void learn_key(const struct plan_input *in, struct plan_output *out,
		      const struct dest_key *key, __u32 sndbuf, __u32 rcvbuf, __u64 now_us)
{
	struct dest_key evicted;

	if (dest_learn(in->dests, key, sndbuf, rcvbuf, now_us, &evicted))
		return;
	out->nlearned++;
	if (evicted.family)
		out->evicted[out->nevicted++] = evicted;
}

/* Per (cgroup, remote prefix), and the receive side also per remote prefix
 * alone (cgroup 0): a listener's SYN-ACK window is chosen before the
 * connection has a cgroup sockops can read (bpf/sockops.bpf.c). */
static void learn(const struct plan_input *in, struct plan_output *out, const struct flow *f,
		  const struct est_decision *d)
{
	struct dest_key key;
	__u64 now_us = f->s.updated_ns / 1000;

	if (!d->learn_sndbuf && !d->learn_rcvbuf)
		return; /* most connections, most ticks: before the keys are made */
	key = dest_key_make(f->s.cgroup_id, f->s.family, f->s.daddr);
	learn_key(in, out, &key, d->learn_sndbuf, d->learn_rcvbuf, now_us);
	if (d->learn_rcvbuf) {
		key = dest_key_make(0, f->s.family, f->s.daddr);
		learn_key(in, out, &key, 0, d->learn_rcvbuf, now_us);
	}
}

/* Budget entry k's connection: its target, what to write, what it taught
 * its destination. */
static void settle(const struct plan_input *in, const struct plan_work *w, size_t k,
		   struct plan_output *out)
{
	const struct budget_conn *b = &w->budget[k];
	size_t i = w->conn_of[b->id];
	const struct est_decision *d = &w->decisions[b->id];
	struct conn_track *c = &out->conns[i];
	struct conn_target before = c->target;
	size_t changes_before = out->changes;

	if (!b->tunable)
		return;
	c->target.flags = target_flags(in, c, d);
	settle_buffers(in, b, d, i, out);
	/* written in observe mode too, so flows and top show what would be
	 * done; only when it changed (a system call per connection per tick
	 * otherwise: an entry's absence reads as all zero, like a new one) */
	if (memcmp(&before, &c->target, sizeof(before)))
		out->actions[i] |= PLAN_WRITE;
	if (out->changes > changes_before)
		out->actions[i] |= PLAN_APPLY;
	/* learned sizes are set by sockops, outside the budget's account, and
	 * would grow new connections under pressure */
	if (!c->observe && !in->limits.budget && !in->pressure)
		learn(in, out, &in->flows[i], d);
}

/* Without a budget to share (global or a policy's) and not under pressure,
 * a connection's decision stands alone: the tick goes through the
 * connections a block at a time, and the working arrays hold one block. */
static size_t block_of(const struct plan_input *in, const struct plan_work *work)
{
	if (!work->block || in->limits.budget || in->pressure || in->policies)
		return in->n ? in->n : 1;
	return work->block;
}

void tick_plan(const struct plan_input *in, const struct plan_work *work, struct plan_output *out)
{
	size_t block = block_of(in, work);

	memset(out, 0, sizeof(*out));
	out->conns = in->prev;
	out->actions = work->actions;
	out->gone = work->gone;
	out->evicted = work->evicted;
	carry(in, out);
	for (size_t from = 0; from < in->n; from += block) {
		size_t n = in->n - from < block ? in->n - from : block, decided = 0;

		for (size_t i = from; i < from + n; i++) {
			struct conn_track *c = &out->conns[i];

			out->actions[i] = 0;
			if (!c->observe && adopt_regrowth(&c->target, &in->flows[i].s))
				out->actions[i] |= PLAN_WRITE;
			if (!count_unchanged(in, i, out))
				decide(in, i, decided++, work, out);
		}
		apply_budgets(in, work, decided, out);
		for (size_t k = 0; k < decided; k++)
			settle(in, work, k, out);
	}
}
