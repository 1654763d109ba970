#!/usr/bin/env bash
# Tuning on a short, slow path (50 Mbit/s TBF between two namespaces): stock
# autotuning lets the sender's buffer grow to megabytes of queued data;
# tcptune brings it down toward 2 x BDP at the same throughput, and settles
# (no probe/shrink cycle). --observe
# changes nothing. net.core.{w,r}mem_max are raised for --max-buf and restored
# on exit, and after a SIGKILL by the next start.
. "$(dirname "$0")/../lib.sh"

WMEM0=$(sysctl -n net.core.wmem_max) RMEM0=$(sysctl -n net.core.rmem_max)
cleanup_add "sysctl -qw net.core.wmem_max=$WMEM0 net.core.rmem_max=$RMEM0"
netpath "${UNIQ}u" 50mbit 200kb || { fail "namespaces set up"; finish; }

# run_flow PORT OUT: 12 s of iperf3, sender's skmem tb sampled from 6 s on;
# prints "median_tb goodput_bps"
run_flow() {
	local port=$1 out=$2 tbs=() i
	iperf_server "$NS_S" "$port"
	in_ns "$NS_C" iperf3 -c "$S4" -p "$port" -t 12 --json >"$out" 2>&1 &
	local client=$!
	echo "$EPOCHREALTIME" >"$out.start"
	sleep 6
	# the sender's sndbuf changes so far, to tell whether any came later
	[ -n "${AGENT_PID:-}" ] && grep -c ":$port cookie [0-9]* sndbuf" "$AGENT_LOG" >"$out.changes6"
	for ((i = 0; i < 10; i++)); do
		tbs+=("$(in_ns "$NS_C" ss -tmH "dport = :$port" | grep -o 'tb[0-9]*' | tr -d tb | sort -n | tail -1)")
		sleep 0.5
	done
	[ -n "${AGENT_PID:-}" ] && "$TCPTUNE" flows --json >"$out.flows"
	wait "$client"
	echo "$(printf '%s\n' "${tbs[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }') $(jq '.end.sum_received.bits_per_second' "$out")"
}

OUT=$(mktemp -d /tmp/tcptune-tune.XXXXXX); cleanup_add "rm -rf $OUT"

read -r stock_tb stock_bps < <(run_flow 5601 "$OUT/stock.json")
log "stock: sender buffer (median tb) $stock_tb, goodput $stock_bps"

agent_start --observe --interval 0.5 || { fail "agent starts in observe mode"; finish; }
check "--observe leaves net.core.wmem_max alone" [ "$(sysctl -n net.core.wmem_max)" = "$WMEM0" ]
read -r obs_tb obs_bps < <(run_flow 5602 "$OUT/observe.json")
log "observe: sender buffer $obs_tb, goodput $obs_bps"
check "--observe logs what it would change" grep -q "would change" "$AGENT_LOG"
check "--observe: flows --json still shows targets" jq -e '[.[] | select(.dport == 5602 and .target_sndbuf > 0)] | length > 0' "$OUT/observe.json.flows"
check "--observe changes no buffer (counters: applied 0)" \
	[ "$(bpftool -j map lookup pinned "$PIN_DIR/counters" key 3 0 0 0 | jq '[.formatted.values[].value] | add')" = 0 ]
check "--observe: sender buffer like stock's ($obs_tb vs $stock_tb, within 30%)" \
	awk -v a="$obs_tb" -v b="$stock_tb" 'BEGIN { exit !(a >= b * 0.7 && a <= b * 1.3) }'
agent_stop

# its log lines carry the time, to tell when each change came
AGENT_LOG_AT=$OUT/tuned.log agent_start --interval 0.5 --max-buf 64M || { fail "agent starts tuning"; finish; }
check "tuning raises net.core.wmem_max to 32 MiB for --max-buf 64M" [ "$(sysctl -n net.core.wmem_max)" = 33554432 ]
read -r tuned_tb tuned_bps < <(run_flow 5603 "$OUT/tuned.json")
log "tuned: sender buffer $tuned_tb, goodput $tuned_bps"
check "each change is logged with old -> new and a reason" grep -qE "change .* sndbuf .* -> .* \((grow|shrink|probe)\)" "$AGENT_LOG"
# shrinks wait for 3 steady ticks and halve at most every 3 ticks: one or
# two of them in the 6 s before sampling
check "tuned sender buffer ($tuned_tb) at most 0.6 x stock's ($stock_tb)" [ "$tuned_tb" -le $((stock_tb * 6 / 10)) ]
check "tuned goodput ($tuned_bps) at least 95% of stock's ($stock_bps)" \
	awk -v a="$tuned_bps" -v b="$stock_bps" 'BEGIN { exit !(a >= b * 0.95) }'
sender=$(jq -c '[.[] | select(.dport == 5603)] | max_by(.bytes_acked)' "$OUT/tuned.json.flows")
log "flows --json for the tuned sender: $sender"
check "flows --json shows the sender's target (target_sndbuf > 0)" jq -e '.target_sndbuf > 0' <<<"$sender"
check "flows --json shows its last change (buffer, old, new, reason, age)" \
	jq -e '(.last_change_buffer | test("^(sndbuf|notsent_lowat)$")) and .last_change_new > 0 and (.last_change_reason | test("grow|shrink|probe")) and .last_change_age_ms >= 0' <<<"$sender"
check "the sender's unsent data is capped: notsent_lowat $(jq .notsent_lowat <<<"$sender") in force, as targeted" \
	jq -e '.notsent_lowat > 0 and .notsent_lowat == .target_notsent_lowat and .notsent_lowat < .sndbuf' <<<"$sender"
check "flows --json carries the limited flags" jq -e 'has("sndbuf_limited") and has("rwnd_limited") and has("app_not_reading")' <<<"$sender"
# per-ACK sockops callbacks only where they have work: the regrowth of a send
# buffer tcptune set below the kernel's ceiling
check "the sender, its buffer set by tcptune below tcp_wmem[2], has RTT callbacks" \
	jq -e '.rtt_callbacks and .sndbuf < .sndbuf_cap and .last_change_buffer != "none"' <<<"$sender"
control=$(jq -c '[.[] | select(.dport == 5603)] | min_by(.bytes_acked)' "$OUT/tuned.json.flows")
# where the kernel cannot turn callbacks on later, every connection has them
everywhere=$("$TCPTUNE" status --json | jq '.agent.kernel.rtt_callbacks == "every connection"')
check "iperf3's control connection, left to the kernel, has callbacks only if every connection has (status: $everywhere): $control" \
	jq -e --argjson all "$everywhere" '.cookie != '"$(jq .cookie <<<"$sender")"' and .target_sndbuf == 0 and .rtt_callbacks == $all' <<<"$control"
# converged, no probe/shrink cycle: on this path min_rtt is a few us (no
# propagation delay), so BDP says 64 KiB while the queue needs ~250 KB; a
# probe proves the larger size and shrinking stops there
cookie=$(jq -r '.cookie' <<<"$sender")
changes=$(grep -c "cookie $cookie sndbuf" "$AGENT_LOG")
log "sender's sndbuf changes over 12 s: $changes"
check "the sender's buffer settles: at most 6 changes in 12 s ($changes)" [ "$changes" -le 6 ]
# TCP_NOTSENT_LOWAT may still move between 1 and 2 x its floor (starved or not);
# the changes with their time since the flow started:
changes_end=$(grep -c ":5603 cookie [0-9]* sndbuf" "$AGENT_LOG")
awk -v t0="$(cat "$OUT/tuned.json.start")" '/:5603 cookie [0-9]* sndbuf/ { $1 = sprintf("%.1f s:", $1 - t0); print }' "$AGENT_LOG" |
	while read -r l; do log "$l"; done
# a cycle (3 ticks to shrink, 1 to probe back) changes it every ~2 s; one late
# correction is not (a sanitized CI run once had 5 by 6 s and a 6th after)
late=$((changes_end - $(cat "$OUT/tuned.json.changes6")))
check "no probe/shrink cycle: at most 1 sndbuf change in the last 6 s of the flow ($late)" [ "$late" -le 1 ]
agent_stop
check "sysctls restored on exit" [ "$(sysctl -n net.core.wmem_max) $(sysctl -n net.core.rmem_max)" = "$WMEM0 $RMEM0" ]

# killed: the next start restores what the dead one raised
agent_start --interval 0.5 || { fail "agent starts again"; finish; }
agent_stop KILL
check "a killed agent leaves its record of the old values" [ -s /run/tcptune/sysctl.saved ]
agent_start --observe || { fail "agent starts after the kill"; finish; }
check "the next start restores the sysctls a killed agent raised" \
	[ "$(sysctl -n net.core.wmem_max) $(sysctl -n net.core.rmem_max)" = "$WMEM0 $RMEM0" ]
check "and says so" grep -q "restored net.core.wmem_max" "$AGENT_LOG"
agent_stop
finish
