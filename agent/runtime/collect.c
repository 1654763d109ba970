// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "runtime/collect.h"
#include "core/flowtable.h"
#include "runtime/log.h"
#include "runtime/sysctl.h"

static int flows_read_expecting(int flows_fd, struct flow **flows, size_t expect,
				struct collector *col);

static int run_iterator(struct bpf_link *link)
{
	char buf[64];
	int fd = bpf_iter_create(bpf_link__fd(link)), err = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	/* the program prints nothing: reading to EOF drives the walk */
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		err = -errno;
	close(fd);
	return err;
}

/* The iterator in the calling thread's network namespace. It scans every
 * bucket of the established hash, which is the host's (shared by every
 * namespace unless net.ipv4.tcp_child_ehash_entries gives each its own):
 * about 2.5 ms here whatever the namespace holds. A namespace without a TCP
 * socket has nothing to refresh or pick up, so it is not walked; it counts
 * as walked all the same, and any entry left of it is stale. */
static int walk_namespace(struct loader *ld)
{
	__u64 in_use;

	if (tcp_sockets_in_use(&in_use) == 0 && in_use == 0)
		return 0;
	return run_iterator(ld->iter_link);
}

static bool cookie_in(const __u64 *cookies, int n, __u64 cookie)
{
	for (int i = 0; i < n; i++)
		if (cookies[i] == cookie)
			return true;
	return false;
}

/* One read of the whole map, after a full or a walk pass. An entry created
 * in the future was written by something else, not for a socket: dropped.
 * After a full pass (walked != NULL), entries of walked namespaces that the
 * pass did not stamp, and that existed before it started, belong to sockets
 * that are gone: dropped too. What is left is returned in *flows. */
static int read_all(struct collector *col, int flows_fd, __u64 pass, __u64 start_ns,
		    const __u64 *walked, int nwalked, size_t expect, struct flow **flows,
		    struct pass_result *res)
{
	int n = flows_read_expecting(flows_fd, flows, expect, col);
	__u64 now_ns = monotonic_ns();
	size_t kept = 0;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		const struct conn_stats *s = &(*flows)[i].s;
		bool garbage = s->created_ns > now_ns;
		bool stale = walked && s->seen_pass != pass && s->created_ns < start_ns &&
			     cookie_in(walked, nwalked, s->netns_cookie);

		if ((garbage || stale) && bpf_map_delete_elem(flows_fd, &(*flows)[i].cookie) == 0) {
			res->stale++;
			continue;
		}
		(*flows)[kept++] = (*flows)[i];
	}
	return (int)kept;
}

static void publish_status(int status_fd, __u64 pass, __u64 start_ns, const struct pass_result *res)
{
	__u64 end = monotonic_ns();
	struct agent_status st = {};
	__u32 key = 0;

	/* keeps the tuner's fields, written after its tick */
	bpf_map_lookup_elem(status_fd, &key, &st);
	st.pass = pass;
	st.pass_start_ns = start_ns;
	st.pass_end_ns = end;
	st.pid = (__u32)getpid();
	st.namespaces = (__u32)res->namespaces;
	bpf_map_update_elem(status_fd, &key, &st, BPF_ANY);
}

/* The calling thread's namespace as the BPF programs key it: its cookie, or
 * where userspace cannot read that, its inode number (the plan tells BPF). */
static int netns_id_current(const struct loader *ld, __u64 *id)
{
	return ld->plan.netns_by_inode ? netns_inode_current(id) : netns_cookie_current(id);
}

/* Enter namespaces of the list in turn, walk them, and come back to the
 * agent's own. A full pass (only NULL) walks each and writes its cookie to
 * cookies[i] (0: could not be entered). A targets pass walks only those whose
 * cookie, as cookies[] remembers it, is in only[0..nonly), and checks that
 * the path still leads to that namespace. */
