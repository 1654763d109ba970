// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Log lines on stderr (log.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime/log.h"

int log_verbose;

const char *log_level_prefix(int priority)
{
	static const char *const prefixes[] = {
		[LOG_PRIO_ERR] = "<3>", [LOG_PRIO_INFO] = "<6>", [LOG_PRIO_DEBUG] = "<7>"
	};
	static int journal = -1;

	if (journal < 0) {
		const char *stream = getenv("JOURNAL_STREAM");
		unsigned long long dev, ino;
		struct stat st;

		journal = stream && sscanf(stream, "%llu:%llu", &dev, &ino) == 2 &&
			  fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
			  (unsigned long long)st.st_ino == ino;
	}
	return journal && priority >= 0 && priority <= LOG_PRIO_DEBUG && prefixes[priority]
		       ? prefixes[priority]
		       : "";
}

void log_one_line(char *msg)
{
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* head, the message made one line, tail */
void print_line(int priority, const char *head, const char *tail, const char *fmt, va_list ap)
{
	char msg[4096];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_one_line(msg);
	fprintf(stderr, "%s%s%s%s\n", log_level_prefix(priority), head, msg, tail);
}

void log_line(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_line(priority, "", "", fmt, ap);
	va_end(ap);
}
