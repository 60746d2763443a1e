/*
 * check_tensor_hdr.c - the tensor object header v1 codec and validator.
 * Each rule gets a case that just passes it and one that breaks it; the
 * broken bytes are written at the documented offsets by this file's own
 * little-endian writer, so a decoder reading the wrong offset fails here.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_test_util.h"
#include "tensor_hdr.h"

/* ---- helpers: an independent little-endian writer ---------------------- */

static void wr(uint8_t *b, size_t off, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        b[off + i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rd(const uint8_t *b, size_t off, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[off + i] << (8 * i);
    return v;
}

/* Encoded object [header][payload] in a malloc'd buffer. */
static uint8_t *make_obj(const struct kvp_tensor_hdr *h, uint64_t *len_p)
{
    uint64_t len = KVP_TENSOR_HDR_SIZE + h->data_bytes;
    uint8_t *b = calloc(1, len);
    ck_assert_ptr_nonnull(b);
    tensor_hdr_encode(h, b);
    *len_p = len;
    return b;
}

/* A 2x3 f32 object (24 payload bytes) as the base every rule case edits. */
static uint8_t *base_obj(uint64_t *len_p)
{
    const int64_t shape[2] = {2, 3};
    struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_F32, 2, shape);
    return make_obj(&h, len_p);
}

static int32_t parse(const uint8_t *b, uint64_t len)
{
    struct kvp_tensor_hdr h;
    return tensor_hdr_parse(b, len, &h);
}

#define EXPECT_RULE(b, len, rule)                                              \
    do {                                                                       \
        int32_t got_ = parse((b), (len));                                      \
        ck_assert_msg(got_ == (rule), "expected rule %s, got %s",              \
                      tensor_hdr_rule_str(rule), tensor_hdr_rule_str(got_));   \
    } while (0)

/* ---- codec ------------------------------------------------------------- */

START_TEST(test_encode_offsets)
{
    const int64_t shape[3] = {4, 5, 6};
    struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_BF16, 3, shape);
    h.reserved_flags = 0xA1B2C3D4u;
    h.axis_count = 1;
    h.reserved0 = 0x01020304u;
    h.axes[0] = (struct kvp_tensor_axis){
        KVP_AXIS_TP, 7, 1, 2, -1, -5, INT64_C(0x0102030405060708)};
    uint8_t b[KVP_TENSOR_HDR_SIZE];
    memset(b, 0xEE, sizeof b);
    tensor_hdr_encode(&h, b);
    ck_assert_uint_eq(rd(b, 0, 4), 0x4D4F4F4Eu);
    ck_assert_uint_eq(b[0], 0x4E); /* little-endian on the wire */
    ck_assert_uint_eq(rd(b, 4, 2), 1);
    ck_assert_uint_eq(rd(b, 6, 2), 304);
    ck_assert_uint_eq(rd(b, 8, 4), KVP_DTYPE_BF16);
    ck_assert_uint_eq(rd(b, 12, 4), 3);
    ck_assert_uint_eq(rd(b, 16, 4), 0);
    ck_assert_uint_eq(rd(b, 20, 4), 0xA1B2C3D4u);
    ck_assert_uint_eq(rd(b, 24, 8), 304);
    ck_assert_uint_eq(rd(b, 32, 8), 4 * 5 * 6 * 2);
    ck_assert_uint_eq(rd(b, 40, 8), 4);
    ck_assert_uint_eq(rd(b, 56, 8), 6);
    ck_assert_uint_eq(rd(b, 64, 8), UINT64_MAX); /* -1 */
    ck_assert_uint_eq(rd(b, 104 + 8, 8), 5);
    ck_assert_uint_eq(rd(b, 104 + 56, 8), UINT64_MAX);
    ck_assert_uint_eq(rd(b, 168, 4), 1);
    ck_assert_uint_eq(rd(b, 172, 4), 0x01020304u);
    ck_assert_uint_eq(rd(b, 176, 4), KVP_AXIS_TP);
    ck_assert_uint_eq(rd(b, 180, 4), 7);
    ck_assert_uint_eq(rd(b, 184, 4), 1);
    ck_assert_uint_eq(rd(b, 188, 4), 2);
    ck_assert_uint_eq(rd(b, 192, 4), 0xFFFFFFFFu);
    ck_assert_uint_eq(rd(b, 196, 4), 0xFFFFFFFBu);
    ck_assert_uint_eq(rd(b, 200, 8), 0x0102030405060708u);
    ck_assert_uint_eq(rd(b, 208, 8), 0); /* axes[1] */
    ck_assert_uint_eq(rd(b, 296, 8), 0); /* last byte written: 303 */
}
END_TEST

