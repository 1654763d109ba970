#!/usr/bin/env bash
# The agent under valgrind (memcheck) for a short tuned session: iperf3
# through a 50 Mbit/s path, tuning on, metrics per connection, a configuration
# file reloaded on SIGHUP, a scrape of /metrics, `status` and `flows` against
# it, then SIGTERM. It must exit 0 with no memcheck error, no definite,
# indirect or possible leak and no descriptor of its own left open, and it
# must have tuned. tests/valgrind.supp holds what valgrind 3.19 cannot check
# of bpf(2). VALGRIND_OPTS=--track-origins=yes shows where an uninitialised
# value came from.
. "$(dirname "$0")/../lib.sh"

command -v valgrind >/dev/null || skip "valgrind is not installed (tests/install-deps.sh installs it)"
command -v iperf3 >/dev/null || skip "iperf3 not found"
ldd "$TCPTUNE" | grep -q libasan &&
	skip "$TCPTUNE is an AddressSanitizer build (make sanitize): valgrind cannot run it; make test runs this test"

TMP=$(mktemp -d /tmp/tcptune-valgrind.XXXXXX)
cleanup_add "rm -rf $TMP"
VG_LOG=$TMP/valgrind.log
WMEM0=$(sysctl -n net.core.wmem_max) RMEM0=$(sysctl -n net.core.rmem_max)
cleanup_add "sysctl -qw net.core.wmem_max=$WMEM0 net.core.rmem_max=$RMEM0"
netpath "${UNIQ}v" 50mbit 200kb || { fail "namespaces set up"; finish; }
PORT=$(free_port 19877)
[ -n "$PORT" ] || { fail "a free port for the metrics endpoint"; finish; }

CONF=$TMP/tcptune.conf
write_conf() { # HEADROOM MIN_BUF: [global] and a policy for the test's path
	printf '[global]\nheadroom = %s\nmetrics = 127.0.0.1:%s\n\n[cidr %s/24]\nmode = tune\nmin_buf = %s\n' \
		"$1" "$PORT" "${S4%.*}.0" "$2" >"$CONF.new"
	mv "$CONF.new" "$CONF"
}
write_conf 2 16K

# leaks count as errors (exit 99); the summary is parsed below too
# shellcheck disable=SC2054 # commas separate valgrind's leak kinds
AGENT_WRAPPER=(valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 --track-fds=yes
	--num-callers=30 --gen-suppressions=all -s --suppressions="$ROOT/tests/valgrind.supp" --log-file="$VG_LOG")
AGENT_START_TIMEOUT=90 # the BPF objects load some 10x slower under valgrind
start=$(date +%s)
agent_start --interval 0.5 --metrics-per-connection --config "$CONF" ||
	{ fail "the agent starts under valgrind"; log "$(head -40 "$VG_LOG")"; finish; }
log "first pass $(($(date +%s) - start)) s after the start under valgrind"

iperf_server "$NS_S" 5701
in_ns "$NS_C" iperf3 -c "$S4" -p 5701 -t 15 >"$TMP/iperf.txt" 2>&1 &
client=$!
cleanup_add "kill $client 2>/dev/null"

wait_for 30 grep -qE "tcptune: change .* cookie [0-9]+ [a-z_]+ .* -> .* \(" "$AGENT_LOG"
check "it tunes under valgrind: a change line in its log" grep -qE "tcptune: change .* cookie [0-9]+ [a-z_]+ .* -> .* \(" "$AGENT_LOG"

# valgrind does not see the descriptors bpf() makes for links and iterators
# (no wrapper for those commands): count the agent's over the passes instead,
# the fewest of 10 looks 0.1 s apart (a pass holds a few for a moment)
agent_fds() {
	local i
	for ((i = 0; i < 10; i++)); do
		find "/proc/$AGENT_PID/fd" -mindepth 1 | wc -l
		sleep 0.1
	done | sort -n | head -1
}
agent_pass() { "$TCPTUNE" status --json | jq .pass; }
fds1=$(agent_fds) pass1=$(agent_pass)

