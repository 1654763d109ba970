#!/usr/bin/env bash
# No-regression benchmark (`make bench-noharm`, part of `make bench`): where
# stock kernel autotuning already does well, tcptune must cost nothing.
# Each scenario builds its path (tests/wan.sh, or a plain veth), runs the
# traffic with no agent ("stock"), then starts a fresh `tcptune run` and runs
# the same traffic again; in (r) and (m) that agent runs it twice (pass 1: the
# destination is new to it; pass 2: it is known) and both passes are judged.
# The end namespaces keep stock sysctls: tcp_rmem "4096 131072 6291456",
# tcp_wmem "4096 16384 4194304"; the congestion control is set explicitly
# (BASE_CC, default cubic, except (s), which runs with each of CCS).
#
#  (r) request/response (build/rpc) over 100 Mbit/s both ways at 40 ms and at
#      20 ms RTT (queue 1 BDP): 10k and 100k responses one after the other on
#      one persistent connection, 1m responses on another, 1m on a new
#      connection each, and 10k/100k/1m interleaved on one connection.
#      Targets: completion time p50 and p99 <= 1.05 x stock.
#  (s) rate steps: one iperf3 flow at 80 ms, bottleneck 25 Mbit/s, stepped up
#      to 200 Mbit/s after UP_AT s and back to 25 Mbit/s UP_FOR s later (tc
#      qdisc change of the router's TBF, queue 1 BDP of each rate; stock
#      buffer caps hold the 2 MB BDP at 200 Mbit/s), S_ROUNDS rounds of stock
#      and tcptune in alternating order (medians). Targets: time from the
#      step up to a 1 s window at >= 90% of the new ceiling <= stock + 0.5 s;
#      median send-buffer delay in the 10 s after the step down <= 1.05 x stock.
#  (f) short-RTT fast path: two namespaces joined by a plain veth (no delay,
#      no bottleneck), iperf3 with 1 and with 4 flows, client and server on
#      one CPU and on two, F_ROUNDS rounds of stock and tcptune, in
#      alternating order (means; the ratio with its 95% interval). Targets:
#      goodput >= 0.98 x stock; memory
#      <= stock (1.05 allowed for sampling noise).
#  (l) slow reader: `rpc sink` reading 2 MB/s at the server end of a 100
#      Mbit/s 40 ms path, fed as fast as TCP takes it by `cat /dev/zero` into
#      bash's /dev/tcp. Targets: bytes the reader got per second >= 0.98 x
#      stock; memory <= stock (1.05 allowed); sender's send-buffer delay <=
#      1.05 x stock.
#  (m) many short transfers: 1 MB responses, each on a new connection, over
#      the 100 Mbit/s 40 ms path; pass 1 is the agent's first contact with the
#      destination, pass 2 the known case. Targets: p50 and p99 <= 1.05 x stock.
#
# How it measures (identical for stock and tcptune runs):
#  - completion time: `rpc call` times each request from its write to the
#    response's last byte (with --new, from connect); p50 and p99 are nearest
#    rank, so with 50 or fewer requests p99 is the slowest one.
#  - ss samples: `ss -tinm state established` of ports 5300-5399 in both end
#    namespaces every SAMPLE s (default 0.25 s; always 0.25 s in (s)).
#  - memory: per sample, skmem r + w + f summed over the sockets of both ends
#    (what they hold of the TCP memory pool); the mean over samples.
#  - send-buffer delay: per sender socket and sample, ss notsent bytes /
#    delivery_rate; the median over samples.
#  - time to rate (s): the receiver's bytes_received sampled every 0.25 s, as
#    bench/wan.sh (e) does.
#  - goodput: iperf3 -J receiver side; in (l) the growth of bytes_received
#    minus Recv-Q (bytes the reader took) on the sink's socket.
#  - tcp_metrics (the kernel's per-destination cache of ssthresh and RTT) are
#    flushed in both end namespaces before every run, so each run starts alike.
#
# Output: "noharm: (x) ..." lines with stock, tcptune (pass 2), ratio, target
# and met/MISSED (both passes must meet it; (f) rows, from rounds of noisy
# runs, may also be "unresolved"), "# noharm:" detail lines, then a
# "noharm: summary" block. Exit status: 0 when everything was measured (even
# with targets MISSED), 1 when something could not be measured or cleaned up.
# About 25 minutes of measuring with the defaults, plus any wait for the lock
# (the summary gives both).
#
# Each scenario (and each congestion control of (s)) runs in its own process
# under `flock $LOCK`: only one tcptune agent may run on the host, and stock
# runs must not be tuned by someone else's. Everything it creates (namespaces,
# delay lines, agent, processes, global sysctls) is removed also on failure.
#
# Environment:
#   SCENARIOS   which scenarios (default "r s f l m")
#   CCS         congestion controls of (s) (default "cubic bbr")
#   BASE_CC     congestion control of the other scenarios (default cubic)
#   RTTS        RTTs of (r), ms (default "40 20")
#   R_COUNT     (r) persistent 10k and 100k requests per size (default 100)
#   R_COUNT_1M  (r) persistent 1m requests (default 50)
#   R_COUNT_NEW (r) 1m requests on new connections (default 30)
#   R_COUNT_MIX (r) interleaved requests per size (default 30)
#   M_COUNT     (m) requests (default 50)
#   UP_AT       (s) seconds at 25 Mbit/s before the step up (default 10)
#   UP_FOR      (s) seconds at 200 Mbit/s (default 25: cubic takes 10 s or
#               more to fill 200 Mbit/s at 80 ms, stock or not)
#   DOWN_FOR    (s) seconds at 25 Mbit/s after the step down (default 11)
#   S_ROUNDS    (s) rounds of stock and tcptune per congestion control (default
#               3: where in cubic's growth curve the step lands moves its
#               time to rate by seconds from run to run)
#   F_SECS      (f) iperf3 seconds (default 10, of which F_OMIT=2 warm-up)
#   F_ROUNDS    (f) rounds of stock and tcptune, averaged (default 6: single
#               runs of a CPU-bound veth flow spread by 20%)
#   F_PINS      (f) CPUs of iperf3's client and server, one pair per set of
#               rows (default "0,0 0,1": one CPU, where the rate is the CPU's
#               cost per byte; two, where it also depends on cross-CPU wakeups)
#   F_IPERF_ARGS (f) more iperf3 options (default "-l 64K": 64 KB writes and
#               reads, as bench/overhead.sh)
#   L_SECS      (l) seconds of sending (default 20, of which L_WARM=4 warm-up)
#   SAMPLE      ss sampling period of (f) and (l), seconds (default 0.25)
#   AGENT_ARGS  `tcptune run` options (default "--interval 1")
#   LOCK        lock file (default /tmp/tcptune-dev.lock). Do not run this
#               script under `flock $LOCK` yourself: it would wait for itself.
#               LOCK= takes no lock (the caller then serialises).
#   KEEP        1: keep the work directory (rpc output, ss samples, agent logs)
#   TCPTUNE     agent binary (default build/tcptune)
#
# shellcheck disable=SC2317 # shellcheck 0.9 takes all below the driver's exit
# for unreachable, and scenario_$SCEN calls the scenarios indirectly
set -u
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$BENCH")/.." && pwd)

