#!/usr/bin/env bash
# Proof benchmarks (`make bench-wan`, part of `make bench`):
# tcptune against stock autotuning on emulated WAN paths (tests/wan.sh: TUN
# delay line + TBF bottleneck in a router namespace), on the same path in the
# same run, each with the congestion control set explicitly in both end
# namespaces (CCS, default "cubic bbr"). Per scenario: the path is built, the
# end namespaces get their sysctls, then iperf3 runs without any agent
# ("stock"), then with a fresh `tcptune run` ("tcptune"; for (f) `--observe`).
# In (c), (d) and (g) that agent runs the flows twice: first contact (figures
# printed, no target), then again with the sizes it learned for the
# destination (first windows included), the run judged against the targets.
#
#  (a) long fat path, conservative host: 1 flow, 200 Mbit/s, 100 ms RTT,
#      tcp_rmem/tcp_wmem max 1 MB in the end namespaces. Target: tcptune's
#      goodput >= 90% of the path's goodput ceiling.
#  (b) long fat path, stock host: 1 flow, 1 Gbit/s, 100 ms (BDP 12.5 MB),
#      stock sysctls. Target: tcptune >= 90% of the ceiling.
#  (c) many flows, a sweep: C_FLOWS bulk flows (iperf3 clients of at most
#      100 streams each) sharing each path of C_PATHS (100 Mbit/s at 20 ms,
#      BDP 250 KB; 400 Mbit/s at 40 ms, BDP 2 MB; queue one BDP), stock
#      sysctls, a fresh agent at each point. Targets at each point: memory
#      charged to TCP with tcptune on the known destination <= 1/4 of stock's,
#      on first contact <= 1/2; aggregate goodput >= 95% of stock's.
#  (d) send-buffer delay: 1 and 4 bulk flows over 50 Mbit/s at 10 ms, stock
#      sysctls. Target: tcptune's median send-buffer delay <= 2.5 x RTT
#      (25 ms), goodput >= 95% of stock's.
#  (e) path change: 1 flow at 100 ms, bottleneck stepped from 50 to 400
#      Mbit/s after STEP_AT s (tc qdisc change; queue limit 1 BDP of each
#      rate), stock sysctls. Target: a 1 s window at >= 90% of the new ceiling
#      within 5 s of the step; in steady state (the last 10 s before the step,
#      and from 10 s after it to the end) at most one buffer change per
#      connection per 10 s (from the agent's time-stamped log; the lines of
#      one connection in one tick, sndbuf/rcvbuf/notsent_lowat, count as one).
#      The receiver's bytes_received is sampled every 0.25 s for the rate.
#      A third run, no agent with 64 MB tcp_rmem/tcp_wmem max in the
#      namespaces, shows what the congestion control alone needs to reach
#      the new rate when buffers are never the limit (a reference, no target).
#  (f) observe mode changes nothing: 1 flow, 100 Mbit/s, 40 ms, stock sysctls,
#      stock vs `tcptune run --observe`: sender tb and receiver rb (medians of
#      ss samples) within 25%, goodput within 5%, the agent's "applied" counter 0.
#  (g) both at once, one client: one flow over 1 Gbit/s, 100 ms to one server
#      and 50 flows sharing 50 Mbit/s at 10 ms to another (wan_path_join),
#      stock sysctls. Target: the long flow >= 90% of its ceiling and the
#      short flows' median send-buffer delay <= 2.5 x 10 ms.
#
# How it measures (identical for stock and tcptune runs):
#  - goodput: iperf3 -J, receiver side (.end.sum_received), over DURATION s
#    after OMIT s of warm-up that iperf3 leaves out (-O). The warm-up is the
#    same for both, so tcptune's ramp (a few agent ticks of probing) must
#    fit in OMIT or counts against it. Ceiling = rate x 1448/1514 (wan_ceiling).
#  - ss samples: `ss -tinm state established` of the iperf3 ports in the end
#    namespaces every SAMPLE s (0.25 s in (e)), from OMIT s after the clients
#    start until they end.
#  - memory (c): per sample, sum over every iperf3 socket of both ends of
#    skmem r + w + f (rmem_alloc: received, not read; wmem_queued: written,
#    unsent or unacked; fwd_alloc: charged to TCP memory but not yet used:
#    together what the socket holds of the tcp_mem pool); mean over samples.
#  - send-buffer delay (d, g): per sender socket per sample, notsent bytes /
#    delivery_rate (ss `notsent`, `delivery_rate`), over the sockets that have
#    sent more than 64 KB (not iperf3's control connection); median and p90
#    over all samples of all flows.
#  - net.core.rmem_max/wmem_max stay at the machine's value for stock runs
#    (printed); the agent raises them itself (--max-buf) and restores them.
#
# Output: per scenario and congestion control, "wan: (x) CC: ..." lines with
# stock, tcptune, ratio, target and met/MISSED (plus "# wan:" detail lines),
# then a "wan: summary" block with every such line, for docs/benchmarks.md.
# Exit status: 0 when every scenario measured (even with targets MISSED), 1
# when one could not be measured or cleaned up.
#
# Each scenario runs in its own process under `flock $LOCK` (one scenario at
# a time, so others sharing the machine interleave): it builds its path,
# measures stock and tcptune, and tears everything down (namespaces, delay
# lines, agent, global sysctls) also on failure or Ctrl-C.
#
# Environment:
#   SCENARIOS   which scenarios (default "a b c d e f g")
#   CCS         congestion controls (default "cubic bbr")
#   DURATION    measured seconds per iperf3 run (default 20)
#   OMIT        warm-up seconds left out (default 5)
#   SAMPLE      ss sampling period, seconds (default 1)
#   C_FLOWS     (c): flow counts (default "50 200 1000")
#   C_PATHS     (c): paths, RATE/RTT_MS (default "100mbit/20 400mbit/40")
#   STEP_AT     (e): seconds after the client starts at which the rate steps (default 15)
#   AFTER_STEP  (e): seconds the flow runs after the step (default 25)
#   AGENT_ARGS  more `tcptune run` options (default "--interval 1")
#   LOCK        lock file (default /tmp/tcptune-dev.lock). Do not run this script
#               under `flock $LOCK` yourself: it would wait for itself. LOCK=
#               takes no lock (the caller then serialises).
#   KEEP        1: keep the work directory (iperf3 JSON, ss samples, agent logs)
#   TCPTUNE     agent binary (default build/tcptune)
set -u
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$BENCH")/.." && pwd)

