#!/usr/bin/env bash
# boot.sh NAME COMMAND [ARG...]: boots the Debian kernel NAME (common.sh;
# fetch.sh gets it) under qemu (TCG) with this machine's root filesystem
# shared read-only over 9p (and a tmpfs overlay on it in the guest, so the
# guest may write anywhere; nothing reaches the host), runs COMMAND there as
# root in the current directory, and exits with COMMAND's exit code.
# COMMAND's output streams here through the serial console.
#
# The guest has no network device (only what it makes: lo, namespaces, veth).
# Variables: BOOT_TIMEOUT (seconds, 900) for the whole boot and run;
# GUEST_MEM (MiB, 2048), GUEST_SMP (2), GUEST_TCG_THREAD (single, or multi
# for a host thread per vCPU); GUEST_ENV names of variables passed on to
# COMMAND (TESTS_IN_GUEST, TCPTUNE, TCPTUNE_*, GUEST_TEST_TIMEOUT and
# GUEST_AGENT_* always are; COMMAND also gets TCPTUNE_KERNEL=NAME and
# TCPTUNE_KERNEL_VERSION, the kernel's release); KERNEL_CACHE
# (common.sh); KERNEL_LOG_DIR (build/kernels): NAME.console.log (the serial
# console) and NAME.dmesg.log (the guest kernel's log after COMMAND);
# GUEST_9P (9p mount options), GUEST_ROOT (overlay, or ro: the 9p tree only,
# read-only, and no modules unless the host has a /lib/modules); GUEST_CPU
# (max), GUEST_APPEND (more kernel parameters); QEMU.
# Exit: COMMAND's code; 77 the kernel cannot be fetched (fetch.sh says why);
# 124 timed out; 125 the guest did not run COMMAND or did not report (the
# console log says why); 2 usage.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
PROJECT=$(cd "$HERE/../.." && pwd)

[ $# -ge 2 ] && kernel_row "$1" || {
	echo "usage: $0 NAME COMMAND [ARG...] (NAME one of: $(echo $DEFAULT_KERNELS))" >&2
	exit 2
}
NAME=$1
shift
BOOT_TIMEOUT=${BOOT_TIMEOUT:-900}
GUEST_MEM=${GUEST_MEM:-2048}
GUEST_SMP=${GUEST_SMP:-2}
# One host thread runs all vCPUs in turn. With a thread per vCPU (qemu 7.2),
# a vCPU can still run a translated int3 that another vCPU has already
# patched back to the final instruction (the kernel's text_poke_bp when a
# tracepoint is attached or detached), and the guest dies on "Oops: int3" at
# a tracepoint site on a busy syscall path: seen on 6.12 in sock_recvmsg
# and sock_write_iter with the bytes under RIP already final.
GUEST_TCG_THREAD=${GUEST_TCG_THREAD:-single}
# cache=loose: the host tree does not change under a run; msize: fewer round
# trips (measured: cache=loose, none or mmap make no difference that shows
# through the cost of TCG itself)
GUEST_9P=${GUEST_9P:-msize=262144,cache=loose}
GUEST_ROOT=${GUEST_ROOT:-overlay}
KERNEL_LOG_DIR=${KERNEL_LOG_DIR:-$PROJECT/build/kernels}
QEMU=${QEMU:-qemu-system-x86_64}
# modules the initramfs loads (with what they depend on): the 9p root and
# the overlay on it (the CPU's RDRAND seeds the RNG: random.trust_cpu=on)
INITRD_MODULES="virtio_pci 9pnet_virtio 9p overlay"

log() { echo "boot $NAME: $*" >&2; }
for t in "$QEMU" busybox cpio gzip modprobe; do
	command -v "$t" >/dev/null || { log "$t not found (tests/install-deps.sh installs it)"; exit 125; }