SCENARIOS=${SCENARIOS:-r s f l m}
CCS=${CCS:-cubic bbr}
BASE_CC=${BASE_CC:-cubic}
RTTS=${RTTS:-40 20}
R_COUNT=${R_COUNT:-100}
R_COUNT_1M=${R_COUNT_1M:-50}
R_COUNT_NEW=${R_COUNT_NEW:-30}
R_COUNT_MIX=${R_COUNT_MIX:-30}
M_COUNT=${M_COUNT:-50}
UP_AT=${UP_AT:-10}
UP_FOR=${UP_FOR:-25}
DOWN_FOR=${DOWN_FOR:-11}
S_ROUNDS=${S_ROUNDS:-3}
F_SECS=${F_SECS:-10}
F_ROUNDS=${F_ROUNDS:-6}
F_OMIT=${F_OMIT:-2}
F_PINS=${F_PINS:-0,0 0,1}
F_IPERF_ARGS=${F_IPERF_ARGS--l 64K}
L_SECS=${L_SECS:-20}
L_WARM=${L_WARM:-4}
SAMPLE=${SAMPLE:-0.25}
AGENT_ARGS=${AGENT_ARGS:---interval 1}
LOCK=${LOCK-/tmp/tcptune-dev.lock}
RPC=${RPC:-$ROOT/build/rpc}
STOCK_RMEM="4096 131072 6291456"
STOCK_WMEM="4096 16384 4194304"

# ---------------------------------------------------------------- driver
if [ "${1:-}" != --one ]; then
	say() { echo "noharm: $*"; }
	[ "$(id -u)" = 0 ] || { say "error: must run as root" >&2; exit 1; }
	for tool in iperf3 jq ip ss tc awk flock timeout; do
		command -v "$tool" >/dev/null || { say "error: $tool is missing (make deps)" >&2; exit 1; }
	done
	[ -x "$RPC" ] || { say "error: $RPC is missing (make build/rpc)" >&2; exit 1; }
	for pin in $F_PINS; do
		if ! [[ $pin =~ ^[0-9]+,[0-9]+$ ]] || [ "${pin%,*}" -ge "$(nproc)" ] || [ "${pin#*,}" -ge "$(nproc)" ]; then
			say "error: F_PINS item '$pin' must be CLIENT_CPU,SERVER_CPU of this host's $(nproc) CPUs" >&2
			exit 1
		fi
	done
	for v in R_COUNT R_COUNT_1M R_COUNT_NEW R_COUNT_MIX M_COUNT UP_AT UP_FOR DOWN_FOR S_ROUNDS F_SECS F_OMIT F_ROUNDS L_SECS L_WARM; do
		if ! [[ ${!v} =~ ^[0-9]+$ ]] || [ "${!v}" = 0 ]; then
			say "error: $v='${!v}' must be a whole number > 0" >&2
			exit 1
		fi
	done
	[ "$DOWN_FOR" -ge 10 ] || { say "error: DOWN_FOR must be >= 10 (the delay is taken over 10 s)" >&2; exit 1; }
	RESULTS=$(mktemp /tmp/tcptune-noharm.XXXXXX)
	trap 'rm -f "$RESULTS"' EXIT
	trap 'say "interrupted"; exit 130' INT
	trap 'say "terminated"; exit 143' TERM
	say "$("${TCPTUNE:-$ROOT/build/tcptune}" --version 2>/dev/null | head -n 1), kernel $(uname -r), $(nproc) CPUs, $(iperf3 --version | head -n 1)"
	say "scenarios: $SCENARIOS; congestion control: $BASE_CC, (s) $CCS; agent: tcptune run $AGENT_ARGS"
	say "end namespaces: tcp_rmem \"$STOCK_RMEM\", tcp_wmem \"$STOCK_WMEM\"; net.core.rmem_max/wmem_max as the host has them (each scenario logs them), the agent raises them itself"
	rc=0
	t0=$(date +%s)
	for s in $SCENARIOS; do
		case $s in
		s) ccs=$CCS ;;
		[rflm]) ccs=$BASE_CC ;;
		*) say "unknown scenario '$s' (r s f l m)"; rc=1; continue ;;
		esac
		for cc in $ccs; do
			if [ -n "$LOCK" ]; then
				flock "$LOCK" bash "$BENCH" --one "$s" "$cc"
			else
				bash "$BENCH" --one "$s" "$cc"
			fi | tee -a "$RESULTS"
			st=${PIPESTATUS[0]}
			[ "$st" = 130 ] || [ "$st" = 143 ] && exit "$st"
			[ "$st" = 0 ] || { say "($s) $cc: could not be measured or cleaned up (exit $st)"; rc=1; }
		done
	done
	echo
	busy=$(sed -n 's/^# noharm: (.*: done .* (\([0-9]*\) s)$/\1/p' "$RESULTS" | awk '{ s += $1 } END { print s + 0 }')
	say "summary ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs, $(($(date +%s) - t0)) s in all, $busy s of it measuring, the rest waiting for the lock):"
	grep '^noharm: (' "$RESULTS" | sed 's/^noharm: /noharm:   /'
	met=$(grep -c '^noharm: (.*: met$' "$RESULTS")
	missed=$(grep -c '^noharm: (.*: MISSED$' "$RESULTS")
	unresolved=$(grep -c '^noharm: (.*: unresolved$' "$RESULTS")
	unmeasured=$(grep -c '^noharm: (.*: not measured$' "$RESULTS")
	say "targets: $met met, $missed MISSED$([ "$unresolved" = 0 ] || echo ", $unresolved unresolved (raise F_ROUNDS)")$([ "$unmeasured" = 0 ] || echo ", $unmeasured not measured")"
	exit $rc