SCENARIOS=${SCENARIOS:-a b c d e f g}
C_FLOWS=${C_FLOWS:-50 200 1000}
C_PATHS=${C_PATHS:-100mbit/20 400mbit/40}
CCS=${CCS:-cubic bbr}
DURATION=${DURATION:-20}
OMIT=${OMIT:-5}
SAMPLE=${SAMPLE:-1}
STEP_AT=${STEP_AT:-15}
AFTER_STEP=${AFTER_STEP:-25}
AGENT_ARGS=${AGENT_ARGS:---interval 1}
LOCK=${LOCK-/tmp/tcptune-dev.lock}
STOCK_RMEM="4096 131072 6291456"
STOCK_WMEM="4096 16384 4194304"

# ---------------------------------------------------------------- driver
if [ "${1:-}" != --one ]; then
	say() { echo "wan: $*"; }
	[ "$(id -u)" = 0 ] || { say "error: must run as root" >&2; exit 1; }
	for tool in iperf3 jq ip ss tc awk flock; do
		command -v "$tool" >/dev/null || { say "error: $tool is missing (make deps)" >&2; exit 1; }
	done
	for v in DURATION OMIT STEP_AT AFTER_STEP; do
		[[ ${!v} =~ ^[0-9]+$ ]] || { say "error: $v='${!v}' must be whole seconds" >&2; exit 1; }
	done
	for n in $C_FLOWS; do
		[[ $n =~ ^[1-9][0-9]*$ ]] || { say "error: C_FLOWS: '$n' is not a flow count" >&2; exit 1; }
	done
	RESULTS=$(mktemp /tmp/tcptune-wanbench.XXXXXX)
	trap 'rm -f "$RESULTS"' EXIT
	trap 'say "interrupted"; exit 130' INT
	trap 'say "terminated"; exit 143' TERM
	say "$("${TCPTUNE:-$ROOT/build/tcptune}" --version 2>/dev/null | head -n 1), kernel $(uname -r), $(nproc) CPUs, $(iperf3 --version | head -n 1)"
	say "scenarios: $SCENARIOS; congestion control: $CCS; ${DURATION} s per run after ${OMIT} s warm-up; agent: tcptune run $AGENT_ARGS"
	say "host: net.core.rmem_max=$(sysctl -n net.core.rmem_max) wmem_max=$(sysctl -n net.core.wmem_max) (left as they are; the agent raises them itself); end namespaces: stock tcp_rmem \"$STOCK_RMEM\", tcp_wmem \"$STOCK_WMEM\" unless a scenario says otherwise"
	rc=0
	t0=$(date +%s)
	for cc in $CCS; do
		for s in $SCENARIOS; do
			[[ $s =~ ^[a-g]$ ]] || { say "unknown scenario '$s' (a-g)"; rc=1; continue; }
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
	say "summary ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs, ${DURATION} s runs after ${OMIT} s warm-up, $(($(date +%s) - t0)) s in all):"
	grep '^wan: (' "$RESULTS" | sed 's/^wan: /wan:   /'
	met=$(grep -c '^wan: (.* met$' "$RESULTS")
	missed=$(grep -c '^wan: (.* MISSED$' "$RESULTS")
	say "targets: $met met, $missed MISSED"
	exit $rc
fi

# ---------------------------------------------------------------- one scenario
SCEN=$2
CC=$3
# lib.sh: root check, cleanup on exit (cleanup_add), log, UNIQ, agent_stop
# shellcheck source=../tests/lib.sh
. "$ROOT/tests/lib.sh"
# shellcheck source=../tests/wan.sh
. "$ROOT/tests/wan.sh"
# shellcheck source=measure.sh
. "$ROOT/bench/measure.sh"
for tool in iperf3 jq bpftool; do
	command -v "$tool" >/dev/null || { echo "wan: error: $tool missing"; exit 1; }
done

