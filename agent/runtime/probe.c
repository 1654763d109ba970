// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "runtime/log.h"
#include "runtime/probe.h"
#include "probe.skel.h"
#include "runtime/system.h"

/* The probe programs each feature takes: all of them must load. */
static const char *const probe_programs[FEATURE_MAX][3] = {
	[FEATURE_SOCKOPS] = { "probe_sockops_sock" },
	[FEATURE_STATE_TRACEPOINT] = { "probe_state_tracepoint" },
	[FEATURE_TCP_ITER] = { "probe_tcp_iter" },
	[FEATURE_ITER_COOKIE] = { "probe_iter_cookie" },
	[FEATURE_APP_EVENTS] = { "probe_send_tracepoint", "probe_recv_tracepoint" },
	[FEATURE_SOCKET_STORAGE] = { "probe_tracing_storage", "probe_iter_storage",
				     "probe_sockops_storage" },
	[FEATURE_STORAGE_ITER] = { "probe_storage_iter" },
	[FEATURE_ITER_SETSOCKOPT] = { "probe_iter_setsockopt" },
	[FEATURE_SOCKOPS_CALLBACKS] = { "probe_sockops_setsockopt" },
	[FEATURE_TASK_FILE_ITER] = { "probe_task_file_iter" },
	[FEATURE_ITER_CB_FLAGS] = { "probe_iter_cb_flags" },
};

static bool wanted(enum feature feature, const char *name)
{
	for (int i = 0; i < 3 && probe_programs[feature][i]; i++)
		if (strcmp(probe_programs[feature][i], name) == 0)
			return true;
	return false;
}

/* Where libbpf reads CONFIG_HZ from: 0 when one is readable, or -errno. */
static int probe_kconfig(const char *release)
{
	char path[128];

	snprintf(path, sizeof(path), "/boot/config-%s", release);
	if (access(path, R_OK) == 0 || access("/proc/config.gz", R_OK) == 0)
		return 0;
	return -ENOENT;
}

/* The jiffies counter of /proc/timer_list, or 0. */
static unsigned long long read_jiffies(void)
{
	unsigned long long jiffies = 0;
	char line[256];
	FILE *f = fopen("/proc/timer_list", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "jiffies: %llu", &jiffies) == 1)
			break;
	fclose(f);
	return jiffies;
}

/* CONFIG_HZ without the kernel's configuration: jiffies counted over 200 ms,
 * rounded to the nearest value a kernel is built with; 0 when there is no
 * clock to read (a container may hide /proc/timer_list). */
static unsigned int measure_hz(void)
{
	static const unsigned int choices[] = { 100, 250, 300, 1000 };
	unsigned long long j0 = read_jiffies(), j1;
	__u64 t0 = monotonic_ns(), t1;
	double hz;
	unsigned int best = choices[0];

	if (!j0)
		return 0;
	usleep(200000);
	j1 = read_jiffies();
	t1 = monotonic_ns();
	if (j1 <= j0)
		return 0;
	hz = (double)(j1 - j0) * 1e9 / (double)(t1 - t0);
	for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++)
		if (fabs(hz - choices[i]) < fabs(hz - best))
			best = choices[i];
	return best;
}

#define PROBE_LOG_SIZE 4096

/* The line of a verifier log that says why (in place): the last one but
 * the "processed N insns" count that follows it. */
static const char *verifier_reason(char *log)
{
	char *line = NULL, *nl;

	for (int i = 0; i < 2; i++) {
		size_t n = strlen(log);

		while (n && log[n - 1] == '\n')
			log[--n] = '\0';
		nl = strrchr(log, '\n');
		line = nl ? nl + 1 : log;
		if (strncmp(line, "processed ", 10) || !nl)
			break;
		*nl = '\0';
	}
	return line;
}

/* An option the verifier does not check is refused only when set: the
 * probe program runs over a listening socket of ours. 0 or -errno. */
