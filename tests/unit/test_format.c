// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/core/format.c: addresses, SI figures, JSON, table, sorting. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "core/format.h"

/* ==== a small strict JSON reader, for checking print_flows_json ========= */

/* One member of a flat object: the key, and the value (strings decoded,
 * \u00XX to that byte; other scalars as their text). */
struct jfield {
	char key[48];
	char val[128];
	bool is_string;
};

struct jrow {
	int n;
	struct jfield f[48];
};

struct jreader {
	const char *p;
	int depth;
	struct jrow *rows; /* when set: top level must be an array of flat objects */
	int max_rows, nrows;
};

static void j_ws(struct jreader *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A string literal; decoded into out when out is given. Only printable ASCII
 * is accepted unescaped: print_flows_json escapes everything else. */
static bool j_string(struct jreader *j, char *out, size_t outlen)
{
	size_t o = 0;

	if (*j->p != '"')
		return false;
	j->p++;
	for (;;) {
		unsigned char c = (unsigned char)*j->p;
		int ch;

		if (c == '"')
			break;
		if (c < 0x20 || c >= 0x7f)
			return false;
		if (c == '\\') {
			j->p++;
			switch (*j->p) {
			case '"':
				ch = '"';
				break;
			case '\\':
				ch = '\\';
				break;
			case '/':
				ch = '/';
				break;
			case 'b':
				ch = '\b';
				break;
			case 'f':
				ch = '\f';
				break;
			case 'n':
				ch = '\n';
				break;
			case 'r':
				ch = '\r';
				break;
			case 't':
				ch = '\t';
				break;
			case 'u': {
				int v = 0;

				for (int k = 1; k <= 4; k++) {
					int h = hexval(j->p[k]);

					if (h < 0)
						return false;
					v = v * 16 + h;
				}
				j->p += 4;
				ch = v <= 0xff ? v : '?';
				break;
			}
			default:
				return false;
			}
		} else {
			ch = c;
		}
		if (out && o + 1 < outlen)
			out[o++] = (char)ch;
		j->p++;
	}
	j->p++;
	if (out && outlen)
		out[o] = '\0';
	return true;
}

static bool digits(struct jreader *j)
{
	const char *start = j->p;

	while (*j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool j_number(struct jreader *j)
{
	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (!(*j->p >= '1' && *j->p <= '9') || !digits(j))
		return false;
	if (*j->p == '.') {
		j->p++;
		if (!digits(j))
			return false;
	}
	if (*j->p == 'e' || *j->p == 'E') {
		j->p++;
		if (*j->p == '+' || *j->p == '-')
			j->p++;
		if (!digits(j))
			return false;
	}
	return true;
}

static bool j_value(struct jreader *j, struct jfield *capture);

static bool j_object(struct jreader *j)
{
	struct jrow *row = NULL;

	/* objects directly in the top-level array are rows */
	if (j->rows && j->depth == 1) {
		if (j->nrows >= j->max_rows)
			return false;
		row = &j->rows[j->nrows++];
		row->n = 0;
	} else if (j->rows) {
		return false; /* rows must be flat */
	}
	j->p++;
	j->depth++;
	j_ws(j);
	if (*j->p == '}') {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		struct jfield *f = NULL;
		char key[48];

		j_ws(j);
		if (!j_string(j, key, sizeof(key)))
			return false;
		if (row) {
			if (row->n >= (int)(sizeof(row->f) / sizeof(row->f[0])))
				return false;
			f = &row->f[row->n++];
			snprintf(f->key, sizeof(f->key), "%s", key);
		}
		j_ws(j);
		if (*j->p != ':')
			return false;
		j->p++;
		j_ws(j);
		if (!j_value(j, f))
			return false;
		j_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p == '}') {
			j->p++;
			j->depth--;
			return true;
		}
		return false;
	}
}

static bool j_array(struct jreader *j)
{
	if (j->rows && j->depth != 0)
		return false;
	j->p++;
	j->depth++;
	j_ws(j);
	if (*j->p == ']') {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		j_ws(j);
		if (j->rows && *j->p != '{')
			return false;
		if (!j_value(j, NULL))
			return false;
		j_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p == ']') {
			j->p++;
			j->depth--;
			return true;
		}
		return false;
	}
}

static bool j_value(struct jreader *j, struct jfield *capture)
{
	const char *start = j->p;
	bool ok;

	if (j->depth > 32)
		return false;
	switch (*j->p) {
	case '{':
		return !capture && j_object(j);
	case '[':
		return !capture && j_array(j);
	case '"':
		if (capture)
			capture->is_string = true;
		return j_string(j, capture ? capture->val : NULL,
				capture ? sizeof(capture->val) : 0);
	case 't':
		ok = strncmp(j->p, "true", 4) == 0;
		j->p += ok ? 4 : 0;
		break;
	case 'f':
		ok = strncmp(j->p, "false", 5) == 0;
		j->p += ok ? 5 : 0;
		break;
	case 'n':
		ok = strncmp(j->p, "null", 4) == 0;
		j->p += ok ? 4 : 0;
		break;
	default:
		ok = j_number(j);
		break;
	}
	if (ok && capture) {
		capture->is_string = false;
		snprintf(capture->val, sizeof(capture->val), "%.*s", (int)(j->p - start), start);
	}
	return ok;
}

/* Whether text is one complete JSON value (ASCII only), and nothing else. */
static bool json_valid(const char *text)
{
	struct jreader j = { .p = text };

	j_ws(&j);
	if (!j_value(&j, NULL))
		return false;
	j_ws(&j);
	return *j.p == '\0';
}

/* Reads an array of flat objects into rows; the number of rows, or -1. */
static int json_rows(const char *text, struct jrow *rows, int max)
{
	struct jreader j = { .p = text, .rows = rows, .max_rows = max };

	j_ws(&j);
	if (*j.p != '[' || !j_value(&j, NULL))
		return -1;
	j_ws(&j);
	return *j.p == '\0' ? j.nrows : -1;
}

static const struct jfield *jget(const struct jrow *row, const char *key)
{
	for (int i = 0; i < row->n; i++)
		if (strcmp(row->f[i].key, key) == 0)
			return &row->f[i];
	return NULL;
}

/* row[key] is the number `want` */
static void expect_jnum(const struct jrow *row, const char *key, const char *want)
{
	const struct jfield *f = jget(row, key);

	if (!f)
		fail_msg("key \"%s\" missing", key);
	if (f->is_string)
		fail_msg("key \"%s\" is a string (\"%s\"), expected the number %s", key, f->val,
			 want);
	assert_string_equal(f->val, want);
}

/* row[key] is the string `want` (decoded) */
static void expect_jstr(const struct jrow *row, const char *key, const char *want)
{
	const struct jfield *f = jget(row, key);

	if (!f)
		fail_msg("key \"%s\" missing", key);
	if (!f->is_string)
		fail_msg("key \"%s\" is %s, expected a string", key, f->val);
	assert_string_equal(f->val, want);
}

static void json_reader_accepts_valid(void **state)
{
	struct jrow rows[2];

	(void)state;
	assert_true(json_valid("[]"));
	assert_true(json_valid(" [ ] \n"));
	assert_true(json_valid("{}"));
	assert_true(
		json_valid("[1,-2,0,3.5,1e9,-0.5E-3,true,false,null,\"a\\\"b\\\\c\\u00ff\\n\"]"));
	assert_true(json_valid("{\"a\":{\"b\":[{}]}}"));
	assert_int_equal(json_rows("[\n  {\"a\":1,\"b\":\"x\\u0041\"},\n  {}\n]\n", rows, 2), 2);
	assert_int_equal(rows[0].n, 2);
	expect_jnum(&rows[0], "a", "1");
	expect_jstr(&rows[0], "b", "xA");
	assert_int_equal(rows[1].n, 0);
}

static void json_reader_rejects_malformed(void **state)
{
	struct jrow rows[2];

	(void)state;
	assert_false(json_valid(""));
	assert_false(json_valid("["));
	assert_false(json_valid("]"));
	assert_false(json_valid("[1,]"));
	assert_false(json_valid("[,1]"));
	assert_false(json_valid("[1 2]"));
	assert_false(json_valid("{\"a\":1,}"));
	assert_false(json_valid("{\"a\" 1}"));
	assert_false(json_valid("{a:1}"));
	assert_false(json_valid("[{]"));
	assert_false(json_valid("[01]"));
	assert_false(json_valid("[1.]"));
	assert_false(json_valid("[-]"));
	assert_false(json_valid("[+1]"));
	assert_false(json_valid("[\"a\nb\"]"));   /* raw control character */
	assert_false(json_valid("[\"a\\x41\"]")); /* no such escape */
	assert_false(json_valid("[\"\\u00f\"]")); /* short \u */
	assert_false(json_valid("[\"\xff\"]"));   /* raw non-ASCII byte */
	assert_false(json_valid("[\"abc]"));
	assert_false(json_valid("[] []"));
	assert_false(json_valid("[]x"));
	assert_false(json_valid("[tru]"));
	assert_int_equal(json_rows("[1]", rows, 2), -1);
	assert_int_equal(json_rows("[{\"a\":[1]}]", rows, 2), -1);
	assert_int_equal(json_rows("{}", rows, 2), -1);
	assert_int_equal(json_rows("[{},{},{}]", rows, 2), -1);
}

/* ==== fixtures ========================================================== */

static void set_v4(__u8 addr[16], __u8 a, __u8 b, __u8 c, __u8 d)
{
	memset(addr, 0, 16);
	addr[0] = a;
	addr[1] = b;
	addr[2] = c;
	addr[3] = d;
}

static void set_v6(__u8 addr[16], const char *text)
{
	assert_int_equal(inet_pton(AF_INET6, text, addr), 1);
}

/* A flow in which every field has its own value, so a swapped field shows. */
static struct flow_row sample_v4(void)
{
	struct flow_row f;

	memset(&f, 0, sizeof(f));
	f.f.cookie = 4097;
	f.f.s.netns_cookie = 4026531840ULL;
	f.f.s.cgroup_id = 9876;
	f.f.s.family = AF_INET;
	set_v4(f.f.s.saddr, 10, 0, 0, 1);
	set_v4(f.f.s.daddr, 192, 168, 1, 20);
	f.f.s.sport = 35196;
	f.f.s.dport = 5201;
	f.f.s.state = CONN_ESTABLISHED;
	f.f.s.pid = 2673;
	memcpy(f.f.s.comm, "iperf3", 6);
	f.f.s.srtt_us = 70;
	f.f.s.min_rtt_us = 31;
	f.f.s.snd_cwnd = 14;
	f.f.s.mss = 1448;
	f.f.s.delivery_rate_Bps = 4362500000ULL; /* 34.9 Gbit/s */
	f.f.s.bytes_acked = 123456789012ULL;
	f.f.s.bytes_received = 5555;
	f.f.s.snd_queue_bytes = 131072;
	f.f.s.rcv_queue_bytes = 17;
	f.f.s.sndbuf = 3900000;
	f.f.s.rcvbuf = 131072;
	f.f.s.retrans = 3;
	f.f.s.sndbuf_limited_us = 777001;
	f.f.s.rwnd_limited_us = 888002;
	/* the agent probed this sender's buffer 1.5 s ago */
	f.target.sndbuf = 2000000;
	f.f.s.notsent_lowat = 250000;
	f.target.notsent_lowat = 125000;
	f.target.flags = TARGET_SND_LIMITED;
	f.target.change_buffer = CHANGE_SNDBUF;
	f.target.change_reason = 3;
	f.target.change_old = 1000000;
	f.target.change_new = 2000000;
	f.change_age_ms = 1500;
	f.f.s.created_ns = 1;
	f.f.s.updated_ns = 2;
	f.f.s.seen_pass = 3;
	return f;
}

static struct flow_row sample_v6(void)
{
	struct flow_row f = sample_v4();

	f.f.cookie = 8193;
	f.f.s.family = AF_INET6;
	set_v6(f.f.s.saddr, "2001:db8::1");
	set_v6(f.f.s.daddr, "fd00:198:18:7::2");
	f.f.s.sport = 443;
	f.f.s.dport = 60000;
	f.f.s.state = CONN_CLOSE_WAIT;
	return f;
}

/* Everything a print function writes, as a malloc'd string. */
static char *capture_json(const struct flow_row *flows, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	print_flows_json(m, flows, n);
	assert_int_equal(fclose(m), 0);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	return buf;
}

static char *capture_table(const struct flow_row *flows, size_t n, int width)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	print_flows_table(m, flows, n, width);
	assert_int_equal(fclose(m), 0);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	return buf;
}

