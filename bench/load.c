// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* load: TCP connection load for tcptune's load test and benchmarks
 * (tests/e2e/test_load.sh, bench/load.sh, bench/overhead.sh). One epoll loop
 * plays the server, the client, or both (IPv4 or IPv6, "[ADDR]:PORT" for v6):
 *
 *   load --listen ADDR:PORT [--seconds S]
 *        Serve until SIGTERM/SIGINT (or S seconds): echo every byte; on 'q'
 *        echo it and close first, so the server keeps the TIME_WAIT and the
 *        client's port is free again at once.
 *   load --connect ADDR:PORT --hold N --seconds S [--trickle T] [--parallel P] [--from SRC]
 *        Open N connections (at most P connecting at once, within 300 s),
 *        print a line once they are established, hold them S seconds (each
 *        writes one byte every T seconds, spread evenly, and reads the echo),
 *        then close them all.
 *   load --connect ADDR:PORT --rate R --seconds S [--parallel P] [--from SRC]
 *        Churn: R new short connections per second (0: as many as P in flight
 *        allow) for S seconds, each "q" one way and back, the server closing
 *        first; print how many, the rate achieved and the slowest second.
 *
 * --listen and --connect together run both ends in this process (loopback
 * churn in bench/overhead.sh). --from connects from the local address SRC,
 * its port chosen per destination (IP_BIND_ADDRESS_NO_PORT): one address has
 * about 64,000 ports to a server's ADDR:PORT, so more connections than that
 * take more client addresses. Listeners share their port (SO_REUSEPORT):
 * several processes serve one ADDR:PORT, each within its descriptor limit.
 * Every connection goes through the full TCP state sequence. Exit status: 0
 * all well, 1 a connection failed or fewer than N were established, 2 bad
 * usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECONDS 3600
#define DRAIN_SECONDS 10.0 /* after the run, for connections still under way */
/* --hold: how long the connections may take to establish, before the hold */
#define ESTABLISH_SECONDS 300.0

enum conn_state {
	CONN_FREE,
	CONN_LISTENER,
	CONN_SERVED,     /* server end: echoes */
	CONN_CONNECTING, /* client end: connect() under way */
	CONN_HELD,       /* client end, --hold: established, trickling */
	CONN_CLOSING,    /* client end: 'q' sent, waiting for the echo and the server's FIN */
};

struct conn {
	enum conn_state state;
	bool held;      /* a --hold connection (counted apart from churn) */
	bool got_reply; /* CONN_CLOSING: the 'q' came back */
};

struct options {
	struct sockaddr_storage listen_addr, connect_addr, from_addr;
	socklen_t listen_len, connect_len, from_len;
	bool listen, connect, from;
	double seconds;
	long hold, parallel;
	double rate, trickle;
	bool rate_set;
};

struct counts {
	long established, connect_failed; /* client ends */
	long held_closed_early;
	long churned, churn_failed;
	long trickle_sent, trickle_echoed;
	long served, serving, serving_peak;
	long *per_second; /* churn completions per second of the run */
	long seconds_slots;
};

static volatile sig_atomic_t stop_requested;
static struct conn *conns;
static long nconns;
static int epfd = -1;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_addr(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 2], *end;
	const char *colon = strrchr(arg, ':');
	size_t hlen;
	long port;

	if (!colon || colon == arg)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535)
		return -1;
	hlen = (size_t)(colon - arg);
	if (arg[0] == '[' && hlen > 2 && arg[hlen - 1] == ']') {
		arg++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, arg, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((unsigned short)port);
		*len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*in6);
	} else {
		return -1;
	}
	return 0;
}

/* --from: an address alone, its port left to connect() */
static int parse_source(const char *arg, struct options *o)
{
	char with_port[INET6_ADDRSTRLEN + 8];

	if (snprintf(with_port, sizeof(with_port), strchr(arg, ':') ? "[%s]:1" : "%s:1", arg) >=
		    (int)sizeof(with_port) ||
	    parse_addr(with_port, &o->from_addr, &o->from_len))
		return -1;
	if (o->from_addr.ss_family == AF_INET)
		((struct sockaddr_in *)&o->from_addr)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&o->from_addr)->sin6_port = 0;
	o->from = true;
	return 0;
}

