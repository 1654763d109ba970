/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* One line per message on stderr, prefixed so it reads well in a journal. */
#ifndef TCPTUNE_LOG_H
#define TCPTUNE_LOG_H
#include <stdarg.h>
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

/* The message with control characters as '?': one line, whatever a path
 * or argument it quotes holds. */
void log_line(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for a message already formatted, in place. */
void log_one_line(char *msg);
/* One line on stderr: the priority's prefix, head, the message made one
 * line, tail (log_line with head and tail empty; usage_error). */
void print_line(int priority, const char *head, const char *tail, const char *fmt, va_list ap);

#define log_error(fmt, ...) log_line(LOG_PRIO_ERR, "tcptune: " fmt, ##__VA_ARGS__)
#define log_info(fmt, ...) log_line(LOG_PRIO_INFO, "tcptune: " fmt, ##__VA_ARGS__)
#define log_debug(fmt, ...)                                                              \
	do {                                                                             \
		if (log_verbose)                                                         \
			log_line(LOG_PRIO_DEBUG, "tcptune: debug: " fmt, ##__VA_ARGS__); \
	} while (0)

/* Exit codes: 2 for a usage error, 1 for a runtime error. */
#define EXIT_USAGE 2
#define EXIT_RUNTIME 1

#endif
