/*
 * peer_memcpy.c - the physical limit of one thread on this machine:
 * memcpy of each slot of the working set into (put) and out of (get) a
 * second, pre-faulted region of the same size. No batches: one copy is one
 * call.
 */
#include "suites.h"

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
        }
    }
    bench_unmap(m.other, o->ws_bytes);
}
