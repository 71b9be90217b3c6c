#!/usr/bin/env bash
# Unpacks Debian's own mbedTLS source package, of the version the host's libmbedtls-dev has, into
# deps/mbedtls-<version>/ (git-ignored) for the firmware builds, which compile it with
# cmake/mbedtls-board-config.h. Idempotent: does nothing once deps/mbedtls-<version>/.complete exists.
# Needs root the first time on a machine without a deb-src entry for bookworm: it adds one
# (/etc/apt/sources.list.d/scep-agent-src.sources, beside Debian's debian.sources, same mirror) and
# installs dpkg-dev (dpkg-source unpacks and applies Debian's patches).
# Prints the source directory on stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

version="$(dpkg-query -W -f='${Version}\n' "libmbedtls-dev:$(dpkg --print-architecture)" 2>/dev/null || true)"
if [ -z "$version" ]; then
    echo "error: libmbedtls-dev is not installed (Scripts/install-deps.sh): its version picks the source package" >&2
    exit 1
fi
upstream="${version%-*}"
dir="$root/deps/mbedtls-$upstream"
mkdir -p "$root/deps"
# Firmware builds run two at a time in CI: one fetches, the other waits for it.
exec 9>"$root/deps/.fetch.lock"
flock 9
if [ -f "$dir/.complete" ]; then
    echo "$dir"
    exit 0
fi

# apt reads deb-src entries only from sources files; Debian 12's images ship deb entries only.
if ! apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -qx Sources; then
    list=/etc/apt/sources.list.d/scep-agent-src.sources
    mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)"
    keyring="$(sed -n 's/^Signed-By: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)"
    echo "adding a deb-src entry for bookworm ($list)" >&2
    cat >"$list" <<EOF
Types: deb-src
URIs: ${mirror:-http://deb.debian.org/debian}
Suites: bookworm bookworm-updates
Components: main
Signed-By: ${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
EOF
    apt-get update -qq >&2 || echo "warning: apt-get update reported errors; trying with the indexes it fetched" >&2
fi
if ! command -v dpkg-source >/dev/null; then
    echo "installing dpkg-dev (dpkg-source)" >&2
    apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
fi

work="$root/deps/.fetch-mbedtls"
rm -rf "$work" "$dir"
mkdir -p "$work"
# The signed Sources index pins the checksums of the .dsc and tarballs; dpkg-source applies Debian's patches.
(cd "$work" && apt-get source -qq -o APT::Sandbox::User=root "mbedtls=$version" >&2)
unpacked="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'mbedtls-*' | head -n 1)"
if [ ! -f "$unpacked/include/mbedtls/config.h" ]; then
    echo "error: apt-get source mbedtls=$version gave no mbedTLS tree in $work" >&2
    exit 1
fi
mv "$unpacked" "$dir"
rm -rf "$work"
touch "$dir/.complete"
echo "$dir"