static size_t count_substr(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ==== format_addr / format_family / format_state ======================== */

static void expect_addr(__u16 family, const __u8 addr[16], const char *want)
{
	char buf[ADDR_STRLEN];

	memset(buf, 'X', sizeof(buf));
	assert_ptr_equal(format_addr(family, addr, buf), buf);
	assert_string_equal(buf, want);
}

static void addr_ipv4(void **state)
{
	__u8 a[16];

	(void)state;
	set_v4(a, 127, 0, 0, 1);
	expect_addr(AF_INET, a, "127.0.0.1");
	set_v4(a, 10, 1, 2, 3);
	expect_addr(AF_INET, a, "10.1.2.3");
	set_v4(a, 0, 0, 0, 0);
	expect_addr(AF_INET, a, "0.0.0.0");
	set_v4(a, 255, 255, 255, 255);
	expect_addr(AF_INET, a, "255.255.255.255");
	/* only the first four bytes are the address */
	set_v4(a, 198, 18, 3, 1);
	memset(a + 4, 0xee, 12);
	expect_addr(AF_INET, a, "198.18.3.1");
}

static void addr_ipv6(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "::1", "::1" },
		{ "::", "::" },
		{ "2001:db8::1", "2001:db8::1" },
		{ "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1" },
		{ "fe80::1:2", "fe80::1:2" },
		{ "fd00:198:18:7::2", "fd00:198:18:7::2" },
		{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },
		{ "2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
		{ "::ffff:1.2.3.4", "::ffff:1.2.3.4" },
		{ "::ffff:127.0.0.1", "::ffff:127.0.0.1" },
	};
	__u8 a[16];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_v6(a, cases[i].in);
		expect_addr(AF_INET6, a, cases[i].out);
	}
}

