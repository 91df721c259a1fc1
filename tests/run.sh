#!/bin/bash
# Runs every unit-test binary and every shell test, prints each one's output
# and ends with the single line "N passed, N failed"; exits non-zero on any
# failure.  Usage: tests/run.sh BUILD_DIR
set -u
BUILD=${1:?usage: tests/run.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ROOT
cd "$ROOT" || exit 1
export QUILL="$ROOT/$BUILD/quill" QUILL_ASAN="$ROOT/$BUILD/asan/quill"
case $BUILD in /*) QUILL="$BUILD/quill"; QUILL_ASAN="$BUILD/asan/quill" ;; esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0
LOG=$(mktemp)
run_one() {
    local name=$1; shift
    echo "== $name"
    "$@" >"$LOG" 2>&1
    local rc=$?
    cat "$LOG"
    local line p f
    line=$(grep -E '^# tests: [0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -1)
    if [ -z "$line" ]; then
        echo "FAIL $name: no summary line (exit $rc)"; failed=$((failed + 1)); return
    fi
    p=$(echo "$line" | sed -E 's/# tests: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed/\1/')
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exit $rc"; failed=$((failed + 1))
    fi
}
for t in "$BUILD"/asan/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in "$ROOT"/tests/t_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" bash "$t"
done
rm -f "$LOG"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
