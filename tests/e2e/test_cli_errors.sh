#!/usr/bin/env bash
# Every bad input is refused the same way: the documented exit code (2 usage,
# 1 runtime), exactly one line on stderr that starts with "tcptune" and names
# the problem, nothing on stdout, and nothing left behind (no tcptune program
# loaded, nothing pinned). --help and --version exit 0, for every command.
. "$(dirname "$0")/../lib.sh"

# A case that should be refused must never become a running agent: bound it.
LIMIT=3

# This test judges what is attached and pinned: it needs a quiet host.
holder=$(cat /run/tcptune/agent.lock 2>/dev/null)
if [ -e /run/tcptune/agent.lock ] && ! flock -n -s /run/tcptune/agent.lock true; then
	skip "an agent is running (pid ${holder:-?}): this test needs none"
fi
[ -e "$PIN_DIR" ] && skip "$PIN_DIR exists (pins of a killed agent?): 'tcptune run' once removes them"
wait_no_progs || skip "tcptune programs are loaded by someone else"

# The cgroup2 mount point, from mountinfo (fields after " - ": fstype source).
CG1=$(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup") { print $5; exit } break } }' /proc/self/mountinfo)
[ -n "$CG2" ] || skip "no cgroup2 filesystem is mounted"

SYSCTLS0="$(sysctl -n net.core.wmem_max) $(sysctl -n net.core.rmem_max)"
OUT=$(mktemp -d /tmp/tcptune-cli.XXXXXX)
cleanup_add "rm -rf $OUT"

# Nothing attached, nothing pinned. Pins go before the agent exits; the kernel
# frees a closed program a moment later (RCU), so allow it a few seconds.
nothing_left() {
	local n i
	for ((i = 0; i < 30; i++)); do
		n=$(tcptune_progs_loaded)
		[ "$n" = 0 ] && break
		sleep 0.1
	done
	# and no sysctl changed: the agent raises wmem_max/rmem_max only once running
	[ "$n" = 0 ] && [ ! -e "$PIN_DIR" ] && [ "$(sysctl -n net.core.wmem_max) $(sysctl -n net.core.rmem_max)" = "$SYSCTLS0" ] && return 0
	log "left behind: $n programs loaded, pin dir $(ls -A "$PIN_DIR" 2>&1 | tr '\n' ' ')" >&2 # check hides stdout
	return 1
}

# expect_error RC PATTERN DESCRIPTION -- CMD...: CMD exits RC, prints one line
# on stderr starting "tcptune" and matching PATTERN (grep -E), nothing on
# stdout. Unless KEEP_AGENT=1, nothing may be loaded or pinned afterwards.
expect_error() {
	local want=$1 pattern=$2 what=$3 rc=0 lines
	shift 4
	timeout "$LIMIT" "$@" >"$OUT/out" 2>"$OUT/err" </dev/null || rc=$?
	lines=$(wc -l <"$OUT/err")
	check "$what: exit $want (got $rc)" [ "$rc" = "$want" ]
	if [ "$lines" = 1 ] && grep -q '^tcptune' "$OUT/err" && grep -qE -- "$pattern" "$OUT/err" && [ ! -s "$OUT/out" ]; then
		pass "$what: one line naming the problem: $(cat "$OUT/err")"
	else
		fail "$what: want one stderr line matching /$pattern/ and no stdout; got $lines lines: $(head -c 400 "$OUT/err") | stdout: $(head -c 200 "$OUT/out")"
	fi
	if [ "${KEEP_AGENT:-0}" = 0 ]; then
		check "$what: nothing attached or pinned afterwards" nothing_left
	fi
}

# --- usage errors: exit 2 ---
expect_error 2 "no command given" "no command" -- "$TCPTUNE"
expect_error 2 "unknown command 'frobnicate'" "unknown command" -- "$TCPTUNE" frobnicate
expect_error 2 "'--frobnicate'" "run: unknown flag" -- "$TCPTUNE" run --frobnicate
expect_error 2 "'--frobnicate'" "flows: unknown flag" -- "$TCPTUNE" flows --frobnicate
expect_error 2 "'--frobnicate'" "top: unknown flag" -- "$TCPTUNE" top --frobnicate
expect_error 2 "unexpected argument 'extra'" "run: stray argument" -- "$TCPTUNE" run extra
expect_error 2 "--interval '0' must be greater than zero" "--interval 0" -- "$TCPTUNE" run --interval 0
expect_error 2 "--interval '-1' must be greater than zero" "--interval -1" -- "$TCPTUNE" run --interval -1
expect_error 2 "--interval 'abc' is not a number" "--interval abc" -- "$TCPTUNE" run --interval abc
expect_error 2 "--interval '' is empty" "--interval ''" -- "$TCPTUNE" run --interval ""
expect_error 2 "--interval '' is empty" "--interval=" -- "$TCPTUNE" run --interval=
expect_error 2 "'--interval'" "--interval without a value" -- "$TCPTUNE" run --interval
expect_error 2 "--interval '0' must be greater than zero" "top --interval 0" -- "$TCPTUNE" top --interval 0
expect_error 2 "--max-flows '0' must be a whole number" "--max-flows 0" -- "$TCPTUNE" run --max-flows 0
expect_error 2 "--max-buf '1' must be a size from 8K to 1G" "--max-buf 1" -- "$TCPTUNE" run --max-buf 1
expect_error 2 "--min-buf '12KB' must be a size" "--min-buf 12KB" -- "$TCPTUNE" run --min-buf 12KB
expect_error 2 "bad tuning settings \(command line\): max_buf must not be below min_buf" "--min-buf above --max-buf" -- "$TCPTUNE" run --min-buf 1M --max-buf 512K
expect_error 2 "--headroom '0.5' must be a number from 1 to 16" "--headroom 0.5" -- "$TCPTUNE" run --headroom 0.5
expect_error 2 "--alpha '0' must be a number above 0" "--alpha 0" -- "$TCPTUNE" run --alpha 0
expect_error 2 "--budget 'abc' must be 0 \(unlimited\) or a size" "--budget abc" -- "$TCPTUNE" run --budget abc
expect_error 2 "--budget '-1M' must be 0 \(unlimited\) or a size" "--budget -1M" -- "$TCPTUNE" run --budget -1M
expect_error 2 "--budget '1.5M' must be 0 \(unlimited\) or a size" "--budget 1.5M" -- "$TCPTUNE" run --budget 1.5M
expect_error 2 "--budget '2048G' must be 0 \(unlimited\) or a size up to 1024G" "--budget 2048G" -- "$TCPTUNE" run --budget 2048G
expect_error 2 "--budget '' must be 0" "--budget ''" -- "$TCPTUNE" run --budget ""
expect_error 2 "--budget 4096 is below --min-buf 8192" "--budget below --min-buf" -- "$TCPTUNE" run --budget 4K
expect_error 2 "--max-flows 'many' must be a whole number" "--max-flows many" -- "$TCPTUNE" run --max-flows many
expect_error 2 "--sort 'size' must be rate, rtt or queue" "flows --sort size" -- "$TCPTUNE" flows --sort size

# --cgroup: each kind of wrong path
expect_error 2 "--cgroup /nonexistent: No such file or directory" "--cgroup /nonexistent" -- \
	"$TCPTUNE" run --cgroup /nonexistent
# a path holding a newline still makes one line (control characters print as ?)
expect_error 2 "--cgroup /nonexistent\?x: No such file or directory" "--cgroup of a path with a newline" -- \
	"$TCPTUNE" run --cgroup "$(printf '/nonexistent\nx')"
expect_error 2 "cannot read the configuration file $OUT/missing\?x" "--config of a path with a newline" -- \
	"$TCPTUNE" run --config "$(printf '%s\nx' "$OUT/missing")"
touch "$OUT/file"
expect_error 2 "--cgroup $OUT/file: not a directory" "--cgroup of a regular file" -- \
	"$TCPTUNE" run --cgroup "$OUT/file"
expect_error 2 "--cgroup $CG2/cgroup.procs: not a directory" "--cgroup of a file in cgroup2" -- \
	"$TCPTUNE" run --cgroup "$CG2/cgroup.procs"
expect_error 2 "--cgroup /tmp: not a cgroup v2 directory \(cgroup v2 is mounted at $CG2\)" \
	"--cgroup of a non-cgroup directory" -- "$TCPTUNE" run --cgroup /tmp
if [ -n "$CG1" ]; then
	expect_error 2 "--cgroup $CG1: not a cgroup v2 directory" "--cgroup of a cgroup v1 hierarchy ($CG1)" -- \
		"$TCPTUNE" run --cgroup "$CG1"
else
	log "no cgroup v1 hierarchy mounted: that case is not run"
fi
A="$CG2/${UNIQ}cli"
mkdir "$A" "$A/inner" && cleanup_add "rmdir $A/inner $A"
expect_error 2 "--cgroup $A and --cgroup $A/inner overlap" "--cgroup A --cgroup A/inner" -- \
	"$TCPTUNE" run --cgroup "$A" --cgroup "$A/inner"
expect_error 2 "--cgroup $A/inner and --cgroup $A overlap" "--cgroup A/inner --cgroup A" -- \
	"$TCPTUNE" run --cgroup "$A/inner" --cgroup "$A"
expect_error 2 "overlap" "--cgroup A --cgroup A" -- "$TCPTUNE" run --cgroup "$A" --cgroup "$A"

# --- runtime errors: exit 1 ---
expect_error 1 "no tcptune agent is running" "flows with no agent" -- "$TCPTUNE" flows
expect_error 1 "no tcptune agent is running" "flows --json with no agent" -- "$TCPTUNE" flows --json
expect_error 1 "no tcptune agent is running" "top with no agent" -- "$TCPTUNE" top --iterations 1

# Not root: nobody, no groups, no capabilities. The binary must be reachable.
mkdir -p "$OUT/bin" && cp "$TCPTUNE" "$OUT/bin/tcptune" && chmod 755 "$OUT" "$OUT/bin" "$OUT/bin/tcptune"
expect_error 1 "needs root" "run as nobody" -- \
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$OUT/bin/tcptune" run
# root, but without CAP_BPF (not in the bounding set, so not effective)
expect_error 1 "needs root \(CAP_BPF" "run as root without CAP_BPF" -- \
	setpriv --bounding-set=-bpf --inh-caps=-bpf "$TCPTUNE" run

# No kernel BTF: an empty tmpfs over /sys/kernel/btf, in a private mount namespace.
expect_error 1 "lacks kernel BTF \\(/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y\\), which tcptune needs" "run without kernel BTF" -- \
	unshare -m --propagation private sh -c 'mount -t tmpfs none /sys/kernel/btf && exec "$0" run' "$TCPTUNE"
check "the host still has its kernel BTF" [ -s /sys/kernel/btf/vmlinux ]

# An older kernel: its BTF lacks a required tracepoint or the iter/tcp
# target. The kernel's BTF with that type renamed, bind-mounted over the real
# one. (A missing optional feature is a fallback: test_kernel.)
BTF_RENAME=$ROOT/build/btf_rename
# the release as a regular expression (Debian's hold a '+')
RELEASE_RE=$(uname -r | sed 's/[][\.*^$+?(){}|]/\\&/g')
if [ -x "$BTF_RENAME" ]; then
	for missing in "btf_trace_inet_sock_set_state:lacks tp_btf/inet_sock_set_state and BPF ring buffers, which tcptune needs \\(Linux 5.8 and newer" \
		"bpf_iter__tcp:lacks the iter/tcp BPF iterator, which tcptune needs \\(Linux 5.9 and newer"; do
		type=${missing%%:*} words=${missing#*:}
		"$BTF_RENAME" /sys/kernel/btf/vmlinux "$OUT/vmlinux" "$type" || { fail "btf_rename $type"; continue; }
		expect_error 1 "this kernel \\($RELEASE_RE\\) $words" "run on a kernel without $type" -- \
			unshare -m --propagation private sh -c 'mount --bind "$1" /sys/kernel/btf/vmlinux && exec "$0" run' \
			"$TCPTUNE" "$OUT/vmlinux"
	done
else
	fail "$BTF_RENAME not built (make build/btf_rename): cannot check a kernel without a needed program type"
fi

# A second agent while one runs: refused, naming the first; the first runs on.
if agent_start --interval 0.5; then
	first=$AGENT_PID
	KEEP_AGENT=1 expect_error 1 "another tcptune agent is running \(pid $first" "second run while one runs" -- \
		"$TCPTUNE" run
	check "the first agent still runs" kill -0 "$first"
	check "the first agent's pins remain" test -e "$PIN_DIR/flows" -a -e "$PIN_DIR/counters"
	check "flows still reads the first agent" "$TCPTUNE" flows --json
	agent_stop
	rc=$?
	check "the first agent stops cleanly afterwards (exit $rc)" [ "$rc" = 0 ]
	check "nothing attached or pinned after it stopped" nothing_left
else
	fail "agent starts (for the second-run case)"
fi

# --- help and version: exit 0, print to stdout, run nothing ---
expect_ok() { # expect_ok PATTERN DESCRIPTION -- CMD...
	local pattern=$1 what=$2 rc=0
	shift 3
	timeout "$LIMIT" "$@" >"$OUT/out" 2>"$OUT/err" </dev/null || rc=$?
	check "$what: exit 0 (got $rc)" [ "$rc" = 0 ]
	if grep -qE -- "$pattern" "$OUT/out" && [ ! -s "$OUT/err" ]; then
		pass "$what: prints /$pattern/ on stdout"
	else
		fail "$what: want /$pattern/ on stdout, nothing on stderr; stdout: $(head -c 200 "$OUT/out") | stderr: $(head -c 300 "$OUT/err")"
	fi
	check "$what: nothing attached or pinned afterwards" nothing_left
}
expect_ok "^Usage: tcptune COMMAND" "--help" -- "$TCPTUNE" --help
expect_ok "^tcptune [0-9]+\.[0-9]+" "--version" -- "$TCPTUNE" --version
expect_ok "^tcptune [0-9]+\.[0-9]+" "-V" -- "$TCPTUNE" -V
for cmd in run flows top; do
	expect_ok "Usage: tcptune $cmd" "$cmd --help" -- "$TCPTUNE" "$cmd" --help
	expect_ok "^tcptune [0-9]+\.[0-9]+" "$cmd --version" -- "$TCPTUNE" "$cmd" --version
done
finish