static void addr_v4_mapped_bytes(void **state)
{
	const __u8 a[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4 };

	(void)state;
	expect_addr(AF_INET6, a, "::ffff:1.2.3.4");
}

static void addr_longest_ipv6_fits(void **state)
{
	__u8 a[16];
	char buf[ADDR_STRLEN + 4];

	(void)state;
	/* the longest inet_ntop form, 45 characters */
	set_v6(a, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	memset(buf, 'X', sizeof(buf));
	format_addr(AF_INET6, a, buf);
	assert_true(strlen(buf) < ADDR_STRLEN);
	assert_memory_equal(buf + ADDR_STRLEN, "XXXX", 4);
}

/* The same text as inet_ntop: every pattern of zero and non-zero groups
 * (with ::ffff: and :: before an IPv4 address among them), then random ones. */
static void addr_same_as_inet_ntop(void **state)
{
	static const unsigned int values[] = { 1, 0xa, 0xff, 0x100, 0xabc, 0x1234, 0xffff };
	const size_t nvalues = sizeof(values) / sizeof(values[0]);
	char want[INET6_ADDRSTRLEN];
	char buf[ADDR_STRLEN];
	unsigned int seed = 1;
	__u8 a[16];

	(void)state;
	for (unsigned int mask = 0; mask < 256; mask++) {
		for (size_t v = 0; v < nvalues; v++) {
			for (int ffff = 0; ffff < 2; ffff++) {
				for (int i = 0; i < 8; i++) {
					unsigned int w = mask & (1u << i)
								 ? values[(v + (size_t)i) % nvalues]
								 : 0;

					if (i == 5 && ffff)
						w = 0xffff;
					a[2 * i] = (__u8)(w >> 8);
					a[2 * i + 1] = (__u8)w;
				}
				assert_non_null(inet_ntop(AF_INET6, a, want, sizeof(want)));
				assert_string_equal(format_addr(AF_INET6, a, buf), want);
			}
		}
	}
	for (int n = 0; n < 100000; n++) {
		for (int i = 0; i < 16; i++) {
			seed = seed * 1103515245u + 12345u;
			/* a zero byte one time in four: runs of zero groups */
			a[i] = (seed >> 16) % 4 ? (__u8)(seed >> 20) : 0;
		}
		assert_non_null(inet_ntop(AF_INET6, a, want, sizeof(want)));
		assert_string_equal(format_addr(AF_INET6, a, buf), want);
		assert_non_null(inet_ntop(AF_INET, a, want, sizeof(want)));
		assert_string_equal(format_addr(AF_INET, a, buf), want);
	}
}

static void family_names(void **state)
{
	(void)state;
	assert_string_equal(format_family(AF_INET), "ipv4");
	assert_string_equal(format_family(AF_INET6), "ipv6");
	assert_string_equal(format_family(0), "unknown");
	assert_string_equal(format_family(AF_UNIX), "unknown");
	assert_string_equal(format_family(0xffff), "unknown");
}

static void state_names(void **state)
{
	/* include/net/tcp_states.h */
	static const char *const want[] = {
		NULL,        "ESTABLISHED", "SYN_SENT",     "SYN_RECV",   "FIN_WAIT1",
		"FIN_WAIT2", "TIME_WAIT",   "CLOSE",        "CLOSE_WAIT", "LAST_ACK",
		"LISTEN",    "CLOSING",     "NEW_SYN_RECV",
	};

	(void)state;
	for (__u16 s = 1; s < sizeof(want) / sizeof(want[0]); s++)
		assert_string_equal(format_state(s), want[s]);
	assert_string_equal(format_state(0), "UNKNOWN");
	assert_string_equal(format_state(CONN_STATES), "UNKNOWN");
	assert_string_equal(format_state(255), "UNKNOWN");
	assert_string_equal(format_state(0xffff), "UNKNOWN");
}

/* ==== format_si ========================================================= */

static void expect_si(double v, const char *unit, const char *want)
{
	char buf[32];

	memset(buf, 'X', sizeof(buf));
	assert_ptr_equal(format_si(v, unit, buf, sizeof(buf)), buf);
	if (strcmp(buf, want) != 0)
		fail_msg("format_si(%.17g, \"%s\") = \"%s\", expected \"%s\"", v, unit, buf, want);
}

static void si_below_thousand(void **state)
{
	(void)state;
	expect_si(0, "B", "0B");
	expect_si(1, "B", "1B");
	expect_si(17, "b", "17b");
	expect_si(999, "B", "999B");
	expect_si(999, "b", "999b");
}

static void si_thousand_boundaries(void **state)
{
	(void)state;
	expect_si(1000, "B", "1.0KB");
	expect_si(1001, "B", "1.0KB");
	expect_si(1100, "B", "1.1KB");
	expect_si(131072, "B", "131.1KB");
	expect_si(999900, "B", "999.9KB");
	expect_si(1000000, "B", "1.0MB");
	expect_si(3900000, "B", "3.9MB");
	expect_si(999e6, "B", "999.0MB");
	expect_si(1e9, "b", "1.0Gb");
	expect_si(34.9e9, "b", "34.9Gb");
	expect_si(1e12, "b", "1.0Tb");
	expect_si(2.5e12, "b", "2.5Tb");
}

static void si_tera_is_the_largest_prefix(void **state)
{
	(void)state;
	expect_si(1e15, "b", "1000.0Tb");
	expect_si(12e15, "B", "12000.0TB");
}

/* Rounding to one decimal must not give "1000.0K": that is 1.0M. */
static void si_rounding_carries_to_next_prefix(void **state)
{
	(void)state;
	expect_si(999999, "B", "1.0MB");
	expect_si(999950, "B", "1.0MB");
	expect_si(999999999, "b", "1.0Gb");
}

static void si_unit_suffix(void **state)
{
	(void)state;
	expect_si(1500, "", "1.5K");
	expect_si(12, "", "12");
	expect_si(2e6, "B/s", "2.0MB/s");
}

static void si_truncates_to_buffer(void **state)
{
	char buf[8];

	(void)state;
	memset(buf, 'X', sizeof(buf));
	format_si(123456789, "B", buf, 4);
	assert_string_equal(buf, "123");
	assert_memory_equal(buf + 4, "XXXX", 4);
}

/* ==== json_string ======================================================= */

static void expect_json_string(const char *text, size_t maxlen, const char *want)
{
	char buf[256];

	memset(buf, 'X', sizeof(buf));
	json_string(text, maxlen, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_true(json_valid(buf));
}

static void json_string_plain(void **state)
{
	(void)state;
	expect_json_string("iperf3", 16, "\"iperf3\"");
	expect_json_string("", 16, "\"\"");
	expect_json_string("a b/c:d", 16, "\"a b/c:d\"");
	expect_json_string("~", 16, "\"~\"");
}

static void json_string_quote_and_backslash(void **state)
{
	(void)state;
	expect_json_string("\"", 16, "\"\\\"\"");
	expect_json_string("\\", 16, "\"\\\\\"");
	expect_json_string("a\"b\\c", 16, "\"a\\\"b\\\\c\"");
	expect_json_string("\\\"", 16, "\"\\\\\\\"\"");
}

static void json_string_control_bytes(void **state)
{
	(void)state;
	expect_json_string("a\nb", 16, "\"a\\u000ab\"");
	expect_json_string("\t", 16, "\"\\u0009\"");
	expect_json_string("\r", 16, "\"\\u000d\"");
	expect_json_string("\x01", 16, "\"\\u0001\"");
	expect_json_string("\x1f", 16, "\"\\u001f\"");
	expect_json_string("\x7f", 16, "\"\\u007f\"");
	expect_json_string(" ", 16, "\" \""); /* 0x20 is printable */
}

static void json_string_non_ascii_bytes(void **state)
{
	(void)state;
	expect_json_string("\xff", 16, "\"\\u00ff\"");
	expect_json_string("\x80", 16, "\"\\u0080\"");
	expect_json_string("caf\xc3\xa9", 16, "\"caf\\u00c3\\u00a9\"");
}

static void json_string_comm_with_everything(void **state)
{
	(void)state;
	expect_json_string("a\"b\\c\nd\xff", 16, "\"a\\\"b\\\\c\\u000ad\\u00ff\"");
}

static void json_string_maxlen(void **state)
{
	/* a comm that fills the whole array: no NUL to stop at */
	const char full[TCPTUNE_COMM_LEN] = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h',
					      'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p' };
	char buf[64];

	(void)state;
	expect_json_string("abcdef", 3, "\"abc\"");
	expect_json_string("abcdef", 0, "\"\"");
	expect_json_string("abc", 16, "\"abc\"");
	expect_json_string("ab\0cd", 16, "\"ab\""); /* stops at the NUL */
	memset(buf, 'X', sizeof(buf));
	json_string(full, sizeof(full), buf, sizeof(buf));
	assert_string_equal(buf, "\"abcdefghijklmnop\"");
}

/* Whatever the buffer size, the result is a whole JSON string literal that
 * stays inside the buffer and is a prefix of the untruncated one. */
static void json_string_truncates_cleanly(void **state)
{
	const char *text = "a\"\\\n\xff"
			   "bcdefgh\x01";
	char full[128], buf[128];
	size_t full_len;

	(void)state;
	json_string(text, 64, full, sizeof(full));
	assert_string_equal(full, "\"a\\\"\\\\\\u000a\\u00ffbcdefgh\\u0001\"");
	full_len = strlen(full);
	for (size_t len = 3; len <= sizeof(buf); len++) {
		size_t n;

		memset(buf, 'X', sizeof(buf));
		json_string(text, 64, buf, len);
		n = strlen(buf);
		if (n >= len)
			fail_msg("len %zu: \"%s\" does not fit", len, buf);
		for (size_t i = len; i < sizeof(buf); i++)
			if (buf[i] != 'X')
				fail_msg("len %zu: byte %zu written", len, i);
		if (!json_valid(buf))
			fail_msg("len %zu: not a JSON string: %s", len, buf);
		/* the same content up to the closing quote */
		assert_true(n >= 2 && n <= full_len);
		assert_memory_equal(buf, full, n - 1);
		assert_int_equal(buf[n - 1], '"');
		if (len == sizeof(buf))
			assert_string_equal(buf, full);
	}
}

static void json_string_tiny_buffers_not_overrun(void **state)
{
	char buf[8];

	(void)state;
	for (size_t len = 0; len < 3; len++) {
		memset(buf, 'X', sizeof(buf));
		json_string("abc", 16, buf, len);
		for (size_t i = len; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 'X');
	}
	memset(buf, 'X', sizeof(buf));
	json_string("abc", 16, buf, 3);
	assert_string_equal(buf, "\"\"");
}

/* A buffer exactly the size of the escaped result holds all of it: the
 * comm buffer in print_flows_json (TCPTUNE_COMM_LEN * 6 + 3) is sized so. */
static void json_string_uses_whole_buffer(void **state)
{
	char buf[TCPTUNE_COMM_LEN * 6 + 3];
	char comm[TCPTUNE_COMM_LEN];

	(void)state;
	memset(buf, 'X', sizeof(buf));
	json_string("abc", 16, buf, sizeof("\"abc\""));
	assert_string_equal(buf, "\"abc\"");

	memset(comm, 0xff, sizeof(comm));
	json_string(comm, sizeof(comm), buf, sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_int_equal(count_substr(buf, "\\u00ff"), TCPTUNE_COMM_LEN);
}

/* ==== print_flows_json ================================================== */

static const char *const json_keys[] = {
	"cookie",
	"netns_cookie",
	"family",
	"saddr",
	"sport",
	"daddr",
	"dport",
	"cgroup_id",
	"pid",
	"comm",
	"state",
	"srtt_us",
	"min_rtt_us",
	"cwnd",
	"mss",
	"delivery_rate_bps",
	"bytes_acked",
	"bytes_received",
	"snd_queue_bytes",
	"rcv_queue_bytes",
	"sndbuf",
	"rcvbuf",
	"retrans",
	"sndbuf_limited_us",
	"rwnd_limited_us",
	"notsent_lowat",
	"sndbuf_cap",
	"rcvbuf_cap",
	"rcv_space",
	"app_limited",
	"rtt_callbacks",
	"target_sndbuf",
	"target_rcvbuf",
	"target_notsent_lowat",
	"sndbuf_limited",
	"rwnd_limited",
	"app_not_reading",
	"last_change_buffer",
	"last_change_old",
	"last_change_new",
	"last_change_reason",
	"last_change_age_ms",
};
#define NKEYS (sizeof(json_keys) / sizeof(json_keys[0]))

/* Every required key once, and no other. */
static void expect_all_keys(const struct jrow *row)
{
	assert_int_equal(row->n, NKEYS);
	for (size_t k = 0; k < NKEYS; k++) {
		int seen = 0;

		for (int i = 0; i < row->n; i++)
			seen += strcmp(row->f[i].key, json_keys[k]) == 0;
		if (seen != 1)
			fail_msg("key \"%s\" appears %d times", json_keys[k], seen);
	}
}

static void json_empty_list(void **state)
{
	struct jrow rows[1];
	char *out;

	(void)state;
	out = capture_json(NULL, 0);
	assert_string_equal(out, "[]\n");
	assert_true(json_valid(out));
	assert_int_equal(json_rows(out, rows, 1), 0);
	free(out);
}

static void json_one_ipv4_flow(void **state)
{
	struct flow_row f = sample_v4();
	struct jrow rows[2];
	char *out;

	(void)state;
	out = capture_json(&f, 1);
	assert_true(json_valid(out));
	/* each key, as text, exactly once */
	for (size_t k = 0; k < NKEYS; k++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "\"%s\":", json_keys[k]);
		if (count_substr(out, needle) != 1)
			fail_msg("%s appears %zu times in %s", needle, count_substr(out, needle),
				 out);
	}
	assert_int_equal(json_rows(out, rows, 2), 1);
	expect_all_keys(&rows[0]);
	expect_jnum(&rows[0], "cookie", "4097");
	expect_jnum(&rows[0], "netns_cookie", "4026531840");
	expect_jstr(&rows[0], "family", "ipv4");
	expect_jstr(&rows[0], "saddr", "10.0.0.1");
	expect_jnum(&rows[0], "sport", "35196");
	expect_jstr(&rows[0], "daddr", "192.168.1.20");
	expect_jnum(&rows[0], "dport", "5201");
	expect_jnum(&rows[0], "cgroup_id", "9876");
	expect_jnum(&rows[0], "pid", "2673");
	expect_jstr(&rows[0], "comm", "iperf3");
	expect_jstr(&rows[0], "state", "ESTABLISHED");
	expect_jnum(&rows[0], "srtt_us", "70");
	expect_jnum(&rows[0], "min_rtt_us", "31");
	expect_jnum(&rows[0], "cwnd", "14");
	expect_jnum(&rows[0], "mss", "1448");
	/* bytes/s in the map, bits/s in the JSON */
	expect_jnum(&rows[0], "delivery_rate_bps", "34900000000");
	expect_jnum(&rows[0], "bytes_acked", "123456789012");
	expect_jnum(&rows[0], "bytes_received", "5555");
	expect_jnum(&rows[0], "snd_queue_bytes", "131072");
	expect_jnum(&rows[0], "rcv_queue_bytes", "17");
	expect_jnum(&rows[0], "sndbuf", "3900000");
	expect_jnum(&rows[0], "rcvbuf", "131072");
	expect_jnum(&rows[0], "retrans", "3");
	expect_jnum(&rows[0], "sndbuf_limited_us", "777001");
	expect_jnum(&rows[0], "rwnd_limited_us", "888002");
	expect_jnum(&rows[0], "target_sndbuf", "2000000");
	expect_jnum(&rows[0], "target_rcvbuf", "0");
	expect_jnum(&rows[0], "notsent_lowat", "250000");
	expect_jnum(&rows[0], "target_notsent_lowat", "125000");
	expect_jnum(&rows[0], "sndbuf_limited", "true");
	expect_jnum(&rows[0], "rwnd_limited", "false");
	expect_jnum(&rows[0], "app_not_reading", "false");
	expect_jstr(&rows[0], "last_change_buffer", "sndbuf");
	expect_jnum(&rows[0], "last_change_old", "1000000");
	expect_jnum(&rows[0], "last_change_new", "2000000");
	expect_jstr(&rows[0], "last_change_reason", "probe");
	expect_jnum(&rows[0], "last_change_age_ms", "1500");
	/* one object per line, the array on lines of its own */
	assert_int_equal(out[0], '[');
	assert_int_equal(count_substr(out, "\n"), 3);
	assert_string_equal(out + strlen(out) - 4, "}\n]\n");
	free(out);
}

static void json_ipv6_and_escaped_comm(void **state)
{
	struct flow_row f[2] = { sample_v4(), sample_v6() };
	struct jrow rows[3];
	char *out;

	(void)state;
	memset(f[1].f.s.comm, 0, sizeof(f[1].f.s.comm));
	memcpy(f[1].f.s.comm, "a\"b\\c\nd\xff", 8);
	out = capture_json(f, 2);
	if (!json_valid(out))
		fail_msg("not valid JSON: %s", out);
	for (const char *p = out; *p; p++)
		assert_true((unsigned char)*p < 0x80);
	assert_non_null(strstr(out, "\"comm\":\"a\\\"b\\\\c\\u000ad\\u00ff\""));
	assert_int_equal(json_rows(out, rows, 3), 2);
	expect_all_keys(&rows[0]);
	expect_all_keys(&rows[1]);
	expect_jnum(&rows[0], "cookie", "4097");
	expect_jstr(&rows[0], "comm", "iperf3");
	expect_jnum(&rows[1], "cookie", "8193");
	expect_jstr(&rows[1], "family", "ipv6");
	expect_jstr(&rows[1], "saddr", "2001:db8::1");
	expect_jstr(&rows[1], "daddr", "fd00:198:18:7::2");
	expect_jnum(&rows[1], "sport", "443");
	expect_jnum(&rows[1], "dport", "60000");
	expect_jstr(&rows[1], "state", "CLOSE_WAIT");
	/* the decoded comm is the original bytes */
	expect_jstr(&rows[1], "comm", "a\"b\\c\nd\xff");
	free(out);
}

static void json_unknown_values_and_extremes(void **state)
{
	struct flow_row f;
	struct jrow rows[2];
	char *out;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.f.cookie = UINT64_MAX;
	f.f.s.netns_cookie = UINT64_MAX;
	f.f.s.state = 99;
	f.f.s.pid = UINT32_MAX;
	f.f.s.sport = 65535;
	f.f.s.srtt_us = UINT32_MAX;
	f.f.s.bytes_acked = UINT64_MAX;
	f.f.s.delivery_rate_Bps = 1ULL << 60;
	f.f.s.family = AF_INET;
	out = capture_json(&f, 1);
	assert_true(json_valid(out));
	assert_int_equal(json_rows(out, rows, 2), 1);
	expect_all_keys(&rows[0]);
	expect_jnum(&rows[0], "cookie", "18446744073709551615");
	expect_jnum(&rows[0], "netns_cookie", "18446744073709551615");
	expect_jnum(&rows[0], "bytes_acked", "18446744073709551615");
	expect_jnum(&rows[0], "delivery_rate_bps", "9223372036854775808");
	expect_jnum(&rows[0], "pid", "4294967295");
	expect_jnum(&rows[0], "sport", "65535");
	expect_jnum(&rows[0], "srtt_us", "4294967295");
	expect_jstr(&rows[0], "state", "UNKNOWN");
	expect_jstr(&rows[0], "comm", "");
	expect_jstr(&rows[0], "saddr", "0.0.0.0");
	free(out);
}

static void json_comm_without_nul(void **state)
{
	struct flow_row f = sample_v4();
	struct jrow rows[2];
	char *out;

	(void)state;
	memcpy(f.f.s.comm, "0123456789abcdef", TCPTUNE_COMM_LEN);
	out = capture_json(&f, 1);
	assert_true(json_valid(out));
	assert_int_equal(json_rows(out, rows, 2), 1);
	expect_jstr(&rows[0], "comm", "0123456789abcdef");
	/* the next field of the struct did not leak into the string */
	expect_jnum(&rows[0], "srtt_us", "70");
	free(out);
}

static void json_many_flows(void **state)
{
	enum { N = 100 };
	struct flow_row *f = calloc(N, sizeof(*f));
	struct jrow *rows = calloc(N + 1, sizeof(*rows));
	char *out;

	(void)state;
	assert_non_null(f);
	assert_non_null(rows);
	for (int i = 0; i < N; i++) {
		f[i] = i % 2 ? sample_v6() : sample_v4();
		f[i].f.cookie = (__u64)i + 1;
		f[i].f.s.comm[0] = (__u8)i; /* control bytes and plain letters */
	}
	out = capture_json(f, N);
	assert_true(json_valid(out));
	assert_int_equal(json_rows(out, rows, N + 1), N);
	for (int i = 0; i < N; i++) {
		char want[24];

		expect_all_keys(&rows[i]);
		snprintf(want, sizeof(want), "%d", i + 1);
		expect_jnum(&rows[i], "cookie", want);
		expect_jstr(&rows[i], "family", i % 2 ? "ipv6" : "ipv4");
	}
	/* objects are separated by commas, N - 1 of them between "}" and "{" */
	assert_int_equal(count_substr(out, "},\n  {"), N - 1);
	free(out);
	free(rows);
	free(f);
}

/* ==== print_flows_table ================================================= */

/* The lines of the output, split in place; returns how many. */
static int split_lines(char *text, char **lines, int max)
{
	int n = 0;

	for (char *p = text; *p && n < max;) {
		char *nl = strchr(p, '\n');

		assert_non_null(nl); /* every line ends with a newline */
		*nl = '\0';
		lines[n++] = p;
		p = nl + 1;
	}
	return n;
}

/* The whitespace-separated words of a line; returns how many. */
static int split_words(char *line, char **words, int max)
{
	int n = 0;

	for (char *w = strtok(line, " "); w && n < max; w = strtok(NULL, " "))
		words[n++] = w;
	return n;
}

static void table_header_only(void **state)
{
	char *out, *lines[4], *words[20];

	(void)state;
	out = capture_table(NULL, 0, 185);
	assert_int_equal(split_lines(out, lines, 4), 1);
	assert_int_equal(split_words(lines[0], words, 20), 16);
	assert_string_equal(words[0], "PID");
	assert_string_equal(words[1], "COMM");
	assert_string_equal(words[2], "LOCAL");
	assert_string_equal(words[3], "REMOTE");
	assert_string_equal(words[4], "STATE");
	assert_string_equal(words[5], "RATE");
	assert_string_equal(words[6], "RTT_MS");
	assert_string_equal(words[7], "CWND");
	assert_string_equal(words[8], "SNDQ");
	assert_string_equal(words[9], "RCVQ");
	assert_string_equal(words[10], "SNDBUF");
	assert_string_equal(words[11], "RCVBUF");
	assert_string_equal(words[12], "RETR");
	assert_string_equal(words[13], "TGT_SND");
	assert_string_equal(words[14], "TGT_RCV");
	assert_string_equal(words[15], "LAST");
	free(out);
}

static void table_rows(void **state)
{
	struct flow_row f[2] = { sample_v4(), sample_v6() };
	char *out, *lines[4], *w[20];

	(void)state;
	f[1].f.s.pid = 0;                             /* owner not known yet */
	memset(&f[1].target, 0, sizeof(f[1].target)); /* nor a target */
	f[1].f.s.delivery_rate_Bps = 100;
	f[1].f.s.srtt_us = 12346;
	out = capture_table(f, 2, 185);
	assert_int_equal(split_lines(out, lines, 4), 3);

	assert_int_equal(split_words(lines[1], w, 20), 16);
	assert_string_equal(w[0], "2673");
	assert_string_equal(w[1], "iperf3");
	assert_string_equal(w[2], "10.0.0.1:35196");
	assert_string_equal(w[3], "192.168.1.20:5201");
	assert_string_equal(w[4], "ESTABLISHED");
	assert_string_equal(w[5], "34.9Gb");
	assert_string_equal(w[6], "0.07");
	assert_string_equal(w[7], "14");
	assert_string_equal(w[8], "131.1KB");
	assert_string_equal(w[9], "17B");
	assert_string_equal(w[10], "3.9MB");
	assert_string_equal(w[11], "131.1KB");
	assert_string_equal(w[12], "3");
	/* the tuner's target and last change; none for the second flow */
	assert_string_equal(w[13], "2.0MB");
	assert_string_equal(w[14], "-");
	assert_string_equal(w[15], "probe");

	assert_int_equal(split_words(lines[2], w, 20), 16);
	assert_string_equal(w[15], "-");
	assert_string_equal(w[0], "0");
	assert_string_equal(w[1], "-");
	assert_string_equal(w[2], "[2001:db8::1]:443");
	assert_string_equal(w[3], "[fd00:198:18:7::2]:60000");
	assert_string_equal(w[4], "CLOSE_WAIT");
	assert_string_equal(w[5], "800b");
	assert_string_equal(w[6], "12.35");
	free(out);
}

static void table_columns_line_up(void **state)
{
	struct flow_row f[2] = { sample_v4(), sample_v6() };
	char *out, *lines[4];
	const char *rate_h, *rate_r;

	(void)state;
	out = capture_table(f, 2, 185);
	assert_int_equal(split_lines(out, lines, 4), 3);
	/* right-aligned RATE column: the figure ends where the heading ends */
	rate_h = strstr(lines[0], "RATE");
	rate_r = strstr(lines[1], "34.9Gb");
	assert_non_null(rate_h);
	assert_non_null(rate_r);
	assert_int_equal((rate_h - lines[0]) + 4, (rate_r - lines[1]) + 6);
	/* left-aligned REMOTE column */
	assert_int_equal(strstr(lines[0], "REMOTE") - lines[0],
			 strstr(lines[1], "192.168.1.20") - lines[1]);
	assert_int_equal(strstr(lines[0], "REMOTE") - lines[0],
			 strstr(lines[2], "[fd00") - lines[2]);
	/* all lines the same length */
	assert_int_equal(strlen(lines[0]), strlen(lines[1]));
	assert_int_equal(strlen(lines[0]), strlen(lines[2]));
	free(out);
}

static void table_comm_sanitised(void **state)
{
	struct flow_row f = sample_v4();
	char *out, *lines[4], *w[20];

	(void)state;
	memset(f.f.s.comm, 0, sizeof(f.f.s.comm));
	memcpy(f.f.s.comm,
	       "a\tb\nc\xff"
	       "d\x7f"
	       "e\x80",
	       10);
	out = capture_table(&f, 1, 185);
	assert_int_equal(split_lines(out, lines, 4), 2);
	assert_int_equal(split_words(lines[1], w, 20), 16);
	assert_string_equal(w[1], "a?b?c?d?e?");
	free(out);

	/* 16 bytes, no NUL: shown cut to the 12-wide column */
	memcpy(f.f.s.comm, "0123456789abcdef", TCPTUNE_COMM_LEN);
	out = capture_table(&f, 1, 185);
	assert_int_equal(split_lines(out, lines, 4), 2);
	assert_int_equal(split_words(lines[1], w, 20), 16);
	assert_string_equal(w[1], "0123456789ab");
	free(out);
}

/* Address columns take what the fixed columns leave of `width`, at least 21
 * characters each: lines fit the width whenever that minimum allows. */
static void table_fits_width(void **state)
{
	static const int widths[] = { 169, 180, 200, 251 };
	struct flow_row f[2] = { sample_v4(), sample_v6() };

	(void)state;
	/* endpoints that fit the 21-character minimum */
	set_v6(f[1].f.s.daddr, "2001:db8::2");
	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		char *out = capture_table(f, 2, widths[i]), *lines[4];
		int n = split_lines(out, lines, 4);

		assert_int_equal(n, 3);
		for (int l = 0; l < n; l++)
			if ((int)strlen(lines[l]) > widths[i])
				fail_msg("width %d: line %d is %zu characters: \"%s\"", widths[i],
					 l, strlen(lines[l]), lines[l]);
		/* and use it: no more than one address column's rounding short */
		assert_true((int)strlen(lines[0]) >= widths[i] - 1);
		free(out);
	}
}

