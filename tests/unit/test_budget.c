// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/core/budget.c: memory pressure and the byte budget. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "core/budget.h"

#define K 1024u
#define M (1024u * 1024u)

static struct budget_config cfg(uint64_t budget)
{
	return (struct budget_config){ .budget = budget,
				       .min_buf = 64 * K,
				       .hysteresis = 0.25,
				       .pressure_shrinks = BUDGET_PRESSURE_SHRINKS,
				       .idle_ticks = BUDGET_IDLE_TICKS };
}

/* A connection with its current sizes, the agent's sizes in force, and the
 * estimator's proposals (0 = none). Active unless idle_ticks is set. */
static struct budget_conn conn(size_t id, uint32_t snd, uint32_t rcv, uint32_t asg_snd,
			       uint32_t asg_rcv)
{
	struct budget_conn c = { .id = id, .tunable = true };

	c.buf[BUDGET_SND].cur = snd;
	c.buf[BUDGET_RCV].cur = rcv;
	c.buf[BUDGET_SND].assigned = asg_snd;
	c.buf[BUDGET_RCV].assigned = asg_rcv;
	return c;
}

static void propose(struct budget_conn *c, int k, uint32_t next, enum est_reason why)
{
	c->buf[k].next = next;
	c->buf[k].reason = why;
}

static struct budget_conn *find(struct budget_conn *cs, size_t n, size_t id)
{
	for (size_t i = 0; i < n; i++)
		if (cs[i].id == id)
			return &cs[i];
	fail_msg("connection %zu lost", id);
	return NULL;
}

/* Sum of what is assigned once the changes are made, recomputed from the output. */
static uint64_t assigned_after(const struct budget_conn *cs, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 2; k++)
			sum += cs[i].buf[k].next ? cs[i].buf[k].next : cs[i].buf[k].assigned;
	return sum;
}

/* ---- no pressure, no budget: the estimator's decisions pass unchanged ---- */

static void unlimited_passes_everything(void **state)
{
	struct budget_config c = cfg(0);
	struct budget_conn cs[3] = { conn(0, 64 * K, 128 * K, 0, 0),
				     conn(1, 1 * M, 1 * M, 1 * M, 1 * M),
				     conn(2, 256 * K, 128 * K, 256 * K, 0) };
	struct budget_result r;

	(void)state;
	propose(&cs[0], BUDGET_SND, 4 * M, EST_GROW);
	propose(&cs[1], BUDGET_RCV, 512 * K, EST_SHRINK);
	propose(&cs[2], BUDGET_SND, 512 * K, EST_PROBE);
	budget_apply(&c, false, cs, 3, &r);
	/* no budget: not reordered */
	assert_int_equal(cs[0].id, 0);
	assert_int_equal(cs[0].buf[BUDGET_SND].next, 4 * M);
	assert_int_equal(cs[0].buf[BUDGET_SND].reason, EST_GROW);
	assert_int_equal(cs[1].buf[BUDGET_RCV].next, 512 * K);
	assert_int_equal(cs[1].buf[BUDGET_RCV].reason, EST_SHRINK);
	assert_int_equal(cs[2].buf[BUDGET_SND].next, 512 * K);
	assert_int_equal(cs[2].buf[BUDGET_SND].reason, EST_PROBE);
	assert_int_equal(r.assigned, 4 * M + 1 * M + 512 * K + 512 * K);
	assert_int_equal(r.assigned, assigned_after(cs, 3));
	assert_int_equal(r.capped + r.refused + r.dropped + r.pressure_shrinks, 0);
}

static void empty_list(void **state)
{
	struct budget_config c = cfg(1 * M);
	struct budget_result r = { .assigned = 99 };

	(void)state;
	budget_apply(&c, true, NULL, 0, &r);
	assert_int_equal(r.assigned, 0);
}

/* ---- budget ----------------------------------------------------------- */

static void grow_within_budget_passes(void **state)
{
	struct budget_config c = cfg(2 * M);
	struct budget_conn cs[1] = { conn(0, 256 * K, 128 * K, 256 * K, 0) };
	struct budget_result r;

	(void)state;
	propose(&cs[0], BUDGET_SND, 1 * M, EST_GROW);
	budget_apply(&c, false, cs, 1, &r);
	assert_int_equal(cs[0].buf[BUDGET_SND].next, 1 * M);
	assert_int_equal(cs[0].buf[BUDGET_SND].reason, EST_GROW);
	assert_int_equal(r.assigned, 1 * M);
}

