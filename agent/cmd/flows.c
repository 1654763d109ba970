// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `tcptune flows`: one snapshot of the running agent's maps. */
#include <argp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "runtime/collect.h"
#include "cmd/commands.h"
#include "runtime/log.h"

struct flows_args {
	bool json;
	enum flow_sort sort;
};

static const struct argp_option flows_options[] = {
	{ "json", 'j', NULL, 0, "Print a JSON array of objects, one per connection", 0 },
	{ "sort", 's', "KEY", 0, "Order by rate, rtt or queue (default rate)", 0 },
	{},
};

static error_t flows_parse(int key, char *arg, struct argp_state *state)
{
	struct flows_args *args = state->input;

	switch (key) {
	case 'j':
		args->json = true;
		break;
	case 's':
		args->sort = sort_option(state, arg);
		break;
	default:
		return common_parse(key, arg, state);
	}
	return 0;
}

int cmd_flows(int argc, char **argv)
{
	struct flows_args args = { .sort = SORT_RATE };
	struct argp argp = {
		flows_options,
		flows_parse,
		NULL,
		"Print the connections the running agent tracks, read from its pinned maps.",
		common_children,
		NULL,
		NULL
	};
	struct flow_row *flows = NULL;
	struct pinned_maps maps;
	int n, err;
	char why[256];

	if (argp_parse(&argp, argc, argv, TCPTUNE_ARGP_FLAGS, NULL, &args))
		return EXIT_USAGE;
	if (pinned_maps_open(&maps, why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	err = request_fresh_pass(&maps, FRESH_PASS_TIMEOUT_S);
	if (err)
		log_error(
			"the agent (pid %d) did not run a pass on request (%s): figures are from its last pass",
			(int)maps.agent, strerror(-err));
	n = flows_read_with_targets(&maps, &flows);
	pinned_maps_close(&maps);
	if (n < 0) {
		log_error("cannot read %s/flows: %s", TCPTUNE_PIN_DIR, strerror(-n));
		return EXIT_RUNTIME;
	}
	sort_flows(flows, (size_t)n, args.sort);
	if (args.json)
		print_flows_json(stdout, flows, (size_t)n);
	else
		print_flows_table(stdout, flows, (size_t)n, 180);
	free(flows);
	return fflush(stdout) ? EXIT_RUNTIME : 0;
}
