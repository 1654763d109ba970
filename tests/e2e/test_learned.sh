#!/usr/bin/env bash
# Per-destination memory: once the agent has measured connections from a
# remote /24, a new connection with it starts at the learned sizes, and its
# first advertised window (the SYN-ACK's, through sockops RWND_INIT) already
# fits the learned rcvbuf. The peer sees it as its send window (ss snd_wnd);
# the sender's size goal (half the largest window it saw) and so the data it
# can keep unsent depend on it. Without the agent the window is stock again.
. "$(dirname "$0")/../lib.sh"

netpath "${UNIQ}l" 50mbit 200kb || { fail "namespaces set up"; finish; }
OUT=$(mktemp -d /tmp/tcptune-learned.XXXXXX); cleanup_add "rm -rf $OUT"
HOLD_PORT=5711

# a listener in the server namespace that accepts and holds connections idle
ip netns exec "$NS_S" python3 -c '
import socket, sys, time
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(16)
held = []
while True:
    held.append(l.accept()[0])
' "$S4" "$HOLD_PORT" >/dev/null 2>&1 &
cleanup_add "kill $! 2>/dev/null" # python itself: ip netns exec execs it
sleep 0.5

# idle_window TAG: opens an idle connection from the client namespace to the
# holder and prints the client's snd_wnd (the server's first window)
idle_window() {
	local fifo=$OUT/$1.fifo w
	mkfifo "$fifo"
	ip netns exec "$NS_C" python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
print(c.getsockname()[1], flush=True)
sys.stdin.read()
' "$S4" "$HOLD_PORT" >"$OUT/$1.port" 2>/dev/null <"$fifo" &
	local client=$!
	exec {keep}>"$fifo" # the client holds its connection until this closes
	wait_for 5 test -s "$OUT/$1.port" || { echo 0; return; }
	w=$(in_ns "$NS_C" ss -tinH "sport = :$(cat "$OUT/$1.port")" | grep -o 'snd_wnd:[0-9]*' | cut -d: -f2)
	exec {keep}>&-
	wait "$client"
	echo "${w:-0}"
}

agent_start --interval 0.5 || { fail "agent starts"; finish; }
first=$(idle_window first)
log "first contact: the server's first window (client snd_wnd) $first"
check "first contact: a stock-sized first window ($first >= 32768)" [ "$first" -ge 32768 ]

# slow flows from the client's /24 teach the agent a small receive size
iperf_server "$NS_S" 5712
in_ns "$NS_C" iperf3 -c "$S4" -p 5712 -P 4 -b 2M -t 4 >"$OUT/iperf.txt" 2>&1 || fail "iperf3 runs: $(tail -n 3 "$OUT/iperf.txt")"
sleep 1
bpftool -j map dump pinned "$PIN_DIR/dest_sizes" >"$OUT/dests.json"
learned=$(jq '[.[] | .formatted | select(.key.cgroup_id == 0) | .value.rcvbuf] | max // 0' "$OUT/dests.json")
log "learned rcvbuf for the client's /24 (any cgroup): $learned"
check "the agent learned a receive size for the client's /24 (dest_sizes, cgroup 0): $learned" \
	[ "$learned" -gt 0 ]
at_start0=$(bpftool -j map lookup pinned "$PIN_DIR/counters" key 6 0 0 0 | jq '[.formatted.values[].value] | add')

known=$(idle_window known)
at_start=$(bpftool -j map lookup pinned "$PIN_DIR/counters" key 6 0 0 0 | jq '[.formatted.values[].value] | add')
log "known destination: the server's first window $known (learned rcvbuf $learned); counter window_at_start $at_start0 -> $at_start"
check "known destination: the first window fits the learned rcvbuf ($known <= $learned / 2 + 1460)" \
	[ "$known" -gt 0 -a "$known" -le $((learned / 2 + 1460)) ]
check "known destination: the first window is smaller than at first contact ($known < $first)" [ "$known" -lt "$first" ]
check "sockops counted it (counter 6: $at_start0 -> $at_start)" [ "$at_start" -gt "$at_start0" ]

agent_stop
after=$(idle_window after)
log "after the agent stopped: first window $after"
check "without the agent, the first window is stock again ($after >= 32768)" [ "$after" -ge 32768 ]
finish
