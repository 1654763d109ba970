// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "core/format.h"
#include "runtime/log.h"
#include "runtime/sysctl.h"
#include "runtime/system.h"
#include "runtime/tune.h"

int tuner_init(struct tuner *t, const struct est_config *est, __u64 budget, bool observe, int targets_fd,
	       int dests_fd, int status_fd, __u32 *dests_learned)
{
	memset(t, 0, sizeof(*t));
	t->dests_learned = dests_learned;
	t->est = *est;
	t->observe = observe;
	t->targets_fd = targets_fd;
	t->dests_fd = dests_fd;
	t->status_fd = status_fd;
	t->limits = (struct budget_config){ .budget = budget, .min_buf = est->min_buf,
					    .hysteresis = est->hysteresis,
					    .pressure_shrinks = BUDGET_PRESSURE_SHRINKS,
					    .idle_ticks = BUDGET_IDLE_TICKS };
	t->dest_slots = calloc(TUNE_DEST_SLOTS, sizeof(*t->dest_slots));
	t->write_keys = calloc(TUNE_WRITE_BATCH, sizeof(*t->write_keys));
	t->write_targets = calloc(TUNE_WRITE_BATCH, sizeof(*t->write_targets));
	if (!t->dest_slots || !t->write_keys || !t->write_targets) {
		tuner_free(t);
		return -ENOMEM;
	}
	if (dest_table_init(&t->dests, t->dest_slots, TUNE_DEST_SLOTS, est->alpha)) {
		tuner_free(t);
		return -EINVAL;
	}
	return 0;
}

void tuner_reconfigure(struct tuner *t, const struct est_config *est, __u64 budget, bool observe)
{
	struct dest_map_key key, next;
	bool more;

	t->est = *est;
	t->observe = observe;
	t->limits.budget = budget;
	t->limits.min_buf = est->min_buf;
	t->limits.hysteresis = est->hysteresis;
	/* learned under other settings or policies: not to be handed out */
	dest_table_init(&t->dests, t->dest_slots, TUNE_DEST_SLOTS, est->alpha);
	if (t->dests_learned)
		*t->dests_learned = 0;
	t->dests_learned_saved = 0;
	for (more = bpf_map_get_next_key(t->dests_fd, NULL, &key) == 0; more; key = next) {
		more = bpf_map_get_next_key(t->dests_fd, &key, &next) == 0;
		bpf_map_delete_elem(t->dests_fd, &key);
	}
}

void tuner_free(struct tuner *t)
{
	free(t->conns);
	free(t->next_conns);
	free(t->decisions);
	free(t->budget_conns);
	free(t->dest_slots);
	free(t->write_keys);
	free(t->write_targets);
	t->write_keys = NULL;
	t->write_targets = NULL;
	t->nwrites = 0;
	t->conns = t->next_conns = NULL;
	t->decisions = NULL;
	t->budget_conns = NULL;
	t->dest_slots = NULL;
	t->work_cap = 0;
}

static struct est_sample sample_of(const struct conn_stats *s)
{
	return (struct est_sample){
		.now_us = s->updated_ns / 1000,
		.srtt_us = s->srtt_us,
		.min_rtt_us = s->min_rtt_us,
		.rcv_rtt_us = s->rcv_rtt_us,
		.mss = s->mss,
		.snd_cwnd = s->snd_cwnd,
		.delivery_rate_Bps = s->delivery_rate_Bps,
		.bytes_acked = s->bytes_acked,
		.bytes_received = s->bytes_received,
		.snd_queue_bytes = s->snd_queue_bytes,
		.rcv_queue_bytes = s->rcv_queue_bytes,
		.sndbuf = s->sndbuf,
		.rcvbuf = s->rcvbuf,
		.sndbuf_limited_us = s->sndbuf_limited_us,
		.rwnd_limited_us = s->rwnd_limited_us,
		.busy_us = s->busy_us,
		.app_locks = s->app_locks,
		.sndbuf_cap = s->sndbuf_cap,
		.rcvbuf_cap = s->rcvbuf_cap,
		.app_limited = s->app_limited != 0,
		.buf_locks = s->buf_locks,
		.notsent_lowat = s->notsent_lowat,
		.active_us = s->active_us,
		.drained_reads = s->drained_reads,
	};
}

