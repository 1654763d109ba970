// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "core/format.h"
#include "runtime/log.h"
#include "runtime/sysctl.h"
#include "runtime/system.h"
#include "runtime/tune.h"

int tuner_init(struct tuner *t, const struct est_config *est, __u64 budget, bool observe,
	       int targets_fd, int dests_fd, int status_fd, __u32 *dests_learned)
{
	memset(t, 0, sizeof(*t));
	t->dests_learned = dests_learned;
	t->est = *est;
	t->observe = observe;
	t->targets_fd = targets_fd;
	t->dests_fd = dests_fd;
	t->status_fd = status_fd;
	t->limits = (struct budget_config){ .budget = budget,
					    .min_buf = est->min_buf,
					    .hysteresis = est->hysteresis,
					    .pressure_shrinks = BUDGET_PRESSURE_SHRINKS,
					    .idle_ticks = BUDGET_IDLE_TICKS };
	t->work.block = TUNE_PLAN_BLOCK;
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
	struct plan_work *w = &t->work;

	free(t->conns);
	free(w->decisions), free(w->conn_of), free(w->budget), free(w->group), free(w->group_where);
	free(w->actions), free(w->gone), free(w->evicted);
	free(t->policies);
	free(t->dest_slots);
	free(t->write_keys);
	free(t->write_targets);
	t->write_keys = NULL;
	t->write_targets = NULL;
	t->nwrites = 0;
	t->conns = NULL;
	*w = (struct plan_work){};
	t->policies = NULL;
	t->dest_slots = NULL;
	t->work_cap = 0;
}

/* One line per change: connection, buffer, old -> new, reason. */
static void log_change(const struct flow *f, const struct plan_change *ch)
{
	char saddr[ADDR_STRLEN], daddr[ADDR_STRLEN], from[16], to[16];
	bool unlimited = ch->old == 0 && ch->buffer == CHANGE_NOTSENT_LOWAT;

	log_info("%s %s:%u -> %s:%u cookie %llu %s %s -> %s (%s)",
		 ch->observe ? "would change" : "change",
		 format_addr(f->s.family, f->s.saddr, saddr), f->s.sport,
		 format_addr(f->s.family, f->s.daddr, daddr), f->s.dport,
		 (unsigned long long)f->cookie, format_change_buffer((__u16)ch->buffer),
		 unlimited ? "unlimited" : format_si(ch->old, "B", from, sizeof(from)),
		 format_si(ch->new, "B", to, sizeof(to)), tune_reason_name(ch->reason));
}

/* The plan's change lines, then one line for the changes past them. */
static void log_changes(const struct tuner *t, const struct flow *flows,
			const struct plan_output *out)
{
	char counts[512];
	size_t len = 0, total = 0;

	for (size_t i = 0; i < out->nlogged; i++)
		log_change(&flows[out->logged[i].conn], &out->logged[i]);
	for (int b = CHANGE_SNDBUF; b < CHANGE_BUFFERS; b++)
		for (int r = 0; r < TUNE_REASONS; r++) {
			if (!out->unlogged[b][r])
				continue;
			total += out->unlogged[b][r];
			if (len < sizeof(counts))
				len += (size_t)snprintf(counts + len, sizeof(counts) - len,
							"%s%s %s %llu", len ? ", " : "",
							format_change_buffer((__u16)b),
							tune_reason_name((unsigned int)r),
							(unsigned long long)out->unlogged[b][r]);
		}
	if (total)
		log_info(
			"%zu more %schanges this tick, not logged one by one: %s (flows shows each connection's last change; the metrics count them all)",
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
			log_error("%s: TCP memory pressure is not watched until it can be read",
				  why);
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
		log_info(
			"TCP memory pressure: %llu pages in use (%s), tcp_mem pressure at %llu: no buffer grows, idle buffers shrink (assigned %s, budget %s)",
			(unsigned long long)mem->used, used, (unsigned long long)mem->pressure,
			assigned, budget);
	else
		log_info(
			"TCP memory pressure over: %llu pages in use (%s), tcp_mem low %llu: buffers may grow again (assigned %s, budget %s)",
			(unsigned long long)mem->used, used, (unsigned long long)mem->low, assigned,
			budget);
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
			log_info(
				"budget full: %s of %s assigned; grows are cut or refused until buffers shrink or connections close",
				assigned, budget);
		else
			log_info("budget has room again: %s of %s assigned", assigned, budget);
	}
	t->budget_full = full;
	log_debug(
		"tuner: assigned %llu of budget %llu bytes, pressure %s; %u grows dropped, %u pressure shrinks, %u capped, %u refused",
		(unsigned long long)r->assigned, (unsigned long long)t->limits.budget,
		t->pressure ? "yes" : "no", r->dropped, r->pressure_shrinks, r->capped, r->refused);
}

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

