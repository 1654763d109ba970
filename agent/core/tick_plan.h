/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* One tick of the tuner, decided. From every tracked connection's figures,
 * its state of the last tick, its settings, the byte budgets and TCP memory
 * pressure, tick_plan() works out what to write: each connection's target,
 * the changes to log and count, the sizes learned per destination, the
 * targets of the connections that are gone. Pure: no libbpf, no system
 * calls, no clock (now is an input), no allocation (the caller's arrays).
 * runtime/tune.c reads the maps, calls it and writes what it says.
 *
 * Three phases: the estimator decides for every connection; the safety
 * limits adjust all decisions together (budget_apply, then each policy's
 * own budget); each connection's target is settled. est_update() assumes
 * every change it returns is made, and records its tick for the rate limit:
 * a grow the budget refuses or pressure drops is simply not made, the buffer
 * stays, and the estimator asks again after min_change_interval ticks
 * (probes: the next tick), seeing the real size. A pressure shrink is not
 * the estimator's: it sees the smaller buffer in the next sample and,
 * pressure over, grows it back to its target in one step. */
#ifndef TCPTUNE_TICK_PLAN_H
#define TCPTUNE_TICK_PLAN_H
#include <stdbool.h>
#include <stddef.h>
#include "core/budget.h"
#include "core/dest_table.h"
#include "core/estimate.h"
#include "core/flow.h"
#include "core/options.h"

/* A tracked connection from one tick to the next. */
struct conn_track {
	__u64 cookie;
	struct est_state st;
	struct conn_target target; /* as last written to the map */
	__u64 group_budget;
	__u32 idle_ticks; /* ticks in a row with no byte acked or received */
	int budget_group; /* its policy's budget this tick (struct tune_policy) */
	bool observe;     /* its policy this tick: decide, log, apply nothing */
};

/* The settings in force for one connection (the configuration file's
 * policies laid over the agent's settings). */
struct tune_policy {
	struct est_config est;
	enum config_mode mode;
	int budget_group; /* 0: only the global budget; else a policy's (1..) */
	__u64 budget;     /* that policy's budget, 0 = unlimited */
};

/* Change lines logged one by one per tick; the rest are counted. At 10,000
 * new connections a line each made 160,000 lines a minute. */
#define PLAN_LOGGED_CHANGES 100

/* One change decided, as the log shows it. */
struct plan_change {
	size_t conn; /* its index in flows */
	enum change_buffer buffer;
	__u32 old, new;
	unsigned int reason; /* enum est_reason or enum budget_reason */
	bool observe;        /* decided under mode observe: not to be applied */
};

/* A policy's own budget as this tick applied it. */
struct plan_group {
	__u64 budget;
	struct budget_result result;
};

/* What one connection needs written (plan_output.actions). */
enum plan_action {
	PLAN_WRITE = 1 << 0, /* its target changed: write it to the targets map */
	PLAN_APPLY = 1 << 1, /* a change to apply: its namespace needs a targets pass */
};

struct plan_input {
	const struct flow *flows; /* this tick's connections, sorted by cookie */
	const __u64 *cookies;     /* theirs, in that order: walked without the figures */
	size_t n;
	/* the last tick's, sorted by cookie, in an array of room for
	 * max(n, nprev): it becomes this tick's in place (out.conns), one state
	 * per connection, not a second copy */
	struct conn_track *prev;
	size_t nprev;
	/* each connection's settings (read only for those plan_tunable()
	 * accepts), or NULL: `policy` for every connection */
	const struct tune_policy *policies;
	struct tune_policy policy;
	struct budget_config limits; /* the global budget, min_buf, pressure shrinks */
	bool pressure;               /* acting as under TCP memory pressure */
	__u64 now_ns;                /* CLOCK_MONOTONIC: the changes' change_ns */
	struct dest_table *dests;    /* learned per destination, updated */
};

/* The caller's storage: n entries each, nprev for gone, 2 n for evicted. */
struct plan_work {
	/* connections decided at a time where no budget is shared (0: all n
	 * at once); decisions and budget are filled that far, not n */
	size_t block;
	struct est_decision *decisions;
	size_t *conn_of; /* by decision: the connection it is for */
	struct budget_conn *budget;
	struct budget_conn *group; /* one policy budget's connections at a time */
	size_t *group_where;
	__u8 *actions;
	__u64 *gone;
	struct dest_key *evicted;
};

struct plan_output {
	/* n, by flow: the tick's states and targets (in->prev, updated) */
	struct conn_track *conns;
	__u8 *actions;            /* n, by flow: enum plan_action bits */
	__u64 *gone;              /* the cookies of the last tick's connections not in flows: */
	size_t ngone;             /* their targets are to be deleted */
	struct dest_key *evicted; /* destinations the table replaced: out of dest_sizes */
	size_t nevicted;
	size_t nlearned;             /* sizes folded into the table this tick */
	size_t changes;              /* changes to apply (none in observe) */
	bool urgent;                 /* one of them is not a shrink: apply it now */
	struct budget_result budget; /* the global budget's pass */
	struct plan_group groups[CONFIG_MAX_POLICIES];
	size_t ngroups;
	/* changes by buffer and reason: all of them, and those past the logged ones */
	__u64 counts[CHANGE_BUFFERS][TUNE_REASONS];
	__u64 unlogged[CHANGE_BUFFERS][TUNE_REASONS];
	struct plan_change logged[PLAN_LOGGED_CHANGES];
	size_t nlogged;
};

/* Whether the tuner decides for this connection at all: not before a pass
 * refreshed its figures, and not over loopback, which is bound by CPU, not
 * by a path (a BDP of a few microseconds would starve it): it stays with
 * the kernel's autotuning. */
bool plan_tunable(const struct flow *f);

/* One tick: fills *out, updates in->prev and in->dests. */
void tick_plan(const struct plan_input *in, const struct plan_work *work, struct plan_output *out);

#endif
