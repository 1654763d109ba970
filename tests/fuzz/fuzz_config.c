// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* libFuzzer target: the configuration file. The input is a file's text. It
 * is parsed from a string (config_parse) and read as a file the way `run`
 * and `check-config` read it (settings_load, from a memfd); a file they
 * accept then goes through what consumes a parsed configuration: the
 * checks, the policies each connection gets (config_settings_for), the
 * buffer bounds, reload, the policy descriptions and both status renderings.
 * What must hold is asserted (abort: libFuzzer reports it as a crash). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "runtime/config.h"
#include "fuzz.h"
#include "runtime/settings.h"
#include "runtime/status_file.h"

#define ORIGIN "fuzz.conf"

static int conf_fd = -1;
static char conf_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	conf_fd = memfd_create("fuzz.conf", MFD_CLOEXEC);
	if (conf_fd < 0)
		fuzz_die("memfd_create: %m");
	snprintf(conf_path, sizeof(conf_path), "/proc/self/fd/%d", conf_fd);
	return 0;
}

/* An error is one line that names the file. */
static void check_error(const char *why, const char *origin)
{
	if (strncmp(why, origin, strlen(origin)) || why[strlen(origin)] != ':')
		fuzz_die("error does not start with '%s:': %s", origin, why);
	if (strchr(why, '\n'))
		fuzz_die("error of more than one line: %s", why);
}

/* Connections that the policies' own keys match, each policy paired with
 * another: its cgroup path (or a directory below it), its network (another
 * host in it, IPv4 also v4-mapped). Each must get settings that are valid and
 * within config_buf_bound, and a budget policy that has a budget. */
static void check_connections(const struct config *cfg, const struct est_config *base,
			      enum config_mode base_mode)
{
	uint32_t lo = config_buf_bound(cfg, base, false), hi = config_buf_bound(cfg, base, true);

	if (lo > hi || lo < EST_BUF_FLOOR || hi > EST_BUF_CEILING)
		fuzz_die("config_buf_bound: %u..%u", lo, hi);
	for (size_t i = 0; i <= cfg->npolicies; i++) {
		const struct config_policy *p = i < cfg->npolicies ? &cfg->policies[i] : NULL;
		const struct config_policy *q =
			cfg->npolicies ? &cfg->policies[cfg->npolicies - 1 - i % cfg->npolicies]
				       : NULL;
		const struct config_policy *cidr = p && p->is_cidr ? p : q && q->is_cidr ? q : NULL;
		const struct config_policy *cgroup = p && !p->is_cidr   ? p
						     : q && !q->is_cidr ? q
									: NULL;
		char path[CONFIG_SECTION_MAX + 8];
		uint8_t addr[16] = {};
		uint16_t family = AF_INET6;

		snprintf(path, sizeof(path), "%s%s", cgroup ? config_policy_cgroup(cgroup) : "/",
			 i & 1 ? "/x" : "");
		if (cidr) {
			family = cidr->family;
			memcpy(addr, cidr->addr, sizeof(addr));
			addr[15] ^= (uint8_t)
				i; /* another host of the network, unless it is a /128 or /32 */
			if (family == AF_INET && (i & 2)) { /* the same, v4-mapped */
				memmove(addr + 12, addr, 4);
				memset(addr, 0, 10);
				addr[10] = addr[11] = 0xff;
				family = AF_INET6;
			}
		}
		struct est_config est;
		enum config_mode mode;
		const struct config_policy *budget = config_settings_for(
			cfg, base, base_mode, i & 4 ? NULL : path, family, addr, &est, &mode);
		const char *bad = est_config_check(&est);

		/* config_check passed: every combination of policies is valid */
		if (bad)
			fuzz_die("connection %s %s gets invalid settings: %s", path,
				 cidr ? cidr->section : "-", bad);
		if (est.min_buf < lo || est.max_buf > hi)
			fuzz_die("connection gets buffers %u..%u outside config_buf_bound's %u..%u",
				 est.min_buf, est.max_buf, lo, hi);
		if (mode != MODE_TUNE && mode != MODE_OBSERVE && mode != MODE_OFF)
			fuzz_die("connection gets mode %d", (int)mode);
		if (budget && (budget < cfg->policies || budget >= cfg->policies + cfg->npolicies ||
			       !(budget->s.set & CFG_BUDGET)))
			fuzz_die("config_settings_for returned a budget policy that has no budget");
		if (budget && budget->s.budget && budget->s.budget < est.min_buf)
			fuzz_die("policy budget %llu below its connections' min_buf %u",
				 (unsigned long long)budget->s.budget, est.min_buf);
	}
}

