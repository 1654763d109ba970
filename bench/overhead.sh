#!/usr/bin/env bash
# Overhead benchmark (`make bench`): what the running agent costs TCP traffic.
#
#  1. Throughput: loopback iperf3 inside a private network namespace, ROUNDS
#     rounds of "SECONDS s without the agent, SECONDS s with it"; prints each
#     round and the ratio mean(with) / mean(without) (target >= 0.98), plus
#     the busy CPU time per GiB moved (/proc/stat), which is steadier.
#  2. Cost per BPF program run: kernel.bpf_stats_enabled=1 (old value restored),
#     one more iperf3 run with the agent plus CHURN_RATE short connections per
#     second (build/load), then run_time_ns / run_cnt of each tcptune program
#     from `bpftool prog show --json` over that run (target < 150 ns per TCP
#     event, the mean over the state-change and sockops programs). The kernel times
#     each run with two sched_clock() reads, and that is in the figure: on the
#     2-vCPU reference VM (retpolines, SRSO safe-RET) a tp_btf program that
#     only returns 0 measured ~60 ns/run.
#  3. Wall-clock cost of a write and a read: PP_ROUNDS rounds of
#     build/pingpong (one byte written and read back on one loopback
#     connection, both ends in one thread, PP_ITERATIONS times) without and
#     with the agent, statistics off. The median difference per write and
#     read, times the writes and reads per GiB of step 2, over the CPU time
#     per GiB of step 1, predicts the throughput ratio of a CPU-bound bulk
#     flow: a figure steadier than step 1's, whose runs swing by up to 50%
#     between modes of the loopback path that come and go with or without
#     the agent.
#  4. Removes everything it created, also on failure or Ctrl-C, and checks that
#     no tcptune program stays loaded and /sys/fs/bpf/tcptune is gone.
#
# Ends with a block of "overhead: ..." lines (the figures docs/benchmarks.md quotes).
# Exit status: 0 when the measurement ran, even if a target was MISSED;
# 1 when it could not measure or could not clean up.
#
# Runs the agent and iperf3, so only one may run on a host at a time, and
# nothing else should load the CPUs meanwhile. This script takes no lock:
# callers serialise, e.g. `flock /tmp/tcptune-dev.lock make bench`.
#
# Environment:
#   ROUNDS          rounds of without/with (default 4)
#   SECONDS         seconds per iperf3 run (default 8). Bash keeps its own
#                   $SECONDS, so the value is read from the environment the
#                   script started with; BENCH_SECONDS is an alias.
#   STATS_SECONDS   seconds of traffic for the ns/run measurement (default SECONDS)
#   WARMUP          seconds of unrecorded traffic before the rounds (default 2, 0: none)
#   IPERF_AFFINITY  iperf3 -A client,server CPUs (default "0,0": both on one
#                   CPU, where the rate is the CPU's cost per byte; on two CPUs
#                   runs fall into modes set by cross-CPU wakeups, 10-25%
#                   apart, with or without the agent; "" unpinned)
#   CONGESTION      congestion control of the iperf3 sockets (default cubic, the
#                   stock default; "" keeps the namespace's). With bbr and no fq
#                   qdisc, TCP's internal pacing makes loopback throughput swing
#                   by +-20% between runs (measured), which hides a 2% effect.
#   IPERF_ARGS      more iperf3 client options (default "-l 64K")
#   PP_ROUNDS       rounds of the ping-pong without/with (default 5)
#   PP_ITERATIONS   writes and reads per ping-pong run (default 200000)
#   TCPTUNE         agent binary (default build/tcptune)
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TCPTUNE=${TCPTUNE:-$ROOT/build/tcptune}
# shellcheck source=measure.sh
. "$ROOT/bench/measure.sh" # median
PIN_DIR=/sys/fs/bpf/tcptune
STATS_SYSCTL=/proc/sys/kernel/bpf_stats_enabled
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
PROG_NAMES='inet_sock_set_state|tcptune_sendmsg|tcptune_recvmsg|tcptune_sockops|tcptune_iter|tcptune_refresh|tcptune_owners'
# run per TCP event (state change, connection established, an application's
# write or read on a tracked socket): the 150 ns target. The iterators run per
# socket (or per open file) per agent pass: reported, not rated.
EVENT_PROGS='inet_sock_set_state|tcptune_sendmsg|tcptune_recvmsg|tcptune_sockops'
# connections per second opened and closed during the statistics run, so the
# per-event programs run often enough to be measured (bench/load.c)
CHURN_RATE=${CHURN_RATE:-2000}
LOAD=$ROOT/build/load
PINGPONG=$ROOT/build/pingpong
TARGET_RATIO=0.98
TARGET_NS=150
PORT=5201

