// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The BPF tests' fixture (fixture.h): a cgroup, two namespaces joined by
 * veth, the agent's programs loaded by its loader, connections, passes. */
#define _GNU_SOURCE
#include "fixture.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/sockios.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "core/estimate.h"
#include "runtime/probe.h"
#include "runtime/system.h"

/* The one fixture: the signal handler cleans it up too. */
static struct bpf_fixture fixture = { .home_netns_fd = -1, .lock_fd = -1, .scope.fd = -1 };

/* The addresses of the two ends, from 198.18.0.0/15 and fd00:198:18::/48
 * (reserved for benchmarks): the test's namespaces alone hold them. */
static void side_addr(enum side side, int family, char *buf, size_t len)
{
	int host = side == CLIENT ? 1 : 2;

	if (family == AF_INET)
		snprintf(buf, len, "198.18.1.%d", host);
	else
		snprintf(buf, len, "fd00:198:18:1::%d", host);
}

void fixture_addr(enum side side, int family, void *addr)
{
	char text[64];

	side_addr(side, family, text, sizeof(text));
	assert_int_equal(inet_pton(family, text, addr), 1);
}

/* A command through the shell; 0 when it exited 0. Its own errors go to
 * stderr, and the command is named when it fails. */
static int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_cmd(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int status;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	status = system(cmd);
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "# command failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

/* One end's namespace: loopback and veth0 up, both addresses on veth0
 * (nodad: usable at once). */
static int netns_configure(struct bpf_fixture *fx, enum side side)
{
	const char *ns = fx->ns_name[side];
	char v4[64], v6[64];

	side_addr(side, AF_INET, v4, sizeof(v4));
	side_addr(side, AF_INET6, v6, sizeof(v6));
	return run_cmd("ip -n %s link set lo up", ns) ||
			       run_cmd("ip -n %s addr add %s/24 dev veth0", ns, v4) ||
			       run_cmd("ip -n %s addr add %s/64 dev veth0 nodad", ns, v6) ||
			       run_cmd("ip -n %s link set veth0 up", ns)
		       ? -1
		       : 0;
}

static int netns_make(struct bpf_fixture *fx)
{
	for (int side = CLIENT; side < SIDES; side++) {
		snprintf(fx->ns_name[side], sizeof(fx->ns_name[side]), "ttb%d%c", (int)getpid(),
			 side == CLIENT ? 'c' : 's');
		if (run_cmd("ip netns add %s", fx->ns_name[side]))
			return -1;
		fx->ns_made[side] = true;
	}
	if (run_cmd("ip link add veth0 netns %s type veth peer name veth0 netns %s",
		    fx->ns_name[CLIENT], fx->ns_name[SERVER]))
		return -1;
	return netns_configure(fx, CLIENT) || netns_configure(fx, SERVER) ? -1 : 0;
}

/* Enter one side's namespace; netns_leave returns to the process's own. */
static int netns_enter(struct bpf_fixture *fx, enum side side)
{
	char path[64];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/run/netns/%s", fx->ns_name[side]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET))
		err = -errno;
	close(fd);
	return err;
}

static int netns_leave(struct bpf_fixture *fx)
{
	return setns(fx->home_netns_fd, CLONE_NEWNET) ? -errno : 0;
}

/* Each namespace as the programs key it: its cookie, or where the plan
 * says so, its inode number (agent/runtime/collect.c does the same). */
static int netns_ids(struct bpf_fixture *fx)
{
	for (int side = CLIENT; side < SIDES; side++) {
		__u64 *id = &fx->netns_id[side];
		int err = netns_enter(fx, side);

		if (!err)
			err = fx->plan.netns_by_inode ? netns_inode_current(id)
						      : netns_cookie_current(id);
		if (netns_leave(fx) || err)
			return -1;
	}
	return 0;
}

/* The process's cgroup v2 ("0::/path" in /proc/self/cgroup) below mnt. */
static int home_cgroup(const char *mnt, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		int n;

		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		n = snprintf(buf, len, "%s%s", mnt, strcmp(line + 3, "/") ? line + 3 : "");
		err = n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
		break;
	}
	fclose(f);
	return err;
}

