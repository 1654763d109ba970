// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The agent's BPF object: one object and one skeleton (build/tcptune.skel.h),
 * so each map and each global exists once, and the agent sizes the maps and
 * sets the flags once. One file per concern, included here:
 *  - track.bpf.c: connections closing, and applications' writes and reads;
 *  - sockops.bpf.c: connections established, sized from what was learned;
 *  - iter.bpf.c: the agent's passes over sockets.
 * The kernel accepts or refuses an object as a whole: the agent turns off,
 * before the load, each program its kernel lacks (agent/runtime/loader.c). */
#include "track.bpf.c"
#include "sockops.bpf.c"
#include "iter.bpf.c"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
