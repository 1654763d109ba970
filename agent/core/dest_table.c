// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The per-destination table: set-associative, a bounded amount of work per
 * call, the least recently learned entry of a set replaced first. */
#include <string.h>
#include "core/dest_table.h"
#include "core/af.h"

int dest_table_init(struct dest_table *t, struct dest_entry *slots, size_t nslots, double alpha)
{
	if (!t || !slots || nslots == 0 || nslots % DEST_WAYS || !(alpha > 0 && alpha <= 1))
		return -1;
	memset(slots, 0, nslots * sizeof(*slots));
	t->slots = slots;
	t->nsets = nslots / DEST_WAYS;
	t->alpha = alpha;
	return 0;
}

static bool is_v4_mapped(const uint8_t a[16])
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* Connections to one /24 or /64 tend to share a path (one site, one
 * provider prefix); the cgroup separates applications with different needs. */
struct dest_key dest_key_make(uint64_t cgroup_id, uint16_t family, const uint8_t addr[16])
{
	struct dest_key k;

	memset(&k, 0, sizeof(k));
	k.cgroup_id = cgroup_id;
	if (family == AF_INET6 && is_v4_mapped(addr)) {
		k.family = AF_INET;
		memcpy(k.addr, addr + 12, 3); /* /24 */
	} else if (family == AF_INET) {
		k.family = AF_INET;
		memcpy(k.addr, addr, 3);
	} else if (family == AF_INET6) {
		k.family = AF_INET6;
		memcpy(k.addr, addr, 8); /* /64 */
	}
	return k;
}

static bool key_equal(const struct dest_key *a, const struct dest_key *b)
{
	return a->cgroup_id == b->cgroup_id && a->family == b->family &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* The key's words mixed (splitmix64's finalizer): a hash a few multiplies
 * long, where a byte-wise one over the 26 bytes was a chain of 26, for
 * every learning connection every tick. */
static struct dest_entry *set_of(const struct dest_table *t, const struct dest_key *k)
{
	uint64_t lo, hi, h;

	memcpy(&lo, k->addr, 8);
	memcpy(&hi, k->addr + 8, 8);
	h = k->cgroup_id ^ (lo * 0x9e3779b97f4a7c15ull) ^ (hi * 0xc2b2ae3d27d4eb4full) ^
	    ((uint64_t)k->family << 48);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return &t->slots[(h % t->nsets) * DEST_WAYS];
}

static struct dest_entry *find(struct dest_entry *set, const struct dest_key *k)
{
	for (unsigned i = 0; i < DEST_WAYS; i++)
		if (set[i].used && key_equal(&set[i].key, k))
			return &set[i];
	return NULL;
}

/* A free slot, else the entry learned longest ago. */
static struct dest_entry *victim(struct dest_entry *set)
{
	struct dest_entry *v = &set[0];

	for (unsigned i = 0; i < DEST_WAYS; i++) {
		if (!set[i].used)
			return &set[i];
		if (set[i].updated_us < v->updated_us)
			v = &set[i];
	}
	return v;
}

/* An average of the sizes learned, the first one seeding it. */
static uint32_t learn_size(uint32_t avg, uint32_t size, double alpha)
{
	if (size == 0)
		return avg;
	if (avg == 0)
		return size;
	return (uint32_t)(alpha * size + (1 - alpha) * avg + 0.5);
}

int dest_learn(struct dest_table *t, const struct dest_key *key, uint32_t sndbuf, uint32_t rcvbuf,
	       uint64_t now_us, struct dest_key *evicted)
{
	if (evicted)
		evicted->family = 0;
	if (key->family == 0 || (sndbuf == 0 && rcvbuf == 0))
		return -1;

	struct dest_entry *set = set_of(t, key);
	struct dest_entry *e = find(set, key);
	uint32_t was_snd, was_rcv;

	if (!e) {
		e = victim(set);
		if (e->used && evicted)
			*evicted = e->key;
		memset(e, 0, sizeof(*e));
		e->key = *key;
		e->used = true;
	}
	was_snd = e->sndbuf;
	was_rcv = e->rcvbuf;
	e->sndbuf = learn_size(e->sndbuf, sndbuf, t->alpha);
	e->rcvbuf = learn_size(e->rcvbuf, rcvbuf, t->alpha);
	e->updated_us = now_us;
	if (e->sndbuf != was_snd || e->rcvbuf != was_rcv)
		e->dirty = true;
	return 0;
}

bool dest_lookup(const struct dest_table *t, const struct dest_key *key, uint32_t *sndbuf,
		 uint32_t *rcvbuf)
{
	const struct dest_entry *e = key->family ? find(set_of(t, key), key) : NULL;

	*sndbuf = e ? e->sndbuf : 0;
	*rcvbuf = e ? e->rcvbuf : 0;
	return e != NULL;
}

struct dest_entry *dest_next_dirty(struct dest_table *t, size_t *cursor)
{
	size_t nslots = t->nsets * DEST_WAYS;

	while (*cursor < nslots) {
		struct dest_entry *e = &t->slots[(*cursor)++];

		if (e->used && e->dirty)
			return e;
	}
	return NULL;
}
