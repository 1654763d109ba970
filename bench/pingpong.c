// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pingpong: the wall-clock cost of one write and one read on a TCP
 * connection, for bench/overhead.sh.
 *
 *   pingpong ITERATIONS [SETTLE_MS]
 *
 * Opens one loopback connection (127.0.0.1) with both ends in this thread,
 * waits SETTLE_MS (default 1500: the agent sees the connection and its first
 * writes), then ITERATIONS times writes one byte on the client and reads it
 * on the server. Prints the time per write and read in nanoseconds. One
 * thread and TCP_NODELAY: the byte is delivered within the write's system
 * call, so no wakeup or second CPU is in the figure, and the difference
 * between two runs is what the per-write and per-read programs cost.
 * Exit status: 0 measured, 1 a system call failed, 2 bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ITERATIONS 100000000L
#define MAX_SETTLE_MS 60000L

static long parse_count(const char *arg, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0 || v > max)
		return -1;
	return v;
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* A connected pair on loopback: *client and *server; 0 or -1 (said why). */
static int connect_pair(int *client, int *server)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int one = 1, listener, rc = -1;

	*client = *server = -1;
	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0) {
		perror("pingpong: socket");
		return -1;
	}
	if (bind(listener, (struct sockaddr *)&a, sizeof(a)) || listen(listener, 1) ||
	    getsockname(listener, (struct sockaddr *)&a, &len)) {
		perror("pingpong: listen on 127.0.0.1");
		goto out;
	}
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (*client < 0 || connect(*client, (struct sockaddr *)&a, sizeof(a))) {
		perror("pingpong: connect to 127.0.0.1");
		goto out;
	}
	*server = accept(listener, NULL, NULL);
	if (*server < 0) {
		perror("pingpong: accept");
		goto out;
	}
	if (setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		perror("pingpong: TCP_NODELAY");
		goto out;
	}
	rc = 0;
out:
	close(listener);
	return rc;
}

int main(int argc, char **argv)
{
	long iterations, settle_ms = 1500;
	int client, server, rc = 1;
	char byte[64] = { 0 };
	double start;

	if (argc < 2 || argc > 3 || (iterations = parse_count(argv[1], MAX_ITERATIONS)) < 1 ||
	    (argc == 3 && (settle_ms = parse_count(argv[2], MAX_SETTLE_MS)) < 0)) {
		fprintf(stderr, "usage: pingpong ITERATIONS (1-%ld) [SETTLE_MS (0-%ld)]\n",
			MAX_ITERATIONS, MAX_SETTLE_MS);
		return 2;
	}
	if (connect_pair(&client, &server))
		goto out;
	usleep(settle_ms * 1000);
	errno = 0;
	start = now_ns();
	for (long i = 0; i < iterations; i++) {
		if (write(client, byte, 1) != 1 || read(server, byte, sizeof(byte)) != 1) {
			fprintf(stderr, "pingpong: round trip %ld: %s\n", i,
				errno ? strerror(errno) : "the connection closed");
			goto out;
		}
	}
	printf("pingpong: %ld writes and reads, %.1f ns each pair\n", iterations,
	       (now_ns() - start) / iterations);
	rc = 0;
out:
	if (client >= 0)
		close(client);
	if (server >= 0)
		close(server);
	return rc;
}
