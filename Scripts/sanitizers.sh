#!/usr/bin/env bash
# The unit tests under AddressSanitizer and UndefinedBehaviorSanitizer, and the end-to-end suites
# against an ASan+UBSan build of scep-agent. Too slow for every CI run on two cores; run it before a
# release or after touching parsers or unsafe pointer code.
#   Scripts/sanitizers.sh [address|undefined|all]      (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
which="${1:-all}"
run() {
    local sanitizer="$1"
    echo "== swift test --sanitize=$sanitizer"
    swift test --scratch-path ".build-$sanitizer" --sanitize="$sanitizer"
    echo "== end-to-end suites against the --sanitize=$sanitizer binary"
    swift build --scratch-path ".build-$sanitizer" --sanitize="$sanitizer"
    SCEP_AGENT_BINARIES="$sanitizer=$(pwd)/.build-$sanitizer/debug/scep-agent" \
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        python3 -m pytest -q Tests/integration/test_enroll.py Tests/integration/test_daemon.py
}
case "$which" in
    address|undefined) run "$which" ;;
    all) run address; run undefined ;;
    *) echo "usage: Scripts/sanitizers.sh [address|undefined|all]" >&2; exit 2 ;;
esac
