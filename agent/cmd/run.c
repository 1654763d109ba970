// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `tcptune run`: the agent. */
#include <argp.h>
#include <errno.h>
#include <linux/capability.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "runtime/collect.h"
#include "cmd/commands.h"
#include "runtime/faultpoint.h"
#include "runtime/listen.h"
#include "runtime/log.h"
#include "runtime/metrics_server.h"
#include "core/parse.h"
#include "runtime/probe.h"
#include "runtime/settings.h"
#include "runtime/status_file.h"
#include "runtime/sysctl.h"
#include "runtime/tune.h"

#define OPT_PER_CONNECTION 0x100

struct run_args {
	const char *cgroups[TCPTUNE_MAX_SCOPES];
	int nr_cgroups;
	long max_flows;
	struct cli_settings cli;      /* the settings also in the configuration file */
};


static const struct argp_option run_options[] = {
	{ "cgroup", 'c', "PATH", 0, "Track only sockets of this cgroup v2 subtree (repeatable, up to 16; default: whole host)", 0 },
	{ "interval", 'i', "SECONDS", 0, "Collection interval (default 1)", 0 },
	{ "max-flows", 'm', "N", 0, "Connections tracked at most; beyond it new ones are counted as map_full and not tracked (default 65536)", 0 },
	{ "observe", 'o', NULL, 0, "Compute and show targets; change no socket and no sysctl", 0 },
	{ "min-buf", 'b', "BYTES", 0, "Smallest buffer tcptune sets, as ss shows it (default 8K; K, M, G suffixes)", 0 },
	{ "max-buf", 'B', "BYTES", 0, "Largest buffer tcptune sets (default 64M); net.core.wmem_max/rmem_max are raised to half of it if lower, and restored on exit", 0 },
	{ "headroom", 'H', "X", 0, "Target = X times the bandwidth-delay product (default 2)", 0 },
	{ "alpha", 'a', "A", 0, "Smoothing weight of the newest sample, 0 < A <= 1 (default 0.25)", 0 },
	{ "budget", 'u', "BYTES", 0, "Total buffer bytes tcptune may assign across all connections; grows beyond it are cut or refused (default 0: unlimited; K, M, G suffixes)", 0 },
	{ "metrics", 'M', "ADDR:PORT", 0, "Serve Prometheus metrics at http://ADDR:PORT/metrics (default " METRICS_DEFAULT "; [IPV6]:PORT; off: none)", 0 },
	{ "metrics-per-connection", OPT_PER_CONNECTION, NULL, 0, "Also one metrics series per connection (many series on a busy host)", 0 },
	{ "config", 'f', "PATH", 0, "Configuration file (default " CONFIG_DEFAULT_PATH " if it exists); options given here win over its [global]; SIGHUP reloads it", 0 },
	{ "verbose", 'v', NULL, 0, "Debug output, including libbpf's", 0 },
	{},
};

