/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Probing the kernel under the agent: which features of agent/core/kernel_features.h it
 * has, found by loading one minimal program each (bpf/probe.bpf.c). */
#ifndef TCPTUNE_PROBE_H
#define TCPTUNE_PROBE_H
#include "core/kernel_features.h"

/* Probes every feature not forced off (f->state preset by the caller:
 * FEATURE_FORCED_OFF is kept, anything else is probed). Returns 0, or -errno
 * when probing itself failed (the probe object could not be opened). */
int probe_features(struct features *f);

/* Everything the agent learns of the kernel at start: the features turned
 * off in the environment (TCPTUNE_FEATURES_OFF, for tests), the rest
 * probed, and the plan taken from them, each fallback logged. Returns 0, or
 * -1 with one line in why: a required feature is missing, or the list names
 * an unknown one. */
int probe_kernel(struct features *f, struct feature_plan *plan, char *why, size_t len);

#endif
