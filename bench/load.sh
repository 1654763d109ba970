#!/usr/bin/env bash
# Load benchmark (`make bench-load`, part of `make bench`): what the agent
# costs at 10,000 connections, next to what it costs idle, in one run.
#
# One agent (`tcptune run --interval 1 -v`, tuning) runs throughout, while
# tests/load.sh drives build/load between two namespaces joined by veth:
#  1. idle: no connection of the load, IDLE_SECONDS;
#  2. hold: LOAD_CONNECTIONS connections held LOAD_HOLD_SECONDS, each writing
#     a byte every LOAD_TRICKLE s (both ends are on this host: the agent
#     tracks two sockets per connection);
#  3. churn: LOAD_CHURN_RATE new short connections per second for
#     LOAD_CHURN_SECONDS;
#  4. the load gone, the maps back at their baseline (up to 60 s).
# Per phase: the agent's CPU (utime + stime from /proc/PID/stat over the
# phase, % of one core; for the hold also over its last STEADY_SECONDS, once
# the tuner has brought every new connection's buffers down to its BDP, with
# the changes made meanwhile), its RSS (VmRSS at the end of the phase; VmHWM,
# the peak, at the end), tick duration p50 / max (its -v log), and the entries
# of every pinned map before and after, and the connections the maps had no
# room for (map_full). The goals: < 1% of a core and < 30 MB RSS at 10k
# connections at a 1 s interval; < 2% and < 100 MB at 100k (`make
# bench-load-100k`: LOAD_CONNECTIONS=100000, LOAD_CHURN_RATE=10500); at
# both, every tick shorter than the interval and no map_full.
#
# Ends with a "bench-load: ---- summary" block (the figures docs/benchmarks.md
# quotes). Exit status: 0 when it measured, even if a goal was MISSED; 1 when
# it could not measure or the load did not run as asked.
#
# Runs the agent: only one may run on a host, and nothing else should load
# the CPUs meanwhile. It takes no lock itself: `make bench-load` wraps it in
# flock /tmp/tcptune-dev.lock.
#
# Environment: IDLE_SECONDS (60), STEADY_SECONDS (30), TCPTUNE
# (build/tcptune), and the load's (tests/load.sh): LOAD_CONNECTIONS (10000),
# LOAD_HOLD_SECONDS (120 here, 60 in test_load: the tuner's changes to 20,000
# new sockets take about a minute, and the steady part comes after),
# LOAD_TRICKLE (5), LOAD_CHURN_RATE (5250: the goal of 5,000/s plus the few a
# schedule loses at its end), LOAD_CHURN_SECONDS (60).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../tests/lib.sh
. "$ROOT/tests/lib.sh"
LOAD_HOLD_SECONDS=${LOAD_HOLD_SECONDS:-120}
# shellcheck source=../tests/load.sh
. "$ROOT/tests/load.sh"

IDLE_SECONDS=${IDLE_SECONDS:-60}
STEADY_SECONDS=${STEADY_SECONDS:-30}
INTERVAL=1
if [ "$LOAD_CONNECTIONS" -ge 100000 ]; then GOAL_CPU=2 GOAL_RSS_MB=100; else GOAL_CPU=1 GOAL_RSS_MB=30; fi

say() { echo "bench-load: $*"; }
die() { say "error: $*" >&2; exit 1; }
for v in LOAD_CONNECTIONS IDLE_SECONDS LOAD_HOLD_SECONDS LOAD_CHURN_SECONDS LOAD_CHURN_RATE LOAD_TRICKLE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v='${!v}' must be a whole number above 0"
done
for tool in bpftool jq ss; do
	command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
done
[ "$(tcptune_progs_loaded)" = 0 ] || die "tcptune BPF programs are already loaded: another agent is running (stop it; serialise runs with flock)"

# changes_since LINE: buffer changes the agent logged after that line of its
# log (a line each up to 100 a tick, then one line with the count of the rest)
changes_since() {
	tail -n +"$(($1 + 1))" "$AGENT_LOG" |
		awk '/tcptune: change / { n++ }
			match($0, /tcptune: [0-9]+ more changes this tick/) { split(substr($0, RSTART), w, " "); n += w[2] }
			END { print n + 0 }'
}

