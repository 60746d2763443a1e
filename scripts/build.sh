#!/usr/bin/env bash
# build.sh [BUILD_DIR] [cmake args...] - configure and build (warnings are
# errors). Default build dir: build/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}
shift || true
cmake -S "$root" -B "$dir" -DKVP_WERROR=ON "$@" >"$dir.cmake.log" 2>&1 ||
    { cat "$dir.cmake.log"; exit 1; }
grep -A8 'kvplug .* summary' "$dir.cmake.log" || true
cmake --build "$dir" -j"$(nproc)"