START_TEST(test_round_trip)
{
    const int64_t shape[8] = {1, 2, 1, 3, 1, 2, 1, 2};
    struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_I64, 8, shape);
    h.layout_kind = KVP_LAYOUT_SHARD;
    h.reserved_flags = 9;
    h.axis_count = 4;
    for (int a = 0; a < 4; a++)
        h.axes[a] =
            (struct kvp_tensor_axis){a, a + 1, a, a + 1, a - 1, 0, -(int64_t)a};
    uint64_t len;
    uint8_t *b = make_obj(&h, &len);
    struct kvp_tensor_hdr back;
    memset(&back, 0x5A, sizeof back);
    ck_assert_int_eq(tensor_hdr_parse(b, len, &back), TH_OK);
    ck_assert_int_eq(memcmp(&h, &back, sizeof h), 0);
    uint8_t again[KVP_TENSOR_HDR_SIZE];
    tensor_hdr_encode(&back, again);
    ck_assert_int_eq(memcmp(b, again, sizeof again), 0);
    free(b);
}
END_TEST

/* Parse never depends on the caller's struct contents, and decodes a
 * header whose rules are broken too (hdr is always written). */
START_TEST(test_parse_writes_hdr_even_if_invalid)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    wr(b, 8, 99, 4);
    struct kvp_tensor_hdr h;
    memset(&h, 0, sizeof h);
    ck_assert_int_eq(tensor_hdr_parse(b, len, &h), TH_DTYPE);
    ck_assert_int_eq(h.dtype, 99);
    ck_assert_uint_eq(h.magic, KVP_TENSOR_MAGIC);
    ck_assert_int_eq(tensor_hdr_parse(b, len, NULL), TH_DTYPE);
    free(b);
}
END_TEST

/* ---- one TCase per rule: valid edge, invalid ---------------------------- */

START_TEST(test_rule_too_short)
{
    const int64_t shape[1] = {0};
    struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_U8, 1, shape);
    uint64_t len;
    uint8_t *b = make_obj(&h, &len);
    ck_assert_uint_eq(len, 304);
    EXPECT_RULE(b, 304, TH_OK);
    EXPECT_RULE(b, 303, TH_TOO_SHORT);
    EXPECT_RULE(b, 0, TH_TOO_SHORT);
    ck_assert_int_eq(tensor_hdr_parse(NULL, 304, NULL), TH_TOO_SHORT);
    free(b);
}
END_TEST

START_TEST(test_rule_magic)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 0, 0x4E4F4F4D, 4); /* byte-swapped magic */
    EXPECT_RULE(b, len, TH_MAGIC);
    free(b);
}
END_TEST

START_TEST(test_rule_version)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 4, 2, 2);
    EXPECT_RULE(b, len, TH_VERSION);
    wr(b, 4, 0, 2);
    EXPECT_RULE(b, len, TH_VERSION);
    free(b);
}
END_TEST

START_TEST(test_rule_header_size)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 6, 305, 2);
    EXPECT_RULE(b, len, TH_HEADER_SIZE);
    free(b);
}
END_TEST

