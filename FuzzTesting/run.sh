#!/bin/sh
# Fuzzes one target: FuzzTesting/run.sh TARGET [SECONDS] (default 60; use 3600 for long runs).
# Targets: der certrep getcacert getnextca getcacaps http config pkcs11uri. Builds .build-fuzz/scep-fuzz first
# unless SCEP_FUZZ_NO_BUILD=1. The corpus grows in .build-fuzz/corpus/TARGET (seeded from
# FuzzTesting/seeds/TARGET); crash inputs land in FuzzTesting/crashes/TARGET/: fix the bug and keep
# the input there as a regression case (FuzzTesting/ci.sh replays it).
set -eu
# The Swift runtime's backtracer trips ASan after a trap; libFuzzer prints the stack instead.
export SWIFT_BACKTRACE=enable=no
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
target=${1:?usage: FuzzTesting/run.sh TARGET [SECONDS]}
seconds=${2:-60}
case $target in
    der|certrep|getcacert|getnextca) max_len=8192 ;;
    config) max_len=4096 ;;
    http) max_len=4096 ;;
    getcacaps|pkcs11uri) max_len=1024 ;;
    *) echo "unknown target $target (der certrep getcacert getnextca getcacaps http config pkcs11uri)" >&2; exit 2 ;;
esac
[ "${SCEP_FUZZ_NO_BUILD:-0}" = 1 ] || "$here/build.sh" >/dev/null
corpus="$root/.build-fuzz/corpus/$target"
crashes="$here/crashes/$target"
mkdir -p "$corpus" "$crashes"
cd "$root"
SCEP_FUZZ_TARGET=$target SCEP_FUZZ_FIXTURES="$root/Tests/Fixtures/scepserver-2.1.0" \
    "$root/.build-fuzz/scep-fuzz" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "$here/seeds/$target"
