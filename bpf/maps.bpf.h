/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Every map of the agent's object (tcptune.bpf.c), declared once. libbpf
 * pins each by name under /sys/fs/bpf/tcptune/, where the agent's commands
 * (flows, top, status) and bpftool read them; the loader sizes flows and
 * targets (max_flows). Layouts: include/tcptune.h. */
#ifndef MAPS_BPF_H
#define MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tcptune.h"

/* One entry per tracked connection. Flows and targets are allocated per
 * entry, not up front: max_flows is sized for the most sockets the host may
 * hold, and a preallocated map would hold that memory on an idle host. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TCPTUNE_DEFAULT_MAX_FLOWS);
	__type(key, __u64); /* socket cookie */
	__type(value, struct conn_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

/* One per tracked socket, freed with it: what the light pass walks */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn_mark);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} marks SEC(".maps");

#define MOVED_RING_BYTES (1 << 20)
/* the ring's size as loaded: the agent sizes it for the host's sockets */
const volatile __u32 moved_ring_bytes = MOVED_RING_BYTES;

/* The sockets that moved, with their figures, and those that closed, since
 * the agent last read it: at each tick, and between ticks once it is a
 * quarter full (moved_wakeup in flow.bpf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* As loaded, moved_ring_bytes (at least this; agent/core/options.h
	 * sizes it): per MB, 6,553 records with figures (152 bytes and an
	 * 8-byte header each) or 43,690 heads alone (16 and 8). A tick that
	 * lists more has it read between ticks; what overflows it while a pass
	 * keeps the agent busy makes the next pass a walk, which misses
	 * nothing. */
	__uint(max_entries, MOVED_RING_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} moved SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32); /* enum tcptune_counter (array keys must be plain ints) */
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counters SEC(".maps");

/* Each connection's target, written by the agent (tune.bpf.h applies it) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TCPTUNE_DEFAULT_MAX_FLOWS);
	__type(key, __u64); /* socket cookie */
	__type(value, struct conn_target);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} targets SEC(".maps");

/* Sizes the agent learned per destination, for new connections (sockops) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TCPTUNE_MAX_DESTS);
	__type(key, struct dest_map_key);
	__type(value, struct conn_target);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dest_sizes SEC(".maps");

/* Read by the agent, flows and top; written by the agent only. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct agent_status);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} status SEC(".maps");

#endif /* MAPS_BPF_H */
