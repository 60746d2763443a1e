/*
 * verbs_ops.c - the module's ops table (kvp_transport.h) and the lifetime
 * of its objects: ctx, registered memory, eps, unpacked rkeys, counters.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "verbs_int.h"

#define VERBS_ACCESS                                                           \
    (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

static const struct kvp_opt verbs_opts_table[] = {
    {"device", KVP_OPT_STR, 0, KVP_OPT_AT(struct verbs_opts, device), 0, 0,
     NULL, "NAME", "an RDMA device name up to 63 characters, e.g. mlx5_0, rxe0",
     "RDMA device (default: the first with an ACTIVE port)", NULL},
    {"port", KVP_OPT_INT, 0, KVP_OPT_AT(struct verbs_opts, port), 0, 255, NULL,
     "N", "0..255 (0 = the first ACTIVE port)",
     "port of the device, 1-based (default: the first ACTIVE)", NULL},
    {"gid_index", KVP_OPT_INT, 0, KVP_OPT_AT(struct verbs_opts, gid_index), -1,
     255, NULL, "N", "-1..255 (-1 = auto, RoCE v2 preferred)",
     "GID table index used as source GID (default: auto)", NULL},
};

static const struct kvp_opt *verbs_opt_table(size_t *n_p)
{
    *n_p = sizeof(verbs_opts_table) / sizeof(verbs_opts_table[0]);
    return verbs_opts_table;
}

static int32_t verbs_ctx_create(const struct kvp_xport_params *params,
                                struct kvp_xport_ctx **ctx_p)
{
    struct kvp_logger lg;
    kvp_logger_init_stderr(&lg, KVP_LOG_WARN);
    if (params == NULL || params->struct_size < KVP_XPORT_PARAMS_MIN_SIZE) {
        KVP_LOG_E(&lg, "verbs: ctx_create: params is NULL or its "
                       "struct_size is smaller than v1's");
        return KVP_ERR_INVALID;
    }
    if (params->log != NULL) {
        lg.fn = params->log;
        lg.user = params->log_user;
    }
    if (ctx_p == NULL) {
        KVP_LOG_E(&lg, "verbs: ctx_create: ctx_p is NULL");
        return KVP_ERR_INVALID;
    }
    lg.level = params->log_level;
    if (params->role != KVP_XPORT_ROLE_CLIENT &&
        params->role != KVP_XPORT_ROLE_SERVER) {
        KVP_LOG_E(&lg,
                  "verbs: ctx_create: role %u is neither client nor "
                  "server",
                  params->role);
        return KVP_ERR_INVALID;
    }
    struct verbs_opts opts = {.device = "", .port = 0, .gid_index = -1};
    char err[1024];
    if (params->n_opts > 0 && params->opts == NULL) {
        KVP_LOG_E(&lg, "verbs: ctx_create: opts is NULL, n_opts %u",
                  params->n_opts);
        return KVP_ERR_INVALID;
    }
    if (kvp_opts_apply(verbs_opts_table,
                       sizeof(verbs_opts_table) / sizeof(verbs_opts_table[0]),
                       params->opts, params->n_opts, &opts, err,
                       sizeof(err)) != 0) {
        KVP_LOG_E(&lg, "verbs: ctx_create: %s", err);
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        KVP_LOG_E(&lg, "verbs: ctx_create: out of memory");
        return KVP_ERR_NO_MEMORY;
    }
    ctx->lg = lg;
    ctx->role = params->role;
    ctx->timeout_ms =
        params->timeout_ms > 0 ? params->timeout_ms : VERBS_DEFAULT_TIMEOUT_MS;
    int32_t st = verbs_dev_open(ctx, &opts);
    if (st != KVP_OK) {
        free(ctx);
        return st;
    }
    *ctx_p = ctx;
    return KVP_OK;
}

static void verbs_ctx_destroy(struct kvp_xport_ctx *ctx)
{
    if (ctx == NULL)
        return;
    verbs_dev_close(ctx);
    free(ctx);
}

static int32_t verbs_mem_reg(struct kvp_xport_ctx *ctx, void *ptr, uint64_t len,
                             struct kvp_xport_mem **mem_p)
{
    if (ctx == NULL || mem_p == NULL)
        return KVP_ERR_INVALID;
    if (ptr == NULL || len == 0 || len > SIZE_MAX) {
        KVP_LOG_E(&ctx->lg,
                  "verbs: mem_reg: ptr %p len %llu: need a non-NULL"
                  " pointer and a length > 0",
                  ptr, (unsigned long long)len);
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_mem *mem = calloc(1, sizeof(*mem));
    if (mem == NULL)
        return KVP_ERR_NO_MEMORY;
    mem->mr = ibv_reg_mr(ctx->pd, ptr, (size_t)len, VERBS_ACCESS);
    if (mem->mr == NULL) {
        int e = errno;
        KVP_LOG_E(&ctx->lg, "verbs: ibv_reg_mr(%p, %llu) on %s failed: %s%s",
                  ptr, (unsigned long long)len, ctx->dev_name, strerror(e),
                  e == ENOMEM || e == EPERM
                      ? " (raise the memlock limit: ulimit -l)"
                      : "");
        free(mem);
        return e == ENOMEM ? KVP_ERR_NO_MEMORY : KVP_ERR_TRANSPORT;
    }
    mem->ctx = ctx;
    mem->addr = (uint64_t)(uintptr_t)ptr;
    mem->len = len;
    *mem_p = mem;
    return KVP_OK;
}

static void verbs_mem_dereg(struct kvp_xport_mem *mem)
{
    if (mem == NULL)
        return;
    int rc = ibv_dereg_mr(mem->mr);
    if (rc != 0)
        KVP_LOG_W(&mem->ctx->lg, "verbs: ibv_dereg_mr: %s", strerror(rc));
    free(mem);
}

static int32_t verbs_mem_rkey_pack(struct kvp_xport_mem *mem, void *buf,
                                   uint32_t cap, uint32_t *len_p)
{
    if (mem == NULL || buf == NULL || len_p == NULL)
        return KVP_ERR_INVALID;
    struct verbs_rkey_info info = {
        .rkey = mem->mr->rkey, .addr = mem->addr, .len = mem->len};
    if (verbs_rkey_encode(&info, buf, cap, len_p) != 0) {
        KVP_LOG_E(&mem->ctx->lg, "verbs: rkey_pack: cap %u < %d bytes", cap,
                  VERBS_RKEY_BLOB_LEN);
        return KVP_ERR_TOO_SMALL;
    }
    return KVP_OK;
}

static void ep_free(struct kvp_xport_ep *ep)
{
    if (ep->qp != NULL && ibv_destroy_qp(ep->qp) != 0)
        KVP_LOG_W(&ep->ctx->lg, "verbs: ibv_destroy_qp: %s", strerror(errno));
    if (ep->cq != NULL && ibv_destroy_cq(ep->cq) != 0)
        KVP_LOG_W(&ep->ctx->lg, "verbs: ibv_destroy_cq: %s", strerror(errno));
    free(ep->sges);
    free(ep->pieces);
    free(ep);
}

/* New ep with its QP in INIT; its connect blob in blob[0..*len_p). */
static int32_t ep_new(struct kvp_xport_ctx *ctx, int passive, void *blob,
                      uint32_t cap, uint32_t *len_p, struct kvp_xport_ep **ep_p)
{
    if (cap < VERBS_CONN_BLOB_LEN) {
        KVP_LOG_E(&ctx->lg, "verbs: connect blob needs %d bytes, cap is %u",
                  VERBS_CONN_BLOB_LEN, cap);
        return KVP_ERR_TOO_SMALL;
    }
    struct kvp_xport_ep *ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
        return KVP_ERR_NO_MEMORY;
    ep->ctx = ctx;
    int32_t st = verbs_qp_create(ep, passive);
    if (st != KVP_OK) {
        free(ep);
        return st;
    }
    struct verbs_conn_info info;
    verbs_qp_local_info(ep, &info);
    verbs_conn_encode(&info, blob, cap, len_p);
    *ep_p = ep;
    return KVP_OK;
}