WORK=$(mktemp -d /tmp/tcptune-wan.XXXXXX) || exit 1
if [ "${KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else cleanup_add "rm -rf $WORK"; fi
SYSCTLS0="$(sysctl -n net.core.rmem_max) $(sysctl -n net.core.wmem_max) $(sysctl -n net.ipv4.tcp_allowed_congestion_control)"
_PIDS=()
cleanup_add 'for p in "${_PIDS[@]}"; do kill "$p" 2>/dev/null; done'
# final check, run first at exit (cleanup_add runs in reverse): nothing left behind
cleanup_add 'check_clean'
check_clean() {
	local now
	now="$(sysctl -n net.core.rmem_max) $(sysctl -n net.core.wmem_max) $(sysctl -n net.ipv4.tcp_allowed_congestion_control)"
	[ "$now" = "$SYSCTLS0" ] || echo "wan: cleanup FAILED: sysctls are '$now', were '$SYSCTLS0'"
	! ip netns list | grep -q "^${UNIQ}[a-h][crs]\b" || echo "wan: cleanup FAILED: namespaces left: $(ip netns list | grep "^${UNIQ}[a-h][crs]\b" | tr '\n' ' ')"
}
die() { echo "wan: ($SCEN) $CC: error: $*"; exit 1; }
NEXT_PORT=5300

# ---- helpers
mbit() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", 100 * a / b; else print "-" }'; }
# verdict EXPR with awk variables: met / MISSED
verdict() { awk "BEGIN { exit !($1) }" 2>/dev/null && echo met || echo MISSED; }

# ns_sysctls RMEM WMEM NS...: tcp_rmem / tcp_wmem in the namespaces
ns_sysctls() {
	local rmem=$1 wmem=$2 ns
	shift 2
	for ns in "$@"; do
		wan_sysctl "$ns" net.ipv4.tcp_rmem "$rmem" && wan_sysctl "$ns" net.ipv4.tcp_wmem "$wmem" || return 1
	done
}
# set_cc CC NS...: default congestion control of the namespaces; a namespace
# may only default to one the initial namespace allows: add it there (restored at teardown)
set_cc() {
	local cc=$1 allowed
	shift
	allowed=$(sysctl -n net.ipv4.tcp_allowed_congestion_control)
	if ! [[ " $allowed " == *" $cc "* ]]; then
		wan_global_sysctl net.ipv4.tcp_allowed_congestion_control "$allowed $cc" || return 1
	fi
	wan_cc "$cc" "$@"
}

# no_agent: make sure no tcptune agent is loaded (a stock run must not be tuned)
no_agent() {
	wait_no_progs 30 || die "another tcptune agent is running (its BPF programs are loaded): stock runs would be tuned"
}

# bench_agent_start tuned|observe TAG: a fresh agent, its log time-stamped in $WORK/TAG.agent
bench_agent_start() {
	local mode=$1 tag=$2 args
	no_agent
	read -ra args <<<"$AGENT_ARGS"
	[ "$mode" = observe ] && args+=(--observe)
	AGENT_LOG_AT=$WORK/$tag.agent agent_start "${args[@]}" || die "agent did not start"
}
bench_agent_stop() {
	local rc=0
	agent_stop || rc=$?
	sleep 0.2
	[ "$rc" = 0 ] || log "agent exited with status $rc"
	log "agent ($1): $(grep -c ' tcptune: change ' "$AGENT_LOG") change lines ($(grep -c '(grow)' "$AGENT_LOG") grow, $(grep -c '(shrink)' "$AGENT_LOG") shrink, $(grep -c '(probe)' "$AGENT_LOG") probe), $(grep -c 'would change' "$AGENT_LOG") would-change"
}

percentiles() {
	sort -g | awk '{ v[NR] = $1 } END { if (!NR) { print "- - 0"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p = v[int(0.9 * NR + 0.999999)]; if (p == "") p = v[NR]
		printf "%s %s %d\n", m, p, NR }'
}
# delay_ms TSV NS [PEER_PORT]: send-buffer delay samples (ms) of the senders in NS
delay_ms() {
	awk -v ns="$2" -v pp="${3:-}" '$3 == ns && $14 > 65536 && $13 > 0 && (pp == "" || $5 == pp) {
		printf "%.3f\n", $12 * 8 / $13 * 1000 }' "$1" | percentiles |
		awk '{ if ($1 == "-") print; else printf "%.1f %.1f %d\n", $1, $2, $3 }'
}