/* Syntax of one JSON value (what status --json prints): *p advanced past it. */
static bool json_value(const char **p, int depth);

static void json_blank(const char **p)
{
	while (**p == ' ')
		(*p)++;
}

static bool json_string_ok(const char **p)
{
	if (*(*p)++ != '"')
		return false;
	for (; **p != '"'; (*p)++) {
		if ((unsigned char)**p < 0x20)
			return false;
		if (**p == '\\') {
			(*p)++;
			if (**p == 'u') {
				if (strspn(*p + 1, "0123456789abcdefABCDEF") < 4)
					return false;
				*p += 4;
			} else if (!**p || !strchr("\"\\/bfnrt", **p)) {
				return false;
			}
		}
	}
	(*p)++;
	return true;
}

static bool json_value(const char **p, int depth)
{
	char *end;

	json_blank(p);
	if (depth > 8)
		return false;
	if (**p == '{' || **p == '[') {
		char close = **p == '{' ? '}' : ']';

		(*p)++;
		json_blank(p);
		if (**p == close) {
			(*p)++;
			return true;
		}
		for (;;) {
			if (close == '}') {
				json_blank(p);
				if (!json_string_ok(p))
					return false;
				json_blank(p);
				if (*(*p)++ != ':')
					return false;
			}
			if (!json_value(p, depth + 1))
				return false;
			json_blank(p);
			if (**p == close) {
				(*p)++;
				return true;
			}
			if (*(*p)++ != ',')
				return false;
		}
	}
	if (**p == '"')
		return json_string_ok(p);
	if (!strncmp(*p, "null", 4) || !strncmp(*p, "true", 4)) {
		*p += 4;
		return true;
	}
	if (**p != '-' && (**p < '0' || **p > '9'))
		return false; /* also "inf" and "nan" */
	strtod(*p, &end);
	*p = end;
	return true;
}

static void check_status(const struct settings *s)
{
	struct status_attachment att = { "tcptune_sockops", "cgroup_sock_ops",
					 "/sys/fs/cgroup/\"a\"" };
	struct status_info info = {
		.pid = 1, .started_unix = 2, .settings = s, .attachments = &att, .nattachments = 1
	};

	for (int json = 0; json < 2; json++) {
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);
		const char *p;

		if (!out)
			fuzz_die("open_memstream: %m");
		status_render(out, &info, json);
		if (fclose(out))
			fuzz_die("status_render: %m");
		p = text;
		if (json && (!json_value(&p, 0) || strcmp(p, "\n")))
			fuzz_die(
				"status --json is not one JSON object and a newline (bad at offset %zu): %s",
				(size_t)(p - text), text);
		free(text);
	}
	for (size_t i = 0; i < s->file.npolicies; i++) {
		char line[CONFIG_SECTION_MAX + 200];

		settings_describe_policy(s, &s->file.policies[i], line, sizeof(line));
		if (strchr(line, '\n'))
			fuzz_die("policy description of more than one line: %s", line);
	}
}

/* The text with each comment line ('#' or ';' first after blanks) blanked
 * out: line numbers stay, and what is parsed must not change. */
static void blank_comments(char *text)
{
	for (char *line = text; *line;) {
		char *end = strchrnul(line, '\n');
		char *first = line + strspn(line, " \t");

		if (first < end && (*first == '#' || *first == ';'))
			memmove(line, end, strlen(end) + 1);
		else
			line = end;
		if (*line == '\n')
			line++;
	}
}

