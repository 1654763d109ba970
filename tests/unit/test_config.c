// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/runtime/config.c: the configuration file's syntax, its
 * errors (file, line, key) and which policy a connection gets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "runtime/config.h"

static struct config cfg; /* big: not on the stack */

static const char example[] = "# a comment\n"
			      "[global]\n"
			      "mode = tune\n"
			      "interval = 0.5\n"
			      "min_buf = 16K\n"
			      "max_buf = 32M\n"
			      "headroom = 2.5\n"
			      "alpha = 0.5\n"
			      "hysteresis = 0.1\n"
			      "budget = 1G\n"
			      "metrics = 127.0.0.1:9100\n"
			      "\n"
			      "[cgroup /batch]\n"
			      "mode = observe\n"
			      "max_buf = 4M\n"
			      "\n"
			      "[cgroup /batch/nightly]\n"
			      "mode = off\n"
			      "\n"
			      "[cidr 198.18.7.9/16]\n"
			      "headroom = 4\n"
			      "\n"
			      "[cidr 198.18.1.0/24]\n"
			      "max_buf = 1M\n"
			      "\n"
			      "[cidr fd00:198:18::/48]\n"
			      "mode = off\n";

static void parses_every_key(void **unused)
{
	(void)unused;
	char why[1024] = "";

	if (config_parse(example, "t.conf", &cfg, why, sizeof(why)))
		fail_msg("refused: %s", why);
	assert_int_equal(cfg.global.mode, MODE_TUNE);
	assert_float_equal(cfg.interval_s, 0.5, 0);
	assert_int_equal(cfg.global.min_buf, 16 << 10);
	assert_int_equal(cfg.global.max_buf, 32 << 20);
	assert_float_equal(cfg.global.headroom, 2.5, 0);
	assert_float_equal(cfg.global.alpha, 0.5, 0);
	assert_float_equal(cfg.global.hysteresis, 0.1, 0);
	assert_int_equal(cfg.budget, 1ull << 30);
	assert_string_equal(cfg.metrics, "127.0.0.1:9100");
	assert_int_equal(cfg.global.set, CFG_MODE | CFG_INTERVAL | CFG_MIN_BUF | CFG_MAX_BUF |
						 CFG_HEADROOM | CFG_ALPHA | CFG_HYSTERESIS |
						 CFG_BUDGET | CFG_METRICS);
	assert_int_equal(cfg.npolicies, 5);
	assert_false(cfg.policies[0].is_cidr);
	assert_string_equal(config_policy_cgroup(&cfg.policies[0]), "/batch");
	assert_int_equal(cfg.policies[0].line, 13);
	assert_int_equal(cfg.policies[0].s.set, CFG_MODE | CFG_MAX_BUF);
	assert_int_equal(cfg.policies[1].s.mode, MODE_OFF);
	assert_true(cfg.policies[2].is_cidr);
	assert_int_equal(cfg.policies[2].family, AF_INET);
	assert_int_equal(cfg.policies[2].prefix_len, 16);
	/* masked to the prefix */
	assert_memory_equal(cfg.policies[2].addr, ((uint8_t[]){ 198, 18, 0, 0 }), 4);
	assert_int_equal(cfg.policies[4].family, AF_INET6);
	assert_int_equal(cfg.policies[4].line, 26);

	/* laid over the defaults */
	struct est_config est = est_config_default();
	enum config_mode mode = MODE_TUNE;

	config_apply(&est, &mode, &cfg.global);
	config_apply(&est, &mode, &cfg.policies[0].s);
	assert_int_equal(mode, MODE_OBSERVE);
	assert_int_equal(est.max_buf, 4 << 20);
	assert_int_equal(est.min_buf, 16 << 10);
	assert_float_equal(est.headroom, 2.5, 0);
}

static void expect_error(const char *text, const char *want)
{
	char why[1024] = "";

	if (config_parse(text, "t.conf", &cfg, why, sizeof(why)) == 0)
		fail_msg("accepted:\n%s", text);
	if (strcmp(why, want))
		fail_msg("error\n  got:  %s\n  want: %s", why, want);
}

