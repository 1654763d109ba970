/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A tracked connection as the agent holds it: an entry of the flows map with
 * its key; as `flows` and `top` show it, with the target the agent last
 * wrote for it. Pure. */
#ifndef TCPTUNE_FLOW_H
#define TCPTUNE_FLOW_H
#include <linux/types.h>
#include "tcptune.h"

struct flow {
	__u64 cookie;
	struct conn_stats s;
};

/* A row of `flows` and `top`: the entry with the agent's target for it (the
 * agent's own table has no use for the target's copy, and holds every
 * tracked connection). */
struct flow_row {
	struct flow f;
	struct conn_target target; /* all zero: the agent has decided nothing yet */
	__u64 change_age_ms;       /* since target.change_ns */
};

/* The connection's delivery rate in bits per second. */
static inline __u64 flow_rate_bps(const struct flow *f)
{
	return f->s.delivery_rate_Bps * 8;
}

#endif
