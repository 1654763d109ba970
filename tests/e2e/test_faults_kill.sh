#!/usr/bin/env bash
# SIGKILL at each point of the agent's life where a crash could leave the
# host half changed (TCPTUNE_FAULT=POINT, agent/runtime/faultpoint.c): after the
# load pinned the maps and loaded every program (two points at one moment),
# between the first attach and the rest, once all is attached, between
# recording the old sysctl values and raising them, between raising the
# first and the second, after the tuner wrote targets and before a pass
# applied them, and in the stop path after the unpin and before the sysctls
# are restored. For each:
# the agent died by SIGKILL there; what it left is as expected (no program
# attached, pins, sysctls, the record of their old values); a normal start
# then removes the pins, restores the sysctls first and records the
# original values again, attaches each program once; a clean stop leaves
# the original sysctls, no pin, no program, link or map. A tuned connection
# between two namespaces and a loopback connection (never tuned) stay up
# through all of it, and no agent ever set the loopback one's buffers.
# (test_lifecycle and test_tune cover a kill once running.)
. "$(dirname "$0")/../lib.sh"

command -v iperf3 >/dev/null || skip "iperf3 not found"
need_no_agent

TMP=$(mktemp -d /tmp/tcptune-faults.XXXXXX)
cleanup_add "rm -rf $TMP"
SAVED=/run/tcptune/sysctl.saved

# Known, distinct values below what --max-buf 64M raises both to (32 MiB):
# a value restored to the wrong sysctl shows.
WMEM0=$(sysctl -n net.core.wmem_max) RMEM0=$(sysctl -n net.core.rmem_max)
cleanup_add "sysctl -qw net.core.wmem_max=$WMEM0 net.core.rmem_max=$RMEM0"
sysctl -qw net.core.wmem_max=4194304 net.core.rmem_max=6291456 || { fail "set net.core.wmem_max/rmem_max"; finish; }
ORIG="4194304 6291456" RAISED=33554432
sysctls() { echo "$(sysctl -n net.core.wmem_max) $(sysctl -n net.core.rmem_max)"; }
AGENT_ARGS=(--interval 0.5 --metrics off --max-buf 64M)

# bpffs as found; a test stopped between a kill and the restart leaves no
# pins, and no record of sysctls it restores itself
bpffs_keep_state
cleanup_add "flock -n -s /run/tcptune/agent.lock true && rm -f $SAVED"

# tcptune's programs loaded, by id (a JSON array)
prog_ids() {
	bpftool -j prog show | jq -c '[.[] | select(.name | test("^(inet_sock_set_state|tcptune_sendmsg|tcptune_recvmsg|tcptune_sockops|tcptune_iter|tcptune_owners|tcptune_refresh)$")) | .id]'
}
# links of tcptune's programs, and its sockops attachments on the cgroup tree
links() { bpftool -j link list | jq --argjson ids "$(prog_ids)" '[.[] | select(.prog_id as $p | $ids | index($p))] | length'; }
cgroup_attachments() { bpftool -j cgroup tree | jq '[.[].programs[] | select(.name == "tcptune_sockops")] | length'; }
# the maps of the running agent's programs (ids), to check they are freed
map_ids() { bpftool -j prog show | jq -r '[.[] | select(.name | test("^(inet_sock_set_state|tcptune_sockops|tcptune_iter)$")) | .map_ids[]] | unique | .[]'; }
maps_freed() { local id; for id in $MAPS; do bpftool map show id "$id" >/dev/null 2>&1 && return 1; done; return 0; }
# exited PID: the child PID has exited (bash reaps it at once and keeps its status for wait)
exited() { ! kill -0 "$1" 2>/dev/null; }
all_gone() { nothing_attached && maps_freed; }
# tracked PORT N: at least N tracked sockets have PORT at either end
tracked() { [ "$("$TCPTUNE" flows --json 2>/dev/null | jq --argjson p "$1" '[.[] | select(.sport == $p or .dport == $p)] | length')" -ge "$2" ]; }
nothing_attached() { [ "$(tcptune_progs_loaded)" = 0 ] && [ "$(links)" = 0 ] && [ "$(cgroup_attachments)" = 0 ]; }
state() {
	echo "programs $(tcptune_progs_loaded), links $(links), cgroup attachments $(cgroup_attachments)," \
		"pins: $(ls "$PIN_DIR" 2>/dev/null | tr '\n' ' ')sysctls $(sysctls), record: $(cat "$SAVED" 2>/dev/null | tr '\n' ' ')"
}

