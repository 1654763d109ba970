/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The subcommands and what their argp parsers share. */
#ifndef TCPTUNE_COMMANDS_H
#define TCPTUNE_COMMANDS_H
#include <argp.h>
#include "core/format.h"
#include "core/options.h"

int cmd_run(int argc, char **argv);
int cmd_flows(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* One line on stderr naming the problem, then exit 2. */
void usage_error(const struct argp_state *state, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* The value of an option of the bounds table (core/options.h); a usage error
 * naming the flag, the value and what is wrong if it is out of bounds. */
double option_arg(const struct argp_state *state, enum option_id id, const char *arg);

/* The value of a --sort option; a usage error if it names no order. */
enum flow_sort sort_option(const struct argp_state *state, const char *arg);

/* Keys every subcommand handles alike: stray arguments, unknown options. */
error_t common_parse(int key, char *arg, struct argp_state *state);

/* --help, --usage and --version for every subcommand; parse with
 * TCPTUNE_ARGP_FLAGS (argp's own help is silent under ARGP_NO_ERRS). */
extern const struct argp_child common_children[];
#define TCPTUNE_ARGP_FLAGS (ARGP_NO_ERRS | ARGP_NO_HELP)

/* libbpf's messages go to stderr with -v, nowhere otherwise. */
void libbpf_print_setup(void);

#endif