static int walk_namespaces(struct loader *ld, const struct netns *list, int n, __u64 *cookies,
			   const __u64 *only, int nonly, __u64 *walked, struct pass_result *res)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), err = 0;

	if (self < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		__u64 cookie = 0;
		int fd;

		if (only && (!cookies[i] || !cookie_in(only, nonly, cookies[i])))
			continue;
		fd = open(list[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET)) {
			if (fd >= 0)
				close(fd);
			res->skipped++;
			continue;
		}
		close(fd);
		if (netns_id_current(ld, &cookie) || (only && cookie != cookies[i])) {
			res->skipped++; /* gone, or the path names another namespace now */
			continue;
		}
		if (!only)
			cookies[i] = cookie;
		if (walk_namespace(ld) == 0)
			walked[res->namespaces++] = cookie;
		else
			res->skipped++;
	}
	if (setns(self, CLONE_NEWNET)) {
		/* every later socket call would run in the wrong namespace */
		err = -errno;
		log_error("cannot return to the agent's own network namespace: %s",
			  strerror(errno));
	}
	close(self);
	return err;
}

/* Every namespace: what the collector remembers is replaced by what was found. */
static int full_walk(struct loader *ld, struct collector *col, __u64 **walked,
		     struct pass_result *res)
{
	struct netns *list = NULL;
	__u64 *cookies;
	int n = netns_list(&list), err;

	if (n < 0)
		return n;
	cookies = calloc((size_t)n + 1, sizeof(*cookies));
	*walked = calloc((size_t)n + 1, sizeof(**walked));
	if (!cookies || !*walked) {
		free(list);
		free(cookies);
		return -ENOMEM;
	}
	err = walk_namespaces(ld, list, n, cookies, NULL, 0, *walked, res);
	free(col->ns);
	free(col->cookies);
	col->ns = list;
	col->cookies = cookies;
	col->nns = n;
	col->walked = res->namespaces;
	return err;
}

/* An iter/tcp pass of the given kind in the namespaces the last full pass
 * found whose cookies are in only[0..n). */
static int iter_pass_in(struct loader *ld, struct collector *col, enum iter_pass_kind kind,
			const __u64 *only, int n, struct pass_result *res)
{
	__u64 *walked = calloc((size_t)col->nns + 1, sizeof(*walked));
	int err;

	if (!walked)
		return -ENOMEM;
	loader_set_iter_pass(ld, kind);
	err = walk_namespaces(ld, col->ns, col->nns, col->cookies, only, n, walked, res);
	loader_set_iter_pass(ld, ITER_PASS_FULL);
	free(walked);
	return err;
}

/* The walk pass: over the marks at once, or where the kernel refuses
 * map-element iterators, iter/tcp in every known namespace. */
static int walk_pass(struct loader *ld, struct collector *col, struct pass_result *res)
{
	if (ld->refresh_link) {
		res->namespaces = col->walked;
		return run_iterator(ld->refresh_link);
	}
	return iter_pass_in(ld, col, ITER_PASS_WALK, col->cookies, col->nns, res);
}

/* A record of "moved": figures of a known connection go into the table
 * now; a head, or the figures of a connection new to the table, is kept for
 * the pass, which looks the entry up. */
