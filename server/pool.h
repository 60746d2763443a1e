/*
 * pool.h - the store's memory pool: allocated by the first configured
 * transport when it offers mem_alloc and that succeeds (UCX: shared
 * memory, so same-host clients' puts/gets are direct copies), else one
 * anonymous mapping;
 * pre-faulted at start (first touch of a page costs ~13 us here, so never
 * on the data path), registered with every configured transport module,
 * whose packed rkeys are kept for the CONNECT reply.
 */
#ifndef KVP_SERVER_POOL_H
#define KVP_SERVER_POOL_H

#include <stdint.h>

#include "kvp_transport.h"
#include "log.h"

#define POOL_MAX_TRANSPORTS 4
#define POOL_NAME_MAX       32

struct pool_xport {
    char name[POOL_NAME_MAX + 1];
    const struct kvp_transport_ops *ops;
    struct kvp_xport_ctx *ctx; /* role KVP_XPORT_ROLE_SERVER */
    struct kvp_xport_mem *mem; /* the whole pool */
    uint8_t rkey[KVP_XPORT_BLOB_MAX];
    uint32_t rkey_len;
};

struct pool {
    void *base;
    uint64_t size; /* mapped bytes (>= requested) */
    /* 1: xport[0]'s mem_alloc allocated base; its mem_dereg frees it. */
    int xport_allocated;
    uint32_t n_xport;
    struct pool_xport xport[POOL_MAX_TRANSPORTS];
};

/* transports: comma list of module names, may be empty (control only).
 * xpp: module parameters; role/log are filled here. Errors name the
 * transport and why; everything is undone on failure. */
int32_t pool_create(struct pool *p, uint64_t size, const char *transports,
                    const struct kvp_xport_params *xpp,
                    const struct kvp_logger *log);
void pool_destroy(struct pool *p);
/* The transport called name (name_len bytes), or NULL. */
struct pool_xport *pool_find_xport(struct pool *p, const void *name,
                             uint32_t name_len);

#endif /* KVP_SERVER_POOL_H */
