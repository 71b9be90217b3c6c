#!/usr/bin/env bash
# Builds scep-agent_VERSION_ARCH.deb from the firmware builds (Scripts/build-firmware.sh) into build-deb/.
#   Scripts/package-deb.sh [amd64|arm64|armhf ...]     (default: all three)
# VERSION is what the packaged binary's `scep-agent version` prints; Depends is computed by dpkg-shlibdeps
# from the binary's NEEDED libraries; the man pages are generated from the binary's own help and
# docs/config.md (Scripts/make-manpages.py). Package metadata and maintainer scripts: dist/debian/.
# Needs Scripts/install-cross-deps.sh (cross toolchains, qemu-user-static, dpkg-dev) once, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
out="$root/build-deb"

firmware_arch() {
    case "$1" in
        amd64) echo x86_64 ;;
        arm64) echo aarch64 ;;
        armhf) echo armhf ;;
        *) echo "package-deb.sh: unknown architecture '$1': amd64, arm64 or armhf" >&2; exit 2 ;;
    esac
}

triple_of() {
    case "$1" in amd64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;; esac
}

# How to run the binary on this machine: natively, or under qemu with the target's libc (multiarch, else the
# cross toolchain's copy, as Tests/integration/test_firmware.py does).
runner() {
    local loader qemu
    case "$1" in
        amd64) [ "$(dpkg --print-architecture)" = amd64 ] && return 0
               echo "package-deb.sh: amd64 is built on an amd64 machine only" >&2; exit 2 ;;
        arm64) qemu=qemu-aarch64-static loader=/lib/ld-linux-aarch64.so.1 ;;
        armhf) qemu=qemu-arm-static loader=/lib/ld-linux-armhf.so.3 ;;
    esac
    if [ -e "$loader" ]; then echo "$qemu -L /"; else echo "$qemu -L /usr/$(triple_of "$1")"; fi
}

# One date for every timestamp in the packages: the commit's, so a rebuild of it gives the same bytes.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
mbedtls_source="$("$root/Scripts/fetch-mbedtls-source.sh")"
mbedtls_version="${mbedtls_source##*/mbedtls-}"
# From the first commit's year to this one's.
# (sed, not head, reads all: an early-closed pipe would fail the pipeline under pipefail)
first_year="$(git log --max-parents=0 --format=%cd --date=format:%Y 2>/dev/null | sort | sed -n 1p)"
last_year="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)"
copyright_years="${first_year:-$last_year}"
[ "$copyright_years" = "$last_year" ] || copyright_years="$copyright_years-$last_year"

package() {
    local arch="$1" fwarch binary version stage depends
    fwarch="$(firmware_arch "$arch")"
    Scripts/build-firmware.sh "$fwarch" >/dev/null

    # dpkg-shlibdeps wants the binary inside a debian/<package> tree beside a debian/control.
    local work="$out/work-$arch"
    stage="$work/debian/scep-agent"
    rm -rf "$work"
    mkdir -p "$stage/DEBIAN"
    printf 'Source: scep-agent\n\nPackage: scep-agent\nArchitecture: any\n' >"$work/debian/control"

    # Stripped as Debian strips executables (dh_strip): symbols, and the .comment and .note sections.
    local strip_tool=strip
    [ "$arch" = "$(dpkg --print-architecture)" ] || strip_tool="$(triple_of "$arch")-strip"
    binary="$stage/usr/sbin/scep-agent"
    install -d -m 0755 "${binary%/*}"
    "$strip_tool" --remove-section=.comment --remove-section=.note -o "$binary" "$root/build-$fwarch/scep-agent"
    chmod 0755 "$binary"
    local -a run
    read -r -a run <<<"$(runner "$arch")"
    version="$("${run[@]}" "$binary" version)"
    version="${version#scep-agent }"
    [[ "$version" =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || { echo "package-deb.sh: '$binary version' printed '$version'" >&2; exit 1; }

    install -D -m 0644 dist/systemd/scep-agent.service "$stage/lib/systemd/system/scep-agent.service"
    install -D -m 0644 dist/debian/scep-agent.conf "$stage/etc/scep-agent/scep-agent.conf"
    install -d -m 0700 "$stage/var/lib/scep-agent"
    local board
    for board in boards/*/scep-agent.conf; do
        install -D -m 0644 "$board" "$stage/usr/share/scep-agent/$board"
    done

    python3 Scripts/make-manpages.py --out "$work/man" --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)" \
        -- "${run[@]}" "$binary"
    install -D -m 0644 "$work/man/scep-agent.8" "$stage/usr/share/man/man8/scep-agent.8"
    install -D -m 0644 "$work/man/scep-agent.conf.5" "$stage/usr/share/man/man5/scep-agent.conf.5"
    gzip -9n "$stage/usr/share/man/man8/scep-agent.8" "$stage/usr/share/man/man5/scep-agent.conf.5"

    local doc="$stage/usr/share/doc/scep-agent" maintainer
    install -d -m 0755 "$doc"
    sed -e "s/@MBEDTLS_VERSION@/$mbedtls_version/" -e "s/@YEARS@/$copyright_years/" dist/debian/copyright >"$doc/copyright"
    maintainer="$(sed -n 's/^Maintainer: //p' dist/debian/control)"
    # A native package's changelog: one entry naming the commit; the project's history is its git log.
    printf 'scep-agent (%s) unstable; urgency=medium\n\n  * Built from commit %s of the scep-agent sources.\n\n -- %s  %s\n' \
        "$version" "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" "$maintainer" \
        "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n >"$doc/changelog.gz"
    install -D -m 0644 dist/debian/lintian-overrides "$stage/usr/share/lintian/overrides/scep-agent"

    install -m 0755 dist/debian/postinst dist/debian/prerm dist/debian/postrm "$stage/DEBIAN/"
    echo /etc/scep-agent/scep-agent.conf >"$stage/DEBIAN/conffiles"
    # A cross build's libc is the cross toolchain's (libc6-ARCH-cross), whose shlibs file names the target's package.
    local -a libdirs=()
    [ "$arch" = "$(dpkg --print-architecture)" ] || libdirs=(-l"/usr/$(triple_of "$arch")/lib")
    depends="$(cd "$work" && DEB_HOST_ARCH="$arch" dpkg-shlibdeps -O "${libdirs[@]}" debian/scep-agent/usr/sbin/scep-agent)"
    depends="${depends#shlibs:Depends=}"
    depends="${depends//:$arch/}"  # libc6:arm64 in an arm64 package is plain libc6
    sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" \
        -e "s/@INSTALLED_SIZE@/$(du -sk --exclude=DEBIAN "$stage" | cut -f1)/" dist/debian/control >"$stage/DEBIAN/control"
    (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
        >"$stage/DEBIAN/md5sums"
    chmod 0644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/control"

    local deb="$out/scep-agent_${version}_${arch}.deb"
    dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
    echo "$deb ($(stat -c %s "$deb") bytes; Depends: $depends)"
}

mkdir -p "$out"
[ $# -gt 0 ] || set -- amd64 arm64 armhf
for arch in "$@"; do firmware_arch "$arch" >/dev/null; done
for arch in "$@"; do package "$arch"; done
