// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "core/estimate.h"
#include "core/options.h"
#include "core/parse.h"
#include "tcptune.h"

/* key_must is the key and must joined at compile time: one text each. */
#define BOUNDS(id, key_, flag_, unit_, min_, max_, above_min_, must_) \
	[id] = { .key = key_,                                         \
		 .flag = flag_,                                       \
		 .unit = unit_,                                       \
		 .min = min_,                                         \
		 .max = max_,                                         \
		 .above_min = above_min_,                             \
		 .must = must_,                                       \
		 .key_must = key_ " " must_ }

const struct option_bounds option_table[OPTIONS] = {
	BOUNDS(OPTION_INTERVAL, "interval", "--interval", UNIT_SECONDS, 0.01, 3600, false,
	       "must be between 0.01 and 3600 seconds"),
	BOUNDS(OPTION_MAX_FLOWS, "max_flows", "--max-flows", UNIT_COUNT, 1, 16777216, false,
	       "must be a whole number from 1 to 16777216"),
	/* EST_BUF_FLOOR and EST_BUF_CEILING say why */
	BOUNDS(OPTION_MIN_BUF, "min_buf", "--min-buf", UNIT_BYTES, EST_BUF_FLOOR, EST_BUF_CEILING,
	       false, "must be a size from 8K to 1G"),
	BOUNDS(OPTION_MAX_BUF, "max_buf", "--max-buf", UNIT_BYTES, EST_BUF_FLOOR, EST_BUF_CEILING,
	       false, "must be a size from 8K to 1G"),
	BOUNDS(OPTION_HEADROOM, "headroom", "--headroom", UNIT_NUMBER, 1, 16, false,
	       "must be a number from 1 to 16"),
	BOUNDS(OPTION_ALPHA, "alpha", "--alpha", UNIT_NUMBER, 0, 1, true,
	       "must be a number above 0 and at most 1"),
	BOUNDS(OPTION_HYSTERESIS, "hysteresis", NULL, UNIT_NUMBER, 0, 0.99, false,
	       "must be a number from 0 to 0.99"),
	/* 0 is unlimited. 1 TiB: far above any host's TCP memory, and no
	 * overflow in the sums of buffer sizes */
	BOUNDS(OPTION_BUDGET, "budget", "--budget", UNIT_BYTES, 0, 1ull << 40, false,
	       "must be 0 (unlimited) or a size up to 1024G"),
};

/* Each test is written so that NaN fails it. */
bool option_within(enum option_id id, double value)
{
	const struct option_bounds *o = &option_table[id];

	if (o->above_min ? !(value > o->min) : !(value >= o->min))
		return false;
	return value <= o->max;
}

/* A time: the decimal's own faults, and a time of zero or less, are told
 * apart from a time out of bounds. */
static int parse_seconds(const char *text, double *value, const char **why)
{
	if (parse_decimal(text, value, why))
		return -1;
	if (*value <= 0) {
		*why = "must be greater than zero";
		return -1;
	}
	return 0;
}

int option_parse(enum option_id id, const char *text, double *value, const char **why)
{
	const struct option_bounds *o = &option_table[id];
	double v = 0;
	int err = 0;

	*why = o->must;
	switch (o->unit) {
	case UNIT_SECONDS:
		err = parse_seconds(text, &v, why);
		break;
	case UNIT_COUNT: {
		long count;

		err = parse_count(text, &count);
		v = err ? 0 : (double)count;
		break;
	}
	case UNIT_BYTES: {
		__u64 bytes;

		err = parse_size(text, &bytes);
		v = err ? 0 : (double)bytes;
		break;
	}
	case UNIT_NUMBER:
		err = parse_fraction(text, o->min, o->max, &v);
		break;
	}
	if (err || !option_within(id, v))
		return -1;
	*value = v;
	return 0;
}

long max_flows_for_host(long established_hash)
{
	if (established_hash < MAX_FLOWS_DEFAULT_MIN)
		return MAX_FLOWS_DEFAULT_MIN;
	return established_hash < MAX_FLOWS_DEFAULT_MAX ? established_hash : MAX_FLOWS_DEFAULT_MAX;
}

long moved_ring_bytes(long max_flows)
{
	/* a record with figures */
	long record = (long)sizeof(struct moved_figures) + MOVED_RECORD_HEADER;
	long bytes = MOVED_RING_MIN;

	while (bytes < MOVED_RING_MAX && bytes < max_flows / 32 * record)
		bytes *= 2;
	return bytes;
}
