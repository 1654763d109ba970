// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/core/flowtable.c: the agent's table of tracked connections
 * kept up to date from "moved" records, against a plain model of the map. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/flowtable.h"

#define COOKIES 20000

/* The flows map as the kernel holds it: present[c], with bytes_acked as the
 * figure that changes. */
struct model {
	bool present[COOKIES];
	__u64 acked[COOKIES];
	int lookups;
};

static int model_lookup(void *ctx, __u64 cookie, struct conn_stats *out)
{
	struct model *m = ctx;

	m->lookups++;
	if (cookie >= COOKIES || !m->present[cookie])
		return -1;
	out->bytes_acked = m->acked[cookie];
	return 0;
}

/* A head alone: the agent looks the entry up */
static struct moved_head ev(__u64 cookie, __u32 closed)
{
	return (struct moved_head){ .cookie = cookie, .closed = closed };
}

/* A record with figures, as track.bpf.c writes it on a write or read */
static struct moved_figures ev_figures(__u64 cookie, __u64 acked)
{
	struct moved_figures e = { .head = { .cookie = cookie, .with_figures = 1 } };
	struct conn_stats s = {
		.bytes_acked = acked, .sndbuf = 4096, .state = CONN_ESTABLISHED, .updated_ns = 1000
	};

	memcpy(e.figures, (__u8 *)&s + CONN_FIGURES_START, CONN_FIGURES_SIZE);
	return e;
}

static void assert_sorted(const struct flow_table *t)
{
	for (size_t i = 1; i < t->n; i++)
		assert_true(t->v[i - 1].cookie < t->v[i].cookie);
}

static void new_moved_closed(void **state)
{
	struct flow_table t = {};
	struct model m = {};
	struct moved_head e[4];
	struct flow *f;

	(void)state;
	m.present[5] = m.present[9] = true;
	m.acked[5] = 50, m.acked[9] = 90;
	e[0] = ev(9, 0), e[1] = ev(5, 0);
	assert_int_equal(flow_table_apply(&t, e, 2, model_lookup, &m), 0);
	assert_int_equal(t.n, 2);
	assert_sorted(&t);
	f = flow_table_find(&t, 5);
	assert_non_null(f);
	assert_int_equal(f->s.bytes_acked, 50);
	m.acked[5] = 55;
	e[0] = ev(5, 0);
	assert_int_equal(flow_table_apply(&t, e, 1, model_lookup, &m), 0);
	f = flow_table_find(&t, 5);
	assert_int_equal(f->s.bytes_acked, 55);
	/* closed: listed as such, or listed as moved and gone by the lookup */
	m.present[9] = false;
	m.present[5] = false;
	e[0] = ev(9, 1), e[1] = ev(5, 0);
	assert_int_equal(flow_table_apply(&t, e, 2, model_lookup, &m), 0);
	assert_int_equal(t.n, 0);
	assert_null(flow_table_find(&t, 5));
	flow_table_free(&t);
}

static void duplicates_and_zero(void **state)
{
	struct flow_table t = {};
	struct model m = {};
	struct moved_head e[5];

	(void)state;
	m.present[7] = true;
	/* moved twice, and moved then closed in one drain; cookie 0 is no socket */
	e[0] = ev(7, 0), e[1] = ev(7, 0), e[2] = ev(0, 0), e[3] = ev(8, 0), e[4] = ev(8, 1);
	assert_int_equal(flow_table_apply(&t, e, 5, model_lookup, &m), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.v[0].cookie, 7);
	assert_int_equal(m.lookups, 1); /* once per live cookie */
	flow_table_free(&t);
}

/* A known connection takes the figures its record carries, with no lookup,
 * and keeps what a record does not carry: its identity, owner and target. A
 * connection new to the table does not: its identity is in the entry. */
static void figures_without_lookup(void **state)
{
	struct flow_table t = {};
	struct model m = {};
	struct moved_head e[1];
	struct moved_figures fig;
	struct flow *f;

	(void)state;
	m.present[5] = true;
	m.acked[5] = 50;
	fig = ev_figures(5, 45);
	assert_false(flow_table_take_figures(&t, &fig));
	e[0] = fig.head;
	assert_int_equal(flow_table_apply(&t, e, 1, model_lookup, &m), 0);
	f = flow_table_find(&t, 5);
	assert_int_equal(f->s.bytes_acked, 50); /* the lookup's */
	f->s.netns_cookie = 77, f->s.pid = 1234, f->s.dport = 443;
	m.lookups = 0;
	fig = ev_figures(5, 60);
	assert_true(flow_table_take_figures(&t, &fig));
	assert_int_equal(m.lookups, 0);
	f = flow_table_find(&t, 5);
	assert_int_equal(f->s.bytes_acked, 60);
	assert_int_equal(f->s.sndbuf, 4096);
	assert_int_equal(f->s.state, CONN_ESTABLISHED);
	assert_int_equal(f->s.updated_ns, 1000);
	assert_int_equal(f->s.netns_cookie, 77);
	assert_int_equal(f->s.pid, 1234);
	assert_int_equal(f->s.dport, 443);
	assert_int_equal(t.n, 1);
	flow_table_free(&t);
}