# flows MODE TAG SECS OMIT SAMPLE_PERIOD SAMPLE_NS "NS DEST STREAMS"...: one run
# (stock, tuned or observe) of iperf3 clients (one per spec, each to a fresh
# one-shot server in the namespace the spec's DEST lives in: SERVER_NS_OF[DEST]),
# sampled in the SAMPLE_NS namespaces (space separated). Leaves $WORK/TAG.N.json
# (N = spec index), $WORK/TAG.tsv, and sets PORTS (the ports used, by spec).
declare -A SERVER_NS_OF=()
AGENT_HELD= # set while an agent started by one flows run is kept for the next (HOLD_AGENT=1)
flows() {
	local mode=$1 tag=$2 secs=$3 omit=$4 period=$5 sns=$6 spec i ns dest n port pids=() st=0 iv
	shift 6
	PORTS=()
	[ "$mode" = stock ] && no_agent
	[ "$mode" = stock ] || [ -n "$AGENT_HELD" ] || bench_agent_start "$mode" "$tag"
	i=0
	for spec in "$@"; do
		read -r ns dest n <<<"$spec"
		port=$NEXT_PORT
		NEXT_PORT=$((NEXT_PORT + 1))
		PORTS+=("$port")
		iperf_server "${SERVER_NS_OF[$dest]}" "$port" || die "iperf3 server did not start"
	done
	for spec in "$@"; do
		read -r ns dest n <<<"$spec"
		iv=()
		[ "$n" -gt 4 ] && iv=(-i 0) # no per-interval reports of many streams
		ip netns exec "$ns" iperf3 -c "$dest" -p "${PORTS[$i]}" -t "$secs" -O "$omit" -C "$CC" -P "$n" \
			"${iv[@]}" -J >"$WORK/$tag.$i.json" 2>&1 &
		pids+=($!)
		_PIDS+=($!)
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	sampler "$tag" "$period" "$omit" $sns
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { st=1; log "iperf3 $tag.$i failed: $(jq -r '.error // empty' "$WORK/$tag.$i.json" 2>/dev/null | head -c 300)"; }
	done
	sampler_stop "$tag"
	if [ "$mode" = observe ]; then
		APPLIED=$(bpftool -j map lookup pinned "$PIN_DIR/counters" key 3 0 0 0 2>/dev/null | jq '[.formatted.values[].value] | add')
	fi
	if [ "$mode" != stock ]; then
		if [ "${HOLD_AGENT:-0}" = 1 ]; then AGENT_HELD=$tag; else bench_agent_stop "${AGENT_HELD:-$tag}"; AGENT_HELD=; fi
	fi
	[ "$st" = 0 ] || die "iperf3 failed in the $mode run"
}

# tuned_known TAG SECS OMIT SAMPLE_PERIOD SAMPLE_NS SPEC...: two tuned runs
# under one agent: TAG0 meets the destination for the first time, TAG (the
# one the targets are judged on) starts from the sizes the agent learned for
# it in TAG0: what a host that talked to the destination before gets.
tuned_known() {
	local tag=$1
	shift
	HOLD_AGENT=1 flows tuned "${tag}0" "$@"
	FIRST_PORTS=("${PORTS[@]}")
	flows tuned "$tag" "$@"
}

# path_common NS...: sysctls and congestion control of the end namespaces
stock_ns() { ns_sysctls "$STOCK_RMEM" "$STOCK_WMEM" "$@" && set_cc "$CC" "$@" || die "namespace sysctls"; }

gp_line() { # SCEN LABEL STOCK_BPS TUNED_BPS CEILING_BPS: goodput vs ceiling, target >= 90%
	local v
	v=$(verdict "$4 >= 0.9 * $5")
	echo "wan: ($1) $CC: $2: goodput: stock $(mbit "$3") Mbit/s ($(pct "$3" "$5")% of ceiling), tcptune $(mbit "$4") Mbit/s ($(pct "$4" "$5")%), ratio $(ratio "$4" "$3"); target tcptune >= 90% of the $(mbit "$5") Mbit/s ceiling: $v"
}

# ---- scenarios
scenario_a() {
	local s t ceil
	wan_path "${UNIQ}a" 200mbit 100 2500kb || die "path"
	SERVER_NS_OF[$S4]=$NS_S
	ns_sysctls "4096 131072 1048576" "4096 16384 1048576" "$NS_C" "$NS_S" && set_cc "$CC" "$NS_C" "$NS_S" || die "sysctls"
	ceil=$(wan_ceiling 200mbit)
	flows stock as "$DURATION" "$OMIT" "$SAMPLE" "$NS_C $NS_S" "$NS_C $S4 1"
	flows tuned at "$DURATION" "$OMIT" "$SAMPLE" "$NS_C $NS_S" "$NS_C $S4 1"
	s=$(goodput "$WORK/as.0.json") t=$(goodput "$WORK/at.0.json")
	log "(a) sender tb median: stock $(buf_median "$WORK/as.tsv" "$NS_C" 9), tcptune $(buf_median "$WORK/at.tsv" "$NS_C" 9); receiver rb: stock $(buf_median "$WORK/as.tsv" "$NS_S" 7), tcptune $(buf_median "$WORK/at.tsv" "$NS_S" 7); retransmits $(retrans "$WORK/as.0.json") / $(retrans "$WORK/at.0.json")"
	echo "wan-data: stock_bps $s tuned_bps $t ceiling_bps $ceil stock_tb $(buf_median "$WORK/as.tsv" "$NS_C" 9) tuned_tb $(buf_median "$WORK/at.tsv" "$NS_C" 9) stock_rb $(buf_median "$WORK/as.tsv" "$NS_S" 7) tuned_rb $(buf_median "$WORK/at.tsv" "$NS_S" 7)"
	gp_line a "200 Mbit/s 100 ms, 1 MB tcp_rmem/wmem max" "$s" "$t" "$ceil"
}

