/* tp_check.h - puts a full tensor with TP and checks every shard against the
 * naive reference (payload and SHARD header, field by field). Shared by the
 * tp-put and tp-get groups. */
#ifndef CONF_TP_CHECK_H
#define CONF_TP_CHECK_H

#include "conf.h"

struct tp_tensor {
    int32_t dtype;
    int32_t ndim;
    int64_t shape[KVP_TENSOR_MAX_DIMS];
};

/* Builds the object in the arena (seed) and puts it; expects KVP_OK.
 * Returns the object (NULL after a failure) and its length. */
uint8_t *tp_put_full(struct conf_ctx *ctx, const char *key,
                     const struct tp_tensor *t, int32_t tp_rank,
                     int32_t tp_size, int32_t split_dim, uint32_t seed,
                     size_t *len_p);

/* Checks what a TP put of obj stored under key: tp_size <= 1 -> key holds
 * obj unchanged; else every shard equals the reference and carries the exact
 * SHARD header, and no shard beyond tp_size-1 exists. 0 or -1 (failed). */
int tp_verify(struct conf_ctx *ctx, const char *key, const uint8_t *obj,
              const struct tp_tensor *t, int32_t tp_size, int32_t split_dim);

/* Put + verify one combination, naming it in any failure. */
int tp_roundtrip(struct conf_ctx *ctx, const struct tp_tensor *t,
                 int32_t tp_size, int32_t split_dim);

/* 1 if any "<key>_tp_<r>" for r < tp_size (or key itself) exists. */
int tp_any_stored(struct conf_ctx *ctx, const char *key, int32_t tp_size);

#endif /* CONF_TP_CHECK_H */
