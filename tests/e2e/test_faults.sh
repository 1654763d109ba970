#!/usr/bin/env bash
# Faults around a running agent, each with the state checked afterwards
# (test_faults_kill covers SIGKILL at each point of its life):
#  cgroup:  the --cgroup directory removed (or removed and made again) under
#           the agent: it exits 1 with one line naming it, through its one
#           cleanup path (nothing attached or pinned, sysctls restored).
#  bpffs:   missing at start (the agent mounts it); lazily unmounted under the
#           running agent while another mount namespace keeps that bpffs
#           alive: the agent keeps running its passes, flows says what
#           happened, the stop removes the pins from that bpffs all the same,
#           and a bpffs someone else mounts afterwards is not taken for the
#           agent's (it stays mounted after the next agent stops).
#  netns:   both namespaces of a tracked, tuned connection deleted with their
#           processes: the entries and targets go, no error, passes go on.
#  metrics: the agent killed while a scraper holds a keep-alive connection
#           restarts at once on the same port; a port another process holds
#           leaves nothing changed (test_metrics checks the message, programs,
#           pins and wmem_max: here rmem_max, the record, the status files and
#           the lock as well).
#  SIGHUP:  200 in a tight loop: the agent stays up, answers flows and the
#           metrics page, reloads at most 200 times, no file descriptor more.
#  config:  the file replaced by random bytes, by zeros, removed: each reload
#           refused with one printable line, the configuration in force
#           (status --json) unchanged; a good file then reloads.
. "$(dirname "$0")/../lib.sh"

command -v iperf3 >/dev/null || skip "iperf3 not found"
command -v python3 >/dev/null || { fail "python3 not found (tests/install-deps.sh installs it)"; finish; }
[ -n "$CG2" ] || skip "no cgroup2 filesystem is mounted"
need_no_agent

TMP=$(mktemp -d /tmp/tcptune-faults.XXXXXX)
cleanup_add "rm -rf $TMP"
SAVED=/run/tcptune/sysctl.saved
SYSCTLS0="$(sysctl -n net.core.wmem_max) $(sysctl -n net.core.rmem_max)"
sysctls() { echo "$(sysctl -n net.core.wmem_max) $(sysctl -n net.core.rmem_max)"; }
no_progs() { [ "$(tcptune_progs_loaded)" = 0 ]; }
# left_clean WHAT: what an agent that exited must leave: no program, no pin,
# the sysctls as before, no record of them, no status files, the lock free
left_clean() {
	local what=$1
	check "$what: no tcptune program loaded" wait_for 5 no_progs
	check "$what: nothing pinned, sysctls as before ($(sysctls)), no record, no status files" \
		[ ! -e "$PIN_DIR" -a "$(sysctls)" = "$SYSCTLS0" -a ! -e "$SAVED" -a ! -e /run/tcptune/status.json ]
	check "$what: the instance lock is free" flock -n /run/tcptune/agent.lock true
}
# one_printable_line FILE PATTERN: FILE has exactly one line matching PATTERN,
# printable ASCII only
one_printable_line() {
	[ "$(grep -ac -- "$2" "$1")" = 1 ] && ! grep -a -- "$2" "$1" | LC_ALL=C grep -aq '[^[:print:]]'
}

# --- the scoped cgroup removed ---------------------------------------------------
CG="$CG2/${UNIQ}f"
for how in removed recreated; do
	mkdir "$CG" && cleanup_add "cg_remove $CG" || { fail "create cgroup $CG"; finish; }
	agent_start --interval 0.5 --metrics off --cgroup "$CG" || { fail "agent starts on $CG"; finish; }
	if [ "$how" = removed ]; then rmdir "$CG"; else rmdir "$CG" && mkdir "$CG"; fi
	check "cgroup $how under the agent: it exits" wait_for 5 bash -c '! kill -0 "$1" 2>/dev/null' _ "$AGENT_PID"
	agent_stop
	rc=$?
	log "cgroup $how: rc $rc, said: $(grep "was removed" "$AGENT_LOG")"
	check "cgroup $how: exit 1 (rc $rc), one line naming the cgroup" \
		bash -c '[ "$1" = 1 ] && grep -c "^tcptune: cgroup $2 was removed while tcptune was attached to it: stopping" "$3" | grep -qx 1' \
		_ "$rc" "$CG" "$AGENT_LOG"
	check "cgroup $how: it detached and unpinned on its way out" grep -q "restored net.core.wmem_max" "$AGENT_LOG"
	left_clean "cgroup $how"
	cg_remove "$CG"