# phase_start / phase_end NAME: the agent's CPU, RSS, ticks ("count p50 max")
# and buffer changes over a phase, kept under NAME
declare -A CPU RSS TICKS CHANGES KINDS
phase_start() { PHASE_T0=$EPOCHREALTIME PHASE_CPU0=$(agent_cpu_ticks) PHASE_FROM=$(log_lines); }
phase_end() {
	CPU[$1]=$(cpu_percent "$PHASE_CPU0" "$(agent_cpu_ticks)" "$(seconds_since "$PHASE_T0")")
	RSS[$1]=$(agent_mem_mb VmRSS)
	TICKS[$1]=$(pass_ms "$PHASE_FROM" | count_p50_max)
	CHANGES[$1]=$(changes_since "$PHASE_FROM")
	KINDS[$1]=$(pass_kinds "$PHASE_FROM")
}
# pass_kinds FROM: how many passes of each kind the agent ran after that line
# of its log, and their time in all
pass_kinds() {
	tail -n +"$(($1 + 1))" "$AGENT_LOG" | sed -nE 's/.*debug: pass [0-9]+ \(([a-z]+)\).*, in all ([0-9.]+) ms$/\1 \2/p' |
		awk '{ n[$1]++; t[$1] += $2 } END { for (k in n) printf "%s %d (%.0f ms) ", k, n[k], t[k] }'
}

say "$("$TCPTUNE" --version | head -n 1), kernel $(uname -r), $(nproc) CPUs; $LOAD_CONNECTIONS connections, phases idle ${IDLE_SECONDS} s, hold ${LOAD_HOLD_SECONDS} s, churn ${LOAD_CHURN_SECONDS} s at $LOAD_CHURN_RATE/s"
load_setup "${UNIQ}b" || die "cannot set up the namespaces and the load server"
agent_start --interval "$INTERVAL" -v --metrics "127.0.0.1:$(free_port 19977)" || die "the agent did not start"
sleep $((2 * INTERVAL))
# how this kernel collects and applies, and the fallbacks in force
"$TCPTUNE" status | grep -E '^(kernel|fallback):' | while read -r l; do say "$l"; done
MAPS_BEFORE=$(maps_entries)
FULL_BEFORE=$(bpf_counter 2)
FLOWS_IDLE=$(map_entries flows)

say "idle: ${IDLE_SECONDS} s, $FLOWS_IDLE connections tracked"
phase_start
sleep "$IDLE_SECONDS"
phase_end idle

say "hold: opening $LOAD_CONNECTIONS connections"
load_hold "$LOAD_CONNECTIONS" "$LOAD_HOLD_SECONDS" "$LOAD_TRICKLE" || die "the connections were not established: $(cat "$LOAD_DIR"/hold.*.log)"
phase_start
say "$(load_hold_lines 1); ss: $(established "$NS_C") established in the client namespace"
sleep $((3 * INTERVAL))
TRACKED_HOLD=$(map_entries flows)
# the last STEADY_SECONDS apart: by then the tuner has brought every new
# connection's buffers down to its small BDP (a minute of changes), and what
# is left is what 10,000 held connections cost
sleep "$(awk -v h="$LOAD_HOLD_SECONDS" -v w="$STEADY_SECONDS" -v s="$(seconds_since "$PHASE_T0")" 'BEGIN { d = h - w - s; print (d > 0 ? d : 0) }')"
STEADY_T0=$EPOCHREALTIME STEADY_CPU0=$(agent_cpu_ticks) STEADY_FROM=$(log_lines)
wait_for $((LOAD_HOLD_SECONDS + 10)) load_hold_over
STEADY_CPU_PCT=$(cpu_percent "$STEADY_CPU0" "$(agent_cpu_ticks)" "$(seconds_since "$STEADY_T0")")
STEADY_CHANGES=$(changes_since "$STEADY_FROM")
STEADY_TICKS=$(pass_ms "$STEADY_FROM" | count_p50_max)
phase_end hold
load_hold_wait || die "the hold did not run as asked: $(cat "$LOAD_DIR"/hold.*.log)"

say "churn: $LOAD_CHURN_RATE/s for $LOAD_CHURN_SECONDS s"
phase_start
load_churn "$LOAD_CHURN_RATE" "$LOAD_CHURN_SECONDS"
churn_rc=$?
phase_end churn
say "$CHURN_LINE"
[ "$churn_rc" = 0 ] || say "churn: $CHURN_FAILED connections failed"