write_conf 3 8K
kill -HUP "$AGENT_PID"
wait_for 20 grep -q "reloaded $CONF" "$AGENT_LOG"
check "it reloads the configuration on SIGHUP" grep -q "reloaded $CONF" "$AGENT_LOG"

python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())' \
	"http://127.0.0.1:$PORT/metrics" >"$TMP/metrics" 2>"$TMP/metrics.err"
check "GET /metrics serves the agent's ticks and per-connection series ($(wc -l <"$TMP/metrics") lines)" \
	grep -q '^tcptune_ticks_total [1-9]' "$TMP/metrics"
check "/metrics has a per-connection series" grep -q '^tcptune_connection_' "$TMP/metrics"
check "status --json names the agent under valgrind, with the reloaded settings (headroom 3)" \
	bash -c '"$1" status --json | jq -e --argjson p "$2" ".agent.pid == \$p and .agent.settings.headroom == 3"' _ "$TCPTUNE" "$AGENT_PID"
check "flows --json lists the iperf3 connection" \
	bash -c '"$1" flows --json | jq -e "[.[] | select(.dport == 5701)] | length > 0"' _ "$TCPTUNE"

wait "$client"
check "iperf3 ran to the end" grep -q "receiver" "$TMP/iperf.txt"
fds2=$(agent_fds) pass2=$(agent_pass)
check "its open descriptors do not grow: $fds1 at pass $pass1, $fds2 at pass $pass2" \
	[ "$fds2" -le "$fds1" -a "$pass2" -ge $((pass1 + 4)) ]
agent_stop TERM
rc=$?
check "the agent exits 0 on SIGTERM under valgrind (rc $rc; 99: valgrind found errors)" [ "$rc" = 0 ]
check "sysctls restored on exit" [ "$(sysctl -n net.core.wmem_max) $(sysctl -n net.core.rmem_max)" = "$WMEM0 $RMEM0" ]
check "pins removed on exit" [ ! -e "$PIN_DIR" ]

# --- valgrind's summary ----------------------------------------------------
summary() { grep -m1 "$1" "$VG_LOG" | sed 's/^==[0-9]*== *//'; }
errors=$(summary "ERROR SUMMARY:")
log "valgrind: $errors"
log "valgrind: $(summary "total heap usage:")"
[ -n "$(summary "still reachable:")" ] && log "valgrind: $(summary "still reachable:")"
log "valgrind does not check these bpf commands (no wrapper in 3.19): $(grep -o 'unhandled eBPF command [0-9]*' "$VG_LOG" | sort -u | awk '{ printf "%s ", $4 }')"
used=$(sed -n 's/^--[0-9]*-- used_suppression: *\([0-9]*\) \([^ ]*\) .*/\2 x\1/p' "$VG_LOG")
log "valgrind: suppressed (tests/valgrind.supp): ${used//$'\n'/, }"
check "valgrind ran to its summary" [ -n "$errors" ]
check "memcheck found 0 errors" grep -q "^ERROR SUMMARY: 0 errors from 0 contexts" <<<"$errors"
# KIND: bytes lost of that kind (0 when every block was freed)
lost() {
	grep -q "All heap blocks were freed -- no leaks are possible" "$VG_LOG" && { echo 0; return; }
	summary "$1 lost:" | awk '{ print $3 }'
}
for kind in definitely indirectly possibly; do
	bytes=$(lost "$kind")
	check "no $kind lost bytes (${bytes:-no leak summary})" [ "$bytes" = 0 ]
done
# every descriptor open at exit must be one the agent inherited
own_fds=$(awk '/FILE DESCRIPTORS:/ { on = 1 } on && /Open .*(descriptor|socket)/ { what = $0; getline;
	if ($0 !~ /inherited from parent/) { sub(/^==[0-9]+== /, "", what); print what } }' "$VG_LOG")
check "no descriptor of the agent's left open at exit (${own_fds:-none})" [ -z "$own_fds" ]
[ "$FAILED" = 0 ] || log "valgrind log: $(grep -v 'unhandled eBPF command' "$VG_LOG" | head -80)"
finish
