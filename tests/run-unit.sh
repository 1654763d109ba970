#!/usr/bin/env bash
# Runs the unit-test binaries given as arguments (cmocka programs built by
# `make unit`), shows their output, and ends with one summary line.
# Exit status: 0 when every test binary passed, 1 otherwise.
set -u

if [ $# -eq 0 ]; then
	echo "usage: $0 TEST_BINARY..." >&2
	exit 2
fi

# a hung test must not hang the build
UNIT_TIMEOUT=${UNIT_TIMEOUT:-120}
timeout_cmd=()
command -v timeout >/dev/null 2>&1 && timeout_cmd=(timeout "$UNIT_TIMEOUT")

passed=0 failed=0
declare -a failures=()

for t in "$@"; do
	echo "== unit: $t"
	# a bare name would be looked up in PATH
	case $t in */*) bin=$t ;; *) bin=./$t ;; esac
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		echo "not ok - $t: no such executable"
		failed=$((failed + 1))
		failures+=("$t (not built)")
		continue
	fi
	# cmocka reports failures on stderr: keep both streams, in order
	"${timeout_cmd[@]}" "$bin" 2>&1
	rc=$?
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		if [ "$rc" = 124 ] && [ ${#timeout_cmd[@]} -gt 0 ]; then
			failures+=("$t (timed out after ${UNIT_TIMEOUT}s)")
		elif [ "$rc" -gt 128 ]; then
			failures+=("$t (killed by signal $((rc - 128)))")
		else
			# cmocka exits with the number of failed tests
			failures+=("$t (exit $rc)")
		fi
	fi
done

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "unit: $passed passed, $failed failed"
[ "$failed" = 0 ]
