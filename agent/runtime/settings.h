/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The settings in force: defaults, then the configuration file's [global],
 * then the command line; the file's policies per cgroup and remote CIDR on
 * top, per connection. Loaded at start and again on SIGHUP. */
#ifndef TCPTUNE_SETTINGS_H
#define TCPTUNE_SETTINGS_H
#include <stdbool.h>
#include <stddef.h>
#include "runtime/config.h"
#include "core/flow.h"
#include "runtime/system.h"
#include "runtime/tune.h"

#define METRICS_DEFAULT "127.0.0.1:9977"

/* What the command line gave: its values win over the file's [global]. */
struct cli_settings {
	unsigned int set; /* CFG_* of the options given */
	bool observe;
	struct est_config est; /* min_buf, max_buf, headroom, alpha where set */
	double interval_s;
	__u64 budget;
	const char *metrics; /* "off" or ADDR:PORT */
	bool per_connection;
	/* the kernel's run-time statistics of every BPF program on the host,
	 * on while the agent runs: two clock reads per program run */
	bool bpf_stats;
	const char *config_path; /* NULL: CONFIG_DEFAULT_PATH if it exists */
};

struct settings {
	struct config file;    /* the file as parsed (no policies without one) */
	char path[256];        /* the file read, "" when none */
	struct est_config est; /* defaults < [global] < command line */
	enum config_mode mode; /* MODE_TUNE or MODE_OBSERVE */
	double interval_s;
	__u64 budget;
	char metrics[64];             /* ADDR:PORT, or "off" */
	struct cgroup_names *cgroups; /* names policies by cgroup path; set by the caller */
};

/* Reads the file (an explicit --config must exist; the default path may
 * not), lays the command line over it and checks the result. Returns 0, or
 * -1 with one line in why ("PATH:LINE: KEY: ..." for the file's errors). */
int settings_load(const struct cli_settings *cli, struct settings *out, char *why, size_t len);

/* Whether next may replace cur in a running agent: what was fixed at start
 * (loaded BPF bounds, observe-only programs, the metrics address) must
 * allow it. Returns 0, or -1 with the reason in why. */
int settings_reloadable(const struct settings *cur, const struct settings *next, bool can_tune,
			__u32 loaded_min, __u32 loaded_max, char *why, size_t len);

/* One line on a policy as laid over s: "[cidr 10.0.0.0/8] (line 4): tune,
 * buffers 8192..67108864 bytes, headroom 3, alpha 0.25, hysteresis 0.25[,
 * budget N]" (for the log, check-config and status). */
void settings_describe_policy(const struct settings *s, const struct config_policy *p, char *buf,
			      size_t len);

/* A connection's estimator configuration, mode and budget (tune_policy_fn). */
struct tune_policy;
void settings_policy(void *ctx, const struct flow *f, struct tune_policy *p);
/* The tuner's policy function for these settings: settings_policy where the
 * configuration file has policies, else NULL (every connection gets the
 * settings themselves, and the tuner asks nothing per connection). */
tune_policy_fn settings_policy_for(const struct settings *s);

#endif
