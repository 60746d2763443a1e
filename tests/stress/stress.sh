#!/usr/bin/env bash
# stress.sh BUILD_DIR - the stress lane (scripts/test.sh, KVP_STRESS=0 skips
# it; docs/testing.md):
#   1. the server scenarios of itest_server.sh (two_processes, auth,
#      kill_server, reconnect), KVP_STRESS_ROUNDS times each (30) under
#      two busy loops: every run must pass;
#   2. a soak: KVP_SOAK_PROCS processes x KVP_SOAK_THREADS threads (4 x 3)
#      of checksummed overwrite/get/remove on shared keys against one
#      kvplug-server for KVP_SOAK_S seconds (60): reads verified > 0 and
#      wrong = 0, no errors, every call back within 5 x timeout_ms;
#   3. KVP_KILL_ROUNDS (10) kill -9 rounds of the server under a batch
#      hammer (the client's calls fail within the bound, never hang) and of
#      a client holding leases/allocations and a put arena (the other
#      client is unaffected, the server drops the dead one's leases and
#      pending allocations, and once both are gone and every key removed
#      the pool holds nothing: no arena is left behind).
# Every wait is bounded; output of each process goes to its own file.
set -u
B=$(cd "${1:?usage: stress.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SERVER=$B/bin/kvplug-server
CLIENT=$B/bin/itest_client
SOAK=$B/bin/soak_client
STATS=$B/bin/stress_stats
export KVPLUG_PLUGIN=$B/lib/libkvplug.so
ROUNDS=${KVP_STRESS_ROUNDS:-30}
SOAK_S=${KVP_SOAK_S:-60}
PROCS=${KVP_SOAK_PROCS:-4}
THREADS=${KVP_SOAK_THREADS:-3}
KILLS=${KVP_KILL_ROUNDS:-10}
TMP=$(mktemp -d)
BUSY="" SRV="" KIDS=""
failures=0
cleanup() {
    for p in $BUSY $KIDS $SRV; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
bad() { echo "STRESS FAIL: $*"; failures=$((failures + 1)); }
for f in "$SERVER" "$CLIENT" "$SOAK" "$STATS"; do
    [ -x "$f" ] || { echo "STRESS FAIL: $f is not built"; exit 1; }
done

N=0
# start_srv: a server on an ephemeral port, its own fresh files; sets SRV, PORT
start_srv() {
    N=$((N + 1))
    "$SERVER" --listen 127.0.0.1:0 --pool-size 256MiB "$@" \
        >"$TMP/srv.$N.out" 2>"$TMP/srv.$N.err" &
    SRV=$!
    for _ in $(seq 600); do
        grep -q "listening on" "$TMP/srv.$N.out" && break
        kill -0 "$SRV" 2>/dev/null || break
        sleep 0.1
    done
    PORT=$(sed -n 's/.*listening on [^:]*:\([0-9]*\).*/\1/p' "$TMP/srv.$N.out")
    [ -n "$PORT" ] || { cat "$TMP/srv.$N.err"; echo "STRESS FAIL: no server"; exit 1; }
}
stop_srv() { kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; SRV=""; }
# wait_line FILE TEXT PID: bounded wait for TEXT in FILE while PID lives
wait_line() {
    for _ in $(seq 600); do
        grep -q "$2" "$1" && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
# stats_field NAME: the server's current STATS value NAME
stats_field() {
    "$STATS" 127.0.0.1 "$PORT" | sed -n "s/.*$1 \([0-9]*\).*/\1/p"
}

# ---- 1. server scenarios under CPU load --------------------------------
t0=$(date +%s)
for _ in 1 2; do (while :; do :; done) & BUSY="$BUSY $!"; done
ok=0 total=0
for r in $(seq "$ROUNDS"); do
    for scn in two_processes auth kill_server reconnect; do
        total=$((total + 1))
        if timeout 300 sh "$ROOT/tests/integration/itest_server.sh" \
            "$SERVER" "$CLIENT" "$scn" >"$TMP/scn.out" 2>&1; then
            ok=$((ok + 1))
        else
            cat "$TMP/scn.out"
            bad "scenario $scn, round $r"
        fi
    done
done
for p in $BUSY; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
BUSY=""
echo "stress: server scenarios under two busy loops: $ok of $total passed" \
     "in $(( $(date +%s) - t0 )) s"

# ---- 2. the soak ---------------------------------------------------------
t0=$(date +%s)
start_srv
CFG="servers=127.0.0.1:$PORT;timeout_ms=5000"
KIDS=""
for p in $(seq "$PROCS"); do
    "$SOAK" "$CFG" soak "$SOAK_S" "$THREADS" 64 5000 >"$TMP/soak.$p.out" \
        2>"$TMP/soak.$p.err" &
    KIDS="$KIDS $!"
done
v=0 w=0 i=0
for k in $KIDS; do
    i=$((i + 1))
    wait "$k" || { cat "$TMP/soak.$i.out" "$TMP/soak.$i.err"; bad "soak process $i"; }
    line=$(grep "^soak:" "$TMP/soak.$i.out")
    echo "  $line"
    v=$((v + $(echo "$line" | sed -n 's/.*verified \([0-9]*\).*/\1/p')))
    w=$((w + $(echo "$line" | sed -n 's/.*wrong \([0-9]*\).*/\1/p')))
done
KIDS=""
stop_srv
[ "$v" -gt 0 ] || bad "the soak verified no read"
[ "$w" -eq 0 ] || bad "the soak read $w wrong objects"
echo "stress: soak $PROCS processes x $THREADS threads, ${SOAK_S} s:" \
     "reads verified $v wrong $w in $(( $(date +%s) - t0 )) s"

# ---- 3. kill -9 rounds ---------------------------------------------------
t0=$(date +%s)
for r in $(seq "$KILLS"); do
    # the server, under a hammering client (the scenario checks the bound)
    sh "$ROOT/tests/integration/itest_server.sh" "$SERVER" "$CLIENT" \
        kill_server >"$TMP/kill.out" 2>&1 ||
        { cat "$TMP/kill.out"; bad "server kill -9, round $r"; }
    # a client holding leases and allocations, beside one that goes on
    start_srv --lease-timeout-ms 600000
    CFG="servers=127.0.0.1:$PORT;timeout_ms=2000"
    "$SOAK" "$CFG" kr "60" 3 16 2000 >"$TMP/a.out" 2>&1 &
    A=$!
    "$SOAK" "$CFG" kr "3" 2 16 2000 >"$TMP/b.out" 2>&1 &
    Bp=$!
    KIDS="$A $Bp"
    wait_line "$TMP/a.out" soaking "$A" && wait_line "$TMP/b.out" soaking "$Bp" ||
        bad "soak clients did not start (round $r)"
    for _ in $(seq 300); do # until the doomed client has stored something
        [ "$(stats_field objects)" -gt 0 ] 2>/dev/null && break
        sleep 0.01
    done
    kill -9 "$A"; wait "$A" 2>/dev/null
    wait "$Bp" || { cat "$TMP/b.out"; bad "the other client failed (round $r)"; }
    KIDS=""
    clean=0
    for _ in $(seq 100); do # the dead client's leases/allocations go
        if [ "$(stats_field leases)" = 0 ] && [ "$(stats_field pending)" = 0 ]; then
            clean=1; break
        fi
        sleep 0.1
    done
    [ $clean = 1 ] || bad "leases/allocations of a killed client stay: $("$STATS" 127.0.0.1 "$PORT")"
    empty=0
    for _ in $(seq 100); do # both arenas back once both connections end
        "$STATS" 127.0.0.1 "$PORT" clear | grep -q " used 0$" && { empty=1; break; }
        sleep 0.1
    done
    [ $empty = 1 ] || bad "pool space stays after both clients ended: $("$STATS" 127.0.0.1 "$PORT")"
    stop_srv
done
echo "stress: $KILLS kill -9 rounds of the server and of a client in" \
     "$(( $(date +%s) - t0 )) s"

[ "$failures" -eq 0 ] && echo "stress: all passed" && exit 0
echo "stress: $failures failure(s)"
exit 1
