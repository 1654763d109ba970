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
#include "runtime/loader.h"
#include "core/metrics.h"
#include "runtime/log.h"
#include "tcptune.skel.h"

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
		snprintf(why, len,
			 "kernel refused to load %s: %s (run as root; add -v for the verifier log)",
			 what, strerror(-err));
	else
		snprintf(why, len, "cannot load %s: %s (add -v for the libbpf and verifier log)",
			 what, strerror(-err));
	return err;
}

/* The programs and code paths this kernel takes (features_plan), chosen
 * before the load: the kernel refuses the object as a whole, so a program
 * it lacks must not be loaded, and a helper it lacks must sit behind a
 * const volatile flag, in code the verifier then drops unchecked. The
 * programs not named here are the required ones, which the plan checked. */
static void configure_for_kernel(struct tcptune_bpf *skel, const struct feature_plan *plan)
{
	bpf_program__set_autoload(skel->progs.tcptune_sendmsg, plan->app_events);
	bpf_program__set_autoload(skel->progs.tcptune_recvmsg, plan->app_events);
	bpf_program__set_autoload(skel->progs.tcptune_refresh, plan->walk == WALK_STORAGE_ITER);
	bpf_program__set_autoload(skel->progs.tcptune_owners, plan->owners);
	skel->rodata->use_marks = plan->marks;
	skel->rodata->netns_by_inode = plan->netns_by_inode;
	skel->rodata->iter_writes = plan->writeback == WRITEBACK_PASSES;
	skel->rodata->iter_cookie = plan->iter_cookie;
	skel->rodata->apply_on_callbacks = plan->writeback == WRITEBACK_CALLBACKS;
	skel->rodata->callbacks_on_demand = plan->callbacks_on_demand;
}

/* The map sizes and the settings of the run. */
static void configure_for_run(struct tcptune_bpf *skel, const struct loader_opts *opts)
{
	bpf_map__set_max_entries(skel->maps.flows, opts->max_flows);
	bpf_map__set_max_entries(skel->maps.targets, opts->max_flows);
	if (opts->moved_ring_bytes) {
		bpf_map__set_max_entries(skel->maps.moved, opts->moved_ring_bytes);
		skel->rodata->moved_ring_bytes = opts->moved_ring_bytes;
	}
	skel->rodata->tune_enabled = opts->tune;
	skel->rodata->min_buf = opts->min_buf;
	skel->rodata->max_buf = opts->max_buf;
	if (!opts->whole_host) {
		skel->rodata->nr_scopes = (__u32)opts->nr_scopes;
		for (int i = 0; i < opts->nr_scopes; i++)
			skel->rodata->scope_cgroup_ids[i] = opts->scopes[i].id;
	}
	/* the skeleton's attach is for the tracepoints: sockops goes to each
	 * cgroup in scope, and the agent runs the iterators from its own links
	 * (the walk's on the marks map) */
	bpf_program__set_autoattach(skel->progs.tcptune_sockops, false);
	bpf_program__set_autoattach(skel->progs.tcptune_iter, false);
	bpf_program__set_autoattach(skel->progs.tcptune_refresh, false);
	bpf_program__set_autoattach(skel->progs.tcptune_owners, false);
}

/* iter/tcp, and the optional iterators configure_for_kernel loaded. */
static int attach_iterators(struct loader *ld, char *why, size_t len)
{
	ld->iter_link = bpf_program__attach_iter(ld->skel->progs.tcptune_iter, NULL);
	if (!ld->iter_link)
		goto fail;
	if (bpf_program__autoload(ld->skel->progs.tcptune_owners)) {
		ld->owners_link = bpf_program__attach_iter(ld->skel->progs.tcptune_owners, NULL);
		if (!ld->owners_link)
			goto fail;
	}
	if (bpf_program__autoload(ld->skel->progs.tcptune_refresh)) {
		union bpf_iter_link_info marks = { .map.map_fd =
							   bpf_map__fd(ld->skel->maps.marks) };
		LIBBPF_OPTS(bpf_iter_attach_opts, on_marks, .link_info = &marks,
			    .link_info_len = sizeof(marks));

		ld->refresh_link =
			bpf_program__attach_iter(ld->skel->progs.tcptune_refresh, &on_marks);
		if (!ld->refresh_link)
			goto fail;
	}
	return 0;
fail : {
	int err = -errno;

	snprintf(why, len, "cannot attach the iterator programs: %s", strerror(-err));
	return err;
}
}

