/*
 * check_tp_plan.c - the TP planner.
 *
 * The property test draws thousands of random tensors (seeded; the seed is
 * printed, KVP_TEST_SEED replays one), plans every valid split, gathers each
 * rank's shard from a random payload through the planner's extents, and
 * rebuilds the full tensor with an independent reference: a multi-index
 * walk over the full shape that asks, per element, which shard and which
 * local index hold it. The rebuilt bytes must equal the payload exactly.
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor_test_util.h"
#include "kvplug/status.h"
#include "tensor_hdr.h"
#include "tp_plan.h"

#define MAX_PAYLOAD (64u * 1024u)

/* ck_assert_* reports every passing assertion to the runner; in the
 * property loops that costs more than the work, so only failures go to
 * Check. */
#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, #cond);      \
    } while (0)

/* ---- seeded PRNG (xorshift64*) ----------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static uint32_t rng_below(uint32_t n)
{
    return (uint32_t)(rng_next() % n);
}

static void rng_seed(void)
{
    const char *env = getenv("KVP_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    if (seed == 0)
        seed = 1;
    rng_state = seed;
    printf("check_tp_plan: seed %" PRIu64 " (KVP_TEST_SEED=%" PRIu64
           " replays it)\n",
           seed, seed);
    fflush(stdout);
}

/* ---- helpers ----------------------------------------------------------- */

/* Advance a C-order multi-index; 0 when it wrapped past the end. */
static int odometer_next(int64_t *idx, const int64_t *shape, int32_t ndim)
{
    for (int32_t i = ndim - 1; i >= 0; i--) {
        if (++idx[i] < shape[i])
            return 1;
        idx[i] = 0;
    }
    return 0;
}

/* C-order linear index of idx in shape (Horner). */
static uint64_t linear(const int64_t *idx, const int64_t *shape, int32_t ndim)
{
    uint64_t l = 0;
    for (int32_t i = 0; i < ndim; i++)
        l = l * (uint64_t)shape[i] + (uint64_t)idx[i];
    return l;
}

/* Rebuild the full payload from tp shards by walking every full index:
 * element idx lives in shard idx[d] / local_d at local index idx with
 * idx[d] % local_d. */
static void reference_concat(const int64_t *shape, int32_t ndim, int32_t d,
                             int32_t tp, uint32_t elem, uint8_t *const *shards,
                             uint8_t *out)
{
    int64_t local_shape[KVP_TENSOR_MAX_DIMS];
    int64_t idx[KVP_TENSOR_MAX_DIMS] = {0};
    int64_t lidx[KVP_TENSOR_MAX_DIMS];
    for (int32_t i = 0; i < ndim; i++) {
        local_shape[i] = shape[i];
        if (shape[i] == 0)
            return; /* no elements */
    }
    int64_t local_d = shape[d] / tp;
    local_shape[d] = local_d;
    do {
        memcpy(lidx, idx, sizeof(int64_t) * (size_t)ndim);
        int64_t r = idx[d] / local_d;
        lidx[d] = idx[d] % local_d;
        memcpy(out + linear(idx, shape, ndim) * elem,
               shards[r] + linear(lidx, local_shape, ndim) * elem, elem);
    } while (odometer_next(idx, shape, ndim));
}