static void table_narrow_width_keeps_minimum_columns(void **state)
{
	struct flow_row f = sample_v6();
	char *wide, *narrow, *lines_w[3], *lines_n[3];

	(void)state;
	narrow = capture_table(&f, 1, 40);
	wide = capture_table(&f, 1, 0);
	assert_int_equal(split_lines(narrow, lines_n, 3), 2);
	assert_int_equal(split_lines(wide, lines_w, 3), 2);
	/* both clamp to the 21-character minimum: identical output */
	assert_string_equal(lines_n[0], lines_w[0]);
	assert_string_equal(lines_n[1], lines_w[1]);
	/* LOCAL column 21 wide: REMOTE starts 22 characters after LOCAL */
	assert_int_equal(strstr(lines_n[0], "REMOTE") - strstr(lines_n[0], "LOCAL"), 22);
	free(narrow);
	free(wide);
}

/* ==== sort_flows / parse_sort / sort_name ================================ */

static struct flow_row mkflow(__u64 cookie, __u64 rate_Bps, __u32 srtt, __u32 sndq, __u32 rcvq)
{
	struct flow_row f;

	memset(&f, 0, sizeof(f));
	f.f.cookie = cookie;
	f.f.s.delivery_rate_Bps = rate_Bps;
	f.f.s.srtt_us = srtt;
	f.f.s.snd_queue_bytes = sndq;
	f.f.s.rcv_queue_bytes = rcvq;
	return f;
}

