/* etcd_ops.c - the ops table of libkvplug_etcd.so (kvp_discovery.h). */
#include "etcd.h"

static const struct kvp_discovery_ops etcd_ops = {
    .version = KVP_DISCOVERY_OPS_VERSION,
    .struct_size = sizeof(struct kvp_discovery_ops),
    .watch_start = etcd_watch_start,
    .watch_stop = etcd_watch_stop,
    .list = etcd_list,
    .register_start = etcd_register_start,
    .register_stop = etcd_register_stop,
};

__attribute__((visibility("default"))) const struct kvp_discovery_ops *
kvp_discovery_get_ops_v1(void);

const struct kvp_discovery_ops *kvp_discovery_get_ops_v1(void)
{
    return &etcd_ops;
}
