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
# The modules, bottom up, from Package.swift's moduleGraph (the one place they are written; see there):
# "kind name imports...", one line each.
graph=$(awk '/^let moduleGraph = """$/ { inside = 1; next } inside && /^ *"""$/ { exit } inside' "$root/Package.swift")
[ -n "$graph" ] || { echo "no moduleGraph lines in $root/Package.swift" >&2; exit 1; }
lib() { # module-name, source files...
    name=$1; shift
    swiftc -emit-module -emit-library -static -parse-as-library -module-name "$name" $san $opt \
        -I . -Xcc -fmodule-map-file="$out/module.modulemap" -suppress-warnings \
        "$@" -o "lib$name.a" -emit-module-path "$name.swiftmodule"
}
: > module.modulemap
libraries="" # -l options, top down: a static library before the ones it needs
while read -r kind name imports; do
    case $kind in
        c) # SwiftPM synthesises the module map from include/NAME.h; do the same here.
            printf 'module %s { umbrella header "%s"\n    export * }\n' \
                "$name" "$root/Sources/$name/include/$name.h" >> module.modulemap
            rm -f "lib$name.a"
            for source in "$root/Sources/$name"/*.c; do
                clang -c -O1 -fsanitize=fuzzer-no-link,address -I "$root/Sources/$name/include" \
                    "$source" -o "$name-$(basename "$source" .c).o"
                ar rcs "lib$name.a" "$name-$(basename "$source" .c).o"
            done ;;
        library) lib "$name" "$root/Sources/$name"/*.swift ;;
        executable) continue ;; # main.swift, the fuzz driver, takes the executable's place
        *) echo "Package.swift moduleGraph: unknown kind '$kind' for $name" >&2; exit 1 ;;
    esac
    libraries="-l$name $libraries"
done <<GRAPH
$graph
GRAPH
swiftc $san $opt -parse-as-library -module-name ScepFuzz -I . -Xcc -fmodule-map-file="$out/module.modulemap" \
    "$here/main.swift" -L . $libraries \
    -lmbedtls -lmbedx509 -lmbedcrypto -ldl -o scep-fuzz 2>link.log || { cat link.log >&2; exit 1; }
# gold warns once per ASan helper symbol ("Cannot export local symbol"); show anything else.
grep -v "Cannot export local symbol" link.log >&2 || true
echo "built $out/scep-fuzz"
