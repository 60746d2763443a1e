/*
 * ucx_crossover.c - kvplug-ucx-crossover: when does packing small extents
 * into a bounce buffer beat one put per extent?
 *
 * Through the real module (libkvplug_ucx.so, loaded like the plugin does),
 * a SERVER ctx and a CLIENT ctx in one process: the same total bytes are
 * written as N extents of S bytes from a strided source (stride 2*S, like a
 * TP shard with split_dim > 0) to one contiguous remote range, once with one
 * put per extent (ucx_pack_below = 1) and once packed (ucx_pack_below =
 * UINT64_MAX), each write followed by flush(). Prints a Markdown table and
 * the crossover: the smallest S from which one-put-per-extent is at least
 * as fast as pack+put for every larger S.
 *
 * Also measures what a UCP call costs under UCS_THREAD_MODE_MULTI versus
 * UCS_THREAD_MODE_SINGLE + our mutex (the choice in ucx_ctx.h).
 *
 * target: "user" (default) registers the caller's memory as the target
 * (mem_reg); "alloc" lets the module allocate it (mem_alloc: UCX shared
 * memory, what the server's pool uses since mem_alloc exists).
 *
 * usage: kvplug-ucx-crossover [total_MiB=16] [ucx_tls=default] [min_s=0.3]
 *                             [target=user|alloc]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ucp/api/ucp.h>

#include "clock.h"
#include "kvp_transport.h"
#include "ucx_params.h"

static const struct kvp_transport_ops *ops;

static double now_s(void)
{
    return (double)kvp_now_ns() / 1e9;
}

static void log_cb(void *user, int32_t level, const char *msg)
{
    (void)user;
    fprintf(stderr, "kvplug-ucx-crossover [%d]: %s\n", level, msg);
}

static void die_if(int cond, const char *what)
{
    if (cond) {
        fprintf(stderr, "kvplug-ucx-crossover: %s failed\n", what);
        exit(1);
    }
}

struct client {
    struct kvp_xport_ctx *ctx;
    struct kvp_xport_mem *mem;
    struct kvp_xport_ep *ep, *sep;
    struct kvp_xport_rkey *rk;
};

static struct kvp_xport_params params(uint32_t role, const char *tls,
                                  uint64_t pack_below)
{
    return ucx_params(role, tls, pack_below, 60000, log_cb);
}

static void client_open(struct client *c, struct kvp_xport_ctx *sctx,
                        struct kvp_xport_mem *pool_mem, const char *tls,
                        uint64_t pack_below, uint8_t *buf, uint64_t len)
{
    struct kvp_xport_params cp = params(KVP_XPORT_ROLE_CLIENT, tls, pack_below);
    uint8_t cb[KVP_XPORT_BLOB_MAX], sb[KVP_XPORT_BLOB_MAX], rb[KVP_XPORT_BLOB_MAX];
    uint32_t cl = 0, sl = 0, rl = 0;
    die_if(ops->ctx_create(&cp, &c->ctx) != KVP_OK, "client ctx_create");
    die_if(ops->mem_reg(c->ctx, buf, len, &c->mem) != KVP_OK, "mem_reg");
    die_if(ops->ep_create(c->ctx, cb, sizeof(cb), &cl, &c->ep) != KVP_OK,
           "ep_create");
    die_if(ops->ep_accept(sctx, cb, cl, sb, sizeof(sb), &sl, &c->sep) != KVP_OK,
           "ep_accept");
    die_if(ops->ep_connect(c->ep, sb, sl) != KVP_OK, "ep_connect");
    die_if(ops->mem_rkey_pack(pool_mem, rb, sizeof(rb), &rl) != KVP_OK,
           "rkey_pack");
    die_if(ops->rkey_unpack(c->ep, rb, rl, &c->rk) != KVP_OK, "rkey_unpack");
}

static void client_close(struct client *c)
{
    ops->rkey_destroy(c->rk);
    ops->ep_destroy(c->ep);
    ops->ep_destroy(c->sep);
    ops->mem_dereg(c->mem);
    ops->ctx_destroy(c->ctx);
}

/* Median seconds of write(iov)+flush over repeats lasting >= min_s. */
static double time_write(struct client *c, const struct kvp_xport_iov *iov,
                         uint32_t n, uint64_t raddr, double min_s)
{
    double t[256];
    int reps = 0;
    double start = now_s();
    die_if(ops->write(c->ep, iov, n, c->mem, raddr, c->rk) != KVP_OK ||
               ops->flush(c->ep, 0) != KVP_OK,
           "warm-up write");
    while (reps < 256 && (reps < 3 || now_s() - start < min_s)) {
        double t0 = now_s();
        die_if(ops->write(c->ep, iov, n, c->mem, raddr, c->rk) != KVP_OK,
               "write");
        die_if(ops->flush(c->ep, 0) != KVP_OK, "flush");
        t[reps++] = now_s() - t0;
    }
    for (int i = 1; i < reps; i++) /* insertion sort, reps <= 256 */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[reps / 2];
}

