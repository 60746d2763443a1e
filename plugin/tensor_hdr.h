/*
 * tensor_hdr.h - codec and validator for the tensor object header v1
 * (kvplug/tensor.h, docs/tensor-format.md). Pure functions, no I/O.
 */
#ifndef KVP_TENSOR_HDR_H
#define KVP_TENSOR_HDR_H

#include <stdint.h>

#include "kvplug/tensor.h"

/* The rule a header broke (TH_OK = valid). Append-only. */
enum tensor_hdr_rule {
    TH_OK = 0,
    TH_TOO_SHORT,      /* object shorter than 304 bytes */
    TH_MAGIC,          /* magic != 0x4D4F4F4E */
    TH_VERSION,        /* version != 1 */
    TH_HEADER_SIZE,    /* header_size != 304 */
    TH_DTYPE,          /* dtype not in 0..14 */
    TH_NDIM,           /* ndim not in 0..8 */
    TH_SHAPE_DIM,      /* a used dim < 0 (global or local shape) */
    TH_SHAPE_UNUSED,   /* an unused dim != -1 */
    TH_LAYOUT,         /* layout_kind > 1 */
    TH_AXIS_COUNT,     /* axis_count > 4 */
    TH_DATA_OFFSET,    /* data_offset != 304 or > len */
    TH_DATA_BYTES_LEN, /* data_bytes != len - data_offset */
    TH_DATA_BYTES_NUMEL, /* data_bytes != numel(local_shape) * elem size */
    TH_OVERFLOW,       /* numel * elem size overflows uint64 */
    TH_AXIS_RANK,      /* a used axis without 0 <= rank < count */
    TH_AXIS_SPLIT_DIM, /* a used axis without -1 <= split_dim < ndim */
    TH_RULE_COUNT
};

/* Short, static name of a rule, e.g. "magic". */
const char *tensor_hdr_rule_str(int32_t rule);

/* Decode the little-endian header at the start of obj (obj_len = whole
 * object length) into *hdr (always written when obj_len >= 304) and
 * validate it. Returns the first rule broken, TH_OK if valid. */
int32_t tensor_hdr_parse(const void *obj, uint64_t obj_len,
                         struct kvp_tensor_hdr *hdr);

/* Encode *hdr into 304 little-endian bytes at out. */
void tensor_hdr_encode(const struct kvp_tensor_hdr *hdr, void *out);

/* numel(local_shape) * elem size into *bytes_p; -1 on overflow/invalid. */
int tensor_hdr_payload_bytes(const struct kvp_tensor_hdr *hdr,
                             uint64_t *bytes_p);

#endif /* KVP_TENSOR_HDR_H */
