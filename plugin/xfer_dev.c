/*
 * xfer_dev.c - the batch engine's staged path for CUDA memory: stage.c's
 * pipeline with a CUDA copy engine (stage_pool.h) on one side and the
 * transport's write/read from the registered bounce slots on the other.
 * One pipeline per device per server batch (docs/cuda.md).
 */
#include <stdlib.h>

#include "ops.h"
#include "xfer.h"

struct dev_sink {
    struct kvp_engine *e;
    struct kvp_xport_ep *ep;
    struct kvp_xport_rkey *rkey;
    struct kvp_xport_mem *bounce_mem;
    int get;
};

/* user: the remote address of the transfer's first payload byte */
static int32_t sink_post(void *ctx, void *user, void *bounce, uint64_t len,
                         uint64_t off)
{
    struct dev_sink *k = ctx;
    uint64_t raddr = *(const uint64_t *)user + off;
    if (k->get)
        return k->e->tops->read(k->ep, bounce, len, k->bounce_mem, raddr,
                                k->rkey);
    struct kvp_xport_iov iov = {bounce, len};
    return k->e->tops->write(k->ep, &iov, 1, k->bounce_mem, raddr, k->rkey);
}

static int32_t sink_flush(void *ctx)
{
    struct dev_sink *k = ctx;
    return k->e->tops->flush(k->ep, k->e->cfg.timeout_ms);
}

/* The device region of a put job's payload: its strided shard extents,
 * or one row. */
static struct stage_region put_region(const struct put_job *j)
{
    if (j->plan == NULL)
        return (struct stage_region){(uintptr_t)j->data, j->data_len,
                                     j->data_len, j->data_len > 0};
    const struct tp_plan *p = j->plan;
    uint64_t rows = p->extent_len > 0 ? p->n_extents : 0;
    return (struct stage_region){
        (uintptr_t)j->payload + (uint64_t)j->rank * p->rank_offset,
        p->extent_len, p->stride > p->extent_len ? p->stride : p->extent_len,
        rows};
}

/* Runs one direction for the staged jobs of one device. */
static void run_device(struct kvp_engine *e, struct kvp_xport_ep *ep,
                       struct kvp_xport_rkey *rkey, int32_t device, int get,
                       struct stage_xfer *x, uint32_t n)
{
    struct stage_pair *pair = NULL;
    int32_t st = stage_pool_get(&e->stage, device, &pair);
    if (st != KVP_OK) {
        for (uint32_t i = 0; i < n; i++)
            x[i].status = st;
        return;
    }
    struct dev_sink k = {e, ep, rkey, pair->mem, get};
    struct stage_sink sink = {&k, sink_post, sink_flush};
    struct stage_stats stats = {0};
    if (get)
        stage_get(&pair->copier, &sink, &pair->bounce, x, n, &stats);
    else
        stage_put(&pair->copier, &sink, &pair->bounce, x, n, &stats);
    stage_pool_put(&e->stage, pair);
    KVP_LOG_D(&e->log,
              "staged %s: %u object(s), %llu chunk(s), %llu overlapped, "
              "device %d",
              get ? "get" : "put", n, (unsigned long long)stats.chunks,
              (unsigned long long)stats.overlapped, device);
}

/* Groups x[0..n) by device (devs[i]) and runs each group. */
static void run_all(struct kvp_engine *e, struct kvp_xport_ep *ep,
                    struct kvp_xport_rkey *rkey, int get, struct stage_xfer *x,
                    int32_t *devs, uint32_t n)
{
    struct stage_xfer *grp = malloc((size_t)n * sizeof(*grp));
    uint32_t *at = malloc((size_t)n * sizeof(*at));
    if (grp == NULL || at == NULL) {
        for (uint32_t i = 0; i < n; i++)
            x[i].status = KVP_ERR_NO_MEMORY;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (devs[i] < 0)
            continue; /* already run with an earlier group */
        int32_t dev = devs[i];
        uint32_t m = 0;
        for (uint32_t k = i; k < n; k++)
            if (devs[k] == dev) {
                at[m] = k;
                grp[m++] = x[k];
                devs[k] = -1;
            }
        run_device(e, ep, rkey, dev, get, grp, m);
        for (uint32_t k = 0; k < m; k++)
            x[at[k]].status = grp[k].status;
    }
out:
    free(grp);
    free(at);
}

void xfer_dev_put(struct kvp_engine *e, struct kvp_xport_ep *ep,
                  struct kvp_xport_rkey *rkey, struct put_job *jobs,
                  const uint32_t *idx, uint32_t cnt, int32_t *item_status)
{
    if (cnt == 0)
        return;
    struct stage_xfer *x = calloc(cnt, sizeof(*x));
    int32_t *devs = calloc(cnt, sizeof(*devs));
    uint64_t *raddr = calloc(cnt, sizeof(*raddr));
    if (x == NULL || devs == NULL || raddr == NULL) {
        for (uint32_t i = 0; i < cnt; i++)
            if (item_status[jobs[idx[i]].item] == KVP_OK)
                item_status[jobs[idx[i]].item] = KVP_ERR_NO_MEMORY;
        goto out;
    }
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        raddr[i] = j->raddr + (j->hdr != NULL ? KVP_TENSOR_HDR_SIZE : 0);
        x[i] = (struct stage_xfer){put_region(j), &raddr[i], KVP_OK};
        devs[i] = j->device;
    }
    run_all(e, ep, rkey, 0, x, devs, cnt);
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        if (x[i].status == KVP_OK)
            continue;
        KVP_LOG_E(&e->log, "put: key '%.128s': staged write: %s", j->key,
                  kvp_op_status_str(x[i].status));
        j->status = x[i].status;
        if (item_status[j->item] == KVP_OK)
            item_status[j->item] = x[i].status;
    }
out:
    free(x);
    free(devs);
    free(raddr);
}

void xfer_dev_get(struct kvp_engine *e, struct kvp_xport_ep *ep,
                  struct kvp_xport_rkey *rkey, struct get_job *jobs,
                  const uint32_t *idx, const uint64_t *raddr,
                  const uint64_t *len, uint32_t cnt)
{
    if (cnt == 0)
        return;
    struct stage_xfer *x = calloc(cnt, sizeof(*x));
    int32_t *devs = calloc(cnt, sizeof(*devs));
    if (x == NULL || devs == NULL) {
        for (uint32_t i = 0; i < cnt; i++)
            jobs[idx[i]].result = KVP_ERR_NO_MEMORY;
        goto out;
    }
    for (uint32_t i = 0; i < cnt; i++) {
        struct get_job *j = &jobs[idx[i]];
        x[i] =
            (struct stage_xfer){{(uintptr_t)j->dst, len[i], len[i], len[i] > 0},
                                (void *)&raddr[i],
                                KVP_OK};
        devs[i] = j->device;
    }
    run_all(e, ep, rkey, 1, x, devs, cnt);
    for (uint32_t i = 0; i < cnt; i++) {
        if (x[i].status == KVP_OK)
            continue;
        KVP_LOG_E(&e->log, "get: key '%.128s': staged read: %s",
                  jobs[idx[i]].key, kvp_op_status_str(x[i].status));
        jobs[idx[i]].result = x[i].status;
    }
out:
    free(x);
    free(devs);
}
