// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/core/dest_table.c: destination keys (/24, /64, the
 * cgroup), smoothing of learned sizes, dirty entries, eviction. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "core/dest_table.h"

static void v4(uint8_t a[16], const char *text)
{
	memset(a, 0xee, 16); /* bytes past the address must not matter */
	assert_int_equal(inet_pton(AF_INET, text, a), 1);
}

static void v6(uint8_t a[16], const char *text)
{
	assert_int_equal(inet_pton(AF_INET6, text, a), 1);
}

/* The key of cgroup 7 (or another) and an address (IPv6 when it has a colon). */
static struct dest_key key_of(uint64_t cgroup_id, const char *text)
{
	uint8_t a[16];
	bool ipv6 = strchr(text, ':') != NULL;

	if (ipv6)
		v6(a, text);
	else
		v4(a, text);
	return dest_key_make(cgroup_id, ipv6 ? AF_INET6 : AF_INET, a);
}

static bool same_key(const struct dest_key *a, const struct dest_key *b)
{
	return a->cgroup_id == b->cgroup_id && a->family == b->family &&
	       memcmp(a->addr, b->addr, 16) == 0;
}

/* An address, the family and prefix its key must have. */
static void key_is(const char *text, int family, const uint8_t prefix[16])
{
	struct dest_key k = key_of(7, text);

	assert_int_equal(k.family, family);
	assert_int_equal(k.cgroup_id, 7);
	assert_memory_equal(k.addr, prefix, 16);
}

static void dest_key_masking(void **unused)
{
	static const uint8_t v4_24[16] = { 198, 18, 5 };
	static const uint8_t v6_64[16] = { 0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0x00, 0x01 };
	/* pairs of (cgroup, address): one destination or two */
	static const struct {
		uint64_t cgroup_a;
		const char *a;
		uint64_t cgroup_b;
		const char *b;
		bool same;
	} pairs[] = {
		{ 7, "198.18.5.77", 7, "198.18.5.1", true }, /* IPv4: /24 */
		{ 7, "198.18.5.77", 7, "198.18.6.77", false },
		{ 7, "198.18.5.77", 8, "198.18.5.77", false }, /* the cgroup is part of the key */
		{ 7, "fd00:198:18:1::5", 7, "fd00:198:18:1:ffff:1:2:3", true }, /* IPv6: /64 */
		{ 7, "fd00:198:18:1::5", 7, "fd00:198:18:2::5", false },
		/* v4-mapped: that IPv4's /24 */
		{ 7, "::ffff:198.18.5.200", 7, "198.18.5.9", true },
	};
	uint8_t a[16] = {};
	(void)unused;

	key_is("198.18.5.77", AF_INET, v4_24);
	key_is("fd00:198:18:1::5", AF_INET6, v6_64);
	key_is("::ffff:198.18.5.200", AF_INET, v4_24);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct dest_key ka = key_of(pairs[i].cgroup_a, pairs[i].a);
		struct dest_key kb = key_of(pairs[i].cgroup_b, pairs[i].b);

		print_message("%s and %s\n", pairs[i].a, pairs[i].b);
		assert_int_equal(same_key(&ka, &kb), pairs[i].same);
	}
	/* ...but not an IPv6 address that merely ends like one */
	assert_int_equal(key_of(7, "fd00::ffff:c612:5c8").family, AF_INET6);
	/* other families are no destination */
	assert_int_equal(dest_key_make(7, 1 /* AF_UNIX */, a).family, 0);
}

/* Sizes learned at one key (at time now) and then found at another. */
static void learn_then_find(struct dest_table *t, const struct dest_key *at, uint32_t snd,
			    uint32_t rcv, uint64_t now, const struct dest_key *find,
			    uint32_t want_snd, uint32_t want_rcv)
{
	uint32_t found_snd, found_rcv;

	assert_int_equal(dest_learn(t, at, snd, rcv, now, NULL), 0);
	assert_true(dest_lookup(t, find, &found_snd, &found_rcv));
	assert_int_equal(found_snd, want_snd);
	assert_int_equal(found_rcv, want_rcv);
}

