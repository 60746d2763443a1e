/*
 * entry.c - the one exported symbol, kvp_plugin_negotiate_v1, and the v1
 * ops table it hands out (constant but for KVP_CAP_CUDA, decided once, at
 * the first negotiation: docs/cuda.md).
 */
#include <pthread.h>
#include <string.h>

#include "kvplug/abi.h"
#include "cuda_rt.h"
#include "ops.h"
#include "log.h"

#ifndef KVP_PLUGIN_VERSION
#define KVP_PLUGIN_VERSION "0.1.0"
#endif

static struct kvp_ops plugin_ops = {
    .struct_size = sizeof(struct kvp_ops),
    .abi_major = KVP_ABI_MAJOR,
    .abi_minor = KVP_ABI_MINOR,
    .caps = KVP_PLUGIN_CAPS,
    .name = "kvplug",
    .version = KVP_PLUGIN_VERSION,
    .status_str = kvp_op_status_str,
    .engine_create = kvp_op_engine_create,
    .engine_destroy = kvp_op_engine_destroy,
    .register_buffer = kvp_op_register_buffer,
    .unregister_buffer = kvp_op_unregister_buffer,
    .put_from = kvp_op_put_from,
    .batch_put_from = kvp_op_batch_put_from,
    .get_into = kvp_op_get_into,
    .batch_get_into = kvp_op_batch_get_into,
    .put_tensor_with_tp_from = kvp_op_put_tensor_with_tp_from,
    .batch_put_tensor_with_tp_from = kvp_op_batch_put_tensor_with_tp_from,
    .get_tensor_with_tp_into = kvp_op_get_tensor_with_tp_into,
    .batch_get_tensor_with_tp_into = kvp_op_batch_get_tensor_with_tp_into,
    .exists = kvp_op_exists,
    .stat = kvp_op_stat,
    .remove = kvp_op_remove,
    /* ABI 1.1 */
    .batch_exists = kvp_op_batch_exists,
    .batch_remove = kvp_op_batch_remove,
    .batch_put_from_iov = kvp_op_batch_put_from_iov,
    .batch_get_into_iov = kvp_op_batch_get_into_iov,
    .remove_prefix = kvp_op_remove_prefix,
    .get_stats = kvp_op_get_stats,
};

static pthread_once_t caps_once = PTHREAD_ONCE_INIT;

/* KVP_CAP_CUDA exactly when device memory can be registered now. */
static void caps_decide(void)
{
    if (kvp_cuda_usable(NULL, 0))
        plugin_ops.caps |= KVP_CAP_CUDA;
}

/* Smallest kvp_negotiate a host may pass: up to and including `ops`. */
#define NEGOTIATE_MIN_SIZE                                                    \
    (offsetof(struct kvp_negotiate, ops) + sizeof(const struct kvp_ops *))
#define NEGOTIATE_VERSIONS_END                                                \
    (offsetof(struct kvp_negotiate, plugin_abi_minor) + sizeof(uint16_t))

static uint16_t min_u16(uint16_t a, uint16_t b)
{
    return a < b ? a : b;
}

__attribute__((visibility("default"))) int32_t
kvp_plugin_negotiate_v1(struct kvp_negotiate *io);

int32_t kvp_plugin_negotiate_v1(struct kvp_negotiate *io)
{
    struct kvp_logger lg;
    kvp_logger_init_stderr(&lg, KVP_LOG_WARN);
    if (io == NULL) {
        KVP_LOG_E(&lg, "negotiate: io is NULL");
        return KVP_ERR_INVALID;
    }
    if (io->struct_size >= offsetof(struct kvp_negotiate, host) +
                               sizeof(io->host) &&
        io->host != NULL &&
        io->host->struct_size >= offsetof(struct kvp_host_api, log_user) +
                                     sizeof(void *) &&
        io->host->log != NULL) {
        lg.fn = io->host->log;
        lg.user = io->host->log_user;
    }
    if (io->struct_size >= NEGOTIATE_VERSIONS_END) {
        io->plugin_abi_major = KVP_ABI_MAJOR;
        io->plugin_abi_minor = KVP_ABI_MINOR;
    }
    if (io->struct_size < NEGOTIATE_MIN_SIZE) {
        KVP_LOG_E(&lg,
                  "negotiate: struct_size %u is smaller than the %zu bytes "
                  "of ABI 1.0",
                  io->struct_size, (size_t)NEGOTIATE_MIN_SIZE);
        return KVP_ERR_INVALID;
    }
    if (io->host_abi_major != KVP_ABI_MAJOR) {
        KVP_LOG_E(&lg, "negotiate: host ABI %u.%u, plugin ABI %u.%u: majors "
                       "differ",
                  io->host_abi_major, io->host_abi_minor, KVP_ABI_MAJOR,
                  KVP_ABI_MINOR);
        return KVP_ERR_ABI_MISMATCH;
    }
    pthread_once(&caps_once, caps_decide);
    io->abi_minor = min_u16(io->host_abi_minor, KVP_ABI_MINOR);
    io->reserved = 0;
    io->ops = &plugin_ops;
    return KVP_OK;
}