settled() { [ "$(load_flows)" = 0 ] && [ "$(orphan_targets)" = 0 ]; }
settle_t0=$EPOCHREALTIME
wait_for 60 settled || say "the load's entries were not all gone 60 s after it ended"
SETTLE_S=$(seconds_since "$settle_t0")
MAPS_AFTER=$(maps_entries)
MAP_FULL=$(($(bpf_counter 2) - FULL_BEFORE))
LEFT=$(load_flows)
# VmHWM is updated lazily and may lag the VmRSS read at a phase's end
PEAK=$(printf '%s\n' "$(agent_mem_mb VmHWM)" "${RSS[idle]}" "${RSS[hold]}" "${RSS[churn]}" | sort -g | tail -n 1)

# ---- the figures
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "x%.1f", a / b; else print "-" }'; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v < g) ? "ok" : "MISSED" }'; }
ticks() { read -r n p50 max <<<"$1"; echo "$p50 / $max ms ($n)"; }
# CPU time per tracked socket per tick, from a hold figure minus idle
per_socket_us() {
	awk -v h="$1" -v i="${CPU[idle]}" -v n="$TRACKED_HOLD" -v f="$FLOWS_IDLE" -v t="$INTERVAL" \
		'BEGIN { d = n - f; if (d > 0) printf "%.2f", (h - i) / 100 * t * 1e6 / d; else print "-" }'
}
row() { say "$(printf '%-22s %-20s %-24s %-24s %s' "$@")"; }
echo
say "---- summary: $LOAD_CONNECTIONS connections held ($TRACKED_HOLD sockets tracked: both ends are local), interval $INTERVAL s, tuning, $(nproc) CPUs, $(uname -r) ----"
row '' idle "$LOAD_CONNECTIONS held" "churn $LOAD_CHURN_RATE/s" "goal at $LOAD_CONNECTIONS"
row 'agent CPU, % of core' "${CPU[idle]}" "${CPU[hold]} ($(ratio "${CPU[hold]}" "${CPU[idle]}"))" "${CPU[churn]} ($(ratio "${CPU[churn]}" "${CPU[idle]}"))" \
	"< $GOAL_CPU $(verdict "${CPU[hold]}" "$GOAL_CPU")"
row "  last ${STEADY_SECONDS} s of hold" '' "$STEADY_CPU_PCT ($(ratio "$STEADY_CPU_PCT" "${CPU[idle]}"))" '' "< $GOAL_CPU $(verdict "$STEADY_CPU_PCT" "$GOAL_CPU")"
row 'agent RSS, MB' "${RSS[idle]}" "${RSS[hold]} ($(ratio "${RSS[hold]}" "${RSS[idle]}"))" "${RSS[churn]}" \
	"< $GOAL_RSS_MB $(verdict "$PEAK" "$GOAL_RSS_MB") (peak $PEAK MB)"
TICK_MAX=$(printf '%s\n' "${TICKS[idle]##* }" "${TICKS[hold]##* }" "${TICKS[churn]##* }" | grep -v -- - | sort -g | tail -n 1)
row 'tick p50 / max (n)' "$(ticks "${TICKS[idle]}")" "$(ticks "${TICKS[hold]}")" "$(ticks "${TICKS[churn]}")" \
	"< $((INTERVAL * 1000)) ms $(verdict "${TICK_MAX:-0}" $((INTERVAL * 1000)))"
row 'connections untracked' '' '' '' "0 $(verdict "$MAP_FULL" 1) ($MAP_FULL map_full)"
row 'buffer changes' "${CHANGES[idle]}" "${CHANGES[hold]}" "${CHANGES[churn]}"
for phase in idle hold churn; do
	say "passes, $phase: ${KINDS[$phase]}"
done
say "last ${STEADY_SECONDS} s of the hold: ticks p50 / max $(ticks "$STEADY_TICKS"), $STEADY_CHANGES buffer changes"
say "CPU per tracked socket per tick (hold minus idle): $(per_socket_us "${CPU[hold]}") us over the hold, $(per_socket_us "$STEADY_CPU_PCT") us over its last ${STEADY_SECONDS} s"
say "churn achieved: $CHURN_LINE"
say "map entries before: $MAPS_BEFORE; after: $MAPS_AFTER ($SETTLE_S s after the load; $LEFT of the load's entries left in flows)"
exit 0
