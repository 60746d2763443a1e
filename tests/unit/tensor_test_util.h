/*
 * tensor_test_util.h - helpers the tensor unit tests share (header only:
 * tests/unit builds one binary per check_*.c).
 */
#ifndef KVP_TENSOR_TEST_UTIL_H
#define KVP_TENSOR_TEST_UTIL_H

#include <string.h>

#include "kvplug/tensor.h"
#include "tensor_hdr.h"

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

/* Value of element (a, b, c) of the test_u8_tensor3 tensors. */
static inline unsigned char test_u8_val(int64_t a, int64_t b, int64_t c)
{
    return (unsigned char)(a * 31 + b * 7 + c);
}

/* A FULL u8 tensor object of shape[0..3) at obj (header, then payload
 * test_u8_val(a, b, c), C order); returns its length. Needs the codec
 * (tensor_hdr.h, kvp_plugin_core). */
static inline size_t test_u8_tensor3(unsigned char *obj, const int64_t *shape)
{
    struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_U8, 3, shape);
    tensor_hdr_encode(&h, obj);
    unsigned char *p = obj + KVP_TENSOR_HDR_SIZE;
    for (int64_t a = 0; a < shape[0]; a++)
        for (int64_t b = 0; b < shape[1]; b++)
            for (int64_t c = 0; c < shape[2]; c++)
                *p++ = test_u8_val(a, b, c);
    return KVP_TENSOR_HDR_SIZE + (size_t)h.data_bytes;
}

#endif /* KVP_TENSOR_TEST_UTIL_H */
