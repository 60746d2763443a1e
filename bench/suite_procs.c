/*
 * suite_procs.c - N client processes against one kvplug-server: each
 * child is its own engine (as one engine process per TP rank would be)
 * with its own slice of the working set (ws / N), and all of them put,
 * then get, their slices at once. A process-shared barrier starts every
 * pass together; the aggregate rate of a pass is all bytes moved / (last
 * child's end - first child's start). Rows: variant "<variant>/<N>proc",
 * gbps = median over rounds of the aggregate, p50/p99 = child 0's calls.
 */
#include "suites.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROCS_MAX  8
#define ROUNDS_MAX 8
#define PROCS_KEY  48

struct procs_shared {
    pthread_barrier_t bar;
    /* [round][phase 0 put, 1 get][child] */
    uint64_t t0[ROUNDS_MAX][2][PROCS_MAX], t1[ROUNDS_MAX][2][PROCS_MAX];
    uint64_t bytes[ROUNDS_MAX][2][PROCS_MAX];
    double p50[2], p99[2];
    int32_t err[PROCS_MAX];
};

static void procs_key(char *buf, int child, uint32_t slot)
{
    snprintf(buf, PROCS_KEY, "kvpprocs:%d:%08" PRIu32, child, slot);
}

/* One child: the same schedule of barrier waits whatever fails, so a
 * failing child never leaves the others waiting. */
static void procs_child(struct procs_shared *sh, int child, int nproc,
                        const struct kvp_ops *ops,
                        const struct kvp_host_api *host, const char *config,
                        uint64_t size, int rounds, uint64_t ws_bytes)
{
    uint64_t slice = ws_bytes / (uint64_t)nproc;
    uint32_t nslots = (uint32_t)(slice / size);
    char *base = bench_map(slice);
    struct kvp_engine *e = NULL;
    int32_t err = base == NULL ? KVP_ERR_NO_MEMORY : KVP_OK;
    if (err == KVP_OK)
        bench_prefault(base, slice, (uint32_t)child + 3);
    if (err == KVP_OK && (err = ops->engine_create(config, host, &e)) == 0)
        err = ops->register_buffer(e, base, slice);
    if (err == KVP_OK)
        bench_prefault(base, slice, (uint32_t)child + 3); /* warm again */
    struct bench_lat lat[2] = {{0}};
    char key[PROCS_KEY];
    for (int r = 0; r < rounds; r++) {
        for (int ph = 0; ph < 2; ph++) {
            pthread_barrier_wait(&sh->bar);
            uint64_t moved = 0, t0 = bench_now_ns();
            for (uint32_t s = 0; err == KVP_OK && s < nslots; s++) {
                char *p = base + (uint64_t)s * size;
                procs_key(key, child, s);
                uint64_t c0 = bench_now_ns();
                if (ph == 0) {
                    err = ops->put_from(e, key, p, size, NULL);
                } else {
                    int64_t got = ops->get_into(e, key, p, size);
                    err = got == (int64_t)size ? KVP_OK
                          : got < 0            ? (int32_t)got
                                               : KVP_ERR_INTERNAL;
                }
                if (child == 0)
                    bench_lat_add(&lat[ph], bench_now_ns() - c0);
                moved += size;
            }
            sh->t0[r][ph][child] = t0;
            sh->t1[r][ph][child] = bench_now_ns();
            sh->bytes[r][ph][child] = moved;
        }
        for (uint32_t s = 0; err == KVP_OK && s < nslots; s++) {
            procs_key(key, child, s);
            ops->remove(e, key); /* untimed: the next put pass stores anew */
        }
    }
    sh->err[child] = err;
    if (err != KVP_OK)
        fprintf(stderr, "kvplug-bench: %s, process %d: %s\n", config, child,
                ops->status_str(err));
    if (child == 0)
        for (int ph = 0; ph < 2; ph++) {
            sh->p50[ph] = bench_lat_quantile_us(&lat[ph], 0.5);
            sh->p99[ph] = bench_lat_quantile_us(&lat[ph], 0.99);
            bench_lat_free(&lat[ph]);
        }
    if (e != NULL)
        ops->engine_destroy(e);
    if (base != NULL)
        bench_unmap(base, slice);
}