static int cgroup_move_self(const char *dir)
{
	char path[4200];
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)getpid());
	err = fclose(f) ? -errno : 0;
	return err;
}

/* A cgroup of the test's own, the process in it: the sockets it makes are
 * in the scope sockops is attached to, and the host's are not. */
static int cgroup_make(struct bpf_fixture *fx)
{
	char mnt[2048], why[4200];

	if (cgroup2_mount(mnt, sizeof(mnt))) {
		fprintf(stderr, "# no cgroup v2 filesystem is mounted\n");
		return -1;
	}
	if (home_cgroup(mnt, fx->home_cgroup, sizeof(fx->home_cgroup))) {
		fprintf(stderr, "# cannot find the process's cgroup v2 in /proc/self/cgroup\n");
		return -1;
	}
	snprintf(fx->cgroup_path, sizeof(fx->cgroup_path), "%s/tcptune-bpftest-%d", mnt,
		 (int)getpid());
	if (mkdir(fx->cgroup_path, 0755)) {
		fprintf(stderr, "# cannot make %s: %s\n", fx->cgroup_path, strerror(errno));
		return -1;
	}
	fx->cgroup_made = true;
	if (cgroup_scope_open(fx->cgroup_path, &fx->scope, why, sizeof(why))) {
		fprintf(stderr, "# %s\n", why);
		return -1;
	}
	fx->cgroup_id = fx->scope.id;
	if (cgroup_move_self(fx->cgroup_path)) {
		fprintf(stderr, "# cannot move the test into %s: %s\n", fx->cgroup_path,
			strerror(errno));
		return -1;
	}
	fx->cgroup_entered = true;
	return 0;
}

/* The agent's defaults (est_config_default) for what the maps may ask. */
static int programs_load(struct bpf_fixture *fx)
{
	struct est_config est = est_config_default();
	struct loader_opts opts = {
		.scopes = &fx->scope,
		.nr_scopes = 1,
		.whole_host = false,
		.max_flows = 1024,
		.tune = true,
		.min_buf = est.min_buf,
		.max_buf = est.max_buf,
		.plan = fx->plan,
	};
	char why[512];

	fx->min_buf = est.min_buf;
	fx->max_buf = est.max_buf;
	if (loader_start(&fx->ld, &opts, why, sizeof(why))) {
		fprintf(stderr, "# %s\n", why);
		return -1;
	}
	fx->loaded = true;
	/* every write and read refreshes its entry: what a test reads next is exact */
	loader_set_refresh(&fx->ld, 0);
	if (collector_init(&fx->col, &fx->ld)) {
		fprintf(stderr, "# cannot read the \"moved\" ring buffer: %s\n", strerror(errno));
		return -1;
	}
	fx->collecting = true;
	return 0;
}

static void conns_abort(struct bpf_fixture *fx)
{
	for (int i = 0; i < fx->nconns; i++) {
		conn_close(&fx->conns[i], CLIENT, true);
		conn_close(&fx->conns[i], SERVER, true);
	}
	fx->nconns = 0;
}

