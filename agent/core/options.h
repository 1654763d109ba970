/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The bounds of the agent's options, in one table that the command line
 * (agent/cmd/), the configuration file (runtime/config.c) and the
 * estimator's own check (est_config_check) all read: each limit and its
 * error text are written once. Also the modes and the number of policies,
 * which the tuner (core/tick_plan.h) needs as well. Pure. */
#ifndef TCPTUNE_OPTIONS_H
#define TCPTUNE_OPTIONS_H
#include <stdbool.h>

enum option_id {
	OPTION_INTERVAL,
	OPTION_MAX_FLOWS,
	OPTION_MIN_BUF,
	OPTION_MAX_BUF,
	OPTION_HEADROOM,
	OPTION_ALPHA,
	OPTION_HYSTERESIS,
	OPTION_BUDGET,
	OPTIONS, /* how many there are */
};

/* What the agent does with a connection: mode = in [global] and policies. */
enum config_mode {
	MODE_TUNE,    /* compute and apply sizes */
	MODE_OBSERVE, /* compute and show, change nothing */
	MODE_OFF,     /* leave these connections alone (policies only) */
};

/* Policy sections of the configuration file at most. */
#define CONFIG_MAX_POLICIES 64

/* How an option's value is written. */
enum option_unit {
	UNIT_SECONDS, /* a decimal number: 0.5, 2, 1e-1 */
	UNIT_COUNT,   /* a whole number */
	UNIT_BYTES,   /* a whole number with an optional K, M or G (powers of 1024) */
	UNIT_NUMBER,  /* digits with an optional decimal point */
};

struct option_bounds {
	const char *key;  /* the configuration file's key, and the estimator's name */
	const char *flag; /* the command line's, NULL if there is none */
	enum option_unit unit;
	double min, max;      /* within [min, max] */
	bool above_min;       /* within (min, max] */
	const char *must;     /* what is wrong with a value out of bounds: "must be ..." */
	const char *key_must; /* the same after the key: "headroom must be ..." */
};

extern const struct option_bounds option_table[OPTIONS];

/* text as option id's value. Returns 0 with *value set, or -1 with *why
 * set to what is wrong and *value untouched. why is the option's `must`,
 * except for seconds, where it also tells an empty text, one that is not a
 * number and a time of zero or less apart. */
int option_parse(enum option_id id, const char *text, double *value, const char **why);

/* Whether value is within option id's bounds (NaN is not). */
bool option_within(enum option_id id, double value);

/* The default --max-flows: the size of the kernel's TCP established hash,
 * which the kernel sizes from the host's memory for the connections the host
 * may hold (0: not known), within these bounds. The maps take memory per
 * tracked socket, not per entry allowed. */
#define MAX_FLOWS_DEFAULT_MIN 65536L
#define MAX_FLOWS_DEFAULT_MAX 4194304L
long max_flows_for_host(long established_hash);

/* The size of the "moved" ring buffer for max_flows tracked sockets: room
 * for a 32nd of them listed with their figures, what a host of many
 * connections that each move a little (every few seconds) lists during a
 * full pass, when the agent cannot read it. A power of two, within these
 * bounds. The agent maps it twice over (the ring's wrap), so it counts
 * twice in the agent's resident memory. */
#define MOVED_RING_MIN (1L << 20)
#define MOVED_RING_MAX (8L << 20)
/* the ring's header before each record: the kernel's BPF_RINGBUF_HDR_SZ,
 * which core/ cannot include */
#define MOVED_RECORD_HEADER 8
long moved_ring_bytes(long max_flows);

#endif