/* Loopback connections are bound by CPU, not by a path: a BDP of a few
 * microseconds would starve them, so they stay with the kernel's autotuning. */
static bool is_loopback(const struct conn_stats *s)
{
	static const __u8 mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const __u8 v6_loopback[16] = { [15] = 1 };

	if (s->family == AF_INET)
		return s->daddr[0] == 127;
	if (!memcmp(s->daddr, mapped, sizeof(mapped)))
		return s->daddr[12] == 127;
	return !memcmp(s->daddr, v6_loopback, sizeof(v6_loopback));
}

static int by_cookie(const void *a, const void *b)
{
	__u64 x = ((const struct flow *)a)->cookie, y = ((const struct flow *)b)->cookie;

	return x < y ? -1 : x > y;
}

static bool sorted_by_cookie(const struct flow *flows, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (flows[i - 1].cookie > flows[i].cookie)
			return false;
	return true;
}

/* Are these the connections of the last tick, in the same order? */
static bool same_connections(const struct tuner *t, const struct flow *flows, size_t n)
{
	if (n != t->nconns)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t->conns[i].cookie != flows[i].cookie)
			return false;
	return true;
}

/* One line per change: connection, buffer, old -> new, reason. */
static void log_change(const struct flow *f, const char *buffer, __u32 old, __u32 new,
		       unsigned int reason, bool observe)
{
	char saddr[ADDR_STRLEN], daddr[ADDR_STRLEN], from[16], to[16];
	bool unlimited = old == 0 && !strcmp(buffer, "notsent_lowat");

	log_info("%s %s:%u -> %s:%u cookie %llu %s %s -> %s (%s)", observe ? "would change" : "change",
		 format_addr(f->s.family, f->s.saddr, saddr), f->s.sport,
		 format_addr(f->s.family, f->s.daddr, daddr), f->s.dport,
		 (unsigned long long)f->cookie, buffer, unlimited ? "unlimited" : format_si(old, "B", from, sizeof(from)),
		 format_si(new, "B", to, sizeof(to)), tune_reason_name(reason));
}

/* A send-buffer target that a regrowth overtook is never applied: the
 * size the connection has is its target now, so flows shows it and the
 * budget counts it. True when it changed. */
static bool adopt_regrowth(struct conn_target *target, const struct conn_stats *s)
{
	if (!target_overtaken(target->sndbuf, s->sndbuf, target->sndbuf_from))
		return false;
	target->sndbuf = target->sndbuf_from = s->sndbuf;
	return true;
}

static void record_change(struct tuner *t, struct conn_target *target, const struct flow *f, bool observe,
			  enum change_buffer buffer, __u32 old, __u32 new, unsigned int reason)
{
	target->change_buffer = (__u16)buffer;
	target->change_reason = (__u16)reason;
	target->change_old = old;
	target->change_new = new;
	target->change_ns = monotonic_ns();
	if (buffer > CHANGE_NONE && buffer < CHANGE_BUFFERS && reason < TUNE_REASONS) {
		t->changes[buffer][reason]++;
		if (t->logged_this_tick >= TUNE_LOG_CHANGES_PER_TICK)
			t->unlogged[buffer][reason]++;
	}
	if (t->logged_this_tick++ < TUNE_LOG_CHANGES_PER_TICK)
		log_change(f, format_change_buffer((__u16)buffer), old, new, reason, observe);
}

/* One line for the changes of this tick past TUNE_LOG_CHANGES_PER_TICK. */
static void log_unlogged(struct tuner *t)
{
	char counts[512];
	size_t len = 0, total = 0;

	for (int b = CHANGE_SNDBUF; b < CHANGE_BUFFERS; b++)
		for (int r = 0; r < TUNE_REASONS; r++) {
			if (!t->unlogged[b][r])
				continue;
			total += t->unlogged[b][r];
			if (len < sizeof(counts))
				len += (size_t)snprintf(counts + len, sizeof(counts) - len, "%s%s %s %llu", len ? ", " : "",
							format_change_buffer((__u16)b), tune_reason_name((unsigned int)r),
							(unsigned long long)t->unlogged[b][r]);
		}
	memset(t->unlogged, 0, sizeof(t->unlogged));
	t->logged_this_tick = 0;
	if (total)
		log_info("%zu more %schanges this tick, not logged one by one: %s (flows shows each connection's last change; the metrics count them all)",
			 total, t->observe ? "would-" : "", counts);
}

