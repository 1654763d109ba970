// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/core/options.c: each option's bounds, as the command
 * line, the configuration file and est_config_check() read them, and the
 * interval's own messages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/options.h"
#include <linux/types.h>
#include "tcptune.h"

/* ---- the interval: a decimal number of seconds ------------------------- */

/* A value that option_parse never produces: shows *seconds was not written. */
#define UNTOUCHED -12345.0

static void expect_interval_ok(const char *text, double want)
{
	double s = UNTOUCHED;
	const char *why = NULL;

	if (option_parse(OPTION_INTERVAL, text, &s, &why) != 0)
		fail_msg("interval \"%s\" refused: %s", text, why ? why : "(no reason)");
	assert_float_equal(s, want, 1e-12);
}

/* Refused with exactly this reason, and *seconds left alone. */
static void expect_interval_bad(const char *text, const char *reason)
{
	double s = UNTOUCHED;
	const char *why = NULL;

	if (option_parse(OPTION_INTERVAL, text, &s, &why) != -1)
		fail_msg("interval \"%s\" accepted (%g)", text ? text : "(null)", s);
	assert_non_null(why);
	assert_string_equal(why, reason);
	assert_float_equal(s, UNTOUCHED, 0.0);
}

static void interval_accepts_decimals(void **state)
{
	(void)state;
	expect_interval_ok("1", 1.0);
	expect_interval_ok("2", 2.0);
	expect_interval_ok("0.5", 0.5);
	expect_interval_ok("0.25", 0.25);
	expect_interval_ok("1.5", 1.5);
	expect_interval_ok("10", 10.0);
	expect_interval_ok("59.999", 59.999);
	expect_interval_ok("120.0", 120.0);
}

static void interval_accepts_bounds(void **state)
{
	(void)state;
	expect_interval_ok("0.01", 0.01);
	expect_interval_ok("0.010", 0.01);
	expect_interval_ok("3600", 3600.0);
	expect_interval_ok("3600.0", 3600.0);
	expect_interval_ok("3599.99", 3599.99);
}

static void interval_rejects_empty(void **state)
{
	(void)state;
	expect_interval_bad("", "is empty");
	expect_interval_bad(NULL, "is empty");
}

static void interval_rejects_non_numbers(void **state)
{
	(void)state;
	expect_interval_bad("abc", "is not a number");
	expect_interval_bad("1s", "is not a number");
	expect_interval_bad("500ms", "is not a number");
	expect_interval_bad("1.5.2", "is not a number");
	expect_interval_bad("1,5", "is not a number");
	expect_interval_bad(" ", "is not a number");
	expect_interval_bad("1 ", "is not a number");
	expect_interval_bad(".", "is not a number");
	expect_interval_bad("-", "is not a number");
	expect_interval_bad("one", "is not a number");
}

static void interval_rejects_nan_inf(void **state)
{
	(void)state;
	expect_interval_bad("nan", "is not a number");
	expect_interval_bad("NaN", "is not a number");
	expect_interval_bad("-nan", "is not a number");
	expect_interval_bad("inf", "is not a number");
	expect_interval_bad("INF", "is not a number");
	expect_interval_bad("infinity", "is not a number");
	expect_interval_bad("-inf", "is not a number");
	/* overflows a double: ERANGE */
	expect_interval_bad("1e999", "is not a number");
}

static void interval_rejects_zero_and_negatives(void **state)
{
	(void)state;
	expect_interval_bad("0", "must be greater than zero");
	expect_interval_bad("0.0", "must be greater than zero");
	expect_interval_bad("-0", "must be greater than zero");
	expect_interval_bad("-1", "must be greater than zero");
	expect_interval_bad("-0.5", "must be greater than zero");
	expect_interval_bad("-3600", "must be greater than zero");
}

static void interval_rejects_out_of_range(void **state)
{
	(void)state;
	expect_interval_bad("0.009", "must be between 0.01 and 3600 seconds");
	expect_interval_bad("0.0099999", "must be between 0.01 and 3600 seconds");
	expect_interval_bad("0.001", "must be between 0.01 and 3600 seconds");
	expect_interval_bad("3600.001", "must be between 0.01 and 3600 seconds");
	expect_interval_bad("3601", "must be between 0.01 and 3600 seconds");
	expect_interval_bad("86400", "must be between 0.01 and 3600 seconds");
}