fi

# ---------------------------------------------------------------- one scenario
SCEN=$2
CC=$3
# lib.sh: root check, cleanup on exit (cleanup_add), log, UNIQ, agent_start/stop
# shellcheck source=../tests/lib.sh
. "$ROOT/tests/lib.sh"
# shellcheck source=../tests/wan.sh
. "$ROOT/tests/wan.sh"
# shellcheck source=measure.sh
. "$ROOT/bench/measure.sh"
for tool in iperf3 jq bpftool; do
	command -v "$tool" >/dev/null || { echo "noharm: error: $tool missing"; exit 1; }
done

WORK=$(mktemp -d /tmp/tcptune-noharm.XXXXXX) || exit 1
if [ "${KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else cleanup_add "rm -rf $WORK"; fi
SYSCTLS0="$(sysctl -n net.core.rmem_max) $(sysctl -n net.core.wmem_max) $(sysctl -n net.ipv4.tcp_allowed_congestion_control)"
_PIDS=()
# final check, run last at exit (cleanup_add runs in reverse): nothing left behind
cleanup_add 'check_clean'
check_clean() {
	local now
	now="$(sysctl -n net.core.rmem_max) $(sysctl -n net.core.wmem_max) $(sysctl -n net.ipv4.tcp_allowed_congestion_control)"
	[ "$now" = "$SYSCTLS0" ] || echo "noharm: cleanup FAILED: sysctls are '$now', were '$SYSCTLS0'"
	! ip netns list | grep -q "^${UNIQ}" || echo "noharm: cleanup FAILED: namespaces left: $(ip netns list | grep "^${UNIQ}" | cut -d' ' -f1 | tr '\n' ' ')"
}
# stop_pids: the servers, clients and samplers started here (before their
# namespaces go: a namespace with a process in it outlives its name)
stop_pids() {
	local p
	for p in "${_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	_PIDS=()
}
cleanup_add stop_pids
die() { echo "noharm: ($SCEN) $CC: error: $*"; exit 1; }
UNMEASURED=0
NEXT_PORT=5300
RPC_PORT=5390
SINK_PORT=5391

# ---- helpers (sampling, parsing and figures: bench/measure.sh)
# num V: V is a number
num() { [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; }
# holds COND S T: the awk condition COND on s=S, t=T is true
holds() { awk -v s="$2" -v t="$3" "BEGIN { exit !($1) }"; }
# at T OFFSET: T + OFFSET seconds (times are $EPOCHREALTIME)
at() { awk -v t="$1" -v o="$2" 'BEGIN { printf "%.6f", t + o }'; }

# fmt UNIT V: a figure for display; UNIT ms, s, mbit (V in bit/s), mb (V in bytes)
fmt() {
	num "$2" || { echo "${2:--}"; return; }
	case $1 in
	ms) awk -v v="$2" 'BEGIN { printf "%.1f ms", v }' ;;
	s) awk -v v="$2" 'BEGIN { printf "%.1f s", v }' ;;
	mbit) awk -v v="$2" 'BEGIN { printf "%.1f Mbit/s", v / 1e6 }' ;;
	mb) awk -v v="$2" 'BEGIN { printf "%.2f MB", v / 1048576 }' ;;
	esac
}
ratio() { num "$1" && num "$2" && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }' || echo -; }

# Memory within this factor of stock's counts as no more than stock's: the
# sampled skmem of the same traffic differs that much between runs.
MEM_NOISE=1.05
# target_text KIND: the target of a result KIND, as the summary states it
target_text() {
	case $1 in
	ge*) echo ">= ${1#* } x stock" ;;
	le*) echo "<= ${1#* } x stock" ;;
	mem) echo "<= stock ($MEM_NOISE allowed for noise)" ;;
	plus*) echo "<= stock + ${1#* } s" ;;
	esac
}