/* tcp_mem as read for this tick: once, by whichever of tuner_pressure_ahead()
 * and update_pressure() comes first. 0, or the read's error with why set. */
static int tick_mem(struct tuner *t, struct tcp_mem_state *mem, char *why, size_t len)
{
	if (!t->mem_read_for_tick) {
		t->mem_err = tcp_mem_read(&t->mem, t->mem_why, sizeof(t->mem_why));
		t->mem_read_for_tick = true;
	}
	*mem = t->mem;
	snprintf(why, len, "%s", t->mem_why);
	return t->mem_err;
}

bool tuner_pressure_ahead(struct tuner *t)
{
	struct tcp_mem_state mem;
	char why[256];

	if (t->pressure)
		return true;
	return tick_mem(t, &mem, why, sizeof(why)) == 0 && tcp_mem_pressure(&mem, false);
}

void tuner_targets_applied(struct tuner *t)
{
	t->nchanged_netns = 0;
	t->urgent = false;
}

/* The targets pass enters the namespace of each change. */
static void note_netns(struct tuner *t, __u64 netns_cookie)
{
	if (t->nchanged_netns < 0)
		return;
	for (int i = 0; i < t->nchanged_netns; i++)
		if (t->changed_netns[i] == netns_cookie)
			return;
	if (t->nchanged_netns == TUNE_CHANGED_NETNS)
		t->nchanged_netns = -1;
	else
		t->changed_netns[t->nchanged_netns++] = netns_cookie;
}

static struct dest_map_key map_key_of(const struct dest_key *key)
{
	struct dest_map_key map_key = { .cgroup_id = key->cgroup_id, .family = key->family };

	memcpy(map_key.prefix, key->addr, sizeof(map_key.prefix));
	return map_key;
}

/* Folds one size into the table's entry for KEY; dests_publish() copies it to
 * dest_sizes. A destination the table replaced leaves dest_sizes now: the
 * map has as many entries as the table, and one that kept replaced keys
 * would fill up and refuse every destination learned after. */
static void learn_key(struct tuner *t, const struct dest_key *key, __u32 sndbuf, __u32 rcvbuf,
		      __u64 now_us)
{
	struct dest_map_key map_key;
	struct dest_key evicted;

	if (dest_learn(&t->dests, key, sndbuf, rcvbuf, now_us, &evicted) || !evicted.family)
		return;
	map_key = map_key_of(&evicted);
	bpf_map_delete_elem(t->dests_fd, &map_key);
}

/* The destinations whose sizes changed this tick, written once each (every
 * connection to a destination folds into it: one write per connection would
 * be a system call per connection per tick). */
static void dests_publish(struct tuner *t)
{
	struct dest_entry *e;
	size_t cursor = 0;

	while ((e = dest_next_dirty(&t->dests, &cursor))) {
		struct conn_target learned = {};
		struct dest_map_key map_key;

		map_key = map_key_of(&e->key);
		learned.sndbuf = e->sndbuf;
		learned.rcvbuf = e->rcvbuf;
		if (bpf_map_update_elem(t->dests_fd, &map_key, &learned, BPF_ANY))
			continue; /* dirty still: tried again next tick */
		e->dirty = false;
		if (t->dests_learned && !*t->dests_learned)
			*t->dests_learned = 1; /* sockops starts looking destinations up */
	}
}

/* Per (cgroup, remote prefix), and the receive side also per remote prefix
 * alone (cgroup 0): a listener's SYN-ACK window is chosen before the
 * connection has a cgroup sockops can read (bpf/sockops.bpf.c). */
