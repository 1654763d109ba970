#!/usr/bin/env bash
# `tcptune status [--json]`: what the running agent attached where, the
# sysctls it changed and from what, its counters and the configuration in
# force (also after a reload); a clear error when no agent runs.
. "$(dirname "$0")/../lib.sh"

TMP=$(mktemp -d /tmp/tcptune-status.XXXXXX)
cleanup_add "rm -rf $TMP"
CONF=$TMP/tcptune.conf
printf '[global]\nheadroom = 3\n\n[cidr 198.18.0.0/15]\nmode = observe\n' >"$CONF"
wmem_was=$(sysctl -n net.core.wmem_max)

agent_start --interval 0.5 --metrics off --config "$CONF" --max-buf 128M || { fail "agent starts"; finish; }
text=$("$TCPTUNE" status 2>&1)
rc=$?
check "status exits 0 with an agent running (rc $rc)" [ "$rc" = 0 ]
check "status names the agent's pid" grep -q "^agent: pid $AGENT_PID," <<<"$text"
check "status names the configuration file" grep -qF "configuration: $CONF" <<<"$text"
check "status shows the settings in force (headroom 3 from the file)" grep -q "^in force: tune, .*headroom 3," <<<"$text"
check "status shows the policy and its line" grep -qF "policy [cidr 198.18.0.0/15] (line 4): observe" <<<"$text"
check "status shows sockops attached to the cgroup2 root ($CG2)" grep -qF "program: tcptune_sockops (cgroup sock_ops): $CG2" <<<"$text"
check "status shows wmem_max raised and from what ($wmem_was)" \
	grep -q "^sysctl: net.core.wmem_max = 67108864 (was $wmem_was;" <<<"$text"
check "status shows the counters" grep -q "^counters: flows_created [0-9]* .* map_full [0-9]*" <<<"$text"
# without --max-flows: the kernel's TCP established hash size, within bounds
hash=$(sysctl -n net.ipv4.tcp_ehash_entries 2>/dev/null) || hash=$((2 * $(sysctl -n net.ipv4.tcp_max_orphans)))
hash=${hash#-}
max_flows=$((hash < 65536 ? 65536 : hash > 4194304 ? 4194304 : hash))
check "status shows the sockets tracked at most, sized for this host ($max_flows)" \
	grep -qx "flows: $max_flows sockets tracked at most (the kernel's TCP established hash size)" <<<"$text"
check "bpftool reports the flows map's max_entries as $max_flows" \
	[ "$(bpftool -j map show pinned "$PIN_DIR/flows" | jq .max_entries)" = "$max_flows" ]

json=$("$TCPTUNE" status --json)
check "status --json is one JSON object" jq -e 'type == "object"' <<<"$json"
check "status --json: agent.config, pid and settings" \
	jq -e --arg c "$CONF" --argjson p "$AGENT_PID" --argjson m "$max_flows" \
		'.agent.config == $c and .agent.pid == $p and .agent.settings.headroom == 3 and .agent.settings.max_flows == $m' <<<"$json"
check "status --json: the policy" jq -e '.agent.policies[0].section == "cidr 198.18.0.0/15" and .agent.policies[0].mode == "observe"' <<<"$json"
check "status --json: sysctls with was and now" \
	jq -e --argjson w "$wmem_was" '[.sysctls[] | select(.name == "net.core.wmem_max" and .was == $w and .now == 67108864)] | length == 1' <<<"$json"
check "status --json: counters and pass" jq -e '.counters | has("map_full") and has("applied")' <<<"$json"
check "status --json: passes counted" jq -e '.pass >= 1' <<<"$json"

printf '[global]\nheadroom = 4\n' >"$CONF"
kill -HUP "$AGENT_PID"
wait_for 5 grep -q "reloaded $CONF" "$AGENT_LOG" || fail "the agent reloads on SIGHUP"
check "after a reload, status shows the new settings (headroom 4, no policy)" \
	bash -c '"$1" status --json | jq -e ".agent.settings.headroom == 4 and (.agent.policies | length == 0)"' _ "$TCPTUNE"

agent_stop
"$TCPTUNE" status >"$TMP/out" 2>"$TMP/err"
rc=$?
check "without an agent: status exits 1 with one line saying so (rc $rc)" \
	bash -c '[ "$1" = 1 ] && [ "$(wc -l <"$2")" = 1 ] && grep -q "no tcptune agent is running" "$2"' _ "$rc" "$TMP/err"
# under systemd with stderr to the journal, each line carries its priority
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/err") "$TCPTUNE" status 2>"$TMP/err"
check "with stderr to the journal (JOURNAL_STREAM), an error line starts with <3>" grep -q '^<3>tcptune: no tcptune agent is running' "$TMP/err"
check "the agent's status files are gone after it stopped" [ ! -e /run/tcptune/status.json -a ! -e /run/tcptune/status.txt ]
check "wmem_max restored ($wmem_was)" [ "$(sysctl -n net.core.wmem_max)" = "$wmem_was" ]
finish
