#!/bin/bash
# Runs the conformance suite against a separate kvplug-server process:
# starts SERVER on 127.0.0.1 with an ephemeral port (--listen 127.0.0.1:0,
# so no free-port race), waits (bounded) for its "listening on HOST:PORT"
# line, runs SUITE with --config "servers=127.0.0.1:PORT;CONFIG", stops the
# server. Exit 77 (ctest SKIP) only when the server binary does not exist.
# KVP_EXPECT_CARRIER=rings|tcp: also check in the server's log that every
# connection moved onto the same-host rings (rings) or none did (tcp).
# Usage: run_with_server.sh SERVER SUITE PLUGIN CONFIG [suite args...]
set -u
server=$1 suite=$2 plugin=$3 config=$4
shift 4
config=${config//\\;/;} # ctest keeps the backslash of a CMake "\\;"
if [ ! -x "$server" ]; then
    echo "SKIP: no kvplug-server at $server" >&2
    exit 77
fi
log=$(mktemp)
"$server" --listen 127.0.0.1:0 --pool-size 256MiB --transports ucx \
    --log-level info >"$log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$log"
}
trap cleanup EXIT

port=
for _ in $(seq 1 300); do # up to 30 s
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
        "$log" | head -n1)
    [ -n "$port" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        cat "$log" >&2
        echo "FAIL: kvplug-server exited before listening" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$port" ]; then
    cat "$log" >&2
    echo "FAIL: kvplug-server printed no listening line within 30 s" >&2
    exit 1
fi
echo "# kvplug-server pid $pid listening on 127.0.0.1:$port"
"$suite" --plugin "$plugin" --config "servers=127.0.0.1:$port;$config" "$@"
rc=$?
if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" >&2
    echo "FAIL: kvplug-server died during the suite" >&2
    rc=1
fi
rings=$(grep -c 'on same-host rings' "$log")
conns=$(grep -c ') connected, transport' "$log")
echo "# $conns connection(s), $rings on the same-host rings"
case "${KVP_EXPECT_CARRIER:-}" in
rings) [ "$rings" -gt 0 ] && [ "$rings" -eq "$conns" ] ||
    { echo "FAIL: expected every connection on the rings" >&2; rc=1; } ;;
tcp) [ "$rings" -eq 0 ] && [ "$conns" -gt 0 ] ||
    { echo "FAIL: expected connections over TCP only" >&2; rc=1; } ;;
esac
exit $rc
