/*
 * tensor_test_util.h - helpers the tensor unit tests share (header only:
 * tests/unit builds one binary per check_*.c).
 */
#ifndef KVP_TENSOR_TEST_UTIL_H
#define KVP_TENSOR_TEST_UTIL_H

#include <string.h>

#include "kvplug/tensor.h"

/* A valid FULL header of dtype and shape[0..ndim). */
static inline struct kvp_tensor_hdr test_full_hdr(int32_t dtype, int32_t ndim,
                                                  const int64_t *shape)
{
    struct kvp_tensor_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = KVP_TENSOR_MAGIC;
    h.version = KVP_TENSOR_VERSION;
    h.header_size = KVP_TENSOR_HDR_SIZE;
    h.dtype = dtype;
    h.ndim = ndim;
    h.layout_kind = KVP_LAYOUT_FULL;
    h.data_offset = KVP_TENSOR_HDR_SIZE;
    uint64_t numel = 1;
    for (int i = 0; i < KVP_TENSOR_MAX_DIMS; i++) {
        int64_t d = i < ndim ? shape[i] : -1;
        h.global_shape[i] = h.local_shape[i] = d;
        if (i < ndim)
            numel *= (uint64_t)d;
    }
    h.data_bytes = numel * kvp_dtype_size(dtype);
    return h;
}

#endif /* KVP_TENSOR_TEST_UTIL_H */