scenario_b() {
	local s t ceil
	wan_path "${UNIQ}b" 1gbit 100 12500kb || die "path"
	SERVER_NS_OF[$S4]=$NS_S
	stock_ns "$NS_C" "$NS_S"
	ceil=$(wan_ceiling 1gbit)
	flows stock bs "$DURATION" "$OMIT" "$SAMPLE" "$NS_C $NS_S" "$NS_C $S4 1"
	flows tuned bt "$DURATION" "$OMIT" "$SAMPLE" "$NS_C $NS_S" "$NS_C $S4 1"
	s=$(goodput "$WORK/bs.0.json") t=$(goodput "$WORK/bt.0.json")
	log "(b) sender tb median: stock $(buf_median "$WORK/bs.tsv" "$NS_C" 9), tcptune $(buf_median "$WORK/bt.tsv" "$NS_C" 9); receiver rb: stock $(buf_median "$WORK/bs.tsv" "$NS_S" 7), tcptune $(buf_median "$WORK/bt.tsv" "$NS_S" 7); retransmits $(retrans "$WORK/bs.0.json") / $(retrans "$WORK/bt.0.json")"
	gp_line b "1 Gbit/s 100 ms, stock sysctls" "$s" "$t" "$ceil"
}

# c_specs N: iperf3 client specs of N flows to $S4, at most 100 streams a client
c_specs() {
	local n=$1 k i per
	k=$(((n + 99) / 100))
	for ((i = 0; i < k; i++)); do
		per=$((n / k + (i < n % k ? 1 : 0)))
		echo "$NS_C $S4 $per"
	done
}
# goodput_sum TAG N: the goodput of clients TAG.0 .. TAG.(N-1), summed
goodput_sum() {
	local i sum=0
	for ((i = 0; i < $2; i++)); do
		sum=$(awk -v a="$sum" -v b="$(goodput "$WORK/$1.$i.json")" 'BEGIN { printf "%.0f", a + b }')
	done
	echo "$sum"
}
retrans_sum() {
	local i sum=0
	for ((i = 0; i < $2; i++)); do sum=$((sum + $(retrans "$WORK/$1.$i.json"))); done
	echo "$sum"
}
sockets_per_sample() { awk '{ n[$1]++ } END { for (i in n) { print n[i]; exit } }' "$1"; }
sender_mem() { awk -v ns="$NS_C" '$3 == ns { m[$1] += $6 + $11 + $10 } END { for (i in m) { s += m[i]; n++ } printf "%.0f", n ? s / n : 0 }' "$1"; }

