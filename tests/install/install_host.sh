#!/usr/bin/env bash
# install_host.sh BUILD_DIR SOURCE_DIR LIBDIR - the installed package works
# for a C host built OUTSIDE the tree (docs/install.md):
#   1. cmake --install BUILD_DIR into a fresh temporary prefix;
#   2. copy examples/minimal_host.c and examples/out_of_tree/CMakeLists.txt
#      to a fresh directory and build it twice against that prefix only:
#      with find_package(kvplug) (kvplug::loader) and with pkg-config;
#   3. run both against the INSTALLED plugin, which must load its installed
#      UCX module from <prefix>/LIBDIR/kvplug/ (the plugin's debug line
#      names the path it loaded), and put/get a plain object.
# Prints "install_host: PASSED" only if every step held.
set -euo pipefail
build=$(realpath "$1") src=$(realpath "$2") libdir=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvplug-install.XXXXXX")
tmp=$(realpath "$tmp")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix host=$tmp/host
die() { echo "install_host: FAILED: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
    { cat "$tmp/install.log"; die "cmake --install $build"; }
for f in "$libdir/libkvplug.so" "$libdir/libkvp_loader.a" \
         "$libdir/kvplug/libkvplug_ucx.so" "$libdir/pkgconfig/kvplug.pc" \
         "$libdir/cmake/kvplug/kvplugConfig.cmake" \
         include/kvplug/abi.h include/kvplug/kvp_loader.h; do
    [ -e "$prefix/$f" ] || die "the install lacks $f (see $tmp/install.log)"
done
[ ! -e "$prefix/$libdir/libkvplug_ucx.so" ] ||
    die "libkvplug_ucx.so installed into $libdir/, expected $libdir/kvplug/"

mkdir -p "$host"
cp "$src/examples/minimal_host.c" "$src/examples/out_of_tree/CMakeLists.txt" \
    "$host/"

# (a) find_package: only the temporary prefix is searched.
cmake -S "$host" -B "$host/build-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DKVP_HOST_SOURCE="$host/minimal_host.c" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; die "configuring the find_package host"; }
grep -q "kvplug_DIR=$prefix/" "$tmp/cmake.log" ||
    { cat "$tmp/cmake.log"; die "find_package(kvplug) found another kvplug"; }
plugin=$(sed -n 's/.*kvplug_PLUGIN=//p' "$tmp/cmake.log")
[ "$(realpath "$plugin")" = "$prefix/$libdir/libkvplug.so" ] ||
    die "kvplug_PLUGIN is '$plugin', not the installed plugin"
cmake --build "$host/build-cmake" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; die "building the find_package host"; }

# (b) pkg-config: the same source, one compiler line.
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
pc_plugin=$(pkg-config --variable=plugin kvplug) ||
    die "pkg-config does not know kvplug"
[ "$(realpath "$pc_plugin")" = "$prefix/$libdir/libkvplug.so" ] ||
    die "pkg-config's plugin is '$pc_plugin', not the installed plugin"
# shellcheck disable=SC2046 # the flags are words
cc -std=c11 -Wall -Wextra -Werror -o "$host/minimal_host_pc" \
    "$host/minimal_host.c" $(pkg-config --cflags --libs kvplug) ||
    die "building with pkg-config --cflags --libs kvplug"

run() { # run NAME BINARY: put/get against the installed plugin
    local out=$tmp/$1.out
    env -u KVPLUG_MODULE_DIR -u KVPLUG_TRANSPORT_DIR -u KVPLUG_PLUGIN \
        KVPLUG_CONFIG="transport=ucx;log_level=debug" \
        "$2" "$plugin" >"$out" 2>&1 ||
        { cat "$out"; die "$1 host exited non-zero"; }
    grep -q "minimal_host: PASSED" "$out" ||
        { cat "$out"; die "$1 host did not pass"; }
    grep -q "loaded from $prefix/$libdir/kvplug/libkvplug_ucx.so" "$out" ||
        { cat "$out"; die "$1 host: the plugin did not load the installed" \
              "UCX module $prefix/$libdir/kvplug/libkvplug_ucx.so"; }
    echo "install_host: $1 host: put/get against $plugin: ok"
}
run find_package "$host/build-cmake/minimal_host"
run pkg-config "$host/minimal_host_pc"
echo "install_host: PASSED"
