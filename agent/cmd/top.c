// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `tcptune top`: a live table in the spirit of tcptop. On a terminal it
 * redraws in place and takes keys; otherwise it prints plain snapshots. */
#include <argp.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "runtime/collect.h"
#include "cmd/commands.h"
#include "runtime/log.h"
#include "core/parse.h"

struct top_args {
	double interval_s;
	long iterations; /* 0: until q or Ctrl-C */
	enum flow_sort sort;
};

static const struct argp_option top_options[] = {
	{ "interval", 'i', "SECONDS", 0, "Refresh interval (default 1)", 0 },
	{ "iterations", 'n', "N", 0, "Stop after N refreshes (default: until q or Ctrl-C)", 0 },
	{ "sort", 's', "KEY", 0,
	  "Order by rate, rtt or queue (default rate); keys r, t, w switch live", 0 },
	{},
};

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

static error_t top_parse(int key, char *arg, struct argp_state *state)
{
	struct top_args *args = state->input;

	switch (key) {
	case 'i':
		args->interval_s = option_arg(state, OPTION_INTERVAL, arg);
		break;
	case 'n':
		if (parse_count(arg, &args->iterations))
			usage_error(state, "--iterations '%s' must be a whole number above zero",
				    arg);
		break;
	case 's':
		args->sort = sort_option(state, arg);
		break;
	default:
		return common_parse(key, arg, state);
	}
	return 0;
}

static struct termios saved_termios;
static bool raw_mode;

static void terminal_restore(void)
{
	if (raw_mode) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
		fputs("\033[?25h", stdout); /* cursor back */
		fflush(stdout);
		raw_mode = false;
	}
}

static void terminal_raw(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios))
		return;
	t = saved_termios;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0) {
		raw_mode = true;
		fputs("\033[?25l", stdout); /* hide the cursor while redrawing */
	}
}

/* Wait up to `seconds` for a key; returns it, or 0 on timeout. */
static int wait_key(double seconds)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	char c;

	if (!raw_mode) {
		struct timespec ts = { (time_t)seconds,
				       (long)((seconds - (double)(time_t)seconds) * 1e9) };

		nanosleep(&ts, NULL);
		return 0;
	}
	if (poll(&pfd, 1, (int)(seconds * 1000)) > 0 && read(STDIN_FILENO, &c, 1) == 1)
		return c;
	return 0;
}

static int screen_size(int *rows, int *cols)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || !ws.ws_row)
		return -1;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}

static void draw(const struct pinned_maps *maps, const struct top_args *args, bool tty)
{
	struct flow_row *flows = NULL;
	bool fresh = request_fresh_pass(maps, FRESH_PASS_TIMEOUT_S) == 0;
	int n = flows_read_with_targets(maps, &flows), rows = 40, cols = 180;
	time_t now = time(NULL);
	char stamp[32];

	if (n < 0) {
		log_error("cannot read %s/flows: %s", TCPTUNE_PIN_DIR, strerror(-n));
		top_stop = 1;
		return;
	}
	strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&now));
	sort_flows(flows, (size_t)n, args->sort);
	if (tty) {
		screen_size(&rows, &cols);
		fputs("\033[H\033[2J", stdout);
	}
	printf("%s  tcptune top  %d connections  map_full %llu  sorted by %s%s%s\n", stamp, n,
	       (unsigned long long)counter_read(maps->counters_fd, CNT_MAP_FULL),
	       sort_name(args->sort), fresh ? "" : "  (agent busy: figures from its last pass)",
	       tty ? "  [r]ate [t] RTT [w] queue [q]uit" : "");
	/* on a terminal, as many rows as fit under the two header lines */
	print_flows_table(stdout, flows,
			  tty && n > rows - 3 ? (size_t)(rows > 3 ? rows - 3 : 0) : (size_t)n,
			  cols);
	if (!tty)
		putchar('\n');
	fflush(stdout);
	free(flows);
}

int cmd_top(int argc, char **argv)
{
	struct top_args args = { .interval_s = 1.0, .sort = SORT_RATE };
	struct argp argp = { top_options,
			     top_parse,
			     NULL,
			     "Live table of the connections the running agent tracks.",
			     common_children,
			     NULL,
			     NULL };
	struct sigaction sa = { .sa_handler = top_on_signal };
	struct pinned_maps maps;
	bool tty = isatty(STDOUT_FILENO);
	char why[256];

	if (argp_parse(&argp, argc, argv, TCPTUNE_ARGP_FLAGS, NULL, &args))
		return EXIT_USAGE;
	if (pinned_maps_open(&maps, why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (tty)
		terminal_raw();
	for (long i = 0; !top_stop && (!args.iterations || i < args.iterations); i++) {
		int key;

		draw(&maps, &args, tty);
		if (args.iterations && i + 1 == args.iterations)
			break;
		key = wait_key(args.interval_s);
		if (key == 'q' || key == 'Q')
			break;
		if (key == 'r')
			args.sort = SORT_RATE;
		else if (key == 't')
			args.sort = SORT_RTT;
		else if (key == 'w')
			args.sort = SORT_QUEUE;
	}
	terminal_restore();
	pinned_maps_close(&maps);
	return 0;
}