/* inih takes the rest of a long line for another line: a long comment must
 * not turn into a section (fuzz_config found this). Lines of 198 characters
 * are read whole. */
static void long_lines_refused(void **unused)
{
	char text[600], why[256];

	(void)unused;
	snprintf(text, sizeof(text), "[global]\n# %0197d[cidr 0.0.0.0/0]\nmode = off\n", 0);
	expect_error(
		text,
		"t.conf:2: line longer than 198 characters (shorten it, or split a comment in two)");
	snprintf(text, sizeof(text), "[global]\n# %0196d\nmode = observe\n", 0); /* 198 */
	assert_int_equal(config_parse(text, "t.conf", &cfg, why, sizeof(why)), 0);
	assert_int_equal(cfg.npolicies, 0);
	assert_int_equal(cfg.global.mode, MODE_OBSERVE);
}

static void errors_name_file_line_and_key(void **unused)
{
	(void)unused;
	expect_error(
		"[global]\nheadroom = 2\nhedroom = 3\n",
		"t.conf:3: unknown key 'hedroom' (keys: mode, min_buf, max_buf, headroom, alpha, hysteresis, budget, interval, metrics)");
	expect_error("[global]\n\nheadroom = 0.5\n",
		     "t.conf:3: headroom: '0.5' must be a number from 1 to 16");
	expect_error("[global]\nmin_buf = 4K\n",
		     "t.conf:2: min_buf: '4K' must be a size from 8K to 1G");
	expect_error("[global]\nmode = off\n", "t.conf:2: mode: 'off' must be tune, observe");
	expect_error("[cidr 10.0.0.0/8]\nmode = sometimes\n",
		     "t.conf:2: mode: 'sometimes' must be tune, observe or off");
	expect_error("[global]\nalpha = 0\n",
		     "t.conf:2: alpha: '0' must be a number above 0 and at most 1");
	expect_error("[global]\ninterval = 0\n",
		     "t.conf:2: interval: '0' must be greater than zero");
	expect_error("[global]\nmetrics = localhost\n",
		     "t.conf:2: metrics: 'localhost' must be ADDR:PORT or off");
	expect_error("[global]\nbudget = lots\n",
		     "t.conf:2: budget: 'lots' must be 0 (unlimited) or a size up to 1024G");
	expect_error("[cgroup /a]\ninterval = 2\n", "t.conf:2: interval: only in [global]");
	expect_error("[cgroup /a]\nmin_buf = 64K\nbudget = 32K\n",
		     "t.conf:1: budget must be 0 (unlimited) or at least min_buf");
	expect_error(
		"[cgroups /a]\nmode = off\n",
		"t.conf:2: [cgroups /a]: unknown section (sections: [global], [cgroup /PATH], [cidr ADDR/LEN])");
	expect_error(
		"[cgroup a]\nmode = off\n",
		"t.conf:2: [cgroup a]: unknown section (sections: [global], [cgroup /PATH], [cidr ADDR/LEN])");
	expect_error(
		"[cidr 10.0.0.0/33]\nmode = off\n",
		"t.conf:2: [cidr 10.0.0.0/33]: '10.0.0.0/33' is not an address/length (198.18.0.0/15, fd00::/48)");
	expect_error(
		"[cidr 10.0.0.0]\nmode = off\n",
		"t.conf:2: [cidr 10.0.0.0]: '10.0.0.0' is not an address/length (198.18.0.0/15, fd00::/48)");
	expect_error("mode = tune\n", "t.conf:1: mode: a key before any section ([global] first)");
	expect_error("[global]\nthis line has no equals sign\n",
		     "t.conf:2: not INI syntax ([section], key = value)");
	/* the file's own bytes in the message: control characters and binary shown as '?' */
	expect_error("[global]\nmin_buf = 3\x1b[31m2\xff\rK\n",
		     "t.conf:2: min_buf: '3?[31m2??K' must be a size from 8K to 1G");
	/* a combination a connection can meet is checked too: the policy's line */
	expect_error("[global]\nmin_buf = 64K\n\n[cidr 10.0.0.0/8]\nmax_buf = 32K\n",
		     "t.conf:4: max_buf must not be below min_buf");
	expect_error(
		"[global]\nmax_buf = 1M\n[cgroup /a]\nmin_buf = 512K\n[cidr 10.0.0.0/8]\nmax_buf = 256K\n",
		"t.conf:5: max_buf must not be below min_buf");
	expect_error("[global]\nmin_buf = 64K\nmax_buf = 32K\n",
		     "t.conf: [global]: max_buf must not be below min_buf");
	/* an empty file is the defaults */
	char why[256];

	assert_int_equal(config_parse("", "t.conf", &cfg, why, sizeof(why)), 0);
	assert_int_equal(cfg.global.set, 0);
	assert_int_equal(cfg.npolicies, 0);
}

