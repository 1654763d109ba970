/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Prometheus text exposition (format 0.0.4) of one agent tick: pure, no I/O.
 * The agent gathers a metrics_snapshot each tick and renders it; the HTTP
 * server (metrics_server.h) serves the last rendering. */
#ifndef TCPTUNE_METRICS_H
#define TCPTUNE_METRICS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/kernel_features.h"
#include "core/budget.h"
#include "core/flow.h"

/* A growing text buffer. On allocation failure `failed` is set and further
 * appends are dropped: the caller serves nothing new rather than a torn text. */
struct prom_buf {
	char *data;
	size_t len, cap;
	bool failed;
};

void prom_buf_free(struct prom_buf *b);

/* Label values are escaped as the format requires (\\, \", \n). */
struct prom_label {
	const char *name, *value;
};

/* "# HELP" and "# TYPE" of a family; type is "gauge", "counter" or "histogram". */
void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help);
void prom_sample(struct prom_buf *b, const char *name, const struct prom_label *labels,
		 size_t nlabels, double value);

/* A histogram with fixed upper bounds (ascending). counts[i] counts
 * observations <= bounds[i], not cumulative; counts[nbounds] those above. */
#define PROM_MAX_BOUNDS 24
struct prom_histogram {
	const double *bounds;
	size_t nbounds;
	uint64_t counts[PROM_MAX_BOUNDS + 1];
	double sum;
	uint64_t count;
};

void prom_observe(struct prom_histogram *h, double value);
/* The _bucket (cumulative, with le="+Inf"), _sum and _count lines. */
void prom_histogram_samples(struct prom_buf *b, const char *name, const struct prom_label *labels,
			    size_t nlabels, const struct prom_histogram *h);

/* Destinations (remote /24 or /64) listed one by one at most; the rest are
 * summed as destination="other", so the series count stays bounded. */
#define METRICS_MAX_DESTINATIONS 64

/* srtt and buffer sizes, one observation per connection per tick, cumulative
 * since the agent started like any Prometheus histogram (rate() over them
 * gives the distribution over a window). */
struct metrics_histograms {
	struct prom_histogram srtt, sndbuf, rcvbuf;
};

void metrics_histograms_init(struct metrics_histograms *h);
/* This tick's connections: srtt (those that have one), sndbuf, rcvbuf. */
void metrics_observe(struct metrics_histograms *h, const struct flow *flows, size_t n);

struct metrics_program {
	const char *name;
	uint64_t runs;
	uint64_t run_ns;
};

struct metrics_snapshot {
	const struct flow *flows; /* tracked connections, this tick */
	size_t nflows;
	/* name of a cgroup id (its path below the cgroup2 mount), or NULL */
	const char *(*cgroup_name)(void *ctx, uint64_t cgroup_id);
	void *cgroup_ctx;
	const struct metrics_histograms *hist; /* NULL: no histogram families */
	bool per_connection;                   /* also one series per connection */
	bool observe;
	uint64_t assigned_bytes;                        /* buffer bytes the agent assigned */
	uint64_t events[CNT_MAX];                       /* the BPF counters map, summed over CPUs */
	uint64_t changes[CHANGE_BUFFERS][TUNE_REASONS]; /* since start */
	const struct metrics_program *programs;
	size_t nprograms;
	uint64_t ticks;
	double tick_seconds; /* how long the last tick took */
	double cpu_seconds;  /* the agent's user + system time */
	uint64_t rss_bytes;
	const struct features *features; /* NULL: no kernel series */
};

/* Renders the snapshot into b (appending). Returns 0, or -1 when memory ran out. */
int metrics_render(const struct metrics_snapshot *m, struct prom_buf *b);

#endif
