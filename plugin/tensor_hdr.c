/*
 * tensor_hdr.c - byte-wise little-endian codec and validator of the tensor
 * object header v1. The bytes come from hosts and from the network, so the
 * decoder never punns the struct onto them and never reads past 304 bytes.
 */
#include "tensor_hdr.h"

#include <string.h>

#include "le.h"

/* Byte offsets of docs/tensor-format.md (pinned by tests/abi). */
#define OFF_MAGIC        0
#define OFF_VERSION      4
#define OFF_HEADER_SIZE  6
#define OFF_DTYPE        8
#define OFF_NDIM         12
#define OFF_LAYOUT       16
#define OFF_FLAGS        20
#define OFF_DATA_OFFSET  24
#define OFF_DATA_BYTES   32
#define OFF_GLOBAL_SHAPE 40
#define OFF_LOCAL_SHAPE  104
#define OFF_AXIS_COUNT   168
#define OFF_RESERVED0    172
#define OFF_AXES         176
#define AXIS_SIZE        32

/* Two's complement reinterpretation without implementation-defined casts. */
static int32_t as_i32(uint64_t v)
{
    uint32_t u = (uint32_t)v;
    int32_t s;
    memcpy(&s, &u, sizeof s);
    return s;
}

static int64_t as_i64(uint64_t v)
{
    int64_t s;
    memcpy(&s, &v, sizeof s);
    return s;
}

static uint64_t from_i32(int32_t s)
{
    uint32_t u;
    memcpy(&u, &s, sizeof u);
    return u;
}

static uint64_t from_i64(int64_t s)
{
    uint64_t u;
    memcpy(&u, &s, sizeof u);
    return u;
}

/* ---- codec ------------------------------------------------------------- */

static void decode(const uint8_t *b, struct kvp_tensor_hdr *h)
{
    memset(h, 0, sizeof *h);
    h->magic = (uint32_t)kvp_le_get(b + OFF_MAGIC, 4);
    h->version = (uint16_t)kvp_le_get(b + OFF_VERSION, 2);
    h->header_size = (uint16_t)kvp_le_get(b + OFF_HEADER_SIZE, 2);
    h->dtype = as_i32(kvp_le_get(b + OFF_DTYPE, 4));
    h->ndim = as_i32(kvp_le_get(b + OFF_NDIM, 4));
    h->layout_kind = (uint32_t)kvp_le_get(b + OFF_LAYOUT, 4);
    h->reserved_flags = (uint32_t)kvp_le_get(b + OFF_FLAGS, 4);
    h->data_offset = kvp_le_get(b + OFF_DATA_OFFSET, 8);
    h->data_bytes = kvp_le_get(b + OFF_DATA_BYTES, 8);
    for (int i = 0; i < KVP_TENSOR_MAX_DIMS; i++) {
        h->global_shape[i] =
            as_i64(kvp_le_get(b + OFF_GLOBAL_SHAPE + 8 * i, 8));
        h->local_shape[i] = as_i64(kvp_le_get(b + OFF_LOCAL_SHAPE + 8 * i, 8));
    }
    h->axis_count = (uint32_t)kvp_le_get(b + OFF_AXIS_COUNT, 4);
    h->reserved0 = (uint32_t)kvp_le_get(b + OFF_RESERVED0, 4);
    for (int a = 0; a < KVP_TENSOR_MAX_AXES; a++) {
        const uint8_t *p = b + OFF_AXES + AXIS_SIZE * a;
        struct kvp_tensor_axis *ax = &h->axes[a];
        ax->kind = as_i32(kvp_le_get(p + 0, 4));
        ax->axis_index = as_i32(kvp_le_get(p + 4, 4));
        ax->shard_rank = as_i32(kvp_le_get(p + 8, 4));
        ax->shard_count = as_i32(kvp_le_get(p + 12, 4));
        ax->split_dim = as_i32(kvp_le_get(p + 16, 4));
        ax->reserved0 = as_i32(kvp_le_get(p + 20, 4));
        ax->reserved1 = as_i64(kvp_le_get(p + 24, 8));
    }
}

