/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* One line per message on stderr, prefixed so it reads well in a journal. */
#ifndef TCPTUNE_LOG_H
#define TCPTUNE_LOG_H
#include <stdio.h>

extern int log_verbose;

/* syslog priorities */
#define LOG_PRIO_ERR 3
#define LOG_PRIO_INFO 6
#define LOG_PRIO_DEBUG 7

/* "<3>", "<6>", "<7>" when stderr is the journal (systemd's JOURNAL_STREAM
 * names it), which journald takes as the line's priority and strips; ""
 * anywhere else. */
const char *log_level_prefix(int priority);

#define log_error(fmt, ...) fprintf(stderr, "%stcptune: " fmt "\n", log_level_prefix(LOG_PRIO_ERR), ##__VA_ARGS__)
#define log_info(fmt, ...) fprintf(stderr, "%stcptune: " fmt "\n", log_level_prefix(LOG_PRIO_INFO), ##__VA_ARGS__)
#define log_debug(fmt, ...) \
	do { if (log_verbose) fprintf(stderr, "%stcptune: debug: " fmt "\n", log_level_prefix(LOG_PRIO_DEBUG), \
				       ##__VA_ARGS__); } while (0)

/* Exit codes: 2 for a usage error, 1 for a runtime error. */
#define EXIT_USAGE 2
#define EXIT_RUNTIME 1

#endif
