// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/core/metrics.c: the Prometheus text of one tick. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "core/metrics.h"

/* The line that starts with `prefix` followed by a blank: its value. */
static double value_of(const char *text, const char *series)
{
	size_t len = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, series, len) && p[len] == ' ')
			return strtod(p + len + 1, NULL);
	fail_msg("no series %s in:\n%s", series, text);
	return -1;
}

static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, line, len) && (p[len] == '\n' || p[len] == 0))
			return true;
	return false;
}

static struct flow v4_flow(uint64_t cgroup, uint8_t a, uint8_t b, uint8_t c, uint8_t d,
			   uint32_t srtt_us, uint32_t sndbuf, uint32_t rcvbuf)
{
	struct flow f = {};

	f.s.family = AF_INET;
	f.s.cgroup_id = cgroup;
	f.s.saddr[0] = 10, f.s.saddr[3] = 1;
	f.s.daddr[0] = a, f.s.daddr[1] = b, f.s.daddr[2] = c, f.s.daddr[3] = d;
	f.s.sport = 40000, f.s.dport = 443;
	f.s.srtt_us = srtt_us;
	f.s.sndbuf = sndbuf, f.s.rcvbuf = rcvbuf;
	f.s.delivery_rate_Bps = 1000;
	return f;
}

static const char *names(void *ctx, uint64_t id)
{
	(void)ctx;
	return id == 1 ? "/" : id == 2 ? "/app \"x\"" : NULL;
}

static char *render(const struct metrics_snapshot *m)
{
	struct prom_buf b = {};

	assert_int_equal(metrics_render(m, &b), 0);
	assert_non_null(b.data);
	assert_int_equal(strlen(b.data), b.len);
	return b.data;
}

static void aggregates_per_cgroup_and_destination(void **unused)
{
	(void)unused;
	struct flow f[] = {
		v4_flow(1, 198, 18, 1, 5, 10000, 16384, 131072),
		v4_flow(1, 198, 18, 1, 6, 20000, 32768, 131072), /* same /24 */
		v4_flow(2, 198, 18, 2, 1, 100000, 4194304, 65536),
		v4_flow(3, 198, 18, 2, 9, 0, 8192, 8192), /* cgroup gone, no srtt */
	};
	struct metrics_snapshot m = {
		.flows = f, .nflows = 4, .cgroup_name = names, .assigned_bytes = 12345
	};
	char *t = render(&m);

	assert_true(has_line(t, "# TYPE tcptune_connections gauge"));
	assert_int_equal(value_of(t, "tcptune_connections"), 4);
	assert_int_equal(value_of(t, "tcptune_buffer_assigned_bytes"), 12345);
	assert_int_equal(value_of(t, "tcptune_cgroup_connections{cgroup=\"/\"}"), 2);
	/* label values escaped */
	assert_int_equal(value_of(t, "tcptune_cgroup_connections{cgroup=\"/app \\\"x\\\"\"}"), 1);
	assert_int_equal(value_of(t, "tcptune_cgroup_connections{cgroup=\"id:3\"}"), 1);
	assert_int_equal(value_of(t, "tcptune_cgroup_buffer_bytes{cgroup=\"/\",buffer=\"sndbuf\"}"),
			 16384 + 32768);
	assert_int_equal(
		value_of(t, "tcptune_destination_connections{destination=\"198.18.1.0/24\"}"), 2);
	assert_int_equal(
		value_of(t, "tcptune_destination_connections{destination=\"198.18.2.0/24\"}"), 2);
	assert_int_equal(
		value_of(
			t,
			"tcptune_destination_buffer_bytes{destination=\"198.18.2.0/24\",buffer=\"rcvbuf\"}"),
		65536 + 8192);
	assert_int_equal(
		value_of(
			t,
			"tcptune_destination_delivery_rate_bytes_per_second{destination=\"198.18.1.0/24\"}"),
		2000);
	/* no per-connection series unless asked for */
	assert_null(strstr(t, "tcptune_connection_"));
	free(t);

	m.per_connection = true;
	t = render(&m);
	assert_float_equal(
		value_of(
			t,
			"tcptune_connection_srtt_seconds{local=\"10.0.0.1:40000\",remote=\"198.18.1.5:443\"}"),
		0.01, 1e-12);
	assert_int_equal(
		value_of(
			t,
			"tcptune_connection_buffer_bytes{local=\"10.0.0.1:40000\",remote=\"198.18.2.1:443\",buffer=\"sndbuf\"}"),
		4194304);
	free(t);
}