# result LABEL UNIT KIND STOCK TUNED [TUNED2]: one "noharm: (x)" line with
# stock, tcptune (pass 2), ratio, target and verdict; with TUNED2 both passes
# must meet the target. KIND: ge F (tcptune >= F x stock), le F (<= F x
# stock), mem (<= stock, MEM_NOISE allowed), plus F (<= stock + F s; "never", a
# rate never reached, counts as later than any time).
result() {
	local label=$1 unit=$2 kind=$3 s=$4 t=$5 t2=${6:-} f=${3#* } cond text v p2="" r2=""
	case $kind in
	ge*) cond="t >= $f * s" ;;
	le*) cond="t <= $f * s" ;;
	mem) cond="t <= $MEM_NOISE * s" ;;
	plus*) cond="t <= s + $f" ;;
	esac
	text=$(target_text "$kind")
	[ -n "$t2" ] && { p2=" (pass 2 $(fmt "$unit" "$t2"))"; r2=" (pass 2 $(ratio "$t2" "$s"))"; }
	if [ "${kind%% *}" = plus ]; then # never: later than any time
		[ "$s" = never ] && s=1e9; [ "$t" = never ] && t=1e9; [ "$t2" = never ] && t2=1e9
	fi
	if ! num "$s" || ! num "$t" || { [ -n "$t2" ] && ! num "$t2"; }; then
		v="not measured"
		UNMEASURED=1
	else
		v=MISSED
		holds "$cond" "$s" "$t" && { [ -z "$t2" ] || holds "$cond" "$s" "$t2"; } && v=met
	fi
	[ "$s" = 1e9 ] && s=never; [ "$t" = 1e9 ] && t=never
	[ "$t2" = 1e9 ] && p2=" (pass 2 never)"
	echo "noharm: $label: stock $(fmt "$unit" "$s"), tcptune $(fmt "$unit" "$t")$p2, ratio $(ratio "$t" "$s")$r2, target $text: $v"
}

# result_rounds LABEL UNIT KIND STOCK TUNED "MEAN LOW HIGH N": a result from
# N rounds of stock and tcptune whose single runs swing more than the target's
# margin: the ratio is the geometric mean of the per-round ratios, given with
# its 95% interval (ratio_interval). KIND: ge F or mem, as for result. Met when the mean meets the
# target, MISSED when the whole interval misses it, and "unresolved" when the
# interval holds the target's bound: more rounds (F_ROUNDS) would decide.
result_rounds() {
	local label=$1 unit=$2 kind=$3 s=$4 t=$5 m lo hi n bound text v
	read -r m lo hi n <<<"$6"
	case $kind in
	ge*) bound=${kind#* } ;;
	mem) bound=$MEM_NOISE ;;
	esac
	text=$(target_text "$kind")
	if ! num "$s" || ! num "$t" || ! num "${hi:-}"; then
		v="not measured"
		UNMEASURED=1
	elif [ "$kind" = mem ]; then
		v=unresolved
		holds "t <= s" "$bound" "$m" && v=met
		holds "t > s" "$bound" "$lo" && v=MISSED
	else
		v=unresolved
		holds "t >= s" "$bound" "$m" && v=met
		holds "t < s" "$bound" "$hi" && v=MISSED
	fi
	echo "noharm: $label: stock $(fmt "$unit" "$s"), tcptune $(fmt "$unit" "$t"), ratio ${m:--} (95% interval ${lo:--} to ${hi:--} over ${n:-0} rounds), target $text: $v"
}

# ns_stock NS...: stock tcp_rmem/tcp_wmem and congestion control CC. A
# namespace may only default to one the initial namespace allows: CC is added
# there when missing (restored at teardown).
ns_stock() {
	local allowed ns
	allowed=$(sysctl -n net.ipv4.tcp_allowed_congestion_control)
	if ! [[ " $allowed " == *" $CC "* ]]; then
		wan_global_sysctl net.ipv4.tcp_allowed_congestion_control "$allowed $CC" || die "allow $CC"
	fi
	for ns in "$@"; do
		wan_sysctl "$ns" net.ipv4.tcp_rmem "$STOCK_RMEM" || die "tcp_rmem in $ns"
		wan_sysctl "$ns" net.ipv4.tcp_wmem "$STOCK_WMEM" || die "tcp_wmem in $ns"
		wan_sysctl "$ns" net.ipv4.tcp_congestion_control "$CC" || die "congestion control in $ns"
	done
}
# path_ready: after a path is built: stock sysctls in its end namespaces, and
# this run's processes stopped before the path goes at exit
path_ready() { ns_stock "$NS_C" "$NS_S"; cleanup_add stop_pids; }
# fresh_start: no agent, unless one was started here, and no per-destination
# tcp_metrics (cached ssthresh, RTT) left by an earlier run in the end namespaces
fresh_start() {
	[ -n "${AGENT_PID:-}" ] || wait_no_progs 30 ||
		die "another tcptune agent is running (its BPF programs are loaded): stock runs would be tuned"
	ip -n "$NS_C" tcp_metrics flush all 2>/dev/null
	ip -n "$NS_S" tcp_metrics flush all 2>/dev/null
	return 0
}

