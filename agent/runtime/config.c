// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The configuration file, read with inih: sections [global],
 * [cgroup PATH] and [cidr ADDR/LEN]; keys as in tcptune.conf.example. */
#include <arpa/inet.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "runtime/config.h"
#include "runtime/listen.h"
#include "core/dest_table.h"
#include "core/options.h"
#include "core/parse.h"

struct parse_state {
	struct config *cfg;
	char current[CONFIG_SECTION_MAX]; /* the section the last key was in */
	bool started;
	struct config_settings *section; /* NULL: an unknown section (an error) */
	bool global;
	char error[CONFIG_SECTION_MAX + 256]; /* the first error, without its line */
};

const char *config_mode_name(enum config_mode mode)
{
	return mode == MODE_TUNE ? "tune" : mode == MODE_OBSERVE ? "observe" : "off";
}

static int parse_cidr(const char *text, struct config_policy *p)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	char *end;
	long len;
	size_t n;

	if (!slash || (n = (size_t)(slash - text)) >= sizeof(addr))
		return -1;
	memcpy(addr, text, n);
	addr[n] = 0;
	len = strtol(slash + 1, &end, 10);
	if (!slash[1] || *end || len < 0)
		return -1;
	memset(p->addr, 0, sizeof(p->addr));
	if (inet_pton(AF_INET, addr, p->addr) == 1 && len <= 32)
		p->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, p->addr) == 1 && len <= 128)
		p->family = AF_INET6;
	else
		return -1;
	p->prefix_len = (uint8_t)len;
	/* keep only the prefix: 198.18.1.7/16 means 198.18.0.0/16 */
	for (int bit = (int)len; bit < 128; bit++)
		p->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	return 0;
}

/* A new section: returns the settings it fills, or NULL with st->error set. */
static struct config_settings *open_section(struct parse_state *st, const char *section)
{
	struct config *cfg = st->cfg;
	struct config_policy *p;

	st->global = !strcmp(section, "global");
	if (st->global)
		return &cfg->global;
	if (cfg->npolicies == CONFIG_MAX_POLICIES) {
		snprintf(st->error, sizeof(st->error), "[%s]: more than %d policy sections",
			 section, CONFIG_MAX_POLICIES);
		return NULL;
	}
	p = &cfg->policies[cfg->npolicies];
	memset(p, 0, sizeof(*p));
	if (strlen(section) >= sizeof(p->section)) {
		snprintf(st->error, sizeof(st->error), "[%.64s...]: section name too long",
			 section);
		return NULL;
	}
	strcpy(p->section, section);
	if (!strncmp(section, "cgroup ", 7) && section[7] == '/') {
		/* the path: config_policy_cgroup() */
	} else if (!strncmp(section, "cidr ", 5)) {
		p->is_cidr = true;
		if (parse_cidr(section + 5, p)) {
			snprintf(st->error, sizeof(st->error),
				 "[%s]: '%s' is not an address/length (198.18.0.0/15, fd00::/48)",
				 section, section + 5);
			return NULL;
		}
	} else {
		snprintf(
			st->error, sizeof(st->error),
			"[%s]: unknown section (sections: [global], [cgroup /PATH], [cidr ADDR/LEN])",
			section);
		return NULL;
	}
	cfg->npolicies++;
	return &p->s;
}

#define KEY_ERROR(...) (snprintf(st->error, sizeof(st->error), __VA_ARGS__), 0)

/* The keys whose bounds are the options table's (core/options.h). */
static const enum option_id bounded_keys[] = {
	OPTION_MIN_BUF,    OPTION_MAX_BUF,  OPTION_HEADROOM, OPTION_ALPHA,
	OPTION_HYSTERESIS, OPTION_INTERVAL, OPTION_BUDGET,
};

/* One of bounded_keys: parsed and checked by the table, stored here. */
static int set_bounded(struct parse_state *st, struct config_settings *s, enum option_id id,
		       const char *value)
{
	const char *why;
	double v;

	if (option_parse(id, value, &v, &why))
		return KEY_ERROR("%s: '%s' %s", option_table[id].key, value, why);
	switch (id) {
	case OPTION_MIN_BUF:
		s->min_buf = (uint32_t)v, s->set |= CFG_MIN_BUF;
		break;
	case OPTION_MAX_BUF:
		s->max_buf = (uint32_t)v, s->set |= CFG_MAX_BUF;
		break;
	case OPTION_HEADROOM:
		s->headroom = v, s->set |= CFG_HEADROOM;
		break;
	case OPTION_ALPHA:
		s->alpha = v, s->set |= CFG_ALPHA;
		break;
	case OPTION_HYSTERESIS:
		s->hysteresis = v, s->set |= CFG_HYSTERESIS;
		break;
	case OPTION_INTERVAL:
		st->cfg->interval_s = v, s->set |= CFG_INTERVAL;
		break;
	case OPTION_BUDGET:
		s->budget = (uint64_t)v;
		if (st->global)
			st->cfg->budget = s->budget;
		s->set |= CFG_BUDGET;
		break;
	default:
		break;
	}
	return 1;
}

