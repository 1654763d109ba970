#!/usr/bin/env bash
# Runs the unit tests (given as arguments), then every end-to-end test, and
# prints one summary line: "N passed, N failed, N skipped".
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
for t in tests/e2e/test_*.sh; do
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
