#!/usr/bin/env bash
# long.sh ROOT - the nightly mode of scripts/test.sh (KVP_LONG=1):
#   1. every libFuzzer target (control frames, tensor header + TP planner,
#      config) for KVP_LONG_RUNS execs each (default 1e7), ASan+UBSan;
#   2. the network fuzzer (netfuzz.c) against a live ASan+UBSan
#      kvplug-server: KVP_NETFUZZ_ROUNDS mutated sessions (default 200000);
#      the server must keep answering and log no sanitizer report.
# Inputs a fuzzer finds go to build-fuzz/long-corpus-<target>/, never into
# the source tree.
set -u
root=$(cd "${1:?usage: long.sh ROOT}" && pwd)
RUNS=${KVP_LONG_RUNS:-10000000}
ROUNDS=${KVP_NETFUZZ_ROUNDS:-200000}
fails=0
CC=clang CXX=clang++ "$root/scripts/build.sh" "$root/build-fuzz" \
    -DKVP_FUZZ=ON -DKVP_BUILD_TESTS=ON || exit 1
for t in proto tensor_hdr config; do
    bin="$root/build-fuzz/bin/fuzz_$t"
    corpus="$root/build-fuzz/long-corpus-$t"
    mkdir -p "$corpus"
    seeds="$root/tests/fuzz/corpus/$t"
    [ -d "$seeds" ] || seeds=""
    t0=$SECONDS
    if "$bin" -runs="$RUNS" -seed=1 -print_final_stats=1 "$corpus" $seeds \
        >"$root/build-fuzz/long-$t.log" 2>&1; then
        echo "long: fuzz_$t: $RUNS execs in $((SECONDS - t0)) s: ok"
    else
        tail -40 "$root/build-fuzz/long-$t.log"
        echo "long: fuzz_$t FAILED (log build-fuzz/long-$t.log)"
        fails=$((fails + 1))
    fi
done

"$root/scripts/build.sh" "$root/build-asan" -DKVP_SANITIZE=address,undefined \
    -DCMAKE_BUILD_TYPE=Debug || exit 1
export UCX_MEM_MMAP_HOOK_MODE=none UCX_MEM_MALLOC_HOOKS=no UCX_MEM_EVENTS=no
tmp=$(mktemp -d)
"$root/build-asan/bin/kvplug-server" --listen 127.0.0.1:0 --pool-size 64MiB \
    >"$tmp/srv.out" 2>"$tmp/srv.err" &
srv=$!
for _ in $(seq 600); do
    grep -q "listening on" "$tmp/srv.out" && break
    kill -0 "$srv" 2>/dev/null || break
    sleep 0.1
done
port=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$tmp/srv.out")
t0=$SECONDS
if [ -n "$port" ] &&
    "$root/build-asan/bin/netfuzz" 127.0.0.1 "$port" "$ROUNDS" 1; then
    echo "long: netfuzz: $ROUNDS sessions in $((SECONDS - t0)) s: ok"
else
    echo "long: netfuzz FAILED"
    fails=$((fails + 1))
fi
kill "$srv" 2>/dev/null
wait "$srv"
rc=$?
if [ $rc -ne 0 ] || grep -Eq "Sanitizer|runtime error:" "$tmp/srv.err"; then
    tail -60 "$tmp/srv.err"
    echo "long: the fuzzed server exited $rc or reported an error"
    fails=$((fails + 1))
fi
rm -rf "$tmp"
[ $fails -eq 0 ]
