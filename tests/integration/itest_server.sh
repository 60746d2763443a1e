#!/bin/sh
# itest_server.sh SERVER CLIENT SCENARIO - multi-process tests against a
# kvplug-server process: put in one client process, get in another; auth;
# and killing the server mid-batch (errors within timeout_ms, no hang).
# Every wait is bounded.
set -u
SERVER=$1
CLIENT=$2
SCENARIO=$3
TMP=$(mktemp -d)
SRV_PID=""
ERR_FILES=""
# Sanitizer reports of any server started here fail the test (a server's
# exit status is not seen when the script stops it).
scan_reports() {
    for f in $ERR_FILES; do
        if grep -Eq "ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:" "$f"; then
            cat "$f"
            echo "FAIL: sanitizer report in the server's stderr ($f)"
            return 1
        fi
    done
}
cleanup() {
    rc=$?
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
    [ -n "${SRV1:-}" ] && kill "$SRV1" 2>/dev/null && wait "$SRV1" 2>/dev/null
    scan_reports || rc=1
    rm -rf "$TMP"
    exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

N_START=0
# start_server ADDR [extra args]: starts a server listening on ADDR
# (HOST:0 = ephemeral) and waits for *its* readiness line: every start
# writes fresh files (srv.N.out/err), so a line of an earlier server can
# never be taken for this one's. Sets SRV_PID, PORT, SRV_ERR.
start_server_at() {
    addr=$1; shift
    N_START=$((N_START + 1))
    out="$TMP/srv.$N_START.out"; SRV_ERR="$TMP/srv.$N_START.err"
    : >"$out"
    "$SERVER" --listen "$addr" --pool-size 64MiB "$@" \
        >"$out" 2>"$SRV_ERR" &
    SRV_PID=$!
    ERR_FILES="$ERR_FILES $SRV_ERR"
    i=0
    while ! grep -q "kvplug-server listening on" "$out"; do
        i=$((i + 1))
        [ $i -gt 600 ] && { cat "$SRV_ERR"; fail "server not ready in 60 s"; }
        kill -0 "$SRV_PID" 2>/dev/null || { cat "$SRV_ERR"; fail "server died"; }
        sleep 0.1
    done
    PORT=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$out" | head -1)
    [ -n "$PORT" ] || fail "no port in: $(cat "$out")"
    echo "server pid $SRV_PID port $PORT (start $N_START)"
}
start_server() { start_server_at 127.0.0.1:0 "$@"; }

run() { timeout 60 "$CLIENT" "$@"; }

# listeners PID: "ADDR:PORT" (hex, as /proc/net/tcp* writes them) of every
# listening TCP socket of process PID, one a line.
listeners() {
    inodes=$(ls -l "/proc/$1/fd" 2>/dev/null |
        sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')
    for t in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$t" ] || continue
        awk -v inodes=" $inodes " 'NR > 1 && $4 == "0A" &&
            index(inodes, " " $10 " ") { print $2 }' "$t"
    done
}

# check_loopback_only PID WHAT: every listener of PID is on a loopback
# address (the interface of --listen 127.0.0.1), at least one exists.
check_loopback_only() {
    l=$(listeners "$1")
    echo "$2 listens on (hex addr:port): $(echo $l)"
    [ -n "$l" ] || fail "$2: no listening socket found for pid $1"
    for a in $l; do
        case "$a" in
        ??????7F:*) ;;                                  # 127.x.x.x
        00000000000000000000000001000000:*) ;;          # ::1
        *) fail "$2 listens beyond loopback: $a" ;;
        esac
    done
}

