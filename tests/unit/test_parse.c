// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests for agent/core/parse.c and agent/runtime/listen.c: command-line
 * values, /proc/self/mountinfo, tcp_mem, sockstat and the metrics listen
 * address. The options' bounds are tests/unit/test_options.c's. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "runtime/listen.h"
#include "core/parse.h"

/* ---- parse_count ------------------------------------------------------- */

#define COUNT_UNTOUCHED -777L

static void expect_count_ok(const char *text, long want)
{
	long c = COUNT_UNTOUCHED;

	if (parse_count(text, &c) != 0)
		fail_msg("parse_count(\"%s\") refused", text);
	assert_int_equal(c, want);
}

static void expect_count_bad(const char *text)
{
	long c = COUNT_UNTOUCHED;

	if (parse_count(text, &c) != -1)
		fail_msg("parse_count(\"%s\") accepted (%ld)", text, c);
	assert_int_equal(c, COUNT_UNTOUCHED);
}

static void count_accepts_positive_whole_numbers(void **state)
{
	char text[32];

	(void)state;
	expect_count_ok("1", 1);
	expect_count_ok("2", 2);
	expect_count_ok("42", 42);
	expect_count_ok("65536", 65536);
	expect_count_ok("16777216", 16777216);
	snprintf(text, sizeof(text), "%ld", LONG_MAX);
	expect_count_ok(text, LONG_MAX);
}

static void count_rejects_zero_negative_and_junk(void **state)
{
	char text[40];

	(void)state;
	expect_count_bad("");
	expect_count_bad("0");
	expect_count_bad("-0");
	expect_count_bad("-1");
	expect_count_bad("-65536");
	expect_count_bad("abc");
	expect_count_bad("12abc");
	expect_count_bad("1.5");
	expect_count_bad("1e3");
	expect_count_bad("10 ");
	expect_count_bad(" ");
	expect_count_bad("0x");
	/* one past LONG_MAX / LONG_MIN: ERANGE */
	snprintf(text, sizeof(text), "%lu", (unsigned long)LONG_MAX + 1);
	expect_count_bad(text);
	expect_count_bad("99999999999999999999999");
	expect_count_bad("-9223372036854775809");
}

/* ---- mountinfo_match --------------------------------------------------- */

/* Expect a match with this decoded mount point. */
static void expect_mount(const char *line, const char *fstype, const char *want)
{
	char buf[256];

	memset(buf, 'X', sizeof(buf));
	if (!mountinfo_match(line, fstype, buf, sizeof(buf)))
		fail_msg("no %s match in: %s", fstype, line);
	assert_string_equal(buf, want);
}

static void expect_no_mount(const char *line, const char *fstype)
{
	char buf[256] = "";

	if (mountinfo_match(line, fstype, buf, sizeof(buf)))
		fail_msg("unexpected %s match (\"%s\") in: %s", fstype, buf, line);
}

static void mountinfo_cgroup2_with_optional_field(void **state)
{
	(void)state;
	expect_mount(
		"35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
		"cgroup2", "/sys/fs/cgroup");
}

static void mountinfo_without_optional_fields(void **state)
{
	(void)state;
	expect_mount(
		"35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n",
		"cgroup2", "/sys/fs/cgroup");
	/* no trailing newline either */
	expect_mount("40 1 0:40 / /mnt/cg rw - cgroup2 none rw", "cgroup2", "/mnt/cg");
}

static void mountinfo_with_several_optional_fields(void **state)
{
	(void)state;
	expect_mount(
		"812 35 0:30 /app /run/cg/app rw,relatime shared:9 master:3 propagate_from:2 unbindable - cgroup2 cgroup2 rw\n",
		"cgroup2", "/run/cg/app");
}

static void mountinfo_other_filesystems(void **state)
{
	(void)state;
	expect_mount("29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n",
		     "ext4", "/");
	expect_mount(
		"37 23 0:32 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:13 - bpf bpf rw,mode=700\n",
		"bpf", "/sys/fs/bpf");
	expect_no_mount("29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n",
			"cgroup2");
	expect_no_mount("37 23 0:32 / /sys/fs/bpf rw,nosuid shared:13 - bpf bpf rw,mode=700\n",
			"cgroup2");
}

