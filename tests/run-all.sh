#!/usr/bin/env bash
# Runs the unit tests (given as arguments), then every BPF test (a program
# per tests/bpf/test_bpf_*.c, built in BPF_TEST_DIR, default build), then
# every end-to-end test (E2E=no: none), and prints one summary line:
# "N passed, N failed, N skipped". TESTS picks the BPF and e2e tests whose
# name contains it.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0
declare -a failures=()

run_one() {
	local name=$1; shift
	local out rc
	out=$(mktemp)
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	rm -f "$out"
	case $rc in
	0) passed=$((passed + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$name (exit $rc)") ;;
	esac
}

for t in "$@"; do
	echo "== unit: $t"
	run_one "$t" "$t"
done
# a BPF test that was not built fails: it is not left out unnoticed
for src in tests/bpf/test_bpf_*.c; do
	t=${BPF_TEST_DIR:-build}/$(basename "$src" .c)
	[ -n "${TESTS:-}" ] && [[ "$t" != *"$TESTS"* ]] && continue
	echo "== bpf: $t"
	start=$(date +%s)
	if [ -x "$t" ]; then
		run_one "$t" timeout 120 "$t"
	else
		echo "not ok - $t: not built (make $t)"
		failed=$((failed + 1)); failures+=("$t (not built)")
	fi
	echo "== $t took $(( $(date +%s) - start ))s"
done
for t in tests/e2e/test_*.sh; do
	[ "${E2E:-yes}" = no ] && break
	[ -n "${TESTS:-}" ] && [[ "$t" != *"$TESTS"* ]] && continue
	echo "== e2e: $t"
	start=$(date +%s)
	run_one "$t" timeout 600 bash "$t"
	echo "== $t took $(( $(date +%s) - start ))s"
done

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
