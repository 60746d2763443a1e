/* ucx_ops.c - the module's one exported symbol: its transport ops table. */
#include "ucx_ctx.h"
#include "ucx_ep.h"
#include "ucx_mem.h"
#include "ucx_rma.h"

static const struct kvp_transport_ops ucx_ops = {
    .struct_size = sizeof(struct kvp_transport_ops),
    .version = KVP_TRANSPORT_OPS_VERSION,
    .name = "ucx",
    .ctx_create = ucx_ctx_create,
    .ctx_destroy = ucx_ctx_destroy,
    .mem_reg = ucx_mem_reg,
    .mem_dereg = ucx_mem_dereg,
    .mem_rkey_pack = ucx_mem_rkey_pack,
    .ep_create = ucx_ep_create,
    .ep_accept = ucx_ep_accept,
    .ep_connect = ucx_ep_connect,
    .ep_destroy = ucx_ep_destroy,
    .rkey_unpack = ucx_rkey_unpack,
    .rkey_destroy = ucx_rkey_destroy,
    .write = ucx_write,
    .read = ucx_read,
    .flush = ucx_flush,
    .stats = ucx_stats,
    .mem_alloc = ucx_mem_alloc,
    .opt_table = ucx_opt_table,
};

__attribute__((visibility("default"))) const struct kvp_transport_ops *
kvp_transport_get_ops_v1(void);

const struct kvp_transport_ops *kvp_transport_get_ops_v1(void)
{
    return &ucx_ops;
}