/* Median latency of a 4 KiB write+flush after the server sat idle long
 * enough for its progress thread to block in epoll (spin is 0.2 ms, the
 * epoll safety timeout 100 ms): ~tens of us if the worker's event fd wakes
 * it, ~50 ms if only the timeout does. */
static double idle_wakeup_us(struct client *c, uint8_t *buf, uint64_t raddr)
{
    double t[9];
    struct kvp_xport_iov iov = {buf, 4096};
    for (int i = 0; i < 9; i++) {
        struct timespec idle = {0, 30 * 1000000L};
        nanosleep(&idle, NULL);
        double t0 = now_s();
        die_if(ops->write(c->ep, &iov, 1, c->mem, raddr, c->rk) != KVP_OK ||
                   ops->flush(c->ep, 0) != KVP_OK,
               "idle write");
        t[i] = (now_s() - t0) * 1e6;
    }
    for (int i = 1; i < 9; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[4];
}

/* ns per ucp_worker_progress() on an idle worker: MULTI vs SINGLE+mutex. */
static double progress_ns(ucs_thread_mode_t mode, int with_mutex)
{
    ucp_params_t up = {.field_mask = UCP_PARAM_FIELD_FEATURES,
                       .features = UCP_FEATURE_RMA};
    ucp_context_h uctx;
    ucp_worker_h w;
    ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
                              .thread_mode = mode};
    die_if(ucp_init(&up, NULL, &uctx) != UCS_OK, "ucp_init");
    die_if(ucp_worker_create(uctx, &wp, &w) != UCS_OK, "ucp_worker_create");
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    const int iters = 2000000;
    double t0 = now_s();
    for (int i = 0; i < iters; i++) {
        if (with_mutex)
            pthread_mutex_lock(&mu);
        ucp_worker_progress(w);
        if (with_mutex)
            pthread_mutex_unlock(&mu);
    }
    double ns = (now_s() - t0) * 1e9 / iters;
    ucp_worker_destroy(w);
    ucp_cleanup(uctx);
    return ns;
}