static void dest_learn_and_lookup(void **unused)
{
	(void)unused;
	struct dest_entry slots[64];
	struct dest_table t;
	uint8_t a[16];
	uint32_t snd, rcv;

	assert_int_equal(dest_table_init(&t, slots, 64, 0.25), 0);
	v4(a, "198.18.0.10");
	struct dest_key k = dest_key_make(1, AF_INET, a);
	v4(a, "198.18.0.99");
	struct dest_key same_net = dest_key_make(1, AF_INET, a);

	snd = rcv = 123;
	assert_false(dest_lookup(&t, &k, &snd, &rcv));
	assert_int_equal(snd, 0);
	assert_int_equal(rcv, 0);

	/* the first value seeds; later ones are smoothed (alpha 0.25); 0: nothing
	 * learned for that side */
	learn_then_find(&t, &k, 1000000, 4000000, 10, &same_net, 1000000, 4000000);
	learn_then_find(&t, &same_net, 2000000, 0, 20, &k, 1250000, 4000000);
	learn_then_find(&t, &k, 0, 2000000, 30, &k, 1250000, 3500000);
	/* a side never learned stays 0 */
	struct dest_key k6 = key_of(1, "fd00:198:18::1");

	learn_then_find(&t, &k6, 0, 300000, 40, &k6, 0, 300000);

	/* nothing to learn, or no destination */
	v4(a, "198.18.9.1");
	struct dest_key other = dest_key_make(1, AF_INET, a);
	assert_int_equal(dest_learn(&t, &other, 0, 0, 50, NULL), -1);
	assert_false(dest_lookup(&t, &other, &snd, &rcv));
	struct dest_key none = dest_key_make(1, 1, a);
	assert_int_equal(dest_learn(&t, &none, 1000, 1000, 50, NULL), -1);
	assert_false(dest_lookup(&t, &none, &snd, &rcv));
}

/* an entry is dirty from the change of its sizes until the caller clears it */
static void dest_dirty(void **unused)
{
	(void)unused;
	struct dest_entry slots[DEST_WAYS];
	struct dest_table t;
	struct dest_key evicted;
	uint8_t a[16];

	assert_int_equal(dest_table_init(&t, slots, DEST_WAYS, 0.25), 0);
	v4(a, "198.18.0.10");
	struct dest_key k = dest_key_make(1, AF_INET, a);
	assert_int_equal(dest_learn(&t, &k, 8192, 16384, 10, &evicted), 0);
	assert_int_equal(evicted.family, 0); /* a free slot: nothing replaced */
	struct dest_entry *e = NULL;
	for (unsigned i = 0; i < DEST_WAYS; i++)
		if (slots[i].used)
			e = &slots[i];
	assert_non_null(e);
	assert_true(e->dirty);
	e->dirty = false;
	/* the same sizes again: the average stays, nothing to copy out */
	assert_int_equal(dest_learn(&t, &k, 8192, 16384, 20, NULL), 0);
	assert_false(e->dirty);
	assert_int_equal(dest_learn(&t, &k, 0, 32768, 30, NULL), 0);
	assert_true(e->dirty);
	assert_int_equal(e->rcvbuf, 20480);
}

static struct dest_key numbered_key(unsigned i)
{
	uint8_t a[16] = { 10, (uint8_t)(i >> 8), (uint8_t)i, 1 };

	return dest_key_make(1, AF_INET, a);
}

