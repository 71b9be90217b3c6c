#!/usr/bin/env python3
"""Attributes a linked binary's bytes to their inputs from a GNU ld or lld map (-Wl,-Map=...).

    python3 Benchmarks/linkmap.py build-aarch64/scep-agent.map [--members]

Counts input sections placed in allocated, file-backed output sections (text, read-only data, data,
unwind tables, init arrays, GOT); .bss and debug sections are left out. Groups: mbedTLS (per library and,
with --members, per object), Swift product modules, the Embedded stdlib's Unicode tables, the C shim,
and the C library and runtime (libc.a in a static build, crt files, libc_nonshared, libgcc)."""
import collections
import os
import re
import sys

FILE_BACKED = re.compile(r"^\.(text|rodata|data|data\.rel\.ro|eh_frame|eh_frame_hdr|init_array|fini_array|got|got\.plt|"
                         r"gcc_except_table|init|fini|plt|swift_modhash|tbss|tdata|sdata|ARM\.exidx|ARM\.extab)\b")
ENTRY = re.compile(r"^\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")


LLD_ROW = re.compile(r"^\s*[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (\s*)(\S.*)$")


def parse_lld(lines):
    """lld's map: an output section row, then its input rows (`file:(section)`) indented further."""
    rows = []
    output = None
    for line in lines[1:]:
        m = LLD_ROW.match(line)
        if not m:
            continue
        size, indent, name = int(m.group(1), 16), len(m.group(2)), m.group(3)
        if indent == 0:
            output = name
        elif indent == 8 and name.endswith(")") and ":(" in name:
            input_file, _, section = name[:-1].rpartition(":(")
            rows.append((output, section, size, input_file))
    return rows


def parse(path):
    """[(output section, input section, size, input file)]"""
    rows = []
    with open(path, errors="replace") as f:
        lines = f.read().splitlines()
    if lines and lines[0].split()[:3] == ["VMA", "LMA", "Size"]:
        return [row for row in parse_lld(lines) if row[0] and FILE_BACKED.match(row[0])]
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("Linker script and memory map"))
    except StopIteration:
        start = 0
    output = None
    pending = None
    for line in lines[start:]:
        if line and not line[0].isspace():
            output = line.split()[0]
            pending = None
            continue
        stripped = line.strip()
        if not stripped:
            continue
        parts = stripped.split()
        if len(parts) >= 4 and parts[0].startswith(".") and parts[1].startswith("0x") and parts[2].startswith("0x"):
            rows.append((output, parts[0], int(parts[2], 16), " ".join(parts[3:])))
            pending = None
        elif len(parts) == 1 and parts[0].startswith("."):
            pending = parts[0]
        elif pending and (m := ENTRY.match(line)):
            rows.append((output, pending, int(m.group(2), 16), m.group(3)))
            pending = None
        else:
            pending = None
    return [row for row in rows if row[0] and FILE_BACKED.match(row[0])]


MBEDTLS = "mbedTLS"
UNICODE = "Swift Unicode tables"
LINKER = "made by the linker (dynamic symbols, relocations, GOT)"
SWIFT = "Swift (product + Embedded stdlib)"


def group_of(input_file):
    name = os.path.basename(input_file)
    archive, _, member = name.partition("(")
    member = member.rstrip(")")
    if archive.startswith("libmbed") or archive == "libscep_mbedtls.a":
        return MBEDTLS, archive.split(".")[0], member
    if archive.startswith("libswiftUnicodeDataTables"):
        return UNICODE, archive, member
    if archive == "libCSCEPShim.a":
        return "C shim", archive, member
    if archive == "<internal>":
        return LINKER, archive, member
    if archive.endswith(".swift.o") or (archive.startswith("lib") and archive[3:-2] in SWIFT_MODULES):
        return SWIFT, archive, member
    return "C library and runtime (libc when static, crt, libgcc)", archive, member


SWIFT_MODULES = set()


def attribute(path):
    sources = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources")
    SWIFT_MODULES.update(entry for entry in os.listdir(sources)) if os.path.isdir(sources) else None
    groups = collections.Counter()
    libraries = collections.Counter()
    members = collections.Counter()
    for _output, _section, size, input_file in parse(path):
        group, archive, member = group_of(input_file)
        groups[group] += size
        libraries[(group, archive)] += size
        if group == MBEDTLS:
            members[(archive, member)] += size
    return groups, libraries, members


def main(argv):
    path = argv[1]
    groups, libraries, members = attribute(path)
    total = sum(groups.values())
    print(f"| part | bytes | share |\n| --- | ---: | ---: |")
    for group, size in groups.most_common():
        print(f"| {group} | {size} | {100 * size / total:.0f}% |")
    print(f"| total (file-backed sections) | {total} | 100% |")
    if "--members" in argv:
        print()
        print("| mbedTLS object | bytes |\n| --- | ---: |")
        for (archive, member), size in members.most_common():
            print(f"| {archive}({member}) | {size} |")


if __name__ == "__main__":
    main(sys.argv)
