// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/core/kernel_features.c: the plan taken from what a kernel
 * has, the features a test may turn off, the refusal and the status text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "core/kernel_features.h"

static struct features all_present(void)
{
	struct features f = { .kernel = "6.12.0" };

	for (int i = 0; i < FEATURE_MAX; i++)
		f.state[i] = FEATURE_PRESENT;
	return f;
}

static void plan_everything(void **state)
{
	struct features f = all_present();
	struct feature_plan p;

	(void)state;
	features_plan(&f, &p);
	assert_int_equal(p.refused, -1);
	assert_true(p.marks && p.app_events && p.owners);
	assert_int_equal(p.collect, COLLECT_EVENTS);
	assert_int_equal(p.walk, WALK_STORAGE_ITER);
	assert_int_equal(p.writeback, WRITEBACK_PASSES);
	assert_true(p.callbacks_on_demand);
	for (int i = 0; i < FEATURE_MAX; i++)
		assert_false(feature_fallback_taken(&f, i));
}

/* Linux 6.1 to 6.11: iter/tcp sets options but cannot turn callbacks on,
 * so every connection gets them from establishment */
static void plan_no_iter_cb_flags(void **state)
{
	struct features f = all_present();
	struct feature_plan p;

	(void)state;
	f.state[FEATURE_ITER_CB_FLAGS] = FEATURE_MISSING;
	features_plan(&f, &p);
	assert_int_equal(p.writeback, WRITEBACK_PASSES);
	assert_false(p.callbacks_on_demand);
	assert_true(feature_fallback_taken(&f, FEATURE_ITER_CB_FLAGS));
	assert_string_equal(rtt_callbacks_name(&p), "every connection");
	/* where callbacks are the write-back, they are on everywhere anyway */
	f.state[FEATURE_ITER_SETSOCKOPT] = FEATURE_MISSING;
	features_plan(&f, &p);
	assert_false(p.callbacks_on_demand);
	assert_false(feature_fallback_taken(&f, FEATURE_ITER_CB_FLAGS));
}

/* Linux 6.18 with map-element iterators refused */
static void plan_no_storage_iter(void **state)
{
	struct features f = all_present();
	struct feature_plan p;

	(void)state;
	f.state[FEATURE_STORAGE_ITER] = FEATURE_MISSING;
	features_plan(&f, &p);
	assert_int_equal(p.collect, COLLECT_EVENTS);
	assert_int_equal(p.walk, WALK_TCP_ITER);
	assert_true(feature_fallback_taken(&f, FEATURE_STORAGE_ITER));
}

/* Linux 6.1: no write and read tracepoints */
static void plan_no_app_events(void **state)
{
	struct features f = all_present();
	struct feature_plan p;

	(void)state;
	f.state[FEATURE_APP_EVENTS] = FEATURE_MISSING;
	features_plan(&f, &p);
	assert_false(p.app_events);
	assert_int_equal(p.collect, COLLECT_WALK_EACH_TICK);
	assert_int_equal(p.walk, WALK_STORAGE_ITER);
}

/* Linux 5.10: no socket storage outside sockops, no bpf_setsockopt from
 * iter/tcp, no write and read tracepoints */
static void plan_5_10(void **state)
{
	struct features f = all_present();
	struct feature_plan p;

	(void)state;
	f.state[FEATURE_APP_EVENTS] = FEATURE_MISSING;
	f.state[FEATURE_SOCKET_STORAGE] = FEATURE_MISSING;
	f.state[FEATURE_ITER_SETSOCKOPT] = FEATURE_MISSING;
	features_plan(&f, &p);
	assert_int_equal(p.refused, -1);
	assert_false(p.marks || p.app_events);
	assert_int_equal(p.collect, COLLECT_FULL_EACH_TICK);
	assert_int_equal(p.walk, WALK_FULL);
	assert_int_equal(p.writeback, WRITEBACK_CALLBACKS);
	/* without marks the write/read events are no fallback of their own */
	assert_false(feature_fallback_taken(&f, FEATURE_APP_EVENTS));
	assert_true(feature_fallback_taken(&f, FEATURE_SOCKET_STORAGE));
	assert_true(feature_fallback_taken(&f, FEATURE_ITER_SETSOCKOPT));
	/* the callbacks are there: they are what write-back uses */
	f.state[FEATURE_SOCKOPS_CALLBACKS] = FEATURE_MISSING;
	features_plan(&f, &p);
	assert_int_equal(p.writeback, WRITEBACK_NONE);
	assert_true(feature_fallback_taken(&f, FEATURE_SOCKOPS_CALLBACKS));
}