void tensor_hdr_encode(const struct kvp_tensor_hdr *h, void *out)
{
    uint8_t *b = out;
    kvp_le_put(b + OFF_MAGIC, h->magic, 4);
    kvp_le_put(b + OFF_VERSION, h->version, 2);
    kvp_le_put(b + OFF_HEADER_SIZE, h->header_size, 2);
    kvp_le_put(b + OFF_DTYPE, from_i32(h->dtype), 4);
    kvp_le_put(b + OFF_NDIM, from_i32(h->ndim), 4);
    kvp_le_put(b + OFF_LAYOUT, h->layout_kind, 4);
    kvp_le_put(b + OFF_FLAGS, h->reserved_flags, 4);
    kvp_le_put(b + OFF_DATA_OFFSET, h->data_offset, 8);
    kvp_le_put(b + OFF_DATA_BYTES, h->data_bytes, 8);
    for (int i = 0; i < KVP_TENSOR_MAX_DIMS; i++) {
        kvp_le_put(b + OFF_GLOBAL_SHAPE + 8 * i, from_i64(h->global_shape[i]),
                   8);
        kvp_le_put(b + OFF_LOCAL_SHAPE + 8 * i, from_i64(h->local_shape[i]), 8);
    }
    kvp_le_put(b + OFF_AXIS_COUNT, h->axis_count, 4);
    kvp_le_put(b + OFF_RESERVED0, h->reserved0, 4);
    for (int a = 0; a < KVP_TENSOR_MAX_AXES; a++) {
        uint8_t *p = b + OFF_AXES + AXIS_SIZE * a;
        const struct kvp_tensor_axis *ax = &h->axes[a];
        kvp_le_put(p + 0, from_i32(ax->kind), 4);
        kvp_le_put(p + 4, from_i32(ax->axis_index), 4);
        kvp_le_put(p + 8, from_i32(ax->shard_rank), 4);
        kvp_le_put(p + 12, from_i32(ax->shard_count), 4);
        kvp_le_put(p + 16, from_i32(ax->split_dim), 4);
        kvp_le_put(p + 20, from_i32(ax->reserved0), 4);
        kvp_le_put(p + 24, from_i64(ax->reserved1), 8);
    }
}

/* ---- payload size ------------------------------------------------------ */

int tensor_hdr_payload_bytes(const struct kvp_tensor_hdr *h, uint64_t *bytes_p)
{
    uint32_t elem = kvp_dtype_size(h->dtype);
    if (elem == 0 || h->ndim < 0 || h->ndim > KVP_TENSOR_MAX_DIMS)
        return -1;
    /* A zero dim makes the tensor empty whatever the other dims are, so it
     * is decided first: [2^40, 2^40, 0] is 0 bytes, not an overflow. */
    for (int i = 0; i < h->ndim; i++) {
        if (h->local_shape[i] < 0)
            return -1;
        if (h->local_shape[i] == 0) {
            *bytes_p = 0;
            return 0;
        }
    }
    uint64_t n = elem;
    for (int i = 0; i < h->ndim; i++) {
        if (__builtin_mul_overflow(n, (uint64_t)h->local_shape[i], &n))
            return -1;
    }
    *bytes_p = n;
    return 0;
}

/* ---- validation -------------------------------------------------------- */