static void mountinfo_fstype_must_match_whole_word(void **state)
{
	const char *v1 =
		"33 24 0:28 / /sys/fs/cgroup/cpu rw,nosuid shared:10 - cgroup cgroup rw,cpu\n";
	const char *v2 =
		"35 24 0:30 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw\n";

	(void)state;
	/* cgroup v1 is not cgroup2, and "cgroup" is not a prefix match of "cgroup2" */
	expect_no_mount(v1, "cgroup2");
	expect_no_mount(v2, "cgroup");
	expect_no_mount(v2, "cgroup2x");
	expect_mount(v1, "cgroup", "/sys/fs/cgroup/cpu");
	expect_mount(v2, "cgroup2", "/sys/fs/cgroup/unified");
}

static void mountinfo_fstype_is_field_after_separator(void **state)
{
	(void)state;
	/* "cgroup2" as the source or in the options is not the type */
	expect_no_mount("50 1 0:50 / /mnt/x rw - tmpfs cgroup2 rw\n", "cgroup2");
	expect_no_mount("50 1 0:50 / /mnt/x rw,cgroup2 - tmpfs tmpfs rw,cgroup2\n", "cgroup2");
	/* an optional field that looks like a type does not count either */
	expect_no_mount("50 1 0:50 / /mnt/x rw cgroup2 - tmpfs tmpfs rw\n", "cgroup2");
}

static void mountinfo_decodes_escapes(void **state)
{
	(void)state;
	/* space, tab, newline and backslash are written as \ooo */
	expect_mount("60 35 0:30 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw\n", "cgroup2",
		     "/mnt/my cgroup");
	expect_mount("60 35 0:30 / /mnt/a\\011b rw - cgroup2 cgroup2 rw\n", "cgroup2", "/mnt/a\tb");
	expect_mount("60 35 0:30 / /mnt/a\\012b rw - cgroup2 cgroup2 rw\n", "cgroup2", "/mnt/a\nb");
	expect_mount("60 35 0:30 / /mnt/a\\134b rw - cgroup2 cgroup2 rw\n", "cgroup2", "/mnt/a\\b");
	expect_mount("60 35 0:30 / /mnt/a\\040\\040b rw - cgroup2 cgroup2 rw\n", "cgroup2",
		     "/mnt/a  b");
	/* " - " inside the mount point (escaped) does not confuse the separator search */
	expect_mount("60 35 0:30 / /mnt/a\\040-\\040b rw - cgroup2 cgroup2 rw\n", "cgroup2",
		     "/mnt/a - b");
	/* a backslash not followed by three octal digits is kept as it is (fuzz_cli found this) */
	expect_mount("60 35 0:30 / /mnt/a\\1\xcd\xc4"
		     "c rw - cgroup2 cgroup2 rw\n",
		     "cgroup2",
		     "/mnt/a\\1\xcd\xc4"
		     "c");
	expect_mount("60 35 0:30 / /mnt/a\\08b rw - cgroup2 cgroup2 rw\n", "cgroup2",
		     "/mnt/a\\08b");
}

static void mountinfo_escape_at_end_of_mount_point(void **state)
{
	(void)state;
	expect_mount("60 35 0:30 / /mnt/cg\\040 rw - cgroup2 cgroup2 rw\n", "cgroup2", "/mnt/cg ");
	expect_mount("60 35 0:30 / /mnt/cg\\134 rw shared:4 - cgroup2 cgroup2 rw\n", "cgroup2",
		     "/mnt/cg\\");
	expect_mount("60 35 0:30 / /\\040 rw - cgroup2 cgroup2 rw\n", "cgroup2", "/ ");
	expect_mount("60 35 0:30 / /mnt/x\\040\\011 rw - cgroup2 cgroup2 rw\n", "cgroup2",
		     "/mnt/x \t");
}

static void mountinfo_escape_in_root_field_is_not_the_mount_point(void **state)
{
	(void)state;
	expect_mount("61 35 0:30 /a\\040b /mnt/cg rw - cgroup2 cgroup2 rw\n", "cgroup2", "/mnt/cg");
}

static void mountinfo_truncates_to_buffer(void **state)
{
	const char *line = "35 24 0:30 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw\n";
	char buf[16];

	(void)state;
	memset(buf, 'X', sizeof(buf));
	assert_true(mountinfo_match(line, "cgroup2", buf, 5));
	assert_string_equal(buf, "/sys");
	/* nothing written past the length given */
	for (size_t i = 5; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 'X');

	memset(buf, 'X', sizeof(buf));
	assert_true(mountinfo_match(line, "cgroup2", buf, 1));
	assert_string_equal(buf, "");
	assert_int_equal(buf[1], 'X');

	/* exactly enough room */
	memset(buf, 'X', sizeof(buf));
	assert_true(mountinfo_match(line, "cgroup2", buf, sizeof("/sys/fs/cgroup")));
	assert_string_equal(buf, "/sys/fs/cgroup");
	assert_int_equal(buf[sizeof("/sys/fs/cgroup")], 'X');
}