/* The tracepoints, sockops on each cgroup in scope, the iterators. */
static int attach_programs(struct loader *ld, const struct loader_opts *opts, char *why, size_t len)
{
	int err = tcptune_bpf__attach(ld->skel);

	if (err) {
		snprintf(why, len, "cannot attach the tracepoint programs: %s", strerror(-err));
		return err;
	}
	fault_point("attaching");
	for (int i = 0; i < opts->nr_scopes; i++) {
		ld->sockops_links[i] = bpf_program__attach_cgroup(ld->skel->progs.tcptune_sockops,
								  opts->scopes[i].fd);
		if (!ld->sockops_links[i]) {
			err = -errno;
			snprintf(why, len, "cannot attach sockops to cgroup %s: %s",
				 opts->scopes[i].path, strerror(errno));
			return err;
		}
	}
	return attach_iterators(ld, why, len);
}

void loader_init(struct loader *ld)
{
	memset(ld, 0, sizeof(*ld));
	ld->flows_fd = ld->counters_fd = ld->status_fd = ld->targets_fd = ld->dests_fd =
		ld->bpffs_fd = -1;
	ld->moved_fd = -1;
}

/* The bpffs the maps are pinned in: mounted where it is not, and held
 * open for loader_stop. */
static int open_pin_root(struct loader *ld, char *why, size_t len)
{
	int err = bpffs_ensure(&ld->bpffs_mounted);

	if (err) {
		snprintf(why, len, "bpffs is not mounted at /sys/fs/bpf and mounting it failed: %s",
			 strerror(-err));
		return err;
	}
	ld->bpffs_fd = open_bpffs();
	if (ld->bpffs_fd < 0) {
		err = -errno;
		snprintf(why, len, "cannot open %s: %s", BPFFS_PATH, strerror(errno));
	}
	return err;
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
	err = open_pin_root(ld, why, len);
	if (err)
		goto cleanup;
	ld->skel = tcptune_bpf__open_opts(&open_opts);
	if (!ld->skel) {
		err = -errno;
		snprintf(why, len, "cannot open the BPF object: %s", strerror(errno));
		goto cleanup;
	}
	configure_for_kernel(ld->skel, &ld->plan);
	configure_for_run(ld->skel, opts);

	/* the load creates the maps and pins them by name */
	ld->pinned = true;
	err = tcptune_bpf__load(ld->skel);
	if (err) {
		load_error("the BPF programs (bpf/tcptune.bpf.c)", err, why, len);
		goto cleanup;
	}
	fault_point("pinned");
	ld->flows_fd = bpf_map__fd(ld->skel->maps.flows);
	ld->counters_fd = bpf_map__fd(ld->skel->maps.counters);
	ld->moved_fd = bpf_map__fd(ld->skel->maps.moved);
	ld->status_fd = bpf_map__fd(ld->skel->maps.status);
	ld->targets_fd = bpf_map__fd(ld->skel->maps.targets);
	ld->dests_fd = bpf_map__fd(ld->skel->maps.dest_sizes);
	fault_point("loaded");

	err = attach_programs(ld, opts, why, len);
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
	ld->skel->data->refresh_jiffies = (__u64)(seconds * ld->skel->kconfig->CONFIG_HZ);
}

void loader_set_tick(struct loader *ld, __u64 pass)
{
	ld->skel->bss->pass = pass;
	ld->skel->bss->tick = (__u32)pass;
}

void loader_set_iter_pass(struct loader *ld, enum iter_pass_kind kind)
{
	ld->skel->bss->iter_pass_kind = kind;
}

__u32 *loader_dests_learned(struct loader *ld)
{
	return &ld->skel->bss->dests_learned;
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
	tcptune_bpf__destroy(ld->skel);
	ld->skel = NULL;
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

bool loader_loaded(const struct loader *ld, const char *program)
{
	const struct bpf_program *prog;

	if (!ld->skel)
		return false;
	prog = bpf_object__find_program_by_name(ld->skel->obj, program);
	return prog && bpf_program__fd(prog) >= 0;
}

size_t loader_program_stats(struct loader *ld, struct metrics_program *out, size_t max)
{
	struct bpf_program *prog;
	size_t filled = 0;

	if (!ld->skel)
		return 0;
	bpf_object__for_each_program(prog, ld->skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (filled == max)
			break;
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		out[filled++] = (struct metrics_program){ .name = bpf_program__name(prog),
							  .runs = info.run_cnt,
							  .run_ns = info.run_time_ns };
	}
	return filled;
}

int loader_enable_stats(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	return fd < 0 ? -errno : fd;
}
