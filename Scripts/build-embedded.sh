#!/usr/bin/env bash
# Builds the shipped binary with SwiftPM in Embedded mode: .build-embedded/release/scep-agent.
#   Scripts/build-embedded.sh
# The one place this command is written (test-all.sh, quickstart.sh and the benchmarks run it): a build
# with other flags in the same scratch path would rebuild it from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
SCEP_EMBEDDED=1 exec swift build --scratch-path .build-embedded -c release -Xswiftc -warnings-as-errors
