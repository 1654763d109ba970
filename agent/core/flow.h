/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A tracked connection as the agent holds it: an entry of the flows map with
 * its key and the target the agent last wrote for it. Pure. */
#ifndef TCPTUNE_FLOW_H
#define TCPTUNE_FLOW_H
#include <linux/types.h>
#include "tcptune.h"

struct flow {
	__u64 cookie;
	struct conn_stats s;
	struct conn_target target; /* all zero: the agent has decided nothing yet */
	__u64 change_age_ms;       /* since target.change_ns */
};

/* The connection's delivery rate in bits per second. */
static inline __u64 flow_rate_bps(const struct flow *f)
{
	return f->s.delivery_rate_Bps * 8;
}

#endif
