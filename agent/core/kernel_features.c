// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <string.h>
#include "core/kernel_features.h"
#include "core/format.h"

const struct feature_desc feature_desc[FEATURE_MAX] = {
	[FEATURE_BTF] = { "btf", "kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y)",
			  "5.4", true },
	[FEATURE_SOCKOPS] = { "sockops", "sockops programs reading the full socket", "5.10", true },
	[FEATURE_STATE_TRACEPOINT] = { "state_tracepoint",
				       "tp_btf/inet_sock_set_state and BPF ring buffers", "5.8",
				       true },
	[FEATURE_TCP_ITER] = { "tcp_iter", "the iter/tcp BPF iterator", "5.9", true },
	[FEATURE_ITER_COOKIE] = { "iter_cookie", "bpf_get_socket_cookie from iter/tcp", "5.12",
				  false },
	[FEATURE_NETNS_COOKIE] = { "netns_cookie",
				   "network namespace cookies read by getsockopt (SO_NETNS_COOKIE)",
				   "5.14", false },
	[FEATURE_KCONFIG] = { "kconfig",
			      "the kernel's configuration (/boot/config-RELEASE or /proc/config.gz)",
			      NULL, false },
	[FEATURE_APP_EVENTS] = { "app_events", "tp_btf/sock_send_length and sock_recv_length",
				 "6.2", false },
	[FEATURE_SOCKET_STORAGE] = { "socket_storage",
				     "socket storage from tracing, iterator and sockops programs",
				     "5.11", false },
	[FEATURE_STORAGE_ITER] = { "storage_iter", "the iter/bpf_sk_storage_map BPF iterator",
				   "5.9", false },
	[FEATURE_ITER_SETSOCKOPT] = { "iter_setsockopt", "bpf_setsockopt from iter/tcp", "5.14",
				      false },
	[FEATURE_SOCKOPS_CALLBACKS] = { "sockops_callbacks",
					"bpf_setsockopt on sockops RTT callbacks", "5.6", false },
	[FEATURE_TASK_FILE_ITER] = { "task_file_iter", "the iter/task_file BPF iterator", "5.9",
				     false },
	[FEATURE_ITER_CB_FLAGS] = { "iter_cb_flags",
				    "sockops callbacks turned on from iter/tcp (TCP_BPF_SOCK_OPS_CB_FLAGS)",
				    "6.12", false },
};

const char *const collect_mode_name[] = { "events", "walk each tick", "full pass each tick" };
const char *const walk_mode_name[] = { "iter/bpf_sk_storage_map", "iter/tcp per namespace",
				       "full pass" };
const char *const writeback_mode_name[] = { "iter/tcp passes", "sockops RTT callbacks",
					    "establishment only" };

static const char *const state_name[] = { "missing", "yes", "forced off" };

const char *rtt_callbacks_name(const struct feature_plan *plan)
{
	return plan->callbacks_on_demand ? "where tcptune set the send buffer" : "every connection";
}

const char *feature_why(const struct features *f, enum feature feature)
{
	if (f->state[feature] == FEATURE_FORCED_OFF)
		return "TCPTUNE_FEATURES_OFF";
	return f->error[feature] ? strerror(-f->error[feature]) : "not probed";
}

bool feature_on(const struct features *f, enum feature feature)
{
	return f->state[feature] == FEATURE_PRESENT;
}

void features_plan(const struct features *f, struct feature_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->refused = -1;
	for (int i = 0; i < FEATURE_MAX; i++) {
		if (feature_desc[i].required && !feature_on(f, i)) {
			plan->refused = i;
			break;
		}
	}
	plan->marks = feature_on(f, FEATURE_SOCKET_STORAGE);
	plan->app_events = plan->marks && feature_on(f, FEATURE_APP_EVENTS);
	plan->owners = feature_on(f, FEATURE_TASK_FILE_ITER);
	plan->iter_cookie = feature_on(f, FEATURE_ITER_COOKIE);
	plan->netns_by_inode = !feature_on(f, FEATURE_NETNS_COOKIE);
	plan->config_hz = feature_on(f, FEATURE_KCONFIG) ? 0 : f->config_hz;
	if (plan->app_events)
		plan->collect = COLLECT_EVENTS;
	else
		plan->collect = plan->marks ? COLLECT_WALK_EACH_TICK : COLLECT_FULL_EACH_TICK;
	if (!plan->marks)
		plan->walk = WALK_FULL;
	else
		plan->walk = feature_on(f, FEATURE_STORAGE_ITER) ? WALK_STORAGE_ITER
								 : WALK_TCP_ITER;
	if (feature_on(f, FEATURE_ITER_SETSOCKOPT))
		plan->writeback = WRITEBACK_PASSES;
	else
		plan->writeback = feature_on(f, FEATURE_SOCKOPS_CALLBACKS) ? WRITEBACK_CALLBACKS
									   : WRITEBACK_NONE;
	plan->callbacks_on_demand = plan->writeback == WRITEBACK_PASSES &&
				    feature_on(f, FEATURE_ITER_CB_FLAGS);
}

int features_force_off(struct features *f, const char *list, char *bad, size_t len)
{
	char name[64];

	while (list && *list) {
		size_t n = strcspn(list, ",");
		int i;

		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1),
			 list);
		for (i = 0; i < FEATURE_MAX; i++)
			if (!feature_desc[i].required && strcmp(name, feature_desc[i].name) == 0)
				break;
		if (n && i == FEATURE_MAX) {
			snprintf(bad, len, "%s", name);
			return -1;
		}
		if (n)
			f->state[i] = FEATURE_FORCED_OFF;
		list += n + (list[n] == ',');
	}
	return 0;
}

