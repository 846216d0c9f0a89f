#!/usr/bin/env bash
# tests/fuzz/run.sh: run libFuzzer harnesses for a bounded time each, from a
# copy of their seed corpus, and fail if any finds anything.
#
#   tests/fuzz/run.sh SECONDS HARNESS...        (make fuzz-run FUZZ_SECONDS=N)
#
# Each harness build/fuzz/fuzz_X starts from tests/fuzz/corpus/fuzz_X,
# copied to a temporary directory so that the inputs it discovers do not
# grow the repository.  A crash, a leak, undefined behaviour, an input that
# takes more than 10 s or 2 GiB is a finding: libFuzzer stops with an error,
# the input that caused it is kept in $BUILD/fuzz/findings/ and the end of
# the log is printed.  Full logs: $BUILD/fuzz/logs/.  Reproduce a finding
# with: build/fuzz/fuzz_X $BUILD/fuzz/findings/fuzz_X-crash-...
set -uo pipefail

if [ $# -lt 2 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: tests/fuzz/run.sh SECONDS HARNESS..." >&2
    exit 2
fi
seconds=$1
shift
here=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
logs="$BUILD/fuzz/logs"
findings="$BUILD/fuzz/findings"
mkdir -p "$logs" "$findings"

tmp=$(mktemp -d /tmp/lantern-fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

failed=0
for harness in "$@"; do
    name=$(basename "$harness")
    corpus="$tmp/$name"
    mkdir -p "$corpus"
    if [ -d "$here/tests/fuzz/corpus/$name" ]; then
        cp "$here/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null
    fi
    seeds=$(find "$corpus" -type f | wc -l)
    log="$logs/$name.log"
    "$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$findings/$name-" "$corpus" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -ne 0 ]; then
        echo "fuzz: $name: FAILED (exit $rc) after ${runs:-?} runs from $seeds seeds; the end of $log:"
        tail -40 "$log" | sed 's/^/    /'
        failed=$((failed + 1))
    else
        echo "fuzz: $name: ok, ${runs:-?} runs in ${seconds}s from $seeds seeds"
    fi
done
if [ $failed -gt 0 ]; then
    echo "fuzz: $failed of $# harnesses found something (inputs in $findings)"
    exit 1
fi
echo "fuzz: all $# harnesses ok"
