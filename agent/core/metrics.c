// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Prometheus text format of one tick: the families in the order a reader
 * meets them in docs/usage.md, aggregates per cgroup and per destination (no
 * per-connection labels unless asked for), histograms, counters. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/af.h"
#include "core/budget.h"
#include "core/dest_table.h"
#include "core/estimate.h"
#include "core/format.h"
#include "core/metrics.h"

/* ---- text buffer -------------------------------------------------------- */

void prom_buf_free(struct prom_buf *b)
{
	free(b->data);
	*b = (struct prom_buf){};
}

static bool reserve(struct prom_buf *b, size_t more)
{
	size_t cap;
	char *data;

	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	data = realloc(b->data, cap);
	if (!data) {
		b->failed = true;
		return false;
	}
	b->data = data;
	b->cap = cap;
	return true;
}

__attribute__((format(printf, 2, 3))) static void append(struct prom_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void append_escaped(struct prom_buf *b, const char *text)
{
	for (const char *p = text; *p; p++) {
		if (*p == '\\')
			append(b, "\\\\");
		else if (*p == '"')
			append(b, "\\\"");
		else if (*p == '\n')
			append(b, "\\n");
		else
			append(b, "%c", *p);
	}
}

/* ---- samples ------------------------------------------------------------ */

void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help)
{
	append(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void append_labels(struct prom_buf *b, const struct prom_label *labels, size_t n,
			  const char *le)
{
	if (!n && !le)
		return;
	append(b, "{");
	for (size_t i = 0; i < n; i++) {
		append(b, "%s%s=\"", i ? "," : "", labels[i].name);
		append_escaped(b, labels[i].value);
		append(b, "\"");
	}
	if (le)
		append(b, "%sle=\"%s\"", n ? "," : "", le);
	append(b, "}");
}

static void append_value(struct prom_buf *b, double v)
{
	if (isnan(v))
		append(b, " NaN\n");
	else if (isinf(v))
		append(b, v > 0 ? " +Inf\n" : " -Inf\n");
	else if (v == floor(v) && fabs(v) < 1e15)
		append(b, " %.0f\n", v);
	else
		append(b, " %.9g\n", v);
}

void prom_sample(struct prom_buf *b, const char *name, const struct prom_label *labels,
		 size_t nlabels, double value)
{
	append(b, "%s", name);
	append_labels(b, labels, nlabels, NULL);
	append_value(b, value);
}

void prom_observe(struct prom_histogram *h, double value)
{
	size_t i = 0;

	/* the bounds ascend: the bucket is the number of bounds below the
	 * value, counted without a branch to mispredict (one observation per
	 * connection per tick) */
	for (size_t j = 0; j < h->nbounds; j++)
		i += value > h->bounds[j];
	h->counts[i]++;
	h->sum += value;
	h->count++;
}

void prom_histogram_samples(struct prom_buf *b, const char *name, const struct prom_label *labels,
			    size_t nlabels, const struct prom_histogram *h)
{
	uint64_t cumulative = 0;
	char le[32];

	for (size_t i = 0; i <= h->nbounds; i++) {
		cumulative += h->counts[i];
		if (i < h->nbounds)
			snprintf(le, sizeof(le), "%.9g", h->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		append(b, "%s_bucket", name);
		append_labels(b, labels, nlabels, le);
		append_value(b, (double)cumulative);
	}
	append(b, "%s_sum", name);
	append_labels(b, labels, nlabels, NULL);
	append_value(b, h->sum);
	append(b, "%s_count", name);
	append_labels(b, labels, nlabels, NULL);
	append_value(b, (double)h->count);
}

/* ---- aggregates --------------------------------------------------------- */

struct group {
	uint64_t id;         /* cgroup id (cgroups) */
	struct dest_key key; /* destinations; family 0 = "other" */
	uint64_t connections;
	uint64_t sndbuf, rcvbuf; /* bytes, summed */
	uint64_t rate_Bps;       /* delivery rates, summed */
};

static void add_flow(struct group *g, const struct flow *f)
{
	g->connections++;
	g->sndbuf += f->s.sndbuf;
	g->rcvbuf += f->s.rcvbuf;
	g->rate_Bps += f->s.delivery_rate_Bps;
}

static void add_group(struct group *into, const struct group *g)
{
	into->connections += g->connections;
	into->sndbuf += g->sndbuf;
	into->rcvbuf += g->rcvbuf;
	into->rate_Bps += g->rate_Bps;
}

static int by_id(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int by_key(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	return memcmp(&x->key, &y->key, sizeof(x->key));
}

static int by_connections_desc(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->connections != y->connections)
		return x->connections > y->connections ? -1 : 1;
	return by_key(a, b);
}

/* One group per distinct id (cgroups) or key (destinations), from groups
 * holding one flow each: sort, then merge neighbours. Returns the count. */
static size_t merge_groups(struct group *g, size_t n, int (*cmp)(const void *, const void *))
{
	size_t out = 0;

	qsort(g, n, sizeof(*g), cmp);
	for (size_t i = 0; i < n; i++) {
		if (out && cmp(&g[out - 1], &g[i]) == 0)
			add_group(&g[out - 1], &g[i]);
		else
			g[out++] = g[i];
	}
	return out;
}

#define NAME_LEN 64

/* The label value of a group; buf is there to write it into. */
typedef const char *(*group_label_fn)(const struct metrics_snapshot *m, const struct group *g,
				      char buf[NAME_LEN]);

static const char *cgroup_label(const struct metrics_snapshot *m, const struct group *g,
				char buf[NAME_LEN])
{
	const char *name = m->cgroup_name ? m->cgroup_name(m->cgroup_ctx, g->id) : NULL;

	if (name)
		return name;
	/* a cgroup removed since: its id is all there is */
	snprintf(buf, NAME_LEN, "id:%llu", (unsigned long long)g->id);
	return buf;
}

/* "198.18.1.0/24", "fd00:1::/64" */
static const char *destination_label(const struct metrics_snapshot *m, const struct group *g,
				     char buf[NAME_LEN])
{
	char addr[ADDR_STRLEN];

	(void)m;
	if (!g->key.family)
		return "other";
	format_addr(g->key.family, g->key.addr, addr);
	snprintf(buf, NAME_LEN, "%s/%d", addr, g->key.family == AF_INET ? 24 : 64);
	return buf;
}

/* The three families of one grouping: connections, buffer bytes, rates. */
static int group_families(struct prom_buf *b, const struct metrics_snapshot *m, const char *label,
			  const struct group *g, size_t n, group_label_fn label_of)
{
	static const char *const buffers[] = { "sndbuf", "rcvbuf" };
	char(*text)[NAME_LEN] = calloc(n ? n : 1, sizeof(*text));
	const char **names = calloc(n ? n : 1, sizeof(*names));
	char name[96], help[160];

	if (!text || !names) {
		free(text), free(names);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		names[i] = label_of(m, &g[i], text[i]);

	snprintf(name, sizeof(name), "tcptune_%s_connections", label);
	snprintf(help, sizeof(help), "Connections tracked, per %s.", label);
	prom_family(b, name, "gauge", help);
	for (size_t i = 0; i < n; i++)
		prom_sample(b, name, &(struct prom_label){ label, names[i] }, 1,
			    (double)g[i].connections);

	snprintf(name, sizeof(name), "tcptune_%s_buffer_bytes", label);
	snprintf(
		help, sizeof(help),
		"Socket buffer bytes (sk_sndbuf, sk_rcvbuf) of the tracked connections, summed per %s.",
		label);
	prom_family(b, name, "gauge", help);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 2; k++) {
			struct prom_label l[] = { { label, names[i] }, { "buffer", buffers[k] } };

			prom_sample(b, name, l, 2, (double)(k ? g[i].rcvbuf : g[i].sndbuf));
		}

	snprintf(name, sizeof(name), "tcptune_%s_delivery_rate_bytes_per_second", label);
	snprintf(help, sizeof(help),
		 "Delivery rates of the tracked connections (last sample each), summed per %s.",
		 label);
	prom_family(b, name, "gauge", help);
	for (size_t i = 0; i < n; i++)
		prom_sample(b, name, &(struct prom_label){ label, names[i] }, 1,
			    (double)g[i].rate_Bps);
	free(text), free(names);
	return 0;
}

/* Per cgroup (by_destination false) or per remote /24 or /64, the latter
 * bounded to the METRICS_MAX_DESTINATIONS busiest plus "other". */
static int grouped_families(struct prom_buf *b, const struct metrics_snapshot *m,
			    bool by_destination)
{
	struct group *g = calloc(m->nflows ? m->nflows : 1, sizeof(*g));
	size_t n;
	int err;

	if (!g)
		return -1;
	for (size_t i = 0; i < m->nflows; i++) {
		if (by_destination)
			g[i].key = dest_key_make(0, m->flows[i].s.family, m->flows[i].s.daddr);
		else
			g[i].id = m->flows[i].s.cgroup_id;
		add_flow(&g[i], &m->flows[i]);
	}
	n = merge_groups(g, m->nflows, by_destination ? by_key : by_id);
	if (by_destination) {
		qsort(g, n, sizeof(*g), by_connections_desc);
		if (n > METRICS_MAX_DESTINATIONS) {
			struct group other = {};

			for (size_t i = METRICS_MAX_DESTINATIONS; i < n; i++)
				add_group(&other, &g[i]);
			n = METRICS_MAX_DESTINATIONS + 1;
			g[n - 1] = other;
		}
	}
	err = group_families(b, m, by_destination ? "destination" : "cgroup", g, n,
			     by_destination ? destination_label : cgroup_label);
	free(g);
	return err;
}

/* ---- histograms ---------------------------------------------------------- */

static const double srtt_bounds[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				      0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5 };
/* 4 KiB to 64 MiB, x4 */
static const double buffer_bounds[] = { 4096,    16384,   65536,    262144,
					1048576, 4194304, 16777216, 67108864 };

void metrics_histograms_init(struct metrics_histograms *h)
{
	*h = (struct metrics_histograms){
		.srtt = { .bounds = srtt_bounds,
			  .nbounds = sizeof(srtt_bounds) / sizeof(srtt_bounds[0]) },
		.sndbuf = { .bounds = buffer_bounds,
			    .nbounds = sizeof(buffer_bounds) / sizeof(buffer_bounds[0]) },
	};
	h->rcvbuf = h->sndbuf;
}

void metrics_observe(struct metrics_histograms *h, const struct flow *flows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct conn_stats *s = &flows[i].s;

		if (s->srtt_us)
			prom_observe(&h->srtt, s->srtt_us / 1e6);
		prom_observe(&h->sndbuf, s->sndbuf);
		prom_observe(&h->rcvbuf, s->rcvbuf);
	}
}

static void histogram_families(struct prom_buf *b, const struct metrics_histograms *h)
{
	prom_family(
		b, "tcptune_srtt_seconds", "histogram",
		"Smoothed RTT of the tracked connections that have one: one observation per connection per tick.");
	prom_histogram_samples(b, "tcptune_srtt_seconds", NULL, 0, &h->srtt);
	prom_family(
		b, "tcptune_buffer_size_bytes", "histogram",
		"Socket buffer sizes (sk_sndbuf, sk_rcvbuf) of the tracked connections: one observation per connection per tick.");
	prom_histogram_samples(b, "tcptune_buffer_size_bytes",
			       &(struct prom_label){ "buffer", "sndbuf" }, 1, &h->sndbuf);
	prom_histogram_samples(b, "tcptune_buffer_size_bytes",
			       &(struct prom_label){ "buffer", "rcvbuf" }, 1, &h->rcvbuf);
}

/* ---- per connection (opt-in) --------------------------------------------- */

static void connection_families(struct prom_buf *b, const struct metrics_snapshot *m)
{
	static const struct {
		const char *name, *help;
	} fam[] = {
		{ "tcptune_connection_srtt_seconds", "Smoothed RTT of one connection." },
		{ "tcptune_connection_buffer_bytes", "Socket buffer size of one connection." },
		{ "tcptune_connection_delivery_rate_bytes_per_second",
		  "Last delivery rate sample of one connection." },
	};

	for (size_t k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		prom_family(b, fam[k].name, "gauge", fam[k].help);
		for (size_t i = 0; i < m->nflows; i++) {
			const struct conn_stats *s = &m->flows[i].s;
			char local[ADDR_STRLEN + 10], remote[ADDR_STRLEN + 10], a[ADDR_STRLEN];
			const char *fmt = s->family == AF_INET6 ? "[%s]:%u" : "%s:%u";

			snprintf(local, sizeof(local), fmt, format_addr(s->family, s->saddr, a),
				 s->sport);
			snprintf(remote, sizeof(remote), fmt, format_addr(s->family, s->daddr, a),
				 s->dport);
			struct prom_label l[] = { { "local", local },
						  { "remote", remote },
						  { "buffer", "sndbuf" } };

			if (k == 0) {
				prom_sample(b, fam[k].name, l, 2, s->srtt_us / 1e6);
			} else if (k == 1) {
				prom_sample(b, fam[k].name, l, 3, s->sndbuf);
				l[2].value = "rcvbuf";
				prom_sample(b, fam[k].name, l, 3, s->rcvbuf);
			} else {
				prom_sample(b, fam[k].name, l, 2, (double)s->delivery_rate_Bps);
			}
		}
	}
}

/* ---- the whole page ------------------------------------------------------ */

static const char *const event_names[CNT_MAX] = {
	[CNT_FLOWS_CREATED] = "created",
	[CNT_FLOWS_DELETED] = "deleted",
	[CNT_MAP_FULL] = "map_full",
	[CNT_APPLIED] = "applied",
	[CNT_APPLIED_AT_START] = "learned_at_start",
	[CNT_REFUSED] = "refused",
	[CNT_WINDOW_AT_START] = "window_at_start",
	[CNT_EVENTS_LOST] = "events_lost",
	[CNT_REGROWN] = "regrown",
};

/* Only where the agent turned the kernel's statistics on (--metrics-bpf-stats):
 * without them the kernel counts nothing, and zeros would read as programs
 * that never ran. */
static void program_families(struct prom_buf *b, const struct metrics_snapshot *m)
{
	prom_family(
		b, "tcptune_bpf_program_runs_total", "counter",
		"Runs of each BPF program (kernel BPF statistics, on with --metrics-bpf-stats).");
	for (size_t i = 0; i < m->nprograms; i++)
		prom_sample(b, "tcptune_bpf_program_runs_total",
			    &(struct prom_label){ "program", m->programs[i].name }, 1,
			    (double)m->programs[i].runs);
	prom_family(b, "tcptune_bpf_program_run_seconds_total", "counter",
		    "Time spent in each BPF program.");
	for (size_t i = 0; i < m->nprograms; i++)
		prom_sample(b, "tcptune_bpf_program_run_seconds_total",
			    &(struct prom_label){ "program", m->programs[i].name }, 1,
			    m->programs[i].run_ns / 1e9);
}

/* The kernel, the ways of working it allows, and each feature (1 present,
 * 0 missing or forced off). */
static void kernel_families(struct prom_buf *b, const struct features *f)
{
	struct feature_plan plan;

	features_plan(f, &plan);
	prom_family(b, "tcptune_kernel_info", "gauge",
		    "The kernel under the agent and how it collects and applies there (value 1).");
	prom_sample(b, "tcptune_kernel_info",
		    (struct prom_label[]){ { "release", f->kernel },
					   { "collection", collect_mode_name[plan.collect] },
					   { "walk", walk_mode_name[plan.walk] },
					   { "writeback", writeback_mode_name[plan.writeback] } },
		    4, 1);
	prom_family(
		b, "tcptune_kernel_feature", "gauge",
		"Kernel features the BPF programs use: 1 in force, 0 missing or forced off (fallback: 1 where the agent works around it).");
	for (int i = 0; i < FEATURE_MAX; i++) {
		struct prom_label l[] = { { "feature", feature_desc[i].name },
					  { "fallback",
					    feature_fallback_taken(f, i) ? "1" : "0" } };

		prom_sample(b, "tcptune_kernel_feature", l, 2, feature_on(f, i) ? 1 : 0);
	}
}

int metrics_render(const struct metrics_snapshot *m, struct prom_buf *b)
{
	prom_family(b, "tcptune_info", "gauge", "The agent's version and mode (value 1).");
	prom_sample(b, "tcptune_info",
		    (struct prom_label[]){ { "version", TCPTUNE_VERSION },
					   { "mode", m->observe ? "observe" : "tune" } },
		    2, 1);
	if (m->features)
		kernel_families(b, m->features);
	prom_family(b, "tcptune_connections", "gauge", "Connections tracked.");
	prom_sample(b, "tcptune_connections", NULL, 0, (double)m->nflows);
	prom_family(b, "tcptune_buffer_assigned_bytes", "gauge",
		    "Buffer bytes the agent's targets in force add up to.");
	prom_sample(b, "tcptune_buffer_assigned_bytes", NULL, 0, (double)m->assigned_bytes);

	if (grouped_families(b, m, false) || grouped_families(b, m, true))
		b->failed = true;
	if (m->hist)
		histogram_families(b, m->hist);
	if (m->per_connection)
		connection_families(b, m);

	prom_family(
		b, "tcptune_buffer_changes_total", "counter",
		m->observe
			? "Buffer changes decided (observe mode: not applied), by buffer and reason."
			: "Buffer changes decided and written for the kernel, by buffer and reason.");
	for (int buf = CHANGE_SNDBUF; buf < CHANGE_BUFFERS; buf++)
		for (int r = EST_GROW; r < TUNE_REASONS; r++) {
			struct prom_label l[] = { { "buffer", format_change_buffer((uint16_t)buf) },
						  { "reason", tune_reason_name((unsigned)r) } };

			prom_sample(b, "tcptune_buffer_changes_total", l, 2,
				    (double)m->changes[buf][r]);
		}
	prom_family(
		b, "tcptune_bpf_events_total", "counter",
		"Events counted by the BPF programs (map_full: connections not tracked because the flows map was full).");
	for (int i = 0; i < CNT_MAX; i++)
		prom_sample(b, "tcptune_bpf_events_total",
			    &(struct prom_label){ "event", event_names[i] }, 1,
			    (double)m->events[i]);
	if (m->nprograms)
		program_families(b, m);

	prom_family(b, "tcptune_ticks_total", "counter",
		    "Agent ticks (collection passes with a tuning decision).");
	prom_sample(b, "tcptune_ticks_total", NULL, 0, (double)m->ticks);
	prom_family(b, "tcptune_tick_duration_seconds", "gauge", "How long the last tick took.");
	prom_sample(b, "tcptune_tick_duration_seconds", NULL, 0, m->tick_seconds);
	prom_family(b, "tcptune_agent_cpu_seconds_total", "counter",
		    "CPU time (user + system) the agent used.");
	prom_sample(b, "tcptune_agent_cpu_seconds_total", NULL, 0, m->cpu_seconds);
	prom_family(b, "tcptune_agent_resident_memory_bytes", "gauge",
		    "The agent's resident set size.");
	prom_sample(b, "tcptune_agent_resident_memory_bytes", NULL, 0, (double)m->rss_bytes);
	return b->failed ? -1 : 0;
}
