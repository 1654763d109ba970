// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "core/flowtable.h"

/* struct flow and struct moved_head both start with the cookie */
static int by_cookie(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

struct cookie_at {
	__u64 cookie;
	size_t at;
};

/* v[0..n) sorted by cookie in place. The entries are large (about 250
 * bytes): qsort would take a second copy of them all (glibc sorts through a
 * temporary array as big as the input), tens of MB at the default
 * --max-flows. Sorting (cookie, index) pairs instead and moving each entry
 * along its cycle of the permutation needs 16 bytes an entry. */
static int sort_by_cookie(struct flow *v, size_t n)
{
	struct cookie_at *order = malloc((n ? n : 1) * sizeof(*order));
	struct flow held;

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = (struct cookie_at){ .cookie = v[i].cookie, .at = i };
	qsort(order, n, sizeof(*order), by_cookie);
	/* v[i] must become the entry now at order[i].at */
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		if (order[i].at == i)
			continue;
		held = v[i];
		while (order[j].at != i) {
			size_t from = order[j].at;

			v[j] = v[from];
			order[j].at = j;
			j = from;
		}
		v[j] = held;
		order[j].at = j;
	}
	free(order);
	return 0;
}

int flow_table_replace(struct flow_table *t, struct flow *v, size_t n)
{
	free(t->v);
	t->v = v;
	t->n = t->cap = n;
	t->keys_valid = false;
	return sort_by_cookie(v, n);
}

/* The keys of the entries as they are now; false when there is no memory
 * for them (the search goes through the entries then). */
static bool keys_build(struct flow_table *t)
{
	if (t->keys_cap < t->n) {
		__u64 *grown = realloc(t->keys, t->n * sizeof(*grown));

		if (!grown)
			return false;
		t->keys = grown;
		t->keys_cap = t->n;
	}
	for (size_t i = 0; i < t->n; i++)
		t->keys[i] = t->v[i].cookie;
	t->keys_valid = true;
	return true;
}

const __u64 *flow_table_cookies(struct flow_table *t)
{
	static const __u64 none;

	if (!t->n)
		return &none;
	return t->keys_valid || keys_build(t) ? t->keys : NULL;
}

struct flow *flow_table_find(struct flow_table *t, __u64 cookie)
{
	size_t lo = 0, hi = t->n;

	if (!t->n)
		return NULL;
	if (!t->keys_valid && !keys_build(t))
		return bsearch(&cookie, t->v, t->n, sizeof(*t->v), by_cookie);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->keys[mid] < cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->n && t->keys[lo] == cookie ? &t->v[lo] : NULL;
}

static int reserve(struct flow_table *t, size_t n)
{
	size_t cap = t->cap ? t->cap : 256;
	struct flow *grown;

	if (n <= t->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	grown = realloc(t->v, cap * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	t->v = grown;
	t->cap = cap;
	return 0;
}

/* Removes the entries at the ascending indexes gone[0..ngone). */
static void remove_at(struct flow_table *t, const size_t *gone, size_t ngone)
{
	size_t kept = gone[0], g = 0;

	for (size_t i = gone[0]; i < t->n; i++) {
		if (g < ngone && gone[g] == i) {
			g++;
			continue;
		}
		t->v[kept++] = t->v[i];
	}
	t->n = kept;
	t->keys_valid = false;
}

/* Merges the entries at v[n .. n + added) into v[0 .. n): sorted apart,
 * then merged from the end backwards; many of them (the first tick after
 * thousands of connections opened), the whole table sorted in place. */
static int merge_added(struct flow_table *t, size_t added)
{
	struct flow *v = t->v, *add;
	size_t i = t->n, j = added, out = t->n + added;

	t->keys_valid = false;
	if (added > t->n / 8) {
		t->n += added;
		return sort_by_cookie(v, t->n);
	}
	add = malloc(added * sizeof(*add));
	if (!add)
		return -ENOMEM;
	memcpy(add, v + t->n, added * sizeof(*add));
	qsort(add, added, sizeof(*add), by_cookie);
	while (j > 0) {
		if (i > 0 && v[i - 1].cookie > add[j - 1].cookie)
			v[--out] = v[--i];
		else
			v[--out] = add[--j];
	}
	t->n += added;
	free(add);
	return 0;
}

bool flow_table_take_figures(struct flow_table *t, const struct moved_figures *e)
{
	struct flow *f = flow_table_find(t, e->head.cookie);

	if (f)
		memcpy((__u8 *)&f->s + CONN_FIGURES_START, e->figures, CONN_FIGURES_SIZE);
	return f != NULL;
}

int flow_table_apply(struct flow_table *t, struct moved_head *ev, size_t nev, flow_lookup_fn lookup,
		     void *ctx)
{
	size_t *gone = NULL, ngone = 0, added = 0;
	int err = 0;

	if (!nev)
		return 0;
	qsort(ev, nev, sizeof(*ev), by_cookie);
	for (size_t i = 0; i < nev; i++) {
		__u64 cookie = ev[i].cookie;
		bool closed = ev[i].closed;
		struct conn_stats s;
		struct flow *f;

		/* the same cookie listed twice (two ticks, or moved then closed) */
		while (i + 1 < nev && ev[i + 1].cookie == cookie)
			closed |= ev[++i].closed;
		if (!cookie)
			continue;
		memset(&s, 0, sizeof(s));
		if (!closed && lookup(ctx, cookie, &s))
			closed = true;
		f = flow_table_find(t, cookie);
		if (closed && f) {
			/* the records are sorted by cookie, so the indexes ascend */
			if (!gone && !(gone = calloc(nev, sizeof(*gone)))) {
				err = -ENOMEM;
				break;
			}
			gone[ngone++] = (size_t)(f - t->v);
		} else if (!closed) {
			if (!f) { /* past the end for now, merged below */
				/* room as needed: most records are of known
				 * connections, or closes */
				if (reserve(t, t->n + added + 1)) {
					err = -ENOMEM;
					break;
				}
				f = &t->v[t->n + added++];
				memset(f, 0, sizeof(*f));
				f->cookie = cookie;
			}
			f->s = s;
		}
	}
	if (ngone) {
		size_t n = t->n;

		remove_at(t, gone, ngone);
		/* the new entries, past the old end, follow the shorter table */
		memmove(t->v + t->n, t->v + n, added * sizeof(*t->v));
	}
	if (added && merge_added(t, added))
		err = -ENOMEM; /* the new entries are left out: the next read brings them */
	free(gone);
	return err;
}

void flow_table_free(struct flow_table *t)
{
	free(t->v);
	free(t->keys);
	memset(t, 0, sizeof(*t));
}
