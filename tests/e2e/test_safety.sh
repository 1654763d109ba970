#!/usr/bin/env bash
# Safety limits (agent/core/budget.c), on an emulated WAN path (100 Mbit/s, 40 ms
# RTT, tests/wan.sh), the agent scoped to a cgroup of this test's own:
#  budget:   8 bulk iperf3 flows. Without --budget the agent assigns more
#            than B bytes; with --budget B the sum of its targets (status map
#            and flows --json) and of the tuned buffers as ss shows them stay
#            within B in every sample. (Buffers it does not own, the kernel
#            autotunes as ever: those are logged, not bounded.)
#  pressure: 12 idle connections whose buffers grew in a burst, one active
#            flow. net.ipv4.tcp_mem (global) is lowered below what TCP uses:
#            the agent logs pressure, changes no buffer by grow or probe while
#            it lasts, shrinks the idle buffers, largest first, and logs the
#            end once tcp_mem is restored. tcp_mem is restored by the test,
#            by its exit trap, and by a watchdog process should the test be
#            killed outright.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../wan.sh"

command -v iperf3 >/dev/null || skip "iperf3 not found"
command -v python3 >/dev/null || { fail "python3 not found (tests/install-deps.sh installs it)"; finish; }
[ -n "$CG2" ] || skip "no cgroup2 filesystem is mounted"

BUDGET=$((1 << 20))
OUT=$(mktemp -d /tmp/tcptune-safety.XXXXXX); cleanup_add "rm -rf $OUT"

CG="$CG2/${UNIQ}safety"
mkdir "$CG" && cleanup_add "cg_remove $CG" || { fail "create cgroup $CG"; finish; }

# in_cg NS CMD...: CMD in namespace NS and the test's cgroup (joined first:
# ip netns exec remounts /sys)
in_cg() { bash -c 'echo $$ >"$1/cgroup.procs" && ns=$2 && shift 2 && exec ip netns exec "$ns" "$@"' _ "$CG" "$@"; }

wan_path "${UNIQ}w" 100mbit 40 500kb || { fail "WAN path set up"; finish; }

# status FIELD: the agent's status map field
status() { bpftool -j map lookup pinned "$PIN_DIR/status" key 0 0 0 0 | jq ".formatted.value.$1"; }

# ss_buffers NS FILTER: "cookie tb rb" per socket (cookie in decimal, as flows --json)
ss_buffers() {
	local c tb rb
	# (ss -e cannot resolve cgroup paths inside ip netns exec: its complaints go)
	in_ns "$1" ss -tmeH "$2" 2>/dev/null | tr ' \t' '\n\n' | awk '
		/^sk:/ { if (c != "") print c, tb, rb; c = substr($0, 4); tb = rb = 0 }
		/^skmem:/ { n = split(substr($0, 8, length($0) - 8), f, ","); for (i = 1; i <= n; i++) {
			if (f[i] ~ /^tb/) tb = substr(f[i], 3); if (f[i] ~ /^rb/) rb = substr(f[i], 3) } }
		END { if (c != "") print c, tb, rb }' | while read -r c tb rb; do echo "$((16#$c)) $tb $rb"; done
}

# sample PORT: "assigned targets tuned_ss all_ss pending": the status map's
# assigned bytes; the sum of the targets of PORT's connections (flows
# --json); the sum of ss tb/rb over the buffers that have a target; of all
# their buffers; how many tuned buffers ss shows not yet at their target (a
# target written by the tick after the last pass is applied by the next one)
sample() {
	local port=$1 flows
	flows=$("$TCPTUNE" flows --json) || return 1
	{ ss_buffers "$NS_C" "dport = :$port"; ss_buffers "$NS_S" "sport = :$port"; } >"$OUT/ss"
	jq -r --argjson p "$port" '.[] | select(.dport == $p or .sport == $p) |
		"\(.cookie) \(.target_sndbuf) \(.target_rcvbuf)"' <<<"$flows" >"$OUT/targets"
	echo "$(status assigned_bytes) $(awk '
		function off(a, b) { return a - b > 1 || b - a > 1 }
		FNR == NR { ts[$1] = $2; tr[$1] = $3; targets += $2 + $3; next }
		{ all += $2 + $3
		  if (ts[$1] > 0) { tuned += $2; pending += off($2, ts[$1]) }
		  if (tr[$1] > 0) { tuned += $3; pending += off($3, tr[$1]) } }
		END { printf "%.0f %.0f %.0f %d", targets, tuned, all, pending }' "$OUT/targets" "$OUT/ss")"
}

