#!/usr/bin/env bash
# tests/run.sh: run test binaries, count every test case, print one closing
# line "N passed, N failed".
#
#   tests/run.sh BINARY...
#
# Each binary is a cmocka program; it is run with TAP output and its "ok" /
# "not ok" lines are counted.  A binary that crashes, times out or runs no
# case counts as one failed case more, so a broken suite can never pass by
# saying nothing.
#
# One throwaway PostgreSQL (deploy/pg-local) is started for the whole run and
# stopped at the end; suites create their own fresh databases in it
# (tests/support/pg_fixture.c) through LANTERN_TEST_PGHOST.  Full output of
# every binary is kept in $BUILD/test-logs/.
set -uo pipefail

BUILD=${BUILD:-build}
TIMEOUT=${TEST_TIMEOUT:-600}
here=$(cd "$(dirname "$0")/.." && pwd)
logs="$BUILD/test-logs"
mkdir -p "$logs"

pgdir=""
cleanup() {
    if [ -n "$pgdir" ]; then
        "$here/deploy/pg-local" stop "$pgdir" >/dev/null 2>&1
        rm -rf "$pgdir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${LANTERN_TEST_PGHOST:-}" ]; then
    pgdir=$(mktemp -d /tmp/lantern-test-pg.XXXXXX)
    if ! "$here/deploy/pg-local" start "$pgdir" >"$logs/pg-local.log" 2>&1; then
        echo "run.sh: could not start a throwaway PostgreSQL:" >&2
        cat "$logs/pg-local.log" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
    eval "$("$here/deploy/pg-local" env "$pgdir")"
    export LANTERN_TEST_PGHOST="$PGHOST" LANTERN_TEST_PGPORT="$PGPORT" LANTERN_TEST_PGUSER="$PGUSER"
    unset PGHOST PGPORT PGUSER
fi

export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -f "$here/tests/lsan.supp" ]; then
    export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/tests/lsan.supp:print_suppressions=0}
fi
export LANTERN_SOURCE_DIR="$here" LANTERN_BUILD_DIR="$BUILD"

total_pass=0
total_fail=0
for bin in "$@"; do
    name=${bin#"$BUILD"/}
    log="$logs/$(echo "$name" | tr '/' '_').log"
    start=${EPOCHREALTIME/./}
    timeout --kill-after=10 "$TIMEOUT" "$bin" >"$log" 2>&1
    rc=$?
    ms=$(( (${EPOCHREALTIME/./} - start) / 1000 ))
    secs=$(printf '%d.%01d' $((ms / 1000)) $(((ms % 1000) / 100)))
    pass=$(grep -c '^ok ' "$log")
    # cmocka's TAP says "not ok N # SKIP name" for a skipped case: neither
    # passed nor failed (e.g. a measurement that means nothing under ASan)
    skipped=$(grep -c '^not ok [0-9]* # SKIP' "$log")
    fail=$(( $(grep -c '^not ok ' "$log") - skipped ))
    extra=""
    if [ $rc -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then extra=" (timed out after ${TIMEOUT}s)"; else extra=" (exit $rc)"; fi
    elif [ $rc -eq 0 ] && [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$skipped" -eq 0 ]; then
        fail=1
        extra=" (ran no test case)"
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    if [ "$fail" -eq 0 ]; then
        skip_note=""
        [ "$skipped" -gt 0 ] && skip_note=" ($skipped skipped)"
        printf 'PASS %-44s %4d cases %6ss%s\n' "$name" "$pass" "$secs" "$skip_note"
    else
        printf 'FAIL %-44s %4d passed %d failed%s %ss\n' "$name" "$pass" "$fail" "$extra" "$secs"
        grep -E '^not ok |^# ' "$log" | head -40 | sed 's/^/    /'
        tail -n 25 "$log" | sed 's/^/    | /'
        echo "    (full output: $log)"
    fi
done

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