static bool same_settings(const struct config_settings *a, const struct config_settings *b)
{
	return a->set == b->set && a->mode == b->mode && a->min_buf == b->min_buf &&
	       a->max_buf == b->max_buf && a->headroom == b->headroom && a->alpha == b->alpha &&
	       a->hysteresis == b->hysteresis && a->budget == b->budget;
}

static void check_same_policies(const struct config *a, const struct config *b)
{
	if (!same_settings(&a->global, &b->global) || a->npolicies != b->npolicies)
		fuzz_die("comment lines change [global] or the number of policies");
	for (size_t i = 0; i < a->npolicies; i++)
		if (strcmp(a->policies[i].section, b->policies[i].section) ||
		    a->policies[i].line != b->policies[i].line ||
		    !same_settings(&a->policies[i].s, &b->policies[i].s))
			fuzz_die("comment lines change policy [%s]", a->policies[i].section);
}

static void check_comments_ignored(const char *text, int parsed, const char *why,
				   const struct config *cfg)
{
	static struct config plain;
	char *blanked = strdup(text), plain_why[1024];
	int plain_parsed;

	/* refused before parsing, and blanking may remove the long line */
	if (!blanked || (parsed && strstr(why, ": line longer than "))) {
		free(blanked);
		return;
	}
	blank_comments(blanked);
	plain_parsed = config_parse(blanked, ORIGIN, &plain, plain_why, sizeof(plain_why));
	if (plain_parsed != parsed || (parsed && strcmp(why, plain_why)))
		fuzz_die("comment lines change the result: '%s' / without them: '%s'",
			 parsed ? why : "valid", plain_parsed ? plain_why : "valid");
	if (!parsed)
		check_same_policies(cfg, &plain);
	free(blanked);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static struct settings loaded;
	struct cli_settings cli = { .config_path = conf_path };
	struct est_config base = est_config_default();
	enum config_mode mode = MODE_TUNE;
	char why[1024], why_loaded[1024];
	char *text = malloc(size + 1);
	const char *bad;
	int line, parsed, rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;

	parsed = config_parse(text, ORIGIN, &cfg, why, sizeof(why));
	if (parsed) {
		check_error(why, ORIGIN);
	} else {
		config_apply(&base, &mode, &cfg.global);
		bad = config_check(&cfg, &base, &line);
		if (bad)
			fuzz_die("config_parse accepted what config_check refuses (line %d): %s",
				 line, bad);
		config_any_tune(&cfg, mode);
		check_connections(&cfg, &base, mode);
	}
	check_comments_ignored(text, parsed, why, &cfg);

	/* the same text as the file run and check-config read */
	if (ftruncate(conf_fd, 0) || pwrite(conf_fd, data, size, 0) != (ssize_t)size)
		fuzz_die("writing the memfd: %m");
	rc = settings_load(&cli, &loaded, why_loaded, sizeof(why_loaded));
	if (rc) {
		/* settings_load adds checks (the budget against min_buf) to config_parse's */
		if (parsed && strcmp(why_loaded + strlen(conf_path), why + strlen(ORIGIN)))
			fuzz_die("config_parse and settings_load disagree: '%s' / '%s'", why,
				 why_loaded);
		if (strchr(why_loaded, '\n'))
			fuzz_die("error of more than one line: %s", why_loaded);
	} else {
		if (parsed)
			fuzz_die("settings_load accepted what config_parse refused: %s", why);
		check_connections(&loaded.file, &loaded.est, loaded.mode);
		/* the agent may always reload the file it runs with */
		if (settings_reloadable(&loaded, &loaded, true,
					config_buf_bound(&loaded.file, &loaded.est, false),
					config_buf_bound(&loaded.file, &loaded.est, true), why,
					sizeof(why)))
			fuzz_die("a configuration cannot reload itself: %s", why);
		check_status(&loaded);
	}
	free(text);
	return 0;
}