static void mountinfo_truncates_before_escape(void **state)
{
	const char *line = "60 35 0:30 / /a\\040b rw - cgroup2 cgroup2 rw\n";
	char buf[16];

	(void)state;
	memset(buf, 'X', sizeof(buf));
	assert_true(mountinfo_match(line, "cgroup2", buf, 4));
	assert_string_equal(buf, "/a ");
	memset(buf, 'X', sizeof(buf));
	assert_true(mountinfo_match(line, "cgroup2", buf, 3));
	assert_string_equal(buf, "/a");
	assert_int_equal(buf[3], 'X');
}

static void mountinfo_rejects_malformed_lines(void **state)
{
	(void)state;
	expect_no_mount("", "cgroup2");
	expect_no_mount("\n", "cgroup2");
	expect_no_mount("garbage", "cgroup2");
	/* too few fields */
	expect_no_mount("35 24 0:30 /", "cgroup2");
	expect_no_mount("35 24 0:30 / /sys/fs/cgroup", "cgroup2");
	/* no separator */
	expect_no_mount("35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 cgroup2 cgroup2 rw\n",
			"cgroup2");
	/* separator but no type after it */
	expect_no_mount("35 24 0:30 / /sys/fs/cgroup rw - ", "cgroup2");
}

/* ---- path_within ------------------------------------------------------- */

static void path_within_same_and_below(void **state)
{
	(void)state;
	assert_true(path_within("/a/b", "/a/b"));
	assert_true(path_within("/a/b", "/a/b/c"));
	assert_true(path_within("/a/b", "/a/b/c/d"));
	assert_true(path_within("/a/b", "/a/b/"));
	assert_true(
		path_within("/sys/fs/cgroup/app.slice", "/sys/fs/cgroup/app.slice/web.service"));
}

static void path_within_sibling_with_common_prefix(void **state)
{
	(void)state;
	assert_false(path_within("/a/b", "/a/bc"));
	assert_false(path_within("/a/bc", "/a/b"));
	assert_false(path_within("/a/b", "/a/b.c"));
	assert_false(path_within("/a/b", "/a/b-c/d"));
	assert_false(path_within("/sys/fs/cgroup/app", "/sys/fs/cgroup/app.slice"));
}

static void path_within_above_and_unrelated(void **state)
{
	(void)state;
	assert_false(path_within("/a/b", "/a"));
	assert_false(path_within("/a/b/c", "/a/b"));
	assert_false(path_within("/a/b", "/"));
	assert_false(path_within("/a/b", "/x/y"));
	assert_false(path_within("/a/b", "/x/a/b"));
	assert_false(path_within("/a/b", ""));
}

static void path_within_root_outer(void **state)
{
	(void)state;
	assert_true(path_within("/", "/"));
	assert_true(path_within("/", "/a"));
	assert_true(path_within("/", "/a/b/c"));
	assert_true(path_within("/", "/sys/fs/cgroup"));
	assert_false(path_within("/", ""));
	assert_false(path_within("/", "a/b"));
}

static void path_within_is_not_symmetric(void **state)
{
	(void)state;
	assert_true(path_within("/sys/fs/cgroup", "/sys/fs/cgroup/user.slice"));
	assert_false(path_within("/sys/fs/cgroup/user.slice", "/sys/fs/cgroup"));
}

