/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The --metrics endpoint: libmicrohttpd serves GET /metrics from its own
 * thread; the agent publishes a new rendering each tick. */
#ifndef TCPTUNE_METRICS_SERVER_H
#define TCPTUNE_METRICS_SERVER_H
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>
#include "metrics.h"

struct metrics_server {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;
	struct prom_buf page;        /* the last published rendering */
	bool lock_ready;
};

/* Binds and starts serving (an empty page until the first publish). On
 * error a one-line reason is in why. */
int metrics_server_start(struct metrics_server *s, const struct sockaddr *addr, socklen_t addrlen,
			 const char *text, char *why, size_t len);
/* Takes over page's text (page is left empty). */
void metrics_server_publish(struct metrics_server *s, struct prom_buf *page);
void metrics_server_stop(struct metrics_server *s);

#endif
