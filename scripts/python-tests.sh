#!/usr/bin/env bash
# python-tests.sh PLUGIN [SERVER] [VENV_DIR] - the kvplug Python package's
# tests as a user gets it: a fresh venv made with --system-site-packages
# (numpy, torch, pytest, setuptools come from Debian), an offline
# `pip install --no-index --no-build-isolation ./python`, then pytest on
# python/tests against PLUGIN (libkvplug.so) and SERVER (kvplug-server).
# KVP_PYTHON picks the interpreter (default: Debian's /usr/bin/python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
plugin=${1:?usage: python-tests.sh PLUGIN [SERVER] [VENV_DIR]}
server=${2:-$(dirname "$(dirname "$plugin")")/bin/kvplug-server}
venv=${3:-$(dirname "$(dirname "$plugin")")/python-venv}
py=${KVP_PYTHON:-/usr/bin/python3}
[ -x "$py" ] || py=python3
rm -rf "$venv"
"$py" -m venv --system-site-packages "$venv"
# Build in a scratch copy: the source tree stays clean and concurrent runs
# do not share setuptools' build/ folder.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cp -r "$root/python/." "$src/"
rm -rf "$src/build" "$src"/*.egg-info
"$venv/bin/pip" install --no-index --no-build-isolation --quiet "$src"
cd "$venv"  # import the installed package, never the source folder
"$venv/bin/python" -c 'import kvplug, sys
assert "site-packages" in kvplug.__file__, kvplug.__file__
print("kvplug", kvplug.__version__, "installed at", kvplug.__file__)'
KVPLUG_PLUGIN=$plugin KVPLUG_SERVER=$server \
KVPLUG_ABI_INCLUDE=$root/abi/include \
    exec "$venv/bin/python" -m pytest -p no:cacheprovider -q -rs \
    "$root/python/tests"