done
[ "$(id -u)" = 0 ] || { log "must run as root (the guest's root is this machine's)"; exit 125; }
case $PWD in /proc | /proc/* | /sys | /sys/* | /dev | /dev/*)
	log "cannot run in $PWD"
	exit 2
	;;
esac

bash "$HERE/fetch.sh" "$NAME" || exit $?
KDIR=$KERNEL_CACHE/$NAME
. "$KDIR/kernel.env"

JOB=
QEMU_PID=
STREAM_PID=
cleanup() {
	exec >/dev/null 2>&1
	[ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null && wait "$QEMU_PID" 2>/dev/null
	[ -n "$STREAM_PID" ] && kill "$STREAM_PID" 2>/dev/null
	if [ -n "$JOB" ]; then
		[ -e "$JOB/console.log" ] && keep_logs 2>/dev/null
		rm -rf "$JOB"
	fi
}
trap cleanup EXIT
# killed with the reader of our output (a pipeline's process group), a write
# (bash reporting the signal) must not stop the cleanup: EPIPE, not SIGPIPE
trap '' PIPE
trap 'exit 130' INT TERM HUP

# The initramfs: busybox, init.sh, the modules (decompressed: busybox insmod
# reads plain .ko only). Cached per kernel, keyed on what goes in it.
initramfs() {
	local deps= key out tmp m f args base
	local -A seen=()
	# a module that is not there at all (neither built in nor a .ko) is left out:
	# init.sh then says what it could not mount
	for m in $INITRD_MODULES; do
		f=$(modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" 2>&1) || {
			log "no module $m in $KPKG: $f"
			continue
		}
		deps+=$f$'\n'
	done
	key=$( (cat "$HERE/init.sh" "$(command -v busybox)"; echo "$deps") | sha256sum | cut -c1-16)
	out=$KDIR/initramfs-$key.cpio.gz
	if [ ! -s "$out" ]; then
		tmp=$(mktemp -d "$KDIR/.initramfs.XXXXXX") || return 1
		mkdir -p "$tmp"/{bin,dev,proc,sys,tmp,modules}
		cp "$(command -v busybox)" "$tmp/bin/busybox"
		for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$tmp/bin/$a"; done
		install -m 0755 "$HERE/init.sh" "$tmp/init"
		: >"$tmp/modules/order"
		# "insmod /path/x.ko[.xz] [params]" in load order; "builtin x" for built-in ones
		while read -r m f args; do
			[ "$m" = insmod ] || continue
			base=${f##*/}
			base=${base%.xz} base=${base%.zst} base=${base%.gz}
			[ -n "${seen[$base]:-}" ] && continue
			seen[$base]=1
			case $f in
			*.xz) xz -dc "$f" >"$tmp/modules/$base" ;;
			*.zst) zstd -qdc "$f" >"$tmp/modules/$base" ;;
			*.gz) gzip -dc "$f" >"$tmp/modules/$base" ;;
			*) cp "$f" "$tmp/modules/$base" ;;
			esac || { log "cannot unpack $f"; rm -rf "$tmp"; return 1; }
			echo "$base $args" >>"$tmp/modules/order"
		done <<<"$deps"
		(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp.cpio.gz" &&
			mv "$tmp.cpio.gz" "$out"
		rm -rf "$tmp" "$tmp.cpio.gz"
		# older images of this kernel's
		find "$KDIR" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "${out##*/}" -delete
	fi
	[ -s "$out" ] && INITRD=$out
}
exec 9>"$KDIR/.initramfs.lock"
flock 9
initramfs || { log "cannot make the initramfs"; exit 125; }
flock -u 9

# The job: where and what to run, read by init.sh through the 9p root.
JOB=$(mktemp -d /tmp/tcptune-guest.XXXXXX)
{
	echo "KNAME='$NAME'"
	echo "KVER='$KVER'"
	printf 'KDIR=%q\n' "$KDIR"
	printf 'JOBCWD=%q\n' "$PWD"
} >"$JOB/job.env"
{
	echo "# run by init.sh in the guest"
	printf 'cd %q || exit 125\n' "$PWD"
	for v in TESTS_IN_GUEST TCPTUNE GUEST_TEST_TIMEOUT $(compgen -v GUEST_AGENT_) $(compgen -v TCPTUNE_) ${GUEST_ENV:-}; do
		[ -n "${!v+x}" ] && printf 'export %s=%q\n' "$v" "${!v}"
	done
	printf 'export TCPTUNE_KERNEL=%q TCPTUNE_KERNEL_VERSION=%q\n' "$NAME" "$KVER"
	printf 'exec'
	printf ' %q' "$@"
	echo
} >"$JOB/job.sh"