static int run_iter_cb_flags(struct probe_bpf *obj)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	struct bpf_link *link = NULL;
	int sock, iter = -1, err;
	char buf[64];
	ssize_t n;

	sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	if (bind(sock, (struct sockaddr *)&addr, sizeof(addr)) || listen(sock, 1) ||
	    getsockname(sock, (struct sockaddr *)&addr, &len)) {
		err = -errno;
		goto cleanup;
	}
	obj->bss->probe_port = ntohs(addr.sin_port);
	link = bpf_program__attach_iter(obj->progs.probe_iter_cb_flags, NULL);
	if (!link) {
		err = -errno;
		goto cleanup;
	}
	iter = bpf_iter_create(bpf_link__fd(link));
	if (iter < 0) {
		err = -errno;
		goto cleanup;
	}
	while ((n = read(iter, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		err = -errno;
	else
		err = obj->data->probe_result > 0 ? -ENOENT : obj->data->probe_result;
cleanup:
	if (iter >= 0)
		close(iter);
	bpf_link__destroy(link);
	close(sock);
	return err;
}

/* Loads the feature's programs alone (and runs the one that must run);
 * 0 or the -errno of the load or the run. The verifier
 * log goes to a zeroed buffer of ours: a kernel that refuses a program
 * before verifying it writes none, and libbpf's own would be read
 * uninitialised. The line that says why is shown with -v. */
static int probe_one(enum feature feature)
{
	struct probe_bpf *obj = probe_bpf__open();
	char *log = calloc(1, PROBE_LOG_SIZE);
	struct bpf_program *prog;
	int err;

	if (!obj || !log) {
		err = obj ? -ENOMEM : -errno;
		goto cleanup;
	}
	bpf_object__for_each_program(prog, obj->obj)
	{
		bool want = wanted(feature, bpf_program__name(prog));

		bpf_program__set_autoload(prog, want);
		if (want)
			bpf_program__set_log_buf(prog, log, PROBE_LOG_SIZE);
	}
	err = probe_bpf__load(obj);
	log[PROBE_LOG_SIZE - 1] = '\0';
	if (err && log[0])
		log_debug("probe %s: the verifier said: %s", feature_desc[feature].name,
			  verifier_reason(log));
	if (!err && feature == FEATURE_ITER_CB_FLAGS)
		err = run_iter_cb_flags(obj);
cleanup:
	probe_bpf__destroy(obj);
	free(log);
	return err;
}

#define DEBIAN_CONFIG_HZ 250

int probe_features(struct features *f)
{
	struct probe_bpf *obj = probe_bpf__open();
	struct utsname u;

	/* the object itself, before its programs tell anything of the kernel */
	if (!obj)
		return -errno;
	probe_bpf__destroy(obj);

	if (uname(&u) == 0)
		snprintf(f->kernel, sizeof(f->kernel), "%s", u.release);
	for (int i = 0; i < FEATURE_MAX; i++) {
		if (f->state[i] == FEATURE_FORCED_OFF)
			continue;
		if (i == FEATURE_BTF)
			f->error[i] = access(KERNEL_BTF_PATH, R_OK) ? -errno : 0;
		else if (i == FEATURE_NETNS_COOKIE)
			f->error[i] = netns_cookie_current(&(__u64){ 0 });
		else if (i == FEATURE_KCONFIG)
			f->error[i] = probe_kconfig(f->kernel);
		else if (f->state[FEATURE_BTF] != FEATURE_PRESENT)
			f->error[i] = -ENOENT; /* nothing CO-RE loads without it */
		else
			f->error[i] = probe_one(i);
		f->state[i] = f->error[i] ? FEATURE_MISSING : FEATURE_PRESENT;
		log_debug("probe %s: %s", feature_desc[i].name,
			  f->error[i] ? strerror(-f->error[i]) : "ok");
	}
	if (f->state[FEATURE_KCONFIG] != FEATURE_PRESENT) {
		f->config_hz = measure_hz();
		if (!f->config_hz) {
			f->config_hz = DEBIAN_CONFIG_HZ;
			f->config_hz_assumed = true;
		}
	}
	return 0;
}

#define FEATURES_OFF_ENV "TCPTUNE_FEATURES_OFF"

int probe_kernel(struct features *f, struct feature_plan *plan, char *why, size_t len)
{
	char bad[64];
	int err;

	memset(f, 0, sizeof(*f));
	if (features_force_off(f, getenv(FEATURES_OFF_ENV), bad, sizeof(bad))) {
		snprintf(
			why, len,
			"%s names '%s', which is no optional feature: see tcptune status for the names",
			FEATURES_OFF_ENV, bad);
		return -1;
	}
	err = probe_features(f);
	if (err) {
		snprintf(why, len, "cannot probe the kernel's BPF features: %s", strerror(-err));
		return -1;
	}
	features_plan(f, plan);
	if (plan->refused >= 0) {
		features_refusal(f, plan->refused, why, len);
		return -1;
	}
	log_info("kernel %s: collection by %s, walk by %s, write-back by %s, RTT callbacks on %s",
		 f->kernel, collect_mode_name[plan->collect], walk_mode_name[plan->walk],
		 writeback_mode_name[plan->writeback], rtt_callbacks_name(plan));
	for (int i = 0; i < FEATURE_MAX; i++)
		if (feature_fallback_taken(f, i))
			log_info("fallback: %s %s (%s): %s", feature_desc[i].name,
				 f->state[i] == FEATURE_FORCED_OFF ? "forced off" : "missing",
				 feature_why(f, i), feature_fallback(i));
	return 0;
}
