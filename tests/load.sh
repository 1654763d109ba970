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

# One build/load process opens at most its hard limit of descriptors, which a
# process without CAP_SYS_RESOURCE cannot raise (20,000 on this project's
# machines): more connections are spread over more processes. One client
# address reaches the server's ADDR:PORT from at most the client namespace's
# ports (1024-65535 here): more connections than LOAD_PER_ADDRESS take more
# client addresses (C4, then .3, .4... of its /24).
LOAD_PER_PROCESS=${LOAD_PER_PROCESS:-$(($(ulimit -Hn) - 1024))}
LOAD_PER_ADDRESS=60000
# One churn process asks for at most this many new connections per second
LOAD_CHURN_PER_PROCESS=6000

# ceil_div A B
ceil_div() { echo $((($1 + $2 - 1) / $2)); }

# (the load processes are started with ip netns exec, not in_ns: a function in
# the background is a subshell, and killing it would leave them running)
# load_setup NAME: the namespaces (NS_C, NS_S, C4, S4), the client addresses
# (LOAD_FROM) and the servers for LOAD_CONNECTIONS, all removed at exit. Sets
# LOAD_DIR (the load generator's output).
load_setup() {
	local i n servers
	[ -x "$LOAD" ] || { log "$LOAD not built (make $LOAD)"; return 1; }
	[ "$LOAD_PER_PROCESS" -ge 1000 ] ||
		{ log "this shell's hard limit of descriptors ($(ulimit -Hn)) leaves under 1,000 for a load process"; return 1; }
	LOAD_DIR=$(mktemp -d /tmp/tcptune-load.XXXXXX) || return 1
	cleanup_add "rm -rf $LOAD_DIR"
	netpath "$1" none 0 || return 1
	ip netns exec "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" || return 1
	LOAD_FROM=("$C4")
	n=$(ceil_div "$LOAD_CONNECTIONS" "$LOAD_PER_ADDRESS")
	for ((i = 1; i < n; i++)); do
		LOAD_FROM+=("${C4%.*}.$((i + 2))")
		ip -n "$NS_C" addr add "${LOAD_FROM[i]}/24" dev veth0 || return 1
	done
	servers=$(ceil_div "$LOAD_CONNECTIONS" "$LOAD_PER_PROCESS")
	for ((i = 0; i < servers; i++)); do
		ip netns exec "$NS_S" "$LOAD" --listen "$S4:$LOAD_PORT" >"$LOAD_DIR/serve.$i.log" 2>&1 &
		cleanup_add "kill $!; wait $!"
	done
	for ((i = 0; i < 50; i++)); do
		[ "$(in_ns "$NS_S" ss -Htln "sport = :$LOAD_PORT" | wc -l)" = "$servers" ] && return 0
		sleep 0.1
	done
	log "the load servers did not start: $(cat "$LOAD_DIR"/serve.*.log)"
	return 1
}

# load_hold N SECONDS TRICKLE: N connections from the client namespace, held
# SECONDS s, each writing a byte every TRICKLE s, spread over as many
# processes as the descriptor limit asks, each from one client address.
# Returns once all are established (1 if they were not within five minutes);
# the hold goes on in the background until load_hold_wait.
load_hold() {
	local i procs left each naddr
	naddr=${#LOAD_FROM[@]}
	procs=$(ceil_div "$1" "$LOAD_PER_PROCESS")
	procs=$(($(ceil_div "$procs" "$naddr") * naddr)) # the same share from each address
	LOAD_HOLD_PIDS=()
	left=$1
	for ((i = 0; i < procs; i++)); do
		each=$(ceil_div "$left" $((procs - i)))
		left=$((left - each))
		ip netns exec "$NS_C" "$LOAD" --connect "$S4:$LOAD_PORT" --from "${LOAD_FROM[i % naddr]}" \
			--hold "$each" --seconds "$2" --trickle "$3" >"$LOAD_DIR/hold.$i.log" 2>&1 &
		LOAD_HOLD_PIDS+=($!)
		cleanup_add "kill $!"
	done
	for ((i = 0; i < 3000; i++)); do
		[ "$(cat "$LOAD_DIR"/hold.*.log | grep -c "established in")" = "$procs" ] && return 0
		for pid in "${LOAD_HOLD_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || break 2; done
		sleep 0.1
	done
	log "hold: $(cat "$LOAD_DIR"/hold.*.log)"
	return 1
}
# load_hold_lines N: line N of every hold process's output, joined
load_hold_lines() { for f in "$LOAD_DIR"/hold.*.log; do sed -n "$1p" "$f"; done | join_lines; }
# join_lines: the lines read, on one line, separated by "; "
join_lines() { awk 'NR > 1 { printf "; " } { printf "%s", $0 } END { print "" }'; }
# true once the hold time is over for every process (the connections are being closed)
load_hold_over() { [ "$(cat "$LOAD_DIR"/hold.*.log | grep -c "^load: hold: held")" = "${#LOAD_HOLD_PIDS[@]}" ]; }
# the hold's exit status: 0 when every connection was held and then closed
load_hold_wait() {
	local pid rc=0
	for pid in "${LOAD_HOLD_PIDS[@]}"; do wait "$pid" || rc=$?; done
	return "$rc"
}

# established NS: connections established in a namespace
established() { in_ns "$1" ss -tnH state established | wc -l; }

# load_churn RATE SECONDS: new short connections from the client namespace,
# from as many processes as RATE asks (LOAD_CHURN_PER_PROCESS each). Sets
# CHURN_LINE (build/load's summaries), CHURN_DONE, CHURN_ACHIEVED (per
# second), CHURN_SLOWEST (the sum of each process's slowest whole second, at
# most the slowest second of them all), CHURN_FAILED. Returns 0 when every
# process did (no connection failed).
load_churn() {
	local i procs pids=() rc=0 pid rate
	procs=$(ceil_div "${1%.*}" "$LOAD_CHURN_PER_PROCESS")
	rate=$(awk -v r="$1" -v p="$procs" 'BEGIN { printf "%.1f", r / p }')
	for ((i = 0; i < procs; i++)); do
		ip netns exec "$NS_C" "$LOAD" --connect "$S4:$LOAD_PORT" --rate "$rate" --seconds "$2" \
			>"$LOAD_DIR/churn.$i.log" 2>&1 &
		pids+=($!)
		cleanup_add "kill $!"
	done
	for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
	# shellcheck disable=SC2034 # for the caller
	CHURN_LINE=$(for f in "$LOAD_DIR"/churn.*.log; do grep "^load: churn:" "$f" || cat "$f"; done | join_lines)
	read -r CHURN_DONE CHURN_ACHIEVED CHURN_SLOWEST CHURN_FAILED < <(cat "$LOAD_DIR"/churn.*.log | sed -nE \
		's/^load: churn: ([0-9]+) connections in [0-9.]+ s \(([0-9]+)\/s; slowest whole second ([0-9]+)\), ([0-9]+) failed$/\1 \2 \3 \4/p' |
		awk '{ for (i = 1; i <= 4; i++) s[i] += $i; n++ } END { if (n) print s[1], s[2], s[3], s[4] }')
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