static void interval_max_matches_table(void **state)
{
	char text[32];
	double max = option_table[OPTION_INTERVAL].max;

	(void)state;
	assert_float_equal(max, 3600.0, 0.0);
	snprintf(text, sizeof(text), "%.3f", max);
	expect_interval_ok(text, max);
}

/* ---- every option at and past its bounds --------------------------------- */

/* Each option's text at each bound (accepted) and just past it (refused
 * with the option's own error text). NULL: no such text (a bound that
 * nothing written can pass, or a minimum of 0 that a sign cannot go below). */
static const struct bounds_case {
	enum option_id id;
	const char *at_min, *below_min, *at_max, *above_max;
	double min_value, max_value;
} bounds_cases[] = {
	{ OPTION_INTERVAL, "0.01", "0.009", "3600", "3600.001", 0.01, 3600 },
	{ OPTION_MAX_FLOWS, "1", "0", "16777216", "16777217", 1, 16777216 },
	{ OPTION_MIN_BUF, "8K", "8191", "1G", "1073741825", 8192, 1 << 30 },
	{ OPTION_MAX_BUF, "8192", "4K", "1024M", "2G", 8192, 1 << 30 },
	{ OPTION_HEADROOM, "1", "0.99", "16", "16.01", 1, 16 },
	{ OPTION_ALPHA, "0.001", "0", "1", "1.001", 0.001, 1 },
	{ OPTION_HYSTERESIS, "0", NULL, "0.99", "0.991", 0, 0.99 },
	{ OPTION_BUDGET, "0", NULL, "1024G", "1099511627777", 0, 1099511627776.0 },
};

static void expect_refused(enum option_id id, const char *text)
{
	double v = -1;
	const char *why = NULL;

	if (option_parse(id, text, &v, &why) != -1)
		fail_msg("%s '%s' accepted (%g)", option_table[id].key, text, v);
	assert_string_equal(why, option_table[id].must);
	assert_float_equal(v, -1, 0);
}

static void expect_accepted(enum option_id id, const char *text, double want)
{
	double v = -1;
	const char *why = NULL;

	if (option_parse(id, text, &v, &why))
		fail_msg("%s '%s' refused: %s", option_table[id].key, text, why);
	assert_float_equal(v, want, 1e-9);
	assert_true(option_within(id, v));
}

static void every_option_at_and_past_its_bounds(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bounds_cases) / sizeof(bounds_cases[0]); i++) {
		const struct bounds_case *c = &bounds_cases[i];

		expect_accepted(c->id, c->at_min, c->min_value);
		expect_accepted(c->id, c->at_max, c->max_value);
		if (c->below_min)
			expect_refused(c->id, c->below_min);
		expect_refused(c->id, c->above_max);
	}
}

/* Every option has a row above, and a value in no unit's syntax is refused
 * with the option's text (the interval's own messages are above). */
static void every_option_is_covered(void **state)
{
	bool covered[OPTIONS] = { false };

	(void)state;
	for (size_t i = 0; i < sizeof(bounds_cases) / sizeof(bounds_cases[0]); i++)
		covered[bounds_cases[i].id] = true;
	for (int id = 0; id < OPTIONS; id++) {
		if (!covered[id])
			fail_msg("option %s has no bounds case", option_table[id].key);
		if (id != OPTION_INTERVAL)
			expect_refused((enum option_id)id, "lots");
	}
}

/* A bound as the error texts write it: sizes with the largest of K, M, G
 * that divides them, numbers as they are. */
static void bound_text(const struct option_bounds *o, double v, char *buf, size_t len)
{
	static const char suffix[] = "GMK";
	unsigned long long n = (unsigned long long)v;

	if (o->unit == UNIT_BYTES && n) {
		for (int i = 0; i < 3; i++) {
			unsigned long long unit = 1ull << (10 * (3 - i));

			if (n % unit == 0) {
				snprintf(buf, len, "%llu%c", n / unit, suffix[i]);
				return;
			}
		}
	}
	snprintf(buf, len, "%.15g", v);
}

