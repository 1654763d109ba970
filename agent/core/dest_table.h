/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the estimator learned per destination: the buffer sizes a new
 * connection to it should start with (sockops sets them from the
 * "dest_sizes" map, which the agent copies this table into). Pure: no
 * libbpf, no system calls, no I/O, no allocation (the caller owns the
 * slots). */
#ifndef TCPTUNE_DEST_TABLE_H
#define TCPTUNE_DEST_TABLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A destination: a cgroup's connections to one /24 (IPv4) or /64 (IPv6). */
struct dest_key {
	uint64_t cgroup_id;
	uint16_t family;  /* AF_INET or AF_INET6; 0 = not a destination */
	uint8_t addr[16]; /* masked; IPv4 in the first 4 bytes */
};

struct dest_entry {
	struct dest_key key;
	uint32_t sndbuf, rcvbuf; /* smoothed learned sizes, 0 = none learned */
	uint64_t updated_us;     /* last dest_learn */
	bool used;
	bool dirty; /* sizes changed since the caller last copied them out (it clears it) */
};

/* Set-associative: a key hashes to one set of DEST_WAYS slots; a new key
 * replaces the least recently learned entry of its set. Bounded work per call. */
#define DEST_WAYS 8u

struct dest_table {
	struct dest_entry *slots; /* caller's storage, nsets x DEST_WAYS */
	size_t nsets;
	double alpha; /* EWMA weight of a newly learned size */
};

/* nslots: a non-zero multiple of DEST_WAYS; alpha in (0, 1]. Clears slots.
 * Returns 0, or -1 for bad arguments. */
int dest_table_init(struct dest_table *t, struct dest_entry *slots, size_t nslots, double alpha);

/* family AF_INET: addr holds IPv4 in its first 4 bytes. An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) becomes AF_INET. Other families give family 0. */
struct dest_key dest_key_make(uint64_t cgroup_id, uint16_t family, const uint8_t addr[16]);

/* Folds one connection's targets into its destination (0 = nothing for that
 * buffer), marking the entry dirty when its sizes change. When a new
 * destination replaces another, *evicted (if not NULL) is set to the key
 * that went, else its family to 0: a copy of the table kept elsewhere must
 * drop it too. Returns 0, or -1 when nothing was learned (bad key, both 0). */
int dest_learn(struct dest_table *t, const struct dest_key *key, uint32_t sndbuf, uint32_t rcvbuf,
	       uint64_t now_us, struct dest_key *evicted);

/* What was learned for key (0 for a buffer never learned). */
bool dest_lookup(const struct dest_table *t, const struct dest_key *key, uint32_t *sndbuf,
		 uint32_t *rcvbuf);

/* The next entry after *cursor (0 to start) whose sizes changed since the
 * caller last copied them out (it clears dirty once it has), or NULL. */
struct dest_entry *dest_next_dirty(struct dest_table *t, size_t *cursor);

#endif
