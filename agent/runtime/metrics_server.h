/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The --metrics endpoint: libmicrohttpd serves GET /metrics from its own
 * thread. A page is rendered when asked for, not each tick (at 20,000
 * connections a rendering costs milliseconds, and scrapes come every 15 s or
 * so): a request wakes the agent's loop (wake_fd), which renders from its
 * last tick and publishes; the request waits up to RENDER_WAIT_S for it, and
 * is served the previous page if the agent is busy longer. */
#ifndef TCPTUNE_METRICS_SERVER_H
#define TCPTUNE_METRICS_SERVER_H
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>
#include "core/metrics.h"

struct metrics_server {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;
	struct prom_buf page;     /* the last published rendering */
	pthread_cond_t published; /* signalled with each publish */
	unsigned long long publishes;
	int wake_fd; /* an eventfd: readable when a page is wanted */
	bool lock_ready;
};

/* Binds and starts serving (an empty page until the first publish). On
 * error a one-line reason is in why. */
int metrics_server_start(struct metrics_server *s, const struct sockaddr *addr, socklen_t addrlen,
			 const char *text, char *why, size_t len);
#define RENDER_WAIT_S 2

/* Takes over page's text (page is left empty) and wakes waiting requests. */
void metrics_server_publish(struct metrics_server *s, struct prom_buf *page);
void metrics_server_stop(struct metrics_server *s);
/* After wake_fd polled readable: true when a page is wanted (clears it). */
bool metrics_server_wanted(struct metrics_server *s);

#endif
