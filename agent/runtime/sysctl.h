/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* net.core.wmem_max / rmem_max: setsockopt() clamps SO_SNDBUF / SO_RCVBUF to
 * them, so tuning up to max_buf may need them raised. The old values are
 * written to a state file before anything changes, so a killed agent's
 * change is undone by the next start. */
#ifndef TCPTUNE_SYSCTL_H
#define TCPTUNE_SYSCTL_H
#include <linux/types.h>
#include <stddef.h>
#include "runtime/system.h"

#define TCPTUNE_SYSCTL_SAVED TCPTUNE_STATE_DIR "/sysctl.saved"

/* Raise wmem_max and rmem_max to at least max_buf / 2 (what setsockopt takes). */
int sysctl_raise_for(__u32 max_buf, char *why, size_t len);
/* Put back what the state file records: on exit, and at start after a killed
 * agent. Returns how many values were restored, or -errno. */
int sysctl_restore(char *why, size_t len);

/* What the state file records as changed: name, the value before, now. */
struct sysctl_change {
	const char *name;
	unsigned long long was, now;
};
/* Up to max entries; returns the count (0 when nothing was changed). */
int sysctl_changes(struct sysctl_change *out, int max);

struct tcp_mem_state;
/* net.ipv4.tcp_mem and /proc/net/sockstat's TCP mem, both global (the
 * agent's namespace does not matter). Returns 0 or -errno with *why set. */
int tcp_mem_read(struct tcp_mem_state *m, char *why, size_t len);

/* TCP sockets in use (hashed: listening or connected, not time-wait), IPv4
 * and IPv6, in the calling thread's network namespace. Returns 0 or -errno. */
int tcp_sockets_in_use(__u64 *n);

/* Buckets of the kernel's TCP established hash (net.ipv4.tcp_ehash_entries,
 * since 6.1; before, twice net.ipv4.tcp_max_orphans, which the kernel sets
 * to half of it unless an administrator changed it). Returns 0 or -errno. */
int tcp_established_hash(long *n);

#endif
