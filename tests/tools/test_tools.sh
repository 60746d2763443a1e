#!/bin/sh
# test_tools.sh BINDIR LIBDIR - kvplug-admin and kvplug-info as a user runs
# them: --help on stdout with exit 0, every listed field, auth, keys with
# --prefix/--limit and remove-prefix against a real kvplug-server,
# modules that are missing named with the paths tried, and libkvplug.so
# free of the etcd module's libraries. Every wait is bounded. Prints
# "PASS tools".
set -u
BIN=$1
LIB=$2
TMP=$(mktemp -d)
SRV_PID=""
cleanup() {
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
has() { grep -q -- "$2" "$1" || { cat "$1"; fail "$3"; }; }
# start_server NAME ARGS...: a kvplug-server on an ephemeral port; sets
# SRV_PID and ADDR once its readiness line is in the fresh NAME.out
start_server() {
    name=$1; shift
    "$BIN/kvplug-server" --listen 127.0.0.1:0 "$@" \
        >"$TMP/$name.out" 2>"$TMP/$name.err" &
    SRV_PID=$!
    i=0
    while ! grep -q "listening on" "$TMP/$name.out"; do
        i=$((i + 1)); [ $i -gt 600 ] && fail "$name not ready in 60 s"
        kill -0 $SRV_PID 2>/dev/null || { cat "$TMP/$name.err"; fail "$name died"; }
        sleep 0.1
    done
    ADDR=$(sed -n 's/.*listening on \([^ ]*\) .*/\1/p' "$TMP/$name.out")
}

# --help: stdout, exit 0, nothing on stderr
for t in kvplug-admin kvplug-info; do
    "$BIN/$t" --help >"$TMP/h.out" 2>"$TMP/h.err" || fail "$t --help exit"
    has "$TMP/h.out" "usage: $t" "$t --help on stdout"
    [ -s "$TMP/h.err" ] && fail "$t --help wrote to stderr"
done
"$BIN/kvplug-admin" --help | grep -q "remove-prefix TARGET P" ||
    fail "kvplug-admin --help lists remove-prefix"
"$BIN/kvplug-admin" frobnicate 127.0.0.1:1 >/dev/null 2>"$TMP/e"
[ $? -eq 2 ] || fail "unknown admin command must exit 2"
has "$TMP/e" "unknown command 'frobnicate'" "admin names the bad command"

# kvplug-info: version, ABI, caps, modules, devices, merged config
KVPLUG_CONFIG="transport=verbs;timeout_ms=777" \
    "$BIN/kvplug-info" --config "servers=h1:1,h2:2;pool_size=64MiB" \
    >"$TMP/info" 2>&1 || fail "kvplug-info exit"
for s in "^kvplug [0-9]" "ABI      1\." "caps     .*batch" \
    "ucx      found: " "etcd     found: " "RDMA devices:" \
    "transport=verbs" "timeout_ms=777" "servers=h1:1,h2:2" \
    "pool_size=64 MiB" "KVPLUG_CONFIG='transport=verbs"; do
    has "$TMP/info" "$s" "kvplug-info lacks '$s'"
done
# a module that is not there is named with the paths tried and why
mkdir -p "$TMP/inst/bin" "$TMP/inst/lib"
cp "$BIN/kvplug-info" "$TMP/inst/bin/"
ln -s "$LIB/libkvplug.so" "$LIB/libkvplug_ucx.so" "$TMP/inst/lib/"
env -u KVPLUG_MODULE_DIR -u KVPLUG_TRANSPORT_DIR -u KVPLUG_PLUGIN \
    "$TMP/inst/bin/kvplug-info" >"$TMP/info2" 2>&1 || fail "info exit (2)"
has "$TMP/info2" "verbs    not available (KVP_ERR_NOT_SUPPORTED): .*libkvplug_verbs.so" \
    "a missing module must say why"
has "$TMP/info2" "ucx      found: " "the module next to it is found"

# libkvplug.so gains no HTTP/JSON dependency; the etcd module has them
# (libcrypto it does link: the store handshake's HMAC, proto/auth.c)
readelf -d "$LIB/libkvplug.so" | grep NEEDED >"$TMP/needed"
grep -Eq 'curl|json|microhttpd' "$TMP/needed" &&
    { cat "$TMP/needed"; fail "libkvplug.so links an etcd/metrics library"; }
if [ -f "$LIB/libkvplug_etcd.so" ]; then
    readelf -d "$LIB/libkvplug_etcd.so" | grep NEEDED >"$TMP/needed"
    has "$TMP/needed" "libcurl" "the etcd module links libcurl"
    has "$TMP/needed" "libjson-c" "the etcd module links json-c"
fi

# kvplug-admin against a real server with auth
printf 'tools-token\n' >"$TMP/token"; chmod 600 "$TMP/token"
start_server srv --pool-size 16MiB --auth-token-file "$TMP/token"
CFG="servers=$ADDR;auth_token_file=$TMP/token"
export KVPLUG_PLUGIN="${KVPLUG_PLUGIN:-$LIB/libkvplug.so}"
for k in kA kB xC; do
    timeout 60 "$BIN/itest_client" "$CFG" put "$k" 3000 1 >/dev/null ||
        fail "put $k"
done
A() { timeout 60 "$BIN/kvplug-admin" --auth-token-file "$TMP/token" "$@"; }
timeout 60 "$BIN/kvplug-admin" stats "$ADDR" >"$TMP/noauth" 2>&1
[ $? -eq 1 ] || fail "stats without the token must exit 1"
has "$TMP/noauth" "KVP_ERR_AUTH" "a refused admin names KVP_ERR_AUTH"
A ping "$ADDR" >"$TMP/ping" || fail "ping"
has "$TMP/ping" "$ADDR: ok (" "ping answers"
# the server drops the ping's connection when it reads its EOF: poll
# (bounded) until only the stats connection itself is counted
i=0
while :; do
    A stats "$ADDR" >"$TMP/stats" || fail "stats"
    grep -q "connections  1$" "$TMP/stats" && break
    i=$((i + 1)); [ $i -gt 100 ] && break
    sleep 0.1
done
for s in "pool         .* KiB of 16 MiB used" "objects      3 " "leases       0 held" \
    "evictions    0" "connections  1"; do
    has "$TMP/stats" "$s" "stats lacks '$s'"
done
A keys "$ADDR" --prefix k >"$TMP/keys" || fail "keys"
[ "$(grep -c "$(printf '\t')k[AB]$" "$TMP/keys")" -eq 2 ] || { cat "$TMP/keys"; fail "keys --prefix k"; }
grep -q xC "$TMP/keys" && fail "--prefix k listed xC"
has "$TMP/keys" "2.9 KiB" "key sizes in human units"
A keys "$ADDR" --limit 1 >"$TMP/keys1" || fail "keys --limit"
[ "$(grep -vc '^#' "$TMP/keys1")" -eq 1 ] || { cat "$TMP/keys1"; fail "--limit 1"; }
has "$TMP/keys1" "more keys than --limit 1" "--limit says there are more"
A stats "$ADDR,127.0.0.1:1" >"$TMP/two" 2>&1
[ $? -eq 1 ] || fail "a dead member must make admin exit 1"
has "$TMP/two" "127.0.0.1:1: KVP_ERR_DISCONNECTED" "the dead member by status name"
has "$TMP/two" "objects      3 " "the live member is still shown"
# remove-prefix: the counts per server and the total; the other prefix's
# keys stay
"$BIN/kvplug-admin" remove-prefix "$ADDR" >/dev/null 2>"$TMP/e"
[ $? -eq 2 ] || fail "remove-prefix without P must exit 2"
has "$TMP/e" "remove-prefix needs the prefix P" "remove-prefix names what is missing"
A remove-prefix "$ADDR" k >"$TMP/rp" || { cat "$TMP/rp"; fail "remove-prefix"; }
has "$TMP/rp" "^$ADDR: removed 2$" "remove-prefix k counts kA and kB"
has "$TMP/rp" "^total: removed 2$" "remove-prefix prints the total"
A keys "$ADDR" >"$TMP/keys2" || fail "keys after remove-prefix"
grep -q "$(printf '\t')k[AB]$" "$TMP/keys2" && { cat "$TMP/keys2"; fail "k keys survived remove-prefix k"; }
has "$TMP/keys2" "$(printf '\t')xC$" "remove-prefix k kept xC"
A remove-prefix "$ADDR,127.0.0.1:1" k >"$TMP/rp2" 2>&1
[ $? -eq 1 ] || { cat "$TMP/rp2"; fail "remove-prefix with a dead member must exit 1"; }
has "$TMP/rp2" "^$ADDR: removed 0$" "a second remove-prefix k removes nothing"
has "$TMP/rp2" "127.0.0.1:1: KVP_ERR_DISCONNECTED" "the dead member by status name"
has "$TMP/rp2" "^total: removed 0 (a server failed" "the total says a server failed"
# a refused transport says what the server offers and how to fix it
kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
start_server srv2 --pool-size 1MiB --transports none
out=$(timeout 60 "$BIN/itest_client" "servers=$ADDR" get kA 3000 1 2>&1)
echo "$out" | grep -q "refused HELLO (transport 'ucx'): KVP_ERR_NOT_SUPPORTED; it offers: none (control only). Set transport=" ||
    { echo "$out"; fail "a refused HELLO must name what the server offers"; }
echo "$out" | grep -Eq '(: |\(|status )-[0-9]' && { echo "$out"; fail "bare status number"; }
grep -Eq '(: |\(|status )-[0-9]' "$TMP/srv.err" && { cat "$TMP/srv.err"; fail "bare status number in the server log"; }
# --transports and --listen are checked when parsed, with a hint
"$BIN/kvplug-server" --transports tcp >/dev/null 2>"$TMP/e"; [ $? -eq 2 ] || fail "--transports tcp exit"
has "$TMP/e" "'tcp' is not a transport module.*use --ucx-tls tcp" "--transports tcp hint"
"$BIN/kvplug-server" --listen nohost >/dev/null 2>"$TMP/e"; [ $? -eq 2 ] || fail "--listen nohost exit"
has "$TMP/e" "'nohost' is not HOST:PORT" "--listen nohost message"
echo "PASS tools"