static const char *const rule_names[TH_RULE_COUNT] = {
    [TH_OK] = "ok",
    [TH_TOO_SHORT] = "object shorter than the 304-byte header",
    [TH_MAGIC] = "magic",
    [TH_VERSION] = "version",
    [TH_HEADER_SIZE] = "header_size",
    [TH_DTYPE] = "dtype",
    [TH_NDIM] = "ndim",
    [TH_SHAPE_DIM] = "negative used dim",
    [TH_SHAPE_UNUSED] = "unused dim not -1",
    [TH_LAYOUT] = "layout_kind",
    [TH_AXIS_COUNT] = "axis_count",
    [TH_DATA_OFFSET] = "data_offset",
    [TH_DATA_BYTES_LEN] = "data_bytes != object length - data_offset",
    [TH_DATA_BYTES_NUMEL] = "data_bytes != numel(local_shape) * elem size",
    [TH_OVERFLOW] = "numel(local_shape) * elem size overflows",
    [TH_AXIS_RANK] = "axis shard_rank not in [0, shard_count)",
    [TH_AXIS_SPLIT_DIM] = "axis split_dim not in [-1, ndim)",
};

const char *tensor_hdr_rule_str(int32_t rule)
{
    if (rule < 0 || rule >= TH_RULE_COUNT)
        return "unknown rule";
    return rule_names[rule];
}

static int32_t check_shapes(const struct kvp_tensor_hdr *h)
{
    for (int i = 0; i < h->ndim; i++) {
        if (h->global_shape[i] < 0 || h->local_shape[i] < 0)
            return TH_SHAPE_DIM;
    }
    for (int i = h->ndim; i < KVP_TENSOR_MAX_DIMS; i++) {
        if (h->global_shape[i] != -1 || h->local_shape[i] != -1)
            return TH_SHAPE_UNUSED;
    }
    return TH_OK;
}

static int32_t check_axes(const struct kvp_tensor_hdr *h)
{
    for (uint32_t a = 0; a < h->axis_count; a++) {
        const struct kvp_tensor_axis *ax = &h->axes[a];
        if (ax->shard_rank < 0 || ax->shard_rank >= ax->shard_count)
            return TH_AXIS_RANK;
        if (ax->split_dim < -1 || ax->split_dim >= h->ndim)
            return TH_AXIS_SPLIT_DIM;
    }
    return TH_OK;
}

/* The rules in the order docs/tensor-format.md lists them; the first one
 * broken is reported. Overflow is checked before the numel comparison,
 * since the comparison needs the product. */
static int32_t validate(const struct kvp_tensor_hdr *h, uint64_t obj_len)
{
    int32_t rule;
    uint64_t payload;

    if (h->magic != KVP_TENSOR_MAGIC)
        return TH_MAGIC;
    if (h->version != KVP_TENSOR_VERSION)
        return TH_VERSION;
    if (h->header_size != KVP_TENSOR_HDR_SIZE)
        return TH_HEADER_SIZE;
    if (h->dtype < 0 || h->dtype >= KVP_DTYPE_COUNT)
        return TH_DTYPE;
    if (h->ndim < 0 || h->ndim > KVP_TENSOR_MAX_DIMS)
        return TH_NDIM;
    rule = check_shapes(h);
    if (rule != TH_OK)
        return rule;
    if (h->layout_kind > KVP_LAYOUT_SHARD)
        return TH_LAYOUT;
    if (h->axis_count > KVP_TENSOR_MAX_AXES)
        return TH_AXIS_COUNT;
    if (h->data_offset != KVP_TENSOR_HDR_SIZE || h->data_offset > obj_len)
        return TH_DATA_OFFSET;
    if (h->data_bytes != obj_len - h->data_offset)
        return TH_DATA_BYTES_LEN;
    if (tensor_hdr_payload_bytes(h, &payload) != 0)
        return TH_OVERFLOW;
    if (h->data_bytes != payload)
        return TH_DATA_BYTES_NUMEL;
    return check_axes(h);
}

int32_t tensor_hdr_parse(const void *obj, uint64_t obj_len,
                         struct kvp_tensor_hdr *hdr)
{
    struct kvp_tensor_hdr scratch;
    if (hdr == NULL) /* validation only */
        hdr = &scratch;
    if (obj == NULL || obj_len < KVP_TENSOR_HDR_SIZE)
        return TH_TOO_SHORT;
    decode(obj, hdr);
    return validate(hdr, obj_len);
}