# bulk PORT LABEL [AGENT ARGS...]: agent started with the args, 8 flows for
# 20 s, sampled every second from 5 s on; logs the samples; sets MAX_ASSIGNED,
# MAX_TARGETS, MAX_TUNED_SS (largest of each over the samples; MAX_TUNED_SS
# over the SETTLED samples, those with every target applied) and GOODPUT
bulk() {
	local port=$1 label=$2 i s client
	shift 2
	agent_start --interval 0.5 --cgroup "$CG" "$@" || return 1
	in_cg "$NS_S" iperf3 -s -1 -p "$port" -D -I "$OUT/iperf.$port.pid" >/dev/null || return 1
	cleanup_add "kill \$(cat $OUT/iperf.$port.pid) 2>/dev/null"
	sleep 0.3
	in_cg "$NS_C" iperf3 -c "$S4" -p "$port" -P 8 -t 20 --json >"$OUT/$label.json" 2>&1 &
	client=$!
	sleep 5
	MAX_ASSIGNED=0 MAX_TARGETS=0 MAX_TUNED_SS=0 SETTLED=0
	for ((i = 0; i < 13; i++)); do
		s=$(sample "$port") || { log "$label: sample failed"; continue; }
		read -r a t tu al pend <<<"$s"
		log "$label: assigned $a, targets $t, tuned buffers (ss) $tu ($pend not yet at target), all buffers (ss) $al"
		[ "$a" -gt "$MAX_ASSIGNED" ] && MAX_ASSIGNED=$a
		[ "$t" -gt "$MAX_TARGETS" ] && MAX_TARGETS=$t
		# ss is compared where every target is applied
		if [ "$pend" = 0 ]; then
			SETTLED=$((SETTLED + 1))
			[ "$tu" -gt "$MAX_TUNED_SS" ] && MAX_TUNED_SS=$tu
		fi
		sleep 1
	done
	wait "$client"
	GOODPUT=$(jq '.end.sum_received.bits_per_second' "$OUT/$label.json")
	log "$label: goodput $GOODPUT bit/s; largest: assigned $MAX_ASSIGNED, targets $MAX_TARGETS, tuned (ss) $MAX_TUNED_SS"
	cp "$AGENT_LOG" "$OUT/$label.log"
	agent_stop
	log "$label: changes by reason: $(grep -o '^tcptune: change .*(\(grow\|shrink\|probe\|budget\))$' "$OUT/$label.log" |
		sed 's/.*(\(.*\))$/\1/' | sort | uniq -c | awk '{ printf "%s %s, ", $2, $1 }')"
}

# --- budget ---
bulk 5711 unlimited || { fail "8 flows without a budget"; finish; }
check "without --budget the agent assigns more than $BUDGET bytes (largest $MAX_ASSIGNED)" [ "$MAX_ASSIGNED" -gt "$BUDGET" ]
# -v: the tuner's per-tick debug line counts the grows the budget refused
bulk 5712 budget --budget "$BUDGET" -v || { fail "8 flows with --budget $BUDGET"; finish; }
# Buffers the agent does not own are the kernel's to autotune (up to tcp_rmem /
# tcp_wmem max): the budget bounds what the agent hands out, not the host's
# total, so with a tight budget "all buffers" can be larger than without one.
log "all buffers of the 8 flows (ss), last sample: $al with the budget"
check "the agent logs its budget" grep -q "budget: at most $BUDGET buffer bytes" "$OUT/budget.log"
check "with --budget $BUDGET: assigned (status map) stays within it (largest $MAX_ASSIGNED)" [ "$MAX_ASSIGNED" -le "$BUDGET" ]
check "with --budget $BUDGET: the targets in flows --json add up to at most it (largest $MAX_TARGETS)" [ "$MAX_TARGETS" -le "$BUDGET" ]
# ss shows what the kernel made of the target: double the halved value, so up to 1 byte more per buffer
check "with --budget $BUDGET: samples with every target applied: $SETTLED of 13 (at least 3)" [ "$SETTLED" -ge 3 ]
check "with --budget $BUDGET: there, the tuned buffers as ss shows them stay within it +1% (largest $MAX_TUNED_SS)" \
	[ "$MAX_TUNED_SS" -le $((BUDGET + BUDGET / 100)) ]