static void expect_order(const struct flow_row *f, size_t n, const __u64 *cookies)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].f.cookie != cookies[i])
			fail_msg("position %zu: cookie %llu, expected %llu", i,
				 (unsigned long long)f[i].f.cookie, (unsigned long long)cookies[i]);
}

static void sort_by_rate(void **state)
{
	struct flow_row f[] = {
		mkflow(1, 10, 900, 0, 0),       mkflow(2, 30, 100, 0, 0), mkflow(3, 20, 500, 0, 0),
		mkflow(4, 1ULL << 40, 1, 0, 0), mkflow(5, 0, 0, 0, 0),
	};
	const __u64 want[] = { 4, 2, 3, 1, 5 };

	(void)state;
	sort_flows(f, 5, SORT_RATE);
	expect_order(f, 5, want);
	/* whole entries moved, not just keys */
	assert_int_equal(f[0].f.s.delivery_rate_Bps, 1ULL << 40);
	assert_int_equal(f[1].f.s.srtt_us, 100);
}

static void sort_by_rtt(void **state)
{
	struct flow_row f[] = {
		mkflow(1, 10, 900, 0, 0),
		mkflow(2, 30, 100, 0, 0),
		mkflow(3, 20, 500, 0, 0),
		mkflow(4, 5, UINT32_MAX, 0, 0),
	};
	const __u64 want[] = { 4, 1, 3, 2 };

	(void)state;
	sort_flows(f, 4, SORT_RTT);
	expect_order(f, 4, want);
}