# bench_agent_start TAG: a fresh agent, its log time-stamped in $WORK/TAG.agent
bench_agent_start() {
	local args
	fresh_start
	read -ra args <<<"$AGENT_ARGS"
	AGENT_LOG_AT=$WORK/$1.agent agent_start "${args[@]}" || die "agent did not start"
}
bench_agent_stop() {
	local rc=0 regrown cpu
	regrown=$("$TCPTUNE" status --json 2>/dev/null | jq -r '.counters.regrown // "?"')
	cpu=$(proc_cpu_ms "$AGENT_PID")
	agent_stop TERM || rc=$?
	sleep 0.2
	[ "$rc" = 0 ] || { log "agent exited with status $rc"; UNMEASURED=1; }
	log "agent ($1): $(grep -c ' tcptune: change ' "$AGENT_LOG") change lines ($(grep -c '(grow)' "$AGENT_LOG") grow, $(grep -c '(shrink)' "$AGENT_LOG") shrink, $(grep -c '(probe)' "$AGENT_LOG") probe), $regrown regrown on ACKs, ${cpu:-?} ms of CPU"
}

# alternate ROUNDS STOCK TUNED: ROUNDS rounds of `STOCK ROUND` and `TUNED ROUND`,
# stock first in odd rounds and last in even ones, so that a drift of the
# machine over the scenario hits both alike
alternate() {
	local i
	for ((i = 1; i <= $1; i++)); do
		[ $((i % 2)) = 0 ] || "$2" "$i"
		"$3" "$i"
		[ $((i % 2)) = 1 ] || "$2" "$i"
	done
}

# delay_ms TSV NS [FROM [TO]]: median send-buffer delay (ms: notsent /
# delivery_rate) over the samples of the senders in NS (sockets that have
# sent more than 64 KB: not iperf3's control connection) taken FROM..TO
delay_ms() {
	awk -v ns="$2" -v a="${3:-0}" -v z="${4:-1e12}" '$3 == ns && $14 > 65536 && $13 > 0 && $2 >= a && $2 <= z {
		printf "%.3f\n", $12 * 8 / $13 * 1000 }' "$1" | median
}

# iperf_start TAG SECS OMIT STREAMS [IPERF3 OPTIONS...]: an iperf3 client in
# NS_C to a fresh one-shot server in NS_S (-J to $WORK/TAG.json); sets IPERF_PID
iperf_start() {
	local tag=$1 secs=$2 omit=$3 n=$4 port=$NEXT_PORT
	shift 4
	NEXT_PORT=$((NEXT_PORT + 1))
	iperf_server "$NS_S" "$port" || die "iperf3 server did not start"
	ip netns exec "$NS_C" iperf3 -c "$S4" -p "$port" -t "$secs" -O "$omit" -P "$n" -C "$CC" "$@" \
		-J >"$WORK/$tag.json" 2>&1 &
	IPERF_PID=$!
	_PIDS+=("$IPERF_PID")
}
iperf_wait() {
	wait "$IPERF_PID" || die "iperf3 ($1) failed: $(jq -r '.error // empty' "$WORK/$1.json" 2>/dev/null | head -c 300)"
}

# ---- request/response (r, m)
# rpc_serve PORT: the request/response server in NS_S, until the path goes
rpc_serve() {
	ip netns exec "$NS_S" "$RPC" serve --port "$1" >"$WORK/serve.$1.log" 2>&1 &
	_PIDS+=($!)
	wait_for 5 grep -q listening "$WORK/serve.$1.log" || die "rpc server did not start: $(cat "$WORK/serve.$1.log")"
}
# rpc_call OUT ARGS...: `rpc call` from NS_C to the server, output to $WORK/OUT
rpc_call() {
	local out=$1
	shift
	ip netns exec "$NS_C" "$RPC" call --to "$S4" --port "$RPC_PORT" "$@" >"$WORK/$out" 2>&1 ||
		die "rpc call $* failed: $(tail -n 1 "$WORK/$out")"
}
# rpc_field OUT SIZE KEY: a figure (p50_ms, p99_ms...) of one size in rpc call's output
rpc_field() {
	awk -v s="size=$2" -v k="$3=" '$1 == s { for (i = 2; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1) }' "$WORK/$1"
}
# rpc_sequence TAG: the request/response runs of (r), outputs $WORK/TAG.{p,p1m,n,x}
rpc_sequence() {
	fresh_start
	rpc_call "$1.p" --sizes 10k,100k --count "$R_COUNT"
	rpc_call "$1.p1m" --sizes 1m --count "$R_COUNT_1M"
	rpc_call "$1.n" --sizes 1m --count "$R_COUNT_NEW" --new
	rpc_call "$1.x" --sizes 10k,100k,1m --count "$R_COUNT_MIX" --mix
}
# rpc_results LABEL OUT SIZE STOCK_TAG TAG1 TAG2: the p50 and p99 lines of one
# size of one run kind
rpc_results() {
	local label=$1 x=${2:+.$2} size=$3 k
	for k in p50 p99; do
		result "$label $k" ms "le 1.05" "$(rpc_field "$4$x" "$size" "${k}_ms")" \
			"$(rpc_field "$5$x" "$size" "${k}_ms")" "$(rpc_field "$6$x" "$size" "${k}_ms")"
	done
}