static error_t run_parse(int key, char *arg, struct argp_state *state)
{
	struct run_args *args = state->input;
	const char *why;

	switch (key) {
	case 'c':
		if (args->nr_cgroups == TCPTUNE_MAX_SCOPES)
			usage_error(state, "at most %d --cgroup options", TCPTUNE_MAX_SCOPES);
		args->cgroups[args->nr_cgroups++] = arg;
		break;
	case 'i':
		if (parse_interval(arg, &args->cli.interval_s, &why))
			usage_error(state, "--interval '%s' %s", arg, why);
		args->cli.set |= CFG_INTERVAL;
		break;
	case 'm':
		if (parse_count(arg, &args->max_flows) || args->max_flows > 16777216)
			usage_error(state, "--max-flows '%s' must be a whole number from 1 to 16777216", arg);
		break;
	case 'o':
		args->cli.observe = true;
		break;
	case 'f':
		args->cli.config_path = arg;
		break;
	case 'b':
	case 'B': {
		__u64 size;

		if (parse_size(arg, &size) || size < EST_BUF_FLOOR || size > EST_BUF_CEILING)
			usage_error(state, "--%s '%s' must be a size from 8K to 1G", key == 'b' ? "min-buf" : "max-buf", arg);
		if (key == 'b')
			args->cli.est.min_buf = (__u32)size;
		else
			args->cli.est.max_buf = (__u32)size;
		args->cli.set |= key == 'b' ? CFG_MIN_BUF : CFG_MAX_BUF;
		break;
	}
	case 'H':
		if (parse_fraction(arg, 1.0, 16.0, &args->cli.est.headroom))
			usage_error(state, "--headroom '%s' must be a number from 1 to 16", arg);
		args->cli.set |= CFG_HEADROOM;
		break;
	case 'a':
		if (parse_fraction(arg, 0.0, 1.0, &args->cli.est.alpha) || args->cli.est.alpha == 0)
			usage_error(state, "--alpha '%s' must be a number above 0 and at most 1", arg);
		args->cli.set |= CFG_ALPHA;
		break;
	case 'u':
		/* 0 is "unlimited"; anything else must hold one min_buf at least */
		if (parse_size(arg, &args->cli.budget) || args->cli.budget > BUDGET_MAX)
			usage_error(state, "--budget '%s' must be 0 (unlimited) or a size up to 1024G (K, M, G suffixes)", arg);
		args->cli.set |= CFG_BUDGET;
		break;
	case 'M': {
		struct sockaddr_storage addr;
		unsigned int addrlen;

		if (strcmp(arg, "off") && parse_listen(arg, &addr, &addrlen))
			usage_error(state, "--metrics '%s' must be ADDR:PORT or off (e.g. 127.0.0.1:9977, [::1]:9977)", arg);
		args->cli.metrics = arg;
		args->cli.set |= CFG_METRICS;
		break;
	}
	case OPT_PER_CONNECTION:
		args->cli.per_connection = true;
		break;
	case 'v':
		log_verbose = 1;
		break;
	default:
		return common_parse(key, arg, state);
	}
	return 0;
}

/* The cgroups to attach to, validated; nested ones are refused because the
 * outer one already covers them. */
static int open_scopes(const struct run_args *args, struct cgroup_scope *scopes, int *nr, bool *whole_host)
{
	char why[PATH_MAX + 128];

	*nr = 0;
	*whole_host = args->nr_cgroups == 0;
	if (*whole_host) {
		char root[PATH_MAX];
		int err = cgroup2_mount(root, sizeof(root));

		if (err) {
			log_error("no cgroup v2 filesystem is mounted: tcptune attaches its sockops program to cgroup v2 (mount one, e.g. mount -t cgroup2 none /sys/fs/cgroup)");
			return EXIT_RUNTIME;
		}
		if (cgroup_scope_open(root, &scopes[0], why, sizeof(why))) {
			log_error("%s", why);
			return EXIT_RUNTIME;
		}
		*nr = 1;
		return 0;
	}
	for (int i = 0; i < args->nr_cgroups; i++) {
		if (cgroup_scope_open(args->cgroups[i], &scopes[i], why, sizeof(why))) {
			log_error("%s", why);
			return EXIT_USAGE;
		}
		(*nr)++;
		for (int j = 0; j < i; j++) {
			if (path_within(scopes[j].path, scopes[i].path) ||
			    path_within(scopes[i].path, scopes[j].path)) {
				log_error("--cgroup %s and --cgroup %s overlap: give only the outer one",
					  scopes[j].path, scopes[i].path);
				return EXIT_USAGE;
			}
		}
	}
	return 0;
}

/* Wait up to `seconds` for a signal on sigfd, or for wake_fd (-1: none) to be
 * readable (*woken). Returns the signal, or 0. */
static int wait_signal(int sigfd, int wake_fd, double seconds, bool *woken)
{
	struct pollfd pfd[2] = { { .fd = sigfd, .events = POLLIN }, { .fd = wake_fd, .events = POLLIN } };
	struct signalfd_siginfo info;
	int ms = seconds > 0 ? (int)(seconds * 1000 + 0.5) : 0;

	*woken = false;
	if (poll(pfd, wake_fd >= 0 ? 2 : 1, ms) <= 0)
		return 0;
	*woken = wake_fd >= 0 && (pfd[1].revents & POLLIN);
	if (!(pfd[0].revents & POLLIN) || read(sigfd, &info, sizeof(info)) != sizeof(info))
		return 0;
	return (int)info.ssi_signo;
}

