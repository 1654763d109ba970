// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `tcptune run`: the agent's options; the agent itself is runtime/agent.c. */
#include <argp.h>
#include <string.h>
#include <sys/socket.h>
#include "cmd/commands.h"
#include "runtime/agent.h"
#include "runtime/listen.h"
#include "runtime/log.h"

/* keys of the options without a short form: above every character */
enum run_long_option {
	OPT_PER_CONNECTION = 0x100,
	OPT_BPF_STATS,
};

static const struct argp_option run_options[] = {
	{ "cgroup", 'c', "PATH", 0,
	  "Track only sockets of this cgroup v2 subtree (repeatable, up to 16; default: whole host)",
	  0 },
	{ "interval", 'i', "SECONDS", 0, "Collection interval (default 1)", 0 },
	{ "max-flows", 'm', "N", 0,
	  "Sockets tracked at most; beyond it new ones are counted as map_full and not tracked (default: the kernel's TCP established hash size, 65536 to 4194304)",
	  0 },
	{ "observe", 'o', NULL, 0, "Compute and show targets; change no socket and no sysctl", 0 },
	{ "min-buf", 'b', "BYTES", 0,
	  "Smallest buffer tcptune sets, as ss shows it (default 8K; K, M, G suffixes)", 0 },
	{ "max-buf", 'B', "BYTES", 0,
	  "Largest buffer tcptune sets (default 64M); net.core.wmem_max/rmem_max are raised to half of it if lower, and restored on exit",
	  0 },
	{ "headroom", 'H', "X", 0, "Target = X times the bandwidth-delay product (default 2)", 0 },
	{ "alpha", 'a', "A", 0, "Smoothing weight of the newest sample, 0 < A <= 1 (default 0.25)",
	  0 },
	{ "budget", 'u', "BYTES", 0,
	  "Total buffer bytes tcptune may assign across all connections; grows beyond it are cut or refused (default 0: unlimited; K, M, G suffixes)",
	  0 },
	{ "metrics", 'M', "ADDR:PORT", 0,
	  "Serve Prometheus metrics at http://ADDR:PORT/metrics (default " METRICS_DEFAULT
	  "; [IPV6]:PORT; off: none)",
	  0 },
	{ "metrics-per-connection", OPT_PER_CONNECTION, NULL, 0,
	  "Also one metrics series per connection (many series on a busy host)", 0 },
	{ "metrics-bpf-stats", OPT_BPF_STATS, NULL, 0,
	  "Also the runs and run time of each BPF program: turns on the kernel's BPF statistics, which time every BPF program on the host (two clock reads per run)",
	  0 },
	{ "config", 'f', "PATH", 0,
	  "Configuration file (default " CONFIG_DEFAULT_PATH
	  " if it exists); options given here win over its [global]; SIGHUP reloads it",
	  0 },
	{ "verbose", 'v', NULL, 0, "Debug output, including libbpf's", 0 },
	{},
};

/* --metrics: an address to listen on, or off. */
static const char *metrics_arg(const struct argp_state *state, const char *arg)
{
	struct sockaddr_storage addr;
	unsigned int addrlen;

	if (strcmp(arg, "off") && parse_listen(arg, &addr, &addrlen))
		usage_error(
			state,
			"--metrics '%s' must be ADDR:PORT or off (e.g. 127.0.0.1:9977, [::1]:9977)",
			arg);
	return arg;
}

static error_t run_parse(int key, char *arg, struct argp_state *state)
{
	struct agent_options *args = state->input;

	switch (key) {
	case 'c':
		if (args->nr_cgroups == TCPTUNE_MAX_SCOPES)
			usage_error(state, "at most %d --cgroup options", TCPTUNE_MAX_SCOPES);
		args->cgroups[args->nr_cgroups++] = arg;
		break;
	case 'i':
		args->cli.interval_s = option_arg(state, OPTION_INTERVAL, arg);
		args->cli.set |= CFG_INTERVAL;
		break;
	case 'm':
		args->max_flows = (long)option_arg(state, OPTION_MAX_FLOWS, arg);
		break;
	case 'o':
		args->cli.observe = true;
		break;
	case 'f':
		args->cli.config_path = arg;
		break;
	case 'b':
		args->cli.est.min_buf = (__u32)option_arg(state, OPTION_MIN_BUF, arg);
		args->cli.set |= CFG_MIN_BUF;
		break;
	case 'B':
		args->cli.est.max_buf = (__u32)option_arg(state, OPTION_MAX_BUF, arg);
		args->cli.set |= CFG_MAX_BUF;
		break;
	case 'H':
		args->cli.est.headroom = option_arg(state, OPTION_HEADROOM, arg);
		args->cli.set |= CFG_HEADROOM;
		break;
	case 'a':
		args->cli.est.alpha = option_arg(state, OPTION_ALPHA, arg);
		args->cli.set |= CFG_ALPHA;
		break;
	case 'u':
		/* 0 is "unlimited"; anything else must hold one min_buf at least
		 * (settings_load, once min_buf is known) */
		args->cli.budget = (__u64)option_arg(state, OPTION_BUDGET, arg);
		args->cli.set |= CFG_BUDGET;
		break;
	case 'M':
		args->cli.metrics = metrics_arg(state, arg);
		args->cli.set |= CFG_METRICS;
		break;
	case OPT_PER_CONNECTION:
		args->cli.per_connection = true;
		break;
	case OPT_BPF_STATS:
		args->cli.bpf_stats = true;
		break;
	case 'v':
		log_verbose = 1;
		break;
	default:
		return common_parse(key, arg, state);
	}
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct agent_options opts = { .max_flows = 0 }; /* 0: sized for the host at start */
	struct argp argp = {
		run_options,
		run_parse,
		NULL,
		"Load tcptune's BPF programs, collect per-connection TCP metrics and size each connection's buffers from them (--observe: only show the sizes) until SIGINT/SIGTERM.",
		common_children,
		NULL,
		NULL
	};
	struct agent agent;
	int ret;

	if (argp_parse(&argp, argc, argv, TCPTUNE_ARGP_FLAGS, NULL, &opts))
		return EXIT_USAGE;
	libbpf_print_setup();
	ret = agent_start(&agent, &opts);
	while (!ret && !agent.stop_signal) {
		ret = agent_tick(&agent);
		if (!ret)
			agent_wait(&agent);
	}
	if (!ret)
		log_info("stopping on %s: detaching and unpinning", strsignal(agent.stop_signal));
	agent_stop(&agent);
	return ret;
}
