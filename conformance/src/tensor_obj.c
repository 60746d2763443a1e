/* tensor_obj.c - tensor objects and reference shards for the cases and the
 * vector generator. Deliberately naive: one element at a time. */
#include <stdio.h>
#include <string.h>

#include "tensor_obj.h"

void conf_pattern_fill(void *p, size_t len, uint32_t seed);

void th_put16(uint8_t *h, size_t off, uint16_t v)
{
    h[off] = (uint8_t)v;
    h[off + 1] = (uint8_t)(v >> 8);
}

void th_put32(uint8_t *h, size_t off, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        h[off + i] = (uint8_t)(v >> (8 * i));
}

void th_put64(uint8_t *h, size_t off, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        h[off + i] = (uint8_t)(v >> (8 * i));
}

uint16_t th_get16(const uint8_t *h, size_t off)
{
    return (uint16_t)(h[off] | (h[off + 1] << 8));
}

uint32_t th_get32(const uint8_t *h, size_t off)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | h[off + i];
    return v;
}

uint64_t th_get64(const uint8_t *h, size_t off)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | h[off + i];
    return v;
}

uint64_t th_numel(int32_t ndim, const int64_t *shape)
{
    uint64_t n = 1;
    for (int32_t i = 0; i < ndim; i++)
        n *= (uint64_t)shape[i];
    return n;
}

size_t th_object_len(int32_t dtype, int32_t ndim, const int64_t *shape)
{
    return KVP_TENSOR_HDR_SIZE +
           (size_t)(th_numel(ndim, shape) * kvp_dtype_size(dtype));
}

void th_write_full_header(uint8_t *h, int32_t dtype, int32_t ndim,
                          const int64_t *shape)
{
    memset(h, 0, KVP_TENSOR_HDR_SIZE);
    th_put32(h, TH_MAGIC, KVP_TENSOR_MAGIC);
    th_put16(h, TH_VERSION, KVP_TENSOR_VERSION);
    th_put16(h, TH_HEADER_SIZE, KVP_TENSOR_HDR_SIZE);
    th_put32(h, TH_DTYPE, (uint32_t)dtype);
    th_put32(h, TH_NDIM, (uint32_t)ndim);
    th_put32(h, TH_LAYOUT, KVP_LAYOUT_FULL);
    th_put64(h, TH_DATA_OFFSET, KVP_TENSOR_HDR_SIZE);
    th_put64(h, TH_DATA_BYTES, th_numel(ndim, shape) * kvp_dtype_size(dtype));
    for (int i = 0; i < KVP_TENSOR_MAX_DIMS; i++) {
        int64_t d = i < ndim ? shape[i] : -1;
        th_put64(h, TH_GLOBAL_SHAPE + 8 * (size_t)i, (uint64_t)d);
        th_put64(h, TH_LOCAL_SHAPE + 8 * (size_t)i, (uint64_t)d);
    }
    th_put32(h, TH_AXIS_COUNT, 0);
}

size_t th_build_object(uint8_t *obj, int32_t dtype, int32_t ndim,
                       const int64_t *shape, uint32_t seed)
{
    size_t len = th_object_len(dtype, ndim, shape);
    th_write_full_header(obj, dtype, ndim, shape);
    conf_pattern_fill(obj + KVP_TENSOR_HDR_SIZE, len - KVP_TENSOR_HDR_SIZE,
                      seed);
    return len;
}

void th_reference_shard(const uint8_t *full_payload, int32_t dtype,
                        int32_t ndim, const int64_t *shape, int32_t split_dim,
                        int32_t tp, int32_t r, uint8_t *out)
{
    size_t es = kvp_dtype_size(dtype);
    int64_t local[KVP_TENSOR_MAX_DIMS], idx[KVP_TENSOR_MAX_DIMS] = {0};
    for (int32_t i = 0; i < ndim; i++)
        local[i] = shape[i];
    local[split_dim] = shape[split_dim] / tp;
    uint64_t n = th_numel(ndim, local);
    for (uint64_t e = 0; e < n; e++) {
        /* global linear index of local multi-index idx */
        uint64_t lin = 0;
        for (int32_t d = 0; d < ndim; d++) {
            int64_t g = idx[d] + (d == split_dim ? r * local[d] : 0);
            lin = lin * (uint64_t)shape[d] + (uint64_t)g;
        }
        memcpy(out + e * es, full_payload + lin * es, es);
        for (int32_t d = ndim - 1; d >= 0; d--) { /* odometer */
            if (++idx[d] < local[d])
                break;
            idx[d] = 0;
        }
    }
}

const char *th_shape_str(int32_t ndim, const int64_t *shape)
{
    static __thread char buf[160];
    size_t o = 0;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "[");
    for (int32_t i = 0; i < ndim && o < sizeof(buf); i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%lld", i ? "," : "",
                              (long long)shape[i]);
    if (o < sizeof(buf))
        snprintf(buf + o, sizeof(buf) - o, "]");
    return buf;
}
