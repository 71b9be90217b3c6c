#!/usr/bin/env python3
"""Footprint of the firmware builds (build-<arch>/scep-agent from CMake) beside Debian's scepclient.

    python3 Benchmarks/footprint.py [--runs N]      (Benchmarks/footprint.sh builds first, then runs this)

Per architecture: stripped size, the shared libraries it needs (readelf -d), and for the x86_64 builds the
peak RSS of one enrollment (GNU time's %M, median of N runs, RSA-2048 key made beforehand, scepserver on
127.0.0.1, through Benchmarks/scepclient_baseline.py) and the RSS of the daemon asleep after enrolling
(Benchmarks/idle.py). Then the budgets and what the bytes are (from the linker maps). Prints markdown."""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import linkmap  # noqa: E402
from idle import idle_daemon_rss_kib  # noqa: E402

ARCHES = ["x86_64", "x86_64-static", "aarch64", "armhf"]
STRIP = {"x86_64": "strip", "x86_64-static": "strip", "aarch64": "aarch64-linux-gnu-strip",
         "armhf": "arm-linux-gnueabihf-strip"}
LABEL = {"x86_64": "x86_64 (CMake, Embedded)", "x86_64-static": "x86_64 static PIE (CMake, Embedded)",
         "aarch64": "aarch64 (CMake, Embedded)", "armhf": "armhf (CMake, Embedded, Thumb-2)",
         "swiftpm-embedded": "x86_64 (SwiftPM Embedded, Debian's shared mbedTLS)"}
SWIFTPM_EMBEDDED = ROOT / ".build-embedded" / "release" / "scep-agent"

# The budgets of issue 17, enforced by Tests/integration/test_firmware.py.
# Stripped bytes: under 1 MiB on every board, with room for the code still to come.
SIZE_BUDGET = {"aarch64": 900_000, "armhf": 1_000_000}
# "Nothing but libc": the C library and the dynamic loader that comes with it.
LIBC_ONLY = {"libc.so.6", "ld-linux-aarch64.so.1", "ld-linux-armhf.so.3", "ld-linux-x86-64.so.2"}
# Resident memory of the x86_64 firmware build, KiB: peak of one enrollment; the daemon idle after enrolling.
ENROLL_RSS_BUDGET_KIB = 2.5 * 1024
IDLE_RSS_BUDGET_KIB = 2.0 * 1024


def run(*argv):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True)


def needed(path):
    out = run("readelf", "-d", path).stdout
    libs = [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]
    if not out.strip() or "no dynamic section" in out:
        return "(static)"
    return ", ".join(libs) if libs else "(none)"


def stripped_size(arch, binary):
    stripped = binary.with_name("scep-agent.stripped")
    if not stripped.exists() or stripped.stat().st_mtime < binary.stat().st_mtime:
        if run(STRIP[arch], "-o", stripped, binary).returncode != 0:
            return None
    return stripped.stat().st_size


def enrollment_rss(runs, binaries):
    """{client: median peak RSS in KiB} for scepclient and the x86_64 firmware binaries ({name: path})."""
    clients = []
    for name, binary in binaries.items():
        template = (f"{binary} enroll --quiet --url {{url}} --ca-fingerprint {{fingerprint}} --subject CN={{cn}} "
                    f"--challenge {{challenge}} --key {{key}} --existing-key --cert {{cert}}")
        clients += ["--client", f"{name}={template}"]
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "rss.json")
        result = subprocess.run([sys.executable, str(HERE / "scepclient_baseline.py"), "-n", str(runs),
                                 *clients, "--json", out], capture_output=True, text=True)
        if not os.path.exists(out):
            print(f"warning: the enrollment benchmark failed:\n{result.stdout}\n{result.stderr}", file=sys.stderr)
            return {}
        summary = json.load(open(out))["summary"]
    return {row["client"]: row["rss_mb"] * 1024 for row in summary if row.get("ok")}


def kib(n):
    return f"{n / 1024:.0f} KiB" if n is not None else "-"


