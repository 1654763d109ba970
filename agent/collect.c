// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "collect.h"
#include "iter.skel.h"
#include "log.h"

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

static bool cookie_in(const __u64 *cookies, int n, __u64 cookie)
{
	for (int i = 0; i < n; i++)
		if (cookies[i] == cookie)
			return true;
	return false;
}

/* Entries of walked namespaces that the pass did not stamp, and that existed
 * before it started, belong to sockets that are gone. */
static int drop_stale(int flows_fd, __u64 pass, __u64 start_ns, const __u64 *walked, int nwalked,
		      size_t *remaining)
{
	struct flow *flows;
	int n = flows_read(flows_fd, &flows), stale = 0;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		const struct conn_stats *s = &flows[i].s;

		if (s->seen_pass == pass || s->created_ns >= start_ns ||
		    !cookie_in(walked, nwalked, s->netns_cookie))
			continue;
		if (bpf_map_delete_elem(flows_fd, &flows[i].cookie) == 0)
			stale++;
	}
	free(flows);
	*remaining = (size_t)(n - stale);
	return stale;
}

int collect_pass(struct loader *ld, __u64 pass, struct pass_result *res)
{
	struct netns *list = NULL;
	__u64 *walked = NULL, start_ns = monotonic_ns();
	int self, n, err = 0;

	memset(res, 0, sizeof(*res));
	ld->iter->bss->pass = pass;
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
		if (netns_cookie_current(&cookie) == 0 && run_iterator(ld->iter_link) == 0)
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
	n = drop_stale(ld->flows_fd, pass, start_ns, walked, res->namespaces, &res->tracked);
	if (n < 0) {
		err = n;
		goto cleanup;
	}
	res->stale = n;
cleanup:
	free(walked);
	free(list);
	close(self);
	return err;
}

int flows_read(int flows_fd, struct flow **flows)
{
	struct flow *out = NULL;
	size_t n = 0, cap = 0;
	__u64 key, next;
	void *prev = NULL;

	*flows = NULL;
	while (bpf_map_get_next_key(flows_fd, prev, &next) == 0) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct flow *grown = realloc(out, ncap * sizeof(*out));

			if (!grown) {
				free(out);
				return -ENOMEM;
			}
			out = grown;
			cap = ncap;
		}
		key = next;
		prev = &key;
		/* the entry may have been deleted since get_next_key */
		if (bpf_map_lookup_elem(flows_fd, &key, &out[n].s) == 0)
			out[n++].cookie = key;
	}
	*flows = out;
	return (int)n;
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

		if (bpf_map_lookup_elem(counters_fd, &key, values))
			return 0;
		for (int i = 0; i < ncpu; i++)
			sum += values[i];
	}
	return sum;
}

int pinned_maps_open(int *flows_fd, int *counters_fd, char *why, size_t len)
{
	pid_t holder;

	*flows_fd = bpf_obj_get(TCPTUNE_PIN_DIR "/flows");
	if (*flows_fd < 0) {
		int err = -errno;

		if (err == -ENOENT)
			snprintf(why, len, "no tcptune agent is running (%s/flows is not pinned): start one with 'tcptune run'",
				 TCPTUNE_PIN_DIR);
		else
			snprintf(why, len, "cannot open %s/flows: %s (run as root)", TCPTUNE_PIN_DIR,
				 strerror(errno));
		return err;
	}
	if (!agent_running(&holder)) {
		snprintf(why, len, "no tcptune agent is running (%s holds pins of a killed agent; the next 'tcptune run' removes them)",
			 TCPTUNE_PIN_DIR);
		close(*flows_fd);
		*flows_fd = -1;
		return -ESRCH;
	}
	*counters_fd = bpf_obj_get(TCPTUNE_PIN_DIR "/counters");
	if (*counters_fd < 0) {
		int err = -errno;

		snprintf(why, len, "cannot open %s/counters: %s", TCPTUNE_PIN_DIR, strerror(errno));
		close(*flows_fd);
		*flows_fd = -1;
		return err;
	}
	return 0;
}
