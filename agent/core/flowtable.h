/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The agent's table of every tracked connection, sorted by cookie. A full or
 * walk pass replaces it with a read of the whole flows map; between those,
 * each tick updates it from the "moved" records alone: the connections that
 * moved take the figures their records carry, or are read again when listed
 * by cookie alone, the closed ones leave, the new ones join. Pure: the map
 * lookup is the caller's. */
#ifndef TCPTUNE_FLOWTABLE_H
#define TCPTUNE_FLOWTABLE_H
#include <stdbool.h>
#include <stddef.h>
#include "core/flow.h"

struct flow_table {
	struct flow *v;
	size_t n, cap;
	/* v's cookies in v's order, built on the first lookup after the
	 * entries changed: a search through 8-byte keys, not through entries
	 * of 250 bytes, each a cache miss of its own at 100,000s of entries */
	__u64 *keys;
	size_t keys_cap;
	bool keys_valid;
};

/* Fills *out with the connection's current entry: 0, or non-zero when it
 * has none (closed, or dropped since it was listed). */
typedef int (*flow_lookup_fn)(void *ctx, __u64 cookie, struct conn_stats *out);

/* The table becomes v[0..n) (malloc'ed; the table owns it from here),
 * sorted. Returns 0, or -ENOMEM (the table holds v unsorted: empty it). */
int flow_table_replace(struct flow_table *t, struct flow *v, size_t n);
struct flow *flow_table_find(struct flow_table *t, __u64 cookie);
/* The entries' cookies in their order (t->keys, built if they changed), or
 * NULL when there is no memory for them. */
const __u64 *flow_table_cookies(struct flow_table *t);
/* A record with figures, as the ring buffer is read: a known connection
 * takes them at once (true); false for a connection not in the table, whose
 * identity only its entry has (the caller keeps the head for
 * flow_table_apply). Records come in the order they were made, so the last
 * one's figures stand. */
bool flow_table_take_figures(struct flow_table *t, const struct moved_figures *e);
/* Applies the heads ev[0..nev) (sorted here by cookie; a cookie may come
 * more than once): each listed connection's entry is looked up. Returns
 * 0, or -ENOMEM with the table as it was or with some records applied. */
int flow_table_apply(struct flow_table *t, struct moved_head *ev, size_t nev, flow_lookup_fn lookup,
		     void *ctx);
void flow_table_free(struct flow_table *t);

#endif
