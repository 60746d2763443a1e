/*
 * ops.h - the plugin's implementations of the v1 ops (struct kvp_ops slots).
 * entry.c puts them in the const table; each validates its arguments,
 * returns a documented status, and logs why through the host logger.
 */
#ifndef KVP_OPS_H
#define KVP_OPS_H

#include "kvplug/abi.h"

const char *kvp_op_status_str(int32_t status);
int32_t kvp_op_engine_create(const char *config,
                             const struct kvp_host_api *host,
                             struct kvp_engine **engine_p);
int32_t kvp_op_engine_destroy(struct kvp_engine *engine);
int32_t kvp_op_register_buffer(struct kvp_engine *engine, void *ptr,
                               uint64_t len);
int32_t kvp_op_unregister_buffer(struct kvp_engine *engine, void *ptr);
int32_t kvp_op_put_from(struct kvp_engine *engine, const char *key,
                        const void *ptr, uint64_t len,
                        const struct kvp_put_opts *opts);
int32_t kvp_op_batch_put_from(struct kvp_engine *engine, uint32_t n,
                              const char *const *keys,
                              const void *const *ptrs, const uint64_t *lens,
                              const struct kvp_put_opts *opts,
                              int32_t *results);
int64_t kvp_op_get_into(struct kvp_engine *engine, const char *key, void *ptr,
                        uint64_t cap);
int32_t kvp_op_batch_get_into(struct kvp_engine *engine, uint32_t n,
                              const char *const *keys, void *const *ptrs,
                              const uint64_t *caps, int64_t *results);
int32_t kvp_op_put_tensor_with_tp_from(struct kvp_engine *engine,
                                       const char *key, const void *ptr,
                                       uint64_t len, int32_t tp_rank,
                                       int32_t tp_size, int32_t split_dim,
                                       const struct kvp_put_opts *opts);
int32_t kvp_op_batch_put_tensor_with_tp_from(
    struct kvp_engine *engine, uint32_t n, const char *const *keys,
    const void *const *ptrs, const uint64_t *lens, int32_t tp_rank,
    int32_t tp_size, int32_t split_dim, const struct kvp_put_opts *opts,
    int32_t *results);
int64_t kvp_op_get_tensor_with_tp_into(struct kvp_engine *engine,
                                       const char *key, void *ptr,
                                       uint64_t cap, int32_t tp_rank,
                                       int32_t tp_size);
int32_t kvp_op_batch_get_tensor_with_tp_into(
    struct kvp_engine *engine, uint32_t n, const char *const *keys,
    void *const *ptrs, const uint64_t *caps, int32_t tp_rank,
    int32_t tp_size, int64_t *results);
int32_t kvp_op_exists(struct kvp_engine *engine, const char *key);
int64_t kvp_op_stat(struct kvp_engine *engine, const char *key);
int32_t kvp_op_remove(struct kvp_engine *engine, const char *key);
/* ABI 1.1 */
int32_t kvp_op_batch_exists(struct kvp_engine *engine, uint32_t n,
                            const char *const *keys, int32_t *results);
int32_t kvp_op_batch_remove(struct kvp_engine *engine, uint32_t n,
                            const char *const *keys, int32_t *results);
int32_t kvp_op_batch_put_from_iov(struct kvp_engine *engine, uint32_t n,
                                  const char *const *keys,
                                  const struct kvp_iov *const *iovs,
                                  const uint32_t *iov_counts,
                                  const struct kvp_put_opts *opts,
                                  int32_t *results);
int32_t kvp_op_batch_get_into_iov(struct kvp_engine *engine, uint32_t n,
                                  const char *const *keys,
                                  const struct kvp_iov *const *iovs,
                                  const uint32_t *iov_counts,
                                  int64_t *results);
int32_t kvp_op_remove_prefix(struct kvp_engine *engine, const char *prefix,
                             uint64_t *removed_p);
int32_t kvp_op_get_stats(struct kvp_engine *engine, struct kvp_stats *stats);

/* Capabilities the plugin always advertises (KVP_CAP_*). entry.c adds
 * KVP_CAP_CUDA when device memory can be registered (docs/cuda.md). */
#define KVP_PLUGIN_CAPS                                                       \
    (KVP_CAP_THREAD_SAFE | KVP_CAP_TP | KVP_CAP_BATCH | KVP_CAP_OVERWRITE)

#endif /* KVP_OPS_H */
