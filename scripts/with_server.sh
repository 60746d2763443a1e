#!/bin/bash
# with_server.sh SERVER CARRIER CONFIG CMD [ARGS...] - runs CMD against a
# separate kvplug-server process on this host: starts SERVER on
# 127.0.0.1:0 (bounded wait for its "listening on" line), exports
# KVP_SERVER_CONFIG="servers=127.0.0.1:PORT;CONFIG" (and ITEST_CONFIG, the
# itests' engine config, the same; ITEST_POOL_BYTES, the server's pool
# size), runs CMD, stops the server. CARRIER
# says how the clients' control frames must have travelled, checked in the
# server's log: "rings" (every connection moved onto the same-host rings),
# "tcp" (none did) or "any". Exit 77 (ctest SKIP) when SERVER does not
# exist. Used by tests/integration and conformance/scripts.
set -u
server=$1 carrier=$2 config=$3
shift 3
if [ ! -x "$server" ]; then
    echo "SKIP: no kvplug-server at $server" >&2
    exit 77
fi
config=${config//\\;/;} # ctest keeps the backslash of a CMake "\\;"
log=$(mktemp)
pool_bytes=$((256 << 20))
"$server" --listen 127.0.0.1:0 --pool-size "$pool_bytes" --transports ucx \
    --log-level info >"$log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$log"
}
trap cleanup EXIT
port=
for _ in $(seq 1 600); do # up to 60 s (sanitized builds start slowly)
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
        "$log" | head -n1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "FAIL: server exited"; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { cat "$log" >&2; echo "FAIL: no listening line in 60 s"; exit 1; }
echo "# kvplug-server pid $pid on 127.0.0.1:$port, expecting carrier $carrier"
export KVP_SERVER_CONFIG="servers=127.0.0.1:$port;$config"
export ITEST_CONFIG=$KVP_SERVER_CONFIG
export ITEST_POOL_BYTES=$pool_bytes
"$@"
rc=$?
if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    echo "FAIL: kvplug-server died during the run"
    rc=1
fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
# The server's output is kept whole and scanned: a sanitized server's
# report fails the run even when every client call succeeded.
if grep -Eq "ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:" \
    "$log"; then
    cat "$log" >&2
    echo "FAIL: sanitizer report in kvplug-server's output"
    rc=1
fi
rings=$(grep -c 'on same-host rings' "$log")
conns=$(grep -c ') connected, transport' "$log")
echo "# $conns connection(s), $rings on the same-host rings"
case "$carrier" in
rings) [ "$rings" -gt 0 ] && [ "$rings" -eq "$conns" ] ||
    { echo "FAIL: expected every connection on the rings"; rc=1; } ;;
tcp) [ "$rings" -eq 0 ] && [ "$conns" -gt 0 ] ||
    { echo "FAIL: expected connections over TCP only"; rc=1; } ;;
esac
exit $rc
