#!/usr/bin/env bash
# The fuzz targets' seed corpus and regressions (tests/fuzz/), each input run
# once through its libFuzzer target (built with ASan + UBSan by `make
# fuzz-build` in build-fuzz/): every crash fuzzing found stays fixed, and the
# properties the targets assert hold for the seeds. `make fuzz` does the
# fuzzing itself.
. "$(dirname "$0")/../lib.sh"

TARGETS="fuzz_config fuzz_cli fuzz_http"
OUT=$(mktemp -d /tmp/tcptune-fuzz-replay.XXXXXX)
cleanup_add "rm -rf $OUT"

if ! make -s -C "$ROOT" fuzz-build >"$OUT/build" 2>&1; then
	fail "make fuzz-build: $(tail -n 5 "$OUT/build" | tr '\n' ' ')"
	finish
fi
pass "make fuzz-build builds $TARGETS with clang-14, libFuzzer, ASan and UBSan"

for t in $TARGETS; do
	inputs=("$ROOT/tests/fuzz/corpus/$t"/*)
	[ -d "$ROOT/tests/fuzz/regressions/$t" ] && inputs+=("$ROOT/tests/fuzz/regressions/$t"/*)
	nregress=$(find "$ROOT/tests/fuzz/regressions/$t" -type f 2>/dev/null | wc -l)
	# no artifacts written into the repo: replayed inputs that fail land here
	timeout 120 "$ROOT/build-fuzz/$t" -artifact_prefix="$OUT/" "${inputs[@]}" >"$OUT/$t.log" 2>&1
	rc=$?
	ran=$(grep -c '^Executed ' "$OUT/$t.log")
	if [ "$rc" = 0 ] && [ "$ran" = "${#inputs[@]}" ]; then
		pass "$t: ${#inputs[@]} inputs ($nregress regressions) replayed, no crash"
	else
		fail "$t: exit $rc, $ran of ${#inputs[@]} inputs ran: $(grep -E '^(fuzz: |SUMMARY: |Running: )' "$OUT/$t.log" | tail -n 3 | tr '\n' ' ')"
	fi
done
finish
