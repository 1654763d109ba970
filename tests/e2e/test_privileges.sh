#!/usr/bin/env bash
# Least privilege: once loaded and attached, the agent keeps CAP_SYS_ADMIN and
# CAP_SYS_PTRACE only (effective, permitted and bounding sets, as
# /proc/PID/status shows them) and still tunes a connection in a namespace of
# this test's, and stops cleanly (sysctls restored, pins removed) without the
# rest. Its pins are 0600 in a 0700 directory, metrics listen on loopback
# only, and, traced with strace from start to stop, every file it creates,
# writes, renames or removes, and every object it pins, is under its state
# directory /run/tcptune, its pin directory, or one of the two sysctls it raises.
. "$(dirname "$0")/../lib.sh"

command -v strace >/dev/null || { fail "strace not found (tests/install-deps.sh installs it)"; finish; }
command -v iperf3 >/dev/null || { fail "iperf3 not found (tests/install-deps.sh installs it)"; finish; }
WMEM0=$(sysctl -n net.core.wmem_max) RMEM0=$(sysctl -n net.core.rmem_max)
cleanup_add "sysctl -qw net.core.wmem_max=$WMEM0 net.core.rmem_max=$RMEM0"
netpath "${UNIQ}p" 50mbit 200kb || { fail "namespaces set up"; finish; }
OUT=$(mktemp -d /tmp/tcptune-priv.XXXXXX); cleanup_add "rm -rf $OUT"
PORT=$(free_port 9300)

# the agent under strace (-f: libmicrohttpd's thread; -y: a directory fd's
# path, for the *at() calls relative to it); the agent is strace's child.
# LeakSanitizer cannot run under ptrace (make sanitize): the other tests check leaks
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -y -o "$OUT/trace" -e trace=open,openat,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,rmdir,truncate,link,linkat,symlink,symlinkat,mount,umount2,bpf \
	-e signal=none "$TCPTUNE" run --interval 0.5 --max-buf 64M --metrics "127.0.0.1:$PORT" >"$OUT/agent.log" 2>&1 &
STRACE_PID=$!
cleanup_add "kill $STRACE_PID 2>/dev/null; pkill -TERM -P $STRACE_PID 2>/dev/null"
wait_for 30 grep -q "tcptune: first pass" "$OUT/agent.log" || { fail "agent starts under strace: $(cat "$OUT/agent.log")"; finish; }
AGENT_PID=$(pgrep -P "$STRACE_PID" -x tcptune)
log "agent pid $AGENT_PID"

# capabilities: SYS_ADMIN (21) and SYS_PTRACE (19)
want=$(printf '%016x' $(((1 << 21) | (1 << 19))))
for set in CapEff CapPrm CapBnd; do
	got=$(awk -v s="$set:" '$1 == s { print $2 }' "/proc/$AGENT_PID/status")
	check "$set of the running agent is CAP_SYS_ADMIN + CAP_SYS_PTRACE only ($got, want $want)" [ "$got" = "$want" ]
done
check "CapAmb of the running agent is empty" [ "$(awk '$1 == "CapAmb:" { print $2 }' "/proc/$AGENT_PID/status")" = 0000000000000000 ]
check "the agent says so" grep -q "capabilities dropped to CAP_SYS_ADMIN and CAP_SYS_PTRACE" "$OUT/agent.log"

# it still tunes: setns into the test's namespace, iterator, setsockopt
applied() { bpftool -j map lookup pinned "$PIN_DIR/counters" key 3 0 0 0 | jq '[.formatted.values[].value] | add'; }
applied0=$(applied)
iperf_server "$NS_S" 5801
in_ns "$NS_C" iperf3 -c "$S4" -p 5801 -t 5 >/dev/null 2>&1 || fail "iperf3 through the test path"
check "with only those, it still changes buffers (applied $applied0 -> $(applied))" [ "$(applied)" -gt "$applied0" ]
check "and logs the changes" grep -q "change .*:5801 cookie" "$OUT/agent.log"