/* Each error text names the bounds the table checks, so that a bound
 * changed alone shows here; key_must is the key and that text. */
static void error_texts_name_their_bounds(void **state)
{
	char lo[32], hi[32], joined[160];

	(void)state;
	for (int id = 0; id < OPTIONS; id++) {
		const struct option_bounds *o = &option_table[id];

		bound_text(o, o->min, lo, sizeof(lo));
		bound_text(o, o->max, hi, sizeof(hi));
		if (!strstr(o->must, lo) || !strstr(o->must, hi))
			fail_msg("%s: '%s' does not name %s and %s", o->key, o->must, lo, hi);
		assert_true(strncmp(o->must, "must be ", 8) == 0);
		snprintf(joined, sizeof(joined), "%s %s", o->key, o->must);
		assert_string_equal(o->key_must, joined);
		if (o->flag)
			assert_true(strncmp(o->flag, "--", 2) == 0);
	}
}

/* NaN is within no option's bounds; alpha's minimum is not its own. */
static void within_refuses_nan_and_open_minimum(void **state)
{
	(void)state;
	for (int id = 0; id < OPTIONS; id++)
		assert_false(option_within((enum option_id)id, __builtin_nan("")));
	assert_false(option_within(OPTION_ALPHA, 0));
	assert_true(option_within(OPTION_HYSTERESIS, 0));
}

/* The default --max-flows follows the kernel's established hash, within
 * bounds, and is always a value --max-flows itself accepts. */
static void max_flows_follows_the_established_hash(void **unused)
{
	(void)unused;
	assert_int_equal(max_flows_for_host(262144), 262144);
	assert_int_equal(max_flows_for_host(0), MAX_FLOWS_DEFAULT_MIN);
	assert_int_equal(max_flows_for_host(-1), MAX_FLOWS_DEFAULT_MIN);
	assert_int_equal(max_flows_for_host(16384), MAX_FLOWS_DEFAULT_MIN);
	assert_int_equal(max_flows_for_host(1L << 26), MAX_FLOWS_DEFAULT_MAX);
	assert_true(option_within(OPTION_MAX_FLOWS, (double)MAX_FLOWS_DEFAULT_MIN));
	assert_true(option_within(OPTION_MAX_FLOWS, (double)MAX_FLOWS_DEFAULT_MAX));
}

/* The ring holds a 32nd of the sockets' records with figures, within
 * bounds, in a power of two (a ring buffer's size must be one). */
static void moved_ring_follows_max_flows(void **unused)
{
	long record = (long)sizeof(struct moved_figures) + MOVED_RECORD_HEADER;

	(void)unused;
	assert_int_equal(moved_ring_bytes(1000), MOVED_RING_MIN);
	assert_int_equal(moved_ring_bytes(MAX_FLOWS_DEFAULT_MIN), MOVED_RING_MIN);
	assert_int_equal(moved_ring_bytes(262144), 2L << 20);
	assert_int_equal(moved_ring_bytes(MAX_FLOWS_DEFAULT_MAX), MOVED_RING_MAX);
	for (long flows = 1000; flows <= MAX_FLOWS_DEFAULT_MAX; flows *= 3) {
		long bytes = moved_ring_bytes(flows);

		assert_int_equal(bytes & (bytes - 1), 0);
		assert_true(bytes == MOVED_RING_MAX || bytes >= flows / 32 * record);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(interval_accepts_decimals),
		cmocka_unit_test(interval_accepts_bounds),
		cmocka_unit_test(interval_rejects_empty),
		cmocka_unit_test(interval_rejects_non_numbers),
		cmocka_unit_test(interval_rejects_nan_inf),
		cmocka_unit_test(interval_rejects_zero_and_negatives),
		cmocka_unit_test(interval_rejects_out_of_range),
		cmocka_unit_test(interval_max_matches_table),
		cmocka_unit_test(every_option_at_and_past_its_bounds),
		cmocka_unit_test(every_option_is_covered),
		cmocka_unit_test(error_texts_name_their_bounds),
		cmocka_unit_test(within_refuses_nan_and_open_minimum),
		cmocka_unit_test(max_flows_follows_the_established_hash),
		cmocka_unit_test(moved_ring_follows_max_flows),
	};

	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
