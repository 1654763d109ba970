// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/parse.h"
#include "runtime/settings.h"
#include "runtime/tune.h"

#define CONFIG_FILE_MAX (1u << 20)

/* The whole file as a string of *size bytes; *text is malloc'ed. Returns 0
 * or -errno. */
static int read_text(const char *path, char **text, size_t *size)
{
	FILE *f = fopen(path, "re");
	size_t n;
	char *buf;
	int err;

	if (!f)
		return -errno;
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	err = ferror(f) ? -EIO : n > CONFIG_FILE_MAX ? -EFBIG : 0;
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = 0;
	*text = buf;
	*size = n;
	return 0;
}

/* A NUL byte would end the text inih reads early, and a file of zeros (a
 * crash while it was written) would read as empty: valid, all defaults. */
static int check_text(const char *text, size_t size, const char *path, char *why, size_t len)
{
	const char *nul = memchr(text, '\0', size);
	int line = 1;

	if (!nul)
		return 0;
	for (const char *p = text; p < nul; p++)
		line += *p == '\n';
	snprintf(why, len, "%s:%d: a NUL byte: not a text file (damaged, or the wrong file?)", path,
		 line);
	return -1;
}

/* [cgroup PATH] may name the directory as mounted (/sys/fs/cgroup/unified/a)
 * or below the mount (/a): policies compare paths below it. */
static void cgroup_paths_below_mount(struct config *cfg)
{
	char root[PATH_MAX];
	size_t n;

	if (cgroup2_mount(root, sizeof(root)))
		return;
	n = strlen(root);
	for (size_t i = 0; i < cfg->npolicies; i++) {
		struct config_policy *p = &cfg->policies[i];
		char *path = p->section + 7; /* config_policy_cgroup() */

		if (p->is_cidr || !path_within(root, path) || !strcmp(root, "/"))
			continue;
		if (path[n])
			memmove(path, path + n, strlen(path + n) + 1);
		else
			strcpy(path, "/");
	}
}

int settings_load(const struct cli_settings *cli, struct settings *out, char *why, size_t len)
{
	const char *path = cli->config_path ? cli->config_path : CONFIG_DEFAULT_PATH;
	struct cgroup_names *names = out->cgroups;
	char *text = NULL;
	size_t size = 0;
	const char *bad;
	int err, line;

	memset(out, 0, sizeof(*out));
	out->cgroups = names;
	err = read_text(path, &text, &size);
	if (err == -ENOENT && !cli->config_path) {
		path = NULL; /* no file at the default path: defaults and flags */
	} else if (err) {
		snprintf(
			why, len, "cannot read the configuration file %s: %s%s", path,
			strerror(-err),
			err == -ENOENT
				? " (give an existing file with --config, or none to use the defaults)"
				: "");
		return -1;
	}
	if (path) {
		snprintf(out->path, sizeof(out->path), "%s", path);
		err = check_text(text, size, path, why, len);
		if (!err)
			err = config_parse(text, path, &out->file, why, len);
		free(text);
		if (err)
			return -1;
		cgroup_paths_below_mount(&out->file);
	}

	out->est = est_config_default();
	out->mode = MODE_TUNE;
	config_apply(&out->est, &out->mode, &out->file.global);
	out->interval_s = out->file.global.set & CFG_INTERVAL ? out->file.interval_s : 1.0;
	out->budget = out->file.budget;
	snprintf(out->metrics, sizeof(out->metrics), "%s",
		 out->file.global.set & CFG_METRICS ? out->file.metrics : METRICS_DEFAULT);

	/* the command line wins over [global] */
	if (cli->observe)
		out->mode = MODE_OBSERVE;
	if (cli->set & CFG_MIN_BUF)
		out->est.min_buf = cli->est.min_buf;
	if (cli->set & CFG_MAX_BUF)
		out->est.max_buf = cli->est.max_buf;
	if (cli->set & CFG_HEADROOM)
		out->est.headroom = cli->est.headroom;
	if (cli->set & CFG_ALPHA)
		out->est.alpha = cli->est.alpha;
	if (cli->set & CFG_INTERVAL)
		out->interval_s = cli->interval_s;
	if (cli->set & CFG_BUDGET)
		out->budget = cli->budget;
	if (cli->set & CFG_METRICS)
		snprintf(out->metrics, sizeof(out->metrics), "%s", cli->metrics);

	bad = config_check(&out->file, &out->est, &line);
	if (bad) {
		if (line)
			snprintf(why, len, "%s:%d: %s", out->path, line, bad);
		else
			snprintf(why, len, "bad tuning settings (command line%s%s): %s",
				 out->path[0] ? " and [global] of " : "", out->path, bad);
		return -1;
	}
	if (out->budget && out->budget < config_buf_bound(&out->file, &out->est, false)) {
		snprintf(
			why, len,
			"--budget %llu is below --min-buf %u: no buffer could ever be set (raise it, or 0 for unlimited)",
			(unsigned long long)out->budget,
			config_buf_bound(&out->file, &out->est, false));
		return -1;
	}
	if (cli->per_connection && !strcmp(out->metrics, "off")) {
		snprintf(why, len, "--metrics-per-connection needs --metrics (it is off)");
		return -1;
	}
	if (cli->bpf_stats && !strcmp(out->metrics, "off")) {
		snprintf(why, len, "--metrics-bpf-stats needs --metrics (it is off)");
		return -1;
	}
	return 0;
}

