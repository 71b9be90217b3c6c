#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and runs every test: unit, both build modes, integration.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
echo "== normal build and unit tests"
swift build
swift test
echo "== Embedded build"
SCEP_EMBEDDED=1 swift build --scratch-path .build-embedded -c release
