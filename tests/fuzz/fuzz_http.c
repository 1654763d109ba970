// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer target: the --metrics endpoint. The agent's metrics server
 * (libmicrohttpd in its own thread) is started once on 127.0.0.1 with an
 * ephemeral port, serving a page rendered by metrics_render. Each input is
 * sent as raw bytes over a new TCP connection, which is then half-closed,
 * and the reply is read until the server closes or is silent for 20 ms;
 * the connection is then reset. After it the
 * server must still answer GET /metrics with 200 and the page, else abort.
 * Only tcptune's code is instrumented: libmicrohttpd is Debian's build, so
 * coverage guides through the handler, not through the library's parser. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include "fuzz.h"
#include "core/metrics.h"
#include "runtime/metrics_server.h"

#define READ_TIMEOUT_MS 2000
#define QUIET_MS 20
/* longer than the server's connection timeout (10 s): a connection slot
 * held by a stalled request frees up within it */
#define HEALTH_DEADLINE_S 15

static struct metrics_server server;
static pthread_t renderer;
static struct sockaddr_in server_addr;
static char *page; /* what GET /metrics must return */
static size_t page_len;

static const char *cgroup_name(void *ctx, uint64_t id)
{
	(void)ctx;
	return id == 1 ? "/" : id == 2 ? "/kubepods.slice/tenant \"a\"\\b" : NULL;
}

/* A page as the agent renders it at a tick: connections in two cgroups (one
 * gone), IPv4 and IPv6, histograms, counters, programs. */
static void publish_page(void)
{
	static const struct metrics_program programs[] = { { "tcptune_sockops", 1000, 174000 },
							   { "inet_sock_set_state", 2000, 94000 } };
	struct flow flows[4] = {};
	struct metrics_histograms hist;
	struct metrics_snapshot m = {
		.flows = flows,
		.nflows = 4,
		.cgroup_name = cgroup_name,
		.hist = &hist,
		.per_connection = true,
		.assigned_bytes = 1 << 20,
		.programs = programs,
		.nprograms = 2,
		.ticks = 7,
		.tick_seconds = 0.002,
		.cpu_seconds = 1.5,
		.rss_bytes = 8 << 20,
	};
	struct prom_buf b = {};

	for (int i = 0; i < 4; i++) {
		struct conn_stats *s = &flows[i].s;

		s->family = i < 3 ? AF_INET : AF_INET6;
		s->cgroup_id = (uint64_t)i % 3 + 1;
		if (s->family == AF_INET) {
			inet_pton(AF_INET, "127.0.0.1", s->saddr);
			inet_pton(AF_INET, i ? "198.18.1.2" : "198.18.2.9", s->daddr);
		} else {
			inet_pton(AF_INET6, "fd00:198:18:1::1", s->saddr);
			inet_pton(AF_INET6, "fd00:198:18:1::2", s->daddr);
		}
		s->sport = (uint16_t)(40000 + i), s->dport = 443;
		s->srtt_us = 1000u * (uint32_t)(i + 1), s->sndbuf = 16384u << i, s->rcvbuf = 131072;
		s->delivery_rate_Bps = 1000000u * (uint32_t)i;
	}
	for (int i = 0; i < CNT_MAX; i++)
		m.events[i] = (uint64_t)i * 3;
	m.changes[CHANGE_SNDBUF][EST_GROW] = 5, m.changes[CHANGE_RCVBUF][EST_SHRINK] = 1;
	metrics_histograms_init(&hist);
	metrics_observe(&hist, flows, 4);
	if (metrics_render(&m, &b) || !b.len)
		fuzz_die("metrics_render failed");
	page = malloc(b.len);
	if (!page)
		fuzz_die("out of memory");
	memcpy(page, b.data, b.len);
	page_len = b.len;
	metrics_server_publish(&server, &b);
}

/* The agent's loop, as far as the server sees it: a request wakes it
 * (wake_fd) and it publishes a page; here always the same one. */