say() { echo "overhead: $*"; }
die() { say "error: $*" >&2; exit 1; }

# A variable as it was in the environment this script was started with
# (bash turns an inherited SECONDS into its own seconds counter).
initial_env() { tr '\0' '\n' <"/proc/$$/environ" 2>/dev/null | sed -n "s/^$1=//p" | head -n 1; }

ROUNDS=${ROUNDS:-4}
SECS=${BENCH_SECONDS:-$(initial_env SECONDS)}
SECS=${SECS:-8}
STATS_SECS=${STATS_SECONDS:-$SECS}
WARMUP=${WARMUP:-2}
CONGESTION=${CONGESTION-cubic}
IPERF_ARGS=${IPERF_ARGS--l 64K}
read -ra IPERF_EXTRA <<<"$IPERF_ARGS"
IPERF_AFFINITY=${IPERF_AFFINITY-0,0}
PP_ROUNDS=${PP_ROUNDS:-5}
PP_ITERATIONS=${PP_ITERATIONS:-200000}
for v in ROUNDS SECS STATS_SECS WARMUP PP_ROUNDS PP_ITERATIONS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v='${!v}' must be a whole number of seconds/rounds"
done
if [ "$ROUNDS" -lt 1 ] || [ "$SECS" -lt 1 ] || [ "$STATS_SECS" -lt 1 ] || [ "$PP_ROUNDS" -lt 1 ] || [ "$PP_ITERATIONS" -lt 1 ]; then
	die "ROUNDS, SECONDS, STATS_SECONDS, PP_ROUNDS and PP_ITERATIONS must be at least 1"
fi

[ "$(id -u)" = 0 ] || die "must run as root (loads BPF programs, creates a network namespace)"
[ -x "$TCPTUNE" ] || die "$TCPTUNE not built (run make)"
[ -x "$LOAD" ] || die "$LOAD not built (make $LOAD)"
[ -x "$PINGPONG" ] || die "$PINGPONG not built (make $PINGPONG)"
for tool in iperf3 jq bpftool ip ss awk; do
	command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
done
[ -r "$STATS_SYSCTL" ] || die "$STATS_SYSCTL missing: kernel without BPF run-time statistics"

# ---- cleanup: everything created below is undone here, whatever the exit path
NS="ttbench$$"
NS_CREATED=
WORK=
SERVER_PID=
CLIENT_PID=
CHURN_PID=
AGENT_PID=
AGENT_LOG=
STATS_OLD=
CLEANED=
CLEANUP_OK=1