static int32_t verbs_ep_create(struct kvp_xport_ctx *ctx, void *blob, uint32_t cap,
                               uint32_t *len_p, struct kvp_xport_ep **ep_p)
{
    if (ctx == NULL || blob == NULL || len_p == NULL || ep_p == NULL)
        return KVP_ERR_INVALID;
    return ep_new(ctx, 0, blob, cap, len_p, ep_p);
}

static int32_t peer_decode(struct kvp_xport_ctx *ctx, const void *peer_blob,
                           uint32_t peer_len, struct verbs_conn_info *peer)
{
    const char *why = "?";
    if (verbs_conn_decode(peer_blob, peer_len, peer, &why) != 0) {
        KVP_LOG_E(&ctx->lg,
                  "verbs: malformed peer connect blob (%u bytes): "
                  "%s",
                  peer_len, why);
        return KVP_ERR_INVALID;
    }
    return KVP_OK;
}

static int32_t verbs_ep_accept(struct kvp_xport_ctx *ctx, const void *peer_blob,
                               uint32_t peer_len, void *blob, uint32_t cap,
                               uint32_t *len_p, struct kvp_xport_ep **ep_p)
{
    if (ctx == NULL || blob == NULL || len_p == NULL || ep_p == NULL)
        return KVP_ERR_INVALID;
    struct verbs_conn_info peer;
    int32_t st = peer_decode(ctx, peer_blob, peer_len, &peer);
    if (st != KVP_OK)
        return st;
    struct kvp_xport_ep *ep = NULL;
    uint32_t len = 0;
    st = ep_new(ctx, 1, blob, cap, &len, &ep);
    if (st != KVP_OK)
        return st;
    st = verbs_qp_connect(ep, &peer);
    if (st != KVP_OK) {
        ep_free(ep);
        return st;
    }
    *len_p = len;
    *ep_p = ep;
    return KVP_OK;
}

