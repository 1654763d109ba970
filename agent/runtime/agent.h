/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The running agent (`tcptune run`): everything it holds, brought up step by
 * step (agent_start), its passes (agent_tick, agent_wait) and its teardown
 * (agent_stop). Each resource records whether it is held (a NULL pointer, an
 * fd of -1, a count of what is open, the status files' own flag), so that
 * the teardown undoes exactly what the start got to, whichever step it
 * stopped at. */
#ifndef TCPTUNE_AGENT_H
#define TCPTUNE_AGENT_H
#include <stdbool.h>
#include "core/kernel_features.h"
#include "runtime/collect.h"
#include "runtime/loader.h"
#include "runtime/settings.h"
#include "runtime/status_file.h"
#include "runtime/system.h"
#include "runtime/tune.h"

/* What the command line gives the agent. */
struct agent_options {
	const char *cgroups[TCPTUNE_MAX_SCOPES]; /* none: the whole host */
	int nr_cgroups;
	long max_flows;
	struct cli_settings cli; /* the settings also in the configuration file */
};

/* What `tcptune status` shows of the agent: written at start and each reload. */
struct agent_status_file {
	struct status_attachment att[TCPTUNE_MAX_SCOPES + 6];
	struct status_info info;
	bool written; /* the files are this agent's to remove */
};

struct agent_metrics;

struct agent {
	struct agent_options opts;
	struct settings *cur, *next; /* in force; a reload's candidate */
	struct cgroup_names cgroups; /* cgroup paths by id, for policies and metrics */
	int sigfd;                   /* SIGINT, SIGTERM, SIGUSR1 and SIGHUP, blocked */
	struct cgroup_scope scopes[TCPTUNE_MAX_SCOPES];
	int nr_scopes;   /* how many of scopes are open */
	bool whole_host; /* scopes[0] is the cgroup2 root */
	int lock_fd;     /* the instance lock; while it is held, the sysctl record is ours */
	struct agent_metrics *metrics; /* NULL: no metrics endpoint */
	struct features features;      /* what the kernel has */
	struct feature_plan plan;      /* and what the agent does on it */
	/* fixed for the agent's life: a reload stays within them */
	bool can_tune;
	bool max_flows_for_host; /* opts.max_flows is the default for this host */
	__u32 loaded_min, loaded_max;
	struct loader loader;
	struct collector col;
	struct tuner tuner;
	struct agent_status_file status;
	__u64 pass;            /* the last pass run (ticks and targets passes) */
	unsigned int deferred; /* ticks whose changes wait for a targets pass */
	double tick_start;     /* monotonic seconds at the start of the last tick */
	int stop_signal;       /* SIGINT or SIGTERM once asked to stop, else 0 */
};

/* Brings the agent up: settings, signals, the cgroups, the instance lock,
 * the metrics endpoint, the kernel probe, the BPF side, the sysctls, the
 * tuner, then drops capabilities and publishes its status. Begins by
 * resetting *a to hold nothing. On failure the reason is logged and the
 * exit status returned (EXIT_USAGE for bad input, EXIT_RUNTIME otherwise);
 * what was brought up stays for agent_stop. Returns 0 when running. */
int agent_start(struct agent *a, const struct agent_options *opts);
/* One tick: a collection pass, the tuner, and a targets pass when changes
 * are due. Returns 0, or EXIT_RUNTIME with the reason logged. */
int agent_tick(struct agent *a);
/* Until the next tick is due: serves metrics pages, answers SIGUSR1 and
 * SIGHUP, and sets stop_signal on SIGINT or SIGTERM. */
void agent_wait(struct agent *a);
/* Undoes what agent_start brought up, in the order it must go: safe on an
 * agent that agent_start stopped at any step, and again after itself. Not
 * on a struct agent_start never saw: 0 is a valid fd, so only agent_start's
 * reset makes the fds say "none" (-1). */
void agent_stop(struct agent *a);

#endif
