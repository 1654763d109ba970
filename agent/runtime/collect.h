/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Collection: the agent's per-tick pass over every network namespace, and
 * reading the pinned maps (by the agent and by `flows` / `top`). */
#ifndef TCPTUNE_COLLECT_H
#define TCPTUNE_COLLECT_H
#include <stddef.h>
#include <sys/types.h>
#include "core/flow.h"
#include "runtime/loader.h"
#include "core/flowtable.h"
#include "runtime/system.h"

struct pass_result {
	int namespaces; /* visited */
	int skipped;    /* could not be entered (gone, or no permission) */
	int stale;      /* entries whose socket vanished without a close event */
	int unowned;    /* entries whose owning process is not known yet */
	size_t tracked; /* entries after the pass */
	/* those entries, sorted by cookie, and their cookies in that order (the
	 * collector's: not the caller's to free) */
	struct flow *flows;
	const __u64 *cookies;
};

/* Three kinds of pass, by what each costs at 20,000 tracked sockets here:
 *  - events (each tick, a few milliseconds): the connections an application
 *    wrote to or read from since the last tick (the "moved" ring buffer),
 *    whose entries BPF keeps fresh, take the figures their records carry
 *    (a lookup each only for those listed by cookie alone);
 *  - walk (every WALK_PASS_INTERVAL_S; when the ring buffer overflowed;
 *    each tick under TCP memory pressure, which shrinks the largest first):
 *    iter/bpf_sk_storage_map over the marks of the tracked sockets refreshes
 *    every socket that moved, also without a system call, and the whole map
 *    is read (25 ms for 20,000 sockets in bench/load.sh);
 *  - full (the first tick; on request: SIGUSR1 from flows and top; every
 *    FULL_PASS_INTERVAL_S; when connections were turned away by a full map,
 *    at most every PICKUP_INTERVAL_S): iter/tcp in every network namespace
 *    refreshes every socket, applies every target, picks up the untracked,
 *    and lets entries of vanished sockets go (stale); it visits every bucket
 *    of the established hash and locks every socket of the host, once per
 *    namespace (60 ms for 20,000 sockets).
 * A targets pass (collect_apply) runs iter/tcp in the namespaces of the
 * connections whose targets changed.
 * Where the walk is iter/tcp (map-element iterators refused) it costs about
 * what a full pass does: the full passes alone come periodically for what
 * moved without a system call, and an overflow of "moved" is answered by a
 * read of the whole map alone (read), since the events that found the ring
 * full had refreshed their entries all the same. */
enum pass_kind { PASS_EVENTS, PASS_READ, PASS_WALK, PASS_FULL };
#define WALK_PASS_INTERVAL_S 30.0
#define FULL_PASS_INTERVAL_S 60.0
#define PICKUP_INTERVAL_S 5.0

struct moved_head;

/* What passes keep between ticks. */
struct collector {
	struct netns *ns; /* the namespaces the last full pass found */
	__u64 *cookies;   /* ns[i]'s netns cookie, 0 if it could not be entered */
	int nns;
	int walked;                /* namespaces the last full pass walked */
	struct flow_table table;   /* every tracked connection */
	struct ring_buffer *ring;  /* on "moved" */
	struct moved_head *events; /* drained this pass: the heads to look up */
	size_t nevents, events_cap;
	/* when each kind of pass is due */
	bool started;
	bool full_due; /* asked for (SIGUSR1) */
	double last_full, last_walk;
	__u64 map_full, events_lost; /* the counters at the last full / walk pass */
};

extern const char *const pass_kind_name[];

int collector_init(struct collector *col, struct loader *ld);
/* The kind of the pass to run now (monotonic seconds). exact: the tick needs
 * every connection's current figures, also of those that moved without a
 * system call (a buffer the kernel grew on ACKs after the last write): at
 * least a walk. */
enum pass_kind collect_next_kind(struct loader *ld, struct collector *col, double now, bool exact);

/* One pass of the given kind: refresh, (full) drop stale entries, find owners
 * of new ones, and publish the pass in the status map. res->flows is the
 * collector's table, valid until the next pass: every tracked connection,
 * each with the figures of its last refresh, taken at updated_ns. */
int collect_pass(struct loader *ld, struct collector *col, __u64 pass, enum pass_kind kind,
		 struct pass_result *res);
/* Apply the targets just written: iter/tcp in the namespaces whose cookies
 * are given (n < 0: every namespace the last full pass found). */
int collect_apply(struct loader *ld, struct collector *col, __u64 pass, const __u64 *netns, int n);
/* Between ticks: the fd that is readable when "moved" asks to be read (it
 * is filling), and the read, which keeps its records for the next pass. */
int collect_moved_fd(const struct collector *col);
int collect_moved(struct collector *col);
void collector_free(struct collector *col);

/* Read every entry of the flows map. *flows is malloc'ed. Returns count or -errno. */
int flows_read(int flows_fd, struct flow **flows);

/* Add each connection's target and last change from the "targets" map. */
void targets_merge(int targets_fd, struct flow_row *rows, size_t n);

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

/* Read flows and their targets: what `flows` and `top` show. *rows is
 * malloc'ed. Returns the count or -errno. */
int flows_read_with_targets(const struct pinned_maps *maps, struct flow_row **rows);

#define FRESH_PASS_TIMEOUT_S 3.0

/* Ask the agent for a pass now and wait for it (up to timeout_s), so what is
 * read next is current. Returns 0, or -ETIMEDOUT / -errno. */
int request_fresh_pass(const struct pinned_maps *maps, double timeout_s);

#endif
