/*
 * kvplug/tensor.h - the tensor object header v1 (304 bytes, little-endian),
 * byte-compatible with Mooncake Store's tensor object header.
 *
 * A tensor object is [header][payload]; the payload is C-contiguous,
 * numel(local_shape) * dtype size bytes. See docs/tensor-format.md.
 *
 * Since ABI 1.0.
 */
#ifndef KVPLUG_TENSOR_H
#define KVPLUG_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_TENSOR_MAGIC UINT32_C(0x4D4F4F4E)
#define KVP_TENSOR_VERSION 1
#define KVP_TENSOR_HDR_SIZE 304
#define KVP_TENSOR_MAX_DIMS 8
#define KVP_TENSOR_MAX_AXES 4

/* layout_kind */
#define KVP_LAYOUT_FULL 0
#define KVP_LAYOUT_SHARD 1

/* axis kinds */
#define KVP_AXIS_DP 0
#define KVP_AXIS_TP 1
#define KVP_AXIS_EP 2
#define KVP_AXIS_PP 3

/* dtypes */
#define KVP_DTYPE_F32 0
#define KVP_DTYPE_F64 1
#define KVP_DTYPE_I8 2
#define KVP_DTYPE_U8 3
#define KVP_DTYPE_I16 4
#define KVP_DTYPE_U16 5
#define KVP_DTYPE_I32 6
#define KVP_DTYPE_U32 7
#define KVP_DTYPE_I64 8
#define KVP_DTYPE_U64 9
#define KVP_DTYPE_BOOL 10
#define KVP_DTYPE_F16 11
#define KVP_DTYPE_BF16 12
#define KVP_DTYPE_F8E4M3 13
#define KVP_DTYPE_F8E5M2 14
#define KVP_DTYPE_COUNT 15

struct kvp_tensor_axis {        /* 32 bytes */
    int32_t kind;               /* KVP_AXIS_* */
    int32_t axis_index;
    int32_t shard_rank;
    int32_t shard_count;
    int32_t split_dim;          /* -1: not split */
    int32_t reserved0;
    int64_t reserved1;          /* local extent along split_dim */
};

/* In-memory image of the header on a little-endian host. Portable code
 * reads and writes the bytes at the offsets pinned below. */
struct kvp_tensor_hdr {
    uint32_t magic;             /* @0   KVP_TENSOR_MAGIC */
    uint16_t version;           /* @4   1 */
    uint16_t header_size;       /* @6   304 */
    int32_t dtype;              /* @8   KVP_DTYPE_* */
    int32_t ndim;               /* @12  0..8 */
    uint32_t layout_kind;       /* @16  KVP_LAYOUT_* */
    uint32_t reserved_flags;    /* @20 */
    uint64_t data_offset;       /* @24  304 */
    uint64_t data_bytes;        /* @32  payload bytes */
    int64_t global_shape[KVP_TENSOR_MAX_DIMS]; /* @40  unused dims = -1 */
    int64_t local_shape[KVP_TENSOR_MAX_DIMS];  /* @104 unused dims = -1 */
    uint32_t axis_count;        /* @168 0..4 */
    uint32_t reserved0;         /* @172 */
    struct kvp_tensor_axis axes[KVP_TENSOR_MAX_AXES]; /* @176 */
};

#if defined(__cplusplus)
static_assert(sizeof(struct kvp_tensor_hdr) == KVP_TENSOR_HDR_SIZE,
              "tensor header v1 is 304 bytes");
#else
_Static_assert(sizeof(struct kvp_tensor_hdr) == KVP_TENSOR_HDR_SIZE,
               "tensor header v1 is 304 bytes");
_Static_assert(offsetof(struct kvp_tensor_hdr, axes) == 176,
               "axes at 176");
#endif

/* Element size in bytes of a dtype, 0 if out of range. */
static inline uint32_t kvp_dtype_size(int32_t dtype)
{
    static const uint8_t sizes[KVP_DTYPE_COUNT] = {4, 8, 1, 1, 2, 2, 4, 4,
                                                   8, 8, 1, 2, 2, 1, 1};
    return (dtype >= 0 && dtype < KVP_DTYPE_COUNT) ? sizes[dtype] : 0;
}

#ifdef __cplusplus
}
#endif

#endif /* KVPLUG_TENSOR_H */