static void sort_by_queue(void **state)
{
	/* send + receive queue; the sum must not wrap at 32 bits */
	struct flow_row f[] = {
		mkflow(1, 0, 0, 100, 0),        mkflow(2, 0, 0, 0, 300),
		mkflow(3, 0, 0, 150, 100),      mkflow(4, 0, 0, UINT32_MAX, 1),
		mkflow(5, 0, 0, UINT32_MAX, 0),
	};
	const __u64 want[] = { 4, 5, 2, 3, 1 };

	(void)state;
	sort_flows(f, 5, SORT_QUEUE);
	expect_order(f, 5, want);
}

static void sort_ties_by_cookie(void **state)
{
	struct flow_row f[] = {
		mkflow(9, 50, 7, 1, 1), mkflow(3, 50, 7, 2, 0), mkflow(UINT64_MAX, 50, 7, 0, 2),
		mkflow(1, 50, 7, 1, 1), mkflow(5, 60, 8, 3, 0),
	};
	const __u64 want[] = { 5, 1, 3, 9, UINT64_MAX };

	(void)state;
	sort_flows(f, 5, SORT_RATE);
	expect_order(f, 5, want);
	sort_flows(f, 5, SORT_RTT);
	expect_order(f, 5, want);
	sort_flows(f, 5, SORT_QUEUE);
	expect_order(f, 5, want);
}