case "$SCENARIO" in
two_processes)
    start_server
    CFG="servers=127.0.0.1:$PORT;timeout_ms=3000"
    run "$CFG" put shared_key 1000000 7 || fail "put"
    run "$CFG" get shared_key 1000000 7 || fail "get in a second process"
    run "$CFG" put shared_key 10 8; [ $? -eq 3 ] || fail "second put must be EXISTS"
    run "$CFG" get missing_key 10 7; [ $? -eq 3 ] || fail "missing key must fail"
    run "$CFG" tpput tkey 4 || fail "tp put"
    run "$CFG" tpget tkey 4 || fail "tp get of every rank in another process"
    # two servers: keys spread by rendezvous hashing, both reachable
    SRV1=$SRV_PID; PORT1=$PORT
    start_server
    CFG2="servers=127.0.0.1:$PORT1,127.0.0.1:$PORT;timeout_ms=3000"
    for k in a b c d e f g h; do
        run "$CFG2" put "multi_$k" 4096 3 || fail "put multi_$k"
    done
    for k in a b c d e f g h; do
        run "$CFG2" get "multi_$k" 4096 3 || fail "get multi_$k"
    done
    # TP shards spread over both servers; all-or-nothing across servers
    run "$CFG2" tpput tk 8 || fail "tp put over two servers"
    run "$CFG2" tpget tk 8 || fail "tp get over two servers"
    run "$CFG2" put tk2_tp_5 64 1 || fail "put of a stray shard key"
    run "$CFG2" tpput tk2 8; [ $? -eq 3 ] || fail "tp put over a stray shard must fail"
    for r in 0 1 2 3 4 6 7; do
        out=$(run "$CFG2" get "tk2_tp_$r" 1 1)
        echo "$out" | grep -q "KVP_ERR_NOT_FOUND" || fail "shard $r left behind: $out"
    done
    run "$CFG2" get tk2_tp_5 64 1 || fail "the stray object must stay as it was"
    kill "$SRV1"; wait "$SRV1" 2>/dev/null; SRV1=""
    ;;
auth)
    printf 'sekrit-token\n' >"$TMP/token"; chmod 600 "$TMP/token"
    printf 'wrong\n' >"$TMP/bad"; chmod 600 "$TMP/bad"
    start_server --auth-token-file "$TMP/token"
    run "servers=127.0.0.1:$PORT;auth_token_file=$TMP/token" put k 100 1 \
        || fail "put with the right token"
    out=$(run "servers=127.0.0.1:$PORT;auth_token_file=$TMP/bad" get k 100 1)
    echo "$out"
    echo "$out" | grep -q "engine_create: KVP_ERR_AUTH" || fail "wrong token must be KVP_ERR_AUTH"
    out=$(run "servers=127.0.0.1:$PORT" get k 100 1)
    echo "$out"
    echo "$out" | grep -q "engine_create: KVP_ERR_AUTH" || fail "no token must be KVP_ERR_AUTH"
    ;;
kill_server)
    start_server
    CFG="servers=127.0.0.1:$PORT;timeout_ms=1000"
    timeout 30 "$CLIENT" "$CFG" hammer hk >"$TMP/cli.out" 2>&1 &
    CLI=$!
    i=0
    while ! grep -q hammering "$TMP/cli.out"; do
        i=$((i + 1)); [ $i -gt 600 ] && fail "client did not start"
        sleep 0.1
    done
    sleep 0.5
    kill -9 "$SRV_PID"; wait "$SRV_PID" 2>/dev/null; SRV_PID=""
    wait "$CLI"; rc=$?
    cat "$TMP/cli.out"
    [ $rc -eq 124 ] && fail "client hung after the server died"
    [ $rc -eq 3 ] || fail "client exit $rc, expected 3 (store error)"
    grep -Eq "first error KVP_ERR_(TRANSPORT|TIMEOUT|DISCONNECTED):" "$TMP/cli.out" \
        || fail "expected TRANSPORT/TIMEOUT/DISCONNECTED"
    ms=$(sed -n 's/.*after \([0-9]*\) ms, round.*/\1/p' "$TMP/cli.out")
    [ "$ms" -le 5000 ] || fail "error took $ms ms with timeout_ms=1000"
    grep -Eq "next op -(7|8|9) " "$TMP/cli.out" || fail "next op must fail"
    ;;
