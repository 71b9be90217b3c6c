#!/usr/bin/env bash
# Builds the firmware scep-agent (Embedded Swift, mbedTLS from Debian's source with the board configuration,
# static) with CMake into build-<arch>/ and prints the stripped size.
#   Scripts/build-firmware.sh [x86_64|aarch64|armhf|all|x86_64-static]     (default: all)
# x86_64-static: the host binary as a static PIE (build-x86_64-static/), for the footprint benchmark; no
# shared libc, but glibc's getaddrinfo then loads NSS modules of the same glibc version at run time, and
# dlopen (PKCS#11 modules) is not usable.
# Extra CMake cache options can be given in SCEP_CMAKE_ARGS (e.g. -DSCEP_STATIC_PIE=ON).
# Needs Scripts/install-cross-deps.sh (as root) once.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
jobs="${SCEP_BUILD_JOBS:-2}"

toolchain_for() {
    case "$1" in
        x86_64|x86_64-static) echo x86_64-linux-gnu ;;
        aarch64) echo aarch64-linux-gnu ;;
        armhf) echo arm-linux-gnueabihf ;;
        *) echo "unknown architecture '$1': x86_64, aarch64, armhf, all or x86_64-static" >&2; exit 2 ;;
    esac
}

# Debian's mbedTLS source, compiled by each build with cmake/mbedtls-board-config.h (fetched once, cached in deps/).
mbedtls_source="$("$root/Scripts/fetch-mbedtls-source.sh")"

build() {
    local arch="$1" triple dir
    triple="$(toolchain_for "$arch")"
    dir="$root/build-$arch"
    local extra=""
    [ "$arch" = x86_64-static ] && extra="-DSCEP_STATIC_PIE=ON"
    if [ ! -f "$dir/build.ninja" ]; then
        cmake -G Ninja -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$triple.cmake" -DSCEP_MBEDTLS_SOURCE_DIR="$mbedtls_source" \
            $extra ${SCEP_CMAKE_ARGS:-} >/dev/null
    elif [ -n "${SCEP_CMAKE_ARGS:-}" ] || ! grep -qx "SCEP_MBEDTLS_SOURCE_DIR:PATH=$mbedtls_source" "$dir/CMakeCache.txt"; then
        cmake "$dir" -DSCEP_MBEDTLS_SOURCE_DIR="$mbedtls_source" ${SCEP_CMAKE_ARGS:-} >/dev/null
    fi
    cmake --build "$dir" -j "$jobs"
    local strip_tool=strip
    [ "$triple" = x86_64-linux-gnu ] || strip_tool="$triple-strip"
    "$strip_tool" -o "$dir/scep-agent.stripped" "$dir/scep-agent"
    local bytes
    bytes="$(stat -c %s "$dir/scep-agent.stripped")"
    printf '%s: %s (%s bytes stripped, %s KiB)\n' "$arch" "$dir/scep-agent.stripped" "$bytes" "$((bytes / 1024))"
}

target="${1:-all}"
if [ "$target" = all ]; then
    for arch in x86_64 aarch64 armhf; do build "$arch"; done
else
    build "$target"
fi