/* Undoes what the setup got to, in reverse; safe to run again. */
static void fixture_cleanup(struct bpf_fixture *fx)
{
	conns_abort(fx);
	if (fx->collecting)
		collector_free(&fx->col);
	fx->collecting = false;
	if (fx->loaded)
		loader_stop(&fx->ld);
	fx->loaded = false;
	if (fx->cgroup_entered && cgroup_move_self(fx->home_cgroup))
		fprintf(stderr, "# cannot move the test back to %s\n", fx->home_cgroup);
	fx->cgroup_entered = false;
	if (fx->scope.fd >= 0)
		close(fx->scope.fd);
	fx->scope.fd = -1;
	if (fx->cgroup_made && rmdir(fx->cgroup_path))
		fprintf(stderr, "# cannot remove %s: %s\n", fx->cgroup_path, strerror(errno));
	fx->cgroup_made = false;
	for (int side = CLIENT; side < SIDES; side++) {
		if (fx->ns_made[side])
			run_cmd("ip netns del %s", fx->ns_name[side]);
		fx->ns_made[side] = false;
	}
	if (fx->home_netns_fd >= 0)
		close(fx->home_netns_fd);
	fx->home_netns_fd = -1;
}

static int fixture_setup(void **state)
{
	struct bpf_fixture *fx = &fixture;
	struct pass_result res;
	char why[512];
	int removed;

	loader_init(&fx->ld);
	/* under the agent's lock, pins left there are surely a killed agent's
	 * (or test's): libbpf would reuse their maps */
	removed = loader_remove_stale_pins();
	if (removed < 0 || probe_kernel(&fx->features, &fx->plan, why, sizeof(why))) {
		fprintf(stderr, "# %s\n", removed < 0 ? "cannot remove stale pins" : why);
		return -1;
	}
	fx->home_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fx->home_netns_fd < 0 || netns_make(fx) || netns_ids(fx) || cgroup_make(fx) ||
	    programs_load(fx))
		goto fail;
	/* the first pass finds the namespaces, which the later passes visit */
	if (collect_pass(&fx->ld, &fx->col, ++fx->pass, PASS_FULL, &res))
		goto fail;
	*state = fx;
	return 0;
fail:
	fixture_cleanup(fx);
	return -1;
}

/* The fixture itself, not *state: it is also what a failed setup left. */
static int fixture_teardown(void **state)
{
	(void)state;
	fixture_cleanup(&fixture);
	return 0;
}

/* Every entry of a hash map removed; 0, or -errno. */
static int map_clear(int fd)
{
	__u8 key[64];

	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		if (bpf_map_delete_elem(fd, key))
			return -errno;
	return errno == ENOENT ? 0 : -errno;
}

/* After each test: its connections, open or not, and what it asked of the
 * write-back, so the next test starts from none. */
static int test_teardown(void **state)
{
	struct bpf_fixture *fx = *state;

	conns_abort(fx);
	*loader_dests_learned(&fx->ld) = 0;
	return map_clear(fx->ld.targets_fd) || map_clear(fx->ld.dests_fd) ? -1 : 0;
}

/* ---- connections ---- */

#define IO_TIMEOUT_MS 5000

static socklen_t side_sockaddr(enum side side, int family, __u16 port, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		sin->sin_port = htons(port);
		fixture_addr(side, family, &sin->sin_addr);
		return sizeof(*sin);
	}
	sin6->sin6_port = htons(port);
	fixture_addr(side, family, &sin6->sin6_addr);
	return sizeof(*sin6);
}

/* A socket of one side's namespace (a socket keeps the namespace it was
 * made in), with send and receive timeouts: a stuck test fails, not hangs. */
static int socket_in(struct bpf_fixture *fx, enum side side, int family)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
	int fd, err = netns_enter(fx, side);

	fd = err ? -1 : socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (netns_leave(fx)) {
		/* every later socket would be made in the wrong namespace */
		fprintf(stderr, "# cannot return to the test's own network namespace\n");
		abort();
	}
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* A listener at the server's address, on a port of the kernel's choice. */
static int listen_at_server(struct bpf_fixture *fx, int family, __u16 *port)
{
	struct sockaddr_storage ss;
	socklen_t len = side_sockaddr(SERVER, family, 0, &ss);
	int fd = socket_in(fx, SERVER, family);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len)) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static int cookie_of(int fd, __u64 *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len);
}

/* Connect and accept; -1 with errno on failure (the listener is closed
 * either way, what was made of c stays for conn_close). */
