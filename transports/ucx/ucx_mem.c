/* ucx_mem.c - registration of caller memory (ucp_mem_map on the caller's
 * pointer), memory UCX allocates itself (mem_alloc) and the packed rkey
 * blob. */
#include "ucx_mem.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "ucx_blob.h"

int32_t ucx_mem_reg(struct kvp_xport_ctx *ctx, void *ptr, uint64_t len,
                    struct kvp_xport_mem **mem_p)
{
    if (ctx == NULL || mem_p == NULL) {
        kvp_logf(NULL, KVP_LOG_ERROR, "ucx: mem_reg: ctx or mem_p is NULL");
        return KVP_ERR_INVALID;
    }
    if (ptr == NULL || len == 0 || (uintptr_t)ptr + len < (uintptr_t)ptr) {
        KVP_LOG_E(&ctx->log, "ucx: mem_reg: invalid range %p + %" PRIu64, ptr,
                  len);
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_mem *mem = calloc(1, sizeof(*mem));
    if (mem == NULL) {
        KVP_LOG_E(&ctx->log, "ucx: mem_reg: out of memory");
        return KVP_ERR_NO_MEMORY;
    }
    ucp_mem_map_params_t mp = {
        .field_mask =
            UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH,
        .address = ptr,
        .length = len,
    };
    pthread_mutex_lock(&ctx->lock);
    ucs_status_t st = ucp_mem_map(ctx->context, &mp, &mem->memh);
    pthread_mutex_unlock(&ctx->lock);
    if (st != UCS_OK) {
        KVP_LOG_E(&ctx->log, "ucx: mem_reg %p + %" PRIu64 ": ucp_mem_map: %s",
                  ptr, len, ucs_status_string(st));
        free(mem);
        return ucx_status_map(st);
    }
    mem->ctx = ctx;
    mem->base = (uintptr_t)ptr;
    mem->len = len;
    *mem_p = mem;
    return KVP_OK;
}

void ucx_mem_dereg(struct kvp_xport_mem *mem)
{
    if (mem == NULL)
        return;
    struct kvp_xport_ctx *ctx = mem->ctx;
    pthread_mutex_lock(&ctx->lock);
    ucs_status_t st = ucp_mem_unmap(ctx->context, mem->memh);
    pthread_mutex_unlock(&ctx->lock);
    if (st != UCS_OK)
        KVP_LOG_W(&ctx->log, "ucx: mem_dereg %#" PRIxPTR " (%s): %s", mem->base,
                  mem->allocated ? "allocated" : "registered",
                  ucs_status_string(st));
    free(mem);
}

/* UCX allocates (ucp_mem_map ALLOCATE): with posix/sysv in UCX_TLS it picks
 * shared memory, which a peer on this host maps, so a put/get into it is
 * one memcpy by the initiator and the target's worker does nothing. Memory
 * the caller mmap()ed is registered only, and UCX 1.13 can then reach it
 * over shm solely by emulating RMA with messages (docs/transports.md). */
int32_t ucx_mem_alloc(struct kvp_xport_ctx *ctx, uint64_t len, void **ptr_p,
                      struct kvp_xport_mem **mem_p)
{
    if (ctx == NULL || ptr_p == NULL || mem_p == NULL) {
        kvp_logf(NULL, KVP_LOG_ERROR,
                 "ucx: mem_alloc: ctx, ptr_p or mem_p is NULL");
        return KVP_ERR_INVALID;
    }
    if (len == 0 || len > (uint64_t)SIZE_MAX) {
        KVP_LOG_E(&ctx->log, "ucx: mem_alloc: invalid length %" PRIu64, len);
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_mem *mem = calloc(1, sizeof(*mem));
    if (mem == NULL) {
        KVP_LOG_E(&ctx->log, "ucx: mem_alloc: out of memory");
        return KVP_ERR_NO_MEMORY;
    }
    ucp_mem_map_params_t mp = {
        .field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
                      UCP_MEM_MAP_PARAM_FIELD_LENGTH |
                      UCP_MEM_MAP_PARAM_FIELD_FLAGS,
        .address = NULL,
        .length = (size_t)len,
        .flags = UCP_MEM_MAP_ALLOCATE,
    };
    ucp_mem_attr_t attr = {.field_mask = UCP_MEM_ATTR_FIELD_ADDRESS |
                                         UCP_MEM_ATTR_FIELD_LENGTH};
    pthread_mutex_lock(&ctx->lock);
    ucs_status_t st = ucp_mem_map(ctx->context, &mp, &mem->memh);
    if (st == UCS_OK) {
        st = ucp_mem_query(mem->memh, &attr);
        if (st != UCS_OK || attr.address == NULL || attr.length < len) {
            ucp_mem_unmap(ctx->context, mem->memh);
            if (st == UCS_OK)
                st = UCS_ERR_NO_MEMORY;
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    if (st != UCS_OK) {
        KVP_LOG_E(&ctx->log,
                  "ucx: mem_alloc %" PRIu64 " bytes: ucp_mem_map(ALLOCATE): %s",
                  len, ucs_status_string(st));
        free(mem);
        return ucx_status_map(st);
    }
    mem->ctx = ctx;
    mem->base = (uintptr_t)attr.address;
    mem->len = len;
    mem->allocated = 1;
    KVP_LOG_I(&ctx->log,
              "ucx: mem_alloc: %" PRIu64 " bytes at %p allocated by UCX "
              "(%zu mapped, UCX_TLS=%s)",
              len, attr.address, attr.length,
              ctx->tls[0] != '\0' ? ctx->tls : "default");
    *ptr_p = attr.address;
    *mem_p = mem;
    return KVP_OK;
}

int32_t ucx_mem_rkey_pack(struct kvp_xport_mem *mem, void *buf, uint32_t cap,
                          uint32_t *len_p)
{
    if (mem == NULL || buf == NULL || len_p == NULL) {
        kvp_logf(NULL, KVP_LOG_ERROR,
                 "ucx: mem_rkey_pack: mem, buf or len_p "
                 "is NULL");
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_ctx *ctx = mem->ctx;
    void *packed = NULL;
    size_t packed_len = 0;
    pthread_mutex_lock(&ctx->lock);
    ucs_status_t st =
        ucp_rkey_pack(ctx->context, mem->memh, &packed, &packed_len);
    pthread_mutex_unlock(&ctx->lock);
    if (st != UCS_OK) {
        KVP_LOG_E(&ctx->log, "ucx: mem_rkey_pack: ucp_rkey_pack: %s",
                  ucs_status_string(st));
        return ucx_status_map(st);
    }
    int32_t status = KVP_OK;
    uint64_t need = (uint64_t)UCX_RKEY_HDR + packed_len;
    if (need > cap || need > KVP_XPORT_BLOB_MAX) {
        KVP_LOG_E(&ctx->log,
                  "ucx: mem_rkey_pack: rkey needs %" PRIu64
                  " bytes, buffer holds %u (max %u)",
                  need, cap, KVP_XPORT_BLOB_MAX);
        status = KVP_ERR_TOO_SMALL;
        goto out;
    }
    uint8_t *b = buf;
    ucx_blob_put_hdr(b, UCX_BLOB_RKEY, (uint32_t)(16 + packed_len));
    kvp_le_put64(b + UCX_BLOB_HDR, mem->base);
    kvp_le_put64(b + UCX_BLOB_HDR + 8, mem->len);
    memcpy(b + UCX_RKEY_HDR, packed, packed_len);
    *len_p = (uint32_t)need;
out:
    ucp_rkey_buffer_release(packed);
    return status;
}