def mib(n_kib):
    return f"{n_kib / 1024:.2f} MiB" if n_kib is not None else "-"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="enrollments per client for the RSS median (default 5)")
    a = ap.parse_args(argv)

    binaries = {arch: ROOT / f"build-{arch}" / "scep-agent" for arch in ARCHES}
    if SWIFTPM_EMBEDDED.exists():
        binaries["swiftpm-embedded"] = SWIFTPM_EMBEDDED
    built = {arch: path for arch, path in binaries.items() if path.exists()}
    native = {arch: path for arch, path in built.items() if arch.startswith("x86_64") or arch == "swiftpm-embedded"}
    rss = enrollment_rss(a.runs, native)
    idle = {arch: idle_daemon_rss_kib(str(path)) for arch, path in native.items() if arch != "x86_64-static"}

    print("## Footprint\n")
    print("| binary | stripped size | needed shared libraries | peak RSS, one enrollment | idle daemon RSS |")
    print("| --- | ---: | --- | ---: | ---: |")
    sizes = {}
    for arch in [*ARCHES, "swiftpm-embedded"]:
        if arch not in built:
            print(f"| scep-agent {LABEL[arch]} | not built | - | - | - |")
            continue
        sizes[arch] = stripped_size(arch, built[arch]) if arch in STRIP else built[arch].stat().st_size
        print(f"| scep-agent {LABEL[arch]} | {sizes[arch]:,} B ({kib(sizes[arch])}) | {needed(built[arch])} | "
              f"{mib(rss.get(arch))} | {mib(idle.get(arch))} |")
    scepclient = pathlib.Path("/usr/bin/scepclient")
    if scepclient.exists():
        size = scepclient.stat().st_size
        print(f"| Debian scepclient x86_64 (Go, as packaged) | {size:,} B ({kib(size)}) | {needed(scepclient)} | "
              f"{mib(rss.get('scepclient'))} | - |")
    print()
    for arch, budget in SIZE_BUDGET.items():
        if arch in sizes:
            verdict = "met" if sizes[arch] <= budget else "MISSED"
            libs = {lib.strip() for lib in needed(built[arch]).split(",")}
            libc = "libc only" if libs <= LIBC_ONLY else "needs more than libc: MISSED"
            print(f"- Goal {arch} stripped <= {budget:,} B: {verdict} ({sizes[arch]:,} B, {budget - sizes[arch]:,} B left); {libc}.")
    if "x86_64" in rss:
        verdict = "met" if rss["x86_64"] <= ENROLL_RSS_BUDGET_KIB else "MISSED"
        print(f"- Goal x86_64 firmware, peak RSS of one enrollment <= 2.5 MiB: {verdict} ({rss['x86_64']:.0f} KiB, median of {a.runs}).")
    if idle.get("x86_64"):
        verdict = "met" if idle["x86_64"] <= IDLE_RSS_BUDGET_KIB else "MISSED"
        print(f"- Goal x86_64 firmware, idle daemon RSS <= 2.0 MiB: {verdict} ({idle['x86_64']} KiB).")
    print("\nPeak RSS counts the file pages the kernel maps around each fault (fault-around, 64 KB), so a shared "
          "libc.so.6 contributes most of its text during an enrollment; a static PIE carries only the libc code it "
          "calls. Before it sleeps the daemon drops its mappings of unmodified file pages and trims the heap "
          "(Sources/SystemSupport/IdleMemory_posix.swift).")
    print()

    print("### What the bytes are (linker map, file-backed sections)\n")
    print("| binary | Swift (product + Embedded stdlib) | mbedTLS | made by the linker | Unicode tables | other | total |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for arch in ARCHES:
        mapfile = ROOT / f"build-{arch}" / "scep-agent.map"
        if arch not in built or not mapfile.exists():
            continue
        groups, _libraries, _members = linkmap.attribute(mapfile)
        total = sum(groups.values())
        named = [linkmap.SWIFT, linkmap.MBEDTLS, linkmap.LINKER, linkmap.UNICODE]
        cells = [f"{groups.get(group, 0):,} ({100 * groups.get(group, 0) / total:.0f}%)" for group in named]
        other = total - sum(groups.get(group, 0) for group in named)
        print(f"| {arch} | {' | '.join(cells)} | {other:,} | {total:,} |")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
