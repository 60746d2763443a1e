/*
 * ucx_warm.c - warms this process's mapping of a peer's shared-memory
 * region (the server's pool, when UCX maps it here) so the data path does
 * not pay for first touches.
 *
 * Two costs hide behind a first touch. The guest page tables: one
 * madvise(MADV_POPULATE_WRITE) fills them in bulk (about 0.1 s per GiB
 * here). And, on a virtual machine with shadow paging (the CI machines),
 * the hypervisor's own tables, filled only by a real access from the guest:
 * populated-but-untouched pages still cost ~3 us each, 0.6 ms per fresh
 * MiB of put (docs/performance.md). So every page is also touched once:
 * the first UCX_WARM_SYNC_BYTES before rkey_unpack returns (a pool's
 * allocator fills it from the bottom, and the connection is then ready at
 * full speed), the rest on a thread of its own, so a huge pool does not
 * stall the connect. The touch is an atomic OR of 0 into one byte per
 * page: it stores back what it read, so it cannot lose a concurrent put's
 * bytes. Reads only where the mapping was not populated for writing.
 */
#include "ucx_warm.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Touched before rkey_unpack returns; the rest in the background. About
 * 0.6-0.9 s per GiB on the CI machines. KVPLUG_UCX_WARM_SYNC (bytes)
 * overrides it; 0 warms everything in the background (a test uses it). */
#define UCX_WARM_SYNC_BYTES (UINT64_C(1) << 30)

static uint64_t sync_bytes(struct kvp_xport_ctx *ctx)
{
    uint64_t v = UCX_WARM_SYNC_BYTES;
    if (ucx_env_bytes("KVPLUG_UCX_WARM_SYNC", &v) < 0) {
        KVP_LOG_W(&ctx->log,
                  "ucx: KVPLUG_UCX_WARM_SYNC='%s' is not a byte count; "
                  "using %" PRIu64,
                  getenv("KVPLUG_UCX_WARM_SYNC"), UCX_WARM_SYNC_BYTES);
        v = UCX_WARM_SYNC_BYTES;
    }
    return v;
}

struct ucx_warm {
    struct kvp_xport_ctx *ctx;
    pthread_t thread;
    int has_thread;
    atomic_int stop;
    uint8_t *start;
    size_t len, page, sync_len;
    int writable;
};

static void touch(struct ucx_warm *w, size_t from, size_t to)
{
    uint64_t t0 = kvp_now_ns();
    size_t at = from;
    for (; at < to && !atomic_load_explicit(&w->stop, memory_order_relaxed);
         at += w->page) {
        if (w->writable)
            __atomic_fetch_or(w->start + at, 0, __ATOMIC_RELAXED);
        else
            (void)*(volatile uint8_t *)(w->start + at);
    }
    KVP_LOG_D(&w->ctx->log,
              "ucx: touched bytes %zu..%zu of a peer mapping at %p in "
              "%.1f ms",
              from, at < to ? at : to, (void *)w->start,
              (double)(kvp_now_ns() - t0) / 1e6);
}

static void *warm_main(void *arg)
{
    struct ucx_warm *w = arg;
    touch(w, w->sync_len, w->len);
    return NULL;
}

struct ucx_warm *ucx_warm_start(struct kvp_xport_ctx *ctx, void *lp, uint64_t len)
{
    if (lp == NULL)
        return NULL;
    struct ucx_warm *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL; /* best effort: the data path works without it */
    w->ctx = ctx;
    w->page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)lp & ~(uintptr_t)(w->page - 1);
    w->start = (uint8_t *)start;
    w->len = (size_t)((uintptr_t)lp + len - start);
    uint64_t t0 = kvp_now_ns();
    w->writable = madvise(w->start, w->len, MADV_POPULATE_WRITE) == 0;
    int populated =
        w->writable || madvise(w->start, w->len, MADV_POPULATE_READ) == 0;
    KVP_LOG_D(&ctx->log,
              "ucx: peer region of %" PRIu64
              " bytes mapped at %p: page tables %s in %.1f ms",
              len, lp, populated ? "populated" : "not populated",
              (double)(kvp_now_ns() - t0) / 1e6);
    uint64_t sync = sync_bytes(ctx);
    w->sync_len = w->len < sync ? w->len : (size_t)sync;
    touch(w, 0, w->sync_len);
    if (w->sync_len < w->len)
        w->has_thread = pthread_create(&w->thread, NULL, warm_main, w) == 0;
    return w;
}

void ucx_warm_stop(struct ucx_warm *w)
{
    if (w == NULL)
        return;
    atomic_store(&w->stop, 1);
    if (w->has_thread)
        pthread_join(w->thread, NULL);
    free(w);
}