static int conn_connect(struct bpf_fixture *fx, struct conn *c, int client_sndbuf)
{
	struct sockaddr_storage ss;
	socklen_t len;
	__u16 port;
	int listener = listen_at_server(fx, c->family, &port), err = 0;

	if (listener < 0)
		return -1;
	len = side_sockaddr(SERVER, c->family, port, &ss);
	c->fd[CLIENT] = socket_in(fx, CLIENT, c->family);
	if (c->fd[CLIENT] < 0 ||
	    (client_sndbuf && setsockopt(c->fd[CLIENT], SOL_SOCKET, SO_SNDBUF, &client_sndbuf,
					 sizeof(client_sndbuf))) ||
	    connect(c->fd[CLIENT], (struct sockaddr *)&ss, len))
		err = -1;
	/* the listener's receive timeout bounds the accept */
	if (!err)
		c->fd[SERVER] = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (!err && (c->fd[SERVER] < 0 || cookie_of(c->fd[CLIENT], &c->cookie[CLIENT]) ||
		     cookie_of(c->fd[SERVER], &c->cookie[SERVER])))
		err = -1;
	close(listener);
	return err;
}

struct conn *conn_open(struct bpf_fixture *fx, int family, int client_sndbuf)
{
	struct conn *c;

	assert_true(fx->nconns < FIXTURE_MAX_CONNS);
	c = &fx->conns[fx->nconns++];
	*c = (struct conn){ .fd = { -1, -1 }, .family = family };
	if (conn_connect(fx, c, client_sndbuf))
		fail_msg("cannot connect %s between the test's namespaces: %s",
			 family == AF_INET ? "IPv4" : "IPv6", strerror(errno));
	return c;
}

void conn_close(struct conn *c, enum side side, bool abort)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	if (c->fd[side] < 0)
		return;
	if (abort)
		setsockopt(c->fd[side], SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(c->fd[side]);
	c->fd[side] = -1;
}

/* Bytes not yet acknowledged on fd (SIOCOUTQ: unsent and in flight). */
static int unacked(int fd)
{
	int n = -1;

	assert_int_equal(ioctl(fd, SIOCOUTQ, &n), 0);
	return n;
}

/* What is waiting at the server, read without blocking; returns how much. */
static size_t drain(int fd)
{
	char buf[16384];
	ssize_t n;
	size_t got = 0;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	assert_true(n == 0 || errno == EAGAIN);
	return got;
}

static double now_ms(void)
{
	return monotonic_s() * 1e3;
}

void conn_send(struct conn *c, size_t n, bool read)
{
	static const char buf[16384];
	double deadline = now_ms() + IO_TIMEOUT_MS;
	size_t sent = 0, got = 0;

	while (sent < n || unacked(c->fd[CLIENT]) > 0 || (read && got < n)) {
		size_t chunk = n - sent < sizeof(buf) ? n - sent : sizeof(buf);
		ssize_t w = chunk ? send(c->fd[CLIENT], buf, chunk, MSG_DONTWAIT) : 0;

		assert_true(w >= 0 || errno == EAGAIN);
		if (w > 0)
			sent += (size_t)w;
		if (read)
			got += drain(c->fd[SERVER]);
		if (now_ms() > deadline)
			fail_msg("%zu of %zu bytes sent, %d unacknowledged, %zu read after %d ms",
				 sent, n, unacked(c->fd[CLIENT]), got, IO_TIMEOUT_MS);
		if (w <= 0)
			poll(NULL, 0, 1);
	}
	assert_int_equal(got, read ? n : 0);
}

void conn_recv(struct conn *c, size_t n)
{
	char buf[16384];
	size_t got = 0;

	while (got < n) {
		size_t want = n - got < sizeof(buf) ? n - got : sizeof(buf);
		ssize_t r = recv(c->fd[SERVER], buf, want, 0);

		if (r <= 0)
			fail_msg("read %zu of %zu bytes: %s", got, n,
				 r ? strerror(errno) : "end of stream");
		got += (size_t)r;
	}
}

