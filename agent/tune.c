// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "log.h"
#include "system.h"
#include "tune.h"

int tuner_init(struct tuner *t, const struct est_config *est, bool observe, int targets_fd, int dests_fd,
	       __u32 *dests_learned)
{
	memset(t, 0, sizeof(*t));
	t->dests_learned = dests_learned;
	t->est = *est;
	t->observe = observe;
	t->targets_fd = targets_fd;
	t->dests_fd = dests_fd;
	t->dest_slots = calloc(TUNE_DEST_SLOTS, sizeof(*t->dest_slots));
	if (!t->dest_slots)
		return -ENOMEM;
	if (dest_table_init(&t->dests, t->dest_slots, TUNE_DEST_SLOTS, est->alpha)) {
		free(t->dest_slots);
		return -EINVAL;
	}
	return 0;
}

void tuner_free(struct tuner *t)
{
	free(t->conns);
	free(t->dest_slots);
	t->conns = NULL;
	t->dest_slots = NULL;
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
		.app_locks = s->app_locks,
		.notsent_lowat = s->notsent_lowat,
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

/* One line per change: connection, buffer, old -> new, reason. */
static void log_change(const struct flow *f, const char *buffer, __u32 old, __u32 new,
		       enum est_reason reason, bool observe)
{
	char saddr[ADDR_STRLEN], daddr[ADDR_STRLEN], from[16], to[16];
	bool unlimited = old == 0 && !strcmp(buffer, "notsent_lowat");

	log_info("%s %s:%u -> %s:%u cookie %llu %s %s -> %s (%s)", observe ? "would change" : "change",
		 format_addr(f->s.family, f->s.saddr, saddr), f->s.sport,
		 format_addr(f->s.family, f->s.daddr, daddr), f->s.dport,
		 (unsigned long long)f->cookie, buffer, unlimited ? "unlimited" : format_si(old, "B", from, sizeof(from)),
		 format_si(new, "B", to, sizeof(to)), est_reason_name(reason));
}

static void record_change(struct tuner *t, struct conn_target *target, const struct flow *f, int buffer,
			  __u32 old, __u32 new, enum est_reason reason)
{
	target->change_buffer = (__u16)buffer;
	target->change_reason = (__u16)reason;
	target->change_old = old;
	target->change_new = new;
	target->change_ns = monotonic_ns();
	log_change(f, format_change_buffer((__u16)buffer), old, new, reason, t->observe);
}

static void learn(struct tuner *t, const struct flow *f, const struct est_decision *d)
{
	struct dest_key key = dest_key_make(f->s.cgroup_id, f->s.family, f->s.daddr);
	struct dest_map_key map_key = { .cgroup_id = key.cgroup_id, .family = key.family };
	struct conn_target learned = {};

	if (!d->snd_target && !d->rcv_target)
		return;
	if (dest_learn(&t->dests, &key, d->snd_target, d->rcv_target, f->s.updated_ns / 1000) ||
	    !dest_lookup(&t->dests, &key, &learned.sndbuf, &learned.rcvbuf))
		return;
	memcpy(map_key.prefix, key.addr, sizeof(map_key.prefix));
	if (bpf_map_update_elem(t->dests_fd, &map_key, &learned, BPF_ANY) == 0 && t->dests_learned &&
	    !*t->dests_learned)
		*t->dests_learned = 1; /* sockops starts looking destinations up */
}

size_t tuner_tick(struct tuner *t, struct flow *flows, size_t n)
{
	struct conn_track *next = calloc(n ? n : 1, sizeof(*next));
	size_t j = 0, changes = 0;

	if (!next) {
		log_error("tuning skipped this tick: out of memory");
		return 0;
	}
	qsort(flows, n, sizeof(*flows), by_cookie);
	for (size_t i = 0; i < n; i++) {
		const struct flow *f = &flows[i];
		struct conn_track *c = &next[i];
		struct est_sample sample = sample_of(&f->s);
		struct est_decision d;

		/* carry the state of connections seen before (both lists are sorted) */
		while (j < t->nconns && t->conns[j].cookie < f->cookie)
			j++;
		if (j < t->nconns && t->conns[j].cookie == f->cookie)
			*c = t->conns[j];
		c->cookie = f->cookie;
		if (!f->s.updated_ns || is_loopback(&f->s))
			continue; /* not refreshed by a pass yet, or left to the kernel */
		est_update(&t->est, &c->st, &sample, &d);

		c->target.flags = (d.snd_limited ? TARGET_SND_LIMITED : 0) |
				  (d.rcv_limited ? TARGET_RCV_LIMITED : 0) |
				  (d.rcv_app_limited ? TARGET_RCV_APP_LIMITED : 0);
		if (d.sndbuf) {
			record_change(t, &c->target, f, 1, f->s.sndbuf, d.sndbuf, d.snd_reason);
			c->target.sndbuf = d.sndbuf;
			changes++;
		}
		if (d.rcvbuf) {
			record_change(t, &c->target, f, 2, f->s.rcvbuf, d.rcvbuf, d.rcv_reason);
			c->target.rcvbuf = d.rcvbuf;
			c->target.window_clamp = d.window_clamp;
			changes++;
		}
		if (d.notsent_lowat) {
			record_change(t, &c->target, f, 3, f->s.notsent_lowat, d.notsent_lowat, d.lowat_reason);
			c->target.notsent_lowat = d.notsent_lowat;
			changes++;
		}
		/* written in observe mode too, so flows and top show what would be done */
		bpf_map_update_elem(t->targets_fd, &f->cookie, &c->target, BPF_ANY);
		if (!t->observe)
			learn(t, f, &d);
	}
	/* targets of connections that are gone */
	for (size_t k = 0; k < t->nconns; k++) {
		struct flow key = { .cookie = t->conns[k].cookie };

		if (!bsearch(&key, flows, n, sizeof(*flows), by_cookie))
			bpf_map_delete_elem(t->targets_fd, &t->conns[k].cookie);
	}
	free(t->conns);
	t->conns = next;
	t->nconns = n;
	return t->observe ? 0 : changes;
}
