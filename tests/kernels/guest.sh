#!/usr/bin/env bash
# guest.sh [NAME]: what run.sh runs in each guest kernel (boot.sh NAME bash
# tests/kernels/guest.sh NAME). Smoke checks of the kernel and of the guest
# machine (the tests' tools work), a diagnostic run of the agent, then the
# end-to-end tests named in TESTS_IN_GUEST (tests/e2e/NAME.sh each, exit 0
# pass, 77 skip, else fail). Prints ok / not ok / skip lines and
# "guest NAME: N passed, N failed, N skipped"; exits 1 when something failed.
#
# Variables: TESTS_IN_GUEST (e2e test names; run.sh's default test_kernel); GUEST_TEST_TIMEOUT
# (seconds per test, 600); GUEST_AGENT_MUST_LOAD=0 does not count the agent's
# diagnostic run as a check (it only prints it then);
# GUEST_AGENT_VERBOSE=1 runs it with -v (libbpf's and the verifier's log).
set -u
cd "$(dirname "$0")/../.." || exit 1
NAME=${1:-${TCPTUNE_KERNEL:-$(uname -r)}}
TCPTUNE=./build/tcptune
passed=0 failed=0 skipped=0
declare -a failures=()

ok() { echo "ok - $NAME: $*"; passed=$((passed + 1)); }
notok() { echo "not ok - $NAME: $*"; failed=$((failed + 1)); failures+=("$*"); }
skipped() { echo "skip - $NAME: $*"; skipped=$((skipped + 1)); }
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds; its output shown when not
check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		notok "$what"
		[ -n "$out" ] && echo "$out" | head -20 | sed 's/^/#   /'
		return 1
	fi
}

echo "# guest $NAME: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)"

# --- the kernel
[ -n "${TCPTUNE_KERNEL_VERSION:-}" ] && check "the kernel is $TCPTUNE_KERNEL_VERSION" test "$(uname -r)" = "$TCPTUNE_KERNEL_VERSION"
check "BTF at /sys/kernel/btf/vmlinux" test -s /sys/kernel/btf/vmlinux
bpffs_check() {
	[ "$(stat -f -c %T /sys/fs/bpf)" = bpf_fs ] && return 0
	mount -t bpf bpf /sys/fs/bpf && [ "$(stat -f -c %T /sys/fs/bpf)" = bpf_fs ] && umount /sys/fs/bpf
}
check "bpffs mounts at /sys/fs/bpf" bpffs_check
check "cgroup2 mounted" sh -c "grep -q ' - cgroup2 ' /proc/self/mountinfo"
check "$TCPTUNE --version" "$TCPTUNE" --version

# --- the machine the tests expect
check "writable /tmp, /var/tmp, /run" sh -c 'f=$(mktemp) && rm "$f" && f=$(mktemp -p /var/tmp) && rm "$f" && mkdir -p /run/tcptune-check && rmdir /run/tcptune-check'
for t in jq ss tc ip iperf3 python3 bpftool; do
	check "$t runs" sh -c "command -v $t >/dev/null"
done

# two namespaces joined by veth with a TBF qdisc (veth and sch_tbf loaded on
# demand by the kernel, as on a host), and 1 s of iperf3 across
NS=ttk$$
netpath() {
	ip netns add "${NS}c" && ip netns add "${NS}s" &&
		ip link add veth0 netns "${NS}c" type veth peer name veth0 netns "${NS}s" &&
		ip -n "${NS}c" addr add 198.18.7.1/24 dev veth0 && ip -n "${NS}s" addr add 198.18.7.2/24 dev veth0 &&
		ip -n "${NS}c" link set veth0 up && ip -n "${NS}s" link set veth0 up &&
		ip -n "${NS}c" link set lo up && ip -n "${NS}s" link set lo up &&
		ip netns exec "${NS}c" tc qdisc add dev veth0 root tbf rate 200mbit burst 32kb limit 1mb
}
iperf_across() {
	local i rc srv
	timeout 30 ip netns exec "${NS}s" iperf3 -s -1 -B 198.18.7.2 >/dev/null 2>&1 &
	srv=$!
	for ((i = 0; i < 100; i++)); do
		ip netns exec "${NS}s" ss -Hltn 'sport = :5201' | grep -q . && break
		sleep 0.1
	done
	# socket memory comes from sock_diag (inet_diag, tcp_diag: modules, loaded on demand)
	if ! ip netns exec "${NS}s" ss -Hltm 'sport = :5201' | grep -q skmem; then
		echo "ss -m shows no skmem for iperf3's listener: no sock_diag?"
		kill "$srv"
		wait "$srv"
		return 1
	fi
	timeout 30 ip netns exec "${NS}c" iperf3 -c 198.18.7.2 -t 1 -J >/tmp/iperf.$$.json
	rc=$?
	[ $rc = 0 ] || kill "$srv" 2>/dev/null
	wait "$srv"
	return $rc
}
if check "ip netns, veth, tbf" netpath; then
	check "iperf3 across the namespaces, ss -m sees it" iperf_across
