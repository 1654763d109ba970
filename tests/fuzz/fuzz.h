/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the libFuzzer targets share. */
#ifndef TCPTUNE_FUZZ_H
#define TCPTUNE_FUZZ_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold does not: say which, and abort (libFuzzer
 * reports it as a crash and saves the input). */
static inline __attribute__((format(printf, 1, 2), noreturn)) void fuzz_die(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#endif
