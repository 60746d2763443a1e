/*
 * ucx_mem.h - registered memory of a ctx (ucp_mem_map) and its packed
 * rkey blob. Builds on ucx_ctx.h and ucx_blob.h.
 */
#ifndef KVP_UCX_MEM_H
#define KVP_UCX_MEM_H

#include "ucx_ctx.h"

struct kvp_xport_mem {
    struct kvp_xport_ctx *ctx;
    ucp_mem_h memh;
    uintptr_t base;
    uint64_t len;
    int allocated; /* by mem_alloc: ucp_mem_unmap also frees it */
};

int32_t ucx_mem_reg(struct kvp_xport_ctx *ctx, void *ptr, uint64_t len,
                    struct kvp_xport_mem **mem_p);
void ucx_mem_dereg(struct kvp_xport_mem *mem);
int32_t ucx_mem_alloc(struct kvp_xport_ctx *ctx, uint64_t len, void **ptr_p,
                      struct kvp_xport_mem **mem_p);
int32_t ucx_mem_rkey_pack(struct kvp_xport_mem *mem, void *buf, uint32_t cap,
                          uint32_t *len_p);

#endif /* KVP_UCX_MEM_H */
