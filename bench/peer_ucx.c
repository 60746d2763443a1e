/*
 * peer_ucx.c - kvp-bench-ucx: raw UCP one-sided put/get over the same
 * working set kvplug-bench uses. It is the transport's ceiling: no control
 * protocol, no index, no keys - just ucp_put_nbx/ucp_get_nbx and a flush.
 *
 * One process, two UCP contexts/workers: a "target" that owns a region
 * allocated by UCX (so the shared-memory transports can expose it, as the
 * kvplug server's pool is) and progresses its worker on its own thread,
 * and an "initiator" that ucp_mem_map()s the user buffers and moves the
 * bytes. A batch of n slots is n puts (gets) then one flush, as kvplug
 * batches do.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <ucp/api/ucp.h>

/* How the target region is made: allocated by UCX (shared memory the
 * initiator maps: true one-sided), the caller's own mmap registered (what a
 * server that mmaps its pool gets: UCX emulates RMA with active messages),
 * or the caller's mapping replaced in place by a UCX allocation
 * (UCP_MEM_MAP_FIXED). */
enum { TGT_ALLOC, TGT_USER, TGT_FIXED };

struct ucx_side {
    ucp_context_h ctx;
    ucp_worker_h worker;
};

struct ucx_bench {
    struct ucx_side tgt, ini;
    ucp_mem_h tgt_memh, ini_memh;
    void *tgt_base; /* the target region */
    int tgt_mode;   /* TGT_ALLOC, TGT_USER or TGT_FIXED */
    uint64_t tgt_len;
    char *ws; /* the user working set (initiator) */
    uint64_t ws_len;
    ucp_ep_h ep;
    ucp_rkey_h rkey;
    pthread_t progress;
    atomic_int stop;
    /* the case being run */
    uint64_t slot_bytes;
    int is_put;
};

static int side_init(struct ucx_side *s)
{
    ucp_params_t p = {.field_mask = UCP_PARAM_FIELD_FEATURES,
                      .features = UCP_FEATURE_RMA | UCP_FEATURE_WAKEUP};
    ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
                              .thread_mode = UCS_THREAD_MODE_SINGLE};
    ucs_status_t st = ucp_init(&p, NULL, &s->ctx);
    if (st != UCS_OK) {
        fprintf(stderr, "ucp_init: %s\n", ucs_status_string(st));
        return -1;
    }
    st = ucp_worker_create(s->ctx, &wp, &s->worker);
    if (st != UCS_OK) {
        fprintf(stderr, "ucp_worker_create: %s\n", ucs_status_string(st));
        ucp_cleanup(s->ctx);
        return -1;
    }
    return 0;
}

static void side_fini(struct ucx_side *s)
{
    if (s->worker)
        ucp_worker_destroy(s->worker);
    if (s->ctx)
        ucp_cleanup(s->ctx);
}

/* The target's own thread: it progresses the worker, sleeping in the
 * worker's wakeup fd when there is nothing to do. */
static void *target_progress(void *arg)
{
    struct ucx_bench *b = arg;
    while (!atomic_load(&b->stop)) {
        while (ucp_worker_progress(b->tgt.worker))
            ;
        ucs_status_t st = ucp_worker_arm(b->tgt.worker);
        if (st == UCS_OK)
            ucp_worker_wait(b->tgt.worker);
    }
    return NULL;
}

static ucs_status_t wait_req(ucp_worker_h w, void *req)
{
    if (req == NULL)
        return UCS_OK;
    if (UCS_PTR_IS_ERR(req))
        return UCS_PTR_STATUS(req);
    ucs_status_t st;
    while ((st = ucp_request_check_status(req)) == UCS_INPROGRESS)
        ucp_worker_progress(w);
    ucp_request_free(req);
    return st;
}

static int map_target(struct ucx_bench *b)
{
    ucp_mem_map_params_t mp = {.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
                                             UCP_MEM_MAP_PARAM_FIELD_LENGTH |
                                             UCP_MEM_MAP_PARAM_FIELD_FLAGS,
                               .address = NULL,
                               .length = b->tgt_len,
                               .flags = UCP_MEM_MAP_ALLOCATE};
    if (b->tgt_mode != TGT_ALLOC) {
        mp.address = bench_map(b->tgt_len);
        if (!mp.address)
            return -1;
        mp.flags = b->tgt_mode == TGT_FIXED
                       ? UCP_MEM_MAP_ALLOCATE | UCP_MEM_MAP_FIXED
                       : 0;
    }
    ucs_status_t st = ucp_mem_map(b->tgt.ctx, &mp, &b->tgt_memh);
    if (st != UCS_OK) {
        fprintf(stderr, "ucp_mem_map(target, %llu B): %s\n",
                (unsigned long long)b->tgt_len, ucs_status_string(st));
        return -1;
    }
    ucp_mem_attr_t attr = {.field_mask = UCP_MEM_ATTR_FIELD_ADDRESS};
    ucp_mem_query(b->tgt_memh, &attr);
    b->tgt_base = attr.address;
    return 0;
}