# with a small --min-buf the assigned bytes can settle just under the budget with
# less than one more grow's room: then grows are refused, not cut
check "the budget was reached: grows cut to it or refused, or 'budget full' logged" \
	grep -qE "budget full|\(budget\)|, [1-9][0-9]* refused" "$OUT/budget.log"
grep -E "\((budget)\)" "$OUT/budget.log" | head -3 | while read -r l; do log "$l"; done
check "with the budget, goodput still at least half of the path (${GOODPUT} bit/s)" \
	awk -v g="$GOODPUT" 'BEGIN { exit !(g >= 0.5 * 100e6 * 1448 / 1514) }'

# --- pressure ---
cat >"$OUT/idle.py" <<'EOF'
# server HOST PORT N: accept N connections, read them to the end.
# client HOST PORT N CHUNK: N connections, the i-th sends (i + 1) x CHUNK
# bytes, one after another; prints "sent" and keeps them open, idle.
import socket, sys, threading, time
mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if mode == "server":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(64)
    print("listening", flush=True)
    def drain(c):
        while c.recv(1 << 20):
            pass
    for _ in range(n):
        c, _ = s.accept()
        threading.Thread(target=drain, args=(c,), daemon=True).start()
else:
    chunk = int(sys.argv[5])
    conns = [socket.create_connection((host, port)) for _ in range(n)]
    for i, c in enumerate(conns):
        c.sendall(b"\0" * ((i + 1) * chunk))
    print("sent", flush=True)
time.sleep(3600)
EOF
IDLE_PORT=5713 ACTIVE_PORT=5714 NIDLE=12
agent_start --interval 0.5 --cgroup "$CG" -v || { fail "agent starts for the pressure part"; finish; }
in_cg "$NS_S" python3 "$OUT/idle.py" server "$S4" "$IDLE_PORT" "$NIDLE" >"$OUT/idle-server.out" 2>&1 &
cleanup_add "kill $! 2>/dev/null"
wait_for 5 grep -q listening "$OUT/idle-server.out" || { fail "idle server listens: $(cat "$OUT/idle-server.out")"; finish; }
in_cg "$NS_C" python3 "$OUT/idle.py" client "$S4" "$IDLE_PORT" "$NIDLE" $((1 << 20)) >"$OUT/idle-client.out" 2>&1 &
cleanup_add "kill $! 2>/dev/null"
wait_for 60 grep -q sent "$OUT/idle-client.out" || { fail "bursts on the idle connections: $(cat "$OUT/idle-client.out")"; finish; }
sleep 3 # all acked, and idle for more than BUDGET_IDLE_TICKS ticks
{ ss_buffers "$NS_C" "dport = :$IDLE_PORT"; ss_buffers "$NS_S" "sport = :$IDLE_PORT"; } >"$OUT/idle-before"
idle_before=$(awk '{ s += $2 + $3 } END { printf "%.0f\n", s }' "$OUT/idle-before")
log "idle connections' buffers after their bursts: $idle_before bytes in all; largest: $(awk '{ print $2; print $3 }' "$OUT/idle-before" | sort -rn | head -5 | tr '\n' ' ')"
check "no TCP memory pressure logged before tcp_mem is lowered" bash -c "! grep -q 'TCP memory pressure:' '$AGENT_LOG'"

# an active flow through the pressure window: it would grow or probe
in_cg "$NS_S" iperf3 -s -1 -p "$ACTIVE_PORT" -D -I "$OUT/iperf.active.pid" >/dev/null || { fail "iperf3 server"; finish; }
cleanup_add "kill \$(cat $OUT/iperf.active.pid) 2>/dev/null"
sleep 0.3
in_cg "$NS_C" iperf3 -c "$S4" -p "$ACTIVE_PORT" -t 25 >/dev/null 2>&1 &
cleanup_add "kill $! 2>/dev/null"
sleep 3

TCP_MEM0=$(tr -s '\t ' '  ' </proc/sys/net/ipv4/tcp_mem)
read -r _ _ high <<<"$TCP_MEM0"
LOWERED="1 1 $high" # pressure from the first page; the hard limit stays where it was
restore_tcp_mem() {
	[ "$(tr -s '\t ' '  ' </proc/sys/net/ipv4/tcp_mem)" = "$TCP_MEM0" ] || echo "$TCP_MEM0" >/proc/sys/net/ipv4/tcp_mem
}
cleanup_add restore_tcp_mem
# should this shell be killed (SIGKILL runs no trap), the watchdog restores it
setsid bash -c 'sleep 60; [ "$(tr -s "\t " "  " </proc/sys/net/ipv4/tcp_mem)" = "$1" ] && echo "$2" >/proc/sys/net/ipv4/tcp_mem' \
	_ "$LOWERED" "$TCP_MEM0" </dev/null >/dev/null 2>&1 &