START_TEST(test_rule_dtype)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    /* 14 (f8e5m2, 1 byte): valid once data_bytes fits. */
    wr(b, 8, KVP_DTYPE_F8E5M2, 4);
    wr(b, 32, 6, 8);
    EXPECT_RULE(b, 304 + 6, TH_OK);
    wr(b, 8, 15, 4);
    EXPECT_RULE(b, 304 + 6, TH_DTYPE);
    wr(b, 8, UINT32_MAX, 4); /* -1 */
    EXPECT_RULE(b, 304 + 6, TH_DTYPE);
    free(b);
}
END_TEST

START_TEST(test_rule_ndim)
{
    const int64_t shape[8] = {1, 1, 1, 1, 1, 1, 1, 2};
    struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_U8, 8, shape);
    uint64_t len;
    uint8_t *b = make_obj(&h, &len);
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 12, 9, 4);
    EXPECT_RULE(b, len, TH_NDIM);
    wr(b, 12, UINT32_MAX, 4);
    EXPECT_RULE(b, len, TH_NDIM);
    free(b);
}
END_TEST

START_TEST(test_rule_shape_dim)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 40 + 8, UINT64_MAX, 8); /* global_shape[1] = -1 inside ndim */
    EXPECT_RULE(b, len, TH_SHAPE_DIM);
    free(b);
    b = base_obj(&len);
    wr(b, 104, (uint64_t)-7, 8); /* local_shape[0] = -7 */
    EXPECT_RULE(b, len, TH_SHAPE_DIM);
    free(b);
}
END_TEST

START_TEST(test_rule_shape_unused)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 40 + 8 * 7, 0, 8); /* global_shape[7] = 0, unused */
    EXPECT_RULE(b, len, TH_SHAPE_UNUSED);
    free(b);
    b = base_obj(&len);
    wr(b, 104 + 8 * 2, 1, 8); /* local_shape[2] = 1, unused */
    EXPECT_RULE(b, len, TH_SHAPE_UNUSED);
    free(b);
}
END_TEST

START_TEST(test_rule_layout)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    wr(b, 16, KVP_LAYOUT_SHARD, 4);
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 16, 2, 4);
    EXPECT_RULE(b, len, TH_LAYOUT);
    free(b);
}
END_TEST

START_TEST(test_rule_axis_count)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    /* 4 axes, each {rank 0 of 1, split_dim -1}: valid. */
    wr(b, 168, 4, 4);
    for (int a = 0; a < 4; a++) {
        wr(b, 176 + 32 * a + 12, 1, 4);
        wr(b, 176 + 32 * a + 16, UINT32_MAX, 4);
    }
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 168, 5, 4);
    EXPECT_RULE(b, len, TH_AXIS_COUNT);
    free(b);
}
END_TEST

START_TEST(test_rule_data_offset)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 24, 312, 8);
    EXPECT_RULE(b, len, TH_DATA_OFFSET);
    wr(b, 24, 0, 8);
    EXPECT_RULE(b, len, TH_DATA_OFFSET);
    free(b);
}
END_TEST

START_TEST(test_rule_data_bytes_len)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    EXPECT_RULE(b, len, TH_OK);
    EXPECT_RULE(b, len - 1, TH_DATA_BYTES_LEN); /* truncated payload */
    free(b);
    /* Trailing garbage is refused too: data_bytes must be exact. */
    b = base_obj(&len);
    uint8_t *big = calloc(1, len + 8);
    memcpy(big, b, len);
    EXPECT_RULE(big, len + 8, TH_DATA_BYTES_LEN);
    free(big);
    free(b);
}
END_TEST

START_TEST(test_rule_data_bytes_numel)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    EXPECT_RULE(b, len, TH_OK);
    /* data_bytes and len agree (28) but 2x3 f32 is 24 bytes. */
    uint8_t *big = calloc(1, 304 + 28);
    memcpy(big, b, len);
    wr(big, 32, 28, 8);
    EXPECT_RULE(big, 304 + 28, TH_DATA_BYTES_NUMEL);
    /* local_shape, not global_shape, sizes the payload. */
    memcpy(big, b, len);
    wr(big, 40, 4, 8); /* global [4, 3] */
    EXPECT_RULE(big, len, TH_OK);
    wr(big, 104, 4, 8); /* local [4, 3] = 48 bytes != 24 */
    EXPECT_RULE(big, len, TH_DATA_BYTES_NUMEL);
    free(big);
    free(b);
}
END_TEST