static void sort_switching_keys(void **state)
{
	struct flow_row f[] = { mkflow(1, 10, 300, 5, 0), mkflow(2, 30, 100, 1, 0),
				mkflow(3, 20, 200, 9, 0) };
	const __u64 by_rate[] = { 2, 3, 1 }, by_rtt[] = { 1, 3, 2 }, by_queue[] = { 3, 1, 2 };

	(void)state;
	sort_flows(f, 3, SORT_RTT);
	expect_order(f, 3, by_rtt);
	sort_flows(f, 3, SORT_RATE);
	expect_order(f, 3, by_rate);
	sort_flows(f, 3, SORT_QUEUE);
	expect_order(f, 3, by_queue);
	sort_flows(f, 3, SORT_RTT);
	expect_order(f, 3, by_rtt);
}

static void sort_empty_and_single(void **state)
{
	struct flow_row one = mkflow(42, 1, 1, 1, 1);

	(void)state;
	sort_flows(&one, 0, SORT_RATE);
	assert_int_equal(one.f.cookie, 42);
	sort_flows(&one, 1, SORT_QUEUE);
	assert_int_equal(one.f.cookie, 42);
	assert_int_equal(one.f.s.delivery_rate_Bps, 1);
}

static void sort_larger_set(void **state)
{
	enum { N = 500 };
	struct flow_row f[N];

	(void)state;
	srand(1);
	for (int i = 0; i < N; i++)
		f[i] = mkflow((__u64)i, (__u64)(rand() % 50), (__u32)(rand() % 50),
			      (__u32)(rand() % 50), (__u32)(rand() % 50));
	sort_flows(f, N, SORT_RATE);
	for (int i = 1; i < N; i++) {
		assert_true(f[i - 1].f.s.delivery_rate_Bps >= f[i].f.s.delivery_rate_Bps);
		if (f[i - 1].f.s.delivery_rate_Bps == f[i].f.s.delivery_rate_Bps)
			assert_true(f[i - 1].f.cookie < f[i].f.cookie);
	}
	sort_flows(f, N, SORT_QUEUE);
	for (int i = 1; i < N; i++) {
		__u64 a = (__u64)f[i - 1].f.s.snd_queue_bytes + f[i - 1].f.s.rcv_queue_bytes;
		__u64 b = (__u64)f[i].f.s.snd_queue_bytes + f[i].f.s.rcv_queue_bytes;

		assert_true(a >= b);
		if (a == b)
			assert_true(f[i - 1].f.cookie < f[i].f.cookie);
	}
}