static int event_add(void *ctx, void *data, size_t size)
{
	struct collector *col = ctx;
	const struct moved_head *head = data;

	if (size < sizeof(*head))
		return 0;
	if (head->with_figures && size >= sizeof(struct moved_figures) &&
	    flow_table_take_figures(&col->table, data))
		return 0;
	if (col->nevents == col->events_cap) {
		size_t cap = col->events_cap ? col->events_cap * 2 : 1024;
		struct moved_head *grown = realloc(col->events, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		col->events = grown;
		col->events_cap = cap;
	}
	col->events[col->nevents++] = *head;
	return 0;
}

/* What the ring buffer listed since it was last read: figures into the
 * table, heads added to those kept for the next pass. */
int collect_moved(struct collector *col)
{
	int n = ring_buffer__consume(col->ring);

	return n < 0 ? n : 0;
}

int collect_moved_fd(const struct collector *col)
{
	return col->ring ? ring_buffer__epoll_fd(col->ring) : -1;
}

static int flows_lookup(void *ctx, __u64 cookie, struct conn_stats *out)
{
	return bpf_map_lookup_elem(*(int *)ctx, &cookie, out);
}

/* The owners the task walk just wrote into the map, copied into the table
 * (an entry that does not move again would keep asking for the walk). */
static void table_owners(struct collector *col, int flows_fd)
{
	for (size_t i = 0; i < col->table.n; i++) {
		struct flow *f = &col->table.v[i];
		struct conn_stats s;

		if (f->s.pid)
			continue;
		memset(&s, 0, sizeof(s)); /* valgrind does not know the lookup writes it */
		if (bpf_map_lookup_elem(flows_fd, &f->cookie, &s) == 0 && s.pid) {
			f->s.pid = s.pid;
			memcpy(f->s.comm, s.comm, sizeof(f->s.comm));
		}
	}
}

const char *const pass_kind_name[] = { "events", "read", "walk", "full" };

/* Seconds between walk passes: where the walk is iter/tcp it costs about
 * what a full pass does, and the full passes alone refresh what moved
 * without a system call. */
static double walk_interval(const struct feature_plan *plan)
{
	return plan->walk == WALK_TCP_ITER ? FULL_PASS_INTERVAL_S : WALK_PASS_INTERVAL_S;
}

enum pass_kind collect_next_kind(struct loader *ld, struct collector *col, double now, bool exact)
{
	__u64 map_full = counter_read(ld->counters_fd, CNT_MAP_FULL);
	__u64 lost = counter_read(ld->counters_fd, CNT_EVENTS_LOST);
	enum pass_kind kind = PASS_EVENTS;

	/* without write and read events every tick walks; without marks, it
	 * is a full pass */
	if (ld->plan.collect != COLLECT_EVENTS)
		exact = true;
	/* turned away by a full map: picked up once there is room */
	if (ld->plan.collect == COLLECT_FULL_EACH_TICK || !col->started || col->full_due ||
	    now - col->last_full >= FULL_PASS_INTERVAL_S ||
	    (map_full != col->map_full && now - col->last_full >= PICKUP_INTERVAL_S))
		kind = PASS_FULL;
	else if (exact || now - col->last_walk >= walk_interval(&ld->plan))
		kind = PASS_WALK;
	else if (lost != col->events_lost)
		kind = ld->plan.walk == WALK_TCP_ITER ? PASS_READ : PASS_WALK;
	if (kind == PASS_FULL) {
		col->last_full = now;
		col->map_full = map_full;
		col->started = true;
		col->full_due = false;
	}
	if (kind == PASS_WALK || kind == PASS_FULL)
		col->last_walk = now;
	if (kind != PASS_EVENTS)
		col->events_lost = lost;
	return kind;
}

int collector_init(struct collector *col, struct loader *ld)
{
	memset(col, 0, sizeof(*col));
	col->ring = ring_buffer__new(ld->moved_fd, event_add, col, NULL);
	return col->ring ? 0 : -errno;
}

int collect_pass(struct loader *ld, struct collector *col, __u64 pass, enum pass_kind kind,
		 struct pass_result *res)
{
	__u64 *walked = NULL, start_ns = monotonic_ns();
	struct flow *flows = NULL;
	int err, n;

	memset(res, 0, sizeof(*res));
	/* after start_ns: what the tick lists from here on is newer */
	loader_set_tick(ld, pass);
	/* also before a read of the whole map, which covers what it listed */
	err = collect_moved(col);
	if (err)
		return err;
	switch (kind) {
	case PASS_FULL:
		err = full_walk(ld, col, &walked, res);
		break;
	case PASS_WALK:
		err = walk_pass(ld, col, res);
		break;
	case PASS_READ:
		res->namespaces = col->walked;
		break;
	default:
		err = flow_table_apply(&col->table, col->events, col->nevents, flows_lookup,
				       &ld->flows_fd);
		res->namespaces = col->walked;
		break;
	}
	/* applied, or superseded by the read of the whole map below */
	col->nevents = 0;
	if (!err && kind != PASS_EVENTS) {
		/* the read replaces the table: not both in memory at once */
		size_t expect = col->table.n;

		flow_table_free(&col->table);
		n = read_all(col, ld->flows_fd, pass, start_ns, walked, res->namespaces, expect,
			     &flows, res);
		if (n < 0)
			err = n;
		else if ((err = flow_table_replace(&col->table, flows, (size_t)n)))
			flow_table_free(&col->table);
	}
	free(walked);
	if (err)
		return err;
	/* An entry no event listed keeps the time of its figures (updated_ns):
	 * no write or read is not no traffic. A writer asleep on a full send
	 * buffer makes no system call while ACKs move its counters, and its
	 * next refresh must be measured against the time of the last one. */
	for (size_t i = 0; i < col->table.n; i++)
		if (!col->table.v[i].s.pid)
			res->unowned++;
	res->flows = col->table.v;
	res->tracked = col->table.n;
	res->cookies = flow_table_cookies(&col->table);
	if (!res->cookies)
		return -ENOMEM;
	/* tasks are not per namespace: one walk finds every owner (where the
	 * kernel has the task_file iterator) */
	if (res->unowned && ld->owners_link) {
		err = run_iterator(ld->owners_link);
		if (err)
			return err;
		table_owners(col, ld->flows_fd);
	}
	publish_status(ld->status_fd, pass, start_ns, res);
	return 0;
}

int collect_apply(struct loader *ld, struct collector *col, __u64 pass, const __u64 *netns, int n)
{
	struct pass_result res = {};
	int err = 0;

	loader_set_tick(ld, pass);
	if (n < 0) { /* more namespaces changed than the tuner noted: every known one */
		netns = col->cookies;
		n = col->nns;
	}
	/* elsewhere the sockops callbacks apply the targets */
	if (ld->plan.writeback == WRITEBACK_PASSES)
		err = iter_pass_in(ld, col, ITER_PASS_TARGETS, netns, n, &res);
	/* read now: the changed connections' figures go into the table, and
	 * the ring is empty again for the applications' records of the tick */
	return err ? err : collect_moved(col);
}

void collector_free(struct collector *col)
{
	ring_buffer__free(col->ring);
	free(col->ns);
	free(col->cookies);
	flow_table_free(&col->table);
	free(col->events);
	memset(col, 0, sizeof(*col));
}

/* Entries per bpf_map_lookup_batch() call: one system call per chunk rather
 * than two per entry (get_next_key + lookup: 40,000 calls a tick at 20,000
 * connections). A get_next_key walk also restarts from the first key when
 * the key it stands on is deleted meanwhile, as churn does; the batch cursor
 * is a bucket index, which deletions leave in place. */
#define FLOWS_BATCH 1024

/* expect: about how many entries there are (0: unknown), so the array is
 * allocated once rather than doubled (each doubling a copy, and the peak
 * memory of both). */
/* col (NULL: none): "moved" is read between batches, so a read of a large
 * map does not overflow it. What it lists is kept as heads (the table is
 * being replaced), looked up at the next tick: newer than what was read. */
static int flows_read_expecting(int flows_fd, struct flow **flows, size_t expect,
				struct collector *col)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 keys[FLOWS_BATCH], cursor = 0;
	struct conn_stats *values = malloc(FLOWS_BATCH * sizeof(*values));
	struct flow *out = NULL;
	size_t n = 0, cap = 0;
	bool first = true, last = false;
	int err = 0;

	*flows = NULL;
	if (!values)
		return -ENOMEM;
	while (!last) {
		__u32 count = FLOWS_BATCH;

		/* valgrind (3.19) does not know this command: it would take what
		 * the kernel writes for uninitialised */
		memset(keys, 0, sizeof(keys));
		memset(values, 0, FLOWS_BATCH * sizeof(*values));

		if (col && (err = collect_moved(col)))
			goto cleanup;
		err = bpf_map_lookup_batch(flows_fd, first ? NULL : &cursor, &cursor, keys, values,
					   &count, &opts);
		if (err == -ENOENT) /* the end: this call's entries are the last ones */
			err = 0, last = true;
		else if (err)
			goto cleanup;
		first = false;
		if (n + count > cap) {
			size_t ncap = cap ? cap * 2 : expect + expect / 8 + FLOWS_BATCH;
			struct flow *grown;

			while (ncap < n + count)
				ncap *= 2;
			grown = realloc(out, ncap * sizeof(*out));
			if (!grown) {
				err = -ENOMEM;
				goto cleanup;
			}
			out = grown;
			cap = ncap;
		}
		for (__u32 i = 0; i < count; i++, n++) {
			memset(&out[n], 0, sizeof(out[n]));
			out[n].cookie = keys[i];
			out[n].s = values[i];
		}
	}
cleanup:
	free(values);
	if (err) {
		free(out);
		return err;
	}
	/* the doubling may have left up to half of it unused: the agent keeps it */
	if (n && n < cap) {
		struct flow *fit = realloc(out, n * sizeof(*out));

		if (fit)
			out = fit;
	}
	*flows = out;
	return (int)n;
}

