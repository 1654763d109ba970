/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Write-back: each tick, the estimator's decision for every tracked
 * connection goes into the "targets" map (applied by iter/tcp in the next
 * pass unless --observe) and what it learns per destination into
 * "dest_sizes" (applied by sockops to new connections). */
#ifndef TCPTUNE_TUNE_H
#define TCPTUNE_TUNE_H
#include <stdbool.h>
#include "estimate.h"
#include "format.h"

struct conn_track {
	__u64 cookie;
	struct est_state st;
	struct conn_target target; /* as last written to the map */
};

struct tuner {
	struct est_config est;
	bool observe;
	struct conn_track *conns;  /* sorted by cookie */
	size_t nconns;
	struct dest_table dests;
	struct dest_entry *dest_slots;
	int targets_fd;
	int dests_fd;
	__u32 *dests_learned;      /* sockops' .bss flag: skip lookups until one is learned */
};

#define TUNE_DEST_SLOTS 4096

int tuner_init(struct tuner *t, const struct est_config *est, bool observe, int targets_fd, int dests_fd,
	       __u32 *dests_learned);
/* One tick over every tracked connection (flows is sorted by cookie here).
 * Returns the number of buffer changes written for iter/tcp to apply (0 in
 * observe mode). */
size_t tuner_tick(struct tuner *t, struct flow *flows, size_t n);
void tuner_free(struct tuner *t);

#endif