static void grow_capped_to_what_is_left(void **state)
{
	struct budget_config c = cfg(2 * M);
	/* 1.5 M held elsewhere; this one holds 256K: it may have 256K + 256K */
	struct budget_conn cs[2] = { conn(0, 256 * K, 128 * K, 256 * K, 0),
				     conn(1, 768 * K, 768 * K, 768 * K, 768 * K) };
	struct budget_result r;

	(void)state;
	propose(&cs[0], BUDGET_SND, 2 * M, EST_GROW);
	budget_apply(&c, false, cs, 2, &r);
	struct budget_conn *a = find(cs, 2, 0);
	assert_int_equal(a->buf[BUDGET_SND].next, 512 * K);
	assert_int_equal(a->buf[BUDGET_SND].reason, BUDGET_CAPPED);
	assert_int_equal(r.capped, 1);
	assert_int_equal(r.assigned, 2 * M);
	assert_int_equal(r.assigned, assigned_after(cs, 2));
	assert_string_equal(tune_reason_name(BUDGET_CAPPED), "budget");
}

static void grow_refused_when_what_is_left_is_too_little(void **state)
{
	struct budget_config c = cfg(2 * M);
	/* 64K left: 256K -> 320K is within the 25% hysteresis: not worth it */
	struct budget_conn cs[2] = { conn(0, 256 * K, 128 * K, 256 * K, 0),
				     conn(1, 1 * M, 704 * K, 1 * M, 704 * K) };
	struct budget_result r;

	(void)state;
	propose(&cs[0], BUDGET_SND, 1 * M, EST_GROW);
	budget_apply(&c, false, cs, 2, &r);
	struct budget_conn *a = find(cs, 2, 0);
	assert_int_equal(a->buf[BUDGET_SND].next, 0);
	assert_int_equal(a->buf[BUDGET_SND].reason, EST_NONE);
	assert_int_equal(r.refused, 1);
	assert_int_equal(r.assigned, 2 * M - 64 * K);
}

static void kernel_buffer_grow_costs_its_whole_size(void **state)
{
	struct budget_config c = cfg(1 * M);
	/* not the agent's yet: taking it to 2M would assign 2M; 1M is what there is */
	struct budget_conn cs[1] = { conn(0, 128 * K, 128 * K, 0, 0) };
	struct budget_result r;

	(void)state;
	propose(&cs[0], BUDGET_RCV, 2 * M, EST_PROBE);
	budget_apply(&c, false, cs, 1, &r);
	assert_int_equal(cs[0].buf[BUDGET_RCV].next, 1 * M);
	assert_int_equal(cs[0].buf[BUDGET_RCV].reason, BUDGET_CAPPED);
	assert_int_equal(r.assigned, 1 * M);
}

static void shrinks_free_budget_for_grows(void **state)
{
	struct budget_config c = cfg(2 * M);
	/* budget full; one shrinks 1M -> 512K, the other may then grow by 512K */
	struct budget_conn cs[2] = { conn(0, 256 * K, 256 * K, 256 * K, 0),
				     conn(1, 1 * M, 768 * K, 1 * M, 768 * K) };
	struct budget_result r;

	(void)state;
	propose(&cs[0], BUDGET_SND, 768 * K, EST_GROW);
	propose(&cs[1], BUDGET_SND, 512 * K, EST_SHRINK);
	budget_apply(&c, false, cs, 2, &r);
	assert_int_equal(find(cs, 2, 1)->buf[BUDGET_SND].next, 512 * K);
	assert_int_equal(find(cs, 2, 0)->buf[BUDGET_SND].next, 768 * K);
	assert_int_equal(find(cs, 2, 0)->buf[BUDGET_SND].reason, EST_GROW);
	assert_int_equal(r.assigned, 2 * M);
}