static void check_shard_hdr(const struct kvp_tensor_hdr *s,
                            const struct kvp_tensor_hdr *full, int32_t d,
                            int32_t tp, int32_t r, uint64_t shard_bytes)
{
    int64_t local_d = full->local_shape[d] / tp;
    REQUIRE((s->magic) == (KVP_TENSOR_MAGIC));
    REQUIRE((s->version) == (1));
    REQUIRE((s->header_size) == (304));
    REQUIRE((s->dtype) == (full->dtype));
    REQUIRE((s->ndim) == (full->ndim));
    REQUIRE((s->layout_kind) == (KVP_LAYOUT_SHARD));
    REQUIRE((s->reserved_flags) == (0));
    REQUIRE((s->data_offset) == (304));
    REQUIRE((s->data_bytes) == (shard_bytes));
    for (int i = 0; i < KVP_TENSOR_MAX_DIMS; i++) {
        int64_t g = i < full->ndim ? full->local_shape[i] : -1;
        REQUIRE((s->global_shape[i]) == (g));
        REQUIRE((s->local_shape[i]) == (i == d ? local_d : g));
    }
    REQUIRE((s->axis_count) == (1));
    REQUIRE((s->reserved0) == (0));
    REQUIRE((s->axes[0].kind) == (KVP_AXIS_TP));
    REQUIRE((s->axes[0].axis_index) == (0));
    REQUIRE((s->axes[0].shard_rank) == (r));
    REQUIRE((s->axes[0].shard_count) == (tp));
    REQUIRE((s->axes[0].split_dim) == (d));
    REQUIRE((s->axes[0].reserved0) == (0));
    REQUIRE((s->axes[0].reserved1) == (local_d));
    static const struct kvp_tensor_axis zero_axis;
    for (int a = 1; a < KVP_TENSOR_MAX_AXES; a++)
        REQUIRE((memcmp(&s->axes[a], &zero_axis, sizeof zero_axis)) == (0));
}

/* Plan one split, gather every shard through the extents, check headers,
 * rebuild with the reference and compare. */
static void check_one_split(const struct kvp_tensor_hdr *full,
                            const uint8_t *payload, int32_t tp,
                            int32_t split_dim)
{
    int32_t ndim = full->ndim;
    int32_t d = split_dim < 0 ? split_dim + ndim : split_dim;
    uint32_t elem = kvp_dtype_size(full->dtype);
    struct tp_plan plan, plan_neg;

    REQUIRE((tp_plan_make(full, tp, split_dim, &plan)) == (KVP_OK));
    /* The negative spelling of the same dim plans the same. */
    REQUIRE((tp_plan_make(full, tp, d - ndim, &plan_neg)) == (KVP_OK));
    REQUIRE((memcmp(&plan, &plan_neg, sizeof plan)) == (0));
    REQUIRE((plan.split_dim) == (d));
    REQUIRE((plan.tp_size) == (tp));
    REQUIRE((plan.shard_bytes * (uint64_t)tp) == (full->data_bytes));
    if (plan.shard_bytes == 0)
        REQUIRE((plan.n_extents) == (0));
    else
        REQUIRE((plan.n_extents * plan.extent_len) == (plan.shard_bytes));
    /* Merged: split_dim 0 (or leading 1s) is one extent. */
    uint64_t outer = 1;
    for (int32_t i = 0; i < d; i++)
        outer *= (uint64_t)full->local_shape[i];
    if (plan.shard_bytes != 0 && outer == 1)
        REQUIRE((plan.n_extents) == (1));

    uint8_t *shards[8];
    uint8_t *obj = malloc(KVP_TENSOR_HDR_SIZE + plan.shard_bytes + 1);
    REQUIRE(obj != NULL);
    for (int32_t r = 0; r < tp; r++) {
        shards[r] = malloc(plan.shard_bytes + 1);
        REQUIRE(shards[r] != NULL);
        uint64_t at = 0;
        for (uint64_t i = 0; i < plan.n_extents; i++) {
            struct tp_extent e = tp_plan_extent(&plan, r, i);
            REQUIRE((e.off + e.len) <= (full->data_bytes));
            REQUIRE((at + e.len) <= (plan.shard_bytes));
            memcpy(shards[r] + at, payload + e.off, e.len);
            at += e.len;
        }
        REQUIRE((at) == (plan.shard_bytes));

        struct kvp_tensor_hdr sh, back;
        memset(&sh, 0x77, sizeof sh);
        tp_plan_shard_hdr(&plan, full, r, &sh);
        check_shard_hdr(&sh, full, d, tp, r, plan.shard_bytes);
        /* The shard object as stored is a valid tensor object. */
        tensor_hdr_encode(&sh, obj);
        memcpy(obj + KVP_TENSOR_HDR_SIZE, shards[r], plan.shard_bytes);
        REQUIRE((tensor_hdr_parse(obj, KVP_TENSOR_HDR_SIZE + plan.shard_bytes,
                                  &back)) == (TH_OK));
    }

    uint8_t *rebuilt = malloc(full->data_bytes + 1);
    REQUIRE(rebuilt != NULL);
    memset(rebuilt, 0, full->data_bytes + 1);
    reference_concat(full->local_shape, ndim, d, tp, elem, shards, rebuilt);
    if (memcmp(rebuilt, payload, full->data_bytes) != 0)
        ck_abort_msg("shards of dtype %d ndim %d tp %d split_dim %d do not "
                     "concatenate to the full tensor",
                     full->dtype, ndim, tp, split_dim);
    free(rebuilt);
    for (int32_t r = 0; r < tp; r++)
        free(shards[r]);
    free(obj);
}