static void procs_case(const struct bench_opts *o, const struct kvp_ops *ops,
                       const struct kvp_host_api *host, const char *variant,
                       const char *config, int nproc, uint64_t size, FILE *csv)
{
    char var[96], sz[32];
    snprintf(var, sizeof(var), "%s/%dproc", variant, nproc);
    int rounds = o->rounds < ROUNDS_MAX ? o->rounds : ROUNDS_MAX;
    if (rounds > 3)
        rounds = 3; /* N engines start per case: keep the run short */
    struct procs_shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        bench_row_skip(csv, "kvplug", var, "put", size, "no shared memory");
        return;
    }
    memset(sh, 0, sizeof(*sh));
    pthread_barrierattr_t ba;
    pthread_barrierattr_init(&ba);
    pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&sh->bar, &ba, (unsigned)nproc);
    bench_progress("kvplug", "%s %s: %d processes", var,
                   bench_fmt_size(size, sz, sizeof(sz)), nproc);
    fflush(csv);
    pid_t pid[PROCS_MAX];
    int started = 0;
    for (int i = 0; i < nproc; i++) {
        pid[i] = fork();
        if (pid[i] == 0) {
            procs_child(sh, i, nproc, ops, host, config, size, rounds,
                        o->ws_bytes);
            _exit(0);
        }
        started += pid[i] > 0;
    }
    int ok = started == nproc;
    for (int i = 0; i < nproc; i++) {
        if (pid[i] <= 0)
            continue;
        int st = 0;
        if (!ok)
            kill(pid[i], SIGKILL);
        waitpid(pid[i], &st, 0);
        ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    for (int i = 0; ok && i < nproc; i++)
        ok = sh->err[i] == KVP_OK;
    for (int ph = 0; ph < 2; ph++) {
        const char *op = ph ? "get" : "put";
        if (!ok) {
            bench_row_skip(csv, "kvplug", var, op, size,
                           "a client process failed");
            continue;
        }
        double g[ROUNDS_MAX];
        uint64_t calls = 0;
        for (int r = 0; r < rounds; r++) {
            uint64_t a = UINT64_MAX, b = 0, bytes = 0;
            for (int i = 0; i < nproc; i++) {
                a = sh->t0[r][ph][i] < a ? sh->t0[r][ph][i] : a;
                b = sh->t1[r][ph][i] > b ? sh->t1[r][ph][i] : b;
                bytes += sh->bytes[r][ph][i];
            }
            calls += bytes / size;
            g[r] = b > a ? (double)bytes / (double)(b - a) : 0;
        }
        struct bench_row row = {.system = "kvplug",
                                .variant = var,
                                .op = op,
                                .value_bytes = size,
                                .batch = 1,
                                .tp = 1,
                                .split_dim = -1,
                                .calls = calls,
                                .rounds = rounds,
                                .gbps = bench_median(g, rounds),
                                .p50_us = sh->p50[ph],
                                .p99_us = sh->p99[ph],
                                .note = "aggregate of all processes"};
        bench_csv_row(csv, &row);
    }
    fflush(csv);
    pthread_barrier_destroy(&sh->bar);
    munmap(sh, sizeof(*sh));
}

void bench_procs_run(const struct bench_opts *o, const struct kvp_ops *ops,
                     const struct kvp_host_api *host, const char *variant,
                     const char *config, const int *procs, int n_procs,
                     FILE *csv)
{
    for (int s = 0; s < o->n_sizes; s++) {
        if (o->sizes[s] > (UINT64_C(16) << 20))
            continue; /* the range: 64 KiB - 16 MiB */
        for (int p = 0; p < n_procs; p++)
            if (procs[p] >= 1 && procs[p] <= PROCS_MAX &&
                o->ws_bytes / (uint64_t)procs[p] >= o->sizes[s])
                procs_case(o, ops, host, variant, config, procs[p], o->sizes[s],
                           csv);
    }
}
