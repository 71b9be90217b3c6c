#!/bin/sh
# Fuzzes one target: FuzzTesting/run.sh TARGET [SECONDS] (default 60; use 3600 for long runs).
# Targets: FuzzTesting/targets. Builds .build-fuzz/scep-fuzz first unless SCEP_FUZZ_NO_BUILD=1. The
# corpus grows in .build-fuzz/corpus/TARGET (seeded from the target's seeds, assembled by targets.sh);
# crash inputs land in FuzzTesting/crashes/TARGET/: fix the bug and keep the input there as a
# regression case (FuzzTesting/ci.sh replays it).
set -eu
# The Swift runtime's backtracer trips ASan after a trap; libFuzzer prints the stack instead.
export SWIFT_BACKTRACE=enable=no
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
target=${1:?usage: FuzzTesting/run.sh TARGET [SECONDS]}
seconds=${2:-60}
. "$here/targets.sh"
max_len=$(fuzz_max_len "$target")
[ -n "$max_len" ] || { echo "unknown target $target ($(fuzz_targets | tr '\n' ' '))" >&2; exit 2; }
[ "${SCEP_FUZZ_NO_BUILD:-0}" = 1 ] || "$here/build.sh" >/dev/null
seeds=$(fuzz_seeds "$target")
corpus="$root/.build-fuzz/corpus/$target"
crashes="$here/crashes/$target"
mkdir -p "$corpus" "$crashes"
cd "$root"
SCEP_FUZZ_TARGET=$target SCEP_FUZZ_FIXTURES="$root/Tests/Fixtures/scepserver-2.1.0" \
    "$root/.build-fuzz/scep-fuzz" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$seeds"