static void learn(struct tuner *t, const struct flow *f, const struct est_decision *d)
{
	struct dest_key key, any_cgroup;
	__u64 now_us = f->s.updated_ns / 1000;

	if (!d->learn_sndbuf && !d->learn_rcvbuf)
		return; /* most connections, most ticks: before the keys are made */
	key = dest_key_make(f->s.cgroup_id, f->s.family, f->s.daddr);
	learn_key(t, &key, d->learn_sndbuf, d->learn_rcvbuf, now_us);
	if (d->learn_rcvbuf) {
		any_cgroup = dest_key_make(0, f->s.family, f->s.daddr);
		learn_key(t, &any_cgroup, 0, d->learn_rcvbuf, now_us);
	}
}

/* The pressure state from tcp_mem, its changes logged. While it holds, sockops
 * stops handing learned sizes to new connections too: they would grow them. */
static void update_pressure(struct tuner *t, struct tcp_mem_state *mem)
{
	char why[256], used[16], assigned[16], budget[16];
	bool was = t->pressure;

	int err = tick_mem(t, mem, why, sizeof(why));

	t->mem_read_for_tick = false; /* the next tick reads again */
	if (err) {
		if (!t->mem_unreadable)
			log_error("%s: TCP memory pressure is not watched until it can be read", why);
		t->mem_unreadable = true;
		*mem = (struct tcp_mem_state){};
	} else {
		t->mem_unreadable = false;
	}
	t->pressure = tcp_mem_pressure(mem, was);
	if (t->pressure == was)
		return;
	format_si(mem->used * 4096.0, "B", used, sizeof(used));
	format_si((double)t->assigned, "B", assigned, sizeof(assigned));
	if (t->limits.budget)
		format_si((double)t->limits.budget, "B", budget, sizeof(budget));
	else
		snprintf(budget, sizeof(budget), "unlimited");
	if (t->pressure)
		log_info("TCP memory pressure: %llu pages in use (%s), tcp_mem pressure at %llu: no buffer grows, idle buffers shrink (assigned %s, budget %s)",
			 (unsigned long long)mem->used, used, (unsigned long long)mem->pressure, assigned, budget);
	else
		log_info("TCP memory pressure over: %llu pages in use (%s), tcp_mem low %llu: buffers may grow again (assigned %s, budget %s)",
			 (unsigned long long)mem->used, used, (unsigned long long)mem->low, assigned, budget);
	if (!t->dests_learned || t->observe)
		return;
	if (t->pressure) {
		t->dests_learned_saved = *t->dests_learned;
		*t->dests_learned = 0;
	} else {
		*t->dests_learned = t->dests_learned_saved;
	}
}

/* The figures `bpftool map dump pinned .../status` shows next to the pass. */
static void publish(struct tuner *t, const struct tcp_mem_state *mem)
{
	struct agent_status st = {};
	__u32 key = 0;

	if (bpf_map_lookup_elem(t->status_fd, &key, &st))
		return;
	st.assigned_bytes = t->assigned;
	st.budget_bytes = t->limits.budget;
	st.tcp_mem_pages = mem->used;
	st.tcp_mem_pressure_pages = mem->pressure;
	st.pressure = t->pressure;
	bpf_map_update_elem(t->status_fd, &key, &st, BPF_ANY);
}

static void log_budget(struct tuner *t, const struct budget_result *r)
{
	bool full = t->limits.budget && t->limits.budget - r->assigned < t->limits.min_buf;
	char assigned[16], budget[16];

	if (full != t->budget_full) {
		format_si((double)r->assigned, "B", assigned, sizeof(assigned));
		format_si((double)t->limits.budget, "B", budget, sizeof(budget));
		if (full)
			log_info("budget full: %s of %s assigned; grows are cut or refused until buffers shrink or connections close",
				 assigned, budget);
		else
			log_info("budget has room again: %s of %s assigned", assigned, budget);
	}
	t->budget_full = full;
	log_debug("tuner: assigned %llu of budget %llu bytes, pressure %s; %u grows dropped, %u pressure shrinks, %u capped, %u refused",
		  (unsigned long long)r->assigned, (unsigned long long)t->limits.budget, t->pressure ? "yes" : "no",
		  r->dropped, r->pressure_shrinks, r->capped, r->refused);
}