done

# --- bpffs missing, then unmounted under the agent ------------------------------
bpffs_keep_state
SKIPPED=
if [ "$BPFFS_BEFORE" = yes ] && ! bpffs_empty; then
	# unmounting it would take other pins away from the host
	SKIPPED="bpffs at /sys/fs/bpf holds pins of others: the bpffs faults were not tested"
	log "$SKIPPED"
else
	[ "$BPFFS_BEFORE" = no ] || umount /sys/fs/bpf || fail "unmount the empty bpffs for the test"
	agent_start --interval 0.5 --metrics off -v || { fail "agent starts without bpffs"; finish; }
	mounted_and_pinned() { bpffs_mounted && [ -e "$PIN_DIR/flows" ]; }
	check "bpffs missing at start: the agent mounted it and pinned its maps" mounted_and_pinned
	MAPS=$(bpftool -j prog show | jq -r '[.[] | select(.name | test("^(inet_sock_set_state|tcptune_sockops|tcptune_iter)$")) | .map_ids[]] | unique | .[]')
	# another mount namespace (a container, a service) that keeps a copy
	unshare --mount --propagation private sleep 300 &
	HOLDER=$!
	cleanup_add "kill $HOLDER 2>/dev/null"
	wait_for 3 bash -c '[ "$(readlink /proc/$1/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ]' _ "$HOLDER" ||
		fail "a mount namespace holds a copy of bpffs"
	umount -l /sys/fs/bpf || fail "umount -l /sys/fs/bpf"
	passes=$(grep -c "debug: pass " "$AGENT_LOG")
	check "bpffs unmounted under the agent: passes go on" \
		wait_for 5 bash -c '[ "$(grep -c "debug: pass " "$1")" -ge $(($2 + 3)) ]' _ "$AGENT_LOG" "$passes"
	"$TCPTUNE" flows >"$TMP/out" 2>"$TMP/err"
	rc=$?
	log "flows with bpffs gone: rc $rc, $(cat "$TMP/err")"
	check "flows: exit 1, one line saying the agent runs but its maps are not pinned (rc $rc)" \
		bash -c '[ "$1" = 1 ] && [ "$(wc -l <"$2")" = 1 ] && grep -q "agent (pid $3) has no maps pinned .* bpffs was unmounted under it" "$2"' \
		_ "$rc" "$TMP/err" "$AGENT_PID"
	agent_stop
	rc=$?
	check "with bpffs unmounted under it, the agent stops with exit 0 (rc $rc)" [ "$rc" = 0 ]
	check "its pins are gone from the bpffs the other namespace still has" \
		bash -c '[ -n "$(nsenter -t "$1" -m ls /sys/fs/bpf)" ] && ! nsenter -t "$1" -m test -e /sys/fs/bpf/tcptune' _ "$HOLDER"
	maps_freed() { local id; for id in $MAPS; do bpftool map show id "$id" >/dev/null 2>&1 && return 1; done; return 0; }
	check "no map of the agent is left ($(wc -w <<<"$MAPS") map ids)" wait_for 5 maps_freed
	check "no bpffs mounted after the stop, as the agent found it; no mark" bash -c '! [ "$(stat -f -c %T /sys/fs/bpf)" = bpf_fs ] && [ ! -e /run/tcptune/bpffs-mounted ]'
	kill "$HOLDER"
	left_clean "bpffs unmounted under the agent"
	# someone mounts bpffs again: that mount is theirs, not the agent's
	mount -t bpf bpf /sys/fs/bpf || fail "mount bpffs again"
	agent_start --interval 0.5 --metrics off || { fail "agent starts again"; finish; }
	agent_stop
	rc=$?
	check "the next start and stop work (rc $rc); a bpffs mounted by someone else stays mounted" \
		bash -c '[ "$1" = 0 ] && [ "$(stat -f -c %T /sys/fs/bpf)" = bpf_fs ]' _ "$rc"
	left_clean "after bpffs was mounted again"
	[ "$BPFFS_BEFORE" = yes ] || umount /sys/fs/bpf
fi