cleanup_add "kill $! 2>/dev/null"
mark=$(wc -l <"$AGENT_LOG")
log "tcp_mem $TCP_MEM0 -> $LOWERED (sockstat: $(grep '^TCP:' /proc/net/sockstat))"
echo "$LOWERED" >/proc/sys/net/ipv4/tcp_mem || { fail "lower tcp_mem"; finish; }
wait_for 5 grep -q "TCP memory pressure:" "$AGENT_LOG"
pressure_seen=$?
# usage is the whole host's and can dip to 0 pages (then pressure ends, as
# in the kernel): poll for the status map's flag rather than sample it once
status_pressure_on() { [ "$(status pressure)" = 1 ]; }
check "status map: pressure 1 while tcp_mem is lowered" wait_for 5 status_pressure_on
sleep 2
restore_tcp_mem
check "tcp_mem restored ($(tr -s '\t ' '  ' </proc/sys/net/ipv4/tcp_mem))" [ "$(tr -s '\t ' '  ' </proc/sys/net/ipv4/tcp_mem)" = "$TCP_MEM0" ]
check "the agent logs pressure once tcp_mem is below usage" [ "$pressure_seen" = 0 ]
check "the agent logs the end of pressure once tcp_mem is restored" wait_for 10 grep -q "TCP memory pressure over" "$AGENT_LOG"
sleep 1
tail -n +"$((mark + 1))" "$AGENT_LOG" | grep -v "^tcptune: debug: pass" >"$OUT/pressure.log"
grep "TCP memory pressure" "$OUT/pressure.log" | while read -r l; do log "$l"; done
# the window: from the start line to the end line
awk '/TCP memory pressure:/ { on = 1 } /TCP memory pressure over/ { on = 0 } on' "$OUT/pressure.log" >"$OUT/window.log"
dropped=$(grep -o '[0-9]* grows dropped' "$OUT/window.log" | awk '{ s += $1 } END { print s + 0 }')
log "during pressure: $(grep -c '(pressure)' "$OUT/window.log") pressure shrinks, $dropped grows or probes the estimator asked for were dropped"
grep -E "change .*\((grow|probe|budget)\)" "$OUT/window.log" | head -n 3 | while read -r l; do log "under pressure: $l"; done
check "no grow or probe while under pressure" bash -c "! grep -qE 'change .*\((grow|probe|budget)\)' '$OUT/window.log'"
check "idle buffers shrunk under pressure (at least 16, got $(grep -c '(pressure)' "$OUT/window.log"))" \
	[ "$(grep -c '(pressure)' "$OUT/window.log")" -ge 16 ]
# sizes shrunk, in log order; a tick shrinks at most 16 (BUDGET_PRESSURE_SHRINKS), largest first
grep '(pressure)' "$OUT/window.log" | sed -E 's/.* (sndbuf|rcvbuf) ([0-9.]+[KMG]?)B -> .*/\2/' |
	awk '{ v = $1; m = 1; if (v ~ /K$/) m = 1e3; if (v ~ /M$/) m = 1e6; if (v ~ /G$/) m = 1e9; sub(/[KMG]$/, "", v); printf "%.0f\n", v * m }' >"$OUT/shrunk"
log "sizes shrunk, in order: $(head -24 "$OUT/shrunk" | tr '\n' ' ')"
first_min=$(head -16 "$OUT/shrunk" | sort -n | head -1)
later_max=$(tail -n +17 "$OUT/shrunk" | sort -n | tail -1)
check "largest first: the first tick's 16 shrinks (smallest $first_min) were no smaller than any later one (largest ${later_max:-none})" \
	awk -v a="$first_min" -v b="${later_max:-0}" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'
{ ss_buffers "$NS_C" "dport = :$IDLE_PORT"; ss_buffers "$NS_S" "sport = :$IDLE_PORT"; } >"$OUT/idle-after"
idle_after=$(awk '{ s += $2 + $3 } END { printf "%.0f\n", s }' "$OUT/idle-after")
log "idle connections' buffers: $idle_before bytes before pressure, $idle_after after"
check "idle connections' buffers at most a quarter of what they were ($idle_after vs $idle_before)" \
	[ "$idle_after" -le $((idle_before / 4)) ]
agent_stop
finish
