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
#include "collect.h"
#include "iter.skel.h"
#include "log.h"
#include "sysctl.h"

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

/* One read of the map after the namespaces were walked: entries of walked
 * namespaces that the pass did not stamp, and that existed before it started,
 * belong to sockets that are gone; entries without an owner are counted. What
 * is left is handed to the caller in res->flows (the tuner's input). */
static int sweep(int flows_fd, __u64 pass, __u64 start_ns, const __u64 *walked, int nwalked,
		 struct pass_result *res)
{
	struct flow *flows;
	int n = flows_read(flows_fd, &flows);
	__u64 now_ns = monotonic_ns();
	size_t kept = 0;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		const struct conn_stats *s = &flows[i].s;

		/* created in the future: written by something else, not a socket */
		bool created_before = s->created_ns < start_ns || s->created_ns > now_ns;

		if (s->seen_pass != pass && created_before &&
		    cookie_in(walked, nwalked, s->netns_cookie) &&
		    bpf_map_delete_elem(flows_fd, &flows[i].cookie) == 0) {
			res->stale++;
			continue;
		}
		if (!s->pid)
			res->unowned++;
		flows[kept++] = flows[i];
	}
	res->flows = flows;
	res->tracked = kept;
	return 0;
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

int collect_pass(struct loader *ld, __u64 pass, struct pass_result *res)
{
	struct netns *list = NULL;
	__u64 *walked = NULL, start_ns = monotonic_ns();
	int self, n, err = 0;

	memset(res, 0, sizeof(*res));
	ld->iter->bss->pass = pass;
	/* res->flows is the caller's from here, also on error (free(NULL) is fine) */
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	n = netns_list(&list);
	if (n < 0) {
		close(self);
		return n;
	}
	walked = calloc((size_t)n + 1, sizeof(*walked));
	if (!walked) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (int i = 0; i < n; i++) {
		int fd = open(list[i].path, O_RDONLY | O_CLOEXEC);
		__u64 cookie;

		if (fd < 0 || setns(fd, CLONE_NEWNET)) {
			if (fd >= 0)
				close(fd);
			res->skipped++;
			continue;
		}
		close(fd);
		if (netns_cookie_current(&cookie) == 0 && walk_namespace(ld) == 0)
			walked[res->namespaces++] = cookie;
		else
			res->skipped++;
	}
	if (setns(self, CLONE_NEWNET)) {
		/* every later socket call would run in the wrong namespace */
		err = -errno;
		log_error("cannot return to the agent's own network namespace: %s", strerror(errno));
		goto cleanup;
	}
	err = sweep(ld->flows_fd, pass, start_ns, walked, res->namespaces, res);
	if (err)
		goto cleanup;
	/* tasks are not per namespace: one walk finds every owner */
	if (res->unowned)
		err = run_iterator(ld->owners_link);
	if (err)
		goto cleanup;
	publish_status(ld->status_fd, pass, start_ns, res);
cleanup:
	free(walked);
	free(list);
	close(self);
	return err;
}

/* Entries per bpf_map_lookup_batch() call: one system call per chunk rather
 * than two per entry (get_next_key + lookup: 40,000 calls a tick at 20,000
 * connections). A get_next_key walk also restarts from the first key when
 * the key it stands on is deleted meanwhile, as churn does; the batch cursor
 * is a bucket index, which deletions leave in place. */
#define FLOWS_BATCH 1024

int flows_read(int flows_fd, struct flow **flows)
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

		err = bpf_map_lookup_batch(flows_fd, first ? NULL : &cursor, &cursor, keys, values, &count, &opts);
		if (err == -ENOENT) /* the end: this call's entries are the last ones */
			err = 0, last = true;
		else if (err)
			goto cleanup;
		first = false;
		if (n + count > cap) {
			size_t ncap = cap ? cap * 2 : 256;
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
	*flows = out;
	return (int)n;
}

void targets_merge(int targets_fd, struct flow *flows, size_t n)
{
	__u64 now = monotonic_ns();

	for (size_t i = 0; i < n; i++) {
		struct conn_target *t = &flows[i].target;

		if (bpf_map_lookup_elem(targets_fd, &flows[i].cookie, t))
			memset(t, 0, sizeof(*t));
		flows[i].change_age_ms = t->change_ns && now > t->change_ns ? (now - t->change_ns) / 1000000 : 0;
	}
}

int flows_read_with_targets(const struct pinned_maps *maps, struct flow **flows)
{
	int n = flows_read(maps->flows_fd, flows);

	if (n > 0)
		targets_merge(maps->targets_fd, *flows, (size_t)n);
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
			snprintf(why, len, "the tcptune agent (pid %d) has no maps pinned at %s: it is starting, or bpffs was unmounted under it (restart it to pin them again)",
				 (int)maps->agent, path);
		else if (err == ENOENT)
			snprintf(why, len, "no tcptune agent is running (%s is not pinned): start one with 'tcptune run'",
				 path);
		else
			snprintf(why, len, "cannot open %s: %s (run as root)", path, strerror(err));
		pinned_maps_close(maps);
		return -ENOENT;
	}
	if (!agent_running(&maps->agent)) {
		snprintf(why, len, "no tcptune agent is running (%s holds pins of a killed agent; the next 'tcptune run' removes them)",
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
