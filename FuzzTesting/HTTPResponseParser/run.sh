#!/bin/sh
# Builds the HTTPResponseParser fuzzer with -sanitize=fuzzer,address and runs it (default 60 s).
# Crash inputs land in FuzzTesting/HTTPResponseParser/; keep them as regression cases in the tests.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
swiftc -emit-module -emit-library -static -module-name DER -parse-as-library "$root"/Sources/DER/*.swift \
    -sanitize=fuzzer,address -o libDER.a -emit-module-path DER.swiftmodule 2>/dev/null
swiftc -sanitize=fuzzer,address -parse-as-library -I . -L . -lDER "$here/main.swift" \
    "$root/Sources/SCEPClient/HTTPResponseParser.swift" "$root/Sources/SCEPClient/Transport.swift" \
    "$root/Sources/SCEPClient/URL.swift" -o fuzz-http 2>/dev/null
mkdir -p corpus
cp "$here"/seeds/* corpus/
cd "$here"
"$work/fuzz-http" -max_total_time="${1:-60}" -max_len=4096 "$work/corpus"