/* A random shape of ndim dims whose payload is at most max_bytes. Dims are
 * drawn from values with many divisors; about 1 in 25 dims is 0. */
static void random_shape(int32_t ndim, uint32_t elem, uint64_t max_bytes,
                         int64_t *shape)
{
    static const int64_t choices[] = {1, 2, 3, 4, 6, 8, 12, 16, 24};
    uint64_t bytes = elem;
    for (int32_t i = 0; i < ndim; i++) {
        if (rng_below(25) == 0) {
            shape[i] = 0;
            continue;
        }
        int64_t v = choices[rng_below(sizeof choices / sizeof choices[0])];
        while (v > 1 && bytes * (uint64_t)v > max_bytes)
            v = v / 2;
        shape[i] = v;
        bytes *= (uint64_t)v;
    }
    /* Shuffle so large dims are not always the leading ones. */
    for (int32_t i = ndim - 1; i > 0; i--) {
        int32_t j = (int32_t)rng_below((uint32_t)i + 1);
        int64_t t = shape[i];
        shape[i] = shape[j];
        shape[j] = t;
    }
}

START_TEST(test_property_shards_concat_to_full)
{
    static const int32_t tps[] = {2, 3, 4, 8};
    const int n_shapes = 2000;
    uint64_t n_splits = 0, n_empty = 0, dtypes_seen = 0;

    rng_seed();
    uint8_t *payload = malloc(MAX_PAYLOAD);
    ck_assert_ptr_nonnull(payload);
    for (int s = 0; s < n_shapes; s++) {
        int32_t ndim = 1 + (int32_t)rng_below(8);
        int32_t dtype = (int32_t)(s % KVP_DTYPE_COUNT);
        uint32_t elem = kvp_dtype_size(dtype);
        uint64_t max_bytes = 1 + rng_below(MAX_PAYLOAD);
        int64_t shape[KVP_TENSOR_MAX_DIMS];
        random_shape(ndim, elem, max_bytes, shape);
        struct kvp_tensor_hdr full = test_full_hdr(dtype, ndim, shape);
        REQUIRE(full.data_bytes <= MAX_PAYLOAD);
        for (uint64_t i = 0; i < full.data_bytes; i++)
            payload[i] = (uint8_t)rng_next();
        dtypes_seen |= UINT64_C(1) << dtype;

        for (size_t t = 0; t < sizeof tps / sizeof tps[0]; t++) {
            for (int32_t d = 0; d < ndim; d++) {
                int32_t split_dim = rng_below(2) ? d : d - ndim;
                struct tp_plan plan;
                if (shape[d] % tps[t] != 0) {
                    REQUIRE(tp_plan_make(&full, tps[t], split_dim, &plan) ==
                            KVP_ERR_INVALID);
                    continue;
                }
                check_one_split(&full, payload, tps[t], split_dim);
                n_splits++;
                n_empty += full.data_bytes == 0;
            }
        }
    }
    free(payload);
    printf("check_tp_plan: %" PRIu64 " splits checked (%" PRIu64
           " of empty tensors)\n",
           n_splits, n_empty);
    ck_assert_uint_eq(dtypes_seen, (UINT64_C(1) << KVP_DTYPE_COUNT) - 1);
    ck_assert_uint_ge(n_splits, 2000);
    ck_assert_uint_ge(n_empty, 1);
}
END_TEST

