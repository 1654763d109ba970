/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Safety limits on the estimator's decisions, applied once per tick to all
 * connections together: TCP memory pressure (tcp_mem) and a total budget of
 * buffer bytes the agent may assign. Pure: no libbpf, no system calls, no
 * I/O, no allocation.
 *
 * "Assigned" bytes are the sizes the agent set (its targets in force) on live
 * connections: a buffer the kernel autotunes or the application sized counts
 * nothing. Buffer sizes are limits, not memory in use: an idle connection's
 * big buffer holds nothing now, but lets its next burst take that much. */
#ifndef TCPTUNE_BUDGET_H
#define TCPTUNE_BUDGET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/estimate.h"

/* Reasons of changes made here, numbered after enum est_reason: both are
 * stored in conn_target.change_reason. */
enum budget_reason {
	BUDGET_PRESSURE = EST_PROBE + 1, /* idle buffer shrunk under TCP memory pressure */
	BUDGET_CAPPED,                   /* a grow or probe cut to what the budget has left */
	TUNE_REASONS, /* how many est_reason and budget_reason values there are */
};

/* est_reason or budget_reason: "grow", "shrink", "probe", "pressure", "budget". */
const char *tune_reason_name(unsigned int reason);

struct budget_config {
	uint64_t budget;  /* bytes the agent may assign in total, 0 = unlimited */
	uint32_t min_buf; /* pressure shrinks go down to this */
	/* a change smaller than this fraction of the buffer is not worth making
	 * (est_config.hysteresis) */
	double hysteresis;
	uint32_t pressure_shrinks; /* buffers shrunk per tick at most under pressure */
	uint32_t idle_ticks;       /* ticks without traffic before a connection is idle */
};

#define BUDGET_PRESSURE_SHRINKS 16u
#define BUDGET_IDLE_TICKS 2u

/* The buffers of a connection, indexes of budget_conn.buf. */
enum budget_side { BUDGET_SND, BUDGET_RCV, BUDGET_SIDES };

struct budget_buf {
	uint32_t cur;      /* sk_sndbuf / sk_rcvbuf now */
	uint32_t assigned; /* the agent's size in force, 0 = not the agent's */
	uint32_t queued;   /* payload in it (unsent / unread) */
	bool app_owned;    /* the application sized it: never touched */
	/* in: the estimator's new size, 0 = leave; out: the size to set, 0 = leave */
	uint32_t next;
	unsigned int reason; /* in: enum est_reason; out: est_ or budget_reason */
};

struct budget_conn {
	struct budget_buf buf[BUDGET_SIDES];
	uint32_t idle_ticks; /* consecutive ticks with no byte acked or received */
	/* false: not tuned this tick (loopback, no sample yet); its assigned bytes still
	 * count */
	bool tunable;
	size_t id; /* the caller's: budget_apply() reorders the array */
};

struct budget_result {
	uint64_t assigned; /* bytes assigned once this tick's changes are made */
	uint32_t dropped;  /* grows and probes dropped under pressure */
	uint32_t pressure_shrinks;
	uint32_t capped;  /* grows and probes cut to the budget */
	uint32_t refused; /* changes the budget had no room for */
};

/* Adjusts every buffer's next/reason in place (and may reorder conns). */
void budget_apply(const struct budget_config *c, bool pressure, struct budget_conn *conns, size_t n,
		  struct budget_result *r);
/* *sum with r's counts and bytes added: one pass over connections in parts. */
void budget_result_add(struct budget_result *sum, const struct budget_result *r);

/* ---- TCP memory pressure -------------------------------------------------- */

/* net.ipv4.tcp_mem (low, pressure, high) and sockstat's TCP mem, in pages. */
struct tcp_mem_state {
	uint64_t low, pressure, high;
	uint64_t used;
};

/* Whether the agent should act as under pressure now, given whether it did
 * last tick: like the kernel (__sk_mem_raise_allocated), pressure starts when
 * usage reaches the pressure threshold and ends only once it is back at or
 * below low. */
bool tcp_mem_pressure(const struct tcp_mem_state *m, bool was);

#endif