static int parse_number(const char *arg, double max, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(arg, &end);
	return errno || *end || end == arg || *out < 0 || *out > max ? -1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: load --listen ADDR:PORT [--seconds S]\n"
		"       load --connect ADDR:PORT --hold N --seconds S [--trickle T] [--parallel P] [--from SRC]\n"
		"       load --connect ADDR:PORT --rate R --seconds S [--parallel P] [--from SRC]\n"
		"       (--listen and --connect together: both ends in this process)\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		double v;

		if (!val) {
			fprintf(stderr, "load: %s needs a value\n", opt);
			return -1;
		}
		i++;
		if (!strcmp(opt, "--listen") || !strcmp(opt, "--connect")) {
			bool l = opt[2] == 'l';

			if (parse_addr(val, l ? &o->listen_addr : &o->connect_addr,
				       l ? &o->listen_len : &o->connect_len)) {
				fprintf(stderr,
					"load: %s '%s' must be ADDR:PORT (IPv4, or [IPv6]:PORT)\n",
					opt, val);
				return -1;
			}
			*(l ? &o->listen : &o->connect) = true;
			continue;
		}
		if (!strcmp(opt, "--from")) {
			if (parse_source(val, o)) {
				fprintf(stderr,
					"load: --from '%s' must be an IPv4 or IPv6 address\n", val);
				return -1;
			}
			continue;
		}
		if (!strcmp(opt, "--seconds") || !strcmp(opt, "--trickle")) {
			if (parse_number(val, MAX_SECONDS, &v) || (opt[2] == 's' && v == 0)) {
				fprintf(stderr,
					"load: %s '%s' must be a number of seconds above 0, at most %d\n",
					opt, val, MAX_SECONDS);
				return -1;
			}
			*(opt[2] == 's' ? &o->seconds : &o->trickle) = v;
		} else if (!strcmp(opt, "--rate")) {
			if (parse_number(val, 1e7, &o->rate)) {
				fprintf(stderr,
					"load: --rate '%s' must be connections per second (0: as fast as possible)\n",
					val);
				return -1;
			}
			o->rate_set = true;
		} else if (!strcmp(opt, "--hold") || !strcmp(opt, "--parallel")) {
			if (parse_number(val, 1e6, &v) || v < 1 || v != (long)v) {
				fprintf(stderr,
					"load: %s '%s' must be a whole number from 1 to 1000000\n",
					opt, val);
				return -1;
			}
			*(opt[2] == 'h' ? &o->hold : &o->parallel) = (long)v;
		} else {
			fprintf(stderr, "load: unknown option '%s'\n", opt);
			return -1;
		}
	}
	if (!o->listen && !o->connect) {
		fprintf(stderr, "load: give --listen, --connect or both\n");
		return -1;
	}
	if (o->connect && (!o->hold) == (!o->rate_set)) {
		fprintf(stderr, "load: --connect needs either --hold N or --rate R\n");
		return -1;
	}
	if (o->connect && !o->seconds) {
		fprintf(stderr, "load: --connect needs --seconds S\n");
		return -1;
	}
	if (!o->connect && (o->hold || o->rate_set || o->trickle || o->parallel)) {
		fprintf(stderr,
			"load: --hold, --rate, --trickle and --parallel go with --connect\n");
		return -1;
	}
	if (o->from && (!o->connect || o->from_addr.ss_family != o->connect_addr.ss_family)) {
		fprintf(stderr, "load: --from goes with --connect, to an address of its family\n");
		return -1;
	}
	if (o->trickle && !o->hold) {
		fprintf(stderr, "load: --trickle goes with --hold\n");
		return -1;
	}
	if (!o->parallel)
		o->parallel = o->hold ? 256 : 64;
	return 0;
}

/* Descriptors this run needs at most: held connections and their server
 * ends in this process, those under way, a margin for stdio and epoll. */
static int raise_fd_limit(const struct options *o)
{
	long ends = o->listen && o->connect ? 2 : 1;
	long need = (o->hold + o->parallel) * ends + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		perror("load: getrlimit(RLIMIT_NOFILE)");
		return -1;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			perror("load: setrlimit(RLIMIT_NOFILE)");
			return -1;
		}
	}
	if (o->connect && (rlim_t)need > rl.rlim_cur) {
		fprintf(stderr,
			"load: this run needs %ld file descriptors and the hard limit is %llu: hold fewer, or run --listen in another process%s\n",
			need, (unsigned long long)rl.rlim_cur, ends == 2 ? "" : " (ulimit -Hn)");
		return -1;
	}
	nconns = rl.rlim_cur > 1048576 ? 1048576 : (long)rl.rlim_cur;
	return 0;
}

static int watch(int fd, enum conn_state state, int op, unsigned int events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (fd >= nconns || epoll_ctl(epfd, op, fd, &ev))
		return -1;
	conns[fd].state = state;
	return 0;
}

static void drop(int fd, struct counts *c)
{
	if (conns[fd].state == CONN_SERVED)
		c->serving--;
	memset(&conns[fd], 0, sizeof(conns[fd]));
	close(fd); /* also leaves the epoll set */
}

