#!/usr/bin/env bash
# Layout figures (issue 15): how far system calls, the key backend and repeated code have spread.
# Prints, for the tree it runs in:
#   - the Swift files that import CSCEPShim, by module;
#   - branches on the key kind outside KeyLocation.swift (a key path tested for pkcs11:, or a key
#     downcast to a backend's type);
#   - lines of Sources/SCEPAgent/OneShot.swift;
#   - the pairs `duplicates` reports for the whole tree.
#   Benchmarks/layout.sh
set -euo pipefail
cd "$(dirname "$0")/.."
shim=$(grep -rlE '^(@_implementationOnly |internal |package )?import CSCEPShim' Sources --include='*.swift' | sort)
echo "files importing CSCEPShim: $(printf '%s\n' "$shim" | grep -c . || true)"
printf '%s\n' "$shim" | awk -F/ 'NF { count[$2]++ } END { for (m in count) printf "  %-14s %d\n", m, count[m] }' | sort
kind='keyIsToken|\bisToken\b|PKCS11URI\.isPKCS11|hasPrefix\("pkcs11:"\)|as\? *(SoftwarePrivateKey|PKCS11PrivateKey)|is (SoftwarePrivateKey|PKCS11PrivateKey)|kind == \.(file|pkcs11)'
branches=$(grep -rnE "$kind" Sources --include='*.swift' | grep -vE '^Sources/(SCEPAgent/KeyLocation\.swift|SCEPPKCS11/PKCS11URI\.swift):' || true)
echo "key-kind branches outside KeyLocation: $(printf '%s\n' "$branches" | grep -c . || true)"
printf '%s\n' "$branches" | sed -n 's/^\([^:]*:[0-9]*\):.*/  \1/p'
echo "lines of OneShot.swift: $(wc -l < Sources/SCEPAgent/OneShot.swift)"
if command -v duplicates >/dev/null; then
    echo "duplicates: $(duplicates --seconds 120 | head -1)"
fi
