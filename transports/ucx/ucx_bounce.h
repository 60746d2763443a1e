/*
 * ucx_bounce.h - the registered bounce chunks of one ep, into which small
 * extents are packed so they go out as one put per chunk (ucx_rma.c).
 * Builds on ucx_mem.h.
 */
#ifndef KVP_UCX_BOUNCE_H
#define KVP_UCX_BOUNCE_H

#include "ucx_mem.h"

/* Bounce buffers are registered chunks of this size, one put per chunk. */
#define UCX_BOUNCE_CHUNK (1u << 20)

/* A registered chunk; [0, used) holds packed data of posted puts until
 * the next successful flush. */
struct ucx_bounce {
    struct kvp_xport_mem *mem;
    uint8_t *buf;
    uint64_t used;
};

/* The chunks of one ep; all-zero is an empty pool. */
struct ucx_bounce_pool {
    struct ucx_bounce *chunk;
    uint32_t n, cap, cur;
};

/* A chunk with free room, registering a new one on ctx if all are full;
 * NULL when no memory or registration fails. */
struct ucx_bounce *ucx_bounce_get(struct ucx_bounce_pool *bp,
                                  struct kvp_xport_ctx *ctx);
/* After a successful flush: every chunk is free again. */
void ucx_bounce_reset(struct ucx_bounce_pool *bp);
/* Deregisters and frees every chunk (after the ep is closed). */
void ucx_bounce_release(struct ucx_bounce_pool *bp);

#endif /* KVP_UCX_BOUNCE_H */
