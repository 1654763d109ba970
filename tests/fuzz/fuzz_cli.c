// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer target: the command line. The first byte picks what the rest is:
 *  - the text of one option value, through the pure function that parses it
 *    (agent/core/parse.c, agent/runtime/listen.c, parse_sort): what each
 *    accepts is checked against what it promises;
 *  - or a whole command line (words separated by NUL bytes) run through the
 *    agent's real main(): its dispatch, and each command's real argp tables
 *    and option handlers. The link wraps argp_parse and exit (Makefile):
 *    a command is stopped right after argp_parse succeeds, so nothing is
 *    loaded or read, and exit() (usage errors, --help, --version) returns
 *    here instead. argp's own storage, which that jump skips freeing, is
 *    freed here (tracked with the sanitizer's malloc hooks).
 * What a command prints is captured: a usage error is exit status 2 and one
 * line on stderr starting with "tcptune", nothing on stdout. */
#define _GNU_SOURCE
#include <argp.h>
#include <arpa/inet.h>
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <string.h>
#include <sanitizer/allocator_interface.h>
#include "core/format.h"
#include "fuzz.h"
#include "runtime/listen.h"
#include "runtime/log.h"
#include "core/options.h"
#include "core/parse.h"

enum {
	SEL_INTERVAL,
	SEL_COUNT,
	SEL_SIZE,
	SEL_HEADROOM,
	SEL_ALPHA,
	SEL_HYSTERESIS,
	SEL_LISTEN,
	SEL_SORT,
	SEL_PATH_WITHIN,
	SEL_MOUNTINFO,
	SEL_TCP_MEM,
	SEL_SOCKSTAT,
	SEL_COMMAND_LINE
};
#define SELECTORS 16 /* SEL_COMMAND_LINE and above: a command line */
#define MAX_WORDS 64

int tcptune_main(int argc, char **argv); /* agent/cmd/main.c's main(), renamed */
extern int log_verbose;

/* ---- stopping a command: argp_parse and exit, wrapped at link time ---------- */

enum stop { STOP_RETURNED = 1, STOP_PARSED, STOP_EXIT };
static jmp_buf command_end;
static volatile bool in_command;
static int exit_status;

error_t __real_argp_parse(const struct argp *argp, int argc, char **argv, unsigned flags, int *end,
			  void *input);
error_t __wrap_argp_parse(const struct argp *argp, int argc, char **argv, unsigned flags, int *end,
			  void *input);
void __real_exit(int status) __attribute__((noreturn));
void __wrap_exit(int status) __attribute__((noreturn));

error_t __wrap_argp_parse(const struct argp *argp, int argc, char **argv, unsigned flags, int *end,
			  void *input)
{
	error_t ret = __real_argp_parse(argp, argc, argv, flags, end, input);

	if (in_command && !ret)
		longjmp(command_end, STOP_PARSED); /* parsed: the command's work is not fuzzed */
	return ret;
}

void __wrap_exit(int status)
{
	if (!in_command)
		__real_exit(status);
	exit_status = status;
	longjmp(command_end, STOP_EXIT);
}

/* Blocks allocated while a command runs and not yet freed. */
#define MAX_LIVE 64
static void *live[MAX_LIVE];
static size_t nlive;
static bool live_overflow;

static void on_malloc(const volatile void *ptr, size_t size)
{
	(void)size;
	if (!in_command)
		return;
	if (nlive == MAX_LIVE)
		live_overflow = true;
	else
		live[nlive++] = (void *)ptr;
}

static void on_free(const volatile void *ptr)
{
	if (!in_command)
		return;
	for (size_t i = 0; i < nlive; i++)
		if (live[i] == ptr) {
			live[i] = live[--nlive];
			return;
		}
}

/* ---- what a command prints: captured without allocating --------------------- */

struct capture {
	char text[8192];
	size_t len;
	bool truncated;
	char stdio_buf[1024];
	FILE *file;
};
static struct capture out, err;

static ssize_t capture_write(void *cookie, const char *buf, size_t size)
{
	struct capture *c = cookie;
	size_t n = size < sizeof(c->text) - 1 - c->len ? size : sizeof(c->text) - 1 - c->len;

	memcpy(c->text + c->len, buf, n);
	c->len += n;
	c->text[c->len] = 0;
	c->truncated |= n < size;
	return (ssize_t)size;
}

static void capture_open(struct capture *c)
{
	c->file = fopencookie(c, "w", (cookie_io_functions_t){ .write = capture_write });
	if (!c->file || setvbuf(c->file, c->stdio_buf, _IOFBF, sizeof(c->stdio_buf)))
		fuzz_die("fopencookie: %m");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	capture_open(&out);
	capture_open(&err);
	if (!__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free))
		fuzz_die("cannot install malloc hooks");
	return 0;
}

