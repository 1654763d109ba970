#!/usr/bin/env bash
# Faults around a running agent, each with the state checked afterwards
# (test_faults_kill covers SIGKILL at each point of its life):
#  cgroup:  the --cgroup directory removed (or removed and made again) under
#           the agent: it exits 1 with one line naming it, through its one
#           cleanup path (nothing attached or pinned, sysctls restored).
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

finish
