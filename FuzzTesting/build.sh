#!/bin/sh
# Builds the one libFuzzer binary holding every fuzz target (-sanitize=fuzzer,address) into
# .build-fuzz/scep-fuzz. The product modules are built as static libraries from Sources/, unchanged.
# Usage: FuzzTesting/build.sh        (then FuzzTesting/run.sh TARGET or FuzzTesting/ci.sh)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out="$root/.build-fuzz"
mkdir -p "$out"
cd "$out"
san="-sanitize=fuzzer,address"
opt="-O"
# CSCEPShim: SwiftPM synthesises its module map from include/CSCEPShim.h; do the same here.
cat > module.modulemap <<MAP
module CSCEPShim { umbrella header "$root/Sources/CSCEPShim/include/CSCEPShim.h"
    export * }
MAP
clang -c -O1 -fsanitize=fuzzer-no-link,address -I "$root/Sources/CSCEPShim/include" \
    "$root/Sources/CSCEPShim/shim.c" -o shim.o
lib() { # module-name, source files...
    name=$1; shift
    swiftc -emit-module -emit-library -static -parse-as-library -module-name "$name" $san $opt \
        -I . -Xcc -fmodule-map-file="$out/module.modulemap" -suppress-warnings \
        "$@" -o "lib$name.a" -emit-module-path "$name.swiftmodule"
}
lib SystemSupport "$root"/Sources/SystemSupport/*.swift
lib DER "$root"/Sources/DER/*.swift
lib SCEPCrypto "$root"/Sources/SCEPCrypto/*.swift
lib SCEPMessages "$root"/Sources/SCEPMessages/*.swift
lib SCEPClient "$root"/Sources/SCEPClient/*.swift
lib SCEPPKCS11 "$root"/Sources/SCEPPKCS11/*.swift
lib SCEPAgent "$root"/Sources/SCEPAgent/*.swift
swiftc $san $opt -parse-as-library -module-name ScepFuzz -I . -Xcc -fmodule-map-file="$out/module.modulemap" \
    "$here/main.swift" shim.o -L . -lSCEPAgent -lSCEPPKCS11 -lSCEPClient -lSCEPMessages -lSCEPCrypto -lDER -lSystemSupport \
    -lmbedtls -lmbedx509 -lmbedcrypto -ldl -o scep-fuzz 2>link.log || { cat link.log >&2; exit 1; }
# gold warns once per ASan helper symbol ("Cannot export local symbol"); show anything else.
grep -v "Cannot export local symbol" link.log >&2 || true
echo "built $out/scep-fuzz"