# --- a namespace deleted while its sockets are tracked ----------------------------
netpath "${UNIQ}d" 50mbit 200kb || { fail "namespaces set up"; finish; }
agent_start --interval 0.5 --metrics off -v || { fail "agent starts"; finish; }
iperf_server "$NS_S" 5901 || fail "iperf3 server starts"
in_ns "$NS_C" iperf3 -c "$S4" -p 5901 -t 60 >/dev/null 2>&1 &
cleanup_add "kill $! 2>/dev/null"
entries() { "$TCPTUNE" flows --json | jq '[.[] | select(.sport == 5901 or .dport == 5901)]'; }
four() { [ "$(entries | jq -c '[length, ([.[].netns_cookie] | unique | length)]')" = "[4,2]" ]; }
check "the connection's 4 sockets are tracked, in two namespaces" wait_for 5 four
cookies=$(entries | jq -c '[.[].cookie]')
has_target() { [ "$(bpftool -j map dump pinned "$PIN_DIR/targets" | jq --argjson c "$cookies" '[.[] | select(.formatted.key as $k | $c | index($k))] | length')" -gt 0 ]; }
check "the tuner has targets for them" wait_for 5 has_target
for ns in "$NS_C" "$NS_S"; do ip netns pids "$ns" | xargs -r kill -KILL; done
ip netns del "$NS_C" && ip netns del "$NS_S" || fail "delete the namespaces"
lines=$(wc -l <"$AGENT_LOG")
gone() { [ "$(entries | jq length)" = 0 ]; }
# 15 s, not 5: this check failed once at 5 s (one run of many; which socket
# lingered, and in which state, was not logged then: now it is)
check "their entries leave flows" wait_for 15 gone
gone || log "left: $(entries | jq -c '[.[] | {cookie, state, sport, dport}]')"
no_target() { ! has_target; }
check "and their targets leave the targets map" wait_for 15 no_target
passes=$(grep -c "debug: pass " "$AGENT_LOG")
sleep 2
after=$(tail -n +"$((lines + 1))" "$AGENT_LOG")
check "the agent runs on, its passes go on" \
	bash -c 'kill -0 "$1" && [ "$(grep -c "debug: pass " "$2")" -ge $(($3 + 2)) ]' _ "$AGENT_PID" "$AGENT_LOG" "$passes"
check "no error logged after the deletion ($(wc -l <<<"$after") lines)" \
	bash -c '! grep -qiE "cannot|failed|error" <<<"$1"' _ "$after"
agent_stop
rc=$?
check "the agent stops with exit 0 (rc $rc)" [ "$rc" = 0 ]

# --- the metrics port --------------------------------------------------------------
PORT=$(free_port 19990)
[ -n "$PORT" ] || { fail "a free port for the metrics endpoint"; finish; }
agent_start --interval 0.5 --metrics "127.0.0.1:$PORT" || { fail "agent starts with --metrics"; finish; }
# a scraper that never closes its keep-alive connection: the agent's end is
# the one to close, and lingers on the port (FIN-WAIT-2, TIME-WAIT)
python3 - "$PORT" >"$TMP/scraper" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: tcptune\r\n\r\n")
s.recv(4096)
print("scraped", flush=True)
time.sleep(60)
EOF
cleanup_add "kill $! 2>/dev/null"
wait_for 5 grep -q scraped "$TMP/scraper" || fail "a scraper holds a keep-alive connection"
agent_stop KILL
lingering=$(ss -tanH "( sport = :$PORT )" | awk '$1 != "LISTEN" { print $1 }' | tr '\n' ' ')
check "killed, the agent's end of the scrape connection lingers on the port (${lingering:-none})" [ -n "$lingering" ]
agent_start --interval 0.5 --metrics "127.0.0.1:$PORT" ||
	fail "killed with a scrape connection open, the agent restarts at once on the same port"
check "the restarted agent serves the page" bash -c 'python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=5).read()" "$1"' _ "http://127.0.0.1:$PORT/metrics"
agent_stop
# taken by another process
hold_port "$PORT" || fail "a process holds 127.0.0.1:$PORT"
bpffs_mounted && was=yes || was=no
timeout 10 "$TCPTUNE" run --metrics "127.0.0.1:$PORT" >"$TMP/out" 2>"$TMP/err"
rc=$?
log "metrics port taken: rc $rc, $(cat "$TMP/err")"
check "metrics port taken: exit 1, one line (rc $rc)" bash -c '[ "$1" = 1 ] && [ "$(wc -l <"$2")" = 1 ]' _ "$rc" "$TMP/err"
left_clean "metrics port taken"
bpffs_mounted && now=yes || now=no
check "metrics port taken: bpffs mounted as before ($was, $now)" [ "$was" = "$now" ]
kill "$PORT_HOLDER"
wait "$PORT_HOLDER" 2>/dev/null

