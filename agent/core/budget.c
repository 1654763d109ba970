// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Safety limits over one tick's decisions. The order of budget_apply() is
 * its policy:
 *  1. under pressure, no grow or probe: they are what would take more memory;
 *  2. the estimator's shrinks: first those of the agent's own buffers (they
 *     free budget), then those taking a kernel-sized buffer over (they cost
 *     their new size, and are worth it: the buffer gets smaller);
 *  3. under pressure, idle connections' buffers, largest first;
 *  4. grows and probes, the connections whose growing buffer is smallest
 *     first, a grow before a probe of the same size: a probing buffer doubles
 *     every tick and would otherwise take a tight budget for itself, while
 *     small buffers are where a few KB buy the most throughput. A grow that
 *     does not fit gets what is left, if that is still a change worth making.
 */
#include <stdlib.h>
#include "core/budget.h"

const char *tune_reason_name(unsigned int reason)
{
	switch (reason) {
	case BUDGET_PRESSURE:
		return "pressure";
	case BUDGET_CAPPED:
		return "budget";
	default:
		return est_reason_name((enum est_reason)reason);
	}
}

static bool is_grow(unsigned int reason)
{
	return reason == EST_GROW || reason == EST_PROBE;
}

/* A change of delta assigned bytes fits: frees, or stays within the budget. */
static bool fits(const struct budget_config *c, uint64_t total, int64_t delta)
{
	return delta <= 0 || !c->budget || total + (uint64_t)delta <= c->budget;
}

static int64_t delta_of(const struct budget_buf *b)
{
	return (int64_t)b->next - (int64_t)b->assigned;
}

static void refuse(struct budget_buf *b, struct budget_result *r)
{
	b->next = 0;
	b->reason = EST_NONE;
	r->refused++;
}

static void apply_shrinks(const struct budget_config *c, struct budget_conn *conns, size_t n,
			  uint64_t *total, struct budget_result *r)
{
	for (int freeing = 1; freeing >= 0; freeing--) {
		for (size_t i = 0; i < n; i++) {
			for (int k = 0; k < BUDGET_SIDES; k++) {
				struct budget_buf *b = &conns[i].buf[k];
				int64_t delta = delta_of(b);

				if (!b->next || b->reason != EST_SHRINK || (delta <= 0) != freeing)
					continue;
				if (!fits(c, *total, delta)) {
					refuse(b, r);
					continue;
				}
				*total += (uint64_t)delta; /* wraps back for a negative delta */
			}
		}
	}
}

/* Where a pressure shrink takes buf, or 0 when it is not worth one. Never
 * below twice what it holds: a receive buffer under its unread data makes
 * the kernel prune and drop arriving segments (the buffer counts skb
 * overhead, about as much again as the payload). */
static uint32_t pressure_floor(const struct budget_config *c, const struct budget_buf *b)
{
	uint64_t floor = 2ull * b->queued;

	if (floor < c->min_buf)
		floor = c->min_buf;
	if (floor >= b->cur || (double)(b->cur - floor) <= c->hysteresis * b->cur)
		return 0;
	return (uint32_t)floor;
}

/*
 * Idle buffers straight down to min_buf (not by shrink_step): an idle
 * connection loses no throughput now, memory is short now, and once pressure
 * ends the estimator grows a buffer back to its target in one step. At most
 * pressure_shrinks buffers per tick: each is a setsockopt and a log line, and
 * the biggest, which matter most, come first.
 */
static void apply_pressure(const struct budget_config *c, struct budget_conn *conns, size_t n,
			   uint64_t *total, struct budget_result *r)
{
	/* descending (cur, position) order without sorting: each round takes
	 * the biggest candidate below the previous one */
	uint64_t bound = UINT64_MAX;

	for (uint32_t tries = 0; tries < c->pressure_shrinks; tries++) {
		struct budget_buf *best = NULL;
		uint64_t best_key = 0;

		for (size_t i = 0; i < n; i++) {
			struct budget_conn *conn = &conns[i];

			if (!conn->tunable || conn->idle_ticks < c->idle_ticks)
				continue;
			for (int k = 0; k < BUDGET_SIDES; k++) {
				struct budget_buf *b = &conn->buf[k];
				uint64_t key = ((uint64_t)b->cur << 32) |
					       (uint64_t)(i * BUDGET_SIDES + (size_t)k);

				if (b->app_owned || b->next || key >= bound ||
				    (best && key <= best_key) || !pressure_floor(c, b))
					continue;
				best = b;
				best_key = key;
			}
		}
		if (!best)
			break;
		bound = best_key;
		best->next = pressure_floor(c, best);
		best->reason = BUDGET_PRESSURE;
		if (!fits(c, *total, delta_of(best))) {
			refuse(best, r);
			continue;
		}
		*total += (uint64_t)delta_of(best);
		r->pressure_shrinks++;
	}
}