int flows_read(int flows_fd, struct flow **flows)
{
	return flows_read_expecting(flows_fd, flows, 0, NULL);
}

void targets_merge(int targets_fd, struct flow_row *rows, size_t n)
{
	__u64 now = monotonic_ns();

	for (size_t i = 0; i < n; i++) {
		struct conn_target *t = &rows[i].target;

		if (bpf_map_lookup_elem(targets_fd, &rows[i].f.cookie, t))
			memset(t, 0, sizeof(*t));
		rows[i].change_age_ms =
			t->change_ns && now > t->change_ns ? (now - t->change_ns) / 1000000 : 0;
	}
}

int flows_read_with_targets(const struct pinned_maps *maps, struct flow_row **rows)
{
	struct flow *flows = NULL;
	int n = flows_read(maps->flows_fd, &flows);

	*rows = NULL;
	if (n <= 0)
		return n;
	*rows = calloc((size_t)n, sizeof(**rows));
	if (!*rows) {
		free(flows);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		(*rows)[i].f = flows[i];
	free(flows);
	targets_merge(maps->targets_fd, *rows, (size_t)n);
	return n;
}

__u64 counter_read(int counters_fd, enum tcptune_counter counter)
{
	int ncpu = libbpf_num_possible_cpus();
	__u32 key = counter;
	__u64 sum = 0;

	if (ncpu <= 0)
		return 0;
	{
		__u64 values[ncpu];

		/* the kernel fills every CPU's slot; zeroed anyway because
		 * valgrind takes a lookup to write value_size bytes only */
		memset(values, 0, sizeof(values));
		if (bpf_map_lookup_elem(counters_fd, &key, values))
			return 0;
		for (int i = 0; i < ncpu; i++)
			sum += values[i];
	}
	return sum;
}

int pinned_maps_open(struct pinned_maps *maps, char *why, size_t len)
{
	static const char *const names[] = { "flows", "counters", "status", "targets" };
	int *fds[] = { &maps->flows_fd, &maps->counters_fd, &maps->status_fd, &maps->targets_fd };
	char path[sizeof(TCPTUNE_PIN_DIR) + 16];
	int err;

	maps->flows_fd = maps->counters_fd = maps->status_fd = maps->targets_fd = -1;
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", TCPTUNE_PIN_DIR, names[i]);
		*fds[i] = bpf_obj_get(path);
		if (*fds[i] >= 0)
			continue;
		err = errno;
		if (err == ENOENT && agent_running(&maps->agent))
			snprintf(
				why, len,
				"the tcptune agent (pid %d) has no maps pinned at %s: it is starting, or bpffs was unmounted under it (restart it to pin them again)",
				(int)maps->agent, path);
		else if (err == ENOENT)
			snprintf(
				why, len,
				"no tcptune agent is running (%s is not pinned): start one with 'tcptune run'",
				path);
		else
			snprintf(why, len, "cannot open %s: %s (run as root)", path, strerror(err));
		pinned_maps_close(maps);
		return -ENOENT;
	}
	if (!agent_running(&maps->agent)) {
		snprintf(
			why, len,
			"no tcptune agent is running (%s holds pins of a killed agent; the next 'tcptune run' removes them)",
			TCPTUNE_PIN_DIR);
		pinned_maps_close(maps);
		return -ESRCH;
	}
	return 0;
}

void pinned_maps_close(struct pinned_maps *maps)
{
	int *fds[] = { &maps->flows_fd, &maps->counters_fd, &maps->status_fd, &maps->targets_fd };

	for (size_t i = 0; i < 4; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static __u64 last_pass_start(int status_fd)
{
	struct agent_status st = {};
	__u32 key = 0;

	bpf_map_lookup_elem(status_fd, &key, &st);
	return st.pass_start_ns;
}

int request_fresh_pass(const struct pinned_maps *maps, double timeout_s)
{
	__u64 asked = monotonic_ns();
	double deadline = monotonic_s() + timeout_s;

	if (maps->agent <= 0 || kill(maps->agent, SIGUSR1))
		return maps->agent <= 0 ? -ESRCH : -errno;
	/* a pass already under way when we asked may have missed what changed */
	while (last_pass_start(maps->status_fd) < asked) {
		if (monotonic_s() > deadline)
			return -ETIMEDOUT;
		usleep(2000);
	}
	return 0;
}
