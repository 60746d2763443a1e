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

/* The transports of a list, loaded, and each one's share of the options. */
struct pool_plan {
    uint32_t n;
    char names[POOL_MAX_TRANSPORTS][POOL_NAME_MAX + 1];
    const struct kvp_transport_ops *ops[POOL_MAX_TRANSPORTS];
    uint32_t n_kv; /* options routed */
    /* module i's options: opts[i * n_kv ... + n_opts[i]) */
    const char *opts[POOL_MAX_TRANSPORTS * KVP_KVLIST_MAX];
    uint32_t n_opts[POOL_MAX_TRANSPORTS];
};

/* Loads the modules of the comma list `transports` and routes the
 * "key=value" options among them (kvp_opts_route: a bare key to each
 * module that takes it, "<module>.key" to that module; values checked
 * with the module's table). 0, or a status with err naming the transport
 * or the option (in style) and the accepted values; core_names (may be
 * NULL) is listed with an unknown key. Pointers in plan point into opts. */
int32_t pool_plan_make(const char *transports, const char *const *opts,
                       uint32_t n_opts, enum kvp_opt_style style,
                       const char *core_names, struct pool_plan *plan,
                       char *err, size_t cap, const struct kvp_logger *log);

/* transports: comma list of module names, may be empty (control only).
 * xpp: timeout_ms and opts (every transport option, routed here with
 * pool_plan_make); role/log are set here. Errors name the transport and
 * why; everything is undone on failure. */
int32_t pool_create(struct pool *p, uint64_t size, const char *transports,
                    const struct kvp_xport_params *xpp,
                    const struct kvp_logger *log);
void pool_destroy(struct pool *p);
/* The transport called name (name_len bytes), or NULL. */
struct pool_xport *pool_find_xport(struct pool *p, const void *name,
                             uint32_t name_len);

#endif /* KVP_SERVER_POOL_H */
