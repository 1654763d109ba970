/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The configuration file (/etc/tcptune/tcptune.conf, INI syntax read with
 * inih): global settings, and policies per cgroup path and per remote CIDR.
 * Pure: parses text, no file or system access. */
#ifndef TCPTUNE_CONFIG_H
#define TCPTUNE_CONFIG_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/estimate.h"
#include "core/options.h"

#define CONFIG_DEFAULT_PATH "/etc/tcptune/tcptune.conf"
#define CONFIG_SECTION_MAX 512 /* a section header's text, cgroup path included */

/* Which keys a section gave (the rest come from the level below). */
enum {
	CFG_MODE = 1u << 0,
	CFG_MIN_BUF = 1u << 1,
	CFG_MAX_BUF = 1u << 2,
	CFG_HEADROOM = 1u << 3,
	CFG_ALPHA = 1u << 4,
	CFG_HYSTERESIS = 1u << 5,
	CFG_INTERVAL = 1u << 6, /* [global] only */
	CFG_BUDGET = 1u << 7,
	CFG_METRICS = 1u << 8, /* [global] only */
};

struct config_settings {
	unsigned int set; /* CFG_* */
	enum config_mode mode;
	uint32_t min_buf, max_buf; /* bytes, as ss shows them */
	double headroom, alpha, hysteresis;
	uint64_t budget; /* bytes; a policy's: for its connections together */
};

struct config_policy {
	bool is_cidr;                     /* else a cgroup */
	char section[CONFIG_SECTION_MAX]; /* the header's text: "cgroup /a/b", "cidr 10.0.0.0/8" */
	uint16_t family;                  /* AF_INET or AF_INET6 */
	uint8_t addr[16];                 /* masked to prefix_len */
	uint8_t prefix_len;
	int line; /* its header's line */
	struct config_settings s;
};

struct config {
	struct config_settings global;
	double interval_s;
	uint64_t budget;
	char metrics[64]; /* ADDR:PORT or "off" */
	struct config_policy policies[CONFIG_MAX_POLICIES];
	size_t npolicies;
};

/* Parses text (origin names it in errors). Returns 0, or -1 with
 * "ORIGIN:LINE: KEY: what is wrong" (or "ORIGIN:LINE: ...") in why; *cfg is
 * then unusable. Also checks that each policy, laid over [global] and the
 * defaults, is a valid tuning configuration. */
int config_parse(const char *text, const char *origin, struct config *cfg, char *why, size_t len);

/* base with the keys s sets laid over it. */
void config_apply(struct est_config *base, enum config_mode *mode, const struct config_settings *s);

/* The policies that apply to a connection: the cgroup policy with the
 * longest path that contains cgroup_path (NULL: none), and the CIDR policy
 * with the longest prefix that contains the remote address. Either out may be
 * NULL when there is none. A CIDR policy is laid over a cgroup policy. */
void config_match(const struct config *cfg, const char *cgroup_path, uint16_t family,
		  const uint8_t addr[16], const struct config_policy **cgroup,
		  const struct config_policy **cidr);

const char *config_mode_name(enum config_mode mode);

/* A cgroup policy's path: what follows "cgroup " in its section. */
static inline const char *config_policy_cgroup(const struct config_policy *p)
{
	return p->section + 7;
}

/* base (defaults, [global] and the command line's settings) checked alone
 * and with every policy combination a connection can meet. Returns NULL, or
 * what is wrong with *line the policy's header line (0: base itself). */
const char *config_check(const struct config *cfg, const struct est_config *base, int *line);

/* A connection's settings: base and base_mode with its policies laid over.
 * Returns the policy whose budget it counts against (besides [global]'s), or
 * NULL. */
const struct config_policy *config_settings_for(const struct config *cfg,
						const struct est_config *base,
						enum config_mode base_mode, const char *cgroup_path,
						uint16_t family, const uint8_t addr[16],
						struct est_config *est, enum config_mode *mode);

/* The largest max_buf (largest) or smallest min_buf any connection can get. */
uint32_t config_buf_bound(const struct config *cfg, const struct est_config *base, bool largest);

/* Whether any connection can be in mode tune. */
bool config_any_tune(const struct config *cfg, enum config_mode base_mode);

#endif