static void budget_buf_of(struct budget_buf *b, __u32 cur, __u32 assigned, __u32 queued, bool app_owned,
			  __u32 next, enum est_reason reason)
{
	*b = (struct budget_buf){ .cur = cur, .assigned = assigned, .queued = queued, .app_owned = app_owned,
				  .next = next, .reason = reason };
}

/* Policies with a budget of their own: after the global pass, the grows of
 * each such policy's connections are cut again to what its budget has left
 * (pressure is the global pass's business). */
static void policy_budgets(struct tuner *t, const struct conn_track *conns, struct budget_conn *bc, size_t n)
{
	bool done[CONFIG_MAX_POLICIES + 1] = {};
	struct budget_conn *sub;
	size_t *where;

	for (size_t k = 0; k < n; k++) {
		const struct conn_track *first = &conns[bc[k].id];
		int group = first->budget_group;
		struct budget_config limits = t->limits;
		struct budget_result r;
		size_t m = 0;

		if (group <= 0 || group > CONFIG_MAX_POLICIES || done[group] || !first->group_budget ||
		    !bc[k].tunable)
			continue;
		done[group] = true; /* its first connection: the group is gathered now */
		sub = calloc(n, sizeof(*sub));
		where = calloc(n, sizeof(*where));
		if (!sub || !where) {
			free(sub), free(where);
			return;
		}
		for (size_t j = k; j < n; j++) {
			if (!bc[j].tunable || conns[bc[j].id].budget_group != group)
				continue;
			where[m] = j;
			sub[m] = bc[j];
			sub[m].id = m;
			m++;
		}
		limits.budget = first->group_budget;
		budget_apply(&limits, false, sub, m, &r);
		for (size_t j = 0; j < m; j++) {
			struct budget_conn *out = &bc[where[sub[j].id]];

			memcpy(out->buf, sub[j].buf, sizeof(out->buf));
		}
		log_debug("tuner: policy budget %llu: %llu assigned, %u capped, %u refused",
			  (unsigned long long)limits.budget, (unsigned long long)r.assigned, r.capped, r.refused);
		free(sub), free(where);
	}
}

/*
 * Three phases: the estimator decides for every connection; the safety limits
 * adjust all decisions together (budget_apply); the targets are written.
 * est_update() assumes every change it returns is made, and records its tick
 * for the rate limit: a grow the budget refuses or pressure drops is simply
 * not made, the buffer stays, and the estimator asks again after
 * min_change_interval ticks (probes: the next tick), seeing the real size.
 * A pressure shrink is not the estimator's: it sees the smaller buffer in the
 * next sample and, pressure over, grows it back to its target in one step.
 */
/* *array grown to cap elements (left as it was when that fails). */
static bool grow_array(void **array, size_t cap, size_t size)
{
	void *grown = realloc(*array, cap * size);

	if (!grown)
		return false;
	*array = grown;
	return true;
}

/* The targets queued by target_write(), written. A failure leaves those
 * buffers as they are until the connection's next change. */
static void targets_flush(struct tuner *t)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	__u32 count = (__u32)t->nwrites;
	int err;

	if (!t->nwrites)
		return;
	err = bpf_map_update_batch(t->targets_fd, t->write_keys, t->write_targets, &count, &opts);
	if (err)
		log_error("writing %zu buffer targets to the targets map failed after %u: %s",
			  t->nwrites, count, strerror(-err));
	t->nwrites = 0;
}

/* A connection's new target, written with others at the end of the tick:
 * a system call per TUNE_WRITE_BATCH targets, not per target. */
static void target_write(struct tuner *t, __u64 cookie, const struct conn_target *target)
{
	t->write_keys[t->nwrites] = cookie;
	t->write_targets[t->nwrites++] = *target;
	if (t->nwrites == TUNE_WRITE_BATCH)
		targets_flush(t);
}

/* A connection that is gone: its target too. */
static void target_forget(struct tuner *t, __u64 cookie)
{
	bpf_map_delete_elem(t->targets_fd, &cookie);
}

