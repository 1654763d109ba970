// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* churn ADDR PORT SECONDS [RATE]: open and close short TCP connections to
 * itself on ADDR:PORT (IPv4 or IPv6), as fast as possible or at RATE per
 * second, for SECONDS; print how many. Each connection carries one byte each
 * way and goes through the full state sequence (the server closes first). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int one_connection(const struct sockaddr *sa, socklen_t len, int listener)
{
	int c = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), s = -1, ok = -1;
	char b;

	if (c < 0)
		return -1;
	if (connect(c, sa, len) == 0 && (s = accept(listener, NULL, NULL)) >= 0 &&
	    write(c, "x", 1) == 1 && read(s, &b, 1) == 1 && write(s, "y", 1) == 1 && read(c, &b, 1) == 1) {
		close(s); /* server closes first: it keeps the TIME_WAIT, not the client's port */
		s = -1;
		ok = read(c, &b, 1) == 0 ? 0 : -1;
	}
	if (s >= 0)
		close(s);
	close(c);
	return ok;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss = {};
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	double seconds, rate = 0, start, end;
	long done = 0, failed = 0;
	int listener, one = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: churn ADDR PORT SECONDS [RATE]\n");
		return 2;
	}
	seconds = atof(argv[3]);
	if (argc > 4)
		rate = atof(argv[4]);
	if (inet_pton(AF_INET, argv[1], &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((unsigned short)atoi(argv[2]));
		len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, argv[1], &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)atoi(argv[2]));
		len = sizeof(*in6);
	} else {
		fprintf(stderr, "churn: '%s' is not an IP address\n", argv[1]);
		return 2;
	}
	listener = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(listener, (struct sockaddr *)&ss, len) || listen(listener, 128)) {
		fprintf(stderr, "churn: cannot listen on %s port %s: %s\n", argv[1], argv[2], strerror(errno));
		return 1;
	}
	start = now_s();
	end = start + seconds;
	for (double t = start; t < end; t = now_s()) {
		if (rate > 0 && done + failed >= (long)((t - start) * rate)) {
			usleep(200);
			continue;
		}
		if (one_connection((struct sockaddr *)&ss, len, listener))
			failed++;
		else
			done++;
	}
	printf("churn: %ld connections in %.1f s (%.0f/s), %ld failed\n", done, now_s() - start,
	       (double)done / (now_s() - start), failed);
	close(listener);
	return failed ? 1 : 0;
}