static int map_initiator(struct ucx_bench *b)
{
    ucp_mem_map_params_t mp = {.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
                                             UCP_MEM_MAP_PARAM_FIELD_LENGTH,
                               .address = b->ws,
                               .length = b->ws_len};
    ucs_status_t st = ucp_mem_map(b->ini.ctx, &mp, &b->ini_memh);
    if (st != UCS_OK) {
        fprintf(stderr, "ucp_mem_map(user buffers): %s\n",
                ucs_status_string(st));
        return -1;
    }
    return 0;
}

static int connect_sides(struct ucx_bench *b)
{
    ucp_address_t *addr = NULL;
    size_t addr_len = 0;
    void *rkey_buf = NULL;
    size_t rkey_len = 0;
    ucs_status_t st = ucp_worker_get_address(b->tgt.worker, &addr, &addr_len);
    if (st != UCS_OK)
        goto err;
    ucp_ep_params_t ep = {.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS,
                          .address = addr};
    st = ucp_ep_create(b->ini.worker, &ep, &b->ep);
    ucp_worker_release_address(b->tgt.worker, addr);
    if (st != UCS_OK)
        goto err;
    st = ucp_rkey_pack(b->tgt.ctx, b->tgt_memh, &rkey_buf, &rkey_len);
    if (st != UCS_OK)
        goto err;
    st = ucp_ep_rkey_unpack(b->ep, rkey_buf, &b->rkey);
    ucp_rkey_buffer_release(rkey_buf);
    if (st != UCS_OK)
        goto err;
    return 0;
err:
    fprintf(stderr, "connecting the UCP workers: %s\n", ucs_status_string(st));
    return -1;
}

static int flush_ep(struct ucx_bench *b)
{
    ucp_request_param_t rp = {.op_attr_mask = 0};
    return wait_req(b->ini.worker, ucp_ep_flush_nbx(b->ep, &rp)) == UCS_OK ? 0
                                                                           : -1;
}

/* One timed call: n puts (gets) of consecutive slots, then one flush. */
static int ucx_call(void *ctx, uint32_t first, uint32_t n)
{
    struct ucx_bench *b = ctx;
    ucp_request_param_t rp = {.op_attr_mask = 0};
    for (uint32_t i = 0; i < n; i++) {
        uint64_t off = (uint64_t)(first + i) * b->slot_bytes;
        void *local = b->ws + off;
        uint64_t raddr = (uint64_t)(uintptr_t)b->tgt_base + off;
        void *req =
            b->is_put
                ? ucp_put_nbx(b->ep, local, b->slot_bytes, raddr, b->rkey, &rp)
                : ucp_get_nbx(b->ep, local, b->slot_bytes, raddr, b->rkey, &rp);
        if (UCS_PTR_IS_ERR(req))
            return -1;
        if (req)
            ucp_request_free(req); /* completion comes with the flush */
    }
    return flush_ep(b);
}

/* One untimed put pass over the whole target: the initiator's mapping of
 * the target segment is new and faults on first touch (~13 us per page),
 * which would otherwise land in the first timed case. Returns 1 on
 * success. */
static int warm_up(struct ucx_bench *b)
{
    const uint64_t chunk = UINT64_C(1) << 20;
    b->is_put = 1;
    b->slot_bytes = chunk;
    for (uint32_t i = 0; i < (uint32_t)(b->tgt_len / chunk); i++)
        if (ucx_call(b, i, 1) != 0)
            return 0;
    return 1;
}

static void close_ep(struct ucx_bench *b)
{
    if (b->rkey)
        ucp_rkey_destroy(b->rkey);
    b->rkey = NULL;
    if (b->ep) {
        ucp_request_param_t rp = {.op_attr_mask = 0};
        wait_req(b->ini.worker, ucp_ep_close_nbx(b->ep, &rp));
    }
    b->ep = NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: kvp-bench-ucx [options]\n"
                    "  raw UCP put/get; UCX_TLS picks the transports "
                    "(variant label = --label)\n");
    bench_opts_usage(stderr);
    fprintf(stderr, "  --label NAME       variant column (default $UCX_TLS "
                    "or 'default')\n"
                    "  --target-mem M     alloc (UCX allocates the target "
                    "region, default),\n"
                    "                     user (caller mmap, registered), "
                    "fixed (mmap replaced by UCX)\n");
}

