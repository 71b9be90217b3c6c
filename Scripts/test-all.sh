#!/usr/bin/env bash
# Sets up a Debian 12 machine (as root) and runs every test: unit tests, both build modes, and the
# end-to-end suites against real peers, once with the normal binary and once with the Embedded
# firmware build, the ARM firmware builds under qemu, and a short fuzzing pass.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
Scripts/install-cross-deps.sh
echo "== normal build (warnings are errors) and unit tests"
swift build -Xswiftc -warnings-as-errors
swift test
echo "== Embedded build (the shipped binary)"
SCEP_EMBEDDED=1 swift build --scratch-path .build-embedded -c release -Xswiftc -warnings-as-errors
echo "== firmware builds with CMake (x86_64, aarch64, armhf)"
Scripts/build-firmware.sh all
echo "== end-to-end suites against scepserver, nginx, SoftHSM, swtpm and OpenSSL (normal, Embedded, ARM under qemu)"
python3 -m pytest -q Tests/integration
echo "== fuzzing: replay saved inputs, then 5 s per libFuzzer target"
FuzzTesting/ci.sh 5
