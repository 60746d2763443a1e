#!/usr/bin/env bash
# run.sh [--quick] [--build DIR] OUTDIR [kvplug-bench options...]
#
# Runs the whole comparison (memcpy, kvplug embedded + kvplug-server,
# TP zero-copy vs copy-then-put, raw UCX, Redis) in one kvplug-bench run
# and writes results.csv, table.md and throughput.png into OUTDIR.
# Builds a Release tree in DIR (default: build-bench next to this repo's
# top) if kvplug-bench is not there yet. --quick finishes in about a
# minute; the full run takes several minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench
args=()
out=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) args+=(--quick); shift ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) if [ -z "$out" ]; then out=$1; else args+=("$1"); fi; shift ;;
    esac
done
[ -n "$out" ] || { echo "usage: $0 [--quick] [--build DIR] OUTDIR" >&2; exit 2; }
if [ ! -x "$build/bin/kvplug-bench" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j2 --target kvplug-bench >/dev/null
mkdir -p "$out"
# perf/callgrind are separate (docs/performance.md); this is the timed run.
"$build/bin/kvplug-bench" --out "$out" \
    --plugin "$build/lib/libkvplug.so" "${args[@]}"
echo "wrote $out/results.csv $out/table.md $(ls "$out"/throughput.* 2>/dev/null | tr '\n' ' ')"
