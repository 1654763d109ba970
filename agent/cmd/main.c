// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* tcptune: command dispatch and what the subcommands share. */
#include <argp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "cmd/commands.h"
#include "runtime/log.h"

const char *argp_program_version = "tcptune " TCPTUNE_VERSION;

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "run", cmd_run, "run the agent: load, attach and collect until SIGINT/SIGTERM" },
	{ "flows", cmd_flows, "print the tracked connections once, from the running agent" },
	{ "top", cmd_top, "live table of the tracked connections" },
	{ "status", cmd_status,
	  "what the running agent attached, changed and counts, and its configuration" },
	{ "check-config", cmd_check_config, "validate a configuration file without running" },
};

void usage_error(const struct argp_state *state, const char *fmt, ...)
{
	const char *name = state ? state->name : "tcptune";
	char head[256], tail[256];
	va_list ap;

	snprintf(head, sizeof(head), "%s: ", name);
	snprintf(tail, sizeof(tail), " (see '%s --help')", name);
	va_start(ap, fmt);
	print_line(LOG_PRIO_ERR, head, tail, fmt, ap);
	va_end(ap);
	exit(EXIT_USAGE);
}

double option_arg(const struct argp_state *state, enum option_id id, const char *arg)
{
	const char *why;
	double v = 0;

	if (option_parse(id, arg, &v, &why))
		usage_error(state, "%s '%s' %s", option_table[id].flag, arg, why);
	return v;
}

enum flow_sort sort_option(const struct argp_state *state, const char *arg)
{
	enum flow_sort key;

	if (parse_sort(arg, &key))
		usage_error(state, "--sort '%s' must be rate, rtt or queue", arg);
	return key;
}

error_t common_parse(int key, char *arg, struct argp_state *state)
{
	if (key == ARGP_KEY_ARG)
		usage_error(state, "unexpected argument '%s'", arg);
	if (key == ARGP_KEY_ERROR) {
		const char *bad = state->next > 0 && state->next <= state->argc
					  ? state->argv[state->next - 1]
					  : "?";

		usage_error(state, "unknown option or missing value: '%s'", bad);
	}
	return ARGP_ERR_UNKNOWN;
}

/* argp's own --help and --usage print nothing under ARGP_NO_ERRS and let the
 * command go on (`tcptune run --help` would start the agent): every subcommand
 * takes these instead, with ARGP_NO_HELP. */
#define KEY_USAGE 0x1001

static const struct argp_option help_options[] = {
	{ "help", '?', NULL, 0, "Give this help list", -1 },
	{ "usage", KEY_USAGE, NULL, 0, "Give a short usage message", 0 },
	{ "version", 'V', NULL, 0, "Print program version", 0 },
	{},
};

static error_t help_parse(int key, char *arg, struct argp_state *state)
{
	(void)arg;
	switch (key) {
	case '?':
		argp_help(state->root_argp, stdout, ARGP_HELP_STD_HELP, state->name);
		break;
	case KEY_USAGE:
		argp_help(state->root_argp, stdout, ARGP_HELP_USAGE, state->name);
		break;
	case 'V':
		printf("%s\n", argp_program_version);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	exit(fflush(stdout) ? EXIT_RUNTIME : 0);
}

static const struct argp help_argp = { help_options, help_parse, NULL, NULL, NULL, NULL, NULL };
const struct argp_child common_children[] = { { &help_argp, 0, NULL, 0 }, {} };

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	fputs(log_level_prefix(level == LIBBPF_WARN   ? LOG_PRIO_ERR
			       : level == LIBBPF_INFO ? LOG_PRIO_INFO
						      : LOG_PRIO_DEBUG),
	      stderr);
	return vfprintf(stderr, fmt, args);
}

static int libbpf_silent(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	(void)fmt;
	(void)args;
	return 0;
}

void libbpf_print_setup(void)
{
	libbpf_set_print(log_verbose ? libbpf_print : libbpf_silent);
}

static void print_usage(FILE *out)
{
	fprintf(out, "Usage: tcptune COMMAND [OPTION...]\n"
		     "Right-size TCP socket buffers per connection with eBPF.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'tcptune COMMAND --help' lists a command's options.\n"
		     "  -V, --version  print the version\n");
}

int main(int argc, char **argv)
{
	char name[64];

	if (argc < 2)
		usage_error(NULL, "no command given: use one of run, flows, top");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "-?")) {
		print_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("%s\n", argp_program_version);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		/* argp names the program after argv[0]: make it "tcptune run" */
		snprintf(name, sizeof(name), "tcptune %s", commands[i].name);
		argv[1] = name;
		return commands[i].run(argc - 1, argv + 1);
	}
	usage_error(NULL, "unknown command '%s': use one of run, flows, top", argv[1]);
}