static void dest_eviction(void **unused)
{
	(void)unused;
	struct dest_entry slots[DEST_WAYS];
	struct dest_table t;
	uint32_t snd, rcv;

	/* one set: the table holds DEST_WAYS destinations, and a new one
	 * replaces the one learned longest ago */
	assert_int_equal(dest_table_init(&t, slots, DEST_WAYS, 0.25), 0);
	for (unsigned i = 0; i < DEST_WAYS; i++) {
		struct dest_key k = numbered_key(i);
		assert_int_equal(dest_learn(&t, &k, 100000 + i, 0, 100 + i, NULL), 0);
	}
	for (unsigned i = 0; i < DEST_WAYS; i++) {
		struct dest_key k = numbered_key(i);
		assert_true(dest_lookup(&t, &k, &snd, &rcv));
		assert_int_equal(snd, 100000 + i);
	}
	struct dest_key k8 = numbered_key(8), k0 = numbered_key(0), k1 = numbered_key(1),
			k2 = numbered_key(2), k9 = numbered_key(9);
	assert_int_equal(dest_learn(&t, &k8, 5, 0, 200, NULL), 0);
	assert_false(dest_lookup(&t, &k0, &snd, &rcv)); /* the oldest went */
	assert_true(dest_lookup(&t, &k8, &snd, &rcv));
	assert_true(dest_lookup(&t, &k1, &snd, &rcv));
	/* learning again refreshes: 1 stays, 2 is now the oldest */
	assert_int_equal(dest_learn(&t, &k1, 5, 0, 201, NULL), 0);
	assert_int_equal(dest_learn(&t, &k9, 5, 0, 202, NULL), 0);
	assert_true(dest_lookup(&t, &k1, &snd, &rcv));
	assert_false(dest_lookup(&t, &k2, &snd, &rcv));
	/* a replaced entry starts afresh, not from its predecessor's sizes */
	assert_true(dest_lookup(&t, &k9, &snd, &rcv));
	assert_int_equal(snd, 5);

	/* the key that went is reported, so that dest_sizes can drop it too */
	struct dest_key evicted, k10 = numbered_key(10), k3 = numbered_key(3);
	assert_int_equal(dest_learn(&t, &k10, 5, 0, 203, &evicted), 0);
	assert_int_equal(evicted.family, k3.family);
	assert_int_equal(evicted.cgroup_id, k3.cgroup_id);
	assert_memory_equal(evicted.addr, k3.addr, sizeof(evicted.addr));
	assert_int_equal(dest_learn(&t, &k10, 6, 0, 204, &evicted), 0);
	assert_int_equal(evicted.family, 0); /* known: nothing replaced */

	/* many sets: bounded by capacity, the newest is always there */
	struct dest_entry big[64];
	assert_int_equal(dest_table_init(&t, big, 64, 0.5), 0);
	for (unsigned i = 0; i < 1000; i++) {
		struct dest_key k = numbered_key(i);
		assert_int_equal(dest_learn(&t, &k, 1000 + i, 2000 + i, i + 1, NULL), 0);
		assert_true(dest_lookup(&t, &k, &snd, &rcv));
		assert_int_equal(snd, 1000 + i);
		assert_int_equal(rcv, 2000 + i);
	}
	unsigned found = 0;
	for (unsigned i = 0; i < 1000; i++) {
		struct dest_key k = numbered_key(i);
		found += dest_lookup(&t, &k, &snd, &rcv);
	}
	assert_true(found <= 64);
	assert_true(found >= 32); /* the hash spreads keys over the sets */
}

static void dest_table_init_checks(void **unused)
{
	(void)unused;
	struct dest_entry slots[2 * DEST_WAYS];
	struct dest_table t;

	assert_int_equal(dest_table_init(&t, slots, 0, 0.25), -1);
	assert_int_equal(dest_table_init(&t, slots, DEST_WAYS + 1, 0.25), -1);
	assert_int_equal(dest_table_init(&t, NULL, DEST_WAYS, 0.25), -1);
	assert_int_equal(dest_table_init(&t, slots, DEST_WAYS, 0), -1);
	assert_int_equal(dest_table_init(&t, slots, DEST_WAYS, 1.5), -1);
	assert_int_equal(dest_table_init(&t, slots, 2 * DEST_WAYS, 1), 0);
	assert_int_equal(t.nsets, 2);
}

/* dest_next_dirty() visits each changed entry once, and none the caller
 * has cleared. */
static void dest_dirty_walk(void **unused)
{
	(void)unused;
	struct dest_entry slots[4 * DEST_WAYS], *e;
	struct dest_table t;
	size_t cursor = 0;
	unsigned seen = 0;

	assert_int_equal(dest_table_init(&t, slots, 4 * DEST_WAYS, 0.25), 0);
	assert_null(dest_next_dirty(&t, &cursor));
	for (unsigned i = 0; i < 5; i++) {
		struct dest_key k = numbered_key(i);
		assert_int_equal(dest_learn(&t, &k, 10000 + i, 0, 10, NULL), 0);
	}
	cursor = 0;
	while ((e = dest_next_dirty(&t, &cursor))) {
		seen++;
		e->dirty = seen % 2; /* the 2nd and 4th copied out */
	}
	assert_int_equal(seen, 5);
	cursor = 0;
	seen = 0;
	while ((e = dest_next_dirty(&t, &cursor)))
		seen++;
	assert_int_equal(seen, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dest_key_masking),
		cmocka_unit_test(dest_learn_and_lookup),
		cmocka_unit_test(dest_dirty),
		cmocka_unit_test(dest_eviction),
		cmocka_unit_test(dest_table_init_checks),
		cmocka_unit_test(dest_dirty_walk),
	};

	return cmocka_run_group_tests_name("dest_table", tests, NULL, NULL);
}