/* A worked example, computed by hand: [2, 4, 3] f32, split_dim 1, tp 2.
 * inner = 3 * 4 = 12 bytes, chunk = 2 * 12 = 24, stride = 4 * 12 = 48. */
START_TEST(test_worked_example)
{
    const int64_t shape[3] = {2, 4, 3};
    struct kvp_tensor_hdr full = test_full_hdr(KVP_DTYPE_F32, 3, shape);
    struct tp_plan p;
    ck_assert_int_eq(tp_plan_make(&full, 2, 1, &p), KVP_OK);
    ck_assert_uint_eq(p.n_extents, 2);
    ck_assert_uint_eq(p.extent_len, 24);
    ck_assert_uint_eq(p.stride, 48);
    ck_assert_uint_eq(p.rank_offset, 24);
    ck_assert_uint_eq(p.shard_bytes, 48);
    struct tp_extent e = tp_plan_extent(&p, 1, 1);
    ck_assert_uint_eq(e.off, 72);
    ck_assert_uint_eq(e.len, 24);
    /* split_dim 0: rank 1 is the second half, one extent. */
    ck_assert_int_eq(tp_plan_make(&full, 2, 0, &p), KVP_OK);
    ck_assert_uint_eq(p.n_extents, 1);
    e = tp_plan_extent(&p, 1, 0);
    ck_assert_uint_eq(e.off, 48);
    ck_assert_uint_eq(e.len, 48);
    /* Leading dims of 1 merge too: [1, 1, 6] split_dim 2, tp 3. */
    const int64_t ones[3] = {1, 1, 6};
    full = test_full_hdr(KVP_DTYPE_U8, 3, ones);
    ck_assert_int_eq(tp_plan_make(&full, 3, -1, &p), KVP_OK);
    ck_assert_uint_eq(p.n_extents, 1);
    ck_assert_uint_eq(p.extent_len, 2);
    ck_assert_uint_eq(tp_plan_extent(&p, 2, 0).off, 4);
}
END_TEST

START_TEST(test_empty_split_dim)
{
    /* D = 0: shards are empty, no extents, headers still well formed. */
    const int64_t shape[2] = {5, 0};
    struct kvp_tensor_hdr full = test_full_hdr(KVP_DTYPE_F16, 2, shape);
    struct tp_plan p;
    ck_assert_int_eq(tp_plan_make(&full, 4, 1, &p), KVP_OK);
    ck_assert_uint_eq(p.n_extents, 0);
    ck_assert_uint_eq(p.shard_bytes, 0);
    struct kvp_tensor_hdr sh;
    tp_plan_shard_hdr(&p, &full, 3, &sh);
    check_shard_hdr(&sh, &full, 1, 4, 3, 0);
    ck_assert_int_eq(sh.local_shape[1], 0);
    /* A zero dim elsewhere with huge dims neither overflows nor fails. */
    const int64_t huge[3] = {0, INT64_C(1) << 40, INT64_C(1) << 40};
    full = test_full_hdr(KVP_DTYPE_F64, 3, huge);
    full.data_bytes = 0;
    ck_assert_int_eq(tp_plan_make(&full, 8, 2, &p), KVP_OK);
    ck_assert_uint_eq(p.n_extents, 0);
}
END_TEST