static void plan_refuses_required(void **state)
{
	struct features f = all_present();
	struct feature_plan p;
	char why[256];

	(void)state;
	f.state[FEATURE_TCP_ITER] = FEATURE_MISSING;
	features_plan(&f, &p);
	assert_int_equal(p.refused, FEATURE_TCP_ITER);
	features_refusal(&f, FEATURE_TCP_ITER, why, sizeof(why));
	assert_non_null(strstr(why, "6.12.0"));
	assert_non_null(strstr(why, "iter/tcp"));
	assert_non_null(strstr(why, "5.9"));
	assert_null(strchr(why, '\n'));
	/* the first one missing is named */
	f.state[FEATURE_BTF] = FEATURE_MISSING;
	features_plan(&f, &p);
	assert_int_equal(p.refused, FEATURE_BTF);
}

static void force_off_names(void **state)
{
	struct features f = all_present();
	char bad[64] = "";

	(void)state;
	assert_int_equal(features_force_off(&f, "storage_iter,app_events", bad, sizeof(bad)), 0);
	assert_int_equal(f.state[FEATURE_STORAGE_ITER], FEATURE_FORCED_OFF);
	assert_int_equal(f.state[FEATURE_APP_EVENTS], FEATURE_FORCED_OFF);
	assert_int_equal(f.state[FEATURE_SOCKET_STORAGE], FEATURE_PRESENT);
	assert_int_equal(features_force_off(&f, NULL, bad, sizeof(bad)), 0);
	assert_int_equal(features_force_off(&f, "", bad, sizeof(bad)), 0);
	assert_int_equal(features_force_off(&f, ",iter_setsockopt,", bad, sizeof(bad)), 0);
	assert_int_equal(f.state[FEATURE_ITER_SETSOCKOPT], FEATURE_FORCED_OFF);
	assert_int_equal(features_force_off(&f, "app_events,nonsense", bad, sizeof(bad)), -1);
	assert_string_equal(bad, "nonsense");
	/* required features cannot be turned off */
	assert_int_equal(features_force_off(&f, "tcp_iter", bad, sizeof(bad)), -1);
	assert_string_equal(bad, "tcp_iter");
}

static char *render(const struct features *f, bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	features_render(out, f, json);
	fclose(out);
	return text;
}

static void render_text_and_json(void **state)
{
	struct features f = all_present();
	char *text, *json;

	(void)state;
	f.state[FEATURE_STORAGE_ITER] = FEATURE_MISSING;
	f.error[FEATURE_STORAGE_ITER] = -EPERM;
	f.state[FEATURE_APP_EVENTS] = FEATURE_FORCED_OFF;
	text = render(&f, false);
	assert_non_null(strstr(
		text, "kernel: 6.12.0; collection: walk each tick, walk: iter/tcp per namespace"));
	assert_non_null(strstr(text, "feature: storage_iter      missing"));
	assert_non_null(strstr(text, "feature: app_events        forced off"));
	assert_non_null(strstr(
		text,
		"fallback: storage_iter missing (Operation not permitted): walk pass: iter/tcp"));
	assert_non_null(strstr(
		text,
		"fallback: app_events forced off (TCPTUNE_FEATURES_OFF): collection: a walk pass every tick"));
	assert_null(strstr(text, "fallback: iter_setsockopt"));
	assert_non_null(strstr(text, "RTT callbacks: where tcptune set the send buffer"));
	json = render(&f, true);
	assert_non_null(strstr(json, "\"release\": \"6.12.0\""));
	assert_non_null(strstr(json, "\"storage_iter\": \"missing\""));
	assert_non_null(strstr(json, "\"iter_setsockopt\": \"yes\""));
	assert_non_null(strstr(json, "\"collection\": \"walk each tick\""));
	assert_non_null(strstr(json, "\"rtt_callbacks\": \"where tcptune set the send buffer\""));
	assert_non_null(strstr(
		json,
		"{\"feature\": \"storage_iter\", \"state\": \"missing\", \"why\": \"Operation not permitted\", \"instead\": \"walk pass:"));
	free(text);
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plan_everything),    cmocka_unit_test(plan_no_storage_iter),
		cmocka_unit_test(plan_no_app_events), cmocka_unit_test(plan_no_iter_cb_flags),
		cmocka_unit_test(plan_5_10),          cmocka_unit_test(plan_refuses_required),
		cmocka_unit_test(force_off_names),    cmocka_unit_test(render_text_and_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
