// SPDX-License-Identifier: GPL-2.0
/*
 * rpc: request/response traffic and a slow reader, for the no-regression
 * bench (bench/noharm.sh) and tests/e2e/test_noharm.sh.
 *
 *   rpc serve --port P
 *       Answers each request (4 bytes: the response size, network order) on
 *       each connection with that many bytes, until the peer closes. A thread
 *       per connection.
 *   rpc call --to ADDR --port P --sizes 10k,100k,1m --count N [--new] [--mix]
 *       Sends N requests per size and times each from the request's write to
 *       the response's last byte. Sizes one after the other (all N of the
 *       first, then the next), or interleaved with --mix. One persistent
 *       connection, or a new one per request with --new (its connect counted).
 *       Prints one line per size:
 *         size=102400 n=100 p50_ms=60.71 p99_ms=68.30 mean_ms=61.02
 *       and, with --raw FILE, every time (size and ms per line).
 *   rpc sink --port P --read-bps R
 *       Accepts connections and reads from each at R bytes/s (16 KiB reads,
 *       paced), a receiving application slower than its path.
 *
 * ADDR is IPv4 or IPv6. Exit status 0, or 1 with a one-line error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZES 16
#define CHUNK (256u << 10)

static void die(const char *what)
{
	fprintf(stderr, "rpc: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* All of len bytes, through read or write: 0, or -1 at EOF or on error. */
static int transfer_all(int fd, char *p, size_t len, bool writing)
{
	while (len) {
		ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	return transfer_all(fd, (char *)buf, len, true);
}

static int read_all(int fd, void *buf, size_t len)
{
	return transfer_all(fd, buf, len, false);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0) {
		fprintf(stderr, "rpc: bad size '%s' (e.g. 4096, 10k, 1m)\n", s);
		exit(1);
	}
	switch (*end) {
	case 'k':
	case 'K':
		v *= 1024;
		break;
	case 'm':
	case 'M':
		v *= 1024 * 1024;
		break;
	case 'g':
	case 'G':
		v *= 1024 * 1024 * 1024;
		break;
	case '\0':
		break;
	default:
		fprintf(stderr, "rpc: bad size '%s' (e.g. 4096, 10k, 1m)\n", s);
		exit(1);
	}
	return (uint64_t)v;
}

static int listen_on(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_port = htons(port),
				  .sin6_addr = IN6ADDR_ANY_INIT };
	int one = 1, fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 128))
		die("bind/listen");
	return fd;
}

static int connect_to(const char *host, int port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char service[16];
	int fd, one = 1, err;

	snprintf(service, sizeof(service), "%d", port);
	err = getaddrinfo(host, service, &hints, &ai);
	if (err) {
		fprintf(stderr, "rpc: %s: %s\n", host, gai_strerror(err));
		exit(1);
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, ai->ai_addr, ai->ai_addrlen))
		die("connect");
	freeaddrinfo(ai);
	/* the 4-byte request leaves at once, as an RPC client's would */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void *answer(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	static char zeros[CHUNK];
	uint32_t req;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (read_all(fd, &req, sizeof(req)) == 0) {
		uint64_t left = ntohl(req);

		while (left) {
			size_t n = left < CHUNK ? left : CHUNK;

			if (write_all(fd, zeros, n))
				goto out;
			left -= n;
		}
	}
out:
	close(fd);
	return NULL;
}

static void *drain_slowly(void *arg)
{
	uint64_t *cfg = arg;
	int fd = (int)cfg[0];
	double bps = (double)cfg[1], start = now_ms(), got = 0;
	static char buf[16384];
	ssize_t n;

	free(cfg);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		got += n;
		double due = start + got / bps * 1e3, wait = due - now_ms();

		if (wait > 0) {
			long long ns = (long long)(wait * 1e6);
			struct timespec ts = { ns / 1000000000, ns % 1000000000 };

			nanosleep(&ts, NULL);
		}
	}
	close(fd);
	return NULL;
}

static void spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	if (pthread_create(&t, NULL, fn, arg))
		die("pthread_create");
	pthread_detach(t);
}