static void histograms_are_cumulative(void **unused)
{
	(void)unused;
	struct flow f[] = {
		v4_flow(1, 198, 18, 1, 5, 10000, 16384, 131072),
		v4_flow(1, 198, 18, 1, 6, 20000, 32768, 131072),
		v4_flow(2, 198, 18, 2, 1, 100000, 4194304, 65536),
		v4_flow(3, 198, 18, 2, 9, 0, 8192, 100u << 20), /* above the last bound */
	};
	struct metrics_histograms h;
	struct metrics_snapshot m = { .flows = f, .nflows = 4, .hist = &h };
	char *t;

	metrics_histograms_init(&h);
	metrics_observe(&h, f, 4);
	t = render(&m);
	assert_true(has_line(t, "# TYPE tcptune_srtt_seconds histogram"));
	/* only connections with an RTT: 10 and 20 ms, 100 ms */
	assert_int_equal(value_of(t, "tcptune_srtt_seconds_bucket{le=\"0.005\"}"), 0);
	assert_int_equal(value_of(t, "tcptune_srtt_seconds_bucket{le=\"0.01\"}"), 1);
	assert_int_equal(value_of(t, "tcptune_srtt_seconds_bucket{le=\"0.025\"}"), 2);
	assert_int_equal(value_of(t, "tcptune_srtt_seconds_bucket{le=\"0.1\"}"), 3);
	assert_int_equal(value_of(t, "tcptune_srtt_seconds_bucket{le=\"+Inf\"}"), 3);
	assert_int_equal(value_of(t, "tcptune_srtt_seconds_count"), 3);
	assert_float_equal(value_of(t, "tcptune_srtt_seconds_sum"), 0.13, 1e-9);
	assert_int_equal(
		value_of(t, "tcptune_buffer_size_bytes_bucket{buffer=\"sndbuf\",le=\"16384\"}"), 2);
	assert_int_equal(
		value_of(t, "tcptune_buffer_size_bytes_bucket{buffer=\"rcvbuf\",le=\"67108864\"}"),
		3);
	assert_int_equal(
		value_of(t, "tcptune_buffer_size_bytes_bucket{buffer=\"rcvbuf\",le=\"+Inf\"}"), 4);
	assert_int_equal(value_of(t, "tcptune_buffer_size_bytes_count{buffer=\"rcvbuf\"}"), 4);
	free(t);

	/* the next tick adds to the counts, as counters do: rate() works */
	metrics_observe(&h, f, 2);
	t = render(&m);
	assert_int_equal(value_of(t, "tcptune_srtt_seconds_bucket{le=\"0.01\"}"), 2);
	assert_int_equal(value_of(t, "tcptune_srtt_seconds_count"), 5);
	assert_float_equal(value_of(t, "tcptune_srtt_seconds_sum"), 0.16, 1e-9);
	assert_int_equal(value_of(t, "tcptune_buffer_size_bytes_count{buffer=\"sndbuf\"}"), 6);
	free(t);

	/* no histograms given: no histogram families */
	m.hist = NULL;
	t = render(&m);
	assert_null(strstr(t, "tcptune_srtt_seconds"));
	free(t);
}

