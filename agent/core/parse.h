/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Parsing of command-line values and /proc text: pure functions. */
#ifndef TCPTUNE_PARSE_H
#define TCPTUNE_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* A decimal number, finite: digits, a point, a sign, an exponent (what
 * strtod takes, less hex, blanks and words). Returns 0, or -1 with *why set
 * to a short reason ("is empty", "is not a number") and *value untouched.
 * The bounds of an option are core/options.h's. */
int parse_decimal(const char *text, double *value, const char **why);

/* A positive count (for --iterations). */
int parse_count(const char *text, long *count);

/* One line of /proc/self/mountinfo: if its filesystem type is `fstype`,
 * copy the mount point (with \040-style escapes decoded) into buf. */
bool mountinfo_match(const char *line, const char *fstype, char *buf, size_t len);

/* A byte count: digits with an optional K, M or G (powers of 1024). */
int parse_size(const char *text, __u64 *bytes);

/* A plain decimal number within [lo, hi]. */
int parse_fraction(const char *text, double lo, double hi, double *value);

/* Whether `inner` is `outer` or a path below it. */
bool path_within(const char *outer, const char *inner);

/* /proc/sys/net/ipv4/tcp_mem: three page counts (low, pressure, high),
 * separated by blanks, in increasing order. Returns 0 or -1. */
int parse_tcp_mem(const char *text, __u64 pages[3]);

/* /proc/net/sockstat or sockstat6: a field of the line of a protocol, e.g.
 * "TCP" "mem" (pages, global) or "TCP6" "inuse" (sockets of the reader's
 * network namespace). Returns 0, or -1 when there is no such line or field. */
int parse_sockstat(const char *text, const char *proto, const char *field, __u64 *value);

#endif