START_TEST(test_rule_overflow)
{
    /* [2^32, 2^32] f32 is 2^66 bytes. data_bytes 0 and len 304 agree, so
     * only the product can fail, and it must not wrap to 0. */
    const int64_t shape[2] = {INT64_C(1) << 32, INT64_C(1) << 32};
    struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_F32, 2, shape);
    h.data_bytes = 0;
    uint8_t b[304];
    tensor_hdr_encode(&h, b);
    EXPECT_RULE(b, 304, TH_OVERFLOW);
    uint64_t bytes = 1234;
    ck_assert_int_eq(tensor_hdr_payload_bytes(&h, &bytes), -1);
    ck_assert_uint_eq(bytes, 1234);
    /* 2^61 f64 elements = 2^64 bytes: just over. */
    h.dtype = KVP_DTYPE_F64;
    h.ndim = 1;
    h.global_shape[0] = h.local_shape[0] = INT64_C(1) << 61;
    h.global_shape[1] = h.local_shape[1] = -1;
    tensor_hdr_encode(&h, b);
    EXPECT_RULE(b, 304, TH_OVERFLOW);
    /* Valid side: a zero dim after huge ones is 0 bytes, not overflow. */
    const int64_t zshape[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 0};
    h = test_full_hdr(KVP_DTYPE_F64, 3, zshape);
    h.data_bytes = 0;
    tensor_hdr_encode(&h, b);
    EXPECT_RULE(b, 304, TH_OK);
}
END_TEST

START_TEST(test_rule_axis_rank)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    wr(b, 168, 1, 4);
    wr(b, 176 + 8, 3, 4);  /* rank 3 */
    wr(b, 176 + 12, 4, 4); /* of 4 */
    wr(b, 176 + 16, 1, 4); /* split_dim 1 */
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 176 + 8, 4, 4); /* rank 4 of 4 */
    EXPECT_RULE(b, len, TH_AXIS_RANK);
    wr(b, 176 + 8, UINT32_MAX, 4); /* rank -1 */
    EXPECT_RULE(b, len, TH_AXIS_RANK);
    /* An unused axis slot is not checked. */
    wr(b, 168, 0, 4);
    EXPECT_RULE(b, len, TH_OK);
    free(b);
}
END_TEST

START_TEST(test_rule_axis_split_dim)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    wr(b, 168, 2, 4);
    wr(b, 176 + 12, 1, 4);
    wr(b, 176 + 16, UINT32_MAX, 4); /* axis 0: split_dim -1 */
    wr(b, 208 + 12, 2, 4);
    wr(b, 208 + 16, 1, 4); /* axis 1: split_dim 1 = ndim-1 */
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 208 + 16, 2, 4); /* split_dim == ndim */
    EXPECT_RULE(b, len, TH_AXIS_SPLIT_DIM);
    wr(b, 208 + 16, (uint32_t)-2, 4);
    EXPECT_RULE(b, len, TH_AXIS_SPLIT_DIM);
    free(b);
}
END_TEST

/* The first rule broken is the one reported. */
START_TEST(test_rule_first_broken)
{
    uint64_t len;
    uint8_t *b = base_obj(&len);
    wr(b, 8, 77, 4);  /* dtype */
    wr(b, 168, 9, 4); /* axis_count */
    EXPECT_RULE(b, len, TH_DTYPE);
    wr(b, 4, 5, 2); /* version comes before dtype */
    EXPECT_RULE(b, len, TH_VERSION);
    wr(b, 0, 0, 4);
    EXPECT_RULE(b, len, TH_MAGIC);
    free(b);
}
END_TEST