START_TEST(test_invalid_inputs)
{
    const int64_t shape[2] = {4, 6};
    struct kvp_tensor_hdr full = test_full_hdr(KVP_DTYPE_I32, 2, shape);
    struct tp_plan p;
    ck_assert_int_eq(tp_plan_make(&full, 2, 0, &p), KVP_OK);
    /* tp_size < 2 */
    ck_assert_int_eq(tp_plan_make(&full, 1, 0, &p), KVP_ERR_INVALID);
    ck_assert_int_eq(tp_plan_make(&full, 0, 0, &p), KVP_ERR_INVALID);
    ck_assert_int_eq(tp_plan_make(&full, -2, 0, &p), KVP_ERR_INVALID);
    /* split_dim out of range, both ends */
    ck_assert_int_eq(tp_plan_make(&full, 2, 2, &p), KVP_ERR_INVALID);
    ck_assert_int_eq(tp_plan_make(&full, 2, -3, &p), KVP_ERR_INVALID);
    ck_assert_int_eq(tp_plan_make(&full, 2, -2, &p), KVP_OK);
    ck_assert_int_eq(tp_plan_make(&full, 2, INT32_MIN, &p), KVP_ERR_INVALID);
    /* non-divisible: 6 % 4, 4 % 3 */
    ck_assert_int_eq(tp_plan_make(&full, 4, 1, &p), KVP_ERR_INVALID);
    ck_assert_int_eq(tp_plan_make(&full, 3, 0, &p), KVP_ERR_INVALID);
    ck_assert_int_eq(tp_plan_make(&full, 3, 1, &p), KVP_OK);
    /* NULLs */
    ck_assert_int_eq(tp_plan_make(NULL, 2, 0, &p), KVP_ERR_INVALID);
    ck_assert_int_eq(tp_plan_make(&full, 2, 0, NULL), KVP_ERR_INVALID);
    /* ndim 0: a scalar cannot be split */
    struct kvp_tensor_hdr scalar = test_full_hdr(KVP_DTYPE_I32, 0, NULL);
    ck_assert_int_eq(tp_plan_make(&scalar, 2, 0, &p), KVP_ERR_INVALID);
    ck_assert_int_eq(tp_plan_make(&scalar, 2, -1, &p), KVP_ERR_INVALID);
    /* a SHARD header is not a full tensor */
    struct kvp_tensor_hdr shard = full;
    shard.layout_kind = KVP_LAYOUT_SHARD;
    ck_assert_int_eq(tp_plan_make(&shard, 2, 0, &p), KVP_ERR_INVALID);
    /* garbage the caller forgot to validate */
    struct kvp_tensor_hdr bad = full;
    bad.dtype = 15;
    ck_assert_int_eq(tp_plan_make(&bad, 2, 0, &p), KVP_ERR_INVALID);
    bad = full;
    bad.local_shape[1] = -6;
    ck_assert_int_eq(tp_plan_make(&bad, 2, 0, &p), KVP_ERR_INVALID);
    bad = full;
    bad.ndim = 9;
    ck_assert_int_eq(tp_plan_make(&bad, 2, 0, &p), KVP_ERR_INVALID);
    const int64_t big[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    bad = test_full_hdr(KVP_DTYPE_I32, 2, big); /* 2^82 bytes */
    ck_assert_int_eq(tp_plan_make(&bad, 2, 0, &p), KVP_ERR_INVALID);
}
END_TEST

static Suite *tp_plan_suite(void)
{
    Suite *s = suite_create("tp_plan");
    TCase *tc = tcase_create("property_shards_concat_to_full");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_property_shards_concat_to_full);
    suite_add_tcase(s, tc);
    tc = tcase_create("worked_example");
    tcase_add_test(tc, test_worked_example);
    suite_add_tcase(s, tc);
    tc = tcase_create("empty_split_dim");
    tcase_add_test(tc, test_empty_split_dim);
    suite_add_tcase(s, tc);
    tc = tcase_create("invalid_inputs");
    tcase_add_test(tc, test_invalid_inputs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tp_plan_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
