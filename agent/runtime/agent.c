// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The running agent: its start, one step per resource, its passes and its
 * stop. */
#include <errno.h>
#include <linux/capability.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include "core/metrics.h"
#include "core/parse.h"
#include "runtime/agent.h"
#include "runtime/faultpoint.h"
#include "runtime/listen.h"
#include "runtime/log.h"
#include "runtime/metrics_server.h"
#include "runtime/probe.h"
#include "runtime/sysctl.h"

/* What the metrics page needs beyond the tick's flows. */
struct agent_metrics {
	struct metrics_server server;
	int stats_fd; /* keeps BPF run-time statistics on, -1 if refused */
	struct metrics_histograms hist;
	__u64 ticks;
	double tick_seconds;      /* the last tick's */
	const struct flow *flows; /* the last tick's connections */
	size_t nflows;
};

/* What the agent keeps once loaded and attached (caps_keep_only) */
static const int runtime_caps[] = { CAP_SYS_ADMIN, CAP_SYS_PTRACE };

/* ---- what the agent shows: log lines, the status files, the metrics page ---- */

static void log_settings(const struct settings *s)
{
	log_info(
		"%s: buffers from %u to %u bytes, headroom %.2g x BDP, alpha %.2g, hysteresis %.2g",
		s->mode == MODE_OBSERVE ? "observe mode (nothing is changed)" : "tuning",
		s->est.min_buf, s->est.max_buf, s->est.headroom, s->est.alpha, s->est.hysteresis);
	if (s->path[0])
		log_info("configuration %s: %zu policies (per cgroup and remote CIDR)", s->path,
			 s->file.npolicies);
	for (size_t i = 0; i < s->file.npolicies; i++) {
		char line[CONFIG_SECTION_MAX + 200];

		settings_describe_policy(s, &s->file.policies[i], line, sizeof(line));
		log_info("policy %s", line);
	}
	if (s->budget)
		log_info(
			"budget: at most %llu buffer bytes assigned in total (sizes learned per destination are not handed out)",
			(unsigned long long)s->budget);
}

/* The programs besides sockops (one attachment per cgroup), as status shows
 * them; it lists those the loader loaded, which it chose for the kernel. */
static const struct status_attachment programs[] = {
	{ "inet_sock_set_state", "tp_btf", "tracepoint sock/inet_sock_set_state" },
	{ "tcptune_iter", "iter/tcp", "run by the agent in every network namespace, each pass" },
	{ "tcptune_sendmsg", "tp_btf", "tracepoint sock/sock_send_length" },
	{ "tcptune_recvmsg", "tp_btf", "tracepoint sock/sock_recv_length" },
	{ "tcptune_refresh", "iter/bpf_sk_storage_map",
	  "run by the agent over the marks, each walk pass" },
	{ "tcptune_owners", "iter/task_file",
	  "run by the agent to find new connections' processes" },
};

static void status_setup(struct agent *a)
{
	struct status_attachment *att = a->status.att;
	size_t n = 0;

	for (int i = 0; i < a->nr_scopes; i++) {
		att[n++] = (struct status_attachment){ .program = "tcptune_sockops",
						       .type = "cgroup sock_ops",
						       .target = a->scopes[i].path };
	}
	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++)
		if (loader_loaded(&a->loader, programs[i].program))
			att[n++] = programs[i];
	a->status.info = (struct status_info){ .pid = (int)getpid(),
					       .started_unix = (long long)time(NULL),
					       .attachments = att,
					       .nattachments = n,
					       .features = &a->features,
					       .max_flows = a->opts.max_flows,
					       .max_flows_for_host = a->max_flows_for_host };
}

static void status_publish(struct agent_status_file *ss, const struct settings *cur)
{
	int err;

	ss->info.settings = cur;
	err = status_write(&ss->info);
	if (err)
		log_error("cannot write %s for 'tcptune status': %s", TCPTUNE_STATUS_JSON,
			  strerror(-err));
	ss->written = true;
}

static const char *cgroup_name(void *ctx, uint64_t id)
{
	return cgroup_names_get(ctx, id);
}

/* Each tick: the histograms observe its connections, and the page, when
 * asked for, is rendered from them (metrics_render_page). */