static _Noreturn void serve(int port, uint64_t read_bps)
{
	int lfd = listen_on(port);

	printf("rpc: listening on port %d\n", port);
	fflush(stdout);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		if (read_bps) {
			uint64_t *cfg = malloc(2 * sizeof(*cfg));

			if (!cfg)
				die("malloc");
			cfg[0] = (uint64_t)fd;
			cfg[1] = read_bps;
			spawn(drain_slowly, cfg);
		} else {
			spawn(answer, (void *)(intptr_t)fd);
		}
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, int n, double p)
{
	int rank = (int)(p / 100 * n + 0.999999);

	if (rank < 1)
		rank = 1;
	return v[rank > n ? n - 1 : rank - 1];
}

static double one_call(int fd, uint64_t size)
{
	static char buf[CHUNK];
	uint32_t req = htonl((uint32_t)size);
	double t0 = now_ms();
	uint64_t left = size;

	if (write_all(fd, &req, sizeof(req)))
		die("write request");
	while (left) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n ? errno : ECONNRESET;
			die("read response");
		}
		left -= n;
	}
	return now_ms() - t0;
}

static int call(const char *host, int port, const uint64_t *sizes, int nsizes, int count, int fresh,
		int mix, const char *raw_path)
{
	double *times = calloc((size_t)nsizes * count, sizeof(double));
	int fd = -1, done[MAX_SIZES] = { 0 };
	FILE *raw = NULL;

	if (!times)
		die("calloc");
	if (raw_path && !(raw = fopen(raw_path, "w")))
		die(raw_path);
	for (int i = 0; i < nsizes * count; i++) {
		int k = mix ? i % nsizes : i / count;
		double t0 = now_ms(), ms;

		if (fd < 0 || fresh)
			fd = connect_to(host, port);
		ms = one_call(fd, sizes[k]);
		if (fresh) {
			ms = now_ms() - t0; /* a new connection's request includes its connect */
			close(fd);
			fd = -1;
		}
		times[k * count + done[k]++] = ms;
		if (raw)
			fprintf(raw, "%llu %.3f\n", (unsigned long long)sizes[k], ms);
	}
	if (fd >= 0)
		close(fd);
	if (raw)
		fclose(raw);
	for (int k = 0; k < nsizes; k++) {
		double *v = times + k * count, sum = 0;

		qsort(v, count, sizeof(*v), cmp_double);
		for (int i = 0; i < count; i++)
			sum += v[i];
		printf("size=%llu n=%d p50_ms=%.2f p99_ms=%.2f mean_ms=%.2f\n",
		       (unsigned long long)sizes[k], count, percentile(v, count, 50),
		       percentile(v, count, 99), sum / count);
	}
	free(times);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: rpc serve --port P\n"
		"       rpc call --to ADDR --port P --sizes S[,S...] --count N [--new] [--mix] [--raw FILE]\n"
		"       rpc sink --port P --read-bps R\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "port", required_argument, NULL, 'p' },
					      { "to", required_argument, NULL, 't' },
					      { "sizes", required_argument, NULL, 's' },
					      { "count", required_argument, NULL, 'n' },
					      { "new", no_argument, NULL, 'N' },
					      { "mix", no_argument, NULL, 'm' },
					      { "raw", required_argument, NULL, 'r' },
					      { "read-bps", required_argument, NULL, 'b' },
					      { 0 } };
	const char *host = NULL, *raw = NULL, *mode;
	uint64_t sizes[MAX_SIZES], read_bps = 0;
	int nsizes = 0, count = 0, port = 0, fresh = 0, mix = 0, c;

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = atoi(optarg);
			break;
		case 't':
			host = optarg;
			break;
		case 'n':
			count = atoi(optarg);
			break;
		case 'N':
			fresh = 1;
			break;
		case 'm':
			mix = 1;
			break;
		case 'r':
			raw = optarg;
			break;
		case 'b':
			read_bps = parse_size(optarg);
			break;
		case 's':
			for (char *tok = strtok(optarg, ","); tok; tok = strtok(NULL, ",")) {
				if (nsizes == MAX_SIZES)
					usage();
				sizes[nsizes] = parse_size(tok);
				if (sizes[nsizes] == 0 || sizes[nsizes] > UINT32_MAX)
					usage();
				nsizes++;
			}
			break;
		default:
			usage();
		}
	}
	if (port <= 0 || port > 65535)
		usage();
	if (!strcmp(mode, "serve"))
		serve(port, 0);
	if (!strcmp(mode, "sink") && read_bps)
		serve(port, read_bps);
	if (!strcmp(mode, "call") && host && nsizes && count > 0)
		return call(host, port, sizes, nsizes, count, fresh, mix, raw);
	usage();
	return 1;
}
