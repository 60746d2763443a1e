/* tensor_obj.h - builds tensor objects (header v1 + payload) byte by byte,
 * little-endian at the offsets DESIGN.md §3 pins, and computes reference TP
 * shards with a naive index walk (independent of any plugin code). */
#ifndef CONF_TENSOR_OBJ_H
#define CONF_TENSOR_OBJ_H

#include <stddef.h>
#include <stdint.h>

#include "kvplug/tensor.h"

/* Field offsets of the header v1. */
#define TH_MAGIC        0
#define TH_VERSION      4
#define TH_HEADER_SIZE  6
#define TH_DTYPE        8
#define TH_NDIM         12
#define TH_LAYOUT       16
#define TH_FLAGS        20
#define TH_DATA_OFFSET  24
#define TH_DATA_BYTES   32
#define TH_GLOBAL_SHAPE 40
#define TH_LOCAL_SHAPE  104
#define TH_AXIS_COUNT   168
#define TH_RESERVED0    172
#define TH_AXES         176
#define TH_AXIS_SIZE    32

void th_put16(uint8_t *h, size_t off, uint16_t v);
void th_put32(uint8_t *h, size_t off, uint32_t v);
void th_put64(uint8_t *h, size_t off, uint64_t v);
uint16_t th_get16(const uint8_t *h, size_t off);
uint32_t th_get32(const uint8_t *h, size_t off);
uint64_t th_get64(const uint8_t *h, size_t off);

/* numel of shape[0..ndim) (1 for ndim 0). */
uint64_t th_numel(int32_t ndim, const int64_t *shape);
/* Bytes of a FULL object of this shape: 304 + numel * elem size. */
size_t th_object_len(int32_t dtype, int32_t ndim, const int64_t *shape);

/* Writes a valid FULL header (global = local = shape, axis_count 0). */
void th_write_full_header(uint8_t *h, int32_t dtype, int32_t ndim,
                          const int64_t *shape);
/* Header + deterministic payload (seed); returns the object length. */
size_t th_build_object(uint8_t *obj, int32_t dtype, int32_t ndim,
                       const int64_t *shape, uint32_t seed);

/* Shard r of tp along split_dim (0 <= split_dim < ndim, shape[split_dim]
 * divisible by tp): its payload, C-contiguous, into out. */
void th_reference_shard(const uint8_t *full_payload, int32_t dtype,
                        int32_t ndim, const int64_t *shape, int32_t split_dim,
                        int32_t tp, int32_t r, uint8_t *out);

/* "[4,6]" for messages. */
const char *th_shape_str(int32_t ndim, const int64_t *shape);

#endif /* CONF_TENSOR_OBJ_H */