# rpc_path RTT: (r) on one path: stock, then a fresh agent's two passes
rpc_path() {
	local rtt=$1 p="(r) $1 ms:" s="r${1}s" t1="r${1}t1" t2="r${1}t2"
	wan_path "${UNIQ}r$rtt" 100mbit "$rtt" "$((100 * rtt / 8))kb" 100mbit || die "path"
	path_ready
	rpc_serve "$RPC_PORT"
	rpc_sequence "$s"
	bench_agent_start "$t1"
	rpc_sequence "$t1"
	sleep 2 # two agent ticks: what pass 1 taught it is in place
	rpc_sequence "$t2"
	bench_agent_stop "$t1"
	rpc_results "$p 10k persistent" p 10240 "$s" "$t1" "$t2"
	rpc_results "$p 100k persistent" p 102400 "$s" "$t1" "$t2"
	rpc_results "$p 1m persistent" p1m 1048576 "$s" "$t1" "$t2"
	rpc_results "$p 1m new connections" n 1048576 "$s" "$t1" "$t2"
	rpc_results "$p 10k mixed" x 10240 "$s" "$t1" "$t2"
	rpc_results "$p 100k mixed" x 102400 "$s" "$t1" "$t2"
	rpc_results "$p 1m mixed" x 1048576 "$s" "$t1" "$t2"
	stop_pids
	wan_teardown >/dev/null || die "teardown: a delay line did not stop cleanly or a sysctl was not restored"
}
scenario_r() {
	local rtt
	for rtt in $RTTS; do rpc_path "$rtt"; done
}

scenario_m() {
	wan_path "${UNIQ}m" 100mbit 40 500kb 100mbit || die "path"
	path_ready
	rpc_serve "$RPC_PORT"
	fresh_start
	rpc_call ms --sizes 1m --count "$M_COUNT" --new
	bench_agent_start mt1
	rpc_call mt1 --sizes 1m --count "$M_COUNT" --new
	sleep 2 # two agent ticks
	rpc_call mt2 --sizes 1m --count "$M_COUNT" --new
	bench_agent_stop mt1
	rpc_results "(m) 1m new connections, 40 ms (pass 1 first contact, pass 2 known):" "" 1048576 ms mt1 mt2
}

# ---- rate steps (s)
# tbf_rate MBIT: the bottleneck (router's TBF towards the server) at MBIT
# Mbit/s with a queue of 1 BDP at 80 ms (a change drops what is queued beyond)
tbf_rate() {
	tc -n "$NS_R" qdisc change dev veths root tbf rate "${1}mbit" burst "$(_wan_burst $(($1 * 1000000)))" \
		limit "$(($1 * 10))kb" || die "tc qdisc change to $1 Mbit/s"
}
# step_run TAG: one flow, 25 Mbit/s, 200 after UP_AT s, 25 again UP_FOR s
# later, until DOWN_FOR s after that; ss of both ends every 0.25 s. Leaves
# the step times in $WORK/TAG.up and TAG.down.
step_run() {
	local tag=$1
	tbf_rate 25
	fresh_start
	iperf_start "$tag" $((UP_AT + UP_FOR + DOWN_FOR)) 0 1
	sampler "$tag" 0.25 0 "$NS_C" "$NS_S"
	sleep "$UP_AT"
	tbf_rate 200
	echo "$EPOCHREALTIME" >"$WORK/$tag.up"
	sleep "$UP_FOR"
	tbf_rate 25
	echo "$EPOCHREALTIME" >"$WORK/$tag.down"
	iperf_wait "$tag"
	sampler_stop "$tag"
}
# step_figures TAG FILE: appends "TIME DELAY" of the step run TAG to FILE:
# seconds from the step up to 90% of the new rate (1e9: never), send-buffer
# delay after the step down
step_figures() {
	local up down t
	up=$(cat "$WORK/$1.up") down=$(cat "$WORK/$1.down")
	t=$(time_to_rate "$WORK/$1.tsv" "$up" "$NEW90")
	[ "$t" = never ] && t=1e9
	echo "$t $(delay_ms "$WORK/$1.tsv" "$NS_C" "$down" "$(at "$down" 10)")" >>"$2"
	log "(s) $1: goodput $(fmt mbit "$(goodput "$WORK/$1.json")") over the whole flow; at 200 Mbit/s from step+5 s: $(fmt mbit "$(rate_between "$WORK/$1.tsv" "$(at "$up" 5)" "$down")"); sender tb median $(buf_median "$WORK/$1.tsv" "$NS_C" 9), receiver rb median $(buf_median "$WORK/$1.tsv" "$NS_S" 7); retransmits $(retrans "$WORK/$1.json"); time to 90% $t s"
}
# step_stock ROUND, step_tuned ROUND: the stock run of a round, and the
# tcptune run with a fresh agent
step_stock() { step_run "ss.$1"; }
step_tuned() {
	bench_agent_start "st.$1"
	step_run "st.$1"
	bench_agent_stop "st.$1"
}
scenario_s() {
	local i kind col p="(s) $CC: 80 ms" med=()
	wan_path "${UNIQ}s" 25mbit 80 250kb || die "path"
	path_ready
	NEW90=$(awk -v c="$(wan_ceiling 200mbit)" 'BEGIN { printf "%.0f", 0.9 * c }')
	alternate "$S_ROUNDS" step_stock step_tuned
	for kind in ss st; do
		for ((i = 1; i <= S_ROUNDS; i++)); do step_figures "$kind.$i" "$WORK/$kind.figures"; done
		for col in 1 2; do med+=("$(awk -v c="$col" '{ print $c }' "$WORK/$kind.figures" | median)"); done
	done
	log "(s) times to 90% of the new rate, per round: stock $(awk '{ printf "%s ", $1 }' "$WORK/ss.figures")s, tcptune $(awk '{ printf "%s ", $1 }' "$WORK/st.figures")s"
	result "$p, 25 -> 200 Mbit/s: time to 90% of the new rate (median of $S_ROUNDS)" s "plus 0.5" "${med[0]}" "${med[2]}"
	result "$p, 200 -> 25 Mbit/s: send-buffer delay (median, 10 s after the step down; median of $S_ROUNDS)" ms "le 1.05" "${med[1]}" "${med[3]}"
}