/* The working arrays for n connections, kept and grown from tick to tick. */
static int work_reserve(struct tuner *t, size_t n)
{
	struct plan_work *w = &t->work;
	size_t cap = t->work_cap ? t->work_cap : 256;
	bool ok;

	if (n <= t->work_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	/* the states too: each tick updates them in place */
	ok = grow_array((void **)&t->conns, cap, sizeof(*t->conns));
	ok &= grow_array((void **)&w->decisions, cap, sizeof(*w->decisions));
	ok &= grow_array((void **)&w->conn_of, cap, sizeof(*w->conn_of));
	ok &= grow_array((void **)&w->budget, cap, sizeof(*w->budget));
	ok &= grow_array((void **)&w->group, cap, sizeof(*w->group));
	ok &= grow_array((void **)&w->group_where, cap, sizeof(*w->group_where));
	ok &= grow_array((void **)&w->actions, cap, sizeof(*w->actions));
	ok &= grow_array((void **)&w->gone, cap, sizeof(*w->gone));
	ok &= grow_array((void **)&w->evicted, 2 * cap, sizeof(*w->evicted));
	ok &= grow_array((void **)&t->policies, cap, sizeof(*t->policies));
	if (!ok)
		return -ENOMEM;
	t->work_cap = cap;
	return 0;
}

/* Each tunable connection's settings, from the policies (which may look its
 * cgroup up): the plan takes them as they are. */
static void read_policies(struct tuner *t, const struct flow *flows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!plan_tunable(&flows[i]))
			continue;
		t->policies[i] =
			(struct tune_policy){ .est = t->est,
					      .mode = t->observe ? MODE_OBSERVE : MODE_TUNE };
		t->policy(t->policy_ctx, &flows[i], &t->policies[i]);
	}
}

/* The tick's input: the flows, the last tick's table, the settings. */
static struct plan_input plan_input_of(struct tuner *t, const struct flow *flows,
				       const __u64 *cookies, size_t n)
{
	if (t->policy)
		read_policies(t, flows, n);
	return (struct plan_input){
		.flows = flows,
		.cookies = cookies,
		.n = n,
		.prev = t->conns,
		.nprev = t->nconns,
		.policies = t->policy ? t->policies : NULL,
		.policy = { .est = t->est, .mode = t->observe ? MODE_OBSERVE : MODE_TUNE },
		.limits = t->limits,
		.pressure = t->pressure,
		.now_ns = monotonic_ns(),
		.dests = &t->dests,
	};
}

/* What the plan says to write: targets changed, targets of connections
 * gone, destinations the table replaced; the namespaces to apply in. */
static void plan_write(struct tuner *t, const struct flow *flows, size_t n,
		       const struct plan_output *out)
{
	for (size_t i = 0; i < n; i++) {
		if (out->actions[i] & PLAN_WRITE)
			target_write(t, flows[i].cookie, &out->conns[i].target);
		if (out->actions[i] & PLAN_APPLY)
			note_netns(t, flows[i].s.netns_cookie);
	}
	targets_flush(t);
	for (size_t i = 0; i < out->ngone; i++)
		target_forget(t, out->gone[i]);
	/* the map holds what the table holds: one that kept replaced keys would
	 * fill up and refuse every destination learned after */
	for (size_t i = 0; i < out->nevicted; i++) {
		struct dest_map_key map_key = map_key_of(&out->evicted[i]);

		bpf_map_delete_elem(t->dests_fd, &map_key);
	}
	t->urgent |= out->urgent;
	for (int b = 0; b < CHANGE_BUFFERS; b++)
		for (int r = 0; r < TUNE_REASONS; r++)
			t->changes[b][r] += out->counts[b][r];
}

static void log_groups(const struct plan_output *out)
{
	for (size_t g = 0; g < out->ngroups; g++)
		log_debug("tuner: policy budget %llu: %llu assigned, %u capped, %u refused",
			  (unsigned long long)out->groups[g].budget,
			  (unsigned long long)out->groups[g].result.assigned,
			  out->groups[g].result.capped, out->groups[g].result.refused);
}

size_t tuner_tick(struct tuner *t, const struct flow *flows, const __u64 *cookies, size_t n)
{
	struct tcp_mem_state mem;
	struct plan_input in;
	struct plan_output out;

	if (work_reserve(t, n ? n : 1)) {
		log_error("tuning skipped this tick: out of memory");
		return 0;
	}
	update_pressure(t, &mem);
	in = plan_input_of(t, flows, cookies, n);
	tick_plan(&in, &t->work, &out);
	t->assigned = out.budget.assigned;
	log_budget(t, &out.budget);
	log_groups(&out);
	plan_write(t, flows, n, &out);
	log_changes(t, flows, &out);
	if (!t->pressure) /* sockops hands out nothing meanwhile (update_pressure) */
		dests_publish(t);
	publish(t, &mem);
	t->nconns = n;
	return out.changes;
}
