#!/usr/bin/env bash
# Load and churn (tests/load.sh, build/load): with the agent tuning at a 1 s
# interval, 10,000 connections between two namespaces held for a minute (each
# writes a byte every 5 s), then at least 5,000 new short connections per
# second for a minute. Every tick stays shorter than the interval, every
# connection gets an entry at both ends and no map_full, and once the load is
# gone every map is back at its baseline: no entry of the load's connections
# in flows, no target without its connection, and only what the agent learned
# per destination (a few dest_sizes entries, by design) stays.
# What happens when flows is full is test_map_full's. bench/load.sh prints
# the agent's CPU and memory under the same load.
#
# LOAD_CONNECTIONS, LOAD_HOLD_SECONDS, LOAD_CHURN_SECONDS (tests/load.sh)
# shorten a run by hand; `make test` runs the figures above.
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../load.sh
. "$ROOT/tests/load.sh"

INTERVAL=1

for tool in bpftool jq ss; do
	command -v "$tool" >/dev/null || { fail "$tool is installed (make deps)"; finish; }
done
SANITIZED=
ldd "$TCPTUNE" 2>/dev/null | grep -q libasan && SANITIZED=1

load_setup "${UNIQ}l" || { fail "namespaces and load server set up"; finish; }
agent_start --interval "$INTERVAL" -v --metrics "127.0.0.1:$(free_port 19977)" || { fail "agent starts"; finish; }
sleep $((2 * INTERVAL))
base_flows=$(map_entries flows) base_targets=$(map_entries targets) base_dests=$(map_entries dest_sizes)
base_created=$(bpf_counter 0) base_deleted=$(bpf_counter 1) base_full=$(bpf_counter 2)
log "baseline: $(maps_entries)"
from=$(log_lines)
# entries dropped as stale (their socket gone without a close event) in the -v log after line FROM
stale_since() { tail -n +"$(($1 + 1))" "$AGENT_LOG" | sed -nE 's/.*debug: pass .* ([0-9]+) stale dropped.*/\1/p' | awk '{ s += $1 } END { print s + 0 }'; }

# ---- hold
load_hold "$LOAD_CONNECTIONS" "$LOAD_HOLD_SECONDS" "$LOAD_TRICKLE" || { fail "$LOAD_CONNECTIONS connections established"; finish; }
t0=$EPOCHREALTIME cpu0=$(agent_cpu_ticks)
log "$(load_hold_lines 1)"
n=$(established "$NS_C")
check "$LOAD_CONNECTIONS connections established in the client namespace (ss: $n)" [ "$n" -ge "$LOAD_CONNECTIONS" ]
sleep $((3 * INTERVAL))
tracked=$(load_flows)
check "both ends of every held connection tracked ($tracked entries for $LOAD_CONNECTIONS connections)" \
	[ "$tracked" -ge $((2 * LOAD_CONNECTIONS)) ]
wait_for $((LOAD_HOLD_SECONDS + 10)) load_hold_over
log "agent over the hold: $(cpu_percent "$cpu0" "$(agent_cpu_ticks)" "$(seconds_since "$t0")")% of one core," \
	"RSS $(agent_mem_mb VmRSS) MB${SANITIZED:+ (ASan build)} (bench/load.sh compares it with idle and the goals)"
load_hold_wait
hold_rc=$?
check "every connection held $LOAD_HOLD_SECONDS s and closed at the end ($(load_hold_lines 2) $(load_hold_lines 3))" [ "$hold_rc" = 0 ]
n=$(established "$NS_C")
check "no connection left established after the hold ($n)" [ "$n" = 0 ]

log "during the hold: entries created +$(($(bpf_counter 0) - base_created)) for $((2 * LOAD_CONNECTIONS)) sockets, $(stale_since "$from") dropped as stale"
churn_from=$(log_lines) churn_created=$(bpf_counter 0)

# ---- churn
load_churn "$LOAD_CHURN_RATE" "$LOAD_CHURN_SECONDS"
churn_rc=$?
log "$CHURN_LINE"
check "churn: no connection failed ($CHURN_FAILED)" [ "$churn_rc" = 0 ]
check "churn: at least $LOAD_CHURN_GOAL new connections per second achieved under the agent ($CHURN_ACHIEVED/s, slowest second $CHURN_SLOWEST)" \
	[ "$CHURN_ACHIEVED" -ge "$LOAD_CHURN_GOAL" ]

# ---- every map back at its baseline. The load's own entries must all go;
# the totals may differ by a few: the agent tracks the whole host.
SLACK=8
settled() { [ "$(load_flows)" = 0 ] && [ "$(orphan_targets)" = 0 ] && [ "$(map_entries flows)" -le $((base_flows + SLACK)) ]; }
wait_for 60 settled
log "after the load: $(maps_entries)"
left=$(load_flows)
check "no entry of the load's connections left in flows ($left)" [ "$left" = 0 ]
n=$(map_entries flows)
check "flows back at its baseline ($n entries, $base_flows before)" [ "$n" -le $((base_flows + SLACK)) ]
n=$(orphan_targets)
check "no target left without its connection ($n)" [ "$n" = 0 ]
n=$(map_entries targets)
check "targets back at its baseline ($n entries, $base_targets before)" [ "$n" -le $((base_targets + SLACK)) ]
dests=$(map_entries dest_sizes) ours=$(load_dests)
# learned per (cgroup, remote /24) and per remote /24 (cgroup 0): client's and server's cgroup, and 0
dests_ok=1
[ "$((dests - base_dests))" -le "$ours" ] && [ "$ours" -le 3 ] || dests_ok=
check "dest_sizes grew only by what was learned for the load's prefix (+$((dests - base_dests)), $ours for ${C4%.*}.0/24)" \
	[ -n "$dests_ok" ]
connections=$((LOAD_CONNECTIONS + CHURN_DONE))
created=$(($(bpf_counter 0) - base_created)) deleted=$(($(bpf_counter 1) - base_deleted))
log "during the churn: entries created +$(($(bpf_counter 0) - churn_created)) for $((2 * CHURN_DONE)) sockets, $(stale_since "$churn_from") dropped as stale"
log "in all: entries created $created, deleted on close $deleted, dropped as stale $(stale_since "$from"), for $connections connections"
check "an entry for both ends of each of the $connections connections (created +$created)" \
	[ "$created" -ge $((2 * connections)) ]
full=$(($(bpf_counter 2) - base_full))
check "map_full stayed 0 with the default --max-flows above the load (+$full; full maps: test_map_full)" [ "$full" = 0 ]

# ---- ticks
read -r ticks p50 max < <(pass_ms "$from" | count_p50_max)
log "$ticks ticks under load: p50 $p50 ms, max $max ms (interval $((INTERVAL * 1000)) ms)"
check "ticks were logged under load ($ticks)" [ "$ticks" -ge $((LOAD_HOLD_SECONDS + LOAD_CHURN_SECONDS - 10)) ]
# also under ASan (make sanitize): its ticks measured 155 ms at most here
check "every tick shorter than the $INTERVAL s interval (max $max ms)" \
	awk -v m="$max" -v i="$INTERVAL" 'BEGIN { exit !(m + 0 > 0 && m < i * 1000) }'
check "agent still running" kill -0 "$AGENT_PID"
agent_stop
agent_rc=$?
check "agent exits 0 after the load (status $agent_rc)" [ "$agent_rc" = 0 ]
finish