void features_refusal(const struct features *f, enum feature missing, char *buf, size_t len)
{
	const struct feature_desc *d = &feature_desc[missing];

	snprintf(
		buf, len,
		"this kernel (%s) lacks %s, which tcptune needs (Linux %s and newer can have it; Debian 11's 5.10 and later do)",
		f->kernel, d->what, d->since);
}

const char *feature_fallback(enum feature feature)
{
	switch (feature) {
	case FEATURE_APP_EVENTS:
		return "collection: a walk pass every tick refreshes the connections that moved";
	case FEATURE_SOCKET_STORAGE:
		return "collection: a full iter/tcp pass every tick (nothing is marked: no event or walk passes)";
	case FEATURE_STORAGE_ITER:
		return "walk pass: iter/tcp in each network namespace refreshes the marked sockets that moved";
	case FEATURE_ITER_SETSOCKOPT:
		return "write-back: sockops RTT callbacks apply targets on a sender's ACKs; a connection that only receives keeps its size from establishment";
	case FEATURE_SOCKOPS_CALLBACKS:
		return "write-back: targets reach a connection only at establishment (learned sizes)";
	case FEATURE_TASK_FILE_ITER:
		return "owners: flows and top show no pid or command";
	case FEATURE_KCONFIG:
		return "CONFIG_HZ measured from the jiffies clock (/proc/timer_list), or 250 assumed where that is hidden";
	case FEATURE_NETNS_COOKIE:
		return "namespaces: told apart by inode number, which flows shows as netns_cookie";
	case FEATURE_ITER_CB_FLAGS:
		return "RTT callbacks: on every connection in scope while tuning, not only on those whose send buffer tcptune set (a cost per ACK)";
	case FEATURE_ITER_COOKIE:
		return "pick-up: a connection open before the agent started is tracked only once it has a socket cookie (given by sock_diag, e.g. ss -e)";
	default:
		return NULL;
	}
}

/* A missing feature whose fallback the plan takes: the callbacks matter only
 * where iter/tcp cannot write, turning them on from iter/tcp only where it
 * can, the storage iterator only where sockets are marked, the write/read
 * events likewise. */
bool feature_fallback_taken(const struct features *f, enum feature feature)
{
	if (feature_on(f, feature) || feature_desc[feature].required)
		return false;
	switch (feature) {
	case FEATURE_SOCKOPS_CALLBACKS:
		return !feature_on(f, FEATURE_ITER_SETSOCKOPT);
	case FEATURE_ITER_CB_FLAGS:
		return feature_on(f, FEATURE_ITER_SETSOCKOPT);
	case FEATURE_STORAGE_ITER:
	case FEATURE_APP_EVENTS:
		return feature_on(f, FEATURE_SOCKET_STORAGE);
	default:
		return true;
	}
}

static void render_json(FILE *out, const struct features *f, const struct feature_plan *plan)
{
	char buf[400];
	bool first = true;

	json_string(f->kernel, 64, buf, sizeof(buf));
	fprintf(out, "{\"release\": %s, \"features\": {", buf);
	for (int i = 0; i < FEATURE_MAX; i++)
		fprintf(out, "%s\"%s\": \"%s\"", i ? ", " : "", feature_desc[i].name,
			state_name[f->state[i]]);
	fprintf(out,
		"}, \"collection\": \"%s\", \"walk\": \"%s\", \"writeback\": \"%s\", \"rtt_callbacks\": \"%s\", \"config_hz_measured\": %u, \"config_hz_assumed\": %s, \"fallbacks\": [",
		collect_mode_name[plan->collect], walk_mode_name[plan->walk],
		writeback_mode_name[plan->writeback], rtt_callbacks_name(plan),
		f->config_hz_assumed ? 0 : plan->config_hz,
		f->config_hz_assumed ? "true" : "false");
	for (int i = 0; i < FEATURE_MAX; i++) {
		if (!feature_fallback_taken(f, i))
			continue;
		fprintf(out,
			"%s{\"feature\": \"%s\", \"state\": \"%s\", \"why\": ", first ? "" : ", ",
			feature_desc[i].name, state_name[f->state[i]]);
		json_string(feature_why(f, i), 100, buf, sizeof(buf));
		fprintf(out, "%s, \"instead\": ", buf);
		json_string(feature_fallback(i), 300, buf, sizeof(buf));
		fprintf(out, "%s}", buf);
		first = false;
	}
	fputs("]}", out);
}

void features_render(FILE *out, const struct features *f, bool json)
{
	struct feature_plan plan;

	features_plan(f, &plan);
	if (json) {
		render_json(out, f, &plan);
		return;
	}
	fprintf(out, "kernel: %s; collection: %s, walk: %s, write-back: %s, RTT callbacks: %s\n",
		f->kernel, collect_mode_name[plan.collect], walk_mode_name[plan.walk],
		writeback_mode_name[plan.writeback], rtt_callbacks_name(&plan));
	for (int i = 0; i < FEATURE_MAX; i++) {
		const struct feature_desc *d = &feature_desc[i];

		fprintf(out, "feature: %-17s %-10s %s", d->name, state_name[f->state[i]], d->what);
		if (d->since)
			fprintf(out, " (Linux %s%s)", d->since, d->required ? ", required" : "");
		fputc('\n', out);
	}
	for (int i = 0; i < FEATURE_MAX; i++)
		if (feature_fallback_taken(f, i))
			fprintf(out, "fallback: %s %s (%s): %s\n", feature_desc[i].name,
				state_name[f->state[i]], feature_why(f, i), feature_fallback(i));
	if (plan.config_hz)
		fprintf(out, "CONFIG_HZ: %u, %s\n", plan.config_hz,
			f->config_hz_assumed ? "assumed (no /proc/timer_list to measure it from)"
					     : "measured");
}
