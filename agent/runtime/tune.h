/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Write-back: each tick, the estimator's decision for every tracked
 * connection goes into the "targets" map (applied by iter/tcp in the next
 * pass unless --observe) and what it learns per destination into
 * "dest_sizes" (applied by sockops to new connections). */
#ifndef TCPTUNE_TUNE_H
#define TCPTUNE_TUNE_H
#include <stdbool.h>
#include "core/budget.h"
#include "core/dest_table.h"
#include "runtime/config.h"
#include "core/estimate.h"
#include "core/flow.h"

struct conn_track {
	__u64 cookie;
	struct est_state st;
	struct conn_target target; /* as last written to the map */
	__u32 idle_ticks;          /* ticks in a row with no byte acked or received */
	bool observe;              /* its policy this tick: decide, log, apply nothing */
	int budget_group;          /* its policy's budget this tick (struct tune_policy) */
	__u64 group_budget;
};

/* The settings in force for one connection (policies of the configuration
 * file), filled in from the tuner's. */
struct tune_policy {
	struct est_config est;
	enum config_mode mode;
	int budget_group;          /* 0: only the global budget; else a policy's (1..) */
	__u64 budget;              /* that policy's budget, 0 = unlimited */
};
typedef void (*tune_policy_fn)(void *ctx, const struct flow *f, struct tune_policy *p);

#define TUNE_CHANGED_NETNS 64
#define TUNE_WRITE_BATCH 1024
/* One line per change up to this many a tick, then one line for the rest:
 * at 10,000 new connections a line each made 160,000 lines a minute. */
#define TUNE_LOG_CHANGES_PER_TICK 100

struct tuner {
	struct est_config est;
	bool observe;
	struct conn_track *conns;  /* sorted by cookie */
	size_t nconns;
	/* a tick's working arrays, kept from tick to tick (per connection: a
	 * fresh allocation each tick was page faults on megabytes) */
	struct conn_track *next_conns;
	struct est_decision *decisions;
	struct budget_conn *budget_conns;
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
	__u32 *dests_learned;      /* sockops' .bss flag: skip lookups until one is learned */
	struct budget_config limits;
	bool pressure;             /* acting as under TCP memory pressure */
	bool mem_unreadable;       /* reading tcp_mem failed (logged once) */
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
	bool urgent;               /* one of them is not a shrink: apply it now */
	__u64 changes[CHANGE_BUFFERS][TUNE_REASONS]; /* changes decided since start */
	/* change lines logged this tick, and the changes past the limit (as changes) */
	size_t logged_this_tick;
	__u64 unlogged[CHANGE_BUFFERS][TUNE_REASONS];
};

#define TUNE_DEST_SLOTS 4096

/* budget: bytes the agent may assign, 0 = unlimited. */
int tuner_init(struct tuner *t, const struct est_config *est, __u64 budget, bool observe, int targets_fd,
	       int dests_fd, int status_fd, __u32 *dests_learned);
/* One tick over every tracked connection (flows is sorted by cookie here):
 * the estimator decides for each, the safety limits (TCP memory pressure,
 * the budget) adjust the decisions together, then the targets are written.
 * Returns the number of changes written for iter/tcp to apply (0 in
 * observe mode). */
size_t tuner_tick(struct tuner *t, struct flow *flows, size_t n);
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