static int listen_on(const struct options *o)
{
	int fd = socket(o->listen_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
	    one = 1;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)&o->listen_addr, o->listen_len) || listen(fd, 4096) ||
	    watch(fd, CONN_LISTENER, EPOLL_CTL_ADD, EPOLLIN)) {
		perror("load: cannot listen");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void accept_all(int listener, struct counts *c)
{
	for (;;) {
		int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return; /* EAGAIN, or out of descriptors: the rest wait in the backlog */
		if (watch(fd, CONN_SERVED, EPOLL_CTL_ADD, EPOLLIN)) {
			close(fd);
			continue;
		}
		c->served++;
		if (++c->serving > c->serving_peak)
			c->serving_peak = c->serving;
	}
}

/* Server end: echo; 'q' (or the peer's FIN) ends the connection, this end first. */
static void serve(int fd, struct counts *c)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0 || write(fd, buf, (size_t)n) != n || memchr(buf, 'q', (size_t)n))
		drop(fd, c);
}

static int start_connection(const struct options *o, bool held)
{
	int fd = socket(o->connect_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
	    one = 1;

	if (fd < 0)
		return -1;
	if (o->from && (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) ||
			bind(fd, (const struct sockaddr *)&o->from_addr, o->from_len))) {
		close(fd);
		return -1;
	}
	if ((connect(fd, (const struct sockaddr *)&o->connect_addr, o->connect_len) &&
	     errno != EINPROGRESS) ||
	    watch(fd, CONN_CONNECTING, EPOLL_CTL_ADD, EPOLLOUT)) {
		close(fd);
		return -1;
	}
	conns[fd].held = held;
	return 0;
}

/* Client end: ask the server to close (reply 'q' and FIN), wait for both. */
static int finish(int fd)
{
	if (write(fd, "q", 1) != 1 || watch(fd, CONN_CLOSING, EPOLL_CTL_MOD, EPOLLIN))
		return -1;
	return 0;
}

static void connected(int fd, struct counts *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		c->connect_failed++;
		if (!conns[fd].held)
			c->churn_failed++;
		drop(fd, c);
		return;
	}
	if (conns[fd].held) {
		c->established++;
		if (watch(fd, CONN_HELD, EPOLL_CTL_MOD, EPOLLIN)) {
			c->held_closed_early++;
			drop(fd, c);
		}
		return;
	}
	if (finish(fd)) {
		c->churn_failed++;
		drop(fd, c);
	}
}

/* A held connection's echoes; EOF or an error while held is a loss. */
static void held_readable(int fd, struct counts *c)
{
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		c->held_closed_early++;
		drop(fd, c);
		return;
	}
	c->trickle_echoed += n;
}

static void closing_readable(int fd, struct counts *c, double start)
{
	char buf[16];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		conns[fd].got_reply = true;
	if (n < 0 && errno == EAGAIN)
		return;
	if (!conns[fd].held) {
		if (n == 0 && conns[fd].got_reply) {
			long sec = (long)(now_s() - start);

			c->churned++;
			if (sec >= 0 && sec < c->seconds_slots)
				c->per_second[sec]++;
		} else {
			c->churn_failed++;
		}
	}
	drop(fd, c);
}

static void dispatch(const struct epoll_event *ev, struct counts *c, double start)
{
	int fd = ev->data.fd;

	switch (conns[fd].state) {
	case CONN_LISTENER:
		accept_all(fd, c);
		break;
	case CONN_SERVED:
		serve(fd, c);
		break;
	case CONN_CONNECTING:
		connected(fd, c);
		break;
	case CONN_HELD:
		held_readable(fd, c);
		break;
	case CONN_CLOSING:
		closing_readable(fd, c, start);
		break;
	case CONN_FREE:
		break;
	}
}

static long count_state(enum conn_state state, int held)
{
	long n = 0;

	for (long fd = 0; fd < nconns; fd++)
		if (conns[fd].state == state && (held < 0 || conns[fd].held == held))
			n++;
	return n;
}

/* One round of the loop: wait up to timeout_ms, handle what is ready. */
static void poll_once(struct counts *c, double start, int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(epfd, evs, 256, timeout_ms);

	for (int i = 0; i < n; i++)
		dispatch(&evs[i], c, start);
}

