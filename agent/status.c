// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `tcptune status`, and the state files the agent writes for it. */
#include <argp.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "collect.h"
#include "commands.h"
#include "log.h"
#include "status.h"
#include "sysctl.h"

/* ---- the agent's part ----------------------------------------------------- */

static void json_str(FILE *out, const char *text)
{
	char buf[1100];

	json_string(text, 512, buf, sizeof(buf));
	fputs(buf, out);
}

static void settings_json(FILE *out, const struct est_config *e, enum config_mode mode)
{
	fprintf(out, "\"mode\": \"%s\", \"min_buf\": %u, \"max_buf\": %u, \"headroom\": %g, \"alpha\": %g, \"hysteresis\": %g",
		config_mode_name(mode), e->min_buf, e->max_buf, e->headroom, e->alpha, e->hysteresis);
}

void status_render(FILE *out, const struct status_info *info, bool json)
{
	const struct settings *s = info->settings;

	if (!json) {
		fprintf(out, "agent: pid %d, tcptune %s, started %lld (unix time)\n", info->pid, TCPTUNE_VERSION,
			info->started_unix);
		fprintf(out, "configuration: %s\n", s->path[0] ? s->path : "none (defaults and command line)");
		fprintf(out, "in force: %s, buffers %u..%u bytes, headroom %g, alpha %g, hysteresis %g, interval %gs, budget %llu%s, metrics %s\n",
			config_mode_name(s->mode), s->est.min_buf, s->est.max_buf, s->est.headroom, s->est.alpha,
			s->est.hysteresis, s->interval_s, (unsigned long long)s->budget, s->budget ? "" : " (unlimited)",
			s->metrics);
		for (size_t i = 0; i < s->file.npolicies; i++) {
			char line[CONFIG_SECTION_MAX + 200];

			settings_describe_policy(s, &s->file.policies[i], line, sizeof(line));
			fprintf(out, "policy %s\n", line);
		}
		for (size_t i = 0; i < info->nattachments; i++)
			fprintf(out, "program: %s (%s): %s\n", info->attachments[i].program, info->attachments[i].type,
				info->attachments[i].target);
		fprintf(out, "pinned: %s\n", TCPTUNE_PIN_DIR);
		if (info->features)
			features_render(out, info->features, false);
		return;
	}
	fprintf(out, "{\"pid\": %d, \"version\": \"%s\", \"started_unix\": %lld, \"config\": ", info->pid,
		TCPTUNE_VERSION, info->started_unix);
	if (s->path[0])
		json_str(out, s->path);
	else
		fputs("null", out);
	fputs(", \"settings\": {", out);
	settings_json(out, &s->est, s->mode);
	fprintf(out, ", \"interval_s\": %g, \"budget\": %llu, \"metrics\": ", s->interval_s,
		(unsigned long long)s->budget);
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

/* ---- the command ----------------------------------------------------------- */

static const char *const counter_names[CNT_MAX] = {
	"flows_created", "flows_deleted", "map_full", "applied", "learned_at_start", "refused", "window_at_start",
	"events_lost", "regrown",
};

static int copy_file(const char *path, FILE *out)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, out);
	fclose(f);
	return 0;
}

static error_t status_parse(int key, char *arg, struct argp_state *state)
{
	bool *json = state->input;

	if (key == 'j') {
		*json = true;
		return 0;
	}
	return common_parse(key, arg, state);
}

int cmd_status(int argc, char **argv)
{
	static const struct argp_option options[] = {
		{ "json", 'j', NULL, 0, "Print one JSON object", 0 },
		{},
	};
	struct argp argp = { options, status_parse, NULL,
			     "Show what the running agent attached where, the sysctls it changed and from what, its counters and the configuration in force.",
			     common_children, NULL, NULL };
	struct sysctl_change changes[4];
	struct pinned_maps maps;
	struct agent_status st = {};
	bool json = false;
	char why[256];
	__u32 key = 0;
	int n, err;

	if (argp_parse(&argp, argc, argv, TCPTUNE_ARGP_FLAGS, NULL, &json))
		return EXIT_USAGE;
	if (pinned_maps_open(&maps, why, sizeof(why))) {
		log_error("%s", why);
		return EXIT_RUNTIME;
	}
	bpf_map_lookup_elem(maps.status_fd, &key, &st);
	n = sysctl_changes(changes, 4);
	if (json)
		fputs("{\"agent\": ", stdout);
	err = copy_file(json ? TCPTUNE_STATUS_JSON : TCPTUNE_STATUS_TEXT, stdout);
	if (err) {
		pinned_maps_close(&maps);
		log_error("cannot read %s: %s (an agent older than this command, or starting)",
			  json ? TCPTUNE_STATUS_JSON : TCPTUNE_STATUS_TEXT, strerror(-err));
		return EXIT_RUNTIME;
	}
	if (json) {
		printf(", \"sysctls\": [");
		for (int i = 0; i < n; i++)
			printf("%s{\"name\": \"%s\", \"was\": %llu, \"now\": %llu}", i ? ", " : "", changes[i].name,
			       changes[i].was, changes[i].now);
		printf("], \"pass\": %llu, \"namespaces\": %u, \"assigned_bytes\": %llu, \"tcp_mem_pages\": %llu, \"tcp_mem_pressure_pages\": %llu, \"pressure\": %s, \"counters\": {",
		       (unsigned long long)st.pass, st.namespaces, (unsigned long long)st.assigned_bytes,
		       (unsigned long long)st.tcp_mem_pages, (unsigned long long)st.tcp_mem_pressure_pages,
		       st.pressure ? "true" : "false");
		for (int i = 0; i < CNT_MAX; i++)
			printf("%s\"%s\": %llu", i ? ", " : "", counter_names[i],
			       (unsigned long long)counter_read(maps.counters_fd, i));
		printf("}}\n");
	} else {
		for (int i = 0; i < n; i++)
			printf("sysctl: %s = %llu (was %llu; restored when the agent stops)\n", changes[i].name, changes[i].now,
			       changes[i].was);
		if (!n)
			printf("sysctl: none changed\n");
		printf("passes: %llu, %u network namespaces in the last; buffer bytes assigned %llu; TCP memory %llu pages (pressure at %llu)%s\n",
		       (unsigned long long)st.pass, st.namespaces, (unsigned long long)st.assigned_bytes,
		       (unsigned long long)st.tcp_mem_pages, (unsigned long long)st.tcp_mem_pressure_pages,
		       st.pressure ? ", UNDER PRESSURE" : "");
		printf("counters:");
		for (int i = 0; i < CNT_MAX; i++)
			printf(" %s %llu", counter_names[i], (unsigned long long)counter_read(maps.counters_fd, i));
		printf("\n");
	}
	pinned_maps_close(&maps);
	return fflush(stdout) ? EXIT_RUNTIME : 0;
}
