/* ucx_ep.c - connections by blob exchange (worker addresses), their error
 * handling, and rkeys unpacked for an ep. */
#include "ucx_ep.h"

#include <inttypes.h>
#include <stddef.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "le.h"
#include "ucx_blob.h"

#ifndef MADV_POPULATE_READ /* Linux 5.14; glibc headers may predate it */
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Peer failure: recorded, reported by the next flush(). Runs inside worker
 * progress, under ctx->lock. */
static void ep_err_cb(void *arg, ucp_ep_h uep, ucs_status_t st)
{
    struct kvp_xport_ep *ep = arg;
    if (ep->first_err == UCS_OK)
        ep->first_err = st;
    KVP_LOG_W(&ep->ctx->log, "ucx: peer of ep %p failed: %s", (void *)ep,
              ucs_status_string(st));
}

/* Checks that an address blob fits in cap, without writing it. */
static int32_t addr_blob_fits(struct kvp_xport_ctx *ctx, void *blob, uint32_t cap,
                              uint32_t *len_p)
{
    uint64_t need = UCX_BLOB_HDR + (uint64_t)ctx->addr_len;
    if (blob == NULL || len_p == NULL) {
        KVP_LOG_E(&ctx->log, "ucx: address blob buffer or length is NULL");
        return KVP_ERR_INVALID;
    }
    if (need > cap) {
        KVP_LOG_E(&ctx->log,
                  "ucx: address blob needs %" PRIu64 " bytes, "
                  "buffer holds %u",
                  need, cap);
        return KVP_ERR_TOO_SMALL;
    }
    return KVP_OK;
}

/* Writes this ctx's address blob (addr_blob_fits() said it fits). */
static void addr_blob_write(struct kvp_xport_ctx *ctx, void *blob, uint32_t *len_p)
{
    ucx_blob_put_hdr(blob, UCX_BLOB_ADDR, (uint32_t)ctx->addr_len);
    memcpy((uint8_t *)blob + UCX_BLOB_HDR, ctx->addr, ctx->addr_len);
    *len_p = (uint32_t)(UCX_BLOB_HDR + ctx->addr_len);
}

static struct kvp_xport_ep *ep_alloc(struct kvp_xport_ctx *ctx)
{
    struct kvp_xport_ep *ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        KVP_LOG_E(&ctx->log, "ucx: ep: out of memory");
        return NULL;
    }
    ep->ctx = ctx;
    ep->first_err = UCS_OK;
    return ep;
}

/* Creates the UCP ep to the worker address inside a checked blob. */
static int32_t ep_open(struct kvp_xport_ep *ep, const void *peer_blob,
                       uint32_t peer_len)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    uint32_t plen = 0;
    int32_t status =
        ucx_blob_check(&ctx->log, peer_blob, peer_len, UCX_BLOB_ADDR, &plen);
    if (status != KVP_OK)
        return status;
    ucp_ep_params_t p = {
        .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS |
                      UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER,
        .address =
            (const ucp_address_t *)((const uint8_t *)peer_blob + UCX_BLOB_HDR),
        .err_mode = ctx->peer_err_mode ? UCP_ERR_HANDLING_MODE_PEER
                                       : UCP_ERR_HANDLING_MODE_NONE,
        .err_handler = {.cb = ep_err_cb, .arg = ep},
    };
    if (!ctx->peer_err_mode)
        p.field_mask &= ~(uint64_t)UCP_EP_PARAM_FIELD_ERR_HANDLER;
    pthread_mutex_lock(&ctx->lock);
    ucs_status_t st = ucp_ep_create(ctx->worker, &p, &ep->ep);
    pthread_mutex_unlock(&ctx->lock);
    if (st != UCS_OK) {
        KVP_LOG_E(&ctx->log,
                  "ucx: cannot reach the peer (UCX_TLS='%s'): "
                  "ucp_ep_create: %s",
                  ctx->tls, ucs_status_string(st));
        ep->ep = NULL;
        return ucx_status_map(st);
    }
    ep->connected = 1;
    return KVP_OK;
}

int32_t ucx_ep_create(struct kvp_xport_ctx *ctx, void *blob, uint32_t cap,
                      uint32_t *len_p, struct kvp_xport_ep **ep_p)
{
    if (ctx == NULL || ep_p == NULL) {
        kvp_logf(NULL, KVP_LOG_ERROR, "ucx: ep_create: ctx or ep_p is NULL");
        return KVP_ERR_INVALID;
    }
    int32_t status = addr_blob_fits(ctx, blob, cap, len_p);
    if (status != KVP_OK)
        return status;
    struct kvp_xport_ep *ep = ep_alloc(ctx);
    if (ep == NULL)
        return KVP_ERR_NO_MEMORY;
    addr_blob_write(ctx, blob, len_p);
    *ep_p = ep;
    return KVP_OK;
}

