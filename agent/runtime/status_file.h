/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* `tcptune status`: what the running agent attached where, the sysctls it
 * changed and from what, its counters and the configuration in force. The
 * agent writes what only it knows (attachments, settings) to the state
 * directory at start and at each reload; status adds the live figures. */
#ifndef TCPTUNE_STATUS_FILE_H
#define TCPTUNE_STATUS_FILE_H
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include "core/kernel_features.h"
#include "runtime/settings.h"

#define TCPTUNE_STATUS_JSON TCPTUNE_STATE_DIR "/status.json"
#define TCPTUNE_STATUS_TEXT TCPTUNE_STATE_DIR "/status.txt"

struct status_attachment {
	const char *program; /* BPF program name */
	const char *type;    /* how it is attached */
	const char *target;  /* where */
};

struct status_info {
	int pid;
	long long started_unix;
	const struct settings *settings;
	const struct status_attachment *attachments;
	size_t nattachments;
	const struct features *features; /* what the kernel has, and the fallbacks taken */
	long max_flows;                  /* sockets tracked at most */
	bool max_flows_for_host;         /* the default, from the kernel's established hash */
};

/* The agent's part, as JSON (one object) or text lines. Pure. */
void status_render(FILE *out, const struct status_info *info, bool json);

/* Both renderings into the state directory (replaced atomically). Returns 0 or -errno. */
int status_write(const struct status_info *info);
/* Removes them (on exit). */
void status_remove(void);

#endif
