/*
 * tp_plan.c - the TP planner: which bytes of a FULL tensor payload make up
 * each rank's shard, and that shard's header. Pure arithmetic, no I/O, so
 * the property test can check it against a naive index walk.
 */
#include "tp_plan.h"

#include <string.h>

#include "kvplug/status.h"

/* Product of shape[lo..hi) times `mul`; 0 if any dim is 0 (even when the
 * others would overflow); -1 on overflow. */
static int shape_product(const int64_t *shape, int32_t lo, int32_t hi,
                         uint64_t mul, uint64_t *out)
{
    for (int32_t i = lo; i < hi; i++) {
        if (shape[i] == 0) {
            *out = 0;
            return 0;
        }
    }
    uint64_t p = mul;
    for (int32_t i = lo; i < hi; i++) {
        if (__builtin_mul_overflow(p, (uint64_t)shape[i], &p))
            return -1;
    }
    *out = p;
    return 0;
}

static int shape_is_sane(const struct kvp_tensor_hdr *full)
{
    if (full->ndim < 1 || full->ndim > KVP_TENSOR_MAX_DIMS)
        return 0;
    for (int32_t i = 0; i < full->ndim; i++) {
        if (full->local_shape[i] < 0)
            return 0;
    }
    return kvp_dtype_size(full->dtype) != 0;
}

int32_t tp_plan_make(const struct kvp_tensor_hdr *full, int32_t tp_size,
                     int32_t split_dim, struct tp_plan *plan)
{
    if (full == NULL || plan == NULL || tp_size < 2)
        return KVP_ERR_INVALID;
    /* Splitting a shard again would give it a wrong global shape. */
    if (full->layout_kind != KVP_LAYOUT_FULL || !shape_is_sane(full))
        return KVP_ERR_INVALID;

    int32_t ndim = full->ndim;
    int32_t d = split_dim < 0 ? split_dim + ndim : split_dim;
    if (d < 0 || d >= ndim)
        return KVP_ERR_INVALID;
    const int64_t *shape = full->local_shape;
    uint64_t dim = (uint64_t)shape[d];
    if (dim % (uint64_t)tp_size != 0)
        return KVP_ERR_INVALID;

    uint64_t elem = kvp_dtype_size(full->dtype);
    uint64_t outer, inner_bytes, total;
    if (shape_product(shape, 0, d, 1, &outer) != 0 ||
        shape_product(shape, d + 1, ndim, elem, &inner_bytes) != 0 ||
        shape_product(shape, 0, ndim, elem, &total) != 0)
        return KVP_ERR_INVALID;

    memset(plan, 0, sizeof *plan);
    plan->tp_size = tp_size;
    plan->split_dim = d;
    if (total == 0)
        return KVP_OK; /* empty shards: no extents, every length 0 */

    /* total != 0 and total = outer * dim * inner_bytes: nothing below
     * can overflow. */
    uint64_t chunk = dim / (uint64_t)tp_size * inner_bytes;
    plan->rank_offset = chunk;
    plan->stride = dim * inner_bytes;
    plan->shard_bytes = outer * chunk;
    /* One extent per outer index. Two extents of one rank touch only if
     * stride == chunk, i.e. tp_size 1, so the only merge left is the
     * natural one: outer == 1 (split_dim 0 or leading dims of 1) is a
     * single extent. */
    plan->n_extents = outer;
    plan->extent_len = chunk;
    return KVP_OK;
}

void tp_plan_shard_hdr(const struct tp_plan *plan,
                       const struct kvp_tensor_hdr *full, int32_t rank,
                       struct kvp_tensor_hdr *shard)
{
    int32_t d = plan->split_dim;
    int64_t local_d = full->local_shape[d] / plan->tp_size;

    memset(shard, 0, sizeof *shard);
    shard->magic = KVP_TENSOR_MAGIC;
    shard->version = KVP_TENSOR_VERSION;
    shard->header_size = KVP_TENSOR_HDR_SIZE;
    shard->dtype = full->dtype;
    shard->ndim = full->ndim;
    shard->layout_kind = KVP_LAYOUT_SHARD;
    shard->data_offset = KVP_TENSOR_HDR_SIZE;
    shard->data_bytes = plan->shard_bytes;
    for (int32_t i = 0; i < KVP_TENSOR_MAX_DIMS; i++) {
        int64_t v = i < full->ndim ? full->local_shape[i] : -1;
        shard->global_shape[i] = v;
        shard->local_shape[i] = i == d ? local_d : v;
    }
    shard->axis_count = 1;
    shard->axes[0].kind = KVP_AXIS_TP;
    shard->axes[0].axis_index = 0;
    shard->axes[0].shard_rank = rank;
    shard->axes[0].shard_count = plan->tp_size;
    shard->axes[0].split_dim = d;
    shard->axes[0].reserved0 = 0;
    shard->axes[0].reserved1 = local_d;
}