static void size_accepts_units(void **state)
{
	__u64 v = 0;

	(void)state;
	assert_int_equal(parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_size("65536", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(parse_size("64K", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(parse_size("64m", &v), 0);
	assert_int_equal(v, 64ULL << 20);
	assert_int_equal(parse_size("1G", &v), 0);
	assert_int_equal(v, 1ULL << 30);
}

static void size_rejects_junk(void **state)
{
	__u64 v = 7;

	(void)state;
	assert_int_equal(parse_size("", &v), -1);
	assert_int_equal(parse_size("-1", &v), -1);
	assert_int_equal(parse_size("1.5M", &v), -1);
	assert_int_equal(parse_size("12KB", &v), -1);
	assert_int_equal(parse_size("M", &v), -1);
	assert_int_equal(parse_size("99999999999999999999", &v), -1);
	assert_int_equal(parse_size("18014398509481984K", &v), -1); /* 2^54 K overflows */
	assert_int_equal(v, 7);
}

static void fraction_bounds(void **state)
{
	double v = -1;

	(void)state;
	assert_int_equal(parse_fraction("0.25", 0.0, 1.0, &v), 0);
	assert_true(v == 0.25);
	assert_int_equal(parse_fraction("1", 0.0, 1.0, &v), 0);
	assert_int_equal(parse_fraction("1.01", 0.0, 1.0, &v), -1);
	assert_int_equal(parse_fraction("-0.1", 0.0, 1.0, &v), -1);
	assert_int_equal(parse_fraction("0x1", 0.0, 1.0, &v), -1);
	assert_int_equal(parse_fraction("", 0.0, 1.0, &v), -1);
	assert_true(v == 1.0);
}

/* ---- /proc/sys/net/ipv4/tcp_mem and /proc/net/sockstat ------------------ */

static void tcp_mem_parses_three_pages(void **state)
{
	__u64 v[3] = { 1, 2, 3 };

	(void)state;
	assert_int_equal(parse_tcp_mem("287901\t383868\t575802\n", v), 0);
	assert_int_equal(v[0], 287901);
	assert_int_equal(v[1], 383868);
	assert_int_equal(v[2], 575802);
	assert_int_equal(parse_tcp_mem("10 20 30", v), 0);
	assert_int_equal(v[2], 30);
	assert_int_equal(parse_tcp_mem("5 5 5\n", v), 0);
}

static void tcp_mem_rejects_junk(void **state)
{
	__u64 v[3] = { 7, 7, 7 };

	(void)state;
	assert_int_equal(parse_tcp_mem("", v), -1);
	assert_int_equal(parse_tcp_mem(NULL, v), -1);
	assert_int_equal(parse_tcp_mem("1 2", v), -1);
	assert_int_equal(parse_tcp_mem("1 2 3 4", v), -1);
	assert_int_equal(parse_tcp_mem("1 2 x", v), -1);
	assert_int_equal(parse_tcp_mem("1 2 3x", v), -1);
	assert_int_equal(parse_tcp_mem("-1 2 3", v), -1);
	assert_int_equal(parse_tcp_mem("3 2 1", v), -1); /* thresholds go up */
	assert_int_equal(parse_tcp_mem("99999999999999999999 1 2", v), -1);
	assert_int_equal(v[0], 7);
}

static const char sockstat[] = "sockets: used 10\n"
			       "TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 415\n"
			       "UDP: inuse 0 mem 9\n"
			       "UDPLITE: inuse 0\n"
			       "RAW: inuse 0\n"
			       "FRAG: inuse 0 memory 0\n";

static void sockstat_tcp_mem(void **state)
{
	__u64 pages = 1;

	(void)state;
	assert_int_equal(parse_sockstat(sockstat, "TCP", "mem", &pages), 0);
	assert_int_equal(pages, 415); /* TCP's, not UDP's 9 */
	assert_int_equal(parse_sockstat("TCP: mem 3 inuse 2\n", "TCP", "mem", &pages), 0);
	assert_int_equal(pages, 3);
	assert_int_equal(parse_sockstat("TCP: inuse 2 mem 12", "TCP", "mem", &pages),
			 0); /* no newline */
	assert_int_equal(pages, 12);
	/* any field by name: inuse is per network namespace */
	assert_int_equal(parse_sockstat(sockstat, "TCP", "inuse", &pages), 0);
	assert_int_equal(pages, 1);
	assert_int_equal(parse_sockstat("TCP: inuse 0 orphan 0 tw 13535 alloc 1 mem 0\n", "TCP",
					"tw", &pages),
			 0);
	assert_int_equal(pages, 13535);
	assert_int_equal(parse_sockstat(sockstat, "TCP", "in", &pages), -1); /* whole names only */
	/* sockstat6: its own protocol names; "TCP" is not "TCP6" */
	assert_int_equal(parse_sockstat("TCP6: inuse 3\nUDP6: inuse 0\n", "TCP6", "inuse", &pages),
			 0);
	assert_int_equal(pages, 3);
	assert_int_equal(parse_sockstat("TCP6: inuse 3\n", "TCP", "inuse", &pages), -1);
	assert_int_equal(parse_sockstat(sockstat, "UDP", "mem", &pages), 0);
	assert_int_equal(pages, 9);
}

static void sockstat_rejects_missing_or_bad(void **state)
{
	__u64 pages = 5;

	(void)state;
	assert_int_equal(parse_sockstat("", "TCP", "mem", &pages), -1);
	assert_int_equal(parse_sockstat(NULL, "TCP", "mem", &pages), -1);
	assert_int_equal(parse_sockstat("UDP: inuse 0 mem 9\n", "TCP", "mem", &pages), -1);
	assert_int_equal(parse_sockstat("TCP6: inuse 0 mem 9\n", "TCP", "mem", &pages), -1);
	assert_int_equal(
		parse_sockstat("TCP: inuse 1 orphan 0\nUDP: mem 4\n", "TCP", "mem", &pages), -1);
	assert_int_equal(parse_sockstat("TCP: inuse 1 mem x\n", "TCP", "mem", &pages), -1);
	assert_int_equal(parse_sockstat("TCP: inuse 1 memory 8\n", "TCP", "mem", &pages), -1);
	assert_int_equal(pages, 5);
}

/* ---- parse_listen ------------------------------------------------------ */

static void listen_addresses(void **unused)
{
	(void)unused;
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	unsigned int len = 0;
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(parse_listen("127.0.0.1:9977", &ss, &len), 0);
	assert_int_equal(a4->sin_family, AF_INET);
	assert_int_equal(ntohs(a4->sin_port), 9977);
	assert_int_equal(a4->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(len, sizeof(*a4));
	assert_int_equal(parse_listen("0.0.0.0:1", &ss, &len), 0);
	assert_int_equal(ntohs(a4->sin_port), 1);

	assert_int_equal(parse_listen("[::1]:65535", &ss, &len), 0);
	assert_int_equal(a6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(a6->sin6_port), 65535);
	assert_string_equal(inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof(buf)), "::1");
	assert_int_equal(len, sizeof(*a6));

	static const char *const bad[] = {
		"",
		"off",
		"9977",
		":9977",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"127.0.0.1:-1",
		"127.0.0.1:99x",
		"127.0.0.1: 80",
		"localhost:9977",
		"256.0.0.1:80",
		"::1:9977",
		"[::1]",
		"[::1:80",
		"[]:80",
		"[127.0.0.1]:80",
		"1.2.3.4:5:6",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_listen(bad[i], &ss, &len) == 0)
			fail_msg("parse_listen(\"%s\") accepted", bad[i]);
	assert_int_equal(parse_listen(NULL, &ss, &len), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(count_accepts_positive_whole_numbers),
		cmocka_unit_test(count_rejects_zero_negative_and_junk),
		cmocka_unit_test(mountinfo_cgroup2_with_optional_field),
		cmocka_unit_test(mountinfo_without_optional_fields),
		cmocka_unit_test(mountinfo_with_several_optional_fields),
		cmocka_unit_test(mountinfo_other_filesystems),
		cmocka_unit_test(mountinfo_fstype_must_match_whole_word),
		cmocka_unit_test(mountinfo_fstype_is_field_after_separator),
		cmocka_unit_test(mountinfo_decodes_escapes),
		cmocka_unit_test(mountinfo_escape_at_end_of_mount_point),
		cmocka_unit_test(mountinfo_escape_in_root_field_is_not_the_mount_point),
		cmocka_unit_test(mountinfo_truncates_to_buffer),
		cmocka_unit_test(mountinfo_truncates_before_escape),
		cmocka_unit_test(mountinfo_rejects_malformed_lines),
		cmocka_unit_test(path_within_same_and_below),
		cmocka_unit_test(path_within_sibling_with_common_prefix),
		cmocka_unit_test(path_within_above_and_unrelated),
		cmocka_unit_test(path_within_root_outer),
		cmocka_unit_test(path_within_is_not_symmetric),
		cmocka_unit_test(size_accepts_units),
		cmocka_unit_test(size_rejects_junk),
		cmocka_unit_test(fraction_bounds),
		cmocka_unit_test(tcp_mem_parses_three_pages),
		cmocka_unit_test(tcp_mem_rejects_junk),
		cmocka_unit_test(sockstat_tcp_mem),
		cmocka_unit_test(sockstat_rejects_missing_or_bad),
		cmocka_unit_test(listen_addresses),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