static void run_cases(struct ucx_bench *b, const struct bench_opts *o,
                      FILE *csv, const char *label)
{
    static const struct bench_case_ops ops = {.call = ucx_call};
    for (int s = 0; s < o->n_sizes; s++) {
        uint64_t size = o->sizes[s];
        uint32_t nslots = (uint32_t)(o->ws_bytes / size);
        if (nslots == 0)
            continue;
        b->slot_bytes = size;
        for (int op = 0; op < 2; op++) {
            b->is_put = op == 0;
            for (int k = 0; k < o->n_batches; k++) {
                uint32_t batch = o->batches[k];
                if (batch > nslots)
                    continue;
                struct bench_row row = {.system = "ucx-raw",
                                        .variant = label,
                                        .op = op == 0 ? "put" : "get",
                                        .tp = 1,
                                        .split_dim = -1};
                int rc = bench_case_run(o, &ops, b, nslots, batch, size, "ucx",
                                        &row);
                row.note = rc ? "failed" : "";
                bench_csv_row(csv, &row);
            }
        }
    }
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    struct ucx_bench b = {0};
    const char *label = getenv("UCX_TLS") ? getenv("UCX_TLS") : "default";
    int rc = 1;

    bench_opts_defaults(&o);
    for (int i = 1; i < argc; i++) {
        int r = bench_opts_parse(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r == 1)
            continue;
        if (strcmp(argv[i], "--label") == 0 && i + 1 < argc) {
            label = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--target-mem") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            b.tgt_mode = strcmp(v, "user") == 0    ? TGT_USER
                         : strcmp(v, "fixed") == 0 ? TGT_FIXED
                                                   : TGT_ALLOC;
            if (b.tgt_mode == TGT_ALLOC && strcmp(v, "alloc") != 0) {
                usage();
                return 2;
            }
            continue;
        }
        usage();
        return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
    static char label_buf[64];
    snprintf(label_buf, sizeof(label_buf), "%s", label);
    for (char *c = label_buf; *c; c++)
        if (*c == ',')
            *c = '+';            /* the variant is one CSV field */
    if (b.tgt_mode != TGT_ALLOC) /* the variant says how */
        snprintf(label_buf + strlen(label_buf),
                 sizeof(label_buf) - strlen(label_buf), "/%s-mem",
                 b.tgt_mode == TGT_USER ? "user" : "fixed");
    label = label_buf;
    FILE *csv = bench_csv_open(o.csv);
    if (!csv)
        return 1;

    b.ws_len = b.tgt_len = o.ws_bytes;
    b.ws = bench_map(b.ws_len);
    if (!b.ws || side_init(&b.tgt) || side_init(&b.ini))
        goto out;
    if (map_target(&b) || map_initiator(&b))
        goto out;
    uint64_t ft_ws = bench_prefault(b.ws, b.ws_len, 1);
    uint64_t ft_tgt = bench_prefault(b.tgt_base, b.tgt_len, 2);
    bench_csv_first_touch(csv, "ucx-raw", label, b.ws_len, ft_ws,
                          "user buffers");
    bench_csv_first_touch(csv, "ucx-raw", label, b.tgt_len, ft_tgt,
                          "target region (UCX allocated)");

    if (pthread_create(&b.progress, NULL, target_progress, &b) != 0)
        goto out;
    if (connect_sides(&b) == 0 && flush_ep(&b) == 0 && warm_up(&b)) {
        run_cases(&b, &o, csv, label);
        rc = 0;
    }
    close_ep(&b); /* while the target still progresses */
    atomic_store(&b.stop, 1);
    ucp_worker_signal(b.tgt.worker);
    pthread_join(b.progress, NULL);
out:
    bench_progress_end();
    close_ep(&b);
    if (b.ini_memh)
        ucp_mem_unmap(b.ini.ctx, b.ini_memh);
    if (b.tgt_memh)
        ucp_mem_unmap(b.tgt.ctx, b.tgt_memh);
    side_fini(&b.ini);
    side_fini(&b.tgt);
    bench_unmap(b.ws, b.ws_len);
    if (csv != stdout)
        fclose(csv);
    return rc;
}
