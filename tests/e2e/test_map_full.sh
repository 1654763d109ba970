#!/usr/bin/env bash
# The flows map is bounded: past --max-flows new connections are not tracked,
# each refused insert is counted (map_full), and closed connections free room.
. "$(dirname "$0")/../lib.sh"

MAX=4
agent_start --interval 0.3 --max-flows "$MAX" || { fail "agent starts"; finish; }
private_netns m || { fail "namespace set up"; finish; }

tracked() { "$TCPTUNE" flows --json | jq length; }

base_full=$(bpf_counter 2)
iperf_server "$NS" 5401
# 10 data connections + the control connection, both ends: 22 sockets
in_ns "$NS" iperf3 -c 127.0.0.1 -p 5401 -P 10 -t 3 -b 10M >/dev/null 2>&1 &
client=$!
cleanup_add "kill $client 2>/dev/null"
sleep 1.5
n=$(tracked)
full=$(( $(bpf_counter 2) - base_full ))
log "tracked $n of 22 sockets, map_full +$full"
check "no more than --max-flows ($MAX) connections tracked ($n)" [ "$n" -le "$MAX" ]
check "the map did fill ($n = $MAX)" [ "$n" = "$MAX" ]
check "refused inserts are counted in map_full (+$full)" [ "$full" -ge $((22 - MAX)) ]
check "bpftool reports the map's max_entries as $MAX" \
	[ "$(bpftool -j map show pinned "$PIN_DIR/flows" | jq .max_entries)" = "$MAX" ]
check "status shows the limit as set by --max-flows" \
	grep -qx "flows: $MAX sockets tracked at most (--max-flows)" <<<"$("$TCPTUNE" status)"
wait "$client"

for ((i = 0; i < 30; i++)); do [ "$(tracked)" = 0 ] && break; sleep 0.1; done
check "closed connections free their entries ($(tracked) left)" [ "$(tracked)" = 0 ]

# room again: new connections are tracked
iperf_server "$NS" 5402
in_ns "$NS" iperf3 -c 127.0.0.1 -p 5402 -t 2 -b 10M >/dev/null 2>&1 &
cleanup_add "kill $! 2>/dev/null"
sleep 1
n=$(tracked)
check "after the churn new connections are tracked again ($n)" [ "$n" -ge 2 ]
finish
