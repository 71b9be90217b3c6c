#!/usr/bin/env bash
# One enrollment with a pre-generated RSA-2048 key: scep-agent (the shipped Embedded binary) against
# Debian's scepclient on the same scepserver, alternating, many runs. Prints median wall time, CPU
# time and peak RSS of each, and the ratios to scepclient.
#   Benchmarks/enroll.sh [RUNS]        (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
SCEP_EMBEDDED=1 swift build --scratch-path .build-embedded -c release >/dev/null
agent="$(pwd)/.build-embedded/release/scep-agent"
exec python3 Benchmarks/scepclient_baseline.py -n "${1:-30}" \
    --client "scep-agent=$agent enroll --quiet --url {url} --ca-fingerprint {fingerprint} --subject CN={cn} --challenge {challenge} --key {key} --existing-key --cert {cert}"