static void shrink_taking_a_kernel_buffer_over_needs_room(void **state)
{
	struct budget_config c = cfg(1 * M);
	/* 4M autotuned by the kernel, the estimator wants 2M: that would assign 2M */
	struct budget_conn cs[2] = { conn(0, 4 * M, 128 * K, 0, 0),
				     conn(1, 512 * K, 64 * K, 512 * K, 0) };
	struct budget_result r;

	(void)state;
	propose(&cs[0], BUDGET_SND, 2 * M, EST_SHRINK);
	propose(&cs[1], BUDGET_SND, 256 * K, EST_SHRINK);
	budget_apply(&c, false, cs, 2, &r);
	assert_int_equal(find(cs, 2, 0)->buf[BUDGET_SND].next, 0);
	assert_int_equal(find(cs, 2, 1)->buf[BUDGET_SND].next, 256 * K);
	assert_int_equal(r.refused, 1);
	assert_int_equal(r.assigned, 256 * K);

	/* with room it is taken, after the freeing shrinks made some */
	struct budget_conn cs2[2] = { conn(0, 4 * M, 128 * K, 0, 0),
				      conn(1, 1 * M, 64 * K, 1 * M, 0) };

	propose(&cs2[0], BUDGET_SND, 512 * K, EST_SHRINK);
	propose(&cs2[1], BUDGET_SND, 512 * K, EST_SHRINK);
	budget_apply(&c, false, cs2, 2, &r);
	assert_int_equal(find(cs2, 2, 0)->buf[BUDGET_SND].next, 512 * K);
	assert_int_equal(r.refused, 0);
	assert_int_equal(r.assigned, 1 * M);
}

static void smallest_buffers_grow_first(void **state)
{
	struct budget_config c = cfg(1 * M);
	/* three want to grow; 1M - 3 x 64K = 832K left */
	struct budget_conn cs[3] = { conn(0, 256 * K, 64 * K, 64 * K, 0),
				     conn(1, 64 * K, 64 * K, 64 * K, 0),
				     conn(2, 128 * K, 64 * K, 64 * K, 0) };
	struct budget_result r;

	(void)state;
	cs[0].buf[BUDGET_SND].cur = 512 * K; /* probing from 512K (kernel said so) */
	propose(&cs[0], BUDGET_SND, 1 * M, EST_PROBE);
	propose(&cs[1], BUDGET_SND, 256 * K, EST_GROW);
	propose(&cs[2], BUDGET_SND, 512 * K, EST_GROW);
	budget_apply(&c, false, cs, 3, &r);
	/* 64K -> 256K (+192K), 128K -> 512K (+448K); the probe from 512K then
	 * could have 64K + the 192K left: no more than it has, refused */
	assert_int_equal(find(cs, 3, 1)->buf[BUDGET_SND].next, 256 * K);
	assert_int_equal(find(cs, 3, 2)->buf[BUDGET_SND].next, 512 * K);
	assert_int_equal(find(cs, 3, 0)->buf[BUDGET_SND].next, 0);
	assert_int_equal(r.refused, 1);
	assert_true(r.assigned <= c.budget);
	assert_int_equal(r.assigned, assigned_after(cs, 3));
}

static void grow_before_probe_of_the_same_size(void **state)
{
	struct budget_config c = cfg(1 * M);
	struct budget_conn cs[2] = { conn(0, 256 * K, 64 * K, 0, 0),
				     conn(1, 256 * K, 64 * K, 0, 0) };
	struct budget_result r;

	(void)state;
	propose(&cs[0], BUDGET_SND, 512 * K, EST_PROBE);
	propose(&cs[1], BUDGET_SND, 768 * K, EST_GROW);
	budget_apply(&c, false, cs, 2, &r);
	assert_int_equal(find(cs, 2, 1)->buf[BUDGET_SND].next, 768 * K);
	assert_int_equal(find(cs, 2, 1)->buf[BUDGET_SND].reason, EST_GROW);
	/* 256K left: 256K -> 256K is no change */
	assert_int_equal(find(cs, 2, 0)->buf[BUDGET_SND].next, 0);
}

static void never_above_budget_many_connections(void **state)
{
	struct budget_config c = cfg(3 * M);
	struct budget_conn cs[40];
	struct budget_result r;
	uint64_t assigned = 0;

	(void)state;
	for (size_t i = 0; i < 40; i++) {
		uint32_t own = i % 3 ? (uint32_t)(64 * K + i * 1000) : 0;

		cs[i] = conn(i, 64 * K + (uint32_t)i * 1000, 128 * K, own, 0);
		assigned += own;
		propose(&cs[i], BUDGET_SND, (uint32_t)(200 * K + i * 7000),
			i % 2 ? EST_GROW : EST_PROBE);
		propose(&cs[i], BUDGET_RCV, (uint32_t)(300 * K + i * 5000), EST_GROW);
	}
	assert_true(assigned <= c.budget);
	budget_apply(&c, false, cs, 40, &r);
	assert_true(r.assigned <= c.budget);
	assert_int_equal(r.assigned, assigned_after(cs, 40));
	assert_true(r.capped + r.refused > 0);
	for (size_t i = 0; i < 40; i++)
		assert_non_null(find(cs, 40, i));
}

