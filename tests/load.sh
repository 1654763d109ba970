# shellcheck shell=bash
# Connection load, shared by tests/e2e/test_load.sh and bench/load.sh: two
# namespaces joined by veth with no bottleneck (lib.sh netpath), a build/load
# server in the server namespace, connections held and churned from the
# client namespace, and what the running agent (AGENT_PID, AGENT_LOG of
# lib.sh agent_start, run with -v) costs meanwhile. Source it after tests/lib.sh.
LOAD=${LOAD:-$ROOT/build/load}
LOAD_PORT=7100
# The load test_load asserts on and bench/load.sh measures:
# connections held, for how long, one byte each per LOAD_TRICKLE s; then new
# short connections per second for LOAD_CHURN_SECONDS. The rate asked is 5%
# above the 5,000/s to reach: a schedule loses a few connections at its end.
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-10000}
LOAD_HOLD_SECONDS=${LOAD_HOLD_SECONDS:-60}
LOAD_TRICKLE=${LOAD_TRICKLE:-5}
LOAD_CHURN_RATE=${LOAD_CHURN_RATE:-5250}
LOAD_CHURN_SECONDS=${LOAD_CHURN_SECONDS:-60}
# shellcheck disable=SC2034 # for the caller
LOAD_CHURN_GOAL=5000

# (the load processes are started with ip netns exec, not in_ns: a function in
# the background is a subshell, and killing it would leave them running)
# load_setup NAME: the namespaces (NS_C, NS_S, C4, S4) and the server, all
# removed at exit. Sets LOAD_DIR (the load generator's output).
load_setup() {
	local i
	[ -x "$LOAD" ] || { log "$LOAD not built (make $LOAD)"; return 1; }
	LOAD_DIR=$(mktemp -d /tmp/tcptune-load.XXXXXX) || return 1
	cleanup_add "rm -rf $LOAD_DIR"
	netpath "$1" none 0 || return 1
	ip netns exec "$NS_S" "$LOAD" --listen "$S4:$LOAD_PORT" >"$LOAD_DIR/serve.log" 2>&1 &
	cleanup_add "kill $!; wait $!"
	for ((i = 0; i < 50; i++)); do
		[ -n "$(in_ns "$NS_S" ss -Htln "sport = :$LOAD_PORT")" ] && return 0
		sleep 0.1
	done
	log "the load server did not start: $(cat "$LOAD_DIR/serve.log")"
	return 1
}

# load_hold N SECONDS TRICKLE: N connections from the client namespace, held
# SECONDS s, each writing a byte every TRICKLE s. Returns once all are
# established (1 if they were not within a minute); the hold goes on in the
# background until load_hold_wait.
load_hold() {
	local i
	ip netns exec "$NS_C" "$LOAD" --connect "$S4:$LOAD_PORT" --hold "$1" --seconds "$2" --trickle "$3" \
		>"$LOAD_DIR/hold.log" 2>&1 &
	LOAD_HOLD_PID=$!
	cleanup_add "kill $LOAD_HOLD_PID"
	for ((i = 0; i < 600; i++)); do
		grep -q "established in" "$LOAD_DIR/hold.log" && return 0
		kill -0 "$LOAD_HOLD_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "hold: $(cat "$LOAD_DIR/hold.log")"
	return 1
}
# true once the hold time is over (the connections are being closed)
load_hold_over() { grep -q "^load: hold: held" "$LOAD_DIR/hold.log"; }
# the hold's exit status: 0 when every connection was held and then closed
load_hold_wait() { wait "$LOAD_HOLD_PID"; }

# established NS: connections established in a namespace
established() { in_ns "$1" ss -tnH state established | wc -l; }