static int32_t verbs_ep_connect(struct kvp_xport_ep *ep, const void *peer_blob,
                                uint32_t peer_len)
{
    if (ep == NULL)
        return KVP_ERR_INVALID;
    if (ep->connected) {
        KVP_LOG_E(&ep->ctx->lg, "verbs: ep_connect: qpn %u already connected",
                  ep->qp->qp_num);
        return KVP_ERR_INVALID;
    }
    struct verbs_conn_info peer;
    int32_t st = peer_decode(ep->ctx, peer_blob, peer_len, &peer);
    if (st != KVP_OK)
        return st;
    return verbs_qp_connect(ep, &peer);
}

static void verbs_ep_destroy(struct kvp_xport_ep *ep)
{
    if (ep != NULL)
        ep_free(ep);
}

static int32_t verbs_rkey_unpack(struct kvp_xport_ep *ep, const void *blob,
                                 uint32_t len, struct kvp_xport_rkey **rkey_p)
{
    if (ep == NULL || rkey_p == NULL)
        return KVP_ERR_INVALID;
    struct verbs_rkey_info info;
    const char *why = "?";
    if (verbs_rkey_decode(blob, len, &info, &why) != 0) {
        KVP_LOG_E(&ep->ctx->lg, "verbs: malformed rkey blob (%u bytes): %s",
                  len, why);
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_rkey *rkey = calloc(1, sizeof(*rkey));
    if (rkey == NULL)
        return KVP_ERR_NO_MEMORY;
    rkey->ep = ep;
    rkey->rkey = info.rkey;
    rkey->addr = info.addr;
    rkey->len = info.len;
    *rkey_p = rkey;
    return KVP_OK;
}

static void verbs_rkey_destroy(struct kvp_xport_rkey *rkey)
{
    free(rkey);
}

static int32_t verbs_write(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                           uint32_t n_iov, struct kvp_xport_mem *lmem,
                           uint64_t raddr, struct kvp_xport_rkey *rkey)
{
    if (ep == NULL)
        return KVP_ERR_INVALID;
    return verbs_post_write(ep, iov, n_iov, lmem, raddr, rkey);
}

static int32_t verbs_read(struct kvp_xport_ep *ep, void *dst, uint64_t len,
                          struct kvp_xport_mem *lmem, uint64_t raddr,
                          struct kvp_xport_rkey *rkey)
{
    if (ep == NULL)
        return KVP_ERR_INVALID;
    return verbs_post_read(ep, dst, len, lmem, raddr, rkey);
}

static int32_t verbs_flush(struct kvp_xport_ep *ep, uint32_t timeout_ms)
{
    if (ep == NULL)
        return KVP_ERR_INVALID;
    return verbs_ep_flush(ep, timeout_ms);
}

static int32_t verbs_stats(struct kvp_xport_ctx *ctx, struct kvp_xport_stats *stats)
{
    if (ctx == NULL || stats == NULL ||
        stats->struct_size <
            offsetof(struct kvp_xport_stats, ops_posted) + sizeof(uint64_t))
        return KVP_ERR_INVALID;
    stats->bytes_written =
        atomic_load_explicit(&ctx->bytes_written, memory_order_relaxed);
    stats->bytes_read =
        atomic_load_explicit(&ctx->bytes_read, memory_order_relaxed);
    stats->bytes_packed = 0; /* verbs gathers with SGEs: no bounce buffer */
    stats->ops_posted =
        atomic_load_explicit(&ctx->ops_posted, memory_order_relaxed);
    return KVP_OK;
}

static const struct kvp_transport_ops verbs_ops = {
    .struct_size = sizeof(struct kvp_transport_ops),
    .version = KVP_TRANSPORT_OPS_VERSION,
    .name = "verbs",
    .ctx_create = verbs_ctx_create,
    .opt_table = verbs_opt_table,
    .ctx_destroy = verbs_ctx_destroy,
    .mem_reg = verbs_mem_reg,
    .mem_dereg = verbs_mem_dereg,
    .mem_rkey_pack = verbs_mem_rkey_pack,
    .ep_create = verbs_ep_create,
    .ep_accept = verbs_ep_accept,
    .ep_connect = verbs_ep_connect,
    .ep_destroy = verbs_ep_destroy,
    .rkey_unpack = verbs_rkey_unpack,
    .rkey_destroy = verbs_rkey_destroy,
    .write = verbs_write,
    .read = verbs_read,
    .flush = verbs_flush,
    .stats = verbs_stats,
};

__attribute__((visibility("default"))) const struct kvp_transport_ops *
kvp_transport_get_ops_v1(void);

const struct kvp_transport_ops *kvp_transport_get_ops_v1(void)
{
    return &verbs_ops;
}