# --- the connections that must outlive every kill -----------------------------
netpath "${UNIQ}k" 50mbit 200kb || { fail "namespaces set up"; finish; }
iperf_server "$NS_S" 5801 || { fail "iperf3 server starts"; finish; }
in_ns "$NS_C" iperf3 -c "$S4" -p 5801 -t 600 -b 10M >/dev/null 2>&1 &
TUNED=$!
cleanup_add "kill $TUNED 2>/dev/null"
iperf_server "$NS_C" 5802 || { fail "loopback iperf3 server starts"; finish; }
in_ns "$NS_C" iperf3 -c 127.0.0.1 -p 5802 -t 600 -b 1M >/dev/null 2>&1 &
LOOPBACK=$!
cleanup_add "kill $LOOPBACK 2>/dev/null"
# the client ends' local addresses of both connections (control and data each)
client_ends() { in_ns "$NS_C" ss -tnH state established "( dport = :5801 or dport = :5802 )" | awk '{ print $3 }' | sort | tr '\n' ' '; }
four_up() { [ "$(client_ends | wc -w)" = 4 ]; }
check "a tuned connection (to $S4:5801) and a loopback one (:5802) are up" wait_for 5 four_up
PORTS_BEFORE=$(client_ends)

# kill_at POINT PINS SYSCTLS RECORD: run the agent armed at POINT; it dies by
# SIGKILL there and leaves no program attached, pins (yes/no), the sysctls
# "wmem rmem" and a record of the old values (yes/no). The next start
# removes the pins, restores the sysctls and attaches each program once; its
# clean stop leaves nothing behind.
kill_at() {
	local point=$1 pins=$2 want=$3 record=$4 log=$TMP/$1.log pid rc left
	log "--- SIGKILL at $point"
	# in a subshell that passes the exit status on: the job's death by a
	# signal would print a notice
	(
		TCPTUNE_FAULT=$point "$TCPTUNE" run "${AGENT_ARGS[@]}" >"$log" 2>&1
		exit $?
	) 2>/dev/null &
	pid=$!
	cleanup_add "kill -KILL \$(pgrep -P $pid) 2>/dev/null"
	if [ "$point" = stop-unpinned ]; then
		wait_for 15 grep -q "first pass" "$log" || log "agent did not start: $(cat "$log")"
		kill -TERM "$(pgrep -P "$pid")"
	fi
	# bounded: tune-targets waits for a tick with a change; a point never
	# reached must not hang the test (a kill from here is not the point's)
	wait_for 30 exited "$pid" || kill -KILL "$(pgrep -P "$pid")"
	wait "$pid"
	rc=$?
	check "$point: the agent died by SIGKILL at the point (rc $rc)" \
		bash -c '[ "$1" = 137 ] && grep -q "TCPTUNE_FAULT=$2: killing the agent here" "$3"' _ "$rc" "$point" "$log"
	[ "$rc" = 137 ] || log "$point: agent log: $(cat "$log")"
	wait_for 5 nothing_attached
	left=$(state)
	log "$point: left $left"
	check "$point: no program, link or cgroup attachment left" nothing_attached
	[ "$pins" = yes ] && check "$point: the maps stay pinned" test -e "$PIN_DIR/flows"
	[ "$pins" = no ] && check "$point: nothing pinned" test ! -e "$PIN_DIR"
	check "$point: sysctls left at $want ($(sysctls))" [ "$(sysctls)" = "$want" ]
	[ "$record" = yes ] && check "$point: the old values are recorded in $SAVED" \
		grep -qx "net.core.wmem_max 4194304" "$SAVED"
	[ "$record" = no ] && check "$point: no record of old values" test ! -e "$SAVED"
	if [ "$point" = tune-targets ]; then
		check "tune-targets: the tuner's targets are in the pinned map" \
			bash -c '[ "$(bpftool -j map dump pinned "$1/targets" | jq length)" -gt 0 ]' _ "$PIN_DIR"
	fi

	agent_start "${AGENT_ARGS[@]}" || { fail "$point: the agent starts after the kill"; return; }
	[ "$pins" = yes ] && check "$point: the restart removed the stale pins" \
		grep -qE "^tcptune: removed [0-9]+ objects pinned by an agent that did not stop cleanly" "$AGENT_LOG"
	[ "$want" != "$ORIG" ] && check "$point: the restart restored the raised sysctls first" \
		grep -q "^tcptune: restored net.core.wmem_max to 4194304" "$AGENT_LOG"
	# as many programs and links as status lists attachments: which optional
	# programs load depends on the kernel
	nprogs=$("$TCPTUNE" status --json | jq '.agent.attachments | length')
	check "$point: after the restart each program is loaded and attached once (programs $(tcptune_progs_loaded), links $(links), cgroup attachments $(cgroup_attachments); $nprogs attachments in status)" \
		[ "$(tcptune_progs_loaded)" = "$nprogs" -a "$(links)" = "$nprogs" -a "$(cgroup_attachments)" = 1 ]
	check "$point: the restart raised the sysctls ($(sysctls)) and recorded the original values" \
		bash -c '[ "$1" = "$2 $2" ] && [ "$(cat "$3")" = "$(printf "net.core.wmem_max 4194304\nnet.core.rmem_max 6291456")" ]' \
		_ "$(sysctls)" "$RAISED" "$SAVED"
	check "$point: the restarted agent tracks the long-lived connection" wait_for 3 tracked 5801 1
	MAPS=$(map_ids)
	agent_stop
	rc=$?
	check "$point: the restarted agent stops with exit 0 (rc $rc)" [ "$rc" = 0 ]
	check "$point: after the stop nothing is attached, no map of its left" wait_for 5 all_gone
	check "$point: after the stop no pin, sysctls back to $ORIG ($(sysctls)), no record" \
		[ ! -e "$PIN_DIR" -a "$(sysctls)" = "$ORIG" -a ! -e "$SAVED" ]
}