/* ---- one command line ------------------------------------------------------ */

static void check_one_line(const char *what, const struct capture *c)
{
	const char *nl = strchr(c->text, '\n');

	if (strncmp(c->text, "tcptune", 7) || !nl || nl[1] || c->truncated)
		fuzz_die("%s: stderr is not one line starting with 'tcptune': '%s'", what, c->text);
}

static void run_command_line(char *words, size_t size)
{
	char *argv[MAX_WORDS + 2] = { "tcptune" };
	int argc = 1;
	volatile int stop, status = 0;
	FILE *saved_out = stdout, *saved_err = stderr;

	for (size_t i = 0; i < size && argc <= MAX_WORDS; argc++) {
		argv[argc] = words + i;
		i += strlen(words + i) + 1;
	}
	argv[argc] = NULL;

	out.len = err.len = 0;
	out.text[0] = err.text[0] = 0;
	out.truncated = err.truncated = false;
	nlive = 0;
	live_overflow = false;
	stdout = out.file;
	stderr = err.file;
	stop = setjmp(command_end);
	if (!stop) {
		in_command = true;
		status = tcptune_main(argc, argv);
		stop = STOP_RETURNED;
	}
	in_command = false;
	fflush(out.file);
	fflush(err.file);
	stdout = saved_out;
	stderr = saved_err;
	log_verbose = 0; /* -v */

	if (live_overflow)
		fuzz_die("more than %d blocks allocated during one command", MAX_LIVE);
	if (stop == STOP_EXIT) {
		/* argp's parser storage: freed by argp_parse, which exit() left */
		for (size_t i = 0; i < nlive; i++)
			free(live[i]);
		status = exit_status;
	}
	if (stop == STOP_PARSED) {
		if (out.len || err.len)
			fuzz_die("a command line that parses printed '%s' '%s'", out.text,
				 err.text);
		return;
	}
	if (status == 0) { /* --help, --usage, --version */
		if (!out.len || err.len)
			fuzz_die("exit 0 before running: stdout '%s', stderr '%s'", out.text,
				 err.text);
	} else if (status == EXIT_USAGE) {
		check_one_line("usage error", &err);
		if (out.len)
			fuzz_die("usage error printed on stdout: '%s'", out.text);
	} else {
		fuzz_die("exit status %d before running (%s): '%s'", status,
			 stop == STOP_EXIT ? "exit" : "returned", err.text);
	}
}

/* ---- the value parsers ----------------------------------------------------- */

static void check_listen(const char *text)
{
	struct sockaddr_storage addr, again;
	unsigned int addrlen, againlen;
	char host[INET6_ADDRSTRLEN], back[INET6_ADDRSTRLEN + 16];
	uint16_t port;

	if (parse_listen(text, &addr, &addrlen))
		return;
	if (addr.ss_family == AF_INET && addrlen == sizeof(struct sockaddr_in)) {
		struct sockaddr_in *a = (struct sockaddr_in *)&addr;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(back, sizeof(back), "%s:%u", host, port);
	} else if (addr.ss_family == AF_INET6 && addrlen == sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addr;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(back, sizeof(back), "[%s]:%u", host, port);
	} else {
		fuzz_die("parse_listen '%s': family %u, length %u", text, addr.ss_family, addrlen);
	}
	if (!port)
		fuzz_die("parse_listen '%s': port 0", text);
	/* what it gave, written back, reads the same */
	if (parse_listen(back, &again, &againlen) || againlen != addrlen ||
	    memcmp(&addr, &again, addrlen))
		fuzz_die("parse_listen '%s' gave %s, which does not read back the same", text,
			 back);
}