/* What the metrics page needs beyond the tick's flows. */
struct metrics_state {
	struct metrics_server server;
	bool serving;
	struct cgroup_names *cgroups;
	int stats_fd;                 /* keeps BPF run-time statistics on, -1 if refused */
	struct metrics_histograms hist;
	bool per_connection;
	bool observe;
	__u64 ticks;
	double tick_seconds;          /* the last tick's */
	const struct flow *flows;     /* the last tick's connections */
	size_t nflows;
	const struct features *features;
};

static const char *cgroup_name(void *ctx, uint64_t id)
{
	return cgroup_names_get(ctx, id);
}

/* Each tick: the histograms observe its connections, and the page, when
 * asked for, is rendered from them (metrics_render_page). */
static void metrics_tick(struct metrics_state *ms, const struct flow *flows, size_t n, double tick_s)
{
	if (!ms->serving)
		return;
	metrics_observe(&ms->hist, flows, n);
	ms->flows = flows;
	ms->nflows = n;
	ms->ticks++;
	ms->tick_seconds = tick_s;
}

/* The page from the last tick (its connections are the collector's table,
 * unchanged until the next pass). A failed rendering (out of memory) keeps
 * the previous page. */
static void metrics_render_page(struct metrics_state *ms, struct loader *ld, const struct tuner *t)
{
	struct metrics_program programs[8];
	struct metrics_snapshot m = {
		.flows = ms->flows, .nflows = ms->nflows, .cgroup_name = cgroup_name, .cgroup_ctx = ms->cgroups,
		.per_connection = ms->per_connection, .observe = ms->observe,
		.assigned_bytes = t->assigned, .programs = programs, .ticks = ms->ticks,
		.tick_seconds = ms->tick_seconds, .features = ms->features,
	};
	struct prom_buf page = {};

	if (!ms->serving)
		return;
	m.hist = &ms->hist;
	for (int i = 0; i < CNT_MAX; i++)
		m.events[i] = counter_read(ld->counters_fd, i);
	memcpy(m.changes, t->changes, sizeof(m.changes));
	m.nprograms = loader_program_stats(ld, programs, 8);
	__u64 rss = 0;

	if (process_usage(&m.cpu_seconds, &rss))
		m.cpu_seconds = 0;
	m.rss_bytes = rss;
	if (metrics_render(&m, &page)) {
		log_debug("metrics: out of memory rendering the page; the previous one stays");
		prom_buf_free(&page);
		return;
	}
	metrics_server_publish(&ms->server, &page);
}

static void log_settings(const struct settings *s)
{
	log_info("%s: buffers from %u to %u bytes, headroom %.2g x BDP, alpha %.2g, hysteresis %.2g",
		 s->mode == MODE_OBSERVE ? "observe mode (nothing is changed)" : "tuning", s->est.min_buf,
		 s->est.max_buf, s->est.headroom, s->est.alpha, s->est.hysteresis);
	if (s->path[0])
		log_info("configuration %s: %zu policies (per cgroup and remote CIDR)", s->path, s->file.npolicies);
	for (size_t i = 0; i < s->file.npolicies; i++) {
		char line[CONFIG_SECTION_MAX + 200];

		settings_describe_policy(s, &s->file.policies[i], line, sizeof(line));
		log_info("policy %s", line);
	}
	if (s->budget)
		log_info("budget: at most %llu buffer bytes assigned in total (sizes learned per destination are not handed out)",
			 (unsigned long long)s->budget);
}

/* What `tcptune status` shows of the agent: written at start and each reload. */
struct status_state {
	struct status_attachment att[TCPTUNE_MAX_SCOPES + 6];
	struct status_info info;
	bool written;
};