# ---- short-RTT fast path (f)
# cpu_busy_ms: busy CPU time of the whole host so far (ms, from /proc/stat)
cpu_busy_ms() {
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8) * 1000 / hz; exit }' /proc/stat
}
# proc_cpu_ms PID: user + system CPU time of PID so far (ms, /proc/PID/stat)
proc_cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.0f\n", ($12 + $13) * 1000 / hz }' "/proc/$1/stat" 2>/dev/null
}
# context_switches: the host's context switches so far (/proc/stat)
context_switches() { awk '$1 == "ctxt" { print $2; exit }' /proc/stat; }
# per_gib COUNT JSON: COUNT per GiB the iperf3 run of JSON received
per_gib() {
	awk -v c="$1" -v b="$(jq -r '.end.sum_received.bytes // 0' "$2")" \
		'BEGIN { if (b > 0) printf "%.0f", c / (b / 2^30); else print "-" }'
}
# fast_run TAG STREAMS PIN: one iperf3 run over the plain veth, client and
# server on the CPUs PIN, sampled from warm-up on; logs the host's busy CPU ms
# and context switches per GiB moved (a run on two CPUs whose receiver sleeps
# and is woken across CPUs more often moves less per CPU ms) and, under the
# agent, the agent's own share of the busy time
fast_run() {
	local tag=$1 n=$2 c0 x0 a0="" busy agent="" opts
	read -ra opts <<<"$F_IPERF_ARGS"
	fresh_start
	c0=$(cpu_busy_ms) x0=$(context_switches)
	[ -n "${AGENT_PID:-}" ] && a0=$(proc_cpu_ms "$AGENT_PID")
	iperf_start "$tag" "$F_SECS" "$F_OMIT" "$n" -A "$3" "${opts[@]}"
	sampler "$tag" "$SAMPLE" "$F_OMIT" "$NS_C" "$NS_S"
	iperf_wait "$tag"
	sampler_stop "$tag"
	busy=$(($(cpu_busy_ms) - c0))
	[ -n "$a0" ] && agent=", agent $(($(proc_cpu_ms "$AGENT_PID") - a0)) ms of the $busy ms busy"
	log "(f) $tag: $(fmt mbit "$(goodput "$WORK/$tag.json")"), per GiB (warm-up included): busy CPU $(per_gib "$busy" "$WORK/$tag.json") ms, $(per_gib "$(($(context_switches) - x0))" "$WORK/$tag.json") context switches$agent; sender tb median $(buf_median "$WORK/$tag.tsv" "$NS_C" 9), receiver rb median $(buf_median "$WORK/$tag.tsv" "$NS_S" 7)"
}

# f_mean WHAT TAG: the mean over the F_ROUNDS runs TAG.1, TAG.2... of their
# goodput or memory
f_mean() {
	local i
	for ((i = 1; i <= F_ROUNDS; i++)); do f_figure "$1" "$2.$i"; done |
		awk '/^[0-9.e+-]+$/ { s += $1; n++ } END { if (n == NR && n) printf "%.0f\n", s / n; else print "-" }'
}
# f_figure WHAT RUN: the goodput or memory of one run
f_figure() {
	if [ "$1" = goodput ]; then goodput "$WORK/$2.json"; else mem_mean "$WORK/$2.tsv"; fi
}
# f_ratios WHAT STOCK TUNED: per round, the goodput or memory of tcptune's run
# over stock's, one a line (a round's two runs are minutes apart at most, so
# the pair shares the machine's state of the moment)
f_ratios() {
	local i s t
	for ((i = 1; i <= F_ROUNDS; i++)); do
		s=$(f_figure "$1" "$2.$i") t=$(f_figure "$1" "$3.$i")
		num "$s" && num "$t" && awk -v s="$s" -v t="$t" 'BEGIN { if (s > 0) printf "%.4f\n", t / s }'
	done
}

# fast_runs KIND ROUND: the runs of a round for KIND (fs: stock, ft: tcptune),
# with 1 and 4 flows on each pair of CPUs of F_PINS
fast_runs() {
	local n pin
	for pin in $F_PINS; do
		for n in 1 4; do fast_run "$1$n.${pin/,/-}.$2" "$n" "$pin"; done
	done
}
# fast_stock ROUND: the stock runs of a round
fast_stock() { fast_runs fs "$1"; }
# fast_tuned ROUND: the tcptune runs of a round, with a fresh agent
fast_tuned() {
	bench_agent_start "ft.$1"
	fast_runs ft "$1"
	bench_agent_stop "ft.$1"
}
# fast_rows PIN: the result rows of the runs on the CPUs PIN
fast_rows() {
	local n p ratios cpus="one CPU" tag=${1/,/-}
	[ "${1%,*}" = "${1#*,}" ] || cpus="two CPUs"
	for n in 1 4; do
		p="(f) plain veth, $cpus ($1), $n flow$([ "$n" = 1 ] || echo s)"
		ratios=$(f_ratios goodput "fs$n.$tag" "ft$n.$tag")
		log "$p: goodput ratios per round $(awk '{ printf "%.2f ", $1 }' <<<"$ratios")"
		p="$p, mean of $F_ROUNDS runs"
		result_rounds "$p: goodput" mbit "ge 0.98" "$(f_mean goodput "fs$n.$tag")" "$(f_mean goodput "ft$n.$tag")" \
			"$(ratio_interval <<<"$ratios")"
		result_rounds "$p: memory (skmem r+w+f, both ends, mean)" mb mem "$(f_mean mem "fs$n.$tag")" "$(f_mean mem "ft$n.$tag")" \
			"$(f_ratios mem "fs$n.$tag" "ft$n.$tag" | ratio_interval)"
	done
}