int sock_int_opt(int fd, int level, int name)
{
	socklen_t len = sizeof(int);
	int val = -1;

	assert_int_equal(getsockopt(fd, level, name, &val, &len), 0);
	return val;
}

void sock_tcp_info(int fd, struct tcp_info *info)
{
	socklen_t len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &len), 0);
}

/* ---- the maps and passes ---- */

int flow_get(struct bpf_fixture *fx, __u64 cookie, struct conn_stats *out)
{
	memset(out, 0, sizeof(*out));
	return bpf_map_lookup_elem(fx->ld.flows_fd, &cookie, out) ? -errno : 0;
}

bool flow_wait_gone(struct bpf_fixture *fx, __u64 cookie, int timeout_ms)
{
	double deadline = now_ms() + timeout_ms;
	struct conn_stats s;

	while (flow_get(fx, cookie, &s) == 0) {
		if (now_ms() > deadline)
			return false;
		poll(NULL, 0, 1);
	}
	return true;
}

void fixture_pass(struct bpf_fixture *fx, enum pass_kind kind, struct pass_result *res)
{
	int err = collect_pass(&fx->ld, &fx->col, ++fx->pass, kind, res);

	if (err)
		fail_msg("%s pass failed: %s", pass_kind_name[kind], strerror(-err));
}

void fixture_targets_pass(struct bpf_fixture *fx, enum side side)
{
	int err = collect_apply(&fx->ld, &fx->col, ++fx->pass, &fx->netns_id[side], 1);

	if (err)
		fail_msg("targets pass failed: %s", strerror(-err));
}

__u64 fixture_counter(struct bpf_fixture *fx, enum tcptune_counter counter)
{
	return counter_read(fx->ld.counters_fd, counter);
}

const struct flow *pass_flow(const struct pass_result *res, __u64 cookie)
{
	for (size_t i = 0; i < res->tracked; i++)
		if (res->flows[i].cookie == cookie)
			return &res->flows[i];
	return NULL;
}

/* ---- the program ---- */

/* Interrupted (a timeout, Ctrl-C): what the setup made goes all the same. */
static void on_signal(int sig)
{
	fixture_cleanup(&fixture);
	_exit(128 + sig);
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* Only one may load tcptune's programs and pin its maps: the test holds the
 * agent's own lock while it runs, so no agent starts meanwhile. */
static int take_agent_lock(const char *name)
{
	pid_t holder = 0;
	int fd = instance_lock(&holder);

	if (fd == -EBUSY) {
		printf("skip - %s: an agent is running (pid %d): these tests load tcptune's "
		       "programs and pin its maps, as only one agent may\n",
		       name, (int)holder);
		return -EBUSY;
	}
	if (fd < 0)
		printf("not ok - %s: cannot take %s: %s\n", name, TCPTUNE_LOCK_FILE, strerror(-fd));
	return fd;
}

int fixture_main(const char *name, const struct CMUnitTest *tests, size_t ntests)
{
	struct CMUnitTest each[ntests];
	int rc;

	if (!has_privilege()) {
		printf("not ok - %s: must run as root (it loads BPF programs, makes namespaces "
		       "and a cgroup)\n",
		       name);
		return 1;
	}
	fixture.lock_fd = take_agent_lock(name);
	if (fixture.lock_fd < 0)
		return fixture.lock_fd == -EBUSY ? 77 : 1;
	for (size_t i = 0; i < ntests; i++) {
		each[i] = tests[i];
		if (!each[i].teardown_func)
			each[i].teardown_func = test_teardown;
	}
	catch_signals();
	rc = _cmocka_run_group_tests(name, each, ntests, fixture_setup, fixture_teardown);
	fixture_cleanup(&fixture);
	close(fixture.lock_fd);
	return rc;
}