static void status_setup(struct status_state *ss, const struct cgroup_scope *scopes, int nr_scopes,
			 const struct features *features, const struct feature_plan *plan)
{
	size_t n = 0;

	for (int i = 0; i < nr_scopes; i++) {
		ss->att[n++] = (struct status_attachment){ .program = "tcptune_sockops", .type = "cgroup sock_ops",
							   .target = scopes[i].path };
	}
	ss->att[n++] = (struct status_attachment){ .program = "inet_sock_set_state", .type = "tp_btf",
						   .target = "tracepoint sock/inet_sock_set_state" };
	ss->att[n++] = (struct status_attachment){ .program = "tcptune_iter", .type = "iter/tcp",
						   .target = "run by the agent in every network namespace, each pass" };
	if (plan->app_events) {
		ss->att[n++] = (struct status_attachment){ .program = "tcptune_sendmsg", .type = "tp_btf",
							   .target = "tracepoint sock/sock_send_length" };
		ss->att[n++] = (struct status_attachment){ .program = "tcptune_recvmsg", .type = "tp_btf",
							   .target = "tracepoint sock/sock_recv_length" };
	}
	if (plan->walk == WALK_STORAGE_ITER)
		ss->att[n++] = (struct status_attachment){ .program = "tcptune_refresh", .type = "iter/bpf_sk_storage_map",
							   .target = "run by the agent over the marks, each walk pass" };
	if (plan->owners)
		ss->att[n++] = (struct status_attachment){ .program = "tcptune_owners", .type = "iter/task_file",
							   .target = "run by the agent to find new connections' processes" };
	ss->info = (struct status_info){ .pid = (int)getpid(), .started_unix = (long long)time(NULL),
					 .attachments = ss->att, .nattachments = n, .features = features };
}

static void status_publish(struct status_state *ss, const struct settings *cur)
{
	int err;

	ss->info.settings = cur;
	err = status_write(&ss->info);
	if (err)
		log_error("cannot write %s for 'tcptune status': %s", TCPTUNE_STATUS_JSON, strerror(-err));
	ss->written = true;
}

/* SIGHUP: the file read again; the new settings replace the old only whole,
 * and only if the running agent can honour them. Returns 0 when replaced. */
static int reload(const struct run_args *args, struct settings **cur, struct settings **next, struct tuner *t,
		  struct status_state *ss, bool can_tune, __u32 loaded_min, __u32 loaded_max)
{
	struct settings *swap;
	char why[1024];

	if (settings_load(&args->cli, *next, why, sizeof(why)) ||
	    settings_reloadable(*cur, *next, can_tune, loaded_min, loaded_max, why, sizeof(why))) {
		log_error("reload refused, the running configuration stays: %s", why);
		return -1;
	}
	swap = *cur;
	*cur = *next;
	*next = swap;
	tuner_reconfigure(t, &(*cur)->est, (*cur)->budget, (*cur)->mode == MODE_OBSERVE);
	t->policy_ctx = *cur;
	log_info("reloaded %s", (*cur)->path[0] ? (*cur)->path : "the settings (no configuration file)");
	log_settings(*cur);
	status_publish(ss, *cur);
	return 0;
}

/* What the agent keeps once loaded and attached (caps_keep_only) */
static const int runtime_caps[] = { CAP_SYS_ADMIN, CAP_SYS_PTRACE };