int main(int argc, char **argv)
{
    uint64_t total = (argc > 1 ? strtoull(argv[1], NULL, 10) : 16) << 20;
    const char *tls = argc > 2 && strcmp(argv[2], "default") ? argv[2] : NULL;
    double min_s = argc > 3 ? atof(argv[3]) : 0.3;
    die_if(total == 0, "total size");
    struct kvp_logger lg = {log_cb, NULL, KVP_LOG_WARN};
    die_if(xport_module_load("ucx", &lg, &ops) != KVP_OK, "xport_module_load");

    int alloc_target = argc > 4 && strcmp(argv[4], "alloc") == 0;
    uint8_t *pool = NULL;
    uint8_t *buf = aligned_alloc(4096, 2 * total);
    die_if(buf == NULL, "allocation");
    memset(buf, 1, 2 * total);

    struct kvp_xport_params sp = params(KVP_XPORT_ROLE_SERVER, tls, 0);
    struct kvp_xport_ctx *sctx = NULL;
    struct kvp_xport_mem *pool_mem = NULL;
    die_if(ops->ctx_create(&sp, &sctx) != KVP_OK, "server ctx_create");
    if (alloc_target) {
        void *p = NULL;
        die_if(ops->mem_alloc == NULL ||
                   ops->mem_alloc(sctx, total, &p, &pool_mem) != KVP_OK,
               "pool mem_alloc");
        pool = p;
    } else {
        pool = aligned_alloc(4096, total);
        die_if(pool == NULL, "allocation");
    }
    memset(pool, 0, total); /* pre-fault, as the server does */
    if (!alloc_target)
        die_if(ops->mem_reg(sctx, pool, total, &pool_mem) != KVP_OK,
               "pool reg");
    struct client zc, pk;
    client_open(&zc, sctx, pool_mem, tls, 1, buf, 2 * total);
    client_open(&pk, sctx, pool_mem, tls, UINT64_MAX, buf, 2 * total);

    printf("UCX_TLS=%s, %llu MiB per write, strided source (stride 2*S), "
           "target %s, median of >= %.1f s per point\n\n",
           tls ? tls : "(default)", (unsigned long long)(total >> 20),
           alloc_target ? "allocated by UCX (mem_alloc)"
                        : "caller memory (mem_reg)",
           min_s);
    printf("| extent S | extents N | per-extent puts GB/s | pack+put GB/s "
           "| puts/pack time |\n|---:|---:|---:|---:|---:|\n");
    static const uint64_t sizes[] = {64,    128,    256,    512,   1024,
                                     2048,  4096,   8192,   16384, 32768,
                                     65536, 262144, 1048576};
    const int ns = (int)(sizeof(sizes) / sizeof(sizes[0]));
    double ratio[16];
    for (int k = 0; k < ns; k++) {
        uint64_t s = sizes[k], n = total / s;
        struct kvp_xport_iov *iov = malloc(n * sizeof(*iov));
        die_if(iov == NULL, "iov allocation");
        for (uint64_t i = 0; i < n; i++) {
            iov[i].ptr = buf + i * 2 * s;
            iov[i].len = s;
        }
        double tz = time_write(&zc, iov, (uint32_t)n, (uintptr_t)pool, min_s);
        double tp = time_write(&pk, iov, (uint32_t)n, (uintptr_t)pool, min_s);
        ratio[k] = tz / tp;
        printf("| %llu | %llu | %.2f | %.2f | %.2f |\n", (unsigned long long)s,
               (unsigned long long)n, total / tz / 1e9, total / tp / 1e9,
               ratio[k]);
        fflush(stdout);
        free(iov);
    }
    int cross = ns;
    while (cross > 0 && ratio[cross - 1] <= 1.0)
        cross--;
    if (cross < ns)
        printf("\ncrossover: per-extent puts are at least as fast as "
               "pack+put from %llu B extents up\n",
               (unsigned long long)sizes[cross]);
    else
        printf("\ncrossover: packing wins at every measured size\n");

    printf("idle server (progress thread asleep in epoll): 4 KiB write+flush "
           "median %.1f us\n",
           idle_wakeup_us(&zc, buf, (uintptr_t)pool));

    struct kvp_xport_stats st = {.struct_size = sizeof(st)};
    ops->stats(zc.ctx, &st);
    printf("check: zero-copy ctx packed %llu bytes (must be 0)\n",
           (unsigned long long)st.bytes_packed);

    client_close(&zc);
    client_close(&pk);
    ops->mem_dereg(pool_mem); /* frees pool when mem_alloc made it */
    ops->ctx_destroy(sctx);
    if (!alloc_target)
        free(pool);
    free(buf);

    printf("\nUCP call overhead (idle ucp_worker_progress): SINGLE %.1f ns, "
           "SINGLE+mutex %.1f ns, MULTI %.1f ns\n",
           progress_ns(UCS_THREAD_MODE_SINGLE, 0),
           progress_ns(UCS_THREAD_MODE_SINGLE, 1),
           progress_ns(UCS_THREAD_MODE_MULTI, 0));
    return 0;
}
