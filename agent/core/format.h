/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Turning flow entries into text: JSON, table rows, sorting. Pure. */
#ifndef TCPTUNE_FORMAT_H
#define TCPTUNE_FORMAT_H
#include <stdio.h>
#include "core/flow.h"

enum flow_sort { SORT_RATE, SORT_RTT, SORT_QUEUE };

#define ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

/* Address in its usual text form (IPv4 dotted quad, IPv6 as inet_ntop). */
const char *format_addr(__u16 family, const __u8 addr[16], char buf[ADDR_STRLEN]);
const char *format_family(__u16 family);
const char *format_state(__u16 state);
/* conn_target.change_buffer: "sndbuf", "rcvbuf", "notsent_lowat" or "none" */
const char *format_change_buffer(__u16 buffer);
/* 1.23G, 456.0M, 12.0K... with the unit suffix appended; for bits/s or bytes */
const char *format_si(double value, const char *unit, char *buf, size_t len);

/* A JSON string literal, escaped, into buf (truncated to len). */
void json_string(const char *text, size_t maxlen, char *buf, size_t len);

void print_flows_json(FILE *out, const struct flow_row *rows, size_t n);
void print_flows_table(FILE *out, const struct flow_row *rows, size_t n, int width);

/* Biggest first for rate and queue, slowest first for RTT. */
void sort_flows(struct flow_row *rows, size_t n, enum flow_sort key);
int parse_sort(const char *name, enum flow_sort *key);
const char *sort_name(enum flow_sort key);

#endif