START_TEST(test_rule_names)
{
    for (int32_t r = 0; r < TH_RULE_COUNT; r++) {
        const char *s = tensor_hdr_rule_str(r);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_gt((int)strlen(s), 0);
        for (int32_t q = 0; q < r; q++)
            ck_assert_str_ne(s, tensor_hdr_rule_str(q));
    }
    ck_assert_str_eq(tensor_hdr_rule_str(TH_RULE_COUNT), "unknown rule");
    ck_assert_str_eq(tensor_hdr_rule_str(-1), "unknown rule");
}
END_TEST

/* ---- dtypes, ranks, empty tensors -------------------------------------- */

START_TEST(test_all_dtypes)
{
    static const uint32_t sizes[15] = {4, 8, 1, 1, 2, 2, 4, 4,
                                       8, 8, 1, 2, 2, 1, 1};
    const int64_t shape[2] = {3, 5};
    for (int32_t dt = 0; dt < KVP_DTYPE_COUNT; dt++) {
        ck_assert_uint_eq(kvp_dtype_size(dt), sizes[dt]);
        struct kvp_tensor_hdr h = test_full_hdr(dt, 2, shape);
        uint64_t len, bytes;
        ck_assert_int_eq(tensor_hdr_payload_bytes(&h, &bytes), 0);
        ck_assert_uint_eq(bytes, 15u * sizes[dt]);
        uint8_t *b = make_obj(&h, &len);
        ck_assert_uint_eq(len, 304 + 15u * sizes[dt]);
        EXPECT_RULE(b, len, TH_OK);
        /* One element size off is caught for every dtype. */
        EXPECT_RULE(b, len - 1, TH_DATA_BYTES_LEN);
        free(b);
    }
    ck_assert_uint_eq(kvp_dtype_size(15), 0);
    ck_assert_uint_eq(kvp_dtype_size(-1), 0);
}
END_TEST

START_TEST(test_ndim_0_scalar)
{
    struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_F64, 0, NULL);
    uint64_t len, bytes;
    ck_assert_int_eq(tensor_hdr_payload_bytes(&h, &bytes), 0);
    ck_assert_uint_eq(bytes, 8); /* numel 1 */
    uint8_t *b = make_obj(&h, &len);
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 40, 1, 8); /* a scalar has no used dims: all -1 */
    EXPECT_RULE(b, len, TH_SHAPE_UNUSED);
    free(b);
}
END_TEST

START_TEST(test_ndim_8)
{
    const int64_t shape[8] = {2, 1, 3, 1, 2, 1, 2, 3};
    struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_U16, 8, shape);
    uint64_t len;
    uint8_t *b = make_obj(&h, &len);
    ck_assert_uint_eq(len, 304 + 72 * 2);
    EXPECT_RULE(b, len, TH_OK);
    wr(b, 104 + 56, 4, 8); /* last dim 3 -> 4 changes numel */
    EXPECT_RULE(b, len, TH_DATA_BYTES_NUMEL);
    free(b);
}
END_TEST

START_TEST(test_zero_elements)
{
    const int64_t shapes[3][3] = {{0, 5, 7}, {5, 0, 7}, {5, 7, 0}};
    for (int s = 0; s < 3; s++) {
        struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_F32, 3, shapes[s]);
        uint64_t len;
        uint8_t *b = make_obj(&h, &len);
        ck_assert_uint_eq(len, 304); /* a 304-byte object */
        EXPECT_RULE(b, len, TH_OK);
        free(b);
    }
    /* An empty tensor claiming payload bytes is refused. */
    struct kvp_tensor_hdr h = test_full_hdr(KVP_DTYPE_F32, 3, shapes[0]);
    h.data_bytes = 4;
    uint8_t b[308] = {0};
    tensor_hdr_encode(&h, b);
    EXPECT_RULE(b, sizeof b, TH_DATA_BYTES_NUMEL);
}
END_TEST

/* ---- untrusted bytes ---------------------------------------------------- */

#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg("iteration %d: failed: %s", it, #cond);               \
    } while (0)

