#!/usr/bin/env bash
# A tick can list more than the "moved" ring buffer holds (1 MB with
# --max-flows 40000, about 6,500 records with figures): at a 5 s interval,
# 10,000 connections that each write a byte every 5 s list their 20,000
# sockets once a tick, about 3 MB.
# The agent reads the ring between ticks once it fills, so no record is lost
# (events_lost stays 0) and no pass of the hold falls back to reading the
# whole flows map; every held socket stays tracked.
. "$(dirname "$0")/../lib.sh"
# shellcheck source=../load.sh
. "$ROOT/tests/load.sh"

INTERVAL=5
CONNECTIONS=10000
HOLD_SECONDS=30
EVENTS_LOST=7 # enum tcptune_counter

for tool in bpftool jq ss; do
	command -v "$tool" >/dev/null || { fail "$tool is installed (make deps)"; finish; }
done

load_setup "${UNIQ}r" || { fail "namespaces and load server set up"; finish; }
agent_start --interval "$INTERVAL" --max-flows 40000 -v || { fail "agent starts"; finish; }
base_lost=$(bpf_counter "$EVENTS_LOST")
load_hold "$CONNECTIONS" "$HOLD_SECONDS" "$INTERVAL" || { fail "$CONNECTIONS connections established"; finish; }
from=$(log_lines)
wait_for $((HOLD_SECONDS + 10)) load_hold_over
kinds=$(tail -n +"$((from + 1))" "$AGENT_LOG" | sed -nE 's/.*debug: pass [0-9]+ \(([a-z]+)\).*/\1/p' | sort | uniq -c | awk '{ print $2, $1 }' | join_lines)
tracked=$(tail -n +"$((from + 1))" "$AGENT_LOG" | sed -nE 's/.*debug: pass .* ([0-9]+) connections tracked.*/\1/p' | sort -n | tail -1)
lost=$(($(bpf_counter "$EVENTS_LOST") - base_lost))
log "$(grep -o "a [0-9]* MB ring buffer.*" "$AGENT_LOG")"
log "passes during the hold: $kinds; at most $tracked connections tracked; events_lost +$lost"
load_hold_wait
hold_rc=$?
check "every connection held $HOLD_SECONDS s ($(load_hold_lines 2))" [ "$hold_rc" = 0 ]
check "no record of moved lost while a tick listed more than it holds (events_lost +$lost)" [ "$lost" = 0 ]
check "no pass read the whole flows map for lost records ($kinds)" [ "$(grep -c "read" <<<"$kinds")" = 0 ]
check "passes ran during the hold ($kinds)" [ -n "$kinds" ]
check "both ends of every held connection tracked (at most $tracked entries)" \
	[ "${tracked:-0}" -ge $((2 * CONNECTIONS)) ]
agent_stop
agent_rc=$?
check "agent exits 0 ($agent_rc)" [ "$agent_rc" = 0 ]
finish