static void metrics_tick(struct agent_metrics *m, const struct flow *flows, size_t n, double tick_s)
{
	if (!m)
		return;
	metrics_observe(&m->hist, flows, n);
	m->flows = flows;
	m->nflows = n;
	m->ticks++;
	m->tick_seconds = tick_s;
}

/* The page from the last tick (its connections are the collector's table:
 * the same entries until the next pass, their figures refreshed by reads of
 * "moved" between ticks). A failed rendering (out of memory) keeps the
 * previous page. */
static void metrics_render_page(struct agent *a)
{
	struct agent_metrics *ms = a->metrics;
	struct metrics_program programs[8];
	struct metrics_snapshot m = {
		.flows = ms->flows,
		.nflows = ms->nflows,
		.cgroup_name = cgroup_name,
		.cgroup_ctx = &a->cgroups,
		.per_connection = a->opts.cli.per_connection,
		.observe = a->cur->mode == MODE_OBSERVE,
		.assigned_bytes = a->tuner.assigned,
		.programs = programs,
		.ticks = ms->ticks,
		.tick_seconds = ms->tick_seconds,
		.features = &a->features,
	};
	struct prom_buf page = {};
	__u64 rss = 0;

	m.hist = &ms->hist;
	for (int i = 0; i < CNT_MAX; i++)
		m.events[i] = counter_read(a->loader.counters_fd, i);
	memcpy(m.changes, a->tuner.changes, sizeof(m.changes));
	if (ms->stats_fd >= 0)
		m.nprograms = loader_program_stats(&a->loader, programs, 8);
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

/* ---- the start, a step per resource: each records what it holds ---- */

/* The per-connection arrays (megabytes at 10,000 connections) are mapped
 * and unmapped whole: freed memory goes back to the system at once and
 * growing one is a remap, not a copy. glibc's default raises that threshold
 * past the first array freed, after which freed arrays stayed in the heap
 * and in RSS. */
static int tune_malloc(struct agent *a)
{
	(void)a;
	if (!mallopt(M_MMAP_THRESHOLD, 128 * 1024))
		log_debug("mallopt(M_MMAP_THRESHOLD) refused: freed arrays may stay in RSS");
	return 0;
}

static int load_settings(struct agent *a)
{
	char why[512];

	a->cur = calloc(1, sizeof(*a->cur));
	a->next = calloc(1, sizeof(*a->next));
	if (!a->cur || !a->next) {
		log_error("out of memory");
		return EXIT_RUNTIME;
	}
	if (cgroup_names_init(&a->cgroups))
		log_info(
			"no cgroup2 mount to name cgroups from: cgroup policies match nothing, metrics label cgroups by id");
	a->cur->cgroups = a->next->cgroups = &a->cgroups;
	if (settings_load(&a->opts.cli, a->cur, why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_USAGE;
	}
	return 0;
}

/* From here on a stop request waits for agent_stop, even mid-load; SIGUSR1
 * asks for a pass now (flows and top, for current figures). */
static int take_signals(struct agent *a)
{
	sigset_t signals;

	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGUSR1);
	sigaddset(&signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->sigfd = signalfd(-1, &signals, SFD_CLOEXEC);
	if (a->sigfd < 0) {
		log_error("cannot create a signalfd: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	return 0;
}

static int check_privilege(struct agent *a)
{
	(void)a;
	if (!has_privilege()) {
		log_error(
			"run needs root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_SYS_ADMIN): run it with sudo");
		return EXIT_RUNTIME;
	}
	return 0;
}

static int open_whole_host(struct agent *a)
{
	char root[PATH_MAX], why[PATH_MAX + 128];

	if (cgroup2_mount(root, sizeof(root))) {
		log_error(
			"no cgroup v2 filesystem is mounted: tcptune attaches its sockops program to cgroup v2 (mount one, e.g. mount -t cgroup2 none /sys/fs/cgroup)");
		return EXIT_RUNTIME;
	}
	if (cgroup_scope_open(root, &a->scopes[0], why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	a->nr_scopes = 1;
	return 0;
}

/* The cgroups to attach to, validated; nested ones are refused because the
 * outer one already covers them. */
static int open_scopes(struct agent *a)
{
	struct cgroup_scope *scopes = a->scopes;
	char why[PATH_MAX + 128];

	a->whole_host = a->opts.nr_cgroups == 0;
	if (a->whole_host)
		return open_whole_host(a);
	for (int i = 0; i < a->opts.nr_cgroups; i++) {
		if (cgroup_scope_open(a->opts.cgroups[i], &scopes[i], why, sizeof(why))) {
			log_error("%s", why);
			return EXIT_USAGE;
		}
		a->nr_scopes++;
		for (int j = 0; j < i; j++) {
			if (path_within(scopes[j].path, scopes[i].path) ||
			    path_within(scopes[i].path, scopes[j].path)) {
				log_error(
					"--cgroup %s and --cgroup %s overlap: give only the outer one",
					scopes[j].path, scopes[i].path);
				return EXIT_USAGE;
			}
		}
	}
	return 0;
}

/* Before the leftovers are cleared and anything is loaded: a second agent
 * leaves the first one's pins, sysctls and status files alone. */
static int take_lock(struct agent *a)
{
	pid_t holder = 0;
	int fd = instance_lock(&holder);

	if (fd == -EBUSY) {
		log_error("another tcptune agent is running (pid %d, lock %s): stop it first",
			  (int)holder, TCPTUNE_LOCK_FILE);
		return EXIT_RUNTIME;
	} else if (fd < 0) {
		log_error("cannot take the lock %s: %s", TCPTUNE_LOCK_FILE, strerror(-fd));
		return EXIT_RUNTIME;
	}
	a->lock_fd = fd;
	return 0;
}

/* Before anything is loaded: a taken port leaves nothing attached. */
static int serve_metrics(struct agent *a)
{
	struct sockaddr_storage addr;
	unsigned int addrlen;
	char why[512];

	if (!strcmp(a->cur->metrics, "off"))
		return 0;
	a->metrics = calloc(1, sizeof(*a->metrics));
	if (!a->metrics) {
		log_error("out of memory");
		return EXIT_RUNTIME;
	}
	a->metrics->stats_fd = -1;
	if (parse_listen(a->cur->metrics, &addr, &addrlen) ||
	    metrics_server_start(&a->metrics->server, (struct sockaddr *)&addr, addrlen,
				 a->cur->metrics, why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	metrics_histograms_init(&a->metrics->hist);
	return 0;
}

/* What an agent that did not stop cleanly left: its pins, and the sysctls
 * it had raised. */
static int clear_leftovers(struct agent *a)
{
	char why[512];
	int err;

	(void)a;
	err = loader_remove_stale_pins();
	if (err > 0)
		log_info("removed %d objects pinned by an agent that did not stop cleanly", err);
	else if (err < 0)
		log_error("cannot remove stale pins under %s: %s", TCPTUNE_PIN_DIR, strerror(-err));
	if (sysctl_restore(why, sizeof(why)) < 0) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	return 0;
}

/* After the checks of the input: a refusal stays its one line. */
static int probe(struct agent *a)
{
	char why[512];

	if (probe_kernel(&a->features, &a->plan, why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	a->can_tune = config_any_tune(&a->cur->file, a->cur->mode);
	a->loaded_min = config_buf_bound(&a->cur->file, &a->cur->est, false);
	a->loaded_max = config_buf_bound(&a->cur->file, &a->cur->est, true);
	return 0;
}

/* Without --max-flows, as many sockets as the kernel's established hash is
 * sized for: the maps take memory per tracked socket, not per entry allowed. */
static void size_flows(struct agent *a)
{
	long hash = 0;
	int err;

	if (a->opts.max_flows)
		return;
	err = tcp_established_hash(&hash);
	a->opts.max_flows = max_flows_for_host(err ? 0 : hash);
	a->max_flows_for_host = true;
	if (err)
		log_info(
			"the kernel's TCP established hash size is unknown (%s): tracking up to %ld sockets; --max-flows sets another limit",
			strerror(-err), a->opts.max_flows);
	else
		log_debug("tracking up to %ld sockets (the kernel's TCP established hash: %ld)",
			  a->opts.max_flows, hash);
}

static int load_programs(struct agent *a)
{
	struct loader_opts opts;
	long ring_bytes;
	char why[512];

	size_flows(a);
	ring_bytes = moved_ring_bytes(a->opts.max_flows);
	log_debug("a %ld MB ring buffer for the sockets that moved", ring_bytes >> 20);
	opts = (struct loader_opts){ .scopes = a->scopes,
				     .nr_scopes = a->nr_scopes,
				     .whole_host = a->whole_host,
				     .max_flows = (__u32)a->opts.max_flows,
				     .moved_ring_bytes = (__u32)ring_bytes,
				     .tune = a->can_tune,
				     .min_buf = a->loaded_min,
				     .max_buf = a->loaded_max,
				     .plan = a->plan };
	if (loader_start(&a->loader, &opts, why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	return 0;
}

static int init_collector(struct agent *a)
{
	if (collector_init(&a->col, &a->loader)) {
		log_error("cannot read the \"moved\" ring buffer: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	return 0;
}

/* After the kernel checks and the load: bad input changes no sysctl. */
static int raise_sysctls(struct agent *a)
{
	char why[512];

	if (a->can_tune && sysctl_raise_for(a->loaded_max, why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	return 0;
}

static int init_tuner(struct agent *a)
{
	const struct settings *cur = a->cur;

	if (tuner_init(&a->tuner, &cur->est, cur->budget, cur->mode == MODE_OBSERVE,
		       a->loader.targets_fd, a->loader.dests_fd, a->loader.status_fd,
		       loader_dests_learned(&a->loader))) {
		log_error("cannot set up the tuner: out of memory");
		return EXIT_RUNTIME;
	}
	a->tuner.policy = settings_policy_for(a->cur);
	a->tuner.policy_ctx = a->cur;
	return 0;
}

static int enable_stats(struct agent *a)
{
	struct agent_metrics *m = a->metrics;

	if (!m)
		return 0;
	/* off unless asked: while on, the kernel times every BPF program on
	 * the host, tcptune's on every write and read among them */
	if (a->opts.cli.bpf_stats) {
		m->stats_fd = loader_enable_stats();
		if (m->stats_fd < 0)
			log_info(
				"metrics: kernel BPF statistics could not be enabled (%s): no program series",
				strerror(-m->stats_fd));
	}
	log_info("metrics: serving http://%s/metrics%s%s", a->cur->metrics,
		 a->opts.cli.per_connection ? " (with per-connection series)" : "",
		 m->stats_fd >= 0 ? " (with BPF program statistics)" : "");
	return 0;
}

/* Loaded, attached, pinned, sysctls raised: from here on only setns() into
 * each network namespace (CAP_SYS_ADMIN; also unmounting a bpffs the agent
 * mounted) and opening /proc/PID/ns/net of other users' processes
 * (CAP_SYS_PTRACE) need privilege. Maps and links are used through the fds
 * the agent holds; its files are root's own. */
static int drop_caps(struct agent *a)
{
	char why[512];

	(void)a;
	if (caps_keep_only(runtime_caps, sizeof(runtime_caps) / sizeof(runtime_caps[0]), why,
			   sizeof(why))) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	log_info("capabilities dropped to CAP_SYS_ADMIN and CAP_SYS_PTRACE");
	return 0;
}

static int announce(struct agent *a)
{
	log_settings(a->cur);
	status_setup(a);
	status_publish(&a->status, a->cur);
	if (a->whole_host)
		log_info(
			"running on the whole host (cgroup %s), interval %gs, maps pinned under %s",
			a->scopes[0].path, a->cur->interval_s, TCPTUNE_PIN_DIR);
	else
		for (int i = 0; i < a->nr_scopes; i++)
			log_info("running on cgroup %s, interval %gs, maps pinned under %s",
				 a->scopes[i].path, a->cur->interval_s, TCPTUNE_PIN_DIR);
	return 0;
}

/* The steps in the order they run; the comment above a step says what it
 * must come after, where that matters. */
static int (*const start_steps[])(struct agent *a) = {
	tune_malloc, load_settings, take_signals,   check_privilege,
	open_scopes, take_lock,     serve_metrics,  clear_leftovers,
	probe,       load_programs, init_collector, raise_sysctls,
	init_tuner,  enable_stats,  drop_caps,      announce,
};

/* Holds nothing: every record says so (fds -1), whatever *a held before. */
static void agent_reset(struct agent *a, const struct agent_options *opts)
{
	memset(a, 0, sizeof(*a));
	a->opts = *opts;
	a->sigfd = a->lock_fd = -1;
	loader_init(&a->loader);
}

int agent_start(struct agent *a, const struct agent_options *opts)
{
	agent_reset(a, opts);
	for (size_t i = 0; i < sizeof(start_steps) / sizeof(start_steps[0]); i++) {
		int ret = start_steps[i](a);

		if (ret)
			return ret;
	}
	return 0;
}

/* ---- the passes ---- */

/* Apply the changes now rather than one interval later: a probe's effect
 * then shows in the next tick's figures, which is what lets a long fat path
 * ramp up in a few ticks. Shrinks alone wait up to min_change_interval - 1
 * ticks, so one targets pass (a walk of whole namespaces) makes several
 * ticks' worth: 10,000 new idle connections shrink over a minute. The
 * estimator still sees the new size before it may change that buffer
 * again. */
static int apply_changes(struct agent *a, size_t changes)
{
	int err;

	if (changes || a->deferred)
		a->deferred++; /* ticks since the oldest change not applied, this one included */
	if (!a->deferred || (!a->tuner.urgent && a->deferred < a->cur->est.min_change_interval))
		return 0;
	fault_point("tune-targets");
	a->pass++;
	err = collect_apply(&a->loader, &a->col, a->pass, a->tuner.changed_netns,
			    a->tuner.nchanged_netns);
	tuner_targets_applied(&a->tuner);
	a->deferred = 0;
	if (err) {
		log_error("collection pass failed: %s", strerror(-err));
		return EXIT_RUNTIME;
	}
	return 0;
}

/* The kernel detaches a program from a removed cgroup: nothing is tracked
 * there any more, and a cgroup made again at the path (a restarted service)
 * is a new one, reached by a restart. */
static int check_scopes(struct agent *a)
{
	for (int i = 0; i < a->nr_scopes && !a->whole_host; i++) {
		if (!cgroup_scope_removed(&a->scopes[i]))
			continue;
		log_error(
			"cgroup %s was removed while tcptune was attached to it: stopping (start tcptune again to attach to a cgroup made at that path)",
			a->scopes[i].path);
		return EXIT_RUNTIME;
	}
	return 0;
}

int agent_tick(struct agent *a)
{
	double start = monotonic_s(), collected, tuned, took;
	enum pass_kind kind =
		collect_next_kind(&a->loader, &a->col, start, tuner_pressure_ahead(&a->tuner));
	struct pass_result res;
	size_t changes;
	int err;

	a->pass++;
	a->tick_start = start;
	/* how stale a moving connection's entry may be when a tick reads it */
	loader_set_refresh(&a->loader, a->cur->interval_s / 10);
	err = collect_pass(&a->loader, &a->col, a->pass, kind, &res);
	if (err) {
		log_error("collection pass failed: %s", strerror(-err));
		return EXIT_RUNTIME;
	}
	/* the entries the pass just refreshed, read once for both */
	collected = monotonic_s();
	changes = tuner_tick(&a->tuner, res.flows, res.cookies, res.tracked);
	tuned = monotonic_s();
	metrics_tick(a->metrics, res.flows, res.tracked, monotonic_s() - start);
	err = apply_changes(a, changes);
	if (!err)
		err = check_scopes(a);
	if (err)
		return err;
	took = monotonic_s() - start;
	if (a->pass == 1)
		log_info("first pass: tracking %zu connections in %d network namespaces",
			 res.tracked, res.namespaces);
	log_debug(
		"pass %llu (%s): %d namespaces (%d skipped), %zu connections tracked, %d stale dropped, %zu changes; collect %.1f ms, tune %.1f ms, in all %.1f ms",
		(unsigned long long)a->pass, pass_kind_name[kind], res.namespaces, res.skipped,
		res.tracked, res.stale, changes, (collected - start) * 1e3,
		(tuned - collected) * 1e3, took * 1e3);
	return 0;
}

/* SIGHUP: the file read again; the new settings replace the old only whole,
 * and only if the running agent can honour them. */
static void reload(struct agent *a)
{
	struct settings *swap;
	char why[1024];

	if (settings_load(&a->opts.cli, a->next, why, sizeof(why)) ||
	    settings_reloadable(a->cur, a->next, a->can_tune, a->loaded_min, a->loaded_max, why,
				sizeof(why))) {
		log_error("reload refused, the running configuration stays: %s", why);
		return;
	}
	swap = a->cur;
	a->cur = a->next;
	a->next = swap;
	tuner_reconfigure(&a->tuner, &a->cur->est, a->cur->budget, a->cur->mode == MODE_OBSERVE);
	a->tuner.policy = settings_policy_for(a->cur);
	a->tuner.policy_ctx = a->cur;
	log_info("reloaded %s",
		 a->cur->path[0] ? a->cur->path : "the settings (no configuration file)");
	log_settings(a->cur);
	status_publish(&a->status, a->cur);
}

/* What the wait between ticks watches. */
enum wait_source { WAIT_SIGNAL, WAIT_METRICS, WAIT_MOVED, WAIT_SOURCES };

/* Wait up to `seconds` for a signal on fds[WAIT_SIGNAL], or for another of
 * fds (-1: none) to be readable (ready[]). Returns the signal, or 0. */
static int wait_signal(const int fds[WAIT_SOURCES], double seconds, bool ready[WAIT_SOURCES])
{
	struct pollfd pfd[WAIT_SOURCES];
	struct signalfd_siginfo info;
	int ms = seconds > 0 ? (int)(seconds * 1000 + 0.5) : 0;

	for (int i = 0; i < WAIT_SOURCES; i++) {
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		ready[i] = false;
	}
	if (poll(pfd, WAIT_SOURCES, ms) <= 0)
		return 0;
	for (int i = 0; i < WAIT_SOURCES; i++)
		ready[i] = fds[i] >= 0 && (pfd[i].revents & POLLIN);
	if (!ready[WAIT_SIGNAL] || read(fds[WAIT_SIGNAL], &info, sizeof(info)) != sizeof(info))
		return 0;
	return (int)info.ssi_signo;
}

/* The next tick comes at the interval, or at once on SIGUSR1. Meanwhile the
 * records of "moved" that wake the agent (the ring is filling) are read. */
void agent_wait(struct agent *a)
{
	double left = a->cur->interval_s - (monotonic_s() - a->tick_start);
	int fds[WAIT_SOURCES] = { [WAIT_SIGNAL] = a->sigfd,
				  [WAIT_METRICS] = a->metrics ? a->metrics->server.wake_fd : -1,
				  [WAIT_MOVED] = collect_moved_fd(&a->col) };

	for (;;) {
		bool ready[WAIT_SOURCES];
		int sig = wait_signal(fds, left, ready);
		bool page_wanted = ready[WAIT_METRICS];

		if (ready[WAIT_MOVED] && collect_moved(&a->col) < 0)
			fds[WAIT_MOVED] = -1; /* read at the tick, which says why */
		if (page_wanted && metrics_server_wanted(&a->metrics->server))
			metrics_render_page(a);
		if (sig == SIGINT || sig == SIGTERM)
			a->stop_signal = sig;
		if (sig == SIGUSR1) /* flows, top: every connection, every figure current */
			a->col.full_due = true;
		if (sig == SIGHUP)
			reload(a);
		left = a->cur->interval_s - (monotonic_s() - a->tick_start);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGUSR1 || left <= 0)
			return;
	}
}

/* ---- the stop ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void metrics_stop(struct agent *a)
{
	if (!a->metrics)
		return;
	metrics_server_stop(&a->metrics->server);
	close_fd(&a->metrics->stats_fd);
	free(a->metrics);
	a->metrics = NULL;
}

void agent_stop(struct agent *a)
{
	char why[512];

	/* what shows the agent to others goes first: the status files, the endpoint */
	if (a->status.written)
		status_remove();
	a->status.written = false;
	metrics_stop(a);
	cgroup_names_free(&a->cgroups);
	free(a->cur);
	free(a->next);
	a->cur = a->next = NULL;
	/* detaches every program before it unpins the maps */
	loader_stop(&a->loader);
	collector_free(&a->col);
	tuner_free(&a->tuner);
	fault_point("stop-unpinned");
	/* after the programs are gone: nothing sets buffers against the old
	 * caps. Only while the lock is held: without it the record may be
	 * another agent's. */
	if (a->lock_fd >= 0 && sysctl_restore(why, sizeof(why)) < 0)
		log_error("%s", why);
	for (int i = 0; i < a->nr_scopes; i++)
		close_fd(&a->scopes[i].fd);
	a->nr_scopes = 0;
	close_fd(&a->lock_fd);
	close_fd(&a->sigfd);
}
