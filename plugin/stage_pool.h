/*
 * stage_pool.h - the bounce buffers of one engine's staged device path:
 * pairs of pinned host slots (2 x chunk bytes, registered once with the
 * transport) with a CUDA copy engine on one device. Created when a device
 * op first needs one, reused by later ops, freed with the engine; an op
 * holds a pair for its duration, so concurrent ops get pairs of their own.
 */
#ifndef KVP_STAGE_POOL_H
#define KVP_STAGE_POOL_H

#include <pthread.h>
#include <stdint.h>

#include "kvp_transport.h"
#include "log.h"
#include "stage.h"

/* Bytes per bounce slot (docs/cuda.md: 2 slots per pair). */
#define STAGE_CHUNK_DEFAULT (4u << 20)

struct stage_pair {
    struct stage_pair *next;
    int device;
    int busy;
    struct stage_bounce bounce;
    struct kvp_xport_mem *mem; /* the transport's registration of both */
    struct stage_copier copier;
    void *host; /* the pinned allocation */
};

struct stage_pool {
    pthread_mutex_t lock;
    struct stage_pair *pairs;
    uint64_t chunk;
    const struct kvp_transport_ops *tops;
    struct kvp_xport_ctx *tctx;
    const struct kvp_logger *lg;
};

void stage_pool_init(struct stage_pool *p, const struct kvp_transport_ops *tops,
                     struct kvp_xport_ctx *tctx, const struct kvp_logger *lg);
void stage_pool_fini(struct stage_pool *p);
/* A free pair for device dev, made if none is free. */
int32_t stage_pool_get(struct stage_pool *p, int dev, struct stage_pair **pp);
void stage_pool_put(struct stage_pool *p, struct stage_pair *pair);

#endif /* KVP_STAGE_POOL_H */