# load_churn RATE SECONDS: new short connections from the client namespace.
# Sets CHURN_LINE (build/load's summary), CHURN_DONE, CHURN_ACHIEVED (per
# second), CHURN_SLOWEST (the slowest whole second), CHURN_FAILED.
# Returns build/load's exit status (0: no connection failed).
load_churn() {
	local pid rc
	ip netns exec "$NS_C" "$LOAD" --connect "$S4:$LOAD_PORT" --rate "$1" --seconds "$2" >"$LOAD_DIR/churn.log" 2>&1 &
	pid=$!
	cleanup_add "kill $pid"
	wait "$pid"
	rc=$?
	# shellcheck disable=SC2034 # for the caller
	CHURN_LINE=$(grep "^load: churn:" "$LOAD_DIR/churn.log" || cat "$LOAD_DIR/churn.log")
	read -r CHURN_DONE CHURN_ACHIEVED CHURN_SLOWEST CHURN_FAILED < <(sed -nE \
		's/^load: churn: ([0-9]+) connections in [0-9.]+ s \(([0-9]+)\/s; slowest whole second ([0-9]+)\), ([0-9]+) failed$/\1 \2 \3 \4/p' \
		"$LOAD_DIR/churn.log")
	: "${CHURN_DONE:=0}" "${CHURN_ACHIEVED:=0}" "${CHURN_SLOWEST:=0}" "${CHURN_FAILED:=0}"
	return "$rc"
}

# agent_cpu_ticks: user + system clock ticks the agent has used (/proc/PID/stat,
# fields 14 and 15; its name may hold spaces, so they are counted after the ")")
agent_cpu_ticks() { sed 's/.*) //' "/proc/$AGENT_PID/stat" | awk '{ print $12 + $13 }'; }
# cpu_percent TICKS0 TICKS1 SECONDS: the agent's CPU between two agent_cpu_ticks, % of one core
cpu_percent() {
	awk -v a="$1" -v b="$2" -v s="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz / s * 100 }'
}
# agent_mem_mb FIELD: VmRSS (resident now) or VmHWM (peak) of the agent, in MB
agent_mem_mb() { awk -v f="$1:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$AGENT_PID/status"; }
# seconds_since T0: seconds from $EPOCHREALTIME T0 to now
seconds_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }

# map_entries NAME: entries in one of the agent's pinned maps
map_entries() { bpftool -j map dump pinned "$PIN_DIR/$1" 2>/dev/null | jq length; }
# maps_entries: "name=entries ..." for every map the agent pinned
# (but marks, socket storage freed with each socket, and moved, a ring buffer:
# neither has entries bpftool can dump)
maps_entries() {
	local m out=()
	for m in "$PIN_DIR"/*; do
		case ${m##*/} in marks | moved) continue ;; esac
		out+=("${m##*/}=$(map_entries "${m##*/}")")
	done
	echo "${out[*]}"
}
# load_flows: entries of "flows" for the load's sockets (either address is C4 or S4)
load_flows() {
	bpftool -j map dump pinned "$PIN_DIR/flows" 2>/dev/null | jq --arg c "$C4" --arg s "$S4" '
		def v4: .[0:4] | map(tostring) | join(".");
		[.[].formatted.value | select([(.saddr | v4), (.daddr | v4)] | index($c) or index($s))] | length'
}
# orphan_targets: entries of "targets" whose connection has no entry in "flows"
orphan_targets() {
	local targets
	targets=$(bpftool -j map dump pinned "$PIN_DIR/targets" 2>/dev/null | jq -c '[.[].formatted.key]')
	bpftool -j map dump pinned "$PIN_DIR/flows" 2>/dev/null |
		jq --argjson t "${targets:-[]}" '$t - [.[].formatted.key] | length'
}
# load_dests: entries of "dest_sizes" for the load's prefix (C4's /24)
load_dests() {
	bpftool -j map dump pinned "$PIN_DIR/dest_sizes" 2>/dev/null | jq --arg p "${C4%.*}" '
		[.[].formatted.key.prefix[0:3] | map(tostring) | join(".") | select(. == $p)] | length'
}

# log_lines: lines in the agent's log so far (pass_ms reads after them)
log_lines() { wc -l <"$AGENT_LOG"; }
# pass_ms FROM: the duration in ms of each tick the agent logged (-v) after line FROM
pass_ms() { tail -n +"$(($1 + 1))" "$AGENT_LOG" | sed -nE 's/.*debug: pass [0-9]+ .*, in all ([0-9.]+) ms$/\1/p'; }
# count_p50_max: "count p50 max" of the numbers on stdin ("0 - -" for none)
count_p50_max() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%d %s %s\n", NR, v[int((NR + 1) / 2)], v[NR]; else print "0 - -" }'
}
