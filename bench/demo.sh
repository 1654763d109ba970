#!/usr/bin/env bash
# `make demo`: the first thing to try. One emulated long fat path (200 Mbit/s,
# 100 ms RTT, a host whose tcp_rmem/tcp_wmem allow at most 1 MB: scenario (a)
# of bench/wan.sh), one cubic flow for DURATION s (default 15, after OMIT=3 s
# of warm-up) with stock autotuning, then the same with tcptune, and a small
# table of both. About a minute; needs root. Removes everything it creates.
#
# Environment: DURATION, OMIT, CC (default cubic), LOCK (as bench/wan.sh),
# AGENT_ARGS (default "--interval 1").
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DURATION=${DURATION:-15} OMIT=${OMIT:-3} SAMPLE=${SAMPLE:-1}
export AGENT_ARGS=${AGENT_ARGS:---interval 1}
CC=${CC:-cubic}
LOCK=${LOCK-/tmp/tcptune-dev.lock}

[ "$(id -u)" = 0 ] || { echo "demo: must run as root" >&2; exit 1; }
echo "demo: one $CC flow over an emulated 200 Mbit/s path with 100 ms RTT (delay line + TBF in"
echo "demo: network namespaces), on a host whose TCP buffers may grow to at most 1 MB:"
echo "demo: ${DURATION} s with stock autotuning, then ${DURATION} s with tcptune (${OMIT} s warm-up left out of each)..."
OUT=$(mktemp /tmp/tcptune-demo.XXXXXX)
trap 'rm -f "$OUT"' EXIT
trap 'exit 130' INT TERM
if [ -n "$LOCK" ]; then
	flock "$LOCK" bash "$ROOT/bench/wan.sh" --one a "$CC" >"$OUT" 2>&1
else
	bash "$ROOT/bench/wan.sh" --one a "$CC" >"$OUT" 2>&1
fi
rc=$?
data=$(sed -n 's/^wan-data: //p' "$OUT")
if [ "$rc" != 0 ] || [ -z "$data" ]; then
	echo "demo: the run failed (exit $rc):"
	cat "$OUT"
	exit 1
fi
declare -A d=()
set -- $data
while [ $# -ge 2 ]; do d[$1]=$2; shift 2; done
awk -v s="${d[stock_bps]}" -v t="${d[tuned_bps]}" -v c="${d[ceiling_bps]}" \
	-v stb="${d[stock_tb]}" -v ttb="${d[tuned_tb]}" -v srb="${d[stock_rb]}" -v trb="${d[tuned_rb]}" '
function mib(b) { return (b == "-" || b == "") ? "-" : sprintf("%.1f MiB", b / 1048576) }
function row(k, a, b) { printf "%-26s %14s %14s\n", k, a, b }
BEGIN {
	print ""
	row("", "stock", "tcptune")
	row("goodput", sprintf("%.1f Mbit/s", s / 1e6), sprintf("%.1f Mbit/s", t / 1e6))
	row("of the path ceiling", sprintf("%.0f%%", 100 * s / c), sprintf("%.0f%%", 100 * t / c))
	row("sender buffer (ss tb)", mib(stb), mib(ttb))
	row("receiver buffer (ss rb)", mib(srb), mib(trb))
	printf "\ntcptune / stock goodput: %.2fx (ceiling %.1f Mbit/s = 200 Mbit/s x 1448/1514)\n", (s > 0 ? t / s : 0), c / 1e6
}'
echo "Why: a 200 Mbit/s x 100 ms path needs 2.5 MB in flight; a 1 MB buffer cap lets stock"
echo "autotuning keep only part of that in flight. tcptune measures each connection's rate and"
echo "RTT and sets its buffers (both ends) to about 2 x bandwidth x RTT, above the sysctl cap."
echo "(More: bench/wan.sh, 'make bench-wan'.)"