/* The keys that are not the table's: mode and metrics. */
static int set_other(struct parse_state *st, struct config_settings *s, const char *name,
		     const char *value)
{
	struct sockaddr_storage addr;
	unsigned int addrlen;

	if (!strcmp(name, "mode")) {
		if (!strcmp(value, "tune"))
			s->mode = MODE_TUNE;
		else if (!strcmp(value, "observe"))
			s->mode = MODE_OBSERVE;
		else if (!strcmp(value, "off") && !st->global)
			s->mode = MODE_OFF;
		else
			return KEY_ERROR("mode: '%s' must be tune, observe%s", value,
					 st->global ? "" : " or off");
		s->set |= CFG_MODE;
	} else if (!strcmp(name, "metrics")) {
		if (strcmp(value, "off") && parse_listen(value, &addr, &addrlen))
			return KEY_ERROR("metrics: '%s' must be ADDR:PORT or off", value);
		snprintf(st->cfg->metrics, sizeof(st->cfg->metrics), "%s", value);
		s->set |= CFG_METRICS;
	} else {
		return KEY_ERROR(
			"unknown key '%s' (keys: mode, min_buf, max_buf, headroom, alpha, hysteresis, budget%s)",
			name, st->global ? ", interval, metrics" : "");
	}
	return 1;
}

/* inih's handler, once per key: a section is opened at its first key. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;

	if (st->error[0])
		return 1; /* only the first error is reported */
	if (!st->started || strcmp(st->current, section)) {
		st->started = true;
		snprintf(st->current, sizeof(st->current), "%s", section);
		if (!section[0])
			return KEY_ERROR("%s: a key before any section ([global] first)", name);
		st->section = open_section(st, section);
		if (!st->section)
			return 0;
	}
	if (!st->section)
		return KEY_ERROR("%s: outside a known section", name);
	if (!st->global && (!strcmp(name, "interval") || !strcmp(name, "metrics")))
		return KEY_ERROR("%s: only in [global]", name);
	for (size_t i = 0; i < sizeof(bounded_keys) / sizeof(bounded_keys[0]); i++)
		if (!strcmp(name, option_table[bounded_keys[i]].key))
			return set_bounded(st, st->section, bounded_keys[i], value);
	return set_other(st, st->section, name, value);
}

void config_apply(struct est_config *base, enum config_mode *mode, const struct config_settings *s)
{
	if (s->set & CFG_MODE)
		*mode = s->mode;
	if (s->set & CFG_MIN_BUF)
		base->min_buf = s->min_buf;
	if (s->set & CFG_MAX_BUF)
		base->max_buf = s->max_buf;
	if (s->set & CFG_HEADROOM)
		base->headroom = s->headroom;
	if (s->set & CFG_ALPHA)
		base->alpha = s->alpha;
	if (s->set & CFG_HYSTERESIS)
		base->hysteresis = s->hysteresis;
}

/* base with a connection's policies laid over it: the cgroup one, then the
 * CIDR one. */
static void lay_policies(struct est_config *est, enum config_mode *mode,
			 const struct config_policy *cgroup, const struct config_policy *cidr)
{
	if (cgroup)
		config_apply(est, mode, &cgroup->s);
	if (cidr)
		config_apply(est, mode, &cidr->s);
}

const char *config_check(const struct config *cfg, const struct est_config *base, int *line)
{
	const char *why = est_config_check(base);

	*line = 0;
	if (why)
		return why;
	/* every combination a connection can meet: one policy of each kind at most */
	for (size_t i = 0; i <= cfg->npolicies; i++)
		for (size_t j = 0; j <= cfg->npolicies; j++) {
			const struct config_policy *a = i ? &cfg->policies[i - 1] : NULL;
			const struct config_policy *b = j ? &cfg->policies[j - 1] : NULL;
			struct est_config est = *base;
			enum config_mode mode = MODE_TUNE;

			if ((a && a->is_cidr) || (b && !b->is_cidr))
				continue; /* a: the cgroup policy, b: the CIDR one */
			lay_policies(&est, &mode, a, b);
			why = est_config_check(&est);
			for (int k = 0; !why && k < 2; k++) {
				const struct config_policy *p = k ? b : a;

				if (p && (p->s.set & CFG_BUDGET) && p->s.budget &&
				    p->s.budget < est.min_buf)
					why = "budget must be 0 (unlimited) or at least min_buf";
			}
			if (why) {
				*line = b ? b->line : a->line;
				return why;
			}
		}
	return NULL;
}

const struct config_policy *config_settings_for(const struct config *cfg,
						const struct est_config *base,
						enum config_mode base_mode, const char *cgroup_path,
						uint16_t family, const uint8_t addr[16],
						struct est_config *est, enum config_mode *mode)
{
	const struct config_policy *cgroup, *cidr;

	*est = *base;
	*mode = base_mode;
	if (!cfg->npolicies)
		return NULL;
	config_match(cfg, cgroup_path, family, addr, &cgroup, &cidr);
	lay_policies(est, mode, cgroup, cidr);
	/* the budget is laid like the rest: the CIDR policy's over the cgroup's */
	if (cidr && (cidr->s.set & CFG_BUDGET))
		return cidr;
	if (cgroup && (cgroup->s.set & CFG_BUDGET))
		return cgroup;
	return NULL;
}

