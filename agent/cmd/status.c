// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `tcptune status`: the state files the agent wrote (status_file.c), the
 * sysctls it changed and its live figures from the pinned maps. */
#include <argp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "runtime/collect.h"
#include "cmd/commands.h"
#include "runtime/log.h"
#include "runtime/status_file.h"
#include "runtime/sysctl.h"

static const char *const counter_names[CNT_MAX] = {
	"flows_created", "flows_deleted",   "map_full",    "applied", "learned_at_start",
	"refused",       "window_at_start", "events_lost", "regrown",
};

static int copy_file(const char *path, FILE *out)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, out);
	fclose(f);
	return 0;
}

static error_t status_parse(int key, char *arg, struct argp_state *state)
{
	bool *json = state->input;

	if (key == 'j') {
		*json = true;
		return 0;
	}
	return common_parse(key, arg, state);
}

int cmd_status(int argc, char **argv)
{
	static const struct argp_option options[] = {
		{ "json", 'j', NULL, 0, "Print one JSON object", 0 },
		{},
	};
	struct argp argp = {
		options,
		status_parse,
		NULL,
		"Show what the running agent attached where, the sysctls it changed and from what, its counters and the configuration in force.",
		common_children,
		NULL,
		NULL
	};
	struct sysctl_change changes[4];
	struct pinned_maps maps;
	struct agent_status st = {};
	bool json = false;
	char why[256];
	__u32 key = 0;
	int n, err;

	if (argp_parse(&argp, argc, argv, TCPTUNE_ARGP_FLAGS, NULL, &json))
		return EXIT_USAGE;
	if (pinned_maps_open(&maps, why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	bpf_map_lookup_elem(maps.status_fd, &key, &st);
	n = sysctl_changes(changes, 4);
	if (json)
		fputs("{\"agent\": ", stdout);
	err = copy_file(json ? TCPTUNE_STATUS_JSON : TCPTUNE_STATUS_TEXT, stdout);
	if (err) {
		pinned_maps_close(&maps);
		log_error("cannot read %s: %s (an agent older than this command, or starting)",
			  json ? TCPTUNE_STATUS_JSON : TCPTUNE_STATUS_TEXT, strerror(-err));
		return EXIT_RUNTIME;
	}
	if (json) {
		printf(", \"sysctls\": [");
		for (int i = 0; i < n; i++)
			printf("%s{\"name\": \"%s\", \"was\": %llu, \"now\": %llu}", i ? ", " : "",
			       changes[i].name, changes[i].was, changes[i].now);
		printf("], \"pass\": %llu, \"namespaces\": %u, \"assigned_bytes\": %llu, \"tcp_mem_pages\": %llu, \"tcp_mem_pressure_pages\": %llu, \"pressure\": %s, \"counters\": {",
		       (unsigned long long)st.pass, st.namespaces,
		       (unsigned long long)st.assigned_bytes, (unsigned long long)st.tcp_mem_pages,
		       (unsigned long long)st.tcp_mem_pressure_pages,
		       st.pressure ? "true" : "false");
		for (int i = 0; i < CNT_MAX; i++)
			printf("%s\"%s\": %llu", i ? ", " : "", counter_names[i],
			       (unsigned long long)counter_read(maps.counters_fd, i));
		printf("}}\n");
	} else {
		for (int i = 0; i < n; i++)
			printf("sysctl: %s = %llu (was %llu; restored when the agent stops)\n",
			       changes[i].name, changes[i].now, changes[i].was);
		if (!n)
			printf("sysctl: none changed\n");
		printf("passes: %llu, %u network namespaces in the last; buffer bytes assigned %llu; TCP memory %llu pages (pressure at %llu)%s\n",
		       (unsigned long long)st.pass, st.namespaces,
		       (unsigned long long)st.assigned_bytes, (unsigned long long)st.tcp_mem_pages,
		       (unsigned long long)st.tcp_mem_pressure_pages,
		       st.pressure ? ", UNDER PRESSURE" : "");
		printf("counters:");
		for (int i = 0; i < CNT_MAX; i++)
			printf(" %s %llu", counter_names[i],
			       (unsigned long long)counter_read(maps.counters_fd, i));
		printf("\n");
	}
	pinned_maps_close(&maps);
	return fflush(stdout) ? EXIT_RUNTIME : 0;
}