get_after_kill)
    # A get served from the shared index (no round trip) must stop once
    # the server is gone: the old index and pool are still mapped in the
    # client, but the bytes of a dead server are not an answer.
    start_server
    CFG="servers=127.0.0.1:$PORT;timeout_ms=1000;log_level=info"
    mkfifo "$TMP/in"
    ITEST_VERBOSE=1 timeout 60 "$CLIENT" "$CFG" session - <"$TMP/in" \
        >"$TMP/cli.out" \
        2>"$TMP/cli.err" &
    CLI=$!
    exec 7>"$TMP/in"
    answers() { # answers N: waits (bounded) for N answer lines after ready
        i=0
        while [ "$(grep -c -v ready "$TMP/cli.out")" -lt "$1" ]; do
            i=$((i + 1))
            [ $i -gt 600 ] && { cat "$TMP/cli.out" "$TMP/cli.err"; fail "no answer $1"; }
            sleep 0.1
        done
    }
    echo "put gk 65536 5" >&7; answers 1
    echo "get gk 65536 5" >&7; answers 2
    kill -9 "$SRV_PID"; wait "$SRV_PID" 2>/dev/null; SRV_PID=""
    echo "get gk 65536 5" >&7; answers 3
    echo quit >&7
    exec 7>&-
    wait "$CLI"
    cat "$TMP/cli.out"
    [ "$(sed -n 2,3p "$TMP/cli.out" | tr '\n' ' ')" = "ok ok " ] ||
        fail "put and get before the kill must succeed"
    sed -n 4p "$TMP/cli.out" | grep -q '^err ' ||
        fail "a get after the server died must fail, got: $(sed -n 4p "$TMP/cli.out")"
    grep -q "fastget_hits=1 " "$TMP/cli.err" ||
        fail "the first get did not go through the shared index: $(grep fastget "$TMP/cli.err")"
    ;;
reconnect)
    start_server
    CFG="servers=127.0.0.1:$PORT;timeout_ms=1000"
    timeout 60 "$CLIENT" "$CFG" reconnect rk "$TMP/flag" >"$TMP/cli.out" 2>&1 &
    CLI=$!
    i=0
    while ! grep -q waiting "$TMP/cli.out"; do
        i=$((i + 1)); [ $i -gt 600 ] && { cat "$TMP/cli.out"; fail "client did not start"; }
        sleep 0.1
    done
    kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null; SRV_PID=""
    OLD=$PORT
    start_server_at "127.0.0.1:$OLD"
    [ "$PORT" = "$OLD" ] || fail "restarted on port $PORT, not $OLD"
    touch "$TMP/flag"
    wait "$CLI"; rc=$?
    cat "$TMP/cli.out"
    [ $rc -eq 0 ] || fail "client exit $rc: no reconnect after a restart"
    ;;
listeners)
    # every listener of a server started with --listen 127.0.0.1, UCX's
    # (default transports: its TCP transport included) on loopback only
    start_server
    check_loopback_only "$SRV_PID" "kvplug-server --listen 127.0.0.1:0"
    kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null; SRV_PID=""
    start_server --ucx-tls tcp
    check_loopback_only "$SRV_PID" "kvplug-server --ucx-tls tcp"
    # a host process with the embedded server (and its own UCX context)
    "$CLIENT" "timeout_ms=3000" reconnect ek "$TMP/eflag" >"$TMP/emb.out" 2>&1 &
    EMB=$!
    i=0
    while ! grep -q waiting "$TMP/emb.out"; do
        i=$((i + 1)); [ $i -gt 600 ] && { cat "$TMP/emb.out"; fail "embedded client did not start"; }
        kill -0 "$EMB" 2>/dev/null || { cat "$TMP/emb.out"; fail "embedded client died"; }
        sleep 0.1
    done
    check_loopback_only "$EMB" "a host with the embedded server"
    touch "$TMP/eflag"
    wait "$EMB"
    ;;
*)
    fail "unknown scenario $SCENARIO"
    ;;
esac
[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
SRV_PID=""
scan_reports || exit 1
echo "PASS $SCENARIO"
