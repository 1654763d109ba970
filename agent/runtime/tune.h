/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Write-back: each tick, what core/tick_plan.c decides for every tracked
 * connection goes into the "targets" map (applied by iter/tcp in the next
 * pass unless --observe) and what it learns per destination into
 * "dest_sizes" (applied by sockops to new connections). This module reads
 * tcp_mem and the policies, and writes the maps, the log and the status. */
#ifndef TCPTUNE_TUNE_H
#define TCPTUNE_TUNE_H
#include <stdbool.h>
#include "core/budget.h"
#include "core/dest_table.h"
#include "core/estimate.h"
#include "core/flow.h"
#include "core/tick_plan.h"

/* A connection's settings, filled in over the tuner's (est, observe): it
 * may look the connection's cgroup up, so the tuner calls it before the
 * plan, not from it. */
typedef void (*tune_policy_fn)(void *ctx, const struct flow *f, struct tune_policy *p);

#define TUNE_CHANGED_NETNS 64
#define TUNE_WRITE_BATCH 1024
/* Connections decided at a time where no budget is shared: what the tick's
 * decisions take stays in the caches, not a pass over arrays of every
 * connection. */
#define TUNE_PLAN_BLOCK 4096

struct tuner {
	struct est_config est;
	bool observe;
	struct conn_track *conns; /* sorted by cookie */
	size_t nconns;
	/* a tick's working arrays, kept from tick to tick (per connection: a
	 * fresh allocation each tick was page faults on megabytes) */
	struct plan_work work;
	struct tune_policy *policies;
	size_t work_cap;
	/* targets to write, one system call per TUNE_WRITE_BATCH of them */
	__u64 *write_keys;
	struct conn_target *write_targets;
	size_t nwrites;
	struct dest_table dests;
	struct dest_entry *dest_slots;
	int targets_fd;
	int dests_fd;
	int status_fd;
	__u32 *dests_learned; /* sockops' .bss flag: skip lookups until one is learned */
	struct budget_config limits;
	bool pressure;       /* acting as under TCP memory pressure */
	bool mem_unreadable; /* reading tcp_mem failed (logged once) */
	/* this tick's reading of tcp_mem, shared by tuner_pressure_ahead() and the tick */
	struct tcp_mem_state mem;
	int mem_err;
	char mem_why[256];
	bool mem_read_for_tick;
	bool budget_full;          /* less than min_buf of the budget left (logged on change) */
	__u32 dests_learned_saved; /* the flag, while pressure holds it at 0 */
	__u64 assigned;            /* bytes assigned after the last tick */
	tune_policy_fn policy;     /* NULL: est and observe for every connection */
	void *policy_ctx;
	/* the network namespaces of the changes not applied yet, for the
	 * targets pass; nchanged_netns -1: more than fit, every namespace */
	__u64 changed_netns[TUNE_CHANGED_NETNS];
	int nchanged_netns;
	bool urgent;                                 /* one of them is not a shrink: apply it now */
	__u64 changes[CHANGE_BUFFERS][TUNE_REASONS]; /* changes decided since start */
};

#define TUNE_DEST_SLOTS 4096

/* budget: bytes the agent may assign, 0 = unlimited. */
int tuner_init(struct tuner *t, const struct est_config *est, __u64 budget, bool observe,
	       int targets_fd, int dests_fd, int status_fd, __u32 *dests_learned);
/* One tick over every tracked connection (flows sorted by cookie, and
 * their cookies in that order): tcp_mem and the policies read, the plan
 * made (tick_plan), then the targets and learned sizes written and the
 * changes logged. Returns the number of changes written for iter/tcp to
 * apply (0 in observe mode). */
size_t tuner_tick(struct tuner *t, const struct flow *flows, const __u64 *cookies, size_t n);
/* New settings (a configuration reload): also forgets what was learned per
 * destination, which the old settings or policies shaped. */
void tuner_reconfigure(struct tuner *t, const struct est_config *est, __u64 budget, bool observe);
/* Under TCP memory pressure, or about to be: the tick shrinks idle
 * buffers largest first, and needs every connection's current size. */
bool tuner_pressure_ahead(struct tuner *t);
/* The targets pass ran: nothing is waiting to be applied. */
void tuner_targets_applied(struct tuner *t);
void tuner_free(struct tuner *t);

#endif
