#!/usr/bin/env bash
# Sets up a Debian 12 machine (as root) and runs every test: unit tests, both build modes, and the
# end-to-end suites against real peers, once with the normal binary and once with the Embedded
# firmware build, the ARM firmware builds under qemu, and a short fuzzing pass.
set -euo pipefail
cd "$(dirname "$0")/.."
stage() { echo "== $* (at ${SECONDS} s)"; }
Scripts/install-deps.sh
Scripts/install-cross-deps.sh
stage "normal build (warnings are errors) and unit tests"
swift build -Xswiftc -warnings-as-errors
swift test
stage "Embedded builds: SwiftPM's, and the CMake firmware for x86_64, aarch64 and armhf (two at a time)"
# Each is whole-module and keeps one core busy, so two at once take about half the time on two cores.
logs="$(mktemp -d)"
two_at_once() {
    local status=0
    SCEP_BUILD_JOBS=1 bash -c "$1" >"$logs/1.log" 2>&1 & local first=$!
    SCEP_BUILD_JOBS=1 bash -c "$2" >"$logs/2.log" 2>&1 & local second=$!
    wait "$first" || status=1
    wait "$second" || status=1
    echo "-- $1"; cat "$logs/1.log"
    echo "-- $2"; cat "$logs/2.log"
    return "$status"
}
two_at_once "Scripts/build-embedded.sh" "Scripts/build-firmware.sh x86_64"
two_at_once "Scripts/build-firmware.sh aarch64" "Scripts/build-firmware.sh armhf"
stage "end-to-end suites against scepserver, nginx, SoftHSM, swtpm and OpenSSL (normal, Embedded, ARM under qemu; the .debs in a Debian 12 chroot)"
python3 -m pytest -q Tests/integration
stage "fuzzing: replay saved inputs, then 5 s per libFuzzer target"
FuzzTesting/ci.sh 5
stage "all passed"
