#!/usr/bin/env bash
# demo.sh - the main job: install deps, build, run the demo host on the
# embedded default (in-process server, UCX).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
"$root/scripts/build.sh" "$root/build" >/dev/null
exec "$root/build/bin/kvplug-demo" "$@"