else
	skipped "iperf3 across the namespaces: no path"
fi
[ -s /tmp/iperf.$$.json ] && echo "# iperf3 198.18.7.1 -> .2 through tbf 200mbit: $(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' /tmp/iperf.$$.json) Mbit/s"
rm -f /tmp/iperf.$$.json
ip netns del "${NS}c" 2>/dev/null
ip netns del "${NS}s" 2>/dev/null
check "modprobe veth sch_tbf tun" modprobe -a veth sch_tbf tun
check "/dev/net/tun" test -c /dev/net/tun

# --- the agent, as a diagnostic: does it load on this kernel?
agent_diag() {
	local log pid i rc=0 args=(run --observe --metrics=off)
	[ "${GUEST_AGENT_VERBOSE:-0}" = 1 ] && args+=(-v)
	log=$(mktemp)
	"$TCPTUNE" "${args[@]}" >"$log" 2>&1 &
	pid=$!
	for ((i = 0; i < 50; i++)); do
		grep -q "first pass" "$log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || rc=$?
		grep -q "first pass" "$log" && echo "AGENT: loaded, first pass done, exit $rc on SIGTERM" || {
			echo "AGENT: still running after 5 s without its first pass; exit $rc on SIGTERM"
			rc=1
		}
	else
		wait "$pid" || rc=$?
		echo "AGENT: exited with $rc before its first pass"
		[ $rc = 0 ] && rc=1
	fi
	sed 's/^/#   agent| /' "$log"
	rm -f "$log"
	return $rc
}
echo "# tcptune run --observe for up to 5 s (diagnostic):"
agent_out=$(agent_diag)
agent_rc=$?
echo "$agent_out" | grep -v '^AGENT:'
agent_line=$(echo "$agent_out" | grep '^AGENT:' | sed 's/^AGENT: //')
if [ "${GUEST_AGENT_MUST_LOAD:-1}" = 1 ]; then
	[ $agent_rc = 0 ] && ok "agent: $agent_line" || notok "agent: $agent_line"
else
	echo "# diagnostic - $NAME: agent: $agent_line"
fi
# what a failed agent may have left
[ -d /sys/fs/bpf/tcptune ] && echo "# the agent left /sys/fs/bpf/tcptune: $(ls /sys/fs/bpf/tcptune | tr '\n' ' ')"

# --- end-to-end tests (TCPTUNE_KERNEL tells them they run in the matrix)
export TCPTUNE_KERNEL=$NAME
for t in ${TESTS_IN_GUEST:-}; do
	t=${t##*/}
	t=${t%.sh}
	f=tests/e2e/$t.sh
	if [ ! -f "$f" ]; then
		notok "e2e $t: no $f"
		continue
	fi
	echo "# == e2e $t"
	start=$EPOCHREALTIME
	timeout "${GUEST_TEST_TIMEOUT:-600}" bash "$f"
	rc=$?
	secs=$(((${EPOCHREALTIME/./} - ${start/./}) / 1000000))
	case $rc in
	0) ok "e2e $t (${secs}s)" ;;
	77) skipped "e2e $t (${secs}s)" ;;
	124) notok "e2e $t: timed out after ${GUEST_TEST_TIMEOUT:-600}s" ;;
	*) notok "e2e $t: exit $rc (${secs}s)" ;;
	esac
done

echo
for f in "${failures[@]}"; do echo "# FAILED on $NAME: $f"; done
echo "guest $NAME: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
