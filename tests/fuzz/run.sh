#!/usr/bin/env bash
# `make fuzz`: runs each libFuzzer target given (build-fuzz/TARGET) for
# FUZZ_SECONDS (default 60), starting from its seed corpus and regressions
# (tests/fuzz/corpus/TARGET, tests/fuzz/regressions/TARGET). What a run finds
# goes under FUZZ_WORKDIR (default build-fuzz/work), never into the repo:
# new inputs to corpus/TARGET (the next run starts from them too), crashes to
# crashes/TARGET, libFuzzer's output to TARGET.log. Prints one line per
# target; exits 1 if any crashed (or leaked, timed out, ran out of memory).
set -u
cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
WORK=${FUZZ_WORKDIR:-build-fuzz/work}
crashed=0

for t in "$@"; do
	corpus=$WORK/corpus/$t
	crashes=$WORK/crashes/$t
	log=$WORK/$t.log
	mkdir -p "$corpus" "$crashes" || exit 1
	inputs=("tests/fuzz/corpus/$t")
	[ -d "tests/fuzz/regressions/$t" ] && inputs+=("tests/fuzz/regressions/$t")
	opts=(-max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=60 -artifact_prefix="$crashes/"
		-keep_seed=1 -cross_over_uniform_dist=1)
	[ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
	marker=$WORK/.$t.start
	touch "$marker" || exit 1
	echo "fuzz: $t for ${SECONDS_EACH}s (log $log)"
	"build-fuzz/$t" "${opts[@]}" "$corpus" "${inputs[@]}" >"$log" 2>&1
	rc=$?
	execs=$(awk '/^stat::number_of_executed_units/ { print $2 }' "$log")
	[ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#')
	rate=$(awk '/^stat::average_exec_per_sec/ { print $2 }' "$log")
	corp=$(grep -oE 'corp: [0-9]+/[0-9.]+[a-zA-Z]*' "$log" | tail -n 1 | cut -d' ' -f2)
	new=$(find "$corpus" -type f | wc -l)
	artifacts=$(find "$crashes" -type f -newer "$marker")
	if [ "$rc" = 0 ] && [ -z "$artifacts" ]; then
		echo "fuzz: $t: ${execs:-?} executions in ${SECONDS_EACH}s (${rate:-?}/s), corpus ${corp:-?} (inputs/bytes), $new saved in $corpus, no crash"
	else
		crashed=$((crashed + 1))
		echo "fuzz: $t: CRASH (exit $rc) after ${execs:-?} executions: ${artifacts:-no artifact}"
		grep -E '^(fuzz: |SUMMARY: |==[0-9]+==ERROR)' "$log" | head -n 5 | sed 's/^/fuzz:   /'
		echo "fuzz:   replay: build-fuzz/$t ${artifacts%%$'\n'*}; a fixed crash's input goes to tests/fuzz/regressions/$t/"
	fi
done
echo "fuzz: $# targets, $crashed crashed"
[ "$crashed" = 0 ]