/* ---- pressure --------------------------------------------------------- */

static void pressure_drops_grows_and_probes_keeps_shrinks(void **state)
{
	struct budget_config c = cfg(0);
	struct budget_conn cs[2] = { conn(0, 256 * K, 128 * K, 256 * K, 0),
				     conn(1, 1 * M, 1 * M, 1 * M, 1 * M) };
	struct budget_result r;

	(void)state;
	propose(&cs[0], BUDGET_SND, 1 * M, EST_GROW);
	propose(&cs[0], BUDGET_RCV, 256 * K, EST_PROBE);
	propose(&cs[1], BUDGET_SND, 512 * K, EST_SHRINK);
	budget_apply(&c, true, cs, 2, &r);
	assert_int_equal(cs[0].buf[BUDGET_SND].next, 0);
	assert_int_equal(cs[0].buf[BUDGET_SND].reason, EST_NONE);
	assert_int_equal(cs[0].buf[BUDGET_RCV].next, 0);
	assert_int_equal(cs[1].buf[BUDGET_SND].next, 512 * K);
	assert_int_equal(cs[1].buf[BUDGET_SND].reason, EST_SHRINK);
	assert_int_equal(r.dropped, 2);
	assert_int_equal(r.pressure_shrinks, 0); /* all active */
}

static void pressure_shrinks_idle_largest_first_bounded(void **state)
{
	struct budget_config c = cfg(0);
	struct budget_conn cs[5];
	struct budget_result r;

	(void)state;
	c.pressure_shrinks = 3;
	cs[0] = conn(0, 1 * M, 2 * M, 1 * M, 2 * M);  /* idle */
	cs[1] = conn(1, 4 * M, 128 * K, 0, 0);        /* idle, the kernel's 4M */
	cs[2] = conn(2, 8 * M, 8 * M, 8 * M, 8 * M);  /* active: left alone */
	cs[3] = conn(3, 3 * M, 64 * K, 3 * M, 0);     /* idle one tick only */
	cs[4] = conn(4, 512 * K, 80 * K, 512 * K, 0); /* idle, smallest */
	cs[0].idle_ticks = cs[1].idle_ticks = cs[4].idle_ticks = 5;
	cs[3].idle_ticks = 1;
	budget_apply(&c, true, cs, 5, &r);
	assert_int_equal(r.pressure_shrinks, 3);
	/* 4M, 2M, 1M: to min_buf */
	assert_int_equal(cs[1].buf[BUDGET_SND].next, 64 * K);
	assert_int_equal(cs[1].buf[BUDGET_SND].reason, BUDGET_PRESSURE);
	assert_int_equal(cs[0].buf[BUDGET_RCV].next, 64 * K);
	assert_int_equal(cs[0].buf[BUDGET_SND].next, 64 * K);
	assert_int_equal(cs[4].buf[BUDGET_SND].next, 0); /* fourth: next tick */
	assert_int_equal(cs[2].buf[BUDGET_SND].next, 0);
	assert_int_equal(cs[3].buf[BUDGET_SND].next, 0);
	assert_int_equal(cs[1].buf[BUDGET_RCV].next, 0); /* 128K -> 64K: fine, but fifth */
	assert_string_equal(tune_reason_name(BUDGET_PRESSURE), "pressure");
	assert_int_equal(r.assigned, assigned_after(cs, 5));
}

static void pressure_shrink_keeps_queued_data_and_skips_small_gains(void **state)
{
	struct budget_config c = cfg(0);
	struct budget_conn cs[3] = { conn(0, 2 * M, 2 * M, 2 * M, 2 * M),
				     conn(1, 72 * K, 80 * K, 0, 0), conn(2, 1 * M, 1 * M, 0, 0) };
	struct budget_result r;

	(void)state;
	cs[0].buf[BUDGET_RCV].queued = 300 * K; /* unread: stays above 600K */
	cs[0].buf[BUDGET_SND].queued = 900 * K; /* 2 x 900K is within 25% of 2M: no */
	cs[2].buf[BUDGET_RCV].app_owned = true;
	cs[0].idle_ticks = cs[1].idle_ticks = cs[2].idle_ticks = 3;
	budget_apply(&c, true, cs, 3, &r);
	assert_int_equal(cs[0].buf[BUDGET_RCV].next, 600 * K);
	assert_int_equal(cs[0].buf[BUDGET_SND].next, 0);
	assert_int_equal(cs[1].buf[BUDGET_SND].next, 0); /* 72K -> 64K: not worth it */
	assert_int_equal(cs[1].buf[BUDGET_RCV].next, 0);
	assert_int_equal(cs[2].buf[BUDGET_RCV].next, 0); /* the application's */
	assert_int_equal(cs[2].buf[BUDGET_SND].next, 64 * K);
	assert_int_equal(r.pressure_shrinks, 2);
}

