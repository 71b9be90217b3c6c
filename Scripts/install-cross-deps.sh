#!/usr/bin/env bash
# Installs what the firmware (CMake, Embedded Swift cross) build and its tests need on Debian 12, as root.
# Idempotent: quiet when everything is present.
#   - CMake >= 3.29 and Ninja from PyPI (Debian 12's CMake 3.25 cannot link Swift objects with a C linker)
#   - cross gcc for aarch64 and armhf, qemu-user-static, binutils, GNU time
#   - libmbedtls-dev for arm64 and armhf through multiarch; when apt refuses (the armhf or arm64 packages lag
#     the amd64 ones on the mirror, so the versions disagree), the .debs are downloaded and unpacked into
#     sysroot/<arch>/ at the top of the work tree, which the toolchain files search as well.
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

# 2. foreign architectures and their mbedTLS (headers + static archives)
foreign="$(dpkg --print-foreign-architectures)"
for arch in arm64 armhf; do
    if ! grep -qx "$arch" <<<"$foreign"; then
        echo "adding dpkg architecture $arch"
        dpkg --add-architecture "$arch"
        updated=0
    fi
done
for arch in arm64 armhf; do
    sysroot="$root/sysroot/$arch"
    installed "libmbedtls-dev:$arch" && continue
    [ -f "$sysroot/.complete" ] && continue
    apt_update
    echo "installing libmbedtls-dev:$arch"
    if apt-get install -y -qq --no-install-recommends "libmbedtls-dev:$arch" >/dev/null 2>"/tmp/scep-cross-$arch.err"; then
        continue
    fi
    echo "multiarch refused libmbedtls-dev:$arch ($(tail -n 1 "/tmp/scep-cross-$arch.err")); unpacking into $sysroot"
    rm -rf "$sysroot"; mkdir -p "$sysroot/debs"
    (cd "$sysroot/debs" && apt-get download -qq -o APT::Sandbox::User=root "libmbedtls-dev:$arch" "libmbedtls14:$arch" "libmbedx509-1:$arch" \
        "libmbedcrypto7:$arch")
    for deb in "$sysroot"/debs/*.deb; do dpkg -x "$deb" "$sysroot"; done
    rm -rf "$sysroot/debs"
    touch "$sysroot/.complete"
done

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
