// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "runtime/faultpoint.h"
#include "iter.skel.h"
#include "runtime/loader.h"
#include "core/metrics.h"
#include "runtime/log.h"
#include "sockops.skel.h"
#include "track.skel.h"

/* The pins and their directory in the bpffs open at bpffs_fd: through the
 * fd, what an agent pinned is removed even if that bpffs was unmounted
 * under it (umount -l) while another mount namespace keeps it alive.
 * Returns how many pins were removed, or -errno. */
static int remove_pins_at(int bpffs_fd)
{
	const char *dir_name = strrchr(TCPTUNE_PIN_DIR, '/') + 1;
	int dir_fd = openat(bpffs_fd, dir_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC), removed = 0;
	struct dirent *e;
	DIR *d;

	if (dir_fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(dir_fd);
	if (!d) {
		int err = -errno;

		close(dir_fd);
		return err;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] != '.' && unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (unlinkat(bpffs_fd, dir_name, AT_REMOVEDIR) && errno != ENOENT)
		return -errno;
	return removed;
}

static int open_bpffs(void)
{
	return open(BPFFS_PATH, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int loader_remove_stale_pins(void)
{
	int fd = open_bpffs(), removed;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	removed = remove_pins_at(fd);
	close(fd);
	return removed;
}

static int load_error(const char *what, int err, char *why, size_t len)
{
	if (err == -EPERM || err == -EACCES)
		snprintf(why, len, "kernel refused to load %s: %s (run as root; add -v for the verifier log)",
			 what, strerror(-err));
	else
		snprintf(why, len, "cannot load %s: %s (add -v for the libbpf and verifier log)",
			 what, strerror(-err));
	return err;
}

/* The programs and code paths this kernel takes (features_plan). */
static void configure_for_kernel(struct loader *ld)
{
	const struct feature_plan *plan = &ld->plan;

	ld->track->rodata->use_marks = ld->sockops->rodata->use_marks = ld->iter->rodata->use_marks = plan->marks;
	ld->track->rodata->netns_by_inode = ld->sockops->rodata->netns_by_inode = ld->iter->rodata->netns_by_inode =
		plan->netns_by_inode;
	bpf_program__set_autoload(ld->track->progs.tcptune_sendmsg, plan->app_events);
	bpf_program__set_autoload(ld->track->progs.tcptune_recvmsg, plan->app_events);
	bpf_program__set_autoload(ld->iter->progs.tcptune_refresh, plan->walk == WALK_STORAGE_ITER);
	bpf_program__set_autoload(ld->iter->progs.tcptune_owners, plan->owners);
	ld->iter->rodata->iter_writes = plan->writeback == WRITEBACK_PASSES;
	ld->iter->rodata->iter_cookie = plan->iter_cookie;
	ld->sockops->rodata->apply_on_callbacks = plan->writeback == WRITEBACK_CALLBACKS;
	ld->sockops->rodata->callbacks_on_demand = ld->iter->rodata->callbacks_on_demand = plan->callbacks_on_demand;
}

/* iter/tcp, and the optional iterators the plan loaded. */
static int attach_iterators(struct loader *ld, char *why, size_t len)
{
	ld->iter_link = bpf_program__attach_iter(ld->iter->progs.tcptune_iter, NULL);
	if (!ld->iter_link)
		goto fail;
	if (ld->plan.owners) {
		ld->owners_link = bpf_program__attach_iter(ld->iter->progs.tcptune_owners, NULL);
		if (!ld->owners_link)
			goto fail;
	}
	if (ld->plan.walk == WALK_STORAGE_ITER) {
		union bpf_iter_link_info marks = { .map.map_fd = bpf_map__fd(ld->iter->maps.marks) };
		LIBBPF_OPTS(bpf_iter_attach_opts, on_marks, .link_info = &marks, .link_info_len = sizeof(marks));

		ld->refresh_link = bpf_program__attach_iter(ld->iter->progs.tcptune_refresh, &on_marks);
		if (!ld->refresh_link)
			goto fail;
	}
	return 0;
fail: {
	int err = -errno;

	snprintf(why, len, "cannot attach the iterator programs: %s", strerror(-err));
	return err;
}
}

void loader_init(struct loader *ld)
{
	memset(ld, 0, sizeof(*ld));
	ld->flows_fd = ld->counters_fd = ld->status_fd = ld->targets_fd = ld->dests_fd = ld->bpffs_fd = -1;
	ld->moved_fd = -1;
}

int loader_start(struct loader *ld, const struct loader_opts *opts, char *why, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .pin_root_path = TCPTUNE_PIN_DIR);
	char kconfig[32];
	int err;

	loader_init(ld);
	ld->plan = opts->plan;
	/* no configuration for libbpf to read CONFIG_HZ from: the measured one */
	if (ld->plan.config_hz) {
		snprintf(kconfig, sizeof(kconfig), "CONFIG_HZ=%u\n", ld->plan.config_hz);
		open_opts.kconfig = kconfig;
	}
	err = bpffs_ensure(&ld->bpffs_mounted);
	if (err) {
		snprintf(why, len, "bpffs is not mounted at /sys/fs/bpf and mounting it failed: %s",
			 strerror(-err));
		return err;
	}
	/* the instance the maps are pinned in, for loader_stop */
	ld->bpffs_fd = open_bpffs();
	if (ld->bpffs_fd < 0) {
		err = -errno;
		snprintf(why, len, "cannot open %s: %s", BPFFS_PATH, strerror(errno));
		goto cleanup;
	}

	ld->track = track_bpf__open_opts(&open_opts);
	ld->sockops = sockops_bpf__open_opts(&open_opts);
	ld->iter = iter_bpf__open_opts(&open_opts);
	if (!ld->track || !ld->sockops || !ld->iter) {
		err = -errno;
		snprintf(why, len, "cannot open the BPF objects: %s", strerror(errno));
		goto cleanup;
	}
	bpf_map__set_max_entries(ld->track->maps.flows, opts->max_flows);
	bpf_map__set_max_entries(ld->sockops->maps.flows, opts->max_flows);
	bpf_map__set_max_entries(ld->iter->maps.flows, opts->max_flows);
	ld->iter->rodata->tune_enabled = ld->sockops->rodata->tune_enabled = opts->tune;
	ld->iter->rodata->min_buf = ld->sockops->rodata->min_buf = opts->min_buf;
	ld->iter->rodata->max_buf = ld->sockops->rodata->max_buf = opts->max_buf;
	bpf_map__set_max_entries(ld->iter->maps.targets, opts->max_flows);
	bpf_map__set_max_entries(ld->sockops->maps.targets, opts->max_flows);
	configure_for_kernel(ld);
	if (!opts->whole_host) {
		ld->iter->rodata->nr_scopes = (__u32)opts->nr_scopes;
		for (int i = 0; i < opts->nr_scopes; i++)
			ld->iter->rodata->scope_cgroup_ids[i] = opts->scopes[i].id;
	}

	/* the first load creates and pins the maps, the others reuse the pins */
	ld->pinned = true;
	err = track_bpf__load(ld->track);
	if (err) {
		load_error("the tracepoint programs (bpf/track.bpf.c)", err, why, len);
		goto cleanup;
	}
	fault_point("pinned");
	err = sockops_bpf__load(ld->sockops);
	if (err) {
		load_error("the sockops program (bpf/sockops.bpf.c)", err, why, len);
		goto cleanup;
	}
	err = iter_bpf__load(ld->iter);
	if (err) {
		load_error("the iter/tcp program (bpf/iter.bpf.c)", err, why, len);
		goto cleanup;
	}
	ld->flows_fd = bpf_map__fd(ld->track->maps.flows);
	ld->counters_fd = bpf_map__fd(ld->track->maps.counters);
	ld->moved_fd = bpf_map__fd(ld->track->maps.moved);
	ld->status_fd = bpf_map__fd(ld->iter->maps.status);
	ld->targets_fd = bpf_map__fd(ld->iter->maps.targets);
	ld->dests_fd = bpf_map__fd(ld->iter->maps.dest_sizes);
	fault_point("loaded");

	err = track_bpf__attach(ld->track);
	if (err) {
		snprintf(why, len, "cannot attach the tracepoint programs: %s", strerror(-err));
		goto cleanup;
	}
	fault_point("attaching");
	for (int i = 0; i < opts->nr_scopes; i++) {
		ld->sockops_links[i] = bpf_program__attach_cgroup(ld->sockops->progs.tcptune_sockops,
								  opts->scopes[i].fd);
		if (!ld->sockops_links[i]) {
			err = -errno;
			snprintf(why, len, "cannot attach sockops to cgroup %s: %s", opts->scopes[i].path,
				 strerror(errno));
			goto cleanup;
		}
	}
	err = attach_iterators(ld, why, len);
	if (err)
		goto cleanup;
	fault_point("started");
	return 0;

cleanup:
	loader_stop(ld);
	return err;
}

void loader_set_refresh(struct loader *ld, double seconds)
{
	/* CONFIG_HZ as libbpf resolved it for the program */
	ld->track->data->refresh_jiffies = (__u64)(seconds * ld->track->kconfig->CONFIG_HZ);
}

void loader_set_tick(struct loader *ld, __u64 pass)
{
	ld->iter->bss->pass = pass;
	ld->iter->bss->tick = ld->track->bss->tick = ld->sockops->bss->tick = (__u32)pass;
}

void loader_set_iter_pass(struct loader *ld, enum iter_pass_kind kind)
{
	ld->iter->bss->iter_pass_kind = kind;
}

__u32 *loader_dests_learned(struct loader *ld)
{
	return &ld->sockops->bss->dests_learned;
}

void loader_stop(struct loader *ld)
{
	/* links first: nothing runs against maps that are going away */
	bpf_link__destroy(ld->iter_link);
	bpf_link__destroy(ld->owners_link);
	bpf_link__destroy(ld->refresh_link);
	ld->iter_link = ld->owners_link = ld->refresh_link = NULL;
	for (int i = 0; i < TCPTUNE_MAX_SCOPES; i++) {
		bpf_link__destroy(ld->sockops_links[i]);
		ld->sockops_links[i] = NULL;
	}
	iter_bpf__destroy(ld->iter);
	sockops_bpf__destroy(ld->sockops);
	track_bpf__destroy(ld->track);
	ld->iter = NULL;
	ld->sockops = NULL;
	ld->track = NULL;
	if (ld->pinned) {
		int err = remove_pins_at(ld->bpffs_fd);

		if (err < 0)
			log_error("cannot remove %s: %s", TCPTUNE_PIN_DIR, strerror(-err));
		ld->pinned = false;
	}
	if (ld->bpffs_fd >= 0)
		close(ld->bpffs_fd);
	ld->bpffs_fd = -1;
	bpffs_release(ld->bpffs_mounted);
	ld->bpffs_mounted = false;
}

#define MAX_PROGRAMS 8

static size_t add_programs(struct bpf_object *obj, struct bpf_program **progs, size_t n)
{
	struct bpf_program *p;

	bpf_object__for_each_program(p, obj) {
		if (n < MAX_PROGRAMS)
			progs[n++] = p;
	}
	return n;
}

size_t loader_program_stats(struct loader *ld, struct metrics_program *out, size_t max)
{
	struct bpf_program *progs[MAX_PROGRAMS];
	size_t n = 0, filled = 0;

	if (ld->track)
		n = add_programs(ld->track->obj, progs, n);
	if (ld->sockops)
		n = add_programs(ld->sockops->obj, progs, n);
	if (ld->iter)
		n = add_programs(ld->iter->obj, progs, n);
	for (size_t i = 0; i < n && filled < max; i++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(progs[i]);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		out[filled++] = (struct metrics_program){ .name = bpf_program__name(progs[i]),
							  .runs = info.run_cnt, .run_ns = info.run_time_ns };
	}
	return filled;
}

int loader_enable_stats(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	return fd < 0 ? -errno : fd;
}
