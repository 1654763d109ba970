/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* A testing aid: with TCPTUNE_FAULT=NAME in its environment the agent kills
 * itself (SIGKILL) at the fault point of that name, so that the end-to-end
 * tests can check what a crash at that moment leaves behind and that the
 * next start puts it right (tests/e2e/test_faults_kill.sh). Without the
 * variable a fault point is a pointer test. */
#ifndef TCPTUNE_FAULTPOINT_H
#define TCPTUNE_FAULTPOINT_H

void fault_point(const char *name);

#endif
