#!/usr/bin/env bash
# The pinned maps are readable with bpftool as named fields, root-only; `top`
# prints plain snapshots to a pipe and quits on q on a terminal.
. "$(dirname "$0")/../lib.sh"

agent_start --interval 0.5 || { fail "agent starts"; finish; }
private_netns i || { fail "namespace set up"; finish; }
iperf_server "$NS" 5301
in_ns "$NS" iperf3 -c 127.0.0.1 -p 5301 -t 30 -b 100M >/dev/null 2>&1 &
cleanup_add "kill $! 2>/dev/null"

# The flow shows up once the first tick has read it, later on a loaded machine;
# the last dump stays in $dump for the checks below.
data_connection_seen() {
	dump=$(bpftool -j map dump pinned "$PIN_DIR/flows" 2>&1)
	jq -e '[.[] | .formatted.value | select(.dport == 5301 and .bytes_acked > 1000000)] | length == 1' \
		<<<"$dump" >/dev/null
}
wait_for 15 data_connection_seen

# bpftool prints the BTF-typed value with its field names
check "bpftool map dump prints named fields (srtt_us, sndbuf, delivery_rate_Bps)" \
	jq -e '[.[] | .formatted.value | has("srtt_us") and has("sndbuf") and has("delivery_rate_Bps")] | any' <<<"$dump"
check "bpftool shows the iperf3 data connection (dport 5301)" data_connection_seen
check "bpftool reads the counters map" bpftool map dump pinned "$PIN_DIR/counters"
check "pin directory is root-only (0700)" [ "$(stat -c %a "$PIN_DIR")" = 700 ]
for f in "$PIN_DIR"/*; do
	check "$(basename "$f") is pinned 0600" [ "$(stat -c %a "$f")" = 600 ]
done

# not a terminal: plain snapshots, one per interval, no escape sequences
out=$("$TCPTUNE" top --interval 0.2 --iterations 3 | cat)
check "top prints 3 snapshots to a pipe" [ "$(grep -c 'tcptune top' <<<"$out")" = 3 ]
check "top snapshot lists the connection to :5301" grep -q ':5301 ' <<<"$out"
check "top output to a pipe has no escape sequences" bash -c '! grep -q $'"'"'\033'"'"' <<<"$1"' _ "$out"
sorted=$("$TCPTUNE" top --sort rtt --iterations 1 | cat)
check "top --sort rtt says so" grep -q "sorted by rtt" <<<"$sorted"

# a terminal: redraws in place and quits on q, restoring the terminal
tty_out=$(mktemp); cleanup_add "rm -f $tty_out"
start=$(date +%s)
(sleep 1.5; printf 'w'; sleep 0.5; printf 'q') | timeout 10 script -qfec "$TCPTUNE top --interval 0.2" "$tty_out" >/dev/null
rc=$?
check "top on a terminal exits 0 on q (rc $rc)" [ "$rc" = 0 ]
check "top quit within a few seconds of q" [ $(( $(date +%s) - start )) -le 5 ]
check "top redraws with clear-screen on a terminal" grep -q $'\033\\[2J' "$tty_out"
check "the w key switches the order to queue" grep -q "sorted by queue" "$tty_out"
check "top shows the cursor again on exit" grep -q $'\033\\[?25h' "$tty_out"

# Ctrl-C (SIGINT) ends it cleanly too
"$TCPTUNE" top --interval 0.2 >/dev/null &
top_pid=$!
sleep 0.5; kill -INT "$top_pid"; wait "$top_pid"; rc=$?
check "top exits 0 on SIGINT (rc $rc)" [ "$rc" = 0 ]
finish