int32_t ucx_ep_accept(struct kvp_xport_ctx *ctx, const void *peer_blob,
                      uint32_t peer_len, void *blob, uint32_t cap,
                      uint32_t *len_p, struct kvp_xport_ep **ep_p)
{
    if (ctx == NULL || ep_p == NULL) {
        kvp_logf(NULL, KVP_LOG_ERROR, "ucx: ep_accept: ctx or ep_p is NULL");
        return KVP_ERR_INVALID;
    }
    /* The target side of one-sided RMA needs no UCP ep of its own: the
     * client's ep reaches this worker, whose progress serves it. So the
     * accepted ep is passive; it only validates the peer and answers. */
    uint32_t plen = 0;
    int32_t status =
        ucx_blob_check(&ctx->log, peer_blob, peer_len, UCX_BLOB_ADDR, &plen);
    if (status != KVP_OK)
        return status;
    status = addr_blob_fits(ctx, blob, cap, len_p);
    if (status != KVP_OK)
        return status;
    struct kvp_xport_ep *ep = ep_alloc(ctx);
    if (ep == NULL)
        return KVP_ERR_NO_MEMORY;
    ep->passive = 1;
    addr_blob_write(ctx, blob, len_p);
    *ep_p = ep;
    return KVP_OK;
}

int32_t ucx_ep_connect(struct kvp_xport_ep *ep, const void *peer_blob,
                       uint32_t peer_len)
{
    if (ep == NULL) {
        kvp_logf(NULL, KVP_LOG_ERROR, "ucx: ep_connect: ep is NULL");
        return KVP_ERR_INVALID;
    }
    if (ep->connected || ep->passive) {
        KVP_LOG_E(&ep->ctx->log, "ucx: ep_connect: ep %p is %s", (void *)ep,
                  ep->passive ? "an accepted (passive) ep"
                              : "already connected");
        return KVP_ERR_INVALID;
    }
    return ep_open(ep, peer_blob, peer_len);
}

void ucx_ep_close(struct kvp_xport_ep *ep, int force)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    if (ep->ep == NULL)
        return;
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
        .flags = force ? UCP_EP_CLOSE_FLAG_FORCE : 0,
    };
    pthread_mutex_lock(&ctx->lock);
    void *req = ucp_ep_close_nbx(ep->ep, &p);
    pthread_mutex_unlock(&ctx->lock);
    ep->ep = NULL;
    if (req == NULL || UCS_PTR_IS_ERR(req))
        return;
    uint64_t deadline = kvp_now_ns() + UCX_CLOSE_WAIT_MS * 1000000ull;
    if (ucx_wait_req(ctx, req, deadline) == UCS_INPROGRESS) {
        KVP_LOG_W(&ctx->log, "ucx: ep %p: %s close did not finish in %u ms",
                  (void *)ep, force ? "forced" : "graceful", UCX_CLOSE_WAIT_MS);
        pthread_mutex_lock(&ctx->lock);
        ucp_request_cancel(ctx->worker, req);
        pthread_mutex_unlock(&ctx->lock);
    }
    pthread_mutex_lock(&ctx->lock);
    ucp_request_free(req);
    pthread_mutex_unlock(&ctx->lock);
}

/* Waits (bounded) until no completion callback refers to ep any more.
 * Returns 0 when none is left. */
static int ep_drain(struct kvp_xport_ep *ep)
{
    uint64_t deadline = kvp_now_ns() + UCX_CLOSE_WAIT_MS * 1000000ull;
    for (;;) {
        pthread_mutex_lock(&ep->ctx->lock);
        ucp_worker_progress(ep->ctx->worker);
        uint32_t left = ep->inflight;
        pthread_mutex_unlock(&ep->ctx->lock);
        if (left == 0)
            return 0;
        if (kvp_now_ns() >= deadline)
            return -1;
        sched_yield();
    }
}

/* Frees an ep that ucx_ep_destroy could not drain, once ctx's worker is
 * gone and no callback can name it any more. */
static void ep_release_zombie(struct ucx_deferred *d)
{
    struct kvp_xport_ep *ep =
        (struct kvp_xport_ep *)((char *)d -
                                offsetof(struct kvp_xport_ep, zombie));
    ucx_bounce_release(&ep->bounce);
    free(ep);
}

