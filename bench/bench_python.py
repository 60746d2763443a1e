#!/usr/bin/env python3
"""bench_python.py - kvplug-bench's put/get cases through kvplug.Store.

Runs batch_put_from / batch_get_into (batch 1 and 32) of 64 KiB and 1 MiB
values over a registered working set on the embedded server, like
`kvplug-bench --no-server --no-peers --no-tp`, and prints CSV rows in the
same columns (system "kvplug-python"). With --c-csv RESULTS.csv (from
kvplug-bench) it prints the Python rows next to the C rows: GB/s ratio
and the per-call overhead (p50 difference, us).

Usage: bench_python.py [--plugin SO] [--ws BYTES] [--rounds N]
                       [--c-csv kvplug-bench/results.csv]
"""
import argparse
import csv
import os
import statistics
import sys
import time

try:
    import kvplug
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "python"))
    import kvplug
import numpy as np


def run(store, mem, base, size, batch, rounds, op):
    n = (mem.nbytes // size) // batch * batch
    keys = ["py/%d/%d" % (size, i) for i in range(n)]
    ptrs = base + size * np.arange(n, dtype=np.uint64)
    sizes = np.full(n, size, np.uint64)
    lat = []
    t_all = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            t = time.perf_counter()
            ks, ps, ss = keys[i:i + batch], ptrs[i:i + batch], sizes[i:i + batch]
            if op == "put":
                r = store.batch_put_from(ks, ps, ss, overwrite=True)
                ok = all(v == 0 for v in r)
            else:
                r = store.batch_get_into(ks, ps, ss)
                ok = all(v == size for v in r)
            if not ok:
                raise SystemExit("%s %d x %d failed: %s" % (op, batch, size,
                                                            r[:4]))
            lat.append((time.perf_counter() - t) * 1e6)
        t_all += time.perf_counter() - t0
    lat.sort()
    return dict(system="kvplug-python", variant="embedded/ucx", op=op,
                value_bytes=size, batch=batch, calls=len(lat), rounds=rounds,
                gbps=n * size * rounds / t_all / 1e9,
                p50_us=statistics.median(lat),
                p99_us=lat[int(len(lat) * 0.99) - 1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin")
    ap.add_argument("--ws", type=int, default=128 << 20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--c-csv")
    a = ap.parse_args()
    mem = np.ones(a.ws, np.uint8)
    rows = []
    with kvplug.Store({"pool_size": a.ws + a.ws // 8 + (64 << 20),
                       "ucx_tls": "sm"}, a.plugin) as s:
        base, _ = s.register(mem)
        for size in (64 << 10, 1 << 20):
            for batch in (1, 32):
                for op in ("put", "get"):
                    rows.append(run(s, mem, base, size, batch, a.rounds, op))
    w = csv.writer(sys.stdout)
    cols = ["system", "variant", "op", "value_bytes", "batch", "calls",
            "rounds", "gbps", "p50_us", "p99_us"]
    w.writerow(cols)
    for r in rows:
        w.writerow([("%.4f" % r[c]) if isinstance(r[c], float) else r[c]
                    for c in cols])
    if not a.c_csv:
        return 0
    c = {}
    with open(a.c_csv) as f:
        for r in csv.DictReader(f):
            if r["system"] == "kvplug" and r["variant"] == "embedded/ucx":
                c[(r["op"], int(r["value_bytes"]), int(r["batch"]))] = r
    print("\n| op | size | batch | C GB/s | Python GB/s | ratio | "
          "C p50 us | Python p50 us | per-call overhead us |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cr = c.get((r["op"], r["value_bytes"], r["batch"]))
        if not cr:
            continue
        print("| %s | %dK | %d | %.2f | %.2f | %.2fx | %.1f | %.1f | %.1f |"
              % (r["op"], r["value_bytes"] >> 10, r["batch"],
                 float(cr["gbps"]), r["gbps"],
                 r["gbps"] / float(cr["gbps"]), float(cr["p50_us"]),
                 r["p50_us"], r["p50_us"] - float(cr["p50_us"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
