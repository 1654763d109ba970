// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/faultpoint.h"
#include "runtime/log.h"

void fault_point(const char *name)
{
	static const char *armed;
	static bool read;

	if (!read) {
		armed = getenv("TCPTUNE_FAULT");
		read = true;
	}
	if (!armed || strcmp(armed, name))
		return;
	/* said first, so a test can tell this kill from any other */
	log_info("TCPTUNE_FAULT=%s: killing the agent here (SIGKILL)", name);
	raise(SIGKILL);
}
