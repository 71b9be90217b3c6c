#!/bin/sh
# CI fuzz step: FuzzTesting/ci.sh [SECONDS_PER_TARGET] (default 10).
# Builds .build-fuzz/scep-fuzz once, replays every saved input under FuzzTesting/crashes/TARGET/ and
# every seed of the target (FuzzTesting/targets) without fuzzing (none may crash), then fuzzes each
# target for the given seconds, printing the executions reached; fails on any crash.
set -eu
# The Swift runtime's backtracer trips ASan after a trap; libFuzzer prints the stack instead.
export SWIFT_BACKTRACE=enable=no
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
seconds=${1:-10}
. "$here/targets.sh"
targets=$(fuzz_targets)
"$here/build.sh"
fixtures="$root/Tests/Fixtures/scepserver-2.1.0"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
for target in $targets; do
    seeds=$(fuzz_seeds "$target")
    files=$(find "$seeds" "$here/crashes/$target" -type f 2>/dev/null | sort)
    [ -n "$files" ] || continue
    count=$(echo "$files" | wc -l)
    # Running the binary on files replays them once each.
    if echo "$files" | xargs env SCEP_FUZZ_TARGET="$target" SCEP_FUZZ_FIXTURES="$fixtures" \
        "$root/.build-fuzz/scep-fuzz" -runs=1 >"$log" 2>&1; then
        echo "replay $target: $count inputs ok"
    else
        echo "replay $target: FAILED"; tail -40 "$log"; status=1
    fi
done
for target in $targets; do
    if SCEP_FUZZ_NO_BUILD=1 "$here/run.sh" "$target" "$seconds" >"$log" 2>&1; then
        echo "fuzz $target: $(grep -o 'number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') executions in ${seconds}s, no crash"
    else
        echo "fuzz $target: CRASH (input saved under FuzzTesting/crashes/$target/)"; grep -A30 "ERROR\|Fatal error\|==ERROR" "$log" | head -50; status=1
    fi
done
exit $status