# Programs of tcptune's loaded now, as a JSON array of {id, name, run_time_ns, run_cnt}.
# bpftool here has no pid information, so programs are recognised by name.
tcptune_progs() {
	bpftool prog show --json 2>/dev/null |
		jq -c --arg re "^($PROG_NAMES)\$" \
			'[.[] | select(.name != null and (.name | test($re)))
			 | {id, name, run_time_ns: (.run_time_ns // 0), run_cnt: (.run_cnt // 0)}]'
}
tcptune_progs_loaded() { tcptune_progs | jq length; }

stop_pid() { # PID [SIGNAL]: signal a child and reap it (SIGKILL after 10 s); its exit status
	local pid=$1 sig=${2:-TERM} i
	kill -"$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

agent_stop() { # returns the agent's exit status
	local rc=0 pid=$AGENT_PID
	[ -n "$pid" ] || return 0
	AGENT_PID=
	stop_pid "$pid" TERM || rc=$?
	return "$rc"
}

cleanup() {
	[ -n "$CLEANED" ] && return 0
	CLEANED=1
	trap '' INT TERM # a second Ctrl-C must not cut the cleanup short
	[ -n "$CLIENT_PID" ] && stop_pid "$CLIENT_PID" TERM
	CLIENT_PID=
	[ -n "${CHURN_PID:-}" ] && stop_pid "$CHURN_PID" TERM
	CHURN_PID=
	if [ -n "$AGENT_PID" ]; then
		agent_stop || say "agent exited with status $? when stopped"
	fi
	[ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID" TERM
	SERVER_PID=
	if [ -n "$NS_CREATED" ]; then
		# abort what is left: orphaned sockets would charge TCP memory for minutes
		ip netns exec "$NS" ss -K >/dev/null 2>&1
		ip netns del "$NS" 2>/dev/null
		NS_CREATED=
	fi
	if [ -n "$STATS_OLD" ]; then
		echo "$STATS_OLD" >"$STATS_SYSCTL" 2>/dev/null || say "cannot restore kernel.bpf_stats_enabled to $STATS_OLD"
	fi
	# what must be true afterwards (not checked when we stopped before starting anything)
	[ -n "$WORK" ] || return 0
	local left
	left=$(tcptune_progs_loaded)
	if [ "${left:-0}" != 0 ]; then
		say "cleanup FAILED: $left tcptune BPF programs still loaded"
		CLEANUP_OK=
	fi
	if [ -e "$PIN_DIR" ]; then
		say "cleanup FAILED: $PIN_DIR still exists"
		CLEANUP_OK=
	fi
	if ip netns list 2>/dev/null | grep -qw "$NS"; then
		say "cleanup FAILED: namespace $NS still exists"
		CLEANUP_OK=
	fi
	if [ -n "$STATS_OLD" ] && [ "$(cat "$STATS_SYSCTL")" != "$STATS_OLD" ]; then
		say "cleanup FAILED: kernel.bpf_stats_enabled is $(cat "$STATS_SYSCTL"), was $STATS_OLD"
		CLEANUP_OK=
	fi
	[ -n "$WORK" ] && rm -rf "$WORK"
	[ -n "$CLEANUP_OK" ]
}
# shellcheck disable=SC2317 # called by the EXIT trap
on_exit() {
	local rc=$?
	cleanup || rc=1
	exit "$rc"
}
trap on_exit EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# ---- preconditions: nothing of tcptune's may be running already
n=$(tcptune_progs_loaded)
[ "${n:-0}" = 0 ] || die "$n tcptune BPF programs are already loaded: another agent is running (stop it; serialise runs with flock)"

WORK=$(mktemp -d /tmp/tcptune-bench.XXXXXX) || die "mktemp failed"
AGENT_LOG=$WORK/agent.log
STATS_OLD=$(cat "$STATS_SYSCTL")
# no run-time statistics while throughput is compared: they add two clock reads per run
echo 0 >"$STATS_SYSCTL" || die "cannot write $STATS_SYSCTL"

# ---- the private namespace and the iperf3 server in it
ip netns add "$NS" || die "cannot create network namespace $NS"
NS_CREATED=1
ip -n "$NS" link set lo up || die "cannot bring up lo in $NS"
CC=${CONGESTION:-$(ip netns exec "$NS" sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null)}
ip netns exec "$NS" iperf3 -s -p "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for ((i = 0; i < 50; i++)); do
	[ -n "$(ip netns exec "$NS" ss -Htln "sport = :$PORT" 2>/dev/null)" ] && break
	kill -0 "$SERVER_PID" 2>/dev/null || die "iperf3 server did not start: $(cat "$WORK/server.log")"
	sleep 0.1
done

# Busy time of all CPUs so far, in ms (user, nice, system, irq, softirq; not
# idle, iowait or steal): loopback TCP spends most of it in softirq. Anything
# else running on the host is counted too.
cpu_busy_ms() { awk -v hz="$CLK_TCK" '/^cpu / { printf "%.0f", ($2 + $3 + $4 + $7 + $8) * 1000 / hz; exit }' /proc/stat; }

# iperf_start SECONDS OUT: start one loopback iperf3 client run in the background.
# iperf_wait OUT: wait for it; sets BPS (received bits/s) and CPU_GIB. The
# client runs in this shell, not in $(...), so a signal's cleanup can stop it.
iperf_start() {
	CPU_START=$(cpu_busy_ms)
	ip netns exec "$NS" iperf3 -c 127.0.0.1 -p "$PORT" -t "$1" \
		${IPERF_AFFINITY:+-A "$IPERF_AFFINITY"} ${CONGESTION:+-C "$CONGESTION"} "${IPERF_EXTRA[@]}" --json >"$2" 2>&1 &
	CLIENT_PID=$!
}
iperf_wait() { # sets BPS and CPU_GIB (CPU ms per GiB received)
	local out=$1 rc bytes
	BPS='' CPU_GIB=''
	wait "$CLIENT_PID"
	rc=$?
	CLIENT_PID=
	BPS=$(jq -r '.end.sum_received.bits_per_second // empty' "$out" 2>/dev/null)
	if [ "$rc" != 0 ] || [ -z "$BPS" ]; then
		say "iperf3 failed (status $rc): $(jq -r '.error // empty' "$out" 2>/dev/null || head -c 300 "$out")" >&2
		return 1
	fi
	bytes=$(jq -r '.end.sum_received.bytes' "$out")
	CPU_GIB=$(awk -v c="$(($(cpu_busy_ms) - CPU_START))" -v b="$bytes" 'BEGIN { printf "%.1f", b ? c / (b / 1073741824) : 0 }')
}
iperf() { iperf_start "$1" "$2" && iperf_wait "$2"; }

agent_start() {
	: >"$AGENT_LOG"
	"$TCPTUNE" run >"$AGENT_LOG" 2>&1 &
	AGENT_PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q "^tcptune: running" "$AGENT_LOG" && break
		kill -0 "$AGENT_PID" 2>/dev/null || { AGENT_PID=; die "agent exited at start: $(cat "$AGENT_LOG")"; }
		sleep 0.1
	done
	grep -q "^tcptune: running" "$AGENT_LOG" || die "agent did not start within 10 s: $(cat "$AGENT_LOG")"
	sleep 1 # past its start-up and first pass: measure the steady state
}

agent_stop_checked() {
	agent_stop || die "agent exited with status $? on SIGTERM: $(cat "$AGENT_LOG")"
}

gbit() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e9 }'; }
# mean, min, max of the arguments
stats() { printf '%s\n' "$@" | awk '{ s += $1; if (NR == 1 || $1 < lo) lo = $1; if (NR == 1 || $1 > hi) hi = $1 }
	END { printf "%.0f %.0f %.0f", s / NR, lo, hi }'; }
# median_of FORMAT NUMBER...: their median (bench/measure.sh), printed with FORMAT
median_of() {
	local f=$1
	shift
	# shellcheck disable=SC2059 # the format is the caller's
	printf "$f" "$(printf '%s\n' "$@" | median)"
}

say "$("$TCPTUNE" --version 2>/dev/null | head -n 1), kernel $(uname -r), $(nproc) CPUs"
say "$ROUNDS rounds of ${SECS} s without / ${SECS} s with the agent, loopback iperf3 ($CC${IPERF_ARGS:+, $IPERF_ARGS}) in namespace $NS${IPERF_AFFINITY:+, client,server on CPUs $IPERF_AFFINITY}"

if [ "$WARMUP" -gt 0 ]; then
	iperf "$WARMUP" "$WORK/warmup.json" ||
		die "warm-up iperf3 run failed (CONGESTION=$CONGESTION: is it in net.ipv4.tcp_available_congestion_control?)"
fi

# ---- 1. throughput, alternated (the agent is started afresh for each "with" run)
without=() with=() ratios=() without_cpu=() with_cpu=()
for ((r = 1; r <= ROUNDS; r++)); do
	n=$(tcptune_progs_loaded)
	[ "${n:-0}" = 0 ] || die "round $r: $n tcptune programs loaded during a run without the agent"
	iperf "$SECS" "$WORK/r$r-without.json" || die "round $r without the agent: iperf3 failed"
	without+=("$BPS")
	without_cpu+=("$CPU_GIB")

	agent_start
	iperf "$SECS" "$WORK/r$r-with.json" || die "round $r with the agent: iperf3 failed"
	agent_stop_checked
	with+=("$BPS")
	with_cpu+=("$CPU_GIB")
	ratios+=("$(awk -v a="$BPS" -v b="${without[-1]}" 'BEGIN { printf "%.4f", a / b }')")
	say "round $r/$ROUNDS: without $(gbit "${without[-1]}") Gbit/s, with $(gbit "$BPS") Gbit/s, ratio $(awk -v a="$BPS" -v b="${without[-1]}" 'BEGIN { printf "%.3f", a / b }'); CPU per GiB ${without_cpu[-1]} / $CPU_GIB ms"
done
read -r wo_mean wo_min wo_max <<<"$(stats "${without[@]}")"
read -r wi_mean wi_min wi_max <<<"$(stats "${with[@]}")"
ratio=$(awk -v a="$wi_mean" -v b="$wo_mean" 'BEGIN { printf "%.3f", a / b }')
median_ratio=$(median_of %.3f "${ratios[@]}")
read -r wo_cpu _ _ <<<"$(stats "${without_cpu[@]}")"
read -r wi_cpu _ _ <<<"$(stats "${with_cpu[@]}")"
ratio_ok=$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t) ? "ok" : "MISSED" }')

# ---- 3 (run here, with the statistics still off). The ping-pong on the
# last CPU, the agent started afresh for each "with" run, which comes first in
# even rounds.
pingpong() { # prints ns per write and read
	local out
	out=$(ip netns exec "$NS" taskset -c "$(($(nproc) - 1))" "$PINGPONG" "$PP_ITERATIONS" 1500 2>&1) ||
		die "pingpong failed: $out"
	sed -n 's/.*, \([0-9.]*\) ns each pair$/\1/p' <<<"$out"
}
pp_without=() pp_with=()
for ((r = 1; r <= PP_ROUNDS; r++)); do
	[ $((r % 2)) = 1 ] && pp_without+=("$(pingpong)")
	agent_start
	pp_with+=("$(pingpong)")
	agent_stop_checked
	[ $((r % 2)) = 0 ] && pp_without+=("$(pingpong)")
	say "ping-pong round $r/$PP_ROUNDS: without ${pp_without[-1]} ns, with ${pp_with[-1]} ns per write and read"
done
pp_wo=$(median_of %.1f "${pp_without[@]}")
pp_wi=$(median_of %.1f "${pp_with[@]}")
pp_added=$(awk -v a="$pp_wi" -v b="$pp_wo" 'BEGIN { printf "%.1f", a - b }')

# ---- 2. ns per program run, from the kernel's BPF run-time statistics (deltas
# over the traffic window only: the agent's start-up is not in them)
echo 1 >"$STATS_SYSCTL" || die "cannot enable kernel.bpf_stats_enabled"
agent_start
before=$(tcptune_progs)
t0=$(date +%s.%N)
iperf_start "$STATS_SECS" "$WORK/stats.json"
ip netns exec "$NS" "$LOAD" --listen 127.0.0.1:6000 --connect 127.0.0.1:6000 --rate "$CHURN_RATE" --seconds "$STATS_SECS" >"$WORK/churn.log" 2>&1 &
CHURN_PID=$!
# halfway: the connection must be in the agent's map, or the figures mean nothing
sleep "$(awk -v s="$STATS_SECS" 'BEGIN { print s / 2 }')"
tracked=$("$TCPTUNE" flows --json 2>/dev/null |
	jq --argjson p "$PORT" '[.[] | select((.sport == $p or .dport == $p) and .bytes_received + .bytes_acked > 0)] | length' 2>/dev/null)
iperf_wait "$WORK/stats.json" || die "iperf3 failed during the statistics run"
wait "$CHURN_PID" || die "churn failed during the statistics run: $(cat "$WORK/churn.log")"
CHURN_PID=
CHURN_RESULT=$(grep "^load: churn:" "$WORK/churn.log")
t1=$(date +%s.%N)
after=$(tcptune_progs)
agent_stop_checked
echo "$STATS_OLD" >"$STATS_SYSCTL"
stats_bps=$BPS
CC=$(jq -r ".end.sender_tcp_congestion // empty" "$WORK/stats.json")
CC=${CC:-${CONGESTION:-?}}
[ "${tracked:-0}" -gt 0 ] || die "the iperf3 connection was not in the agent's flows map during the statistics run"

# per program: runs, ns per run, runs per second over the traffic window
per_prog=$(jq -nr --argjson a "$before" --argjson b "$after" --arg t0 "$t0" --arg t1 "$t1" '
	(($t1 | tonumber) - ($t0 | tonumber)) as $dt
	| [$b[] as $p | ($a[] | select(.id == $p.id)) as $q
	   | {name: $p.name, runs: ($p.run_cnt - $q.run_cnt), ns: ($p.run_time_ns - $q.run_time_ns)}]
	| group_by(.name) | map({name: .[0].name, runs: (map(.runs) | add), ns: (map(.ns) | add)})
	| sort_by(.name as $n | ["inet_sock_set_state", "tcptune_sendmsg", "tcptune_recvmsg", "tcptune_sockops", "tcptune_iter", "tcptune_refresh", "tcptune_owners"] | index($n))[]
	| [.name, .runs, .ns, $dt] | @tsv')
[ -n "$per_prog" ] || die "no run-time statistics read from bpftool"

# ---- the figures
cleanup || die "cleanup failed (see above)"
echo
say "---- summary: $ROUNDS x ${SECS} s rounds, loopback iperf3 (${CC:-?}${IPERF_ARGS:+, $IPERF_ARGS}), $(nproc) CPUs, $(uname -r) ----"
say "throughput without agent: mean $(gbit "$wo_mean") Gbit/s (min $(gbit "$wo_min"), max $(gbit "$wo_max"))"
say "throughput with agent:    mean $(gbit "$wi_mean") Gbit/s (min $(gbit "$wi_min"), max $(gbit "$wi_max"))"
say "throughput ratio with/without agent = $ratio (target >= $TARGET_RATIO) $ratio_ok"
say "CPU time per GiB moved (all CPUs, /proc/stat): without agent ${wo_cpu} ms, with ${wi_cpu} ms, with/without = $(awk -v a="$wi_cpu" -v b="$wo_cpu" 'BEGIN { printf "%.3f", b ? a / b : 0 }')"
say "per-round ratios (sorted): $(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ printf "%s%.3f", (NR > 1 ? " " : ""), $1 }'), median $median_ratio (rounds spread wider than 2% are noise as much as agent cost)"
missed=()
[ "$ratio_ok" = ok ] || missed+=("throughput ratio $ratio")
ev_runs=0 ev_ns=0 all_ns=0
while IFS=$'\t' read -r name runs ns dt; do
	per_run=$(awk -v n="$ns" -v r="$runs" 'BEGIN { printf "%.0f", r ? n / r : 0 }')
	per_s=$(awk -v r="$runs" -v t="$dt" 'BEGIN { printf "%.0f", r / t }')
	cpu=$(awk -v n="$ns" -v t="$dt" 'BEGIN { printf "%.2f", n / t / 1e7 }')
	all_ns=$((all_ns + ns))
	if [[ $name =~ ^($EVENT_PROGS)$ ]]; then
		# rated together below: the mean over every TCP event handled
		ev_runs=$((ev_runs + runs)) ev_ns=$((ev_ns + ns))
		case $name in
		inet_sock_set_state) verdict="(per TCP state change)" ;;
		tcptune_sendmsg) verdict="(per write to any socket; a tracked one's entry refreshed at most every interval/10)" ;;
		tcptune_recvmsg) verdict="(per read from any socket; a tracked one's entry refreshed at most every interval/10)" ;;
		tcptune_sockops) verdict="(per sockops callback; the two ESTABLISHED ones per connection insert the entry, the others return at once)" ;;
		esac
	else
		case $name in
		tcptune_iter) verdict="(per socket per full or targets pass: not rated)" ;;
		tcptune_refresh) verdict="(per tracked socket per walk pass: not rated)" ;;
		tcptune_owners) verdict="(per open file, in passes that find a new connection: not rated)" ;;
		*) verdict="" ;;
		esac
	fi
	say "$name $per_run ns/run, $per_s runs/s, ${cpu}% of one CPU $verdict"
