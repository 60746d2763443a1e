/*
 * ucx_ep.h - endpoints (address blob exchange, connect, graceful or forced
 * close) and the peer rkeys unpacked on them. Builds on ucx_ctx.h,
 * ucx_bounce.h, ucx_warm.h and ucx_blob.h.
 */
#ifndef KVP_UCX_EP_H
#define KVP_UCX_EP_H

#include "ucx_bounce.h"
#include "ucx_ctx.h"
#include "ucx_warm.h"

/* How long an ep close may wait for its flush before it is forced. */
#define UCX_CLOSE_WAIT_MS 1000u

struct kvp_xport_ep {
    struct kvp_xport_ctx *ctx;
    ucp_ep_h ep;   /* NULL once closed, and for passive eps */
    int connected; /* after ep_connect */
    int passive;   /* made by ep_accept: the target side, no UCP ep */
    /* Guarded by ctx->lock (callbacks run inside progress, under it): */
    uint32_t inflight;      /* posted ops whose completion is pending */
    ucs_status_t first_err; /* first completion / peer error, UCS_OK if none */
    uint32_t n_rkeys;       /* live rkeys unpacked on this ep */
    struct ucx_bounce_pool bounce;
    struct ucx_deferred zombie; /* on ctx->zombies if never drained */
};

struct kvp_xport_rkey {
    struct kvp_xport_ep *ep;
    ucp_rkey_h rkey;
    uint64_t base; /* remote region, from the packed blob */
    uint64_t len;
    /* The region mapped into this process (shared memory, ucp_rkey_ptr),
     * or NULL: then every write/read goes through UCP. */
    uint8_t *local;
    struct ucx_warm *warm;
};

int32_t ucx_ep_create(struct kvp_xport_ctx *ctx, void *blob, uint32_t cap,
                      uint32_t *len_p, struct kvp_xport_ep **ep_p);
int32_t ucx_ep_accept(struct kvp_xport_ctx *ctx, const void *peer_blob,
                      uint32_t peer_len, void *blob, uint32_t cap,
                      uint32_t *len_p, struct kvp_xport_ep **ep_p);
int32_t ucx_ep_connect(struct kvp_xport_ep *ep, const void *peer_blob,
                       uint32_t peer_len);
void ucx_ep_destroy(struct kvp_xport_ep *ep);
int32_t ucx_rkey_unpack(struct kvp_xport_ep *ep, const void *blob, uint32_t len,
                        struct kvp_xport_rkey **rkey_p);
void ucx_rkey_destroy(struct kvp_xport_rkey *rkey);
/* Closes ep->ep (force when it failed or the flush does not finish in
 * UCX_CLOSE_WAIT_MS); caller holds no lock. */
void ucx_ep_close(struct kvp_xport_ep *ep, int force);

#endif /* KVP_UCX_EP_H */
