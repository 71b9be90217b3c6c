#!/usr/bin/env bash
# Installs what the build and the tests need on Debian 12 (as root); quiet when all is present.
# --quickstart: only what Scripts/quickstart.sh uses (the build, scepserver, OpenSSL, Python's stdlib).
set -euo pipefail
quickstart=(libmbedtls-dev libp11-kit-dev openssl scep python3)
packages=("${quickstart[@]}" nginx-light time hostapd wpasupplicant iproute2
          softhsm2 opensc swtpm swtpm-tools libtpm2-pkcs11-1 libtss2-tcti-swtpm0 tpm2-tools libengine-pkcs11-openssl
          tpm2-abrmd libtss2-tcti-tabrmd0 dbus-daemon python3-cryptography python3-asn1crypto)
only_quickstart=false
if [ "${1:-}" = "--quickstart" ]; then only_quickstart=true; packages=("${quickstart[@]}"); fi
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! "$only_quickstart" && ! python3 -c "import pytest" 2>/dev/null; then
    echo "installing pytest"
    python3 -m pip install -q pytest 2>/dev/null || apt-get install -y -qq --no-install-recommends python3-pytest >/dev/null
fi
# The hostile SCEP server (Tests/integration/hostile_ca.py) needs both; a python3 other than Debian's
# (pyenv, a venv) does not see the Debian packages.
if ! "$only_quickstart" && ! python3 -c "import cryptography, asn1crypto" 2>/dev/null; then
    echo "installing cryptography and asn1crypto for $(command -v python3)"
    python3 -m pip install -q cryptography asn1crypto
fi
if ! command -v swift >/dev/null; then
    echo "error: no Swift toolchain on PATH: scep-agent needs Swift 6.3 (swift.org's Linux toolchain) to build" >&2
    exit 1
fi