int settings_reloadable(const struct settings *cur, const struct settings *next, bool can_tune,
			__u32 loaded_min, __u32 loaded_max, char *why, size_t len)
{
	__u32 lo = config_buf_bound(&next->file, &next->est, false);
	__u32 hi = config_buf_bound(&next->file, &next->est, true);

	if (!can_tune && config_any_tune(&next->file, next->mode))
		snprintf(
			why, len,
			"mode tune needs a restart: this agent started with nothing to tune (observe only), so its programs change no socket");
	else if (lo < loaded_min || hi > loaded_max)
		snprintf(
			why, len,
			"buffer bounds %u..%u need a restart: the running agent's programs accept %u..%u",
			lo, hi, loaded_min, loaded_max);
	else if (strcmp(cur->metrics, next->metrics))
		snprintf(why, len, "metrics: a new address (%s, now %s) needs a restart",
			 next->metrics, cur->metrics);
	else
		return 0;
	return -1;
}

void settings_describe_policy(const struct settings *s, const struct config_policy *p, char *buf,
			      size_t len)
{
	struct est_config e = s->est;
	enum config_mode mode = s->mode;
	int n;

	config_apply(&e, &mode, &p->s);
	n = snprintf(
		buf, len,
		"[%s] (line %d): %s, buffers %u..%u bytes, headroom %g, alpha %g, hysteresis %g",
		p->section, p->line, config_mode_name(mode), e.min_buf, e.max_buf, e.headroom,
		e.alpha, e.hysteresis);
	if ((p->s.set & CFG_BUDGET) && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", budget %llu",
			 (unsigned long long)p->s.budget);
}

void settings_policy(void *ctx, const struct flow *f, struct tune_policy *p)
{
	const struct settings *s = ctx;
	const struct config_policy *budget;
	const char *path = NULL;

	if (s->file.npolicies && s->cgroups)
		path = cgroup_names_get(s->cgroups, f->s.cgroup_id);
	budget = config_settings_for(&s->file, &s->est, s->mode, path, f->s.family, f->s.daddr,
				     &p->est, &p->mode);
	p->budget_group = budget ? (int)(budget - s->file.policies) + 1 : 0;
	p->budget = budget ? budget->s.budget : 0;
}

tune_policy_fn settings_policy_for(const struct settings *s)
{
	return s->file.npolicies ? settings_policy : NULL;
}
