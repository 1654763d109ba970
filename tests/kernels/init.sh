#!/bin/sh
# /init of the initramfs boot.sh makes (busybox-static; its applets in /bin).
# Loads the 9p modules of the guest's kernel, mounts the host's root (9p,
# read-only) with a tmpfs overlay on it, makes a machine of it (proc, sys,
# dev, cgroup2, tmpfs /run /tmp /var/tmp, the kernel's modules on
# /lib/modules, lo up), chroots into it (PID 1 itself: see stage 2 below),
# runs the job boot.sh wrote, prints TCPTUNE_GUEST_EXIT=<its exit code> and
# powers off. Anything going wrong before the job runs is reported as
# TCPTUNE_GUEST_ERROR=<what>.
# Parameters (kernel command line): tcptune.job=DIR (host path: job.env and
# job.sh), tcptune.9p=OPTIONS (extra 9p mount options), tcptune.root=overlay|ro.
PATH=/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

off() {
	poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
}
die() {
	echo "TCPTUNE_GUEST_ERROR=$*"
	off
}

JOB= P9= ROOTMODE=overlay
for a in $(cat /proc/cmdline); do
	case $a in
	tcptune.job=*) JOB=${a#*=} ;;
	tcptune.9p=*) P9=${a#*=} ;;
	tcptune.root=*) ROOTMODE=${a#*=} ;;
	esac
done

# modules: the dependency order boot.sh wrote (built-in ones are not listed)
while read -r m args; do
	[ -n "$m" ] || continue
	# shellcheck disable=SC2086
	insmod "/modules/$m" $args 2>/tmp/insmod.err || echo "init: insmod $m: $(cat /tmp/insmod.err)"
done </modules/order

mkdir -p /ro /rw /new
mount -t 9p -o "trans=virtio,version=9p2000.L,ro${P9:+,$P9}" host /ro || die "cannot mount the host's root (9p)"
[ -r "/ro$JOB/job.env" ] || die "no job at $JOB (tcptune.job=)"
cp "/ro$JOB/job.env" "/ro$JOB/job.sh" / || die "cannot read the job in $JOB"
# KNAME KVER KDIR (host path of the unpacked kernel) JOBCWD
. /job.env

# A writable root: a tmpfs over the host's (read-only) tree; without overlayfs,
# the read-only tree itself (then /lib/modules must exist on the host).
NEW=/ro
if [ "$ROOTMODE" = overlay ]; then
	mount -t tmpfs -o mode=0755 rw /rw && mkdir -p /rw/upper /rw/work &&
		mount -t overlay -o lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work overlay /new && NEW=/new ||
		echo "init: no overlayfs: the root is read-only"
fi
mount -t proc proc "$NEW/proc" || die "mount proc"
mount -t sysfs sys "$NEW/sys" || die "mount sysfs"
mount -t devtmpfs dev "$NEW/dev" || die "mount devtmpfs"
mkdir -p "$NEW/dev/pts" "$NEW/dev/shm"
# what udev would add: bash's process substitution opens /dev/fd/N
ln -sf /proc/self/fd "$NEW/dev/fd"
mount -t devpts -o newinstance,ptmxmode=0666,gid=5,mode=0620 devpts "$NEW/dev/pts"
mount -t tmpfs -o mode=1777 shm "$NEW/dev/shm"
mount -t tmpfs -o mode=0755 run "$NEW/run" || die "mount tmpfs on /run"
mkdir -p "$NEW/run/lock" "$NEW/run/tcptune-guest" && chmod 1777 "$NEW/run/lock"
mount -t tmpfs -o mode=1777 tmp "$NEW/tmp" || die "mount tmpfs on /tmp"
mount -t tmpfs -o mode=1777 vartmp "$NEW/var/tmp" || die "mount tmpfs on /var/tmp"
mount -t cgroup2 cgroup2 "$NEW/sys/fs/cgroup" || echo "init: cannot mount cgroup2"
# /lib is a link to usr/lib on a merged-/usr host: mkdir follows it
mkdir -p "$NEW/lib/modules" 2>/dev/null
if [ -d "$NEW/lib/modules" ] && [ -d "/ro$KDIR/lib/modules" ]; then
	mount -o bind "/ro$KDIR/lib/modules" "$NEW/lib/modules" || echo "init: cannot mount the modules on /lib/modules"
else
	echo "init: no /lib/modules: modprobe will not find the kernel's modules"
fi
# the job's directory, where a tmpfs above hid it (a checkout under /tmp)
if [ ! -d "$NEW$JOBCWD" ] && [ -d "/ro$JOBCWD" ]; then
	mkdir -p "$NEW$JOBCWD" && mount -o bind "/ro$JOBCWD" "$NEW$JOBCWD"
fi
cp /job.sh "$NEW/run/tcptune-guest/job.sh" || die "cannot copy the job"
ip link set lo up
hostname "$KNAME" 2>/dev/null

# Stage 2 runs as PID 1 in the new root: PID 1 shares its root with the
# kernel's threads, so the kernel's own helpers (modprobe for module
# autoloading: `ip link add type veth`, sock_diag for ss, qdiscs) run there.
# A chroot in a child of PID 1 would leave them in the initramfs.
cat >"$NEW/run/tcptune-guest/stage2.sh" <<'EOT'
# PID 1 in the guest's root (tests/kernels/init.sh wrote it)
echo "TCPTUNE_GUEST_START uptime=$(cut -d' ' -f1 /proc/uptime)"
/bin/bash /run/tcptune-guest/job.sh </dev/null
rc=$?
echo
echo "TCPTUNE_GUEST_EXIT=$rc"
# the kernel's log, to the host's second serial port (boot.sh keeps it)
[ -e /dev/ttyS1 ] && dmesg >/dev/ttyS1 2>&1
busybox poweroff -f 2>/dev/null
echo o >/proc/sysrq-trigger
while :; do sleep 60; done
EOT
exec chroot "$NEW" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb LANG=C.UTF-8 TMPDIR=/tmp USER=root LOGNAME=root SHELL=/bin/bash \
	/bin/sh /run/tcptune-guest/stage2.sh
die "cannot chroot to the new root"
