#!/usr/bin/env bash
# One enrollment with a pre-generated RSA-2048 key (and an EC P-256 row against the hostile CA's
# PasswordRecipientInfo replies): scep-agent (the Embedded binary, and the CMake
# firmware build when present) against
# Debian's scepclient on the same scepserver, alternating, many runs. Prints median wall time, CPU
# time and peak RSS of each, and the ratios to scepclient.
#   Benchmarks/enroll.sh [RUNS]        (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
Scripts/build-embedded.sh >/dev/null
agent="$(pwd)/.build-embedded/release/scep-agent"
arguments="enroll --quiet --url {url} --ca-fingerprint {fingerprint} --subject CN={cn} --challenge {challenge} --key {key} --existing-key --cert {cert}"
clients=(--client "scep-agent=$agent $arguments")
# EC P-256 against the hostile CA's PasswordRecipientInfo replies: no RSA private operation on our side.
clients+=(--pwri-client "scep-agent-ec=$agent ${arguments/\{key\}/\{key_ec\}}")
# The firmware build (mbedTLS linked statically), when Scripts/build-firmware.sh x86_64 has made it.
firmware="$(pwd)/build-x86_64/scep-agent"
[ -x "$firmware" ] && clients+=(--client "scep-agent-fw=$firmware $arguments")
exec python3 Benchmarks/scepclient_baseline.py -n "${1:-30}" "${clients[@]}"
