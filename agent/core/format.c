// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include "core/af.h"
#include "core/budget.h"
#include "core/format.h"

/* inet_ntop's text (glibc's rules), written here so that this file needs no
 * socket header: IPv6 groups in lowercase hex without leading zeros, the
 * first of the longest runs of two or more zero groups as "::", and the last
 * 32 bits as a dotted quad after "::" or "::ffff:". */
const char *format_addr(__u16 family, const __u8 addr[16], char buf[ADDR_STRLEN])
{
	unsigned int words[8];
	int best = -1, best_len = 0, run = -1, run_len = 0;
	char *p = buf;

	if (family == AF_INET) {
		snprintf(buf, ADDR_STRLEN, "%u.%u.%u.%u", addr[0], addr[1], addr[2], addr[3]);
		return buf;
	}
	for (int i = 0; i < 8; i++) {
		words[i] = (unsigned int)addr[2 * i] << 8 | addr[2 * i + 1];
		if (words[i]) {
			run = -1;
			continue;
		}
		if (run < 0) {
			run = i;
			run_len = 0;
		}
		if (++run_len > best_len) {
			best = run;
			best_len = run_len;
		}
	}
	if (best_len < 2)
		best = -1;
	for (int i = 0; i < 8; i++) {
		if (best >= 0 && i >= best && i < best + best_len) {
			if (i == best)
				*p++ = ':';
			continue;
		}
		if (i)
			*p++ = ':';
		if (i == 6 && best == 0 &&
		    (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
			snprintf(p, (size_t)(buf + ADDR_STRLEN - p), "%u.%u.%u.%u", addr[12],
				 addr[13], addr[14], addr[15]);
			return buf;
		}
		p += snprintf(p, (size_t)(buf + ADDR_STRLEN - p), "%x", words[i]);
	}
	if (best >= 0 && best + best_len == 8)
		*p++ = ':';
	*p = 0;
	return buf;
}

const char *format_family(__u16 family)
{
	return family == AF_INET ? "ipv4" : family == AF_INET6 ? "ipv6" : "unknown";
}

const char *format_change_buffer(__u16 buffer)
{
	static const char *const names[CHANGE_BUFFERS] = {
		[CHANGE_NONE] = "none",
		[CHANGE_SNDBUF] = "sndbuf",
		[CHANGE_RCVBUF] = "rcvbuf",
		[CHANGE_NOTSENT_LOWAT] = "notsent_lowat",
	};

	return buffer < CHANGE_BUFFERS ? names[buffer] : "?";
}

const char *format_state(__u16 state)
{
	static const char *const names[] = {
		[CONN_ESTABLISHED] = "ESTABLISHED",
		[CONN_SYN_SENT] = "SYN_SENT",
		[CONN_SYN_RECV] = "SYN_RECV",
		[CONN_FIN_WAIT1] = "FIN_WAIT1",
		[CONN_FIN_WAIT2] = "FIN_WAIT2",
		[CONN_TIME_WAIT] = "TIME_WAIT",
		[CONN_CLOSE] = "CLOSE",
		[CONN_CLOSE_WAIT] = "CLOSE_WAIT",
		[CONN_LAST_ACK] = "LAST_ACK",
		[CONN_LISTEN] = "LISTEN",
		[CONN_CLOSING] = "CLOSING",
		[CONN_NEW_SYN_RECV] = "NEW_SYN_RECV",
	};

	if (state < CONN_STATES && names[state])
		return names[state];
	return "UNKNOWN";
}

const char *format_si(double value, const char *unit, char *buf, size_t len)
{
	static const char prefix[] = " KMGT";
	int i = 0;

	/* scale while the figure would print as 1000 or more: 999.96K is 1.0M */
	while (i < 4 && value >= (i == 0 ? 999.5 : 999.95)) {
		value /= 1000.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%.0f%s", value, unit);
	else
		snprintf(buf, len, "%.1f%c%s", value, prefix[i], unit);
	return buf;
}

void json_string(const char *text, size_t maxlen, char *buf, size_t len)
{
	size_t o = 0;

	if (len < 3) {
		if (len)
			buf[0] = '\0';
		return;
	}
	buf[o++] = '"';
	for (size_t i = 0; i < maxlen && text[i]; i++) {
		unsigned char c = (unsigned char)text[i];
		size_t need = c == '"' || c == '\\' ? 2 : c < 0x20 || c >= 0x7f ? 6 : 1;

		if (o + need + 2 > len) /* and the closing quote, and the NUL */
			break;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(buf + o, len - o, "\\u%04x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

void print_flows_json(FILE *out, const struct flow_row *rows, size_t n)
{
	fputs("[", out);
	for (size_t i = 0; i < n; i++) {
		const struct conn_stats *s = &rows[i].f.s;
		const struct conn_target *t = &rows[i].target;
		char saddr[ADDR_STRLEN], daddr[ADDR_STRLEN], comm[TCPTUNE_COMM_LEN * 6 + 3];

		json_string((const char *)s->comm, sizeof(s->comm), comm, sizeof(comm));
		fprintf(out,
			"%s\n  {\"cookie\":%llu,\"netns_cookie\":%llu,\"family\":\"%s\","
			"\"saddr\":\"%s\",\"sport\":%u,\"daddr\":\"%s\",\"dport\":%u,"
			"\"cgroup_id\":%llu,\"pid\":%u,\"comm\":%s,\"state\":\"%s\","
			"\"srtt_us\":%u,\"min_rtt_us\":%u,\"cwnd\":%u,\"mss\":%u,"
			"\"delivery_rate_bps\":%llu,\"bytes_acked\":%llu,\"bytes_received\":%llu,"
			"\"snd_queue_bytes\":%u,\"rcv_queue_bytes\":%u,\"sndbuf\":%u,\"rcvbuf\":%u,"
			"\"retrans\":%u,\"sndbuf_limited_us\":%llu,\"rwnd_limited_us\":%llu,"
			"\"notsent_lowat\":%u,\"sndbuf_cap\":%u,\"rcvbuf_cap\":%u,"
			"\"rcv_space\":%u,\"app_limited\":%s,\"rtt_callbacks\":%s,\"target_sndbuf\":%u,\"target_rcvbuf\":%u,"
			"\"target_notsent_lowat\":%u,\"sndbuf_limited\":%s,"
			"\"rwnd_limited\":%s,\"app_not_reading\":%s,\"last_change_buffer\":\"%s\","
			"\"last_change_old\":%u,\"last_change_new\":%u,\"last_change_reason\":\"%s\","
			"\"last_change_age_ms\":%llu}",
			i ? "," : "", (unsigned long long)rows[i].f.cookie,
			(unsigned long long)s->netns_cookie, format_family(s->family),
			format_addr(s->family, s->saddr, saddr), s->sport,
			format_addr(s->family, s->daddr, daddr), s->dport,
			(unsigned long long)s->cgroup_id, s->pid, comm, format_state(s->state),
			s->srtt_us, s->min_rtt_us, s->snd_cwnd, s->mss,
			(unsigned long long)flow_rate_bps(&rows[i].f),
			(unsigned long long)s->bytes_acked, (unsigned long long)s->bytes_received,
			s->snd_queue_bytes, s->rcv_queue_bytes, s->sndbuf, s->rcvbuf, s->retrans,
			(unsigned long long)s->sndbuf_limited_us,
			(unsigned long long)s->rwnd_limited_us, s->notsent_lowat, s->sndbuf_cap,
			s->rcvbuf_cap, s->rcv_space, s->app_limited ? "true" : "false",
			s->rtt_callbacks ? "true" : "false", t->sndbuf, t->rcvbuf, t->notsent_lowat,
			t->flags & TARGET_SND_LIMITED ? "true" : "false",
			t->flags & TARGET_RCV_LIMITED ? "true" : "false",
			t->flags & TARGET_RCV_APP_LIMITED ? "true" : "false",
			format_change_buffer(t->change_buffer), t->change_old, t->change_new,
			tune_reason_name(t->change_reason),
			(unsigned long long)(t->change_buffer ? rows[i].change_age_ms : 0));
	}
	fputs(n ? "\n]\n" : "]\n", out);
}

static void endpoint(const struct conn_stats *s, const __u8 *addr, __u16 port, char *buf,
		     size_t len)
{
	char a[ADDR_STRLEN];

	format_addr(s->family, addr, a);
	snprintf(buf, len, s->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

void print_flows_table(FILE *out, const struct flow_row *rows, size_t n, int width)
{
	/* addresses get what the fixed columns leave, at least 21 each */
	int addr_w = (width - 127) / 2; /* 112 for the other columns, 15 spaces */

	if (addr_w < 21)
		addr_w = 21;
	fprintf(out, "%-7s %-12s %-*s %-*s %-11s %9s %8s %6s %8s %8s %8s %8s %5s %8s %8s %6s\n",
		"PID", "COMM", addr_w, "LOCAL", addr_w, "REMOTE", "STATE", "RATE", "RTT_MS", "CWND",
		"SNDQ", "RCVQ", "SNDBUF", "RCVBUF", "RETR", "TGT_SND", "TGT_RCV", "LAST");
	for (size_t i = 0; i < n; i++) {
		const struct conn_stats *s = &rows[i].f.s;
		char local[ADDR_STRLEN + 8], remote[ADDR_STRLEN + 8], comm[TCPTUNE_COMM_LEN + 1];
		const struct conn_target *t = &rows[i].target;
		char rate[16], sndq[16], rcvq[16], sndbuf[16], rcvbuf[16], tsnd[16], trcv[16];

		endpoint(s, s->saddr, s->sport, local, sizeof(local));
		endpoint(s, s->daddr, s->dport, remote, sizeof(remote));
		memcpy(comm, s->comm, TCPTUNE_COMM_LEN);
		comm[TCPTUNE_COMM_LEN] = '\0';
		for (char *c = comm; *c; c++)
			if (*c < 0x20 || *c >= 0x7f)
				*c = '?';
		fprintf(out,
			"%-7u %-12.12s %-*s %-*s %-11s %9s %8.2f %6u %8s %8s %8s %8s %5u %8s %8s %6s\n",
			s->pid, s->pid ? comm : "-", addr_w, local, addr_w, remote,
			format_state(s->state),
			format_si((double)flow_rate_bps(&rows[i].f), "b", rate, sizeof(rate)),
			s->srtt_us / 1000.0, s->snd_cwnd,
			format_si(s->snd_queue_bytes, "B", sndq, sizeof(sndq)),
			format_si(s->rcv_queue_bytes, "B", rcvq, sizeof(rcvq)),
			format_si(s->sndbuf, "B", sndbuf, sizeof(sndbuf)),
			format_si(s->rcvbuf, "B", rcvbuf, sizeof(rcvbuf)), s->retrans,
			t->sndbuf ? format_si(t->sndbuf, "B", tsnd, sizeof(tsnd)) : "-",
			t->rcvbuf ? format_si(t->rcvbuf, "B", trcv, sizeof(trcv)) : "-",
			t->change_buffer ? tune_reason_name(t->change_reason) : "-");
	}
}

static __u64 sort_value(const struct flow *f, enum flow_sort key)
{
	switch (key) {
	case SORT_RTT:
		return f->s.srtt_us;
	case SORT_QUEUE:
		return (__u64)f->s.snd_queue_bytes + f->s.rcv_queue_bytes;
	case SORT_RATE:
	default:
		return f->s.delivery_rate_Bps;
	}
}

static enum flow_sort current_sort;

static int compare_flows(const void *a, const void *b)
{
	const struct flow *fa = &((const struct flow_row *)a)->f;
	const struct flow *fb = &((const struct flow_row *)b)->f;
	__u64 va = sort_value(fa, current_sort), vb = sort_value(fb, current_sort);

	if (va != vb)
		return va < vb ? 1 : -1;
	/* stable order between refreshes for equal values */
	return fa->cookie < fb->cookie ? -1 : fa->cookie > fb->cookie;
}

void sort_flows(struct flow_row *rows, size_t n, enum flow_sort key)
{
	current_sort = key;
	if (n)
		qsort(rows, n, sizeof(*rows), compare_flows);
}

static const char *const sort_names[] = {
	[SORT_RATE] = "rate", [SORT_RTT] = "rtt", [SORT_QUEUE] = "queue"
};

int parse_sort(const char *name, enum flow_sort *key)
{
	for (size_t i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++) {
		if (strcmp(name, sort_names[i]) == 0) {
			*key = (enum flow_sort)i;
			return 0;
		}
	}
	return -1;
}

const char *sort_name(enum flow_sort key)
{
	return sort_names[key];
}