/* Random rounds of map changes and records against the model, the records
 * taken as the collector reads the ring buffer: figures of a known
 * connection at once, every other record kept for flow_table_apply(). The
 * table holds every listed connection still in the map, sorted, with the
 * figures of its last record or lookup. A connection that closed without a
 * record stays (until a full read). Cookies are never reused, as in the
 * kernel. */
static void random_rounds(void **state)
{
	static bool expect_in[COOKIES];
	static __u64 expect_acked[COOKIES];
	struct flow_table t = {};
	struct model m = {};
	struct moved_head e[64];
	__u64 next = 1;
	size_t taken = 0;

	(void)state;
	srand(7);
	for (int round = 0; round < 3000; round++) {
		size_t n = 0, want = 0;
		const __u64 *keys;

		for (int k = rand() % 20; k > 0 && n + 2 < 64; k--) {
			__u64 c = 1 + (__u64)rand() % next;
			int what = rand() % 4;

			if (what == 0 &&
			    next < COOKIES) { /* a new connection, listed at once or not yet */
				c = next++;
				m.present[c] = true;
				if (rand() % 2)
					e[n++] = ev(c, 0);
				expect_in[c] = false;
			} else if (what == 1 && c < next && m.present[c]) { /* closes */
				m.present[c] = false;
				/* the close record, or a late move record, or none */
				if (rand() % 2)
					e[n++] = ev(c, 1);
				else if (rand() % 2)
					e[n++] = ev(c, 0);
			} else if (c < next && m.present[c]) {
				/* moves: listed with its figures, or by cookie */
				m.acked[c] += (__u64)rand() % 1000 + 1;
				if (rand() % 4) {
					struct moved_figures fig = ev_figures(c, m.acked[c]);

					if (flow_table_take_figures(&t, &fig)) {
						assert_true(expect_in[c]);
						expect_acked[c] = m.acked[c];
						taken++;
					} else {
						e[n++] = fig.head;
					}
				} else {
					e[n++] = ev(c, 0);
				}
			}
		}
		/* each head: a close record removes it; else a lookup, which
		 * finds it, or not (closed meanwhile) */
		for (size_t i = 0; i < n; i++) {
			__u64 c = e[i].cookie;
			bool closed = false;

			for (size_t j = 0; j < n; j++)
				closed |= e[j].cookie == c && e[j].closed;
			expect_in[c] = !closed && m.present[c];
			expect_acked[c] = m.acked[c];
		}
		m.lookups = 0;
		assert_int_equal(flow_table_apply(&t, e, n, model_lookup, &m), 0);
		assert_true(m.lookups <= (int)n);
		assert_sorted(&t);
		keys = flow_table_cookies(&t);
		assert_non_null(keys);
		for (size_t i = 0; i < t.n; i++)
			assert_int_equal(keys[i], t.v[i].cookie);
		for (__u64 c = 1; c < next; c++) {
			struct flow *f = flow_table_find(&t, c);

			if (!expect_in[c]) {
				assert_null(f);
				continue;
			}
			want++;
			assert_non_null(f);
			assert_int_equal(f->s.bytes_acked, expect_acked[c]);
		}
		assert_int_equal(t.n, want);
	}
	assert_true(t.n > 10);     /* the rounds did build a table */
	assert_true(taken > 1000); /* and took figures without a lookup */
	flow_table_free(&t);
}

static void replace_sorts(void **state)
{
	struct flow_table t = {};
	struct flow *v = calloc(3, sizeof(*v));

	(void)state;
	assert_non_null(v);
	v[0].cookie = 30, v[1].cookie = 10, v[2].cookie = 20;
	assert_int_equal(flow_table_replace(&t, v, 3), 0);
	assert_sorted(&t);
	assert_non_null(flow_table_find(&t, 20));
	assert_null(flow_table_find(&t, 25));
	flow_table_free(&t);
}

/* The sort moves whole entries along the permutation's cycles: every entry
 * arrives with its own figures, whatever the order it was read in. */
static void replace_keeps_entries_whole(void **state)
{
	const size_t n = 5000;
	struct flow_table t = {};
	struct flow *v = calloc(n, sizeof(*v));

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		v[i].cookie = 1 + i * 7;
		v[i].s.bytes_acked = v[i].cookie * 3;
		v[i].s.rcvbuf = (__u32)v[i].cookie + 1;
	}
	srand(11);
	for (size_t i = n - 1; i > 0; i--) { /* shuffled */
		size_t j = (size_t)rand() % (i + 1);
		struct flow x = v[i];

		v[i] = v[j], v[j] = x;
	}
	assert_int_equal(flow_table_replace(&t, v, n), 0);
	assert_int_equal(t.n, n);
	assert_sorted(&t);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(t.v[i].cookie, 1 + i * 7);
		assert_int_equal(t.v[i].s.bytes_acked, t.v[i].cookie * 3);
		assert_int_equal(t.v[i].s.rcvbuf, t.v[i].cookie + 1);
	}
	flow_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_moved_closed),
		cmocka_unit_test(duplicates_and_zero),
		cmocka_unit_test(figures_without_lookup),
		cmocka_unit_test(random_rounds),
		cmocka_unit_test(replace_sorts),
		cmocka_unit_test(replace_keeps_entries_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