kill_at pinned yes "$ORIG" no
kill_at loaded yes "$ORIG" no
kill_at attaching yes "$ORIG" no
kill_at started yes "$ORIG" no
kill_at sysctl-recorded yes "$ORIG" yes
kill_at sysctl-raising yes "$RAISED 6291456" yes
# a connection no agent has sized yet, so that the tuner has a change to make
iperf_server "$NS_S" 5803 || fail "iperf3 server for a fresh connection starts"
in_ns "$NS_C" iperf3 -c "$S4" -p 5803 -t 20 >/dev/null 2>&1 &
cleanup_add "kill $! 2>/dev/null"
kill_at tune-targets yes "$RAISED $RAISED" yes
kill_at stop-unpinned no "$RAISED $RAISED" yes

# --- the connections through it all --------------------------------------------
ports_after=$(client_ends)
check "the tuned and the loopback connection are still established, the same sockets ($ports_after)" \
	[ "$ports_after" = "$PORTS_BEFORE" ]
check "both iperf3 clients still run" kill -0 "$TUNED" "$LOOPBACK"
# app_locks: the SO_SNDBUF/SO_RCVBUF lock bits a socket had when the agent
# first saw it; 0 means no agent ever set that buffer
agent_start "${AGENT_ARGS[@]}" || { fail "the agent starts for the last look"; finish; }
wait_for 3 tracked 5802 4
locks=$(bpftool -j map dump pinned "$PIN_DIR/flows" |
	jq -c '[.[] | .formatted.value | select(.dport == 5802 or .sport == 5802 or .dport == 5801) | {dport, sport, app_locks}]')
log "lock bits the restarted agent found: $locks"
check "no agent set the buffers of the loopback connection (app_locks 0 on its 4 sockets)" \
	jq -e '[.[] | select(.dport == 5802 or .sport == 5802) | select(.app_locks == 0)] | length == 4' <<<"$locks"
agent_stop
finish
