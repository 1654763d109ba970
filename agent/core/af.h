/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* AF_INET and AF_INET6, the families of struct conn_stats and of the
 * destination keys, for the pure modules, which include no socket header:
 * Linux's values (bpf/flow.bpf.h has the same). For .c files, after their
 * other headers. */
#ifndef TCPTUNE_AF_H
#define TCPTUNE_AF_H
#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#endif
