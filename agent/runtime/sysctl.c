// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/budget.h"
#include "runtime/faultpoint.h"
#include "runtime/log.h"
#include "core/parse.h"
#include "runtime/sysctl.h"

static const char *const names[] = { "net.core.wmem_max", "net.core.rmem_max" };
static const char *const paths[] = { "/proc/sys/net/core/wmem_max", "/proc/sys/net/core/rmem_max" };

static int read_value(const char *path, unsigned long long *v)
{
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%llu", v) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

static int write_value(const char *path, unsigned long long v)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%llu\n", v) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* The state file: one "name value" line per sysctl changed. */
static int restore_from_file(char *why, size_t len)
{
	FILE *f = fopen(TCPTUNE_SYSCTL_SAVED, "re");
	char name[64];
	unsigned long long v;
	int restored = 0, err = 0;

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fscanf(f, "%63s %llu", name, &v) == 2) {
		for (size_t i = 0; i < 2; i++) {
			unsigned long long now;

			if (strcmp(name, names[i]))
				continue;
			/* never raised (the raise failed, e.g. a read-only /proc/sys):
			 * nothing to write back, and the record must not outlive it */
			if (read_value(paths[i], &now) == 0 && now == v)
				continue;
			err = write_value(paths[i], v);
			if (err) {
				snprintf(why, len, "cannot restore %s to %llu: %s", name, v,
					 strerror(-err));
				fclose(f);
				return err;
			}
			log_info("restored %s to %llu", name, v);
			restored++;
		}
	}
	fclose(f);
	if (unlink(TCPTUNE_SYSCTL_SAVED) && errno != ENOENT) {
		snprintf(why, len, "cannot remove %s: %s", TCPTUNE_SYSCTL_SAVED, strerror(errno));
		return -errno;
	}
	return restored;
}

int sysctl_changes(struct sysctl_change *out, int max)
{
	FILE *f = fopen(TCPTUNE_SYSCTL_SAVED, "re");
	char name[64];
	unsigned long long v;
	int n = 0;

	if (!f)
		return 0;
	while (n < max && fscanf(f, "%63s %llu", name, &v) == 2) {
		for (size_t i = 0; i < 2; i++) {
			if (strcmp(name, names[i]))
				continue;
			out[n] = (struct sysctl_change){ .name = names[i], .was = v };
			if (read_value(paths[i], &out[n].now) == 0)
				n++;
		}
	}
	fclose(f);
	return n;
}

int sysctl_restore(char *why, size_t len)
{
	return restore_from_file(why, len);
}

int sysctl_raise_for(__u32 max_buf, char *why, size_t len)
{
	unsigned long long want = max_buf / 2, old[2];
	char saved[256];
	int fd, n = 0, err;

	for (size_t i = 0; i < 2; i++) {
		err = read_value(paths[i], &old[i]);
		if (err) {
			snprintf(why, len, "cannot read %s: %s", names[i], strerror(-err));
			return err;
		}
	}
	for (size_t i = 0; i < 2; i++)
		if (old[i] < want)
			n += snprintf(saved + n, sizeof(saved) - (size_t)n, "%s %llu\n", names[i],
				      old[i]);
	if (!n)
		return 0;
	/* first on disk, then changed: a kill in between leaves nothing unrecorded */
	fd = open(TCPTUNE_SYSCTL_SAVED, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, saved, (size_t)n) != n || fsync(fd)) {
		snprintf(why, len, "cannot record the old sysctl values in %s: %s",
			 TCPTUNE_SYSCTL_SAVED, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	fault_point("sysctl-recorded");
	for (size_t i = 0; i < 2; i++) {
		if (old[i] >= want)
			continue;
		err = write_value(paths[i], want);
		if (err) {
			snprintf(why, len, "cannot raise %s to %llu: %s", names[i], want,
				 strerror(-err));
			return err;
		}
		log_info("raised %s from %llu to %llu (for --max-buf), restored on exit", names[i],
			 old[i], want);
		fault_point("sysctl-raising");
	}
	return 0;
}

/* A small /proc file, whole, NUL-terminated. */
static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t n;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got + 1 < len && (n = read(fd, buf + got, len - 1 - got)) != 0) {
		if (n < 0) {
			err = -errno;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return err;
}

int tcp_mem_read(struct tcp_mem_state *m, char *why, size_t len)
{
	static const char tcp_mem[] = "/proc/sys/net/ipv4/tcp_mem",
			  sockstat[] = "/proc/net/sockstat";
	char buf[4096];
	__u64 pages[3], used;
	int err;

	err = read_text(tcp_mem, buf, sizeof(buf));
	if (err || parse_tcp_mem(buf, pages)) {
		snprintf(why, len, "cannot read %s: %s", tcp_mem,
			 err ? strerror(-err) : "not three page counts");
		return err ? err : -EINVAL;
	}
	err = read_text(sockstat, buf, sizeof(buf));
	if (err || parse_sockstat(buf, "TCP", "mem", &used)) {
		snprintf(why, len, "cannot read %s: %s", sockstat,
			 err ? strerror(-err) : "no TCP mem field");
		return err ? err : -EINVAL;
	}
	*m = (struct tcp_mem_state){
		.low = pages[0], .pressure = pages[1], .high = pages[2], .used = used
	};
	return 0;
}

int tcp_sockets_in_use(__u64 *n)
{
	char buf[4096];
	__u64 v6 = 0;
	int err = read_text("/proc/thread-self/net/sockstat", buf, sizeof(buf));

	if (err)
		return err;
	if (parse_sockstat(buf, "TCP", "inuse", n))
		return -EINVAL;
	/* IPv6 sockets are counted apart; no file without IPv6 */
	err = read_text("/proc/thread-self/net/sockstat6", buf, sizeof(buf));
	if (err && err != -ENOENT)
		return err;
	if (!err && parse_sockstat(buf, "TCP6", "inuse", &v6))
		return -EINVAL;
	*n += v6;
	return 0;
}

int tcp_established_hash(long *n)
{
	char buf[64];
	unsigned long long orphans;
	long v;
	int err = read_text("/proc/sys/net/ipv4/tcp_ehash_entries", buf, sizeof(buf));

	/* negative in a namespace that shares the initial namespace's hash */
	if (!err && sscanf(buf, "%ld", &v) == 1 && v != 0) {
		*n = v < 0 ? -v : v;
		return 0;
	}
	err = read_value("/proc/sys/net/ipv4/tcp_max_orphans", &orphans);
	if (err)
		return err;
	*n = orphans > LONG_MAX / 2 ? LONG_MAX : (long)orphans * 2;
	return 0;
}