# c_point N LABEL TAG: stock, first contact and known destination for N
# flows on the path built last; the files are $WORK/TAG{s,t0,t}.*
c_point() {
	local n=$1 label=$2 tag=$3 s t f sm tm fm nc specs=()
	mapfile -t specs < <(c_specs "$n")
	nc=${#specs[@]}
	flows stock "${tag}s" "$DURATION" "$OMIT" "$SAMPLE" "$NS_C $NS_S" "${specs[@]}"
	tuned_known "${tag}t" "$DURATION" "$OMIT" "$SAMPLE" "$NS_C $NS_S" "${specs[@]}"
	s=$(goodput_sum "${tag}s" "$nc") t=$(goodput_sum "${tag}t" "$nc") f=$(goodput_sum "${tag}t0" "$nc")
	sm=$(mem_mean "$WORK/${tag}s.tsv") tm=$(mem_mean "$WORK/${tag}t.tsv") fm=$(mem_mean "$WORK/${tag}t0.tsv")
	log "(c) $label, $n flows: sockets per sample: stock $(sockets_per_sample "$WORK/${tag}s.tsv"), first contact $(sockets_per_sample "$WORK/${tag}t0.tsv"), known $(sockets_per_sample "$WORK/${tag}t.tsv"); sender tb median $(buf_median "$WORK/${tag}s.tsv" "$NS_C" 9) / $(buf_median "$WORK/${tag}t0.tsv" "$NS_C" 9) / $(buf_median "$WORK/${tag}t.tsv" "$NS_C" 9); receiver rb median $(buf_median "$WORK/${tag}s.tsv" "$NS_S" 7) / $(buf_median "$WORK/${tag}t0.tsv" "$NS_S" 7) / $(buf_median "$WORK/${tag}t.tsv" "$NS_S" 7); mean sender memory (r+w+f) $(mb "$(sender_mem "$WORK/${tag}s.tsv")") / $(mb "$(sender_mem "$WORK/${tag}t0.tsv")") / $(mb "$(sender_mem "$WORK/${tag}t.tsv")") MB; retransmits $(retrans_sum "${tag}s" "$nc") / $(retrans_sum "${tag}t0" "$nc") / $(retrans_sum "${tag}t" "$nc")"
	echo "wan: (c) $CC: $n flows, $label, first contact: TCP memory: stock $(mb "$sm") MB, tcptune $(mb "$fm") MB, ratio $(ratio "$fm" "$sm"); goodput ratio $(ratio "$f" "$s"); target memory <= 0.5: $(verdict "$fm <= 0.5 * $sm")"
	echo "wan: (c) $CC: $n flows, $label: TCP memory (skmem r+w+f, both ends, mean): stock $(mb "$sm") MB, tcptune $(mb "$tm") MB, ratio $(ratio "$tm" "$sm"); target <= 0.25: $(verdict "$tm <= 0.25 * $sm")"
	echo "wan: (c) $CC: $n flows, $label: aggregate goodput: stock $(mbit "$s") Mbit/s ($(pct "$s" "$C_CEIL")% of ceiling), tcptune $(mbit "$t") Mbit/s, ratio $(ratio "$t" "$s"); target >= 0.95: $(verdict "$t >= 0.95 * $s")"
}

# (c) on each path of C_PATHS (RATE/RTT_MS), each flow count of C_FLOWS
scenario_c() {
	local path rate rtt n p=0
	for path in $C_PATHS; do
		p=$((p + 1))
		rate=${path%/*} rtt=${path#*/}
		[[ $rate =~ ^[0-9]+mbit$ && $rtt =~ ^[0-9]+$ ]] || die "C_PATHS: '$path' is not RATE/RTT_MS (e.g. 100mbit/20)"
		# the queue holds one BDP: rate (Mbit/s) x RTT (ms) / 8 KB
		wan_path "${UNIQ}c" "$rate" "$rtt" "$((${rate%mbit} * rtt / 8))kb" || die "path"
		SERVER_NS_OF[$S4]=$NS_S
		stock_ns "$NS_C" "$NS_S"
		C_CEIL=$(wan_ceiling "$rate")
		for n in $C_FLOWS; do
			c_point "$n" "${rate%mbit} Mbit/s $rtt ms" "c${p}f$n"
		done
		wan_teardown || die "teardown of the $path path"
	done
}

scenario_d() {
	local n s t sd td fd fp
	wan_path "${UNIQ}d" 50mbit 10 125kb || die "path"
	SERVER_NS_OF[$S4]=$NS_S
	stock_ns "$NS_C" "$NS_S"
	for n in 1 4; do
		flows stock "ds$n" "$DURATION" "$OMIT" "$SAMPLE" "$NS_C" "$NS_C $S4 $n"
	done
	for n in 1 4; do
		tuned_known "dt$n" "$DURATION" "$OMIT" "$SAMPLE" "$NS_C" "$NS_C $S4 $n"
	done
	for n in 1 4; do
		s=$(goodput "$WORK/ds$n.0.json") t=$(goodput "$WORK/dt$n.0.json")
		read -r sd sp sc <<<"$(delay_ms "$WORK/ds$n.tsv" "$NS_C")"
		read -r td tp tc_ <<<"$(delay_ms "$WORK/dt$n.tsv" "$NS_C")"
		log "(d) $n flow(s): delay samples $sc / $tc_; sender tb median $(buf_median "$WORK/ds$n.tsv" "$NS_C" 9) / $(buf_median "$WORK/dt$n.tsv" "$NS_C" 9); retransmits $(retrans "$WORK/ds$n.0.json") / $(retrans "$WORK/dt$n.0.json")"
		read -r fd fp _ <<<"$(delay_ms "$WORK/dt${n}0.tsv" "$NS_C")"
		echo "wan: (d) $CC: $n flow(s), 50 Mbit/s 10 ms, first contact: send-buffer delay median (p90): tcptune $fd ($fp) ms; goodput ratio $(ratio "$(goodput "$WORK/dt${n}0.0.json")" "$s") (no target)"
		echo "wan: (d) $CC: $n flow(s), 50 Mbit/s 10 ms: send-buffer delay median (p90): stock $sd ($sp) ms, tcptune $td ($tp) ms, ratio $(ratio "$td" "$sd"); target tcptune median <= 25 ms: $(verdict "\"$td\" != \"-\" && $td <= 25")"
		echo "wan: (d) $CC: $n flow(s), 50 Mbit/s 10 ms: goodput: stock $(mbit "$s") Mbit/s, tcptune $(mbit "$t") Mbit/s, ratio $(ratio "$t" "$s"); target >= 0.95: $(verdict "$t >= 0.95 * $s")"
	done
}

# step_run MODE TAG: one flow, rate stepped 50 -> 400 Mbit/s STEP_AT s after the
# client starts; sets STEP_T (time of the step) and T0 (client start)
step_run() {
	local mode=$1 tag=$2 client
	tc -n "$NS_R" qdisc change dev veths root tbf rate 50mbit burst "$(_wan_burst 50000000)" limit 625kb || die "tc change"
	# large: no agent, autotuning allowed 64 MB, so buffers never limit: what
	# the congestion control alone needs to reach the new rate
	[ "$mode" = large ] && { ns_sysctls "4096 131072 $((64 << 20))" "4096 16384 $((64 << 20))" "$NS_C" "$NS_S" || die "namespace sysctls"; }
	[ "$mode" = stock ] || [ "$mode" = large ] && no_agent
	[ "$mode" = stock ] || [ "$mode" = large ] || bench_agent_start "$mode" "$tag"
	PORTS=("$NEXT_PORT")
	NEXT_PORT=$((NEXT_PORT + 1))
	iperf_server "$NS_S" "${PORTS[0]}" || die "iperf3 server"

	ip netns exec "$NS_C" iperf3 -c "$S4" -p "${PORTS[0]}" -t $((STEP_AT + AFTER_STEP)) -C "$CC" -J >"$WORK/$tag.0.json" 2>&1 &
	client=$!
	_PIDS+=("$client")
	sampler "$tag" 0.25 0 "$NS_S"
	sleep "$STEP_AT"
	STEP_T=$EPOCHREALTIME
	tc -n "$NS_R" qdisc change dev veths root tbf rate 400mbit burst "$(_wan_burst 400000000)" limit 5mb || die "tc change"
	echo "$STEP_T" >"$WORK/$tag.step"
	wait "$client" || die "iperf3 failed in the $mode run: $(jq -r '.error // empty' "$WORK/$tag.0.json" 2>/dev/null)"
	sampler_stop "$tag"
	[ "$mode" = large ] && { stock_ns "$NS_C" "$NS_S"; return; }
	[ "$mode" = stock ] || bench_agent_stop "$tag"
}
# changes_per_10s LOG PORT FROM TO: the most changes one connection of the
# flow (its port) made between FROM and TO, per 10 s, and their number. The
# agent's "change" lines of one connection in one tick (sndbuf, rcvbuf,
# notsent_lowat together; same 0.2 s slot) count as one change.
changes_per_10s() {
	awk -v p=":$2 " -v a="$3" -v z="$4" '$1 >= a && $1 <= z && / tcptune: change / && index($0, p) {
		for (i = 1; i < NF; i++) if ($i == "cookie") { k = $(i + 1) " " int($1 * 5); if (!(k in seen)) { seen[k] = 1; c[$(i + 1)]++ } } }
	END { m = 0; for (k in c) if (c[k] > m) m = c[k]; if (z - a < 1) print "- 0"; else printf "%.1f %d\n", m * 10 / (z - a), m }' "$1"
}