static void pressure_skips_untunable(void **state)
{
	struct budget_config c = cfg(0);
	struct budget_conn cs[1] = { conn(0, 4 * M, 4 * M, 0, 0) };
	struct budget_result r;

	(void)state;
	cs[0].tunable = false;
	cs[0].idle_ticks = 10;
	budget_apply(&c, true, cs, 1, &r);
	assert_int_equal(cs[0].buf[0].next + cs[0].buf[1].next, 0);
}

static void pressure_shrink_of_a_kernel_buffer_needs_budget(void **state)
{
	struct budget_config c = cfg(1 * M);
	/* 1000K assigned: a kernel buffer taken to 64K would not fit; the agent's
	 * own 1000K -> 64K frees */
	struct budget_conn cs[2] = { conn(0, 4 * M, 64 * K, 0, 0),
				     conn(1, 1000 * K, 64 * K, 1000 * K, 0) };
	struct budget_result r;

	(void)state;
	c.pressure_shrinks = 1;
	cs[0].idle_ticks = cs[1].idle_ticks = 2;
	budget_apply(&c, true, cs, 2, &r);
	assert_int_equal(cs[0].buf[BUDGET_SND].next, 0);
	assert_int_equal(r.refused, 1);
	assert_int_equal(r.pressure_shrinks, 0); /* the one try per tick was refused */
	c.pressure_shrinks = 2;
	budget_apply(&c, true, cs, 2, &r);
	assert_int_equal(cs[1].buf[BUDGET_SND].next, 64 * K);
	assert_int_equal(r.assigned, 64 * K);
}

static void pressure_state_follows_kernel_hysteresis(void **state)
{
	struct tcp_mem_state m = { .low = 100, .pressure = 200, .high = 300 };

	(void)state;
	m.used = 150;
	assert_false(tcp_mem_pressure(&m, false));
	m.used = 200;
	assert_true(tcp_mem_pressure(&m, false));
	m.used = 150;
	assert_true(tcp_mem_pressure(&m, true)); /* stays until back at low */
	m.used = 101;
	assert_true(tcp_mem_pressure(&m, true));
	m.used = 100;
	assert_false(tcp_mem_pressure(&m, true));
	m.used = 1000;
	assert_true(tcp_mem_pressure(&m, true));
	m = (struct tcp_mem_state){ .used = 5 };
	assert_false(tcp_mem_pressure(&m, true)); /* no thresholds read */
}

static void reason_names(void **state)
{
	(void)state;
	assert_string_equal(tune_reason_name(EST_GROW), "grow");
	assert_string_equal(tune_reason_name(EST_SHRINK), "shrink");
	assert_string_equal(tune_reason_name(EST_PROBE), "probe");
	assert_string_equal(tune_reason_name(EST_NONE), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unlimited_passes_everything),
		cmocka_unit_test(empty_list),
		cmocka_unit_test(grow_within_budget_passes),
		cmocka_unit_test(grow_capped_to_what_is_left),
		cmocka_unit_test(grow_refused_when_what_is_left_is_too_little),
		cmocka_unit_test(kernel_buffer_grow_costs_its_whole_size),
		cmocka_unit_test(shrinks_free_budget_for_grows),
		cmocka_unit_test(shrink_taking_a_kernel_buffer_over_needs_room),
		cmocka_unit_test(smallest_buffers_grow_first),
		cmocka_unit_test(grow_before_probe_of_the_same_size),
		cmocka_unit_test(never_above_budget_many_connections),
		cmocka_unit_test(pressure_drops_grows_and_probes_keeps_shrinks),
		cmocka_unit_test(pressure_shrinks_idle_largest_first_bounded),
		cmocka_unit_test(pressure_shrink_keeps_queued_data_and_skips_small_gains),
		cmocka_unit_test(pressure_skips_untunable),
		cmocka_unit_test(pressure_shrink_of_a_kernel_buffer_needs_budget),
		cmocka_unit_test(pressure_state_follows_kernel_hysteresis),
		cmocka_unit_test(reason_names),
	};

	return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