/* Mutated and random objects, each in a buffer of exactly its length (so
 * ASan/valgrind see any read past it): parse returns a known rule, decode
 * and encode are exact inverses on any 304 bytes, and whatever parses as
 * valid really satisfies the size rules. */
START_TEST(test_untrusted_bytes)
{
    uint64_t state = 0x9E3779B97F4A7C15u;
    uint32_t seen = 0;
    int it;
    for (it = 0; it < 20000; it++) {
        uint64_t base_len;
        uint8_t *base = base_obj(&base_len);
        state = state * 6364136223846793005u + 1442695040888963407u;
        uint64_t len = 300 + (state >> 33) % 40;
        uint8_t *b = malloc(len);
        REQUIRE(b != NULL);
        for (uint64_t i = 0; i < len; i++) {
            state = state * 6364136223846793005u + 1442695040888963407u;
            b[i] =
                i < base_len && it % 4 != 0 ? base[i] : (uint8_t)(state >> 56);
        }
        /* A few targeted byte flips reach the later rules. */
        for (int k = 0; k < 1 + it % 4 && len > 0; k++) {
            state = state * 6364136223846793005u + 1442695040888963407u;
            b[(state >> 33) % len] ^= (uint8_t)(1u << ((state >> 20) % 8));
        }
        struct kvp_tensor_hdr h;
        int32_t rule = tensor_hdr_parse(b, len, &h);
        REQUIRE(rule >= TH_OK && rule < TH_RULE_COUNT);
        seen |= 1u << rule;
        if (len >= 304) {
            uint8_t again[304];
            tensor_hdr_encode(&h, again);
            REQUIRE(memcmp(again, b, 304) == 0);
        } else {
            REQUIRE(rule == TH_TOO_SHORT);
        }
        if (rule == TH_OK) {
            uint64_t bytes;
            REQUIRE(tensor_hdr_payload_bytes(&h, &bytes) == 0);
            REQUIRE(bytes == len - 304 && h.data_bytes == bytes);
            REQUIRE(h.ndim >= 0 && h.ndim <= 8 && h.axis_count <= 4);
        }
        free(b);
        free(base);
    }
    /* The inputs reach valid objects and most rules, not just magic. */
    ck_assert_msg(seen & (1u << TH_OK), "no valid object generated");
    int n_rules = __builtin_popcount(seen);
    ck_assert_int_ge(n_rules, 10);
}
END_TEST

static Suite *tensor_hdr_suite(void)
{
    Suite *s = suite_create("tensor_hdr");
    struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"encode_offsets", test_encode_offsets},
        {"round_trip", test_round_trip},
        {"parse_writes_hdr", test_parse_writes_hdr_even_if_invalid},
        {"rule_too_short", test_rule_too_short},
        {"rule_magic", test_rule_magic},
        {"rule_version", test_rule_version},
        {"rule_header_size", test_rule_header_size},
        {"rule_dtype", test_rule_dtype},
        {"rule_ndim", test_rule_ndim},
        {"rule_shape_dim", test_rule_shape_dim},
        {"rule_shape_unused", test_rule_shape_unused},
        {"rule_layout", test_rule_layout},
        {"rule_axis_count", test_rule_axis_count},
        {"rule_data_offset", test_rule_data_offset},
        {"rule_data_bytes_len", test_rule_data_bytes_len},
        {"rule_data_bytes_numel", test_rule_data_bytes_numel},
        {"rule_overflow", test_rule_overflow},
        {"rule_axis_rank", test_rule_axis_rank},
        {"rule_axis_split_dim", test_rule_axis_split_dim},
        {"rule_first_broken", test_rule_first_broken},
        {"rule_names", test_rule_names},
        {"all_dtypes", test_all_dtypes},
        {"ndim_0_scalar", test_ndim_0_scalar},
        {"ndim_8", test_ndim_8},
        {"zero_elements", test_zero_elements},
        {"untrusted_bytes", test_untrusted_bytes},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].fn);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tensor_hdr_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
