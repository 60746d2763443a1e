/*
 * ucx_netdev.h - keeps UCX's listeners on the interface of one host: UCX
 * 1.13 has no bind address for its TCP transport, so NET_DEVICES is set
 * to that host's interface plus every RDMA port (ucx_netdev.c). A leaf:
 * it includes no other ucx_ header (ucx_ctx.c uses it).
 */
#ifndef KVP_UCX_NETDEV_H
#define KVP_UCX_NETDEV_H

#include <stdint.h>

#include <ucp/api/ucp.h>

#include "log.h"

/* Limits UCX's network devices (NET_DEVICES in cfg) to the interface of
 * host plus every RDMA port, so UCX listens nowhere else; NULL host, a
 * wildcard host or a user's UCX_NET_DEVICES: unchanged. KVP_ERR_INVALID
 * when no interface holds the host's address. */
int32_t ucx_bind_net_devices(const struct kvp_logger *log, ucp_config_t *cfg,
                             const char *host);

#endif /* KVP_UCX_NETDEV_H */