scenario_e() {
	local ceil new90 s_t l_t t_t s_r t_r pre post
	wan_path "${UNIQ}e" 50mbit 100 625kb || die "path"
	stock_ns "$NS_C" "$NS_S"
	ceil=$(wan_ceiling 400mbit)
	new90=$(awk -v c="$ceil" 'BEGIN { printf "%.0f", 0.9 * c }')
	step_run stock es
	s_t=$(time_to_rate "$WORK/es.tsv" "$STEP_T" "$new90")
	s_r=$(rate_between "$WORK/es.tsv" "$(awk -v s="$STEP_T" 'BEGIN { printf "%.6f", s + 10 }')" 1e12)
	step_run large el
	l_t=$(time_to_rate "$WORK/el.tsv" "$STEP_T" "$new90")
	step_run tuned et
	t_t=$(time_to_rate "$WORK/et.tsv" "$STEP_T" "$new90")
	t_r=$(rate_between "$WORK/et.tsv" "$(awk -v s="$STEP_T" 'BEGIN { printf "%.6f", s + 10 }')" 1e12)
	local tend
	tend=$(awk -v s="$STEP_T" -v a="$AFTER_STEP" 'BEGIN { printf "%.6f", s + a - 0.5 }')
	read -r pre pre_n <<<"$(changes_per_10s "$WORK/et.agent" "${PORTS[0]}" "$(awk -v s="$STEP_T" 'BEGIN { printf "%.6f", s - 10 }')" "$STEP_T")"
	read -r post post_n <<<"$(changes_per_10s "$WORK/et.agent" "${PORTS[0]}" "$(awk -v s="$STEP_T" 'BEGIN { printf "%.6f", s + 10 }')" "$tend")"
	log "(e) rate from 10 s after the step to the end: stock $(mbit "$s_r") Mbit/s, tcptune $(mbit "$t_r") Mbit/s (ceiling $(mbit "$ceil")); tcptune changes: $pre_n in the 10 s before the step, $post_n from step+10 s to the end (per connection, most)"
	log "(e) tcptune changes of the flow's sockets (s after the step):"
	awk -v st="$STEP_T" -v p=":${PORTS[0]}" '/ tcptune: change / && index($0, p) { $1 = sprintf("%+.1f", $1 - st); print "#   " $0 }' "$WORK/et.agent" | sed 's/tcptune: change //' | head -40
	echo "wan: (e) $CC: 50 -> 400 Mbit/s at 100 ms: time from the step to a 1 s window at >= 90% of the new $(mbit "$ceil") Mbit/s ceiling: stock ${s_t}$([ "$s_t" != never ] && echo " s"), tcptune ${t_t}$([ "$t_t" != never ] && echo " s"); target tcptune <= 5 s: $(verdict "\"$t_t\" != \"never\" && $t_t <= 5")"
	echo "wan: (e) $CC: reference, no agent and 64 MB tcp_rmem/tcp_wmem max (buffers never the limit): time to the same window ${l_t}$([ "$l_t" != never ] && echo " s"): what the congestion control alone needs; tcptune minus it: $(awk -v t="$t_t" -v l="$l_t" 'BEGIN { if (t == "never" || l == "never") print "-"; else printf "%+.1f s", t - l }')"
	echo "wan: (e) $CC: 50 -> 400 Mbit/s at 100 ms: steady-state changes per connection per 10 s (most of any): before the step $pre, from step+10 s on $post; target <= 1: $(verdict "\"$pre\" != \"-\" && \"$post\" != \"-\" && $pre <= 1 && $post <= 1")"
}

