#!/usr/bin/env bash
# Installs what the firmware (CMake, Embedded Swift cross) build and its tests need on Debian 12, as root.
# Idempotent: quiet when everything is present.
#   - CMake >= 3.29 and Ninja from PyPI (Debian 12's CMake 3.25 cannot link Swift objects with a C linker)
#   - cross gcc for aarch64 and armhf (with their libc), qemu-user-static, binutils, GNU time
#   - Debian's mbedTLS source package, unpacked into deps/ (Scripts/fetch-mbedtls-source.sh): every firmware
#     build compiles it with cmake/mbedtls-board-config.h, so no foreign-architecture mbedTLS is needed
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

# One status line per installed architecture of the package; name:arch asks for one architecture.
installed() { grep -q "install ok installed" <<<"$(dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null)"; }
native="$(dpkg --print-architecture)"

updated=0
# A mirror mid-sync can fail one index (often a foreign architecture's): go on with what was fetched.
apt_update() {
    if [ "$updated" = 0 ]; then
        apt-get update -qq || echo "warning: apt-get update reported errors; continuing with the indexes it fetched" >&2
        updated=1
    fi
}

# 1. host packages
host_packages=(gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross
               qemu-user-static binutils "libmbedtls-dev:$native" openssl time python3 python3-pip)
missing=()
for p in "${host_packages[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt_update
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Debian's mbedTLS source for the firmware builds (adds a deb-src entry and dpkg-dev when missing)
"$root/Scripts/fetch-mbedtls-source.sh" >/dev/null

# 3. CMake >= 3.29 and Ninja from PyPI
cmake_ok() {
    command -v cmake >/dev/null || return 1
    local v; v="$(cmake --version | head -n 1 | sed 's/[^0-9.]*\([0-9.]*\).*/\1/')"
    [ "$(printf '%s\n3.29\n' "$v" | sort -V | head -n 1)" = "3.29" ]
}
if ! cmake_ok || ! command -v ninja >/dev/null; then
    echo "installing cmake and ninja from PyPI"
    python3 -m pip install -q --break-system-packages "cmake>=3.29" ninja 2>/dev/null \
        || python3 -m pip install -q "cmake>=3.29" ninja
    hash -r
    cmake_ok || { echo "error: cmake >= 3.29 is still not on PATH ($(command -v cmake || echo none))" >&2; exit 1; }
fi
if ! python3 -c "import pytest" 2>/dev/null; then
    python3 -m pip install -q --break-system-packages pytest 2>/dev/null || apt-get install -y -qq python3-pytest >/dev/null
fi
if ! command -v swiftc >/dev/null; then
    echo "error: no Swift toolchain on PATH: the firmware build needs Swift 6.3 (swift.org's Linux toolchain)" >&2
    exit 1
fi
