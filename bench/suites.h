/*
 * suites.h - the parts of kvplug-bench: the memcpy peer, the kvplug
 * suites (plain put/get, TP put/get, copy-then-put TP), the child peers
 * and the report. kvplug-bench is a host: it reaches the plugin only
 * through kvplug/abi.h and the loader.
 */
#ifndef KVP_BENCH_SUITES_H
#define KVP_BENCH_SUITES_H

#include <stdio.h>

#include "harness.h"
#include "kvp_loader.h"
#include "kvplug/abi.h"
#include "kvplug/tensor.h"

/* The host working set: one mapping, pre-faulted, registered once. */
struct kvp_ws {
    char *base;
    uint64_t len; /* mapped bytes (>= opts.ws_bytes + slack for TP) */
};

/* One engine under test and where its rows go. */
struct kvp_target {
    const struct kvp_ops *ops;
    struct kvp_engine *eng;
    const char *variant; /* "embedded/ucx", "server/ucx" ... */
    struct kvp_ws *ws;
    char *staging; /* copy-then-put staging (registered) */
    uint64_t staging_len;
    const int32_t *tps; /* tp sizes of the TP cases */
    int n_tps;
};

/* memcpy over the working set into/out of a second region of its size. */
void bench_memcpy_run(const struct bench_opts *o, struct kvp_ws *ws, FILE *csv);

/* Plain put/get (single and batched) on one engine. */
void bench_kvplug_run(const struct bench_opts *o, struct kvp_target *t,
                      FILE *csv);
/* TP put (zero-copy) vs copy-then-put, and the per-rank TP gets. */
void bench_tp_run(const struct bench_opts *o, struct kvp_target *t, FILE *csv);

/* N client processes (each its own engine on its own ws / N slice)
 * against the server of `config`, single put/get passes started together;
 * rows "<variant>/<N>proc" with the aggregate GB/s. Sizes above 16 MiB
 * are skipped. */
void bench_procs_run(const struct bench_opts *o, const struct kvp_ops *ops,
                     const struct kvp_host_api *host, const char *variant, const char *config,
                     const int *procs, int n_procs, FILE *csv);

/* A row for a case that could not run: note says why (no commas). */
void bench_row_skip(FILE *csv, const char *system, const char *variant,
                    const char *op, uint64_t size, const char *why);

/* Writes table.md and the gnuplot plot (put.png/get.png or .svg) for the
 * rows of csv_path into dir. Returns 0 or -1. */
int bench_report(const char *csv_path, const char *dir, const char *meta);

#endif /* KVP_BENCH_SUITES_H */