scenario_f() {
	local s t stb ttb srb trb ceil
	wan_path "${UNIQ}f" 100mbit 40 500kb || die "path"
	SERVER_NS_OF[$S4]=$NS_S
	stock_ns "$NS_C" "$NS_S"
	flows stock fs "$DURATION" "$OMIT" "$SAMPLE" "$NS_C $NS_S" "$NS_C $S4 1"
	APPLIED=
	flows observe fo "$DURATION" "$OMIT" "$SAMPLE" "$NS_C $NS_S" "$NS_C $S4 1"
	s=$(goodput "$WORK/fs.0.json") t=$(goodput "$WORK/fo.0.json")
	stb=$(buf_median "$WORK/fs.tsv" "$NS_C" 9) ttb=$(buf_median "$WORK/fo.tsv" "$NS_C" 9)
	srb=$(buf_median "$WORK/fs.tsv" "$NS_S" 7) trb=$(buf_median "$WORK/fo.tsv" "$NS_S" 7)
	echo "wan: (f) $CC: observe mode, 100 Mbit/s 40 ms: goodput: stock $(mbit "$s") Mbit/s, observe $(mbit "$t") Mbit/s, ratio $(ratio "$t" "$s"); target 0.95-1.05: $(verdict "$t >= 0.95 * $s && $t <= 1.05 * $s")"
	echo "wan: (f) $CC: observe mode, 100 Mbit/s 40 ms: buffers (median): sender tb stock $stb, observe $ttb (ratio $(ratio "$ttb" "$stb")); receiver rb stock $srb, observe $trb (ratio $(ratio "$trb" "$srb")); buffer changes applied ${APPLIED:-?}; target within 25% and 0 applied: $(verdict "$ttb >= 0.75 * $stb && $ttb <= 1.25 * $stb && $trb >= 0.75 * $srb && $trb <= 1.25 * $srb && \"${APPLIED:-x}\" == \"0\"")"
}

scenario_g() {
	local cl sl sh ceil s t sd sp td tp ss_ ts_ c1
	wan_path "${UNIQ}g" 1gbit 100 12500kb || die "long path"
	SERVER_NS_OF[$S4]=$NS_S
	cl=$NS_C sl=$S4 c1=$NS_S
	wan_path_join "$cl" "${UNIQ}h" 50mbit 10 125kb || die "short path"
	SERVER_NS_OF[$S4]=$NS_S
	sh=$S4
	stock_ns "$cl" "$c1" "$NS_S"
	ceil=$(wan_ceiling 1gbit)
	flows stock gs "$DURATION" "$OMIT" "$SAMPLE" "$cl" "$cl $sl 1" "$cl $sh 50"
	local sport=${PORTS[1]} lport_s=${PORTS[0]}
	tuned_known gt "$DURATION" "$OMIT" "$SAMPLE" "$cl" "$cl $sl 1" "$cl $sh 50"
	local tport=${PORTS[1]} fport=${FIRST_PORTS[1]} fd fp
	s=$(goodput "$WORK/gs.0.json") t=$(goodput "$WORK/gt.0.json")
	ss_=$(goodput "$WORK/gs.1.json") ts_=$(goodput "$WORK/gt.1.json")
	read -r sd sp _ <<<"$(delay_ms "$WORK/gs.tsv" "$cl" "$sport")"
	read -r td tp _ <<<"$(delay_ms "$WORK/gt.tsv" "$cl" "$tport")"
	log "(g) short flows' aggregate goodput: stock $(mbit "$ss_") Mbit/s, tcptune $(mbit "$ts_") Mbit/s (ratio $(ratio "$ts_" "$ss_")); long flow's sender tb median: stock $(awk -v p="$lport_s" '$5 == p { print $9 }' "$WORK/gs.tsv" | percentiles | cut -d' ' -f1), tcptune $(awk -v p="${PORTS[0]}" '$5 == p { print $9 }' "$WORK/gt.tsv" | percentiles | cut -d' ' -f1); short flows' sender tb median: stock $(awk -v p="$sport" '$5 == p && $14 > 65536 { print $9 }' "$WORK/gs.tsv" | percentiles | cut -d' ' -f1), tcptune $(awk -v p="$tport" '$5 == p && $14 > 65536 { print $9 }' "$WORK/gt.tsv" | percentiles | cut -d' ' -f1)"
	gp_line g "long flow (1 Gbit/s 100 ms, with 50 short flows)" "$s" "$t" "$ceil"
	read -r fd fp _ <<<"$(delay_ms "$WORK/gt0.tsv" "$cl" "$fport")"
	echo "wan: (g) $CC: first contact: long flow $(pct "$(goodput "$WORK/gt0.0.json")" "$ceil")% of ceiling; short flows' send-buffer delay median (p90) $fd ($fp) ms (no target)"
	echo "wan: (g) $CC: 50 short flows (50 Mbit/s 10 ms, with the long flow): send-buffer delay median (p90): stock $sd ($sp) ms, tcptune $td ($tp) ms, ratio $(ratio "$td" "$sd"); target tcptune median <= 25 ms: $(verdict "\"$td\" != \"-\" && $td <= 25")"
}

log "($SCEN) $CC: start $(date -u +%H:%M:%S); net.core.rmem_max=$(sysctl -n net.core.rmem_max) wmem_max=$(sysctl -n net.core.wmem_max)"
"scenario_$SCEN"
wan_teardown >/dev/null || die "teardown: a delay line did not stop cleanly or a sysctl was not restored"
out=$(check_clean)
[ -z "$out" ] || { echo "$out"; exit 1; }
log "($SCEN) $CC: done $(date -u +%H:%M:%S)"
exit 0
