/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Collection: the agent's per-tick pass over every network namespace, and
 * reading the pinned maps (by the agent and by `flows` / `top`). */
#ifndef TCPTUNE_COLLECT_H
#define TCPTUNE_COLLECT_H
#include <stddef.h>
#include <sys/types.h>
#include "format.h"
#include "loader.h"

struct pass_result {
	int namespaces;   /* visited */
	int skipped;      /* could not be entered (gone, or no permission) */
	int stale;        /* entries whose socket vanished without a close event */
	int unowned;      /* entries whose owning process is not known yet */
	size_t tracked;   /* entries after the pass */
	struct flow *flows; /* those entries as read after the pass; the caller frees */
};

/* Run iter/tcp in each network namespace, drop stale entries, find owners of
 * new ones, and publish the pass in the status map. */
int collect_pass(struct loader *ld, __u64 pass, struct pass_result *res);

/* Read every entry of the flows map. *flows is malloc'ed. Returns count or -errno. */
int flows_read(int flows_fd, struct flow **flows);

/* Add each connection's target and last change from the "targets" map. */
void targets_merge(int targets_fd, struct flow *flows, size_t n);


/* Sum a per-CPU counter of the counters map. */
__u64 counter_read(int counters_fd, enum tcptune_counter counter);

struct pinned_maps {
	int flows_fd;
	int counters_fd;
	int status_fd;
	int targets_fd;
	pid_t agent;
};

/* Open the running agent's pinned maps. On error a one-line reason is in why. */
int pinned_maps_open(struct pinned_maps *maps, char *why, size_t len);
void pinned_maps_close(struct pinned_maps *maps);

/* Read flows and their targets: what `flows` and `top` show. */
int flows_read_with_targets(const struct pinned_maps *maps, struct flow **flows);

#define FRESH_PASS_TIMEOUT_S 3.0

/* Ask the agent for a pass now and wait for it (up to timeout_s), so what is
 * read next is current. Returns 0, or -ETIMEDOUT / -errno. */
int request_fresh_pass(const struct pinned_maps *maps, double timeout_s);

#endif
