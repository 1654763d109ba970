#!/usr/bin/env bash
# `make sanitize`: the unit, BPF and end-to-end tests again, with the agent,
# the unit and the BPF tests built with AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer (in build-asan/). A sanitizer
# report fails the run: UBSan aborts at the first finding, ASan at the first
# error, LSan at exit; the reports also go to files, which must stay empty.
set -u
cd "$(dirname "$0")/.."
SAN_LOGS=$(mktemp -d /tmp/tcptune-san.XXXXXX)
trap 'rm -rf "$SAN_LOGS"' EXIT
export ASAN_OPTIONS="log_path=$SAN_LOGS/asan:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$SAN_LOGS/ubsan:print_stacktrace=1:halt_on_error=1"
export TCPTUNE=$PWD/build-asan/tcptune
export BPF_TEST_DIR=$PWD/build-asan
rc=0
bash tests/run-all.sh "$@" || rc=1
if ls "$SAN_LOGS"/* >/dev/null 2>&1; then
	echo "sanitizer reports:"
	head -n 40 "$SAN_LOGS"/*
	rc=1
fi
echo "sanitized run: $([ "$rc" = 0 ] && echo clean || echo FAILED)"
exit "$rc"
