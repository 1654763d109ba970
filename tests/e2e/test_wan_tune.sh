#!/usr/bin/env bash
# Tuning against stock autotuning on emulated WAN paths: the direction of
# bench/wan.sh's proof, with generous margins and shorter runs (8 s after 5 s
# of warm-up), through the benchmark's own one-scenario runner, so the test
# and the benchmark measure the same way:
#  (a) cubic, 200 Mbit/s, 100 ms, tcp_rmem/tcp_wmem max 1 MB in the
#      namespaces: tcptune's goodput >= 2 x stock's and >= 75% of the path's
#      ceiling (the benchmark's targets: stock ~29%, tcptune >= 90%);
#  (d) cubic, 50 Mbit/s, 10 ms, 1 and 4 bulk flows: tcptune's median
#      send-buffer delay (notsent / delivery rate) at most half of stock's, at
#      >= 90% of stock's goodput.
# The runner removes its namespaces, agent and sysctls itself and reports
# "cleanup FAILED" when something stayed.
. "$(dirname "$0")/../lib.sh"

for tool in iperf3 jq bpftool; do
	command -v "$tool" >/dev/null || { fail "$tool not found (tests/install-deps.sh installs it)"; finish; }
done

# scenario S: run one scenario (cubic); prints its "wan: (S) ..." lines
scenario() {
	DURATION=8 OMIT=5 LOCK= TCPTUNE="$TCPTUNE" bash "$ROOT/bench/wan.sh" --one "$1" cubic 2>&1
}
# field LINE REGEX: the first capture group of REGEX (sed -E) in LINE
field() { sed -nE "s#.*$2.*#\\1#p" <<<"$1" | head -n 1; }
num_ok() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
# at_least A B: A >= B (numbers)
at_least() { num_ok "$1" && num_ok "$2" && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

out=$(scenario a)
rc=$?
grep -E '^(# )?wan: ' <<<"$out" | while read -r l; do log "$l"; done
check "(a) ran and cleaned up (exit $rc)" test "$rc" = 0
check "(a) nothing left behind" bash -c "! grep -q 'cleanup FAILED' <<<\"\$1\"" _ "$out"
line=$(grep '^wan: (a) cubic: .*goodput' <<<"$out")
ratio=$(field "$line" 'ratio ([0-9.]+)')
pct=$(field "$line" 'tcptune [0-9.]+ Mbit/s \(([0-9]+)%\)')
check "(a) long fat path: tcptune's goodput ${ratio:-?} x stock's (>= 2)" at_least "${ratio:-x}" 2
check "(a) long fat path: tcptune at ${pct:-?}% of the ceiling (>= 75)" at_least "${pct:-x}" 75

out=$(scenario d)
rc=$?
grep -E '^(# )?wan: ' <<<"$out" | while read -r l; do log "$l"; done
check "(d) ran and cleaned up (exit $rc)" test "$rc" = 0
check "(d) nothing left behind" bash -c "! grep -q 'cleanup FAILED' <<<\"\$1\"" _ "$out"
for n in 1 4; do
	delay=$(grep "^wan: (d) cubic: $n flow(s).*send-buffer delay" <<<"$out")
	gp=$(grep "^wan: (d) cubic: $n flow(s).*goodput" <<<"$out")
	stock_ms=$(field "$delay" 'stock ([0-9.]+) \(')
	tuned_ms=$(field "$delay" 'tcptune ([0-9.]+) \(')
	check "(d) $n flow(s): send-buffer delay ${tuned_ms:-?} ms with tcptune, at most half of stock's ${stock_ms:-?} ms" \
		at_least "$(awk -v s="${stock_ms:-0}" 'BEGIN { print s / 2 }')" "${tuned_ms:-x}"
	ratio=$(field "$gp" 'ratio ([0-9.]+)')
	check "(d) $n flow(s): goodput ${ratio:-?} x stock's (>= 0.9)" at_least "${ratio:-x}" 0.9
done
finish
