// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/parse.h"

int parse_decimal(const char *text, double *value, const char **why)
{
	char *end;
	double v;

	if (!text || !*text) {
		*why = "is empty";
		return -1;
	}
	/* plain decimal only: strtod would also take hex and leading blanks */
	if (strspn(text, "0123456789.+-eE") != strlen(text)) {
		*why = "is not a number";
		return -1;
	}
	errno = 0;
	v = strtod(text, &end);
	if (errno || *end || end == text || isnan(v) || isinf(v)) {
		*why = "is not a number";
		return -1;
	}
	*value = v;
	return 0;
}

int parse_count(const char *text, long *count)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || !*text || *end || v <= 0)
		return -1;
	*count = v;
	return 0;
}

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_octal(const char *src, size_t n, char *dst, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < len; i++) {
		if (src[i] == '\\' && i + 3 < n && is_octal(src[i + 1]) && is_octal(src[i + 2]) &&
		    is_octal(src[i + 3])) {
			dst[o++] = (char)(((src[i + 1] - '0') << 6) | ((src[i + 2] - '0') << 3) |
					  (src[i + 3] - '0'));
			i += 3;
		} else {
			dst[o++] = src[i];
		}
	}
	dst[o] = '\0';
}

bool mountinfo_match(const char *line, const char *fstype, char *buf, size_t len)
{
	/* id parent major:minor root mountpoint options [optional...] - fstype source super */
	const char *p = line, *mp = NULL, *sep;
	size_t mplen = 0, typelen = strlen(fstype);

	for (int field = 0; field < 5; field++) {
		const char *start = p;

		while (*p && *p != ' ')
			p++;
		if (field == 4) {
			mp = start;
			mplen = (size_t)(p - start);
		}
		if (!*p)
			return false;
		p++;
	}
	sep = strstr(p, " - ");
	if (!sep || !mp)
		return false;
	sep += 3;
	if (strncmp(sep, fstype, typelen) != 0 || sep[typelen] != ' ')
		return false;
	unescape_octal(mp, mplen, buf, len);
	return true;
}

bool path_within(const char *outer, const char *inner)
{
	size_t n = strlen(outer);

	if (n == 1 && outer[0] == '/')
		return inner[0] == '/';
	return strncmp(outer, inner, n) == 0 && (inner[n] == '\0' || inner[n] == '/');
}

int parse_size(const char *text, __u64 *bytes)
{
	char *end;
	unsigned long long v;
	__u64 unit = 1;

	if (!text || *text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'K':
	case 'k':
		unit = 1ULL << 10;
		end++;
		break;
	case 'M':
	case 'm':
		unit = 1ULL << 20;
		end++;
		break;
	case 'G':
	case 'g':
		unit = 1ULL << 30;
		end++;
		break;
	default:
		break;
	}
	if (*end || v > UINT64_MAX / unit)
		return -1;
	*bytes = v * unit;
	return 0;
}

int parse_fraction(const char *text, double lo, double hi, double *value)
{
	char *end;
	double v;

	if (!text || !*text || strspn(text, "0123456789.") != strlen(text))
		return -1;
	errno = 0;
	v = strtod(text, &end);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*value = v;
	return 0;
}

/* One unsigned decimal at *p (after blanks); advances *p past it. */
static int take_u64(const char **p, __u64 *v)
{
	char *end;
	unsigned long long x;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (**p < '0' || **p > '9')
		return -1;
	errno = 0;
	x = strtoull(*p, &end, 10);
	if (errno)
		return -1;
	*p = end;
	*v = x;
	return 0;
}

int parse_tcp_mem(const char *text, __u64 pages[3])
{
	const char *p = text;
	__u64 v[3];

	if (!text)
		return -1;
	for (int i = 0; i < 3; i++)
		if (take_u64(&p, &v[i]) || (*p && *p != ' ' && *p != '\t' && *p != '\n'))
			return -1;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p || v[0] > v[1] || v[1] > v[2])
		return -1;
	memcpy(pages, v, sizeof(v));
	return 0;
}

int parse_sockstat(const char *text, const char *proto, const char *field, __u64 *value)
{
	size_t plen = strlen(proto);
	const char *line = text;

	if (!text)
		return -1;
	for (; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
		const char *p = line + plen + 1, *eol = strchr(line, '\n');

		if (strncmp(line, proto, plen) || line[plen] != ':')
			continue;
		/* "TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1": name value pairs */
		while (*p == ' ' && (!eol || p < eol)) {
			const char *name = ++p;
			size_t len = strcspn(name, " \n");
			__u64 v;

			p = name + len;
			if (take_u64(&p, &v) || (*p && *p != ' ' && *p != '\n'))
				return -1;
			if (len == strlen(field) && !strncmp(name, field, len)) {
				*value = v;
				return 0;
			}
		}
		return -1;
	}
	return -1;
}
