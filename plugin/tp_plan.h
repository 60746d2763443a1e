/*
 * tp_plan.h - the TP planner: pure arithmetic from a validated FULL tensor
 * header, tp_size and split_dim to, per rank, the SHARD header and the
 * extents of the full payload that make up the shard (in shard order).
 *
 * Shard r along split_dim d of extent D is [r*D/tp, (r+1)*D/tp). With
 * outer = prod(shape[:d]), inner_bytes = prod(shape[d+1:]) * elem_size:
 *   chunk  = (D/tp) * inner_bytes          bytes per extent
 *   stride = D * inner_bytes               distance between extents
 *   extent i of rank r = [i*stride + r*chunk, +chunk), i in [0, outer)
 * Contiguous extents are merged (d = 0, or outer == 1: one extent).
 */
#ifndef KVP_TP_PLAN_H
#define KVP_TP_PLAN_H

#include <stdint.h>

#include "kvplug/tensor.h"

struct tp_plan {
    int32_t tp_size;
    int32_t split_dim;     /* normalised to [0, ndim) */
    uint64_t n_extents;    /* per rank, after merging; 0 if chunk == 0 */
    uint64_t extent_len;   /* bytes per extent (after merging) */
    uint64_t stride;       /* bytes between extent starts of one rank */
    uint64_t rank_offset;  /* bytes between rank r and r+1's first extent */
    uint64_t shard_bytes;  /* payload bytes of each shard */
};

struct tp_extent {
    uint64_t off;          /* offset inside the FULL payload */
    uint64_t len;
};

/* full must be a valid FULL header (tensor_hdr_parse == TH_OK). split_dim
 * may be negative (from the end). KVP_ERR_INVALID for tp_size < 2, ndim 0,
 * split_dim out of range, or shape[split_dim] % tp_size != 0. */
int32_t tp_plan_make(const struct kvp_tensor_hdr *full, int32_t tp_size,
                     int32_t split_dim, struct tp_plan *plan);

/* The SHARD header of rank r: global_shape = full shape, local_shape =
 * shard shape, axis_count 1, axes[0] = {TP, 0, r, tp, split_dim, 0, D/tp}. */
void tp_plan_shard_hdr(const struct tp_plan *plan,
                       const struct kvp_tensor_hdr *full, int32_t rank,
                       struct kvp_tensor_hdr *shard);

/* Extent i (< plan->n_extents) of rank r. */
static inline struct tp_extent tp_plan_extent(const struct tp_plan *plan,
                                              int32_t rank, uint64_t i)
{
    struct tp_extent e = {i * plan->stride + (uint64_t)rank * plan->rank_offset,
                          plan->extent_len};
    return e;
}

#endif /* KVP_TP_PLAN_H */
