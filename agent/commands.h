/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The subcommands and what their argp parsers share. */
#ifndef TCPTUNE_COMMANDS_H
#define TCPTUNE_COMMANDS_H
#include <argp.h>

int cmd_run(int argc, char **argv);
int cmd_flows(int argc, char **argv);
int cmd_top(int argc, char **argv);

/* One line on stderr naming the problem, then exit 2. */
void usage_error(const struct argp_state *state, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* Keys every subcommand handles alike (unknown options). */
error_t common_parse(int key, char *arg, struct argp_state *state);

/* libbpf's messages go to stderr with -v, nowhere otherwise. */
void libbpf_print_setup(void);

#endif
