// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The state files the agent writes for `tcptune status` (status_file.h). */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include "core/format.h"
#include "runtime/status_file.h"

static void json_str(FILE *out, const char *text)
{
	char buf[1100];

	json_string(text, 512, buf, sizeof(buf));
	fputs(buf, out);
}

static void settings_json(FILE *out, const struct est_config *e, enum config_mode mode)
{
	fprintf(out,
		"\"mode\": \"%s\", \"min_buf\": %u, \"max_buf\": %u, \"headroom\": %g, \"alpha\": %g, \"hysteresis\": %g",
		config_mode_name(mode), e->min_buf, e->max_buf, e->headroom, e->alpha,
		e->hysteresis);
}

void status_render(FILE *out, const struct status_info *info, bool json)
{
	const struct settings *s = info->settings;

	if (!json) {
		fprintf(out, "agent: pid %d, tcptune %s, started %lld (unix time)\n", info->pid,
			TCPTUNE_VERSION, info->started_unix);
		fprintf(out, "configuration: %s\n",
			s->path[0] ? s->path : "none (defaults and command line)");
		fprintf(out,
			"in force: %s, buffers %u..%u bytes, headroom %g, alpha %g, hysteresis %g, interval %gs, budget %llu%s, metrics %s\n",
			config_mode_name(s->mode), s->est.min_buf, s->est.max_buf, s->est.headroom,
			s->est.alpha, s->est.hysteresis, s->interval_s,
			(unsigned long long)s->budget, s->budget ? "" : " (unlimited)", s->metrics);
		for (size_t i = 0; i < s->file.npolicies; i++) {
			char line[CONFIG_SECTION_MAX + 200];

			settings_describe_policy(s, &s->file.policies[i], line, sizeof(line));
			fprintf(out, "policy %s\n", line);
		}
		for (size_t i = 0; i < info->nattachments; i++)
			fprintf(out, "program: %s (%s): %s\n", info->attachments[i].program,
				info->attachments[i].type, info->attachments[i].target);
		fprintf(out, "flows: %ld sockets tracked at most%s\n", info->max_flows,
			info->max_flows_for_host ? " (the kernel's TCP established hash size)"
						 : " (--max-flows)");
		fprintf(out, "pinned: %s\n", TCPTUNE_PIN_DIR);
		if (info->features)
			features_render(out, info->features, false);
		return;
	}
	fprintf(out, "{\"pid\": %d, \"version\": \"%s\", \"started_unix\": %lld, \"config\": ",
		info->pid, TCPTUNE_VERSION, info->started_unix);
	if (s->path[0])
		json_str(out, s->path);
	else
		fputs("null", out);
	fputs(", \"settings\": {", out);
	settings_json(out, &s->est, s->mode);
	fprintf(out, ", \"interval_s\": %g, \"max_flows\": %ld, \"budget\": %llu, \"metrics\": ",
		s->interval_s, info->max_flows, (unsigned long long)s->budget);
	json_str(out, s->metrics);
	fputs("}, \"policies\": [", out);
	for (size_t i = 0; i < s->file.npolicies; i++) {
		const struct config_policy *p = &s->file.policies[i];
		struct est_config e = s->est;
		enum config_mode mode = s->mode;

		config_apply(&e, &mode, &p->s);
		fputs(i ? ", {\"section\": " : "{\"section\": ", out);
		json_str(out, p->section);
		fprintf(out, ", \"line\": %d, ", p->line);
		settings_json(out, &e, mode);
		if (p->s.set & CFG_BUDGET)
			fprintf(out, ", \"budget\": %llu", (unsigned long long)p->s.budget);
		fputs("}", out);
	}
	fputs("], \"attachments\": [", out);
	for (size_t i = 0; i < info->nattachments; i++) {
		fputs(i ? ", {\"program\": " : "{\"program\": ", out);
		json_str(out, info->attachments[i].program);
		fputs(", \"type\": ", out);
		json_str(out, info->attachments[i].type);
		fputs(", \"target\": ", out);
		json_str(out, info->attachments[i].target);
		fputs("}", out);
	}
	fputs("], \"pinned\": ", out);
	json_str(out, TCPTUNE_PIN_DIR);
	if (info->features) {
		fputs(", \"kernel\": ", out);
		features_render(out, info->features, true);
	}
	fputs("}\n", out);
}

static int write_atomic(const char *path, const struct status_info *info, bool json)
{
	char tmp[128];
	FILE *f;
	int err = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	status_render(f, info, json);
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int status_write(const struct status_info *info)
{
	int err = write_atomic(TCPTUNE_STATUS_JSON, info, true);

	return err ? err : write_atomic(TCPTUNE_STATUS_TEXT, info, false);
}

void status_remove(void)
{
	unlink(TCPTUNE_STATUS_JSON);
	unlink(TCPTUNE_STATUS_TEXT);
}
