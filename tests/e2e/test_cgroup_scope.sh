#!/usr/bin/env bash
# --cgroup A scopes the agent to A's subtree: iperf3 clients in cgroup A are
# listed with A's cgroup id (one opened before the agent started, one after),
# and so are the accepted sockets of a server in A; the clients in cgroup B,
# and the ends in neither cgroup, are not.
. "$(dirname "$0")/../lib.sh"

[ -n "$CG2" ] || skip "no cgroup2 filesystem is mounted"


A="$CG2/${UNIQ}a"
B="$CG2/${UNIQ}b"
mkdir "$A" && cleanup_add "cg_remove $A" || { fail "create cgroup $A"; finish; }
mkdir "$B" && cleanup_add "cg_remove $B" || { fail "create cgroup $B"; finish; }
A_ID=$(stat -c %i "$A")
B_ID=$(stat -c %i "$B")
log "cgroup A $A (id $A_ID), cgroup B $B (id $B_ID)"

private_netns g || { fail "create namespace ${UNIQ}g"; finish; }

# server PORT: a one-shot iperf3 server in the namespace (and the test's cgroup)
server() { iperf_server "$NS" "$1"; }
# client CGROUP PORT: an iperf3 client that joins CGROUP before it execs (the
# cgroup mount must be visible: join first, then enter the namespace)
client() {
	bash -c 'echo $$ >"$1/cgroup.procs" && exec ip netns exec "$2" iperf3 -c 127.0.0.1 -p "$3" -t 40 -b 1M' \
		_ "$1" "$NS" "$2" >/dev/null 2>&1 &
	cleanup_add "kill $! 2>/dev/null"
	disown # no "Killed" job notices at cleanup
}
# server_in CGROUP PORT: an iperf3 server whose accepted sockets belong to CGROUP
server_in() {
	bash -c 'echo $$ >"$1/cgroup.procs" && exec ip netns exec "$2" iperf3 -s -1 -p "$3"' \
		_ "$1" "$NS" "$2" >/dev/null 2>&1 &
	cleanup_add "kill $! 2>/dev/null"
	disown
	local i
	for ((i = 0; i < 30; i++)); do
		in_ns "$NS" ss -tlnH "sport = :$2" | grep -q . && return 0
		sleep 0.1
	done
	log "iperf3 server on port $2 did not listen"
	return 1
}
established() { in_ns "$NS" ss -tnH state established "( dport = :$1 )" | grep -q .; }
flows() { "$TCPTUNE" flows --json; }
jqt() { jq -e "$@" >/dev/null; } # a jq test on stdin, quiet
count() { flows | jq "[.[] | select($1)] | length"; }
# A's client ends: the control and the data connection (dport = the server's port)
a_listed() { [ "$(count ".dport == $1")" -ge 2 ]; }

# Before the agent: one client in each cgroup
for p in 5601 5602 5603 5604; do server "$p" || { fail "iperf3 server on $p starts"; finish; }; done
client "$A" 5601
client "$B" 5602
check "pre-existing client in A connected" wait_for 3 established 5601
check "pre-existing client in B connected" wait_for 3 established 5602

agent_start --interval 0.5 --cgroup "$A" || { fail "agent starts with --cgroup A"; finish; }
check "the agent says it runs on cgroup A" grep -q "running on cgroup $A," "$AGENT_LOG"

# After the start: one more client in each cgroup, and a server in A with its
# client outside both (its accepted sockets are A's: the passive side)
client "$A" 5603
client "$B" 5604
server_in "$A" 5605 || fail "iperf3 server in A on 5605 starts"
in_ns "$NS" iperf3 -c 127.0.0.1 -p 5605 -t 40 -b 1M >/dev/null 2>&1 &
cleanup_add "kill $! 2>/dev/null"
disown
check "new client in A connected" wait_for 3 established 5603
check "new client in B connected" wait_for 3 established 5604
check "client of A's server connected" wait_for 3 established 5605

check "A's connection opened before the agent started is listed" wait_for 3 a_listed 5601
check "A's connection opened after the agent started is listed" wait_for 3 a_listed 5603
a_server_listed() { [ "$(count ".sport == 5605")" -ge 2 ]; }
check "A's server ends (accepted in A) are listed" wait_for 3 a_server_listed
sleep 1 # two more passes: time for anything out of scope to (wrongly) appear
snap=$(flows)
log "flows: $(jq -c '[.[] | {cgroup_id, sport, dport, pid, comm}]' <<<"$snap")"
total=$(jq length <<<"$snap")
inA=$(jq --argjson a "$A_ID" '[.[] | select(.cgroup_id == $a)] | length' <<<"$snap")
check "A's six sockets (4 client ends, 2 server ends) are listed ($inA with A's cgroup id $A_ID)" [ "$inA" = 6 ]
check "every listed connection carries A's cgroup id ($inA of $total)" [ "$total" = "$inA" ]
check "no connection of B's cgroup (id $B_ID) is listed" \
	jqt --argjson b "$B_ID" '[.[] | select(.cgroup_id == $b)] | length == 0' <<<"$snap"
check "no connection to B's servers (5602, 5604) is listed" \
	jqt '[.[] | select(.sport == 5602 or .dport == 5602 or .sport == 5604 or .dport == 5604)] | length == 0' <<<"$snap"
check "the ends outside A (servers of A's clients, client of A's server) are not listed" \
	jqt '[.[] | select(.sport == 5601 or .sport == 5603 or .dport == 5605)] | length == 0' <<<"$snap"
# a pid, once known, must be a process of A
procs=$(tr '\n' ' ' <"$A/cgroup.procs")
bad=$(jq -r '.[] | select(.pid != 0) | .pid' <<<"$snap" | while read -r pid; do
	grep -qw "$pid" <<<"$procs" || echo "$pid"; done | sort -u | tr '\n' ' ')
check "every pid recorded is a process in A (A: $procs; not in A: ${bad:-none})" [ -z "$bad" ]

agent_stop
rc=$?
check "agent stops with exit 0 (got $rc)" [ "$rc" = 0 ]
for c in "$A" "$B"; do
	check "cgroup $(basename "$c") is emptied and removed" cg_remove "$c"
done
finish
