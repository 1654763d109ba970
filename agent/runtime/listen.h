/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The metrics endpoint's listen address, as a socket address (apart from
 * parse.h, whose parsers need no socket header). */
#ifndef TCPTUNE_LISTEN_H
#define TCPTUNE_LISTEN_H

/* A listen address for --metrics: "IPV4:PORT" or "[IPV6]:PORT", port 1-65535.
 * Fills the address (sockaddr_in or sockaddr_in6) and *addrlen. Returns 0, or
 * -1 when the text is anything else. */
struct sockaddr_storage;
int parse_listen(const char *text, struct sockaddr_storage *addr, unsigned int *addrlen);

#endif