# the logs are written in the job's directory (boots may run side by side)
# and moved to KERNEL_LOG_DIR at the end
CONSOLE=$JOB/console.log
DMESG=$JOB/dmesg.log
: >"$CONSOLE"
: >"$DMESG"
keep_logs() {
	mkdir -p "$KERNEL_LOG_DIR" &&
		mv -f "$CONSOLE" "$KERNEL_LOG_DIR/$NAME.console.log" && mv -f "$DMESG" "$KERNEL_LOG_DIR/$NAME.dmesg.log" &&
		CONSOLE=$KERNEL_LOG_DIR/$NAME.console.log
}
APPEND="console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off random.trust_cpu=on ${GUEST_APPEND:-}"
APPEND+=" tcptune.job=$JOB tcptune.9p=$GUEST_9P tcptune.root=$GUEST_ROOT"

start=$EPOCHREALTIME
# kvm: guests hang on these machines (KERNEL-NOTES.md); TCG it is
"$QEMU" -accel tcg,thread="$GUEST_TCG_THREAD" -cpu "${GUEST_CPU:-max}" -m "$GUEST_MEM" -smp "$GUEST_SMP" \
	-nodefaults -no-user-config -nographic -no-reboot \
	-kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$INITRD" -append "$APPEND" \
	-chardev file,id=con,path="$CONSOLE" -serial chardev:con \
	-chardev file,id=kmsg,path="$DMESG" -serial chardev:kmsg \
	-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
	-nic none \
	</dev/null >"$JOB/qemu.err" 2>&1 &
QEMU_PID=$!

# The console as it comes, without CRs, terminal escapes (SeaBIOS's), the
# firmware's lines and the markers; the time the command started (init.sh's
# TCPTUNE_GUEST_START) goes to $JOB/started.
stream() {
	local l
	while IFS= read -r l || [ -n "$l" ]; do
		case $l in
		TCPTUNE_GUEST_START*) echo "$EPOCHREALTIME" >"$JOB/started" ;;
		TCPTUNE_GUEST_* | "["*"] reboot: Power down") ;;
		*) printf '%s\n' "$l" ;;
		esac
	done
}
clean() {
	sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' \
		-e '/^SeaBIOS (version/d' -e '/^Booting from ROM\.*$/d' -e 's/^Booting from ROM\.*//'
}
tail -n +1 -s 0.1 -F --pid="$QEMU_PID" "$CONSOLE" 2>/dev/null | clean | stream &
STREAM_PID=$!
deadline=$((${start%.*} + BOOT_TIMEOUT))
timed_out=0
while kill -0 "$QEMU_PID" 2>/dev/null; do
	if [ "${EPOCHREALTIME%.*}" -ge "$deadline" ]; then
		timed_out=1
		kill "$QEMU_PID" 2>/dev/null
		break
	fi
	sleep 0.2
done
wait "$QEMU_PID" 2>/dev/null
QEMU_PID=
wait "$STREAM_PID" 2>/dev/null
end=$EPOCHREALTIME
# seconds between two $EPOCHREALTIME values, one decimal
elapsed() { local us=$(( (${2/./} - ${1/./}) / 100000 )); echo "$((us / 10)).$((us % 10))"; }
total=$(elapsed "$start" "$end")
if [ -s "$JOB/started" ]; then
	started=$(cat "$JOB/started")
	boot=$(elapsed "$start" "$started") run=$(elapsed "$started" "$end")
else
	boot=- run=-
fi
[ -n "${BOOT_STATS:-}" ] && echo "boot_s=$boot run_s=$run total_s=$total" >"$BOOT_STATS"

marker=$(clean <"$CONSOLE" | grep -a '^TCPTUNE_GUEST_' | tail -1)
keep_logs
case $marker in
TCPTUNE_GUEST_EXIT=*)
	rc=${marker#TCPTUNE_GUEST_EXIT=}
	log "$KVER: exit $rc (boot ${boot} s, command ${run} s, total ${total} s)"
	exit "$rc"
	;;
TCPTUNE_GUEST_ERROR=*) log "the guest failed before the command: ${marker#*=}" ;;
*)
	if [ "$timed_out" = 1 ]; then
		log "timed out after ${BOOT_TIMEOUT}s (BOOT_TIMEOUT); console: $CONSOLE"
		exit 124
	fi
	log "the guest stopped without reporting after ${total} s (console: $CONSOLE)"
	oops=$(oops_summary "$CONSOLE")
	[ -n "$oops" ] && log "guest kernel: $oops"
	;;
esac
[ -s "$JOB/qemu.err" ] && log "qemu: $(head -3 "$JOB/qemu.err")"
clean <"$CONSOLE" | tail -5 | sed 's/^/  | /' >&2
exit 125
