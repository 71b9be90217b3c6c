#!/usr/bin/env bash
# Footprint benchmark: builds the firmware binaries with CMake (Scripts/build-firmware.sh, incremental), then
# prints per binary the stripped size, needed shared libraries, the x86_64 peak RSS of one enrollment beside
# Debian's scepclient and the idle daemon's RSS, the budgets (enforced by Tests/integration/test_firmware.py)
# and the Swift / mbedTLS / linker-table split (markdown). The SwiftPM Embedded binary is measured when built.
#   Benchmarks/footprint.sh [RUNS]      (enrollments per client for the RSS median, default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
arches=(x86_64)
command -v aarch64-linux-gnu-gcc >/dev/null && arches+=(aarch64)
command -v arm-linux-gnueabihf-gcc >/dev/null && arches+=(armhf)
[ ${#arches[@]} -eq 3 ] || echo "note: cross toolchains missing (Scripts/install-cross-deps.sh): building ${arches[*]} only" >&2
arches+=(x86_64-static)   # the same objects' code as a static PIE: what shared libc costs in RSS
for arch in "${arches[@]}"; do Scripts/build-firmware.sh "$arch" >&2; done
exec python3 Benchmarks/footprint.py --runs "${1:-5}"
