# shellcheck shell=bash
# Shared by the end-to-end tests: cleanup on any exit, the agent, namespaces.
# A test sources this, calls `cleanup_add` for everything it creates, and
# reports with `pass` / `fail` / `skip`. Exit status: 0 pass, 1 fail, 77 skip.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TCPTUNE=${TCPTUNE:-$ROOT/build/tcptune}
TEST_NAME=$(basename "$0" .sh)
PIN_DIR=/sys/fs/bpf/tcptune
FAILED=0
_CLEANUP=()

# Run in reverse order on exit, whatever the exit path.
cleanup_add() { _CLEANUP+=("$*"); }
_run_cleanup() {
	local i
	for ((i = ${#_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${_CLEANUP[$i]}" >/dev/null 2>&1 || true
	done
}
trap _run_cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "# $TEST_NAME: $*"; }
pass() { echo "ok - $TEST_NAME: $*"; }
fail() { echo "not ok - $TEST_NAME: $*"; FAILED=1; }
skip() { echo "skip - $TEST_NAME: $*"; exit 77; }
# check DESCRIPTION COMMAND...: pass if the command succeeds
check() { local what=$1; shift; if "$@" >/dev/null; then pass "$what"; else fail "$what"; fi; }
finish() { exit "$FAILED"; }

[ "$(id -u)" = 0 ] || { echo "not ok - $TEST_NAME: must run as root"; exit 1; }
[ -x "$TCPTUNE" ] || { echo "not ok - $TEST_NAME: $TCPTUNE not built (run make)"; exit 1; }

# Unique per test run: namespace names are global on the machine.
UNIQ="tt$$"

# Where cgroup v2 is mounted ("" when it is not).
CG2=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)

# cg_remove DIR: empty a cgroup (its processes are killed, or moved to the
# root if they will not die) and remove it
cg_remove() {
	local dir=$1 i pid
	[ -d "$dir" ] || return 0
	for ((i = 0; i < 30; i++)); do
		grep -q . "$dir/cgroup.procs" 2>/dev/null || break # cgroupfs files have size 0
		while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$dir/cgroup.procs"
		sleep 0.1
	done
	while read -r pid; do echo "$pid" >"$CG2/cgroup.procs"; done <"$dir/cgroup.procs" 2>/dev/null
	for ((i = 0; i < 30; i++)); do
		rmdir "$dir" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# sweep_killed_runs: remove what runs killed before their cleanup could run
# (SIGKILL, a lost session) left behind: the network namespaces and cgroups
# named after that run's process (UNIQ here, ttbPID and tcptune-bpftest-PID in
# tests/bpf), which is gone. A live process's are another run's.
sweep_killed_runs() {
	local name pid dir
	for name in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		[[ $name =~ ^ttb?([0-9]+)[a-z] ]] && ! [ -d "/proc/${BASH_REMATCH[1]}" ] || continue
		ip netns del "$name" 2>/dev/null &&
			log "removed namespace $name, left by a killed run (process ${BASH_REMATCH[1]} is gone)"
	done
	[ -n "$CG2" ] || return 0
	for dir in "$CG2"/tt[0-9]* "$CG2"/tcptune-bpftest-[0-9]*; do
		[ -d "$dir" ] || continue
		[[ ${dir##*/} =~ ^(tt|tcptune-bpftest-)([0-9]+) ]] && pid=${BASH_REMATCH[2]} || continue
		[ -d "/proc/$pid" ] && continue
		cg_remove "$dir" && log "removed cgroup $dir, left by a killed run (process $pid is gone)"
	done
}
sweep_killed_runs

# agent_start [ARGS...]: start `tcptune run` in the background, wait until its
# first pass ran (connections open before it are then listed). Sets AGENT_PID,
# AGENT_LOG. With AGENT_LOG_AT set, the log goes to that file instead, each
# line prefixed with the time ($EPOCHREALTIME), for benchmarks that time changes.
# AGENT_WRAPPER (an array) is a command the agent runs under (it must exec the
# agent in the same process, as valgrind does); AGENT_START_TIMEOUT (seconds,
# default 15) how long the first pass may take.
AGENT_WRAPPER=()
agent_start() {
	if [ -n "${AGENT_LOG_AT:-}" ]; then
		AGENT_LOG=$AGENT_LOG_AT
		"${AGENT_WRAPPER[@]}" "$TCPTUNE" run "$@" > >(_time_stamp >"$AGENT_LOG") 2>&1 &
	else
		AGENT_LOG=$(mktemp /tmp/tcptune-agent.XXXXXX)
		cleanup_add "rm -f $AGENT_LOG"
		"${AGENT_WRAPPER[@]}" "$TCPTUNE" run "$@" >"$AGENT_LOG" 2>&1 &
	fi
	AGENT_PID=$!
	cleanup_add "agent_stop"
	local i
	for ((i = 0; i < ${AGENT_START_TIMEOUT:-15} * 10; i++)); do
		grep -q "tcptune: first pass" "$AGENT_LOG" 2>/dev/null && { _guest_agent_mark running; return 0; }
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "agent did not start: $(cat "$AGENT_LOG")"
	return 1
}
_time_stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }

# agent_stop [SIGNAL]: stop the agent and wait for it; returns its exit code.
agent_stop() {
	local sig=${1:-TERM} rc=0
	[ -n "${AGENT_PID:-}" ] || return 0
	kill -"$sig" "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null || rc=$?
	AGENT_PID=
	_guest_agent_mark stopped
	return $rc
}
# In a guest of the kernel matrix (TCPTUNE_KERNEL set), a line on the
# console whenever a test's agent starts or stops: when the guest's kernel
# dies, tests/kernels/run.sh tells from it whether an agent was running.
_guest_agent_mark() {
	[ -n "${TCPTUNE_KERNEL:-}" ] && echo "# tcptune agent: $1"
	return 0
}

# need_no_agent: skip unless no agent runs and no pins of a killed one are
# left, for a test that kills agents and checks what they leave
need_no_agent() {
	if [ -e /run/tcptune/agent.lock ] && ! flock -n -s /run/tcptune/agent.lock true; then
		skip "an agent is running (pid $(cat /run/tcptune/agent.lock)): this test needs none"
	fi
	[ -e "$PIN_DIR" ] && skip "$PIN_DIR exists (pins of a killed agent?): 'tcptune run' once removes them"
}

bpffs_mounted() { [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ]; }
# nothing in it but the maps.debug and progs.debug every bpffs mount has
bpffs_empty() { [ -z "$(find /sys/fs/bpf -mindepth 1 -maxdepth 1 ! -name '*.debug')" ]; }
# bpffs_keep_state: at exit, bpffs is mounted (or, when empty, not) as it is
# now, and no pins of a killed agent are left. Sets BPFFS_BEFORE (yes/no).
bpffs_keep_state() {
	bpffs_mounted && BPFFS_BEFORE=yes || BPFFS_BEFORE=no
	cleanup_add _bpffs_restore
	cleanup_add _clear_stale_pins
}
_bpffs_restore() {
	if [ "$BPFFS_BEFORE" = yes ]; then
		bpffs_mounted || mount -t bpf bpf /sys/fs/bpf
	elif bpffs_mounted && bpffs_empty; then
		umount /sys/fs/bpf
	fi
}
# only when no agent holds the lock: the pins are then surely a killed agent's
_clear_stale_pins() {
	[ -d "$PIN_DIR" ] && flock -n -s /run/tcptune/agent.lock true || return 0
	rm -f "$PIN_DIR"/* && rmdir "$PIN_DIR"
}

# Number of BPF programs of tcptune's (by name) still loaded.
tcptune_progs_loaded() {
	bpftool prog show 2>/dev/null | grep -cE "name (inet_sock_set_state|tcptune_sendmsg|tcptune_recvmsg|tcptune_sockops|tcptune_iter|tcptune_owners|tcptune_refresh) " || true
}

# wait_for SECONDS CMD...: poll until CMD succeeds
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# wait_no_progs [SECONDS]: true once no tcptune program is loaded (waits up to
# SECONDS, default 5); the kernel frees a detached program a moment (RCU)
# after its last reference goes.
wait_no_progs() {
	local i
	for ((i = 0; i < ${1:-5} * 10; i++)); do
		[ "$(tcptune_progs_loaded)" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# netpath NAME RATE LIMIT: two namespaces ${NAME}c (198.18.N.1, fd00:198:18:N::1)
# and ${NAME}s (.2/::2) joined by veth, with a TBF bottleneck of RATE on the
# client's egress (RATE none: no bottleneck). Sets NS_C, NS_S and addresses C4 S4 C6 S6.
_NET_INDEX=0
netpath() {
	local name=$1 rate=$2 limit=$3 n
	_NET_INDEX=$((_NET_INDEX + 1))
	n=$(( ($$ + _NET_INDEX) % 250 + 1 ))
	NS_C="${name}c"; NS_S="${name}s"
	C4="198.18.$n.1"; S4="198.18.$n.2"; C6="fd00:198:18:$n::1"; S6="fd00:198:18:$n::2"
	ip netns add "$NS_C" && cleanup_add "ip netns del $NS_C" || return 1
	ip netns add "$NS_S" && cleanup_add "ip netns del $NS_S" || return 1
	# abort leftover connections first: orphans would charge TCP memory for minutes
	cleanup_add "ip netns exec $NS_C ss -K >/dev/null 2>&1; ip netns exec $NS_S ss -K >/dev/null 2>&1"
	ip link add veth0 netns "$NS_C" type veth peer name veth0 netns "$NS_S" || return 1
	local ns a4 a6
	for ns in "$NS_C" "$NS_S"; do
		if [ "$ns" = "$NS_C" ]; then a4=$C4; a6=$C6; else a4=$S4; a6=$S6; fi
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$a4/24" dev veth0
		ip -n "$ns" addr add "$a6/64" dev veth0 nodad
		ip -n "$ns" link set veth0 up
		ip netns exec "$ns" sysctl -qw net.ipv4.tcp_congestion_control=reno 2>/dev/null || true
	done
	[ "$rate" = none ] && return 0
	ip netns exec "$NS_C" tc qdisc add dev veth0 root tbf rate "$rate" burst 32kb limit "$limit"
}

# free_port FROM: the first TCP port from FROM up that nothing holds on
# 127.0.0.1 (pick FROM below the ephemeral range: no outgoing connection
# takes it meanwhile)
free_port() {
	python3 - "$1" <<'EOF'
import socket, sys
for port in range(int(sys.argv[1]), int(sys.argv[1]) + 500):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
EOF
}

# bpf_counter KEY: a counter of the agent's "counters" map (enum
# tcptune_counter: 0 created, 1 deleted, 2 map_full, ...), summed over CPUs
bpf_counter() {
	bpftool -j map lookup pinned "$PIN_DIR/counters" key "$1" 0 0 0 | jq '[.formatted.values[].value] | add'
}

# hold_port PORT: a process listening on 127.0.0.1:PORT (SO_REUSEADDR: past
# the TIME-WAIT of earlier connections) until killed, at exit at the latest;
# sets PORT_HOLDER. Fails if it does not listen within 5 s.
hold_port() {
	local out
	out=$(mktemp /tmp/tcptune-holder.XXXXXX)
	python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("listening", flush=True)
time.sleep(300)
' "$1" >"$out" 2>&1 &
	PORT_HOLDER=$!
	cleanup_add "kill $PORT_HOLDER 2>/dev/null; rm -f $out"
	wait_for 5 grep -q listening "$out"
}

# in_ns NS CMD...: run a command inside a namespace.
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# median N...: the middle of the numbers (the lower middle of an even count), 0 for none
median() { printf '%s\n' "$@" | sort -n | awk '$1 != "" { v[++n] = $1 } END { print n ? v[int((n + 1) / 2)] : 0 }'; }

# iperf_server NS PORT: a one-shot iperf3 server in NS, stopped at exit.
iperf_server() {
	local ns=$1 port=$2 pidfile
	pidfile=$(mktemp /tmp/tcptune-iperf.XXXXXX)
	cleanup_add "kill \$(cat $pidfile) 2>/dev/null; rm -f $pidfile"
	ip netns exec "$ns" iperf3 -s -1 -p "$port" -D -I "$pidfile" >/dev/null || return 1
	sleep 0.3
}

# private_netns SUFFIX: a namespace with loopback up, removed at exit. Sets NS.
private_netns() {
	NS="${UNIQ}$1"
	ip netns add "$NS" || return 1
	cleanup_add "ip netns del $NS"
	cleanup_add "ip netns exec $NS ss -K >/dev/null 2>&1"
	ip -n "$NS" link set lo up
}