static void sort_names_round_trip(void **state)
{
	enum flow_sort key = SORT_QUEUE;

	(void)state;
	assert_int_equal(parse_sort("rate", &key), 0);
	assert_int_equal(key, SORT_RATE);
	assert_int_equal(parse_sort("rtt", &key), 0);
	assert_int_equal(key, SORT_RTT);
	assert_int_equal(parse_sort("queue", &key), 0);
	assert_int_equal(key, SORT_QUEUE);
	assert_string_equal(sort_name(SORT_RATE), "rate");
	assert_string_equal(sort_name(SORT_RTT), "rtt");
	assert_string_equal(sort_name(SORT_QUEUE), "queue");
	for (int k = SORT_RATE; k <= SORT_QUEUE; k++) {
		enum flow_sort back = (enum flow_sort) - 1;

		assert_int_equal(parse_sort(sort_name((enum flow_sort)k), &back), 0);
		assert_int_equal(back, k);
	}
}

static void parse_sort_rejects_others(void **state)
{
	static const char *const bad[] = { "",      "r",    "ra",     "rates", "rate ",
					   " rate", "rtt2", "queues", "cwnd",  "q" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum flow_sort key = SORT_RTT;

		if (parse_sort(bad[i], &key) != -1)
			fail_msg("parse_sort(\"%s\") accepted", bad[i]);
		assert_int_equal(key, SORT_RTT);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_reader_accepts_valid),
		cmocka_unit_test(json_reader_rejects_malformed),
		cmocka_unit_test(addr_ipv4),
		cmocka_unit_test(addr_ipv6),
		cmocka_unit_test(addr_v4_mapped_bytes),
		cmocka_unit_test(addr_longest_ipv6_fits),
		cmocka_unit_test(addr_same_as_inet_ntop),
		cmocka_unit_test(family_names),
		cmocka_unit_test(state_names),
		cmocka_unit_test(si_below_thousand),
		cmocka_unit_test(si_thousand_boundaries),
		cmocka_unit_test(si_tera_is_the_largest_prefix),
		cmocka_unit_test(si_rounding_carries_to_next_prefix),
		cmocka_unit_test(si_unit_suffix),
		cmocka_unit_test(si_truncates_to_buffer),
		cmocka_unit_test(json_string_plain),
		cmocka_unit_test(json_string_quote_and_backslash),
		cmocka_unit_test(json_string_control_bytes),
		cmocka_unit_test(json_string_non_ascii_bytes),
		cmocka_unit_test(json_string_comm_with_everything),
		cmocka_unit_test(json_string_maxlen),
		cmocka_unit_test(json_string_truncates_cleanly),
		cmocka_unit_test(json_string_tiny_buffers_not_overrun),
		cmocka_unit_test(json_string_uses_whole_buffer),
		cmocka_unit_test(json_empty_list),
		cmocka_unit_test(json_one_ipv4_flow),
		cmocka_unit_test(json_ipv6_and_escaped_comm),
		cmocka_unit_test(json_unknown_values_and_extremes),
		cmocka_unit_test(json_comm_without_nul),
		cmocka_unit_test(json_many_flows),
		cmocka_unit_test(table_header_only),
		cmocka_unit_test(table_rows),
		cmocka_unit_test(table_columns_line_up),
		cmocka_unit_test(table_comm_sanitised),
		cmocka_unit_test(table_fits_width),
		cmocka_unit_test(table_narrow_width_keeps_minimum_columns),
		cmocka_unit_test(sort_by_rate),
		cmocka_unit_test(sort_by_rtt),
		cmocka_unit_test(sort_by_queue),
		cmocka_unit_test(sort_ties_by_cookie),
		cmocka_unit_test(sort_switching_keys),
		cmocka_unit_test(sort_empty_and_single),
		cmocka_unit_test(sort_larger_set),
		cmocka_unit_test(sort_names_round_trip),
		cmocka_unit_test(parse_sort_rejects_others),
	};

	return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
