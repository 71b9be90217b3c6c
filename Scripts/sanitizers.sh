#!/usr/bin/env bash
# The unit tests, and the end-to-end suites against the scep-agent binary, built with AddressSanitizer
# (with LeakSanitizer) and UndefinedBehaviorSanitizer. Too slow for every CI run on two cores; run it
# before a release or after touching parsers or unsafe pointer code.
#   Scripts/sanitizers.sh
# Swift has no -sanitize=undefined: its own code traps on overflow and out-of-bounds in every build. UBSan
# instruments the C we compile: the shim and its inline functions, which Swift imports into our objects.
# Debian's mbedTLS is not rebuilt, so the sanitizers see our calls into it, not its insides.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
# Any report fails the run: ASan and UBSan abort, LeakSanitizer exits non-zero at exit (the suites check
# exit codes). Only the test harness's own leaks are suppressed (Scripts/lsan.supp).
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export LSAN_OPTIONS="suppressions=$(pwd)/Scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
flags=(--scratch-path .build-sanitizers --sanitize=address -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined)
echo "== swift test under ASan+LSan+UBSan"
swift test "${flags[@]}"
echo "== end-to-end suites against the ASan+LSan+UBSan binary"
swift build "${flags[@]}"
SCEP_AGENT_BINARIES="sanitizers=$(pwd)/.build-sanitizers/debug/scep-agent" \
    python3 -m pytest -q Tests/integration/test_enroll.py Tests/integration/test_daemon.py \
    Tests/integration/test_crash.py Tests/integration/test_faults.py Tests/integration/test_hostile.py \
    Tests/integration/test_pkcs11.py Tests/integration/test_daemon_token.py