int cmd_run(int argc, char **argv)
{
	struct run_args args = { .max_flows = TCPTUNE_DEFAULT_MAX_FLOWS };
	struct settings *cur = NULL, *next = NULL; /* in force; a reload's candidate */
	struct cgroup_names cgroups = {};
	struct metrics_state ms = { .stats_fd = -1, .cgroups = &cgroups };
	__u32 loaded_min = 0, loaded_max = 0;
	bool can_tune = false;
	struct status_state status = {};
	struct tuner tuner = {};
	bool tuner_ready = false;
	struct argp argp = { run_options, run_parse, NULL,
			     "Load tcptune's BPF programs, collect per-connection TCP metrics and size each connection's buffers from them (--observe: only show the sizes) until SIGINT/SIGTERM.", common_children, NULL, NULL };
	struct cgroup_scope scopes[TCPTUNE_MAX_SCOPES];
	sigset_t signals;
	int sigfd = -1, stop_signal = 0;
	struct loader ld = { .flows_fd = -1 };
	struct collector col = {};
	unsigned int deferred = 0; /* ticks whose changes wait for a targets pass */
	struct loader_opts opts;
	struct features features;
	struct feature_plan plan;
	bool started = false;
	char why[512];
	int lock_fd = -1, nr_scopes = 0, ret, err;
	pid_t holder = 0;
	bool whole_host;

	ret = argp_parse(&argp, argc, argv, TCPTUNE_ARGP_FLAGS, NULL, &args);
	if (ret)
		return EXIT_USAGE;
	libbpf_print_setup();
	/* The per-connection arrays (megabytes at 10,000 connections) are
	 * mapped and unmapped whole: freed memory goes back to the system at
	 * once and growing one is a remap, not a copy. glibc's default raises
	 * that threshold past the first array freed, after which freed arrays
	 * stayed in the heap and in RSS. */
	if (!mallopt(M_MMAP_THRESHOLD, 128 * 1024))
		log_debug("mallopt(M_MMAP_THRESHOLD) refused: freed arrays may stay in RSS");
	cur = calloc(1, sizeof(*cur));
	next = calloc(1, sizeof(*next));
	if (!cur || !next) {
		log_error("out of memory");
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (cgroup_names_init(&cgroups))
		log_info("no cgroup2 mount to name cgroups from: cgroup policies match nothing, metrics label cgroups by id");
	cur->cgroups = next->cgroups = &cgroups;
	if (settings_load(&args.cli, cur, why, sizeof(why))) {
		log_error("%s", why);
		ret = EXIT_USAGE;
		goto cleanup;
	}

	/* from here on a stop request waits for the one cleanup path, even mid-load;
	 * SIGUSR1 asks for a pass now (flows and top, for current figures) */
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGUSR1);
	sigaddset(&signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &signals, SFD_CLOEXEC);
	if (sigfd < 0) {
		log_error("cannot create a signalfd: %s", strerror(errno));
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (!has_privilege()) {
		log_error("run needs root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_ADMIN): run it with sudo");
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	ret = open_scopes(&args, scopes, &nr_scopes, &whole_host);
	if (ret)
		goto cleanup;

	lock_fd = instance_lock(&holder);
	if (lock_fd == -EBUSY) {
		log_error("another tcptune agent is running (pid %d, lock %s): stop it first", (int)holder,
			  TCPTUNE_LOCK_FILE);
		ret = EXIT_RUNTIME;
		goto cleanup;
	} else if (lock_fd < 0) {
		log_error("cannot take the lock %s: %s", TCPTUNE_LOCK_FILE, strerror(-lock_fd));
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	/* before anything is loaded: a taken port leaves nothing attached */
	if (strcmp(cur->metrics, "off")) {
		struct sockaddr_storage addr;
		unsigned int addrlen;

		if (parse_listen(cur->metrics, &addr, &addrlen) ||
		    metrics_server_start(&ms.server, (struct sockaddr *)&addr, addrlen, cur->metrics, why, sizeof(why))) {
			log_error("%s", why);
			ret = EXIT_RUNTIME;
			goto cleanup;
		}
		ms.serving = true;
		metrics_histograms_init(&ms.hist);
		ms.per_connection = args.cli.per_connection;
		ms.observe = cur->mode == MODE_OBSERVE;
	}
	err = loader_remove_stale_pins();
	if (err > 0)
		log_info("removed %d objects pinned by an agent that did not stop cleanly", err);
	else if (err < 0)
		log_error("cannot remove stale pins under %s: %s", TCPTUNE_PIN_DIR, strerror(-err));
	/* sysctls an agent that was killed had raised */
	if (sysctl_restore(why, sizeof(why)) < 0) {
		log_error("%s", why);
		ret = EXIT_RUNTIME;
		goto cleanup;
	}

	/* after the checks of the input: a refusal stays its one line */
	if (probe_kernel(&features, &plan, why, sizeof(why))) {
		log_error("%s", why);
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	ms.features = &features;
	/* fixed for the agent's life: a reload stays within them */
	can_tune = config_any_tune(&cur->file, cur->mode);
	loaded_min = config_buf_bound(&cur->file, &cur->est, false);
	loaded_max = config_buf_bound(&cur->file, &cur->est, true);
	opts = (struct loader_opts){ .scopes = scopes, .nr_scopes = nr_scopes,
				     .whole_host = whole_host, .max_flows = (__u32)args.max_flows,
				     .tune = can_tune, .min_buf = loaded_min, .max_buf = loaded_max, .plan = plan };
	if (loader_start(&ld, &opts, why, sizeof(why))) {
		log_error("%s", why);
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	started = true;
	if (collector_init(&col, &ld)) {
		log_error("cannot read the \"moved\" ring buffer: %s", strerror(errno));
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	/* after the kernel checks and the load: bad input changes no sysctl */
	if (can_tune && sysctl_raise_for(loaded_max, why, sizeof(why))) {
		log_error("%s", why);
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (tuner_init(&tuner, &cur->est, cur->budget, cur->mode == MODE_OBSERVE, ld.targets_fd, ld.dests_fd,
		       ld.status_fd, loader_dests_learned(&ld))) {
		log_error("cannot set up the tuner: out of memory");
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	tuner_ready = true;
	tuner.policy = settings_policy;
	tuner.policy_ctx = cur;
	if (ms.serving) {
		ms.stats_fd = loader_enable_stats();
		if (ms.stats_fd < 0)
			log_info("metrics: kernel BPF statistics could not be enabled (%s): program run counts stay 0",
				 strerror(-ms.stats_fd));
		log_info("metrics: serving http://%s/metrics%s", cur->metrics,
			 args.cli.per_connection ? " (with per-connection series)" : "");
	}

	/* loaded, attached, pinned, sysctls raised: from here on only setns()
	 * into each network namespace (CAP_SYS_ADMIN; also unmounting a bpffs
	 * the agent mounted) and opening /proc/PID/ns/net of other users'
	 * processes (CAP_SYS_PTRACE) need privilege. Maps and links are used
	 * through the fds the agent holds; its files are root's own. */
	if (caps_keep_only(runtime_caps, sizeof(runtime_caps) / sizeof(runtime_caps[0]), why, sizeof(why))) {
		log_error("%s", why);
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	log_info("capabilities dropped to CAP_SYS_ADMIN and CAP_SYS_PTRACE");

	log_settings(cur);
	status_setup(&status, scopes, nr_scopes, &features, &ld.plan);
	status_publish(&status, cur);
	if (whole_host)
		log_info("running on the whole host (cgroup %s), interval %gs, maps pinned under %s",
			 scopes[0].path, cur->interval_s, TCPTUNE_PIN_DIR);
	else
		for (int i = 0; i < nr_scopes; i++)
			log_info("running on cgroup %s, interval %gs, maps pinned under %s", scopes[i].path,
				 cur->interval_s, TCPTUNE_PIN_DIR);

	for (__u64 pass = 1; !stop_signal; pass++) {
		struct pass_result res;
		double start = monotonic_s(), collected, tuned, took;
		enum pass_kind kind = collect_next_kind(&ld, &col, start, tuner_pressure_ahead(&tuner));
		size_t changes;

		/* how stale a moving connection's entry may be when a tick reads it */
		loader_set_refresh(&ld, cur->interval_s / 10);
		err = collect_pass(&ld, &col, pass, kind, &res);
		if (err) {
			log_error("collection pass failed: %s", strerror(-err));
			ret = EXIT_RUNTIME;
			goto cleanup;
		}
		/* the entries the pass just refreshed, read once for both */
		collected = monotonic_s();
		changes = tuner_tick(&tuner, res.flows, res.tracked);
		tuned = monotonic_s();
		metrics_tick(&ms, res.flows, res.tracked, monotonic_s() - start);
		/* apply the changes now rather than one interval later: a probe's
		 * effect then shows in the next tick's figures, which is what
		 * lets a long fat path ramp up in a few ticks. Shrinks alone
		 * wait up to min_change_interval - 1 ticks, so one targets pass
		 * (a walk of whole namespaces) makes several ticks' worth: 10,000
		 * new idle connections shrink over a minute. The estimator still
		 * sees the new size before it may change that buffer again. */
		if (changes || deferred)
			deferred++; /* ticks since the oldest change not applied, this one included */
		if (deferred && (tuner.urgent || deferred >= cur->est.min_change_interval)) {
			fault_point("tune-targets");
			pass++;
			err = collect_apply(&ld, &col, pass, tuner.changed_netns, tuner.nchanged_netns);
			tuner_targets_applied(&tuner);
			deferred = 0;
			if (err) {
				log_error("collection pass failed: %s", strerror(-err));
				ret = EXIT_RUNTIME;
				goto cleanup;
			}
		}
		/* the kernel detaches a program from a removed cgroup: nothing
		 * is tracked there any more, and a cgroup made again at the
		 * path (a restarted service) is a new one, reached by a restart */
		for (int i = 0; i < nr_scopes && !whole_host; i++) {
			if (!cgroup_scope_removed(&scopes[i]))
				continue;
			log_error("cgroup %s was removed while tcptune was attached to it: stopping (start tcptune again to attach to a cgroup made at that path)",
				  scopes[i].path);
			ret = EXIT_RUNTIME;
			goto cleanup;
		}
		took = monotonic_s() - start;
		if (pass == 1)
			log_info("first pass: tracking %zu connections in %d network namespaces",
				 res.tracked, res.namespaces);
		log_debug("pass %llu (%s): %d namespaces (%d skipped), %zu connections tracked, %d stale dropped, %zu changes; collect %.1f ms, tune %.1f ms, in all %.1f ms",
			  (unsigned long long)pass, pass_kind_name[kind], res.namespaces, res.skipped,
			  res.tracked, res.stale, changes, (collected - start) * 1e3, (tuned - collected) * 1e3,
			  took * 1e3);
		/* the next pass comes at the interval, or at once on SIGUSR1 */
		for (double left = cur->interval_s - took;;) {
			bool page_wanted;
			int sig = wait_signal(sigfd, ms.serving ? ms.server.wake_fd : -1, left, &page_wanted);

			if (page_wanted && metrics_server_wanted(&ms.server))
				metrics_render_page(&ms, &ld, &tuner);
			if (sig == SIGINT || sig == SIGTERM)
				stop_signal = sig;
			if (sig == SIGUSR1) /* flows, top: every connection, every figure current */
				col.full_due = true;
			if (sig == SIGHUP && reload(&args, &cur, &next, &tuner, &status, can_tune, loaded_min, loaded_max) == 0)
				ms.observe = cur->mode == MODE_OBSERVE;
			left = cur->interval_s - (monotonic_s() - start);
			if (sig == SIGINT || sig == SIGTERM || sig == SIGUSR1 || left <= 0)
				break;
		}
	}
	log_info("stopping on %s: detaching and unpinning", strsignal(stop_signal));
	ret = 0;

cleanup:
	if (status.written)
		status_remove();
	if (ms.serving)
		metrics_server_stop(&ms.server);
	cgroup_names_free(&cgroups);
	free(cur);
	free(next);
	if (ms.stats_fd >= 0)
		close(ms.stats_fd);
	if (started)
		loader_stop(&ld);
	collector_free(&col);
	if (tuner_ready)
		tuner_free(&tuner);
	fault_point("stop-unpinned");
	/* after the programs are gone: nothing sets buffers against the old caps */
	if (lock_fd >= 0 && sysctl_restore(why, sizeof(why)) < 0)
		log_error("%s", why);
	for (int i = 0; i < nr_scopes; i++)
		close(scopes[i].fd);
	if (lock_fd >= 0)
		close(lock_fd);
	if (sigfd >= 0)
		close(sigfd);
	return ret;
}
