#!/bin/bash
# Runs the conformance suite against a separate kvplug-server process:
# starts SERVER on 127.0.0.1 with an ephemeral port (--listen 127.0.0.1:0,
# so no free-port race), waits (bounded) for its "listening on HOST:PORT"
# line, runs SUITE with --config "servers=127.0.0.1:PORT;CONFIG", stops the
# server. Exit 77 (ctest SKIP) only when the server binary does not exist.
# Usage: run_with_server.sh SERVER SUITE PLUGIN CONFIG [suite args...]
set -u
server=$1 suite=$2 plugin=$3 config=$4
shift 4
if [ ! -x "$server" ]; then
    echo "SKIP: no kvplug-server at $server" >&2
    exit 77
fi
# One fresh file for this one server: its readiness line can only be its
# own. stderr is kept apart and scanned for sanitizer reports at the end.
log=$(mktemp)
err=$(mktemp)
"$server" --listen 127.0.0.1:0 --pool-size 256MiB --transports ucx \
    >"$log" 2>"$err" &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$log" "$err"
}
trap cleanup EXIT

port=
for _ in $(seq 1 600); do # up to 60 s (sanitized builds start slowly)
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
        "$log" | head -n1)
    [ -n "$port" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        cat "$log" "$err" >&2
        echo "FAIL: kvplug-server exited before listening" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$port" ]; then
    cat "$log" "$err" >&2
    echo "FAIL: kvplug-server printed no listening line within 60 s" >&2
    exit 1
fi
echo "# kvplug-server pid $pid listening on 127.0.0.1:$port"
"$suite" --plugin "$plugin" --config "servers=127.0.0.1:$port;$config" "$@"
rc=$?
if ! kill -0 "$pid" 2>/dev/null; then
    cat "$log" "$err" >&2
    echo "FAIL: kvplug-server died during the suite" >&2
    rc=1
fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
if grep -Eq "ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:" \
    "$err"; then
    cat "$err" >&2
    echo "FAIL: sanitizer report in kvplug-server's stderr" >&2
    rc=1
fi
exit $rc
