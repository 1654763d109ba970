// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "runtime/metrics_server.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define SCRAPE_TIMEOUT_S 10
#define MAX_CONNECTIONS 16

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int status, const char *body,
			       size_t len, const char *type)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* With the lock held: asks the agent's loop for a page and waits for it. */
static void wait_for_page(struct metrics_server *s)
{
	unsigned long long seen = s->publishes;
	uint64_t one = 1;
	struct timespec until;

	if (write(s->wake_fd, &one, sizeof(one)) != sizeof(one))
		return; /* the previous page, then */
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += RENDER_WAIT_S;
	while (s->publishes == seen)
		if (pthread_cond_timedwait(&s->published, &s->lock, &until))
			break;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct metrics_server *s = cls;
	enum MHD_Result ret;
	static const char not_found[] = "tcptune serves /metrics only\n";
	static const char bad_method[] = "GET or HEAD only\n";

	(void)version, (void)upload, (void)state;
	if (*upload_size)
		return MHD_NO; /* no bodies taken */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, bad_method,
			       sizeof(bad_method) - 1, "text/plain");
	if (strcmp(url, "/metrics"))
		return respond(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1,
			       "text/plain");
	pthread_mutex_lock(&s->lock);
	wait_for_page(s);
	ret = respond(conn, MHD_HTTP_OK, s->page.data ? s->page.data : "", s->page.len,
		      CONTENT_TYPE);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int metrics_server_start(struct metrics_server *s, const struct sockaddr *addr, socklen_t addrlen,
			 const char *text, char *why, size_t len)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	int err;

	(void)addrlen;
	pthread_condattr_t monotonic;

	*s = (struct metrics_server){ .wake_fd = -1 };
	if (pthread_mutex_init(&s->lock, NULL)) {
		snprintf(why, len, "cannot serve metrics on %s: no mutex", text);
		return -1;
	}
	if (pthread_condattr_init(&monotonic) ||
	    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&s->published, &monotonic)) {
		pthread_mutex_destroy(&s->lock);
		snprintf(why, len, "cannot serve metrics on %s: no condition variable", text);
		return -1;
	}
	pthread_condattr_destroy(&monotonic);
	s->lock_ready = true;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		snprintf(why, len, "cannot serve metrics on %s: eventfd: %s", text,
			 strerror(errno));
		metrics_server_stop(s);
		return -1;
	}
	if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, addr,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)SCRAPE_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
				     MHD_OPTION_END);
	if (!s->daemon) {
		err = errno;
		if (err == EADDRINUSE)
			snprintf(
				why, len,
				"cannot serve metrics on %s: the address is in use by another process (choose another with --metrics ADDR:PORT, or --metrics off)",
				text);
		else if (err == EADDRNOTAVAIL)
			snprintf(
				why, len,
				"cannot serve metrics on %s: no local interface has that address (use --metrics 127.0.0.1:PORT, or --metrics off)",
				text);
		else
			snprintf(
				why, len,
				"cannot serve metrics on %s: %s (choose another with --metrics ADDR:PORT, or --metrics off)",
				text, err ? strerror(err) : "libmicrohttpd could not start");
		metrics_server_stop(s);
		return -1;
	}
	return 0;
}

void metrics_server_publish(struct metrics_server *s, struct prom_buf *page)
{
	struct prom_buf old;

	pthread_mutex_lock(&s->lock);
	old = s->page;
	s->page = *page;
	s->publishes++;
	pthread_cond_broadcast(&s->published);
	pthread_mutex_unlock(&s->lock);
	prom_buf_free(&old);
	*page = (struct prom_buf){};
}

void metrics_server_stop(struct metrics_server *s)
{
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	s->daemon = NULL;
	if (s->lock_ready) {
		pthread_cond_destroy(&s->published);
		pthread_mutex_destroy(&s->lock);
	}
	s->lock_ready = false;
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	s->wake_fd = -1;
	prom_buf_free(&s->page);
}

bool metrics_server_wanted(struct metrics_server *s)
{
	uint64_t n;

	return read(s->wake_fd, &n, sizeof(n)) == sizeof(n) && n > 0;
}
