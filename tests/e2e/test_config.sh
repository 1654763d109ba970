#!/usr/bin/env bash
# The configuration file: check-config accepts the shipped example and names
# file, line and key of a bad one; `run --config` applies [global] under the
# command line's flags and a per-CIDR policy (off, then observe after a
# SIGHUP reload, then gone); a reload of a bad file keeps the running
# configuration.
. "$(dirname "$0")/../lib.sh"

TMP=$(mktemp -d /tmp/tcptune-config.XXXXXX)
cleanup_add "rm -rf $TMP"
CONF=$TMP/tcptune.conf

# --- check-config -------------------------------------------------------------
out=$("$TCPTUNE" check-config "$ROOT/tcptune.conf.example" 2>&1)
rc=$?
check "check-config accepts tcptune.conf.example (rc $rc)" [ "$rc" = 0 ]
check "check-config prints the example's policies" grep -q '^\[cidr ' <<<"$out"
printf '[global]\nmin_buf = 16K\n\n[cidr 198.18.0.0/15]\nheadroom = lots\n' >"$TMP/bad.conf"
"$TCPTUNE" check-config "$TMP/bad.conf" >"$TMP/out" 2>"$TMP/err"
rc=$?
log "check-config bad.conf: rc $rc, $(cat "$TMP/err")"
check "check-config refuses a bad file (rc $rc = 1)" [ "$rc" = 1 ]
check "the error is one line naming file, line and key" \
	bash -c '[ "$(wc -l <"$1")" = 1 ] && grep -qF "$2:5: headroom: '"'lots'"' must be a number from 1 to 16" "$1"' _ "$TMP/err" "$TMP/bad.conf"
"$TCPTUNE" run --config "$TMP/bad.conf" >"$TMP/out" 2>"$TMP/err"
rc=$?
check "run --config with a bad file: exit 2, nothing loaded (rc $rc)" [ "$rc" = 2 -a "$(tcptune_progs_loaded)" = 0 ]
"$TCPTUNE" run --config "$TMP/missing.conf" >"$TMP/out" 2>"$TMP/err"
rc=$?
check "run --config with a missing file: exit 2, one line (rc $rc)" \
	bash -c '[ "$1" = 2 ] && [ "$(wc -l <"$2")" = 1 ] && grep -q "cannot read the configuration file" "$2"' _ "$rc" "$TMP/err"

# --- a policy per remote CIDR, reloaded ------------------------------------------
netpath "${UNIQ}f" 50mbit 200kb || { fail "namespaces set up"; finish; }
NET=${S4%.*}.0/24 # both ends: 198.18.N.1 and .2
write_conf() { # MODE (empty: no policy)
	printf '[global]\nmin_buf = 32K\nheadroom = 2\n' >"$CONF.new"
	[ -n "$1" ] && printf '\n[cidr %s]\nmode = %s\n' "$NET" "$1" >>"$CONF.new"
	mv "$CONF.new" "$CONF" # replaced whole, as an operator's tool would
}
# lines of the agent log about connections to or from the test's /24 (port 5401)
changes() { grep -E "$1 .*:5401 .*cookie" "$AGENT_LOG" | grep -c "${S4%.*}\." || true; }
transfer() {
	iperf_server "$NS_S" 5401 || return 1
	in_ns "$NS_C" iperf3 -c "$S4" -p 5401 -t 3 >/dev/null 2>&1
}

write_conf off
agent_start --interval 0.5 --metrics off --config "$CONF" --min-buf 16K || { fail "agent starts with --config"; finish; }
check "the command line wins over [global]: buffers from 16384 (--min-buf 16K over min_buf = 32K)" \
	grep -q "tuning: buffers from 16384 " "$AGENT_LOG"
check "the agent logs the policy it read" grep -qF "policy [cidr $NET]" "$AGENT_LOG"
transfer || fail "iperf3 runs"
off_changes=$(changes "change"); off_would=$(changes "would change")
log "policy off: $off_changes change lines, $off_would would-change lines for $NET"
check "mode = off for $NET: no change to its connections" [ "$off_changes" = 0 -a "$off_would" = 0 ]