done <<<"$per_prog"
dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
say "connection churn during the statistics run: $CHURN_RESULT"
ev_per=$(awk -v n="$ev_ns" -v r="$ev_runs" 'BEGIN { printf "%.0f", r ? n / r : 0 }')
if [ "$ev_runs" -gt 0 ] && [ "$ev_per" -lt "$TARGET_NS" ]; then ev_ok=ok; else ev_ok=MISSED; missed+=("$ev_per ns per event"); fi
say "per-event programs (${EVENT_PROGS//|/, }) together: $ev_per ns/event (target < $TARGET_NS) $ev_ok, $(awk -v r="$ev_runs" -v t="$dt" 'BEGIN { printf "%.0f", r / t }') events/s at $(gbit "$stats_bps") Gbit/s ($(awk -v r="$ev_runs" -v b="$stats_bps" -v t="$dt" 'BEGIN { printf "%.1f", b ? r / (b * t / 8 / 1048576) : 0 }') events per MiB)"
app_runs=$(awk -F'\t' '$1 == "tcptune_sendmsg" || $1 == "tcptune_recvmsg" { r += $2 } END { print r + 0 }' <<<"$per_prog")
# writes and reads per GiB moved, from the statistics run; what they add to
# the CPU time per GiB, as a share of step 1's without the agent
app_per_gib=$(awk -v r="$app_runs" -v b="$stats_bps" -v t="$dt" 'BEGIN { g = b * t / 8 / 2^30; if (g > 0 && r > 0) printf "%.0f", r / g }')
[ -n "$app_per_gib" ] && [ "$wo_cpu" -gt 0 ] || die "no writes, reads or bytes in the statistics run to scale the ping-pong by"
pp_share=$(awk -v n="$app_per_gib" -v d="$pp_added" -v c="$wo_cpu" 'BEGIN { printf "%.4f", n * (d / 2) / 1e6 / c }')
pp_ratio=$(awk -v s="$pp_share" 'BEGIN { printf "%.3f", 1 / (1 + s) }')
pp_ok=$(awk -v r="$pp_ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t) ? "ok" : "MISSED" }')
[ "$pp_ok" = ok ] || missed+=("predicted throughput ratio $pp_ratio")
say "ping-pong, median of $PP_ROUNDS: $pp_wo ns per write and read without the agent, $pp_wi ns with it: $pp_added ns added (sorted without: $(printf '%s\n' "${pp_without[@]}" | sort -g | tr '\n' ' ')| with: $(printf '%s\n' "${pp_with[@]}" | sort -g | tr '\n' ' '))"
say "predicted throughput ratio = $pp_ratio (target >= $TARGET_RATIO) $pp_ok: $app_per_gib writes and reads per GiB x $pp_added / 2 ns = $(awk -v s="$pp_share" 'BEGIN { printf "%.2f", s * 100 }')% of the ${wo_cpu} CPU ms per GiB without the agent"
say "all tcptune programs: $(awk -v n="$all_ns" -v t="$dt" 'BEGIN { printf "%.2f", n / t / 1e7 }')% of one CPU over ${dt} s (kernel.bpf_stats_enabled, $STATS_SECS s run)"
say "cleanup: ok (namespace removed, no tcptune programs loaded, $PIN_DIR absent, kernel.bpf_stats_enabled back to $STATS_OLD)"
if [ ${#missed[@]} = 0 ]; then
	say "targets: all met"
else
	joined=$(printf '%s; ' "${missed[@]}")
	say "targets: MISSED: ${joined%; }"
fi
exit 0