/* An option of the bounds table: what it accepts is within its bounds, and
 * what it refuses comes with a reason. */
static void check_option(enum option_id id, const char *text)
{
	const struct option_bounds *o = &option_table[id];
	const char *why = NULL;
	double v;

	if (!option_parse(id, text, &v, &why)) {
		if (!(v >= o->min && v <= o->max) || (o->above_min && v == o->min))
			fuzz_die("option %s '%s' gave %g", o->key, text, v);
	} else if (!why || !*why) {
		fuzz_die("option %s '%s' refused without a reason", o->key, text);
	}
}

static void check_value(int selector, char *text, size_t size)
{
	long count;
	__u64 bytes, again, pages[3];
	enum flow_sort sort;
	char buf[64];

	switch (selector) {
	case SEL_INTERVAL:
		check_option(OPTION_INTERVAL, text);
		break;
	case SEL_COUNT:
		if (!parse_count(text, &count) && count <= 0)
			fuzz_die("parse_count '%s' gave %ld", text, count);
		break;
	case SEL_SIZE:
		if (!parse_size(text, &bytes)) {
			snprintf(buf, sizeof(buf), "%llu", (unsigned long long)bytes);
			if (parse_size(buf, &again) || again != bytes)
				fuzz_die(
					"parse_size '%s' gave %s, which does not read back the same",
					text, buf);
		}
		break;
	case SEL_HEADROOM:
		check_option(OPTION_HEADROOM, text);
		break;
	case SEL_ALPHA:
		check_option(OPTION_ALPHA, text);
		break;
	case SEL_HYSTERESIS:
		check_option(OPTION_HYSTERESIS, text);
		break;
	case SEL_LISTEN:
		check_listen(text);
		break;
	case SEL_SORT:
		if (!parse_sort(text, &sort) &&
		    (sort != SORT_RATE && sort != SORT_RTT && sort != SORT_QUEUE))
			fuzz_die("parse_sort '%s' gave %d", text, (int)sort);
		break;
	case SEL_PATH_WITHIN: { /* OUTER NUL INNER */
		const char *inner = strlen(text) < size ? text + strlen(text) + 1 : "";

		if (!path_within(text, text))
			fuzz_die("path_within: '%s' is not within itself", text);
		if (path_within(text, inner) && path_within(inner, text) && strcmp(text, inner))
			fuzz_die("path_within: '%s' and '%s' are within each other", text, inner);
		break;
	}
	case SEL_MOUNTINFO: { /* the mount point into buffers of every size */
		char point[32];

		for (size_t len = 1; len <= sizeof(point); len += 7)
			if (mountinfo_match(text, "cgroup2", point, len) && strlen(point) >= len)
				fuzz_die("mountinfo_match overran a %zu-byte buffer", len);
		break;
	}
	case SEL_TCP_MEM:
		if (!parse_tcp_mem(text, pages) && (pages[0] > pages[1] || pages[1] > pages[2]))
			fuzz_die("parse_tcp_mem '%s': not increasing", text);
		break;
	case SEL_SOCKSTAT:
		parse_sockstat(text, "TCP", "mem", &pages[0]);
		parse_sockstat(text, "TCP6", "inuse", &pages[1]);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	int selector;

	if (!size)
		return 0;
	selector = data[0] % SELECTORS;
	text = malloc(size); /* the rest, NUL-terminated: an exact fit for ASan */
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	if (selector >= SEL_COMMAND_LINE)
		run_command_line(text, size - 1);
	else
		check_value(selector, text, size - 1);
	free(text);
	return 0;
}