/* The --hold run: open, report, hold with a trickle, close. */
static int run_hold(const struct options *o, struct counts *c)
{
	long started = 0, trickled = 0, next_fd = 0;
	double t0 = now_s(), held_at, held_for, end;
	int err = 0;

	while (!stop_requested && c->established + c->connect_failed < o->hold &&
	       now_s() - t0 < ESTABLISH_SECONDS) {
		long inflight = started - c->established - c->connect_failed;

		while (started < o->hold && inflight < o->parallel) {
			if (start_connection(o, true)) {
				fprintf(stderr, "load: hold: cannot open connection %ld: %s\n",
					started + 1, strerror(errno));
				c->connect_failed += o->hold - started;
				break;
			}
			started++, inflight++;
		}
		poll_once(c, t0, 10);
	}
	held_at = now_s();
	printf("load: hold: %ld of %ld connections established in %.2f s\n", c->established,
	       o->hold, held_at - t0);
	fflush(stdout);

	end = held_at + o->seconds;
	for (double t = held_at; !stop_requested && t < end; t = now_s()) {
		/* trickle: each held connection writes a byte every o->trickle s */
		long due = o->trickle ? (long)((t - held_at) * (double)c->established / o->trickle)
				      : 0;

		for (long scanned = 0; trickled < due && scanned < nconns; scanned++) {
			if (next_fd >= nconns)
				next_fd = 0;
			if (conns[next_fd].state == CONN_HELD && conns[next_fd].held) {
				if (write((int)next_fd, "t", 1) == 1)
					c->trickle_sent++;
				trickled++;
			}
			next_fd++;
		}
		poll_once(c, t0, 10);
	}
	held_for = now_s() - held_at;
	/* leave the echoes in flight time to come back before counting */
	for (double settle = now_s() + 0.5; now_s() < settle;)
		poll_once(c, t0, 10);
	printf("load: hold: held %ld connections for %.1f s; %ld trickle bytes sent, %ld echoed; %ld closed early\n",
	       count_state(CONN_HELD, 1), held_for, c->trickle_sent, c->trickle_echoed,
	       c->held_closed_early);
	for (long fd = 0; fd < nconns; fd++)
		if (conns[fd].state == CONN_HELD && finish((int)fd))
			drop((int)fd, c);
	for (double drain = now_s() + DRAIN_SECONDS;
	     count_state(CONN_CLOSING, 1) && now_s() < drain;)
		poll_once(c, t0, 10);
	printf("load: hold: closed; %ld not closed by the server within %.0f s\n",
	       count_state(CONN_CLOSING, 1), DRAIN_SECONDS);
	if (c->established < o->hold || c->held_closed_early || count_state(CONN_CLOSING, 1))
		err = 1;
	return err;
}

/* The --rate run: start connections on schedule, at most o->parallel under way. */
static int run_churn(const struct options *o, struct counts *c)
{
	long started = 0, slowest = -1, full = (long)o->seconds;
	double t0 = now_s(), end = t0 + o->seconds, took;

	c->seconds_slots = full + 1;
	c->per_second = calloc((size_t)c->seconds_slots, sizeof(*c->per_second));
	if (!c->per_second) {
		fprintf(stderr, "load: out of memory\n");
		return 1;
	}
	for (double t = t0; !stop_requested && t < end; t = now_s()) {
		long due = o->rate > 0 ? (long)((t - t0) * o->rate) : started + o->parallel;
		long inflight = started - c->churned - c->churn_failed;

		while (started < due && inflight < o->parallel) {
			if (start_connection(o, false))
				c->churn_failed++;
			started++, inflight++;
		}
		poll_once(c, t0, 1);
	}
	for (double drain = now_s() + DRAIN_SECONDS;
	     !stop_requested && started > c->churned + c->churn_failed && now_s() < drain;)
		poll_once(c, t0, 10);
	took = now_s() - t0;
	c->churn_failed += started - c->churned - c->churn_failed; /* still under way */
	for (long s = 0; s < full; s++)
		if (slowest < 0 || c->per_second[s] < slowest)
			slowest = c->per_second[s];
	printf("load: churn: %ld connections in %.1f s (%.0f/s; slowest whole second %ld), %ld failed\n",
	       c->churned, took, (double)c->churned / took, slowest < 0 ? 0 : slowest,
	       c->churn_failed);
	free(c->per_second);
	return c->churn_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct options o;
	struct counts c = {};
	int listener = -1, ret = 1;

	if (parse_options(argc, argv, &o)) {
		usage();
		return 2;
	}
	if (raise_fd_limit(&o))
		return 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	conns = calloc((size_t)nconns, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || epfd < 0) {
		perror("load: setup");
		goto cleanup;
	}
	if (o.listen && (listener = listen_on(&o)) < 0)
		goto cleanup;
	if (o.connect) {
		ret = o.hold ? run_hold(&o, &c) : run_churn(&o, &c);
	} else {
		double end = o.seconds ? now_s() + o.seconds : 0;

		while (!stop_requested && (!end || now_s() < end))
			poll_once(&c, 0, 100);
		ret = 0;
	}
	if (o.listen)
		printf("load: serve: %ld connections accepted, at most %ld open at once\n",
		       c.served, c.serving_peak);

cleanup:
	for (long fd = 0; conns && fd < nconns; fd++)
		if (conns[fd].state != CONN_FREE)
			close((int)fd);
	if (epfd >= 0)
		close(epfd);
	free(conns);
	return ret;
}