/* The smallest buffer a connection wants to grow, a probe after a grow of
 * the same size; connections with no grow last. */
static uint64_t grow_key(const struct budget_conn *conn)
{
	uint64_t key = UINT64_MAX;

	for (int k = 0; k < BUDGET_SIDES; k++) {
		const struct budget_buf *b = &conn->buf[k];
		uint64_t v = ((uint64_t)b->cur << 1) | (b->reason == EST_PROBE);

		if (b->next && is_grow(b->reason) && v < key)
			key = v;
	}
	return key;
}

static int by_grow_key(const void *a, const void *b)
{
	uint64_t x = grow_key(a), y = grow_key(b);

	return x < y ? -1 : x > y;
}

static void apply_grow(const struct budget_config *c, struct budget_buf *b, uint64_t *total,
		       struct budget_result *r)
{
	uint64_t room, capped;

	if (fits(c, *total, delta_of(b))) {
		*total += (uint64_t)delta_of(b);
		return;
	}
	/* the most this buffer may have: what it holds of the budget and the rest */
	room = *total < c->budget ? c->budget - *total : 0;
	capped = b->assigned + room;
	if (capped < c->min_buf || capped <= b->cur ||
	    (double)(capped - b->cur) <= c->hysteresis * b->cur) {
		refuse(b, r);
		return;
	}
	b->next = (uint32_t)capped; /* below next, so it fits 32 bits */
	b->reason = BUDGET_CAPPED;
	*total += capped - b->assigned;
	r->capped++;
}

void budget_apply(const struct budget_config *c, bool pressure, struct budget_conn *conns, size_t n,
		  struct budget_result *r)
{
	uint64_t total = 0;

	*r = (struct budget_result){};
	for (size_t i = 0; i < n; i++)
		total += (uint64_t)conns[i].buf[BUDGET_SND].assigned +
			 conns[i].buf[BUDGET_RCV].assigned;

	if (pressure) {
		for (size_t i = 0; i < n; i++) {
			for (int k = 0; k < BUDGET_SIDES; k++) {
				struct budget_buf *b = &conns[i].buf[k];

				if (b->next && is_grow(b->reason)) {
					b->next = 0;
					b->reason = EST_NONE;
					r->dropped++;
				}
			}
		}
	}
	apply_shrinks(c, conns, n, &total, r);
	if (pressure)
		apply_pressure(c, conns, n, &total, r);

	if (c->budget && n > 1)
		qsort(conns, n, sizeof(*conns), by_grow_key);
	for (size_t i = 0; i < n; i++) {
		struct budget_conn *conn = &conns[i];
		/* the smaller buffer's grow first */
		int first = conn->buf[BUDGET_RCV].cur < conn->buf[BUDGET_SND].cur ? BUDGET_RCV
										  : BUDGET_SND;

		for (int j = 0; j < BUDGET_SIDES; j++) {
			struct budget_buf *b = &conn->buf[j ? !first : first];

			if (b->next && is_grow(b->reason))
				apply_grow(c, b, &total, r);
		}
	}
	r->assigned = total;
}

void budget_result_add(struct budget_result *sum, const struct budget_result *r)
{
	sum->assigned += r->assigned;
	sum->dropped += r->dropped;
	sum->pressure_shrinks += r->pressure_shrinks;
	sum->capped += r->capped;
	sum->refused += r->refused;
}

bool tcp_mem_pressure(const struct tcp_mem_state *m, bool was)
{
	if (!m->pressure)
		return false; /* no thresholds known */
	if (m->used >= m->pressure)
		return true;
	return was && m->used > m->low;
}