static void *render_on_request(void *arg)
{
	struct pollfd pfd = { .fd = server.wake_fd, .events = POLLIN };

	(void)arg;
	for (;;) {
		struct prom_buf b = {};

		if (poll(&pfd, 1, -1) < 0 || !metrics_server_wanted(&server))
			continue;
		b.data = malloc(page_len);
		if (!b.data)
			fuzz_die("out of memory");
		memcpy(b.data, page, page_len);
		b.len = b.cap = page_len;
		metrics_server_publish(&server, &b);
	}
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char why[256];

	(void)argc, (void)argv;
	if (metrics_server_start(&server, (struct sockaddr *)&addr, sizeof(addr), "127.0.0.1:0",
				 why, sizeof(why)))
		fuzz_die("%s", why);
	info = MHD_get_daemon_info(server.daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || !info->port)
		fuzz_die("the metrics server's port is unknown");
	server_addr = addr;
	server_addr.sin_port = htons(info->port);
	publish_page();
	if (pthread_create(&renderer, NULL, render_on_request, NULL))
		fuzz_die("cannot start the page renderer thread");
	return 0;
}

static int connect_server(void)
{
	struct timeval tv = { .tv_sec = READ_TIMEOUT_MS / 1000,
			      .tv_usec = READ_TIMEOUT_MS % 1000 * 1000 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fuzz_die("socket: %m");
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		fuzz_die("setsockopt: %m");
	if (connect(fd, (struct sockaddr *)&server_addr, sizeof(server_addr))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends what it can (the server may close first), half-closes, and reads the
 * reply until the server closes or is silent for `quiet_ms` (a request cut
 * short gets no answer before the server's own timeout). Returns its length. */
static size_t exchange(int fd, const void *data, size_t size, char *reply, size_t cap, int quiet_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t sent = 0, got = 0;
	char sink[4096];

	while (sent < size) {
		ssize_t n = send(fd, (const char *)data + sent, size - sent, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	while (poll(&pfd, 1, quiet_ms) == 1) {
		char *to = got < cap ? reply + got : sink;
		size_t room = got < cap ? cap - got : sizeof(sink);
		ssize_t n = recv(fd, to, room, 0);

		if (n <= 0)
			break;
		if (got < cap)
			got += (size_t)n;
	}
	return got;
}

/* Closed with a reset: the server frees the connection at once, also one
 * it still waits on for the rest of a request. */
static void close_reset(int fd)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(fd);
}

/* GET /metrics: 200 and the published page. */
static bool server_answers(char *why, size_t len)
{
	static const char request[] =
		"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	size_t cap = page_len + 4096, got;
	char *reply = malloc(cap);
	const char *body;
	int fd = connect_server();

	if (!reply)
		fuzz_die("out of memory");
	snprintf(why, len, "connect: %s", strerror(errno));
	if (fd < 0)
		goto out;
	got = exchange(fd, request, sizeof(request) - 1, reply, cap - 1, READ_TIMEOUT_MS);
	close(fd);
	reply[got] = 0;
	body = strstr(reply, "\r\n\r\n");
	snprintf(why, len, "reply of %zu bytes: %.200s", got, reply);
	if (strncmp(reply, "HTTP/1.1 200 ", 13) || !body ||
	    (size_t)(reply + got - body - 4) != page_len || memcmp(body + 4, page, page_len) ||
	    !strstr(reply, "text/plain; version=0.0.4"))
		goto out;
	free(reply);
	return true;
out:
	free(reply);
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timespec start, now, pause = { 0, 20 * 1000 * 1000 };
	char reply[64], why[512];
	size_t got;
	int fd = connect_server();

	if (fd < 0)
		fuzz_die("connect to the metrics server: %m");
	got = exchange(fd, data, size, reply, sizeof(reply) - 1, QUIET_MS);
	close_reset(fd);
	reply[got] = 0;
	/* whatever was sent: nothing, or HTTP */
	if (got && strncmp(reply, "HTTP/1.", 7))
		fuzz_die("a reply that is not HTTP: '%s'", reply);

	/* the server still serves its page (a slot may take a moment to free) */
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!server_answers(why, sizeof(why))) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > HEALTH_DEADLINE_S)
			fuzz_die("the metrics server no longer answers GET /metrics: %s", why);
		nanosleep(&pause, NULL);
	}
	return 0;
}
