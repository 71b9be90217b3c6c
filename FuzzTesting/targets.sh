# Reads FuzzTesting/targets for run.sh and ci.sh, which source this file after setting $here
# (FuzzTesting/) and $root (the repository).

fuzz_table() {
    grep -v -e '^#' -e '^[[:space:]]*$' "$here/targets"
}

# The target names, in the table's order.
fuzz_targets() {
    fuzz_table | awk '{ print $1 }'
}

# libFuzzer's -max_len for target $1; empty for an unknown target.
fuzz_max_len() {
    fuzz_table | awk -v target="$1" '$1 == target { print $2 }'
}

# Assembles the seeds of target $1 afresh into .build-fuzz/seeds/$1 and prints that directory: the
# files the table references (named after their paths, as boards/*/scep-agent.conf share a name) and
# those in FuzzTesting/seeds/$1/. A pattern that matches nothing is an error, so a moved fixture does
# not silently shrink the corpus.
fuzz_seeds() {
    seeds="$root/.build-fuzz/seeds/$1"
    rm -rf "$seeds"
    mkdir -p "$seeds"
    patterns=$(fuzz_table | awk -v target="$1" '$1 == target { $1 = ""; $2 = ""; print }')
    (
        cd "$root"
        for path in $patterns; do
            [ -f "$path" ] || { echo "FuzzTesting/targets: seed '$path' of target $1 matches no file" >&2; exit 1; }
            cp "$path" "$seeds/$(echo "$path" | tr / -)"
        done
    )
    if [ -d "$here/seeds/$1" ]; then
        cp "$here/seeds/$1"/* "$seeds/"
    fi
    echo "$seeds"
}
