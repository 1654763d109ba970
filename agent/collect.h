/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Collection: the agent's per-tick pass over every network namespace, and
 * reading the pinned maps (by the agent and by `flows` / `top`). */
#ifndef TCPTUNE_COLLECT_H
#define TCPTUNE_COLLECT_H
#include <stddef.h>
#include "format.h"
#include "loader.h"

struct pass_result {
	int namespaces;   /* visited */
	int skipped;      /* could not be entered (gone, or no permission) */
	int stale;        /* entries whose socket vanished without a close event */
	size_t tracked;   /* entries after the pass */
};

/* Run iter/tcp in each network namespace, then drop stale entries. */
int collect_pass(struct loader *ld, __u64 pass, struct pass_result *res);

/* Read every entry of the flows map. *flows is malloc'ed. Returns count or -errno. */
int flows_read(int flows_fd, struct flow **flows);

/* Sum a per-CPU counter of the counters map. */
__u64 counter_read(int counters_fd, enum tcptune_counter counter);

/* Open the running agent's pinned maps. On error a one-line reason is in why. */
int pinned_maps_open(int *flows_fd, int *counters_fd, char *why, size_t len);

#endif