/* The working arrays for n connections: decisions and budget_conns zeroed;
 * next_conns is filled in by tuner_tick. */
static int work_reserve(struct tuner *t, size_t n)
{
	if (n > t->work_cap) {
		size_t cap = t->work_cap ? t->work_cap : 256;
		bool ok;

		while (cap < n)
			cap *= 2;
		/* the table too: it is the next tick's working array (kept as is) */
		ok = grow_array((void **)&t->conns, cap, sizeof(*t->conns));
		ok &= grow_array((void **)&t->next_conns, cap, sizeof(*t->next_conns));
		ok &= grow_array((void **)&t->decisions, cap, sizeof(*t->decisions));
		ok &= grow_array((void **)&t->budget_conns, cap, sizeof(*t->budget_conns));
		if (!ok)
			return -ENOMEM;
		t->work_cap = cap;
	}
	memset(t->decisions, 0, n * sizeof(*t->decisions));
	memset(t->budget_conns, 0, n * sizeof(*t->budget_conns));
	return 0;
}

size_t tuner_tick(struct tuner *t, struct flow *flows, size_t n)
{
	struct conn_track *next;
	struct est_decision *dec;
	struct budget_conn *bc;
	struct tcp_mem_state mem;
	struct budget_result res;
	size_t j = 0, changes = 0;
	bool in_place;

	if (work_reserve(t, n ? n : 1)) {
		log_error("tuning skipped this tick: out of memory");
		return 0;
	}
	dec = t->decisions, bc = t->budget_conns;
	/* the collector's table is sorted already; flows may be NULL when n is 0,
	 * which qsort must not get */
	if (n && !sorted_by_cookie(flows, n))
		qsort(flows, n, sizeof(*flows), by_cookie);
	/* no connection came or went (most ticks): the state is updated where
	 * it is, not copied to the other array (megabytes a tick) */
	in_place = same_connections(t, flows, n);
	next = in_place ? t->conns : t->next_conns;
	for (size_t i = 0; i < n; i++) {
		const struct flow *f = &flows[i];
		struct conn_track *c = &next[i];
		struct est_sample sample = sample_of(&f->s);
		struct est_decision *d = &dec[i];
		struct tune_policy pol;
		bool seen;

		/* carry the state of connections seen before (both lists are
		 * sorted); those passed over are gone */
		while (!in_place && j < t->nconns && t->conns[j].cookie < f->cookie)
			target_forget(t, t->conns[j++].cookie);
		if (!in_place && j < t->nconns && t->conns[j].cookie == f->cookie)
			*c = t->conns[j++];
		else if (!in_place)
			memset(c, 0, sizeof(*c));
		c->cookie = f->cookie;
		if (!c->observe && adopt_regrowth(&c->target, &f->s))
			target_write(t, f->cookie, &c->target);
		bc[i].id = i;
		/* sizes the agent set count against the budget until the connection closes */
		bc[i].buf[BUDGET_SND].assigned = c->target.sndbuf;
		bc[i].buf[BUDGET_RCV].assigned = c->target.rcvbuf;
		if (!f->s.updated_ns || is_loopback(&f->s))
			continue; /* not refreshed by a pass yet, or left to the kernel */
		pol = (struct tune_policy){ .est = t->est, .mode = t->observe ? MODE_OBSERVE : MODE_TUNE };
		if (t->policy)
			t->policy(t->policy_ctx, f, &pol);
		if (pol.mode == MODE_OFF)
			continue; /* its policy: left alone */
		c->observe = pol.mode == MODE_OBSERVE;
		c->budget_group = pol.budget_group;
		c->group_budget = pol.budget;
		seen = c->st.tick > 0;
		est_update(&pol.est, &c->st, &sample, d);
		c->idle_ticks = d->sender || d->receiver || !seen ? 0 : c->idle_ticks + 1;
		bc[i].tunable = true;
		bc[i].idle_ticks = c->idle_ticks;
		budget_buf_of(&bc[i].buf[BUDGET_SND], f->s.sndbuf, c->target.sndbuf, f->s.snd_queue_bytes,
			      f->s.app_locks & EST_LOCK_SNDBUF, d->sndbuf, d->snd_reason);
		budget_buf_of(&bc[i].buf[BUDGET_RCV], f->s.rcvbuf, c->target.rcvbuf, f->s.rcv_queue_bytes,
			      f->s.app_locks & EST_LOCK_RCVBUF, d->rcvbuf, d->rcv_reason);
	}

	update_pressure(t, &mem);
	budget_apply(&t->limits, t->pressure, bc, n, &res);
	t->assigned = res.assigned;
	log_budget(t, &res);
	policy_budgets(t, next, bc, n);

	for (size_t k = 0; k < n; k++) {
		size_t i = bc[k].id;
		const struct flow *f = &flows[i];
		const struct est_decision *d = &dec[i];
		const struct budget_buf *snd = &bc[k].buf[BUDGET_SND], *rcv = &bc[k].buf[BUDGET_RCV];
		struct conn_track *c = &next[i];
		struct conn_target before;
		size_t changes_before = changes;

		if (!bc[k].tunable)
			continue;
		before = c->target;
		c->target.flags = (d->snd_limited ? TARGET_SND_LIMITED : 0) |
				  (d->rcv_limited ? TARGET_RCV_LIMITED : 0) |
				  (d->rcv_app_limited ? TARGET_RCV_APP_LIMITED : 0) |
				  (c->observe ? TARGET_OBSERVE : 0) |
				  (t->limits.budget || c->group_budget || t->pressure ? TARGET_NO_REGROW : 0);
		if (snd->next) {
			record_change(t, &c->target, f, c->observe, CHANGE_SNDBUF, f->s.sndbuf, snd->next, snd->reason);
			c->target.sndbuf = snd->next;
			c->target.sndbuf_from = f->s.sndbuf;
			changes += !c->observe;
			t->urgent |= !c->observe && snd->reason != EST_SHRINK;
		}
		if (rcv->next) {
			record_change(t, &c->target, f, c->observe, CHANGE_RCVBUF, f->s.rcvbuf, rcv->next, rcv->reason);
			c->target.rcvbuf = rcv->next;
			changes += !c->observe;
			t->urgent |= !c->observe && rcv->reason != EST_SHRINK;
			/* the window the buffer backs, in the estimator's proportion; a
			 * pressure shrink leaves the clamp: the smaller buffer bounds the
			 * window by itself */
			if (rcv->reason != BUDGET_PRESSURE && d->rcvbuf)
				c->target.window_clamp = (__u32)((__u64)d->window_clamp * rcv->next / d->rcvbuf);
		}
		/* not buffer memory: outside the budget. Under pressure only a lower
		 * mark (less unsent data queued; 0 in force is unlimited) */
		if (d->notsent_lowat &&
		    !(t->pressure && f->s.notsent_lowat && d->notsent_lowat > f->s.notsent_lowat)) {
			record_change(t, &c->target, f, c->observe, CHANGE_NOTSENT_LOWAT, f->s.notsent_lowat, d->notsent_lowat, d->lowat_reason);
			c->target.notsent_lowat = d->notsent_lowat;
			changes += !c->observe;
		}
		/* written in observe mode too, so flows and top show what would be
		 * done; only when it changed (a syscall per connection per tick
		 * otherwise: an entry's absence reads as all zero, like a new one) */
		if (memcmp(&before, &c->target, sizeof(before)))
			target_write(t, f->cookie, &c->target);
		if (changes > changes_before)
			note_netns(t, f->s.netns_cookie);
		/* learned sizes are set by sockops, outside the budget's account, and
		 * would grow new connections under pressure */
		if (!c->observe && !t->limits.budget && !t->pressure)
			learn(t, f, d);
	}
	targets_flush(t);
	log_unlogged(t);
	if (!t->pressure) /* sockops hands out nothing meanwhile (update_pressure) */
		dests_publish(t);
	publish(t, &mem);
	if (!in_place) {
		while (j < t->nconns)
			target_forget(t, t->conns[j++].cookie);
		/* the tick's array becomes the table; the old one is the next tick's */
		t->next_conns = t->conns;
		t->conns = next;
	}
	t->nconns = n;
	return changes;
}