# --- a burst of SIGHUPs, and garbage for a configuration file ---------------------
CONF=$TMP/tcptune.conf
printf '[global]\nheadroom = 3\n\n[cidr 198.18.0.0/15]\nmode = observe\n' >"$CONF"
agent_start --interval 0.5 --metrics "127.0.0.1:$PORT" --config "$CONF" ||
	{ fail "agent starts with --config"; finish; }
fds() { ls /proc/"$AGENT_PID"/fd | wc -l; }
fds_before=$(fds)
for ((i = 0; i < 200; i++)); do kill -HUP "$AGENT_PID"; done
reloaded() { grep -c "^tcptune: reloaded $CONF" "$AGENT_LOG"; }
sleep 2 # the last reloads
n=$(reloaded)
log "200 SIGHUPs: $n reloads, file descriptors $fds_before before, $(fds) after"
check "after 200 SIGHUPs the agent is up" kill -0 "$AGENT_PID"
check "it reloaded at least once and at most 200 times ($n)" [ "$n" -ge 1 -a "$n" -le 200 ]
check "no reload refused" bash -c '! grep -q "reload refused" "$1"' _ "$AGENT_LOG"
check "flows still answers (a fresh pass on SIGUSR1)" "$TCPTUNE" flows --json
check "the metrics page still answers" bash -c 'python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=5).read()" "$1"' _ "http://127.0.0.1:$PORT/metrics"
check "no file descriptor more than before ($fds_before, now $(fds))" [ "$(fds)" -le "$fds_before" ]
in_force() { "$TCPTUNE" status --json | jq -c '[.agent.settings.headroom, [.agent.policies[] | .section + " " + .mode]]'; }
was=$(in_force)
check "status --json shows the configuration in force: $was" [ "$was" = '[3,["cidr 198.18.0.0/15 observe"]]' ]

# garbage_reload WHAT PATTERN: the file as it now is, reloaded: refused with
# one printable line matching PATTERN; the configuration in force stays
garbage_reload() {
	local what=$1 pattern=$2 refused
	refused=$(grep -ac "reload refused" "$AGENT_LOG")
	kill -HUP "$AGENT_PID"
	wait_for 5 bash -c '[ "$(grep -ac "reload refused" "$1")" -gt "$2" ]' _ "$AGENT_LOG" "$refused"
	log "$what: $(grep -a "reload refused" "$AGENT_LOG" | tail -1 | LC_ALL=C tr -c '[:print:]\n' '?')"
	check "$what: the reload is refused with one printable line" \
		one_printable_line "$AGENT_LOG" "reload refused, the running configuration stays: $pattern"
	check "$what: the configuration in force stays ($(in_force))" [ "$(in_force)" = "$was" ]
	check "$what: the agent runs on" kill -0 "$AGENT_PID"
}
head -c 4096 /dev/urandom | tr -d '\0' >"$CONF.new" && mv "$CONF.new" "$CONF"
garbage_reload "random bytes" "$CONF:[0-9]*: "
head -c 4096 /dev/zero >"$CONF"
garbage_reload "zeros" "$CONF:1: a NUL byte: not a text file"
rm "$CONF"
garbage_reload "the file removed" "cannot read the configuration file $CONF"
printf '[global]\nheadroom = 4\n' >"$CONF"
n=$(reloaded)
kill -HUP "$AGENT_PID"
check "a good file then reloads" wait_for 5 bash -c '[ "$(grep -c "^tcptune: reloaded $1" "$2")" -gt "$3" ]' _ "$CONF" "$AGENT_LOG" "$n"
check "and is in force ($(in_force))" [ "$(in_force)" = '[4,[]]' ]
agent_stop
rc=$?
check "the agent stops with exit 0 (rc $rc)" [ "$rc" = 0 ]
left_clean "the last stop"

[ "$FAILED" = 0 ] && [ -n "$SKIPPED" ] && skip "$SKIPPED"
finish