applied() { bpftool -j map lookup pinned "$PIN_DIR/counters" key 3 0 0 0 | jq '[.formatted.values[].value] | add'; }
write_conf observe
kill -HUP "$AGENT_PID"
check "SIGHUP reloads the file" wait_for 5 grep -q "reloaded $CONF" "$AGENT_LOG"
applied_before=$(applied)
transfer || fail "iperf3 runs"
sleep 1 # a pass after the last decision
applied_after=$(applied)
obs_changes=$(($(changes "change") - $(changes "would change")))
obs_would=$(changes "would change")
log "policy observe: $obs_changes change lines, $obs_would would-change lines"
check "mode = observe for $NET: changes computed and logged as would-change ($obs_would)" [ "$obs_would" -gt 0 ]
check "mode = observe for $NET: none made, none applied (BPF counter applied $applied_before -> $applied_after)" \
	[ "$obs_changes" = 0 -a "$applied_before" = "$applied_after" ]

printf '[global]\nheadroom = lots\n' >"$CONF"
kill -HUP "$AGENT_PID"
check "a bad file on reload: refused with file, line and key, the running configuration stays" \
	wait_for 5 grep -qF "reload refused, the running configuration stays: $CONF:2: headroom: 'lots' must be a number from 1 to 16" "$AGENT_LOG"
check "the agent keeps running after a refused reload" kill -0 "$AGENT_PID"

write_conf ""
kill -HUP "$AGENT_PID"
check "SIGHUP reloads the fixed file" wait_for 5 bash -c '[ "$(grep -c "reloaded $1" "$2")" -ge 2 ]' _ "$CONF" "$AGENT_LOG"
before=$(($(changes "change") - $(changes "would change")))
applied_before=$(applied)
transfer || fail "iperf3 runs"
sleep 1
after=$(($(changes "change") - $(changes "would change")))
applied_after=$(applied)
log "no policy: change lines for $NET $before -> $after, BPF counter applied $applied_before -> $applied_after"
check "with the policy gone, $NET's connections are tuned (changes logged and applied)" \
	[ "$after" -gt "$before" -a "$applied_after" -gt "$applied_before" ]
# --- a budget of the policy's own ---------------------------------------------
BUDGET=131072
# targets_peak: 4 flows for 5 s; the largest sum of the targets of $NET's connections
targets_peak() {
	local client max=0 sum
	iperf_server "$NS_S" 5401 || return 1
	in_ns "$NS_C" iperf3 -c "$S4" -p 5401 -P 4 -t 5 >/dev/null 2>&1 &
	client=$!
	for _ in $(seq 12); do
		sleep 0.4
		sum=$("$TCPTUNE" flows --json 2>/dev/null | jq --arg p "${S4%.*}." \
			'[.[] | select(.daddr | startswith($p)) | .target_sndbuf + .target_rcvbuf] | add // 0')
		[ "${sum:-0}" -gt "$max" ] && max=$sum
	done
	wait "$client"
	echo "$max"
}
reloads() { grep -c "reloaded $CONF" "$AGENT_LOG"; }
n=$(reloads)
printf '[global]\nmin_buf = 8K\n' >"$CONF"
kill -HUP "$AGENT_PID"
wait_for 5 bash -c '[ "$(grep -c "reloaded $1" "$2")" -gt "$3" ]' _ "$CONF" "$AGENT_LOG" "$n" || fail "SIGHUP reloads"
free_sum=$(targets_peak)
n=$(reloads)
printf '[global]\nmin_buf = 8K\n\n[cidr %s]\nbudget = 128K\n' "$NET" >"$CONF"
kill -HUP "$AGENT_PID"
wait_for 5 bash -c '[ "$(grep -c "reloaded $1" "$2")" -gt "$3" ]' _ "$CONF" "$AGENT_LOG" "$n" || fail "SIGHUP reloads"
capped_sum=$(targets_peak)
log "4 flows in $NET: largest sum of their targets $free_sum without a budget, $capped_sum with the policy's $BUDGET"
check "without a budget the flows' targets exceed $BUDGET ($free_sum): the check below can fail" [ "$free_sum" -gt "$BUDGET" ]
check "a policy's budget bounds its connections' targets ($capped_sum <= $BUDGET)" [ "$capped_sum" -le "$BUDGET" ]

agent_stop
rc=$?
check "the agent exits 0 (rc $rc)" [ "$rc" = 0 ]
finish
