#!/bin/sh
# Regenerates the tensor header vectors and compares them with the committed
# copies: a generator change that is not committed (or a hand-edited vector)
# fails here. Usage: vectors_up_to_date.sh GENERATOR COMMITTED_DIR FRESH_DIR
set -eu
gen=$1 committed=$2 fresh=$3
rm -rf "$fresh"
mkdir -p "$fresh"
"$gen" "$fresh"
# only the generated files: the generator source lives next to them
for f in "$fresh"/*; do
    name=$(basename "$f")
    if ! cmp -s "$f" "$committed/$name"; then
        echo "vector $name differs from $committed/$name:" \
             "rerun $gen $committed and commit" >&2
        exit 1
    fi
done
for f in "$committed"/*.bin; do
    name=$(basename "$f")
    if [ ! -e "$fresh/$name" ]; then
        echo "stale vector $committed/$name: the generator no longer" \
             "writes it" >&2
        exit 1
    fi
done
n=$(ls "$fresh" | wc -l)
echo "all $n vector files match the generator"
