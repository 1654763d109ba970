// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* btf_rename IN OUT NAME...: copy a BTF file, renaming each named type to
 * NAME_hidden. Bind-mounted over /sys/kernel/btf/vmlinux in a private mount
 * namespace, it shows the agent a kernel that lacks those types: that is how
 * the tests check the error for a kernel without a tracepoint or iterator. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>

int main(int argc, char **argv)
{
	struct btf *src, *dst;
	const void *raw;
	__u32 size, n;
	FILE *out;
	int renamed = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: btf_rename IN OUT NAME...\n");
		return 2;
	}
	src = btf__parse(argv[1], NULL);
	if (!src) {
		fprintf(stderr, "btf_rename: cannot parse %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	dst = btf__new_empty();
	n = btf__type_cnt(src);
	for (__u32 id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(src, id);
		const char *name = btf__name_by_offset(src, t->name_off);
		int new_id = btf__add_type(dst, src, t);

		if (new_id < 0) {
			fprintf(stderr, "btf_rename: cannot copy type %u\n", id);
			return 1;
		}
		for (int i = 3; i < argc; i++) {
			if (name && strcmp(name, argv[i]) == 0) {
				char hidden[256];
				/* the copy lives in dst's writable buffer */
				struct btf_type *copy =
					(struct btf_type *)btf__type_by_id(dst, (__u32)new_id);

				snprintf(hidden, sizeof(hidden), "%s_hidden", argv[i]);
				copy->name_off = (__u32)btf__add_str(dst, hidden);
				renamed++;
			}
		}
	}
	raw = btf__raw_data(dst, &size);
	out = fopen(argv[2], "w");
	if (!raw || !out || fwrite(raw, 1, size, out) != size || fclose(out)) {
		fprintf(stderr, "btf_rename: cannot write %s\n", argv[2]);
		return 1;
	}
	if (renamed != argc - 3) {
		fprintf(stderr, "btf_rename: renamed %d of %d types\n", renamed, argc - 3);
		return 1;
	}
	return 0;
}