scenario_f() {
	local pin
	# netpath: plain veth with "none" (no TBF); it names the namespaces
	# NAMEc/NAMEs and sets reno, which path_ready replaces with CC
	netpath "${UNIQ}f" none - || die "path"
	path_ready
	# CPU-bound rates swing between runs: rounds of stock and tcptune
	alternate "$F_ROUNDS" fast_stock fast_tuned
	for pin in $F_PINS; do fast_rows "$pin"; done
	# netpath's namespaces are otherwise removed only at exit, after check_clean
	stop_pids
	ip netns exec "$NS_C" ss -K >/dev/null 2>&1
	ip netns exec "$NS_S" ss -K >/dev/null 2>&1
	ip netns del "$NS_C" || die "cannot remove $NS_C"
	ip netns del "$NS_S" || die "cannot remove $NS_S"
}

# ---- slow reader (l)
# slow_run TAG: L_SECS s of `cat /dev/zero` into bash's /dev/tcp from NS_C to
# the sink in NS_S, sampled from the start; the connection is then aborted (a
# sink would drain what is buffered for seconds more). Leaves the start time
# in $WORK/TAG.t0.
slow_run() {
	local tag=$1 st=0
	fresh_start
	echo "$EPOCHREALTIME" >"$WORK/$tag.t0"
	sampler "$tag" "$SAMPLE" 0 "$NS_C" "$NS_S"
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout "$L_SECS" ip netns exec "$NS_C" bash -c 'exec 3>"/dev/tcp/$1/$2" && exec cat /dev/zero >&3' \
		_ "$S4" "$SINK_PORT" 2>"$WORK/$tag.err" || st=$?
	sampler_stop "$tag"
	ip netns exec "$NS_C" ss -K dport = ":$SINK_PORT" >/dev/null 2>&1
	ip netns exec "$NS_S" ss -K sport = ":$SINK_PORT" >/dev/null 2>&1
	[ "$st" = 124 ] || die "the sender stopped early (status $st): $(head -c 300 "$WORK/$tag.err")"
}
# read_rate TSV FROM: bytes/s the sink's reader took (bytes_received - Recv-Q
# of the sink's socket) from the first sample at or after FROM to the last
read_rate() {
	awk -v ns="$NS_S" -v p="$SINK_PORT" -v a="$2" '$3 == ns && $4 == p && $2 >= a {
		v = $15 - $16; if (!n++) { t0 = $2; v0 = v } t1 = $2; v1 = v }
		END { if (n > 1 && t1 > t0) printf "%.0f\n", (v1 - v0) * 8 / (t1 - t0); else print "-" }' "$1"
}

scenario_l() {
	local tag from p s=() m=() d=()
	wan_path "${UNIQ}l" 100mbit 40 500kb 100mbit || die "path"
	path_ready
	ip netns exec "$NS_S" "$RPC" sink --port "$SINK_PORT" --read-bps 2m >"$WORK/sink.log" 2>&1 &
	_PIDS+=($!)
	wait_for 5 grep -q listening "$WORK/sink.log" || die "rpc sink did not start: $(cat "$WORK/sink.log")"
	slow_run ls
	bench_agent_start lt
	slow_run lt
	bench_agent_stop lt
	for tag in ls lt; do
		from=$(at "$(cat "$WORK/$tag.t0")" "$L_WARM")
		s+=("$(read_rate "$WORK/$tag.tsv" "$from")")
		m+=("$(mem_mean "$WORK/$tag.tsv" "$from")")
		d+=("$(delay_ms "$WORK/$tag.tsv" "$NS_C" "$from")")
		log "(l) $tag: sender tb median $(buf_median "$WORK/$tag.tsv" "$NS_C" 9), receiver rb median $(buf_median "$WORK/$tag.tsv" "$NS_S" 7); sender notsent median $(awk -v ns="$NS_C" -v a="$from" '$3 == ns && $2 >= a { print $12 }' "$WORK/$tag.tsv" | median) bytes, receiver unread median $(awk -v ns="$NS_S" -v a="$from" '$3 == ns && $2 >= a { print $16 }' "$WORK/$tag.tsv" | median) bytes"
	done
	p="(l) reader at 2 MB/s, 100 Mbit/s 40 ms"
	result "$p: goodput (bytes the reader took)" mbit "ge 0.98" "${s[0]}" "${s[1]}"
	result "$p: memory (skmem r+w+f, both ends, mean)" mb mem "${m[0]}" "${m[1]}"
	result "$p: sender's send-buffer delay (median)" ms "le 1.05" "${d[0]}" "${d[1]}"
}

# ---- main
T_START=$(date +%s)
log "($SCEN) $CC: start $(date -u +%H:%M:%S); net.core.rmem_max=$(sysctl -n net.core.rmem_max) wmem_max=$(sysctl -n net.core.wmem_max)"
"scenario_$SCEN"
stop_pids
wan_teardown >/dev/null || die "teardown: a delay line did not stop cleanly or a sysctl was not restored"
out=$(check_clean)
[ -z "$out" ] || { echo "$out"; exit 1; }
[ "$UNMEASURED" = 0 ] || { echo "noharm: ($SCEN) $CC: some figures could not be measured"; exit 1; }
log "($SCEN) $CC: done $(date -u +%H:%M:%S) ($(($(date +%s) - T_START)) s)"
exit 0
