/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* One line per message on stderr, prefixed so it reads well in a journal. */
#ifndef TCPTUNE_LOG_H
#define TCPTUNE_LOG_H
#include <stdio.h>

extern int log_verbose;

#define log_error(fmt, ...) fprintf(stderr, "tcptune: " fmt "\n", ##__VA_ARGS__)
#define log_info(fmt, ...) fprintf(stderr, "tcptune: " fmt "\n", ##__VA_ARGS__)
#define log_debug(fmt, ...) \
	do { if (log_verbose) fprintf(stderr, "tcptune: debug: " fmt "\n", ##__VA_ARGS__); } while (0)

/* Exit codes: 2 for a usage error, 1 for a runtime error. */
#define EXIT_USAGE 2
#define EXIT_RUNTIME 1

#endif