static void destinations_are_bounded(void **unused)
{
	(void)unused;
	size_t n = METRICS_MAX_DESTINATIONS + 10;
	struct flow *f = calloc(n + 1, sizeof(*f));
	struct metrics_snapshot m = { .flows = f, .nflows = n + 1 };
	char *t;
	size_t series = 0;

	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		f[i] = v4_flow(1, 10, (uint8_t)(i / 256), (uint8_t)i, 1, 1000, 8192, 8192);
	f[n] = v4_flow(1, 10, 0, 0, 2, 1000, 8192,
		       8192); /* a second one to 10.0.0.0/24: the busiest */
	t = render(&m);
	for (const char *p = t; (p = strstr(p, "tcptune_destination_connections{")); p++)
		series++;
	assert_int_equal(series, METRICS_MAX_DESTINATIONS + 1);
	assert_int_equal(
		value_of(t, "tcptune_destination_connections{destination=\"10.0.0.0/24\"}"), 2);
	/* 74 destinations, the 64 listed include the busiest; 10 in "other" */
	assert_int_equal(value_of(t, "tcptune_destination_connections{destination=\"other\"}"), 10);
	free(t);
	free(f);
}

static void counters_and_agent(void **unused)
{
	(void)unused;
	struct metrics_program progs[] = { { "tcptune_sockops", 42, 2500000000ull } };
	struct metrics_snapshot m = { .programs = progs,
				      .nprograms = 1,
				      .ticks = 7,
				      .tick_seconds = 0.0015,
				      .cpu_seconds = 1.25,
				      .rss_bytes = 8u << 20 };
	char *t;

	m.events[CNT_MAP_FULL] = 3;
	m.changes[CHANGE_SNDBUF][EST_GROW] = 5;
	m.changes[CHANGE_NOTSENT_LOWAT][EST_SHRINK] = 2;
	t = render(&m);
	assert_int_equal(value_of(t, "tcptune_connections"), 0);
	assert_true(has_line(t, "# TYPE tcptune_buffer_changes_total counter"));
	assert_int_equal(
		value_of(t, "tcptune_buffer_changes_total{buffer=\"sndbuf\",reason=\"grow\"}"), 5);
	assert_int_equal(
		value_of(t,
			 "tcptune_buffer_changes_total{buffer=\"notsent_lowat\",reason=\"shrink\"}"),
		2);
	assert_int_equal(
		value_of(t, "tcptune_buffer_changes_total{buffer=\"rcvbuf\",reason=\"budget\"}"),
		0);
	assert_int_equal(value_of(t, "tcptune_bpf_events_total{event=\"map_full\"}"), 3);
	assert_int_equal(value_of(t, "tcptune_bpf_events_total{event=\"created\"}"), 0);
	assert_int_equal(value_of(t, "tcptune_bpf_program_runs_total{program=\"tcptune_sockops\"}"),
			 42);
	assert_float_equal(
		value_of(t, "tcptune_bpf_program_run_seconds_total{program=\"tcptune_sockops\"}"),
		2.5, 1e-9);
	assert_int_equal(value_of(t, "tcptune_ticks_total"), 7);
	assert_float_equal(value_of(t, "tcptune_tick_duration_seconds"), 0.0015, 1e-12);
	assert_float_equal(value_of(t, "tcptune_agent_cpu_seconds_total"), 1.25, 1e-12);
	assert_int_equal(value_of(t, "tcptune_agent_resident_memory_bytes"), 8u << 20);
	assert_int_equal(value_of(t, "tcptune_info{version=\"" TCPTUNE_VERSION "\",mode=\"tune\"}"),
			 1);
	/* every family announced once, before its samples */
	assert_non_null(strstr(t, "# HELP tcptune_bpf_events_total "));
	assert_null(strstr(strstr(t, "# TYPE tcptune_bpf_events_total") + 1,
			   "# TYPE tcptune_bpf_events_total"));
	free(t);
}

/* Without the kernel's statistics (no --metrics-bpf-stats) the program
 * families are left out, not shown as counts that stand still. */
static void program_families_only_with_statistics(void **unused)
{
	(void)unused;
	struct metrics_snapshot m = { .ticks = 1 };
	char *t = render(&m);

	assert_null(strstr(t, "tcptune_bpf_program_runs_total"));
	assert_null(strstr(t, "tcptune_bpf_program_run_seconds_total"));
	assert_int_equal(value_of(t, "tcptune_ticks_total"), 1);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(aggregates_per_cgroup_and_destination),
		cmocka_unit_test(histograms_are_cumulative),
		cmocka_unit_test(destinations_are_bounded),
		cmocka_unit_test(counters_and_agent),
		cmocka_unit_test(program_families_only_with_statistics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
