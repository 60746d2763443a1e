#!/usr/bin/env bash
# smoke.sh BENCH OUTDIR - bench.smoke: a tiny kvplug-bench run (small
# sizes, 8 MiB working set, 2 rounds) must finish and write well-formed
# outputs. It asserts shape, never speed.
set -euo pipefail
bench=$1 out=$2
rm -rf "$out"
"$bench" --out "$out" --sizes 64K,256K --batches 1,4 --ws 8M --rounds 2 \
    --max-round-s 0.5 --tp-sizes 256K --pool-size 64M --procs 2
fail() { echo "bench.smoke: $*" >&2; exit 1; }
csv=$out/results.csv
[ -s "$csv" ] || fail "no $csv"
head -1 "$csv" | grep -qx 'system,variant,op,value_bytes,batch,tp,split_dim,calls,rounds,gbps,p50_us,p99_us,note' ||
    fail "bad CSV header"
# every row: 13 fields, integers and decimals where the header says so
awk -F, 'NR > 1 {
    if (NF != 13) { print "line " NR ": " NF " fields"; bad = 1 }
    for (i = 4; i <= 9; i++) if ($i !~ /^-?[0-9]+$/) { print "line " NR " field " i ": " $i; bad = 1 }
    for (i = 10; i <= 12; i++) if ($i !~ /^[0-9]+\.[0-9]+$/) { print "line " NR " field " i ": " $i; bad = 1 }
} END { exit bad }' "$csv" || fail "malformed rows"
# every system of the run reported something
for sys in memcpy kvplug ucx-raw redis; do
    grep -q "^$sys," "$csv" || fail "no rows for $sys"
done
# measured rows of the peers that need nothing from the plugin
for sys in memcpy ucx-raw redis; do
    awk -F, -v s=$sys '$1 == s && ($3 == "put" || $3 == "get") && $9 > 0 && $10 > 0 { ok = 1 } END { exit !ok }' "$csv" ||
        fail "$sys has no measured put/get row"
done
# the same-host server over its rings and over TCP, and 2 client processes
for v in server/ucx server-tcp/ucx server/ucx/2proc server-tcp/ucx/2proc; do
    awk -F, -v v=$v '$1 == "kvplug" && $2 == v && $3 == "get" && $10 > 0 { ok = 1 } END { exit !ok }' "$csv" ||
        fail "no measured get row for kvplug $v"
done
grep -q '^## Same-host server' "$out/table.md" || fail "table.md has no same-host table"
! grep -q 'VERIFY FAILED' "$csv" || fail "a get returned other bytes than were put"
grep -q '^## Targets' "$out/table.md" || fail "table.md has no targets table"
grep -q '^| 64KiB |' "$out/table.md" || fail "table.md has no 64KiB row"
for f in put.dat get.dat throughput.gp; do
    [ -s "$out/$f" ] || fail "no $out/$f"
done
if command -v gnuplot >/dev/null; then
    [ -s "$out/throughput.png" ] || [ -s "$out/throughput.svg" ] || fail "no plot"
fi
echo "bench.smoke: ok ($(($(wc -l < "$csv") - 1)) rows)"