# pins and the metrics socket
check "pin directory is 0700 ($(stat -c %a "$PIN_DIR"))" [ "$(stat -c %a "$PIN_DIR")" = 700 ]
modes=$(find "$PIN_DIR" -mindepth 1 -printf '%m\n' | sort -u | tr '\n' ' ')
check "every pinned object is 0600 ($modes)" [ "$modes" = "600 " ]
listen=$(ss -tlnpH | awk -v p="$AGENT_PID" 'index($0, "pid=" p ",") { print $4 }' | tr '\n' ' ')
check "metrics listen on loopback only ($listen)" [ "$listen" = "127.0.0.1:$PORT " ]
check "the default is loopback too (tcptune run --help)" sh -c "'$TCPTUNE' run --help | grep -q '127.0.0.1:9977'"

kill -TERM "$AGENT_PID"
wait "$STRACE_PID"; rc=$?
check "stops with exit 0 without the dropped capabilities ($rc)" [ "$rc" = 0 ]
check "sysctls restored" [ "$(sysctl -n net.core.wmem_max) $(sysctl -n net.core.rmem_max)" = "$WMEM0 $RMEM0" ]
check "pins removed" [ ! -e "$PIN_DIR" ]
check "programs detached" wait_no_progs
# (a feature the kernel refuses is reported at start as a fallback, not an error)
check "no capability error on the way out" sh -c "! grep -v '^tcptune: fallback: ' '$OUT/agent.log' | grep -qi 'operation not permitted'"

# every write: opened for writing or creating, made, removed, renamed, linked,
# pinned or mounted; the paths outside the allowed places are listed
python3 - "$OUT/trace" >"$OUT/writes" <<'PYEOF'
import re, sys
import os
exact = {"/run/tcptune", "/sys/fs/bpf", "/proc/sys/net/core/wmem_max", "/proc/sys/net/core/rmem_max"}
under = ("/run/tcptune/", "/sys/fs/bpf/tcptune")
# make sanitize: the sanitizers' own reports (log_path=DIR/name), not the agent's
for opts in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
    for opt in os.environ.get(opts, "").split(":"):
        if opt.startswith("log_path="):
            d = os.path.dirname(opt[len("log_path="):])
            under += (d + "/",)
            while d not in ("", "/"):
                exact.add(d)
                d = os.path.dirname(d)
writes = set()
def path(m):
    """the path a call names: a name relative to a directory fd (shown
    N</dir> by strace -y) joined to that directory"""
    return m.group("dir") + "/" + m.group("name") if m.group("dir") else m.group("name")
for line in open(sys.argv[1]):
    m = re.search(r'\b(?P<call>open|openat|creat)\((?:AT_FDCWD(?:<[^>]*>)?, |\d+<(?P<dir>[^>]*)>, )?"(?P<name>[^"]*)", (?P<flags>[A-Z_|]+)', line)
    if m:
        if m.group("call") == "creat" or re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", m.group("flags")):
            writes.add(path(m))
        continue
    m = re.search(r'\bmount\("[^"]*", "([^"]*)"', line)  # the mount point, not the source
    if m:
        writes.add(m.group(1))
        continue
    m = re.search(r'\b(mkdir|mkdirat|unlink|unlinkat|rmdir|truncate|rename|renameat|renameat2|link|linkat|symlink|symlinkat|umount2)\((?:AT_FDCWD(?:<[^>]*>)?, |\d+<(?P<dir>[^>]*)>, )?"(?P<name>[^"]*)"', line)
    if m:
        writes.add(path(m))
        continue
    m = re.search(r'bpf\(BPF_OBJ_PIN, \{pathname="([^"]*)"', line)
    if m:
        writes.add(m.group(1))
for w in sorted(writes):
    print(("ok " if w in exact or w.startswith(under) else "OUTSIDE ") + w)
PYEOF
log "files written: $(tr '\n' ' ' <"$OUT/writes")"
check "the trace saw the writes it should (the sysctls, the pins, /run/tcptune)" \
	sh -c "grep -q 'ok /proc/sys/net/core/wmem_max' '$OUT/writes' && grep -q 'ok /sys/fs/bpf/tcptune/' '$OUT/writes' && grep -q 'ok /run/tcptune/' '$OUT/writes'"
check "it writes nowhere outside /run/tcptune, /sys/fs/bpf and the two sysctls" sh -c "! grep -q '^OUTSIDE' '$OUT/writes'"
finish
