#!/usr/bin/env bash
# run.sh [NAME...]: the kernel matrix (`make test-kernels`). For each kernel
# (the arguments, else $KERNELS, else deb11-5.10 deb12-6.1 deb13-6.12): fetch
# it (a kernel that cannot be had is SKIPPED, with the reason), boot it under
# qemu and run tests/kernels/guest.sh in it (smoke checks, then the e2e tests
# named in TESTS_IN_GUEST, default test_kernel). Prints one result line per kernel and the summary
# "N passed, N failed, N skipped" (kernels); exits 1 when any failed.
# Needs root, qemu-system-x86, busybox-static, kmod, cpio (tests/install-deps.sh).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
cd "$HERE/../.." || exit 1

kernels=${*:-${KERNELS:-$DEFAULT_KERNELS}}
# test_kernel asserts each kernel's features, fallbacks, tracking and tuning
export TESTS_IN_GUEST=${TESTS_IN_GUEST-test_kernel}
# boot.sh leaves NAME.console.log and NAME.dmesg.log there
export KERNEL_LOG_DIR=${KERNEL_LOG_DIR:-$PWD/build/kernels}
passed=0 failed=0 skipped=0
declare -a results=()
STATS=$(mktemp /tmp/tcptune-kernels.XXXXXX)
FETCH_LOG=$(mktemp /tmp/tcptune-kernels.XXXXXX)
trap 'rm -f "$STATS" "$FETCH_LOG"' EXIT
# killed with the reader of our output (a pipeline's process group), a write
# (bash reporting the signal) must not stop the cleanup: EPIPE, not SIGPIPE
trap '' PIPE
trap 'exit 130' INT TERM HUP

# seconds between two $EPOCHREALTIME values, one decimal
elapsed() { local ds=$(((${2/./} - ${1/./}) / 100000)); echo "$((ds / 10)).$((ds % 10))"; }

# each e2e test has GUEST_TEST_TIMEOUT (600 s) in guest.sh: the whole boot
# gets 300 s more than all of them (at least 900 s), unless BOOT_TIMEOUT is set
ntests=$(echo ${TESTS_IN_GUEST:-} | wc -w)
export BOOT_TIMEOUT=${BOOT_TIMEOUT:-$((300 + ntests * ${GUEST_TEST_TIMEOUT:-600} < 900 ? 900 : 300 + ntests * ${GUEST_TEST_TIMEOUT:-600}))}

# boot_guest NAME: guest.sh in kernel NAME; sets rc (boot.sh's exit) and
# oops (oops_summary of its console, empty when its kernel did not die)
boot_guest() {
	: >"$STATS"
	BOOT_STATS=$STATS bash "$HERE/boot.sh" "$1" bash tests/kernels/guest.sh "$1"
	rc=$?
	oops=$(oops_summary "$KERNEL_LOG_DIR/$1.console.log")
}

all_start=$EPOCHREALTIME
for k in $kernels; do
	echo "== kernel $k"
	start=$EPOCHREALTIME
	if ! kernel_row "$k"; then
		results+=("FAIL $k: unknown kernel (known: $(echo $DEFAULT_KERNELS))")
		failed=$((failed + 1))
		continue
	fi
	bash "$HERE/fetch.sh" "$k" 2>"$FETCH_LOG"
	rc=$?
	cat "$FETCH_LOG" >&2
	why=$(tail -1 "$FETCH_LOG")
	if [ "$rc" = "$FETCH_SKIP" ]; then
		results+=("SKIP $k: ${why:-cannot fetch it}")
		skipped=$((skipped + 1))
		continue
	elif [ "$rc" != 0 ]; then
		results+=("FAIL $k: fetch.sh exit $rc: $why")
		failed=$((failed + 1))
		continue
	fi
	fetched=$EPOCHREALTIME
	boot_guest "$k"
	again='' died=''
	if [ "$rc" = 125 ] && emulator_artefact "$oops"; then
		died="of an emulator artefact"
	elif [ "$rc" = 125 ] && died_without_agent "$KERNEL_LOG_DIR/$k.console.log"; then
		died="with no tcptune agent running"
	fi
	if [ -n "$died" ]; then
		# not the agent's doing: once more, and said in the result
		mv -f "$KERNEL_LOG_DIR/$k.console.log" "$KERNEL_LOG_DIR/$k.console.1.log"
		again="; booted twice: the first guest's kernel died $died ($oops; $KERNEL_LOG_DIR/$k.console.1.log)"
		echo "== kernel $k again: the guest's kernel died $died: $oops"
		boot_guest "$k"
	fi
	# boot_s run_s total_s of boot.sh
	boot_s=- run_s=-
	eval "$(cat "$STATS")" 2>/dev/null
	. "$KERNEL_CACHE/$k/kernel.env"
	times="fetch $(elapsed "$start" "$fetched") s, boot ${boot_s} s, guest.sh ${run_s} s, total $(elapsed "$start" "$EPOCHREALTIME") s$again"
	# a kernel warning, oops or BUG in the guest is worth a look even when all passed
	splats=$(grep -acE "(WARNING:|Call Trace:|${OOPS_RE#(}" "$KERNEL_LOG_DIR/$k.dmesg.log" 2>/dev/null)
	[ "${splats:-0}" -gt 0 ] && times+="; the guest kernel's log has $splats warning/BUG/oops lines ($KERNEL_LOG_DIR/$k.dmesg.log)"
	case $rc in
	0)
		results+=("PASS $k ($KVER): $times")
		passed=$((passed + 1))
		;;
	124) results+=("FAIL $k ($KVER): timed out (BOOT_TIMEOUT); $times") ;;
	125) results+=("FAIL $k ($KVER): the guest did not run guest.sh (see $KERNEL_LOG_DIR/$k.console.log)${oops:+; guest kernel: $oops}; $times") ;;
	*) results+=("FAIL $k ($KVER): guest.sh exit $rc; $times") ;;
	esac
	[ "$rc" = 0 ] || failed=$((failed + 1))
done

echo
echo "== kernel matrix ($(elapsed "$all_start" "$EPOCHREALTIME") s)"
for r in "${results[@]}"; do echo "$r"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
