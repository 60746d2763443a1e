/*
 * peer_memcpy.c - the physical limit of one thread on this machine:
 * memcpy of each slot of the working set into (put) and out of (get) a
 * second, pre-faulted region of the same size. No batches: one copy is one
 * call. The "2-thread" rows split each pass between two threads (what the
 * multi-process server rows are compared with).
 */
#include "suites.h"

#include <pthread.h>
#include <string.h>

struct memcpy_case {
    char *ws, *other;
    uint64_t slot_bytes;
    int is_put;
};

static int memcpy_call(void *ctx, uint32_t first, uint32_t n)
{
    struct memcpy_case *m = ctx;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t off = (uint64_t)(first + i) * m->slot_bytes;
        if (m->is_put)
            memcpy(m->other + off, m->ws + off, m->slot_bytes);
        else
            memcpy(m->ws + off, m->other + off, m->slot_bytes);
    }
    return 0;
}

struct memcpy_half {
    struct memcpy_case m;
    uint32_t first, n;
};

static void *memcpy_half_main(void *arg)
{
    struct memcpy_half *h = arg;
    memcpy_call(&h->m, h->first, h->n);
    return NULL;
}

/* Passes over all slots, half by each of two threads; gbps = median of
 * bytes / wall time of a pass, p50/p99 = pass time per slot. */
static void memcpy_2t(const struct bench_opts *o, const struct memcpy_case *m,
                      uint32_t nslots, FILE *csv)
{
    double g[64], per_slot[64];
    int r = 0;
    uint64_t t_case = bench_now_ns();
    while (r < 64 && bench_more_rounds(o, r, t_case)) {
        struct memcpy_half h[2] = {{*m, 0, nslots / 2},
                                   {*m, nslots / 2, nslots - nslots / 2}};
        pthread_t t;
        uint64_t t0 = bench_now_ns();
        if (pthread_create(&t, NULL, memcpy_half_main, &h[1]) != 0)
            break;
        memcpy_half_main(&h[0]);
        pthread_join(t, NULL);
        uint64_t ns = bench_now_ns() - t0;
        g[r] = (double)nslots * (double)m->slot_bytes / (double)ns;
        per_slot[r] = (double)ns / 1000.0 / nslots;
        r++;
    }
    struct bench_row row = {.system = "memcpy",
                            .variant = "2-thread",
                            .op = m->is_put ? "put" : "get",
                            .value_bytes = m->slot_bytes,
                            .batch = 1,
                            .tp = 1,
                            .split_dim = -1,
                            .calls = (uint64_t)r * nslots,
                            .rounds = r,
                            .gbps = r ? bench_median(g, r) : 0,
                            .note = "pass time per slot as p50/p99"};
    row.p50_us = r ? bench_median(per_slot, r) : 0;
    row.p99_us = row.p50_us;
    bench_csv_row(csv, &row);
}

void bench_memcpy_run(const struct bench_opts *o, struct kvp_ws *ws, FILE *csv)
{
    static const struct bench_case_ops ops = {.call = memcpy_call};
    struct memcpy_case m = {.ws = ws->base};
    m.other = bench_map(o->ws_bytes);
    if (!m.other) {
        bench_row_skip(csv, "memcpy", "1-thread", "put", 0, "no memory");
        return;
    }
    bench_prefault(m.other, o->ws_bytes, 3);
    for (int s = 0; s < o->n_sizes; s++) {
        uint32_t nslots = (uint32_t)(o->ws_bytes / o->sizes[s]);
        if (nslots == 0)
            continue;
        m.slot_bytes = o->sizes[s];
        for (int op = 0; op < 2; op++) {
            m.is_put = op == 0;
            struct bench_row row = {.system = "memcpy",
                                    .variant = "1-thread",
                                    .op = op == 0 ? "put" : "get",
                                    .tp = 1,
                                    .split_dim = -1};
            bench_case_run(o, &ops, &m, nslots, 1, m.slot_bytes, "memcpy",
                           &row);
            bench_csv_row(csv, &row);
            if (nslots >= 2)
                memcpy_2t(o, &m, nslots, csv);
        }
    }
    bench_unmap(m.other, o->ws_bytes);
}
