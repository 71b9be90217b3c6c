#!/usr/bin/env bash
# Enrollment time with a software key, a SoftHSM2 key and a TPM 2.0 key (swtpm + tpm2-abrmd + tpm2-pkcs11) against the
# same scepserver in the same run: median of RUNS runs each (default 7), the shipped Embedded binary.
#   Benchmarks/keys.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
Scripts/build-embedded.sh >/dev/null
exec python3 Benchmarks/keys.py "$(pwd)/.build-embedded/release/scep-agent" -n "${1:-7}"