uint32_t config_buf_bound(const struct config *cfg, const struct est_config *base, bool largest)
{
	uint32_t bound = largest ? base->max_buf : base->min_buf;

	for (size_t i = 0; i < cfg->npolicies; i++) {
		const struct config_settings *s = &cfg->policies[i].s;

		if (largest && (s->set & CFG_MAX_BUF) && s->max_buf > bound)
			bound = s->max_buf;
		if (!largest && (s->set & CFG_MIN_BUF) && s->min_buf < bound)
			bound = s->min_buf;
	}
	return bound;
}

bool config_any_tune(const struct config *cfg, enum config_mode base_mode)
{
	if (base_mode == MODE_TUNE)
		return true;
	for (size_t i = 0; i < cfg->npolicies; i++)
		if ((cfg->policies[i].s.set & CFG_MODE) && cfg->policies[i].s.mode == MODE_TUNE)
			return true;
	return false;
}

/* The line of each policy's header: the n-th "[...]" line naming it. */
static void find_header_lines(const char *text, struct config *cfg)
{
	size_t next = 0;
	int line = 1;

	for (const char *p = text; *p && next < cfg->npolicies; line++) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *sec = cfg->policies[next].section;
		size_t slen = strlen(sec);

		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		if (n >= slen + 2 && p[0] == '[' && !strncmp(p + 1, sec, slen) &&
		    p[slen + 1] == ']')
			cfg->policies[next++].line = line;
		if (!end)
			break;
		p = end + 1;
	}
}

/* inih reads a line whole only up to this many characters: it takes the rest
 * for another line, so a long comment could hide a section or a key. */
#define CONFIG_LINE_MAX (INI_MAX_LINE - 2)

/* The first line longer than CONFIG_LINE_MAX, or 0. */
static int long_line(const char *text)
{
	int line = 1;

	for (const char *p = text; *p; line++) {
		size_t n = strcspn(p, "\n");

		if (n > CONFIG_LINE_MAX)
			return line;
		p += n;
		if (*p)
			p++;
	}
	return 0;
}

/* The file's own text goes into the one-line error: a control character or
 * a byte of binary garbage is shown as '?', not passed to a terminal or the
 * journal. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

int config_parse(const char *text, const char *origin, struct config *cfg, char *why, size_t len)
{
	struct parse_state st = { .cfg = cfg };
	const char *bad;
	int line = 0;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	line = long_line(text);
	if (line) {
		snprintf(
			why, len,
			"%s:%d: line longer than %d characters (shorten it, or split a comment in two)",
			origin, line, CONFIG_LINE_MAX);
		return -1;
	}
	ret = ini_parse_string(text, on_key, &st);
	if (ret == -2) {
		snprintf(why, len, "%s: out of memory", origin);
		return -1;
	}
	if (ret > 0) {
		printable(st.error);
		snprintf(why, len, "%s:%d: %s", origin, ret,
			 st.error[0] ? st.error : "not INI syntax ([section], key = value)");
		return -1;
	}
	find_header_lines(text, cfg);
	struct est_config base = est_config_default();
	enum config_mode mode = MODE_TUNE;

	config_apply(&base, &mode, &cfg->global);
	bad = config_check(cfg, &base, &line);
	if (bad) {
		if (line)
			snprintf(why, len, "%s:%d: %s", origin, line, bad);
		else
			snprintf(why, len, "%s: [global]: %s", origin, bad);
		return -1;
	}
	return 0;
}

static bool prefix_contains(const struct config_policy *p, uint16_t family, const uint8_t addr[16])
{
	if (p->family != family)
		return false;
	for (int bit = 0; bit < p->prefix_len; bit++) {
		uint8_t mask = (uint8_t)(0x80u >> (bit % 8));

		if ((addr[bit / 8] & mask) != (p->addr[bit / 8] & mask))
			return false;
	}
	return true;
}

void config_match(const struct config *cfg, const char *cgroup_path, uint16_t family,
		  const uint8_t addr[16], const struct config_policy **cgroup,
		  const struct config_policy **cidr)
{
	struct dest_key k = dest_key_make(0, family, addr); /* v4-mapped IPv6 counts as IPv4 */
	uint8_t a[16] = {};

	*cgroup = *cidr = NULL;
	if (k.family == AF_INET)
		memcpy(a, family == AF_INET ? addr : addr + 12, 4);
	else
		memcpy(a, addr, 16);
	for (size_t i = 0; i < cfg->npolicies; i++) {
		const struct config_policy *p = &cfg->policies[i];

		if (p->is_cidr) {
			if (k.family && prefix_contains(p, k.family, a) &&
			    (!*cidr || p->prefix_len > (*cidr)->prefix_len))
				*cidr = p;
		} else if (cgroup_path && path_within(config_policy_cgroup(p), cgroup_path) &&
			   (!*cgroup || strlen(config_policy_cgroup(p)) >
						strlen(config_policy_cgroup(*cgroup)))) {
			*cgroup = p;
		}
	}
}
