// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/listen.h"

int parse_listen(const char *text, struct sockaddr_storage *addr, unsigned int *addrlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = text ? strrchr(text, ':') : NULL;
	size_t hlen;
	long port;
	char *end;

	if (!colon || colon == text || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		return -1;
	hlen = (size_t)(colon - text);
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, text, hlen);
	host[hlen] = 0;
	memset(addr, 0, sizeof(*addr));
	if (host[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;

		if (hlen < 3 || host[hlen - 1] != ']')
			return -1;
		host[hlen - 1] = 0;
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return -1;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*addrlen = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)addr;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -1;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*addrlen = sizeof(*a4);
	}
	return 0;
}
