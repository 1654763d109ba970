// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `tcptune check-config PATH`: validate a configuration file without running. */
#include <argp.h>
#include <stdio.h>
#include <stdlib.h>
#include "cmd/commands.h"
#include "runtime/log.h"
#include "runtime/settings.h"

static error_t check_parse(int key, char *arg, struct argp_state *state)
{
	const char **path = state->input;

	switch (key) {
	case ARGP_KEY_ARG:
		if (*path)
			usage_error(state, "one configuration file at a time");
		*path = arg;
		break;
	case ARGP_KEY_END:
		if (!*path)
			usage_error(state, "which file? tcptune check-config PATH (e.g. %s)",
				    CONFIG_DEFAULT_PATH);
		break;
	default:
		return common_parse(key, arg, state);
	}
	return 0;
}

int cmd_check_config(int argc, char **argv)
{
	static const struct argp_option options[] = { {} };
	const char *path = NULL;
	struct argp argp = {
		options,
		check_parse,
		"PATH",
		"Check a configuration file as `run --config PATH` would read it (without command-line options), and print the settings it gives. Exit status 0: valid, 1: not.",
		common_children,
		NULL,
		NULL
	};
	struct cli_settings cli = {};
	struct settings *s;
	char why[1024];

	if (argp_parse(&argp, argc, argv, TCPTUNE_ARGP_FLAGS, NULL, &path))
		return EXIT_USAGE;
	s = calloc(1, sizeof(*s));
	if (!s) {
		log_error("out of memory");
		return EXIT_RUNTIME;
	}
	cli.config_path = path;
	if (settings_load(&cli, s, why, sizeof(why))) {
		log_error("%s", why);
		free(s);
		return EXIT_RUNTIME;
	}
	printf("%s: valid\n", path);
	printf("[global]: %s, buffers %u..%u bytes, headroom %g, alpha %g, hysteresis %g, interval %gs, budget %llu, metrics %s\n",
	       config_mode_name(s->mode), s->est.min_buf, s->est.max_buf, s->est.headroom,
	       s->est.alpha, s->est.hysteresis, s->interval_s, (unsigned long long)s->budget,
	       s->metrics);
	for (size_t i = 0; i < s->file.npolicies; i++) {
		char line[CONFIG_SECTION_MAX + 200];

		settings_describe_policy(s, &s->file.policies[i], line, sizeof(line));
		printf("%s\n", line);
	}
	free(s);
	return fflush(stdout) ? EXIT_RUNTIME : 0;
}
