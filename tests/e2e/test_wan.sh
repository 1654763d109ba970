#!/usr/bin/env bash
# The emulated WAN path of tests/wan.sh (TUN delay line + TBF bottleneck):
#  (a) ping's median RTT from client to server is the configured RTT to
#      within 1 ms (20 ms and 100 ms paths; IPv6 too on the 100 ms one);
#  (b) one iperf3 flow (cubic, 10 s after 2 s omitted) with 64 MB buffers
#      reaches >= 90% of the goodput ceiling (rate x 1448/1514) at
#      200 Mbit/s and 100 ms RTT, queue = one BDP;
#  (c) wan_teardown leaves nothing behind: no namespaces, no delay line
#      process, global sysctls as before; the delay lines stopped cleanly
#      on SIGTERM and printed their counters;
#  (d) the delay line also exits cleanly on SIGINT, printing its counters.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../wan.sh"

command -v ping >/dev/null || skip "ping not found (Debian package iputils-ping)"
command -v iperf3 >/dev/null || skip "iperf3 not found"

RATE=200mbit
QUEUE=2500kb # 200 Mbit/s x 100 ms
PORT=5201
SYSCTLS_BEFORE=$(sysctl -n net.core.rmem_max net.core.wmem_max | tr '\n' ' ')

# median_rtt NS DEST [COUNT]: median of COUNT pings 0.2 s apart, in ms. One
# ping per run: its summary line has microseconds, while the per-reply lines
# round RTTs of 100 ms and more to whole milliseconds.
median_rtt() {
	local i
	for ((i = 0; i < ${3:-10}; i++)); do
		((i)) && sleep 0.2
		in_ns "$1" ping -n -c 1 -W 2 "$2" | sed -n 's|^rtt min/avg/max/mdev = \([0-9.]*\)/.*|\1|p'
	done | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
		printf "%.3f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# near A B TOL: |A - B| <= TOL
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'; }

# (a) RTT
wan_path "${UNIQ}a" "$RATE" 20 "$QUEUE" || { fail "20 ms path set up"; finish; }
NS_A=$NS_C S4_A=$S4 DL_A=$WAN_DL_PID
wan_path "${UNIQ}b" "$RATE" 100 "$QUEUE" || { fail "100 ms path set up"; finish; }
DL_B=$WAN_DL_PID
rtt=$(median_rtt "$NS_A" "$S4_A") || rtt=none
log "20 ms path: median ping RTT $rtt ms"
check "20 ms path: median RTT $rtt ms within 1 ms of 20" near "$rtt" 20 1
rtt=$(median_rtt "$NS_C" "$S4") || rtt=none
log "100 ms path: median ping RTT $rtt ms"
check "100 ms path: median RTT $rtt ms within 1 ms of 100" near "$rtt" 100 1
rtt=$(median_rtt "$NS_C" "$S6" 5) || rtt=none
check "100 ms path over IPv6: median RTT $rtt ms within 1 ms of 100" near "$rtt" 100 1

# (b) throughput with large buffers
wan_buffers $((64 << 20)) || fail "64 MB buffers set"
wan_cc reno || fail "namespace congestion control set"
iperf_server "$NS_S" "$PORT" || { fail "iperf3 server starts"; finish; }
out=$(mktemp /tmp/tcptune-wan.XXXXXX)
cleanup_add "rm -f $out"
cpu0=$(wan_delayline_cpu_ms)
start=$(date +%s%N)
in_ns "$NS_C" iperf3 -c "$S4" -p "$PORT" -t 10 -O 2 -C cubic -J >"$out"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
cpu=$(($(wan_delayline_cpu_ms) - cpu0))
goodput=$(jq -r '.end.sum_received.bits_per_second // empty' "$out")
ceiling=$(wan_ceiling "$RATE")
if [ -n "$goodput" ]; then
	log "iperf3 $RATE 100 ms: $(jq -r '.end.sender_tcp_congestion' "$out"), goodput $(awk -v g="$goodput" 'BEGIN { printf "%.1f", g / 1e6 }') Mbit/s, ceiling $(awk -v c="$ceiling" 'BEGIN { printf "%.1f", c / 1e6 }'), $(jq -r '.end.sum_sent.retransmits' "$out") retransmits; delay line CPU $((cpu * 100 / elapsed_ms))% of one core"
	check "goodput >= 90% of the ceiling at $RATE, 100 ms" \
		awk -v g="$goodput" -v c="$ceiling" 'BEGIN { exit !(g >= 0.9 * c) }'
else
	fail "iperf3 ran: $(jq -r '.error // empty' "$out" 2>/dev/null || cat "$out")"
fi
wan_stats | while read -r line; do log "$line"; done

# (c) teardown
if wan_teardown; then
	pass "delay lines stopped cleanly on SIGTERM with counters, sysctls restored"
else
	fail "teardown: a delay line did not stop cleanly or a sysctl was not restored"
fi
check "no namespace left" bash -c "! ip netns list | grep -q '^${UNIQ}[ab][crs]\\b'"
check "no delay line process left" bash -c "! kill -0 $DL_A 2>/dev/null && ! kill -0 $DL_B 2>/dev/null"
after=$(sysctl -n net.core.rmem_max net.core.wmem_max | tr '\n' ' ')
check "net.core.rmem_max/wmem_max restored ($after)" test "$after" = "$SYSCTLS_BEFORE"

# (d) SIGINT: a delay line between two TUN devices of its own
private_netns i || { fail "namespace for SIGINT test"; finish; }
dl_log=$(mktemp /tmp/tcptune-delayline.XXXXXX)
cleanup_add "rm -f $dl_log"
# not through in_ns: a backgrounded function would be a subshell, not the delay line
ip netns exec "$NS" "$WAN_DELAYLINE" --dev-a dli0 --dev-b dli1 --delay-ms 5 >"$dl_log" 2>&1 &
dl=$!
cleanup_add "kill -KILL $dl 2>/dev/null"
for ((i = 0; i < 50; i++)); do
	grep -q '^delayline: ready' "$dl_log" && break
	sleep 0.1
done
kill -INT "$dl"
for ((i = 0; i < 50; i++)); do
	_wan_gone "$dl" && break
	sleep 0.1
done
rc=0
_wan_gone "$dl" || { kill -KILL "$dl"; log "delay line still running 5 s after SIGINT"; }
wait "$dl" || rc=$?
check "delay line exits 0 on SIGINT (exit $rc)" test "$rc" = 0
check "delay line prints both directions' counters on SIGINT" \
	test "$(grep -c '^delayline: exit dli[01]->dli[01] .*forwarded=' "$dl_log")" = 2
finish