void ucx_ep_destroy(struct kvp_xport_ep *ep)
{
    if (ep == NULL)
        return;
    struct kvp_xport_ctx *ctx = ep->ctx;
    if (ep->n_rkeys != 0)
        KVP_LOG_W(&ctx->log,
                  "ucx: ep_destroy: %u rkeys of ep %p are still "
                  "alive; destroy them first",
                  ep->n_rkeys, (void *)ep);
    /* A healthy ep closes gracefully (the peer learns it; bounded wait), a
     * failed one is forced so UCX drops what is left. */
    ucx_ep_close(ep, ep->first_err != UCS_OK);
    if (ep_drain(ep) != 0) {
        /* A callback may still name ep: keep it until the worker is gone. */
        KVP_LOG_W(&ctx->log,
                  "ucx: ep %p: %u operations never completed; "
                  "it is released with its ctx",
                  (void *)ep, ep->inflight);
        ep->zombie.release = ep_release_zombie;
        ucx_ctx_defer(ctx, &ep->zombie);
        return;
    }
    ucx_bounce_release(&ep->bounce);
    free(ep);
}

int32_t ucx_rkey_unpack(struct kvp_xport_ep *ep, const void *blob, uint32_t len,
                        struct kvp_xport_rkey **rkey_p)
{
    if (ep == NULL || rkey_p == NULL) {
        kvp_logf(NULL, KVP_LOG_ERROR, "ucx: rkey_unpack: ep or rkey_p NULL");
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_ctx *ctx = ep->ctx;
    uint32_t plen = 0;
    int32_t status = ucx_blob_check(&ctx->log, blob, len, UCX_BLOB_RKEY, &plen);
    if (status != KVP_OK)
        return status;
    const uint8_t *b = blob;
    uint64_t base = kvp_le_get64(b + UCX_BLOB_HDR);
    uint64_t rlen = kvp_le_get64(b + UCX_BLOB_HDR + 8);
    if (plen <= 16 || rlen == 0 || base + rlen < base) {
        KVP_LOG_E(&ctx->log,
                  "ucx: rkey blob: bad region %#" PRIx64 " + %" PRIu64
                  " or empty key",
                  base, rlen);
        return KVP_ERR_INVALID;
    }
    if (ep->ep == NULL || !ep->connected) {
        KVP_LOG_E(&ctx->log, "ucx: rkey_unpack: ep %p is %s", (void *)ep,
                  ep->passive ? "an accepted (passive) ep" : "not connected");
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_rkey *rk = calloc(1, sizeof(*rk));
    if (rk == NULL) {
        KVP_LOG_E(&ctx->log, "ucx: rkey_unpack: out of memory");
        return KVP_ERR_NO_MEMORY;
    }
    pthread_mutex_lock(&ctx->lock);
    ucs_status_t st = ucp_ep_rkey_unpack(ep->ep, b + UCX_RKEY_HDR, &rk->rkey);
    if (st == UCS_OK)
        ep->n_rkeys++;
    pthread_mutex_unlock(&ctx->lock);
    if (st != UCS_OK) {
        KVP_LOG_E(&ctx->log, "ucx: rkey_unpack: ucp_ep_rkey_unpack: %s",
                  ucs_status_string(st));
        free(rk);
        return ucx_status_map(st);
    }
    rk->ep = ep;
    rk->base = base;
    rk->len = rlen;
    /* Shared memory UCX mapped here: the data path copies into it
     * directly (ucx_rma.c), and the mapping is warmed first. */
    void *lp = NULL;
    pthread_mutex_lock(&ctx->lock);
    if (ucp_rkey_ptr(rk->rkey, base, &lp) != UCS_OK)
        lp = NULL; /* emulated, tcp, another host */
    pthread_mutex_unlock(&ctx->lock);
    rk->local = ctx->use_mapped ? lp : NULL;
    rk->warm = ucx_warm_start(ctx, lp, rlen);
    *rkey_p = rk;
    return KVP_OK;
}

void ucx_rkey_destroy(struct kvp_xport_rkey *rkey)
{
    if (rkey == NULL)
        return;
    struct kvp_xport_ctx *ctx = rkey->ep->ctx;
    ucx_warm_stop(rkey->warm); /* it touches the mapping the rkey owns */
    pthread_mutex_lock(&ctx->lock);
    ucp_rkey_destroy(rkey->rkey);
    rkey->ep->n_rkeys--;
    pthread_mutex_unlock(&ctx->lock);
    free(rkey);
}