static void policies_match_most_specific(void **unused)
{
	(void)unused;
	char why[1024];
	const struct config_policy *cg, *cidr;
	uint8_t a[16] = {};

	assert_int_equal(config_parse(example, "t.conf", &cfg, why, sizeof(why)), 0);
	inet_pton(AF_INET, "198.18.1.5", a);
	config_match(&cfg, "/batch/nightly/job1", AF_INET, a, &cg, &cidr);
	assert_ptr_equal(cg, &cfg.policies[1]);   /* the longer cgroup path */
	assert_ptr_equal(cidr, &cfg.policies[3]); /* the /24 over the /16 */
	config_match(&cfg, "/batch", AF_INET, a, &cg, &cidr);
	assert_ptr_equal(cg, &cfg.policies[0]);
	config_match(&cfg, "/batchx", AF_INET, a, &cg, &cidr); /* not below /batch */
	assert_null(cg);
	inet_pton(AF_INET, "198.18.200.1", a);
	config_match(&cfg, NULL, AF_INET, a, &cg, &cidr);
	assert_null(cg);
	assert_ptr_equal(cidr, &cfg.policies[2]);
	/* IPv4-mapped IPv6 counts as IPv4 */
	inet_pton(AF_INET6, "::ffff:198.18.1.5", a);
	config_match(&cfg, "/", AF_INET6, a, &cg, &cidr);
	assert_ptr_equal(cidr, &cfg.policies[3]);
	inet_pton(AF_INET6, "fd00:198:18:5::1", a);
	config_match(&cfg, "/", AF_INET6, a, &cg, &cidr);
	assert_ptr_equal(cidr, &cfg.policies[4]);
	inet_pton(AF_INET, "10.1.1.1", a);
	config_match(&cfg, "/", AF_INET, a, &cg, &cidr);
	assert_null(cidr);

	/* the budget a connection counts against: laid like the rest, CIDR over cgroup */
	struct est_config base = est_config_default(), est;
	enum config_mode mode;

	assert_int_equal(
		config_parse(
			"[cgroup /a]\nbudget = 1M\n[cidr 10.0.0.0/8]\nbudget = 2M\nheadroom = 3\n"
			"[cidr 192.168.0.0/16]\nmode = observe\n",
			"t.conf", &cfg, why, sizeof(why)),
		0);
	inet_pton(AF_INET, "10.1.1.1", a);
	assert_ptr_equal(config_settings_for(&cfg, &base, MODE_TUNE, "/a/b", AF_INET, a, &est,
					     &mode),
			 &cfg.policies[1]);
	assert_int_equal(cfg.policies[1].s.budget, 2 << 20);
	assert_float_equal(est.headroom, 3, 0);
	inet_pton(AF_INET, "192.168.1.1", a);
	assert_ptr_equal(config_settings_for(&cfg, &base, MODE_TUNE, "/a/b", AF_INET, a, &est,
					     &mode),
			 &cfg.policies[0]);
	assert_int_equal(mode, MODE_OBSERVE);
	assert_null(config_settings_for(&cfg, &base, MODE_TUNE, "/c", AF_INET, a, &est, &mode));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_every_key),
		cmocka_unit_test(errors_name_file_line_and_key),
		cmocka_unit_test(long_lines_refused),
		cmocka_unit_test(policies_match_most_specific),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
