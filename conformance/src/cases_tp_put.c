/* cases_tp_put.c - put_tensor_with_tp_from and its batch variant
 * (DESIGN.md §3 "TP put"): full tensor in, every rank's shard equal to an
 * independent reference slice with the exact SHARD header. */
#include <stdio.h>
#include <string.h>

#include "tensor_obj.h"
#include "tp_check.h"

static const struct tp_tensor shapes[] = {
    {KVP_DTYPE_F32, 1, {24}},      {KVP_DTYPE_F32, 2, {4, 6}},
    {KVP_DTYPE_I16, 3, {8, 6, 4}}, {KVP_DTYPE_U8, 4, {2, 12, 3, 8}},
    {KVP_DTYPE_F64, 2, {24, 5}},
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))
static const int32_t tps[] = {1, 2, 3, 4, 8};
#define NTPS (sizeof(tps) / sizeof(tps[0]))

/* Every divisible tp size of the table for (t, split). */
static int sweep(struct conf_ctx *ctx, const struct tp_tensor *t,
                 int32_t split_dim)
{
    int32_t s = split_dim < 0 ? split_dim + t->ndim : split_dim;
    for (size_t i = 0; i < NTPS; i++) {
        if (t->shape[s] % tps[i] != 0)
            continue;
        if (tp_roundtrip(ctx, t, tps[i], split_dim) != 0)
            return -1;
    }
    return 0;
}

static void split_dim_0(struct conf_ctx *ctx)
{
    for (size_t i = 0; i < NSHAPES; i++)
        CONF_TRY(sweep(ctx, &shapes[i], 0));
}

static void split_dim_inner(struct conf_ctx *ctx)
{
    for (size_t i = 0; i < NSHAPES; i++)
        for (int32_t d = 1; d < shapes[i].ndim; d++)
            CONF_TRY(sweep(ctx, &shapes[i], d));
}

static void split_dim_negative(struct conf_ctx *ctx)
{
    for (size_t i = 0; i < NSHAPES; i++)
        for (int32_t d = -1; d >= -shapes[i].ndim; d--)
            CONF_TRY(sweep(ctx, &shapes[i], d));
}

static void all_dtypes(struct conf_ctx *ctx)
{
    for (int32_t dt = 0; dt < KVP_DTYPE_COUNT; dt++) {
        struct tp_tensor t = {dt, 3, {4, 6, 2}};
        CONF_TRY(tp_roundtrip(ctx, &t, 2, 1));
        CONF_TRY(tp_roundtrip(ctx, &t, 4, 0));
        CONF_TRY(tp_roundtrip(ctx, &t, 2, -1));
        CONF_TRY(tp_roundtrip(ctx, &t, 1, 0));
    }
}

static void ndim_8(struct conf_ctx *ctx)
{
    struct tp_tensor t = {KVP_DTYPE_BF16, 8, {2, 1, 4, 1, 2, 3, 2, 2}};
    for (int32_t d = -8; d < 8; d++)
        CONF_TRY(sweep(ctx, &t, d));
}

static void zero_element(struct conf_ctx *ctx)
{
    struct tp_tensor d0 = {KVP_DTYPE_F32, 2, {0, 4}}; /* D = 0 */
    struct tp_tensor o0 = {KVP_DTYPE_F32, 2, {4, 0}}; /* other dim 0 */
    struct tp_tensor z3 = {KVP_DTYPE_I64, 3, {2, 0, 8}};
    CONF_TRY(tp_roundtrip(ctx, &d0, 2, 0));
    CONF_TRY(tp_roundtrip(ctx, &d0, 4, 0));
    CONF_TRY(tp_roundtrip(ctx, &o0, 2, 0));
    CONF_TRY(tp_roundtrip(ctx, &o0, 2, 1));
    CONF_TRY(tp_roundtrip(ctx, &z3, 2, 2));
    CONF_TRY(tp_roundtrip(ctx, &z3, 1, 0));
}

static void tp_size_le_1(struct conf_ctx *ctx)
{
    const int32_t sizes[] = {1, 0, -1};
    for (size_t i = 0; i < 3; i++) {
        CONF_TRY(tp_roundtrip(ctx, &shapes[1], sizes[i], 0));
        /* even with a split_dim that would be invalid for tp > 1 */
        CONF_TRY(tp_roundtrip(ctx, &shapes[1], sizes[i], 7));
    }
    struct tp_tensor scalar = {KVP_DTYPE_F16, 0, {0}};
    CONF_TRY(tp_roundtrip(ctx, &scalar, 1, 0));
}

static void tp_rank_ignored(struct conf_ctx *ctx)
{
    const int32_t ranks[] = {1, 3, -1, 100};
    for (size_t i = 0; i < 4; i++) {
        char key[256], name[32];
        snprintf(name, sizeof(name), "rank%zu", i);
        conf_key(ctx, key, sizeof(key), name);
        size_t len;
        uint8_t *obj = tp_put_full(ctx, key, &shapes[1], ranks[i], 2, 1,
                                   (uint32_t)i, &len);
        if (obj == NULL)
            return;
        CONF_TRY(tp_verify(ctx, key, obj, &shapes[1], 2, 1));
    }
}

static void expect_refused(struct conf_ctx *ctx, const struct tp_tensor *t,
                           int32_t tp, int32_t split, int32_t want,
                           const char *why)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "refused");
    size_t len = th_object_len(t->dtype, t->ndim, t->shape);
    uint8_t *obj = conf_alloc(ctx, len);
    if (obj == NULL)
        return;
    th_build_object(obj, t->dtype, t->ndim, t->shape, 1);
    int32_t st = ctx->ops->put_tensor_with_tp_from(ctx->engine, key, obj, len,
                                                   0, tp, split, NULL);
    if (st != want) {
        conf_fail(ctx,
                  "observed put_tensor_with_tp_from(shape %s, tp_size "
                  "%d, split_dim %d) (%s) = %s, expected %s",
                  th_shape_str(t->ndim, t->shape), tp, split, why, conf_st(st),
                  conf_st(want));
        return;
    }
    if (tp_any_stored(ctx, key, tp > 0 ? tp : 1))
        conf_fail(ctx,
                  "observed a shard stored by the refused put (%s), "
                  "expected none",
                  why);
}

static void non_divisible(struct conf_ctx *ctx)
{
    expect_refused(ctx, &shapes[1], 3, 0, KVP_ERR_INVALID, "4 % 3 != 0");
    CONF_TRY(conf_failed(ctx));
    expect_refused(ctx, &shapes[1], 4, 1, KVP_ERR_INVALID, "6 % 4 != 0");
    CONF_TRY(conf_failed(ctx));
    expect_refused(ctx, &shapes[1], 8, -2, KVP_ERR_INVALID, "4 % 8 != 0");
}

static void split_dim_out_of_range(struct conf_ctx *ctx)
{
    expect_refused(ctx, &shapes[1], 2, 2, KVP_ERR_INVALID, "split_dim = ndim");
    CONF_TRY(conf_failed(ctx));
    expect_refused(ctx, &shapes[1], 2, -3, KVP_ERR_INVALID,
                   "split_dim = -ndim-1");
    CONF_TRY(conf_failed(ctx));
    struct tp_tensor scalar = {KVP_DTYPE_F32, 0, {0}};
    expect_refused(ctx, &scalar, 2, 0, KVP_ERR_INVALID,
                   "a scalar has no dim to split");
}

static void exists_and_overwrite(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "ex");
    size_t len;
    uint8_t *first = tp_put_full(ctx, key, &shapes[2], 0, 2, 1, 1, &len);
    if (first == NULL)
        return;
    uint8_t *second = conf_alloc(ctx, len);
    if (second == NULL)
        return;
    th_build_object(second, shapes[2].dtype, shapes[2].ndim, shapes[2].shape,
                    2);
    CONF_EXPECT(ctx, "put_tensor_with_tp_from(same key again)",
                ctx->ops->put_tensor_with_tp_from(ctx->engine, key, second, len,
                                                  0, 2, 1, NULL),
                KVP_ERR_EXISTS);
    CONF_TRY(tp_verify(ctx, key, first, &shapes[2], 2, 1));
    if (!(ctx->ops->caps & KVP_CAP_OVERWRITE))
        return;
    CONF_EXPECT(ctx, "put_tensor_with_tp_from(same key, overwrite)",
                ctx->ops->put_tensor_with_tp_from(ctx->engine, key, second, len,
                                                  0, 2, 1,
                                                  &conf_opts_overwrite),
                KVP_OK);
    CONF_TRY(tp_verify(ctx, key, second, &shapes[2], 2, 1));
}

static void all_or_nothing(struct conf_ctx *ctx)
{
    char key[256], shard[300];
    conf_key(ctx, key, sizeof(key), "aon");
    snprintf(shard, sizeof(shard), "%s_tp_2", key);
    uint8_t *blocker = conf_alloc(ctx, 64);
    if (blocker == NULL)
        return;
    conf_pattern_fill(blocker, 64, 99);
    CONF_EXPECT(ctx, "put_from(<key>_tp_2) (pre-existing shard)",
                ctx->ops->put_from(ctx->engine, shard, blocker, 64, NULL),
                KVP_OK);
    const struct tp_tensor *t = &shapes[1];
    size_t len = th_object_len(t->dtype, t->ndim, t->shape);
    uint8_t *obj = conf_alloc(ctx, len);
    uint8_t *back = conf_alloc(ctx, 128);
    if (obj == NULL || back == NULL)
        return;
    th_build_object(obj, t->dtype, t->ndim, t->shape, 3);
    CONF_EXPECT(ctx, "put_tensor_with_tp_from(tp 4) with <key>_tp_2 stored",
                ctx->ops->put_tensor_with_tp_from(ctx->engine, key, obj, len, 0,
                                                  4, 0, NULL),
                KVP_ERR_EXISTS);
    const int32_t others[] = {0, 1, 3};
    for (size_t i = 0; i < 3; i++) {
        char k[300], what[64];
        snprintf(k, sizeof(k), "%s_tp_%d", key, others[i]);
        snprintf(what, sizeof(what), "exists(<key>_tp_%d) left behind",
                 others[i]);
        CONF_EXPECT(ctx, what, ctx->ops->exists(ctx->engine, k), 0);
    }
    CONF_EXPECT(ctx, "get_into(<key>_tp_2) (the pre-existing object)",
                ctx->ops->get_into(ctx->engine, shard, back, 128), 64);
    CONF_EXPECT(ctx, "first changed byte of the pre-existing <key>_tp_2",
                conf_memdiff(back, blocker, 64), -1);
}

/* ---- batch ------------------------------------------------------------ */

#define BN 5
struct tp_batch {
    char keybuf[BN][256];
    const char *keys[BN];
    const void *ptrs[BN];
    uint64_t lens[BN];
    int32_t res[BN];
    uint8_t *objs[BN];
    struct tp_tensor t[BN];
};

static int batch_item(struct conf_ctx *ctx, struct tp_batch *b, int i,
                      const struct tp_tensor *t)
{
    char name[16];
    snprintf(name, sizeof(name), "bt%d", i);
    conf_key(ctx, b->keybuf[i], sizeof(b->keybuf[i]), name);
    b->keys[i] = b->keybuf[i];
    b->t[i] = *t;
    size_t len = th_object_len(t->dtype, t->ndim, t->shape);
    if ((b->objs[i] = conf_alloc(ctx, len)) == NULL)
        return -1;
    th_build_object(b->objs[i], t->dtype, t->ndim, t->shape,
                    (uint32_t)i * 5 + 1);
    b->ptrs[i] = b->objs[i];
    b->lens[i] = len;
    b->res[i] = 12345;
    return 0;
}

static void batch_success_means_written(struct conf_ctx *ctx)
{
    static struct tp_batch b;
    const struct tp_tensor items[3] = {{KVP_DTYPE_F32, 2, {4, 6}},
                                       {KVP_DTYPE_I16, 3, {8, 6, 4}},
                                       {KVP_DTYPE_U8, 2, {2, 10}}};
    for (int i = 0; i < 3; i++)
        CONF_TRY(batch_item(ctx, &b, i, &items[i]));
    int32_t st = ctx->ops->batch_put_tensor_with_tp_from(
        ctx->engine, 3, b.keys, b.ptrs, b.lens, 0, 2, -1, NULL, b.res);
    /* the truth first: every item reported OK must be fully there */
    for (int i = 0; i < 3; i++) {
        if (b.res[i] != KVP_OK)
            continue;
        if (tp_verify(ctx, b.keys[i], b.objs[i], &b.t[i], 2, -1) != 0) {
            char prev[CONF_MSG_MAX];
            snprintf(prev, sizeof(prev), "%s", ctx->msg);
            ctx->state = CONF_PASS;
            conf_fail(ctx, "observed item %d reported KVP_OK although %s", i,
                      strncmp(prev, "observed ", 9) == 0 ? prev + 9 : prev);
            return;
        }
    }
    CONF_EXPECT_ST(ctx, "batch_put_tensor_with_tp_from(3 valid items)", st,
                   KVP_OK);
    for (int i = 0; i < 3; i++)
        CONF_EXPECT(ctx, "results[i] of a valid item", b.res[i], KVP_OK);
}

static void batch_failure_means_not_written(struct conf_ctx *ctx)
{
    static struct tp_batch b;
    const struct tp_tensor good = {KVP_DTYPE_F32, 2, {4, 6}};
    const struct tp_tensor odd = {KVP_DTYPE_F32, 2, {4, 5}}; /* 5 % 2 */
    CONF_TRY(batch_item(ctx, &b, 0, &good));
    CONF_TRY(batch_item(ctx, &b, 1, &odd));
    CONF_TRY(batch_item(ctx, &b, 2, &good));
    CONF_TRY(batch_item(ctx, &b, 3, &good));
    CONF_TRY(batch_item(ctx, &b, 4, &good));
    /* item 3 collides with a pre-existing shard */
    char blocker_key[300];
    snprintf(blocker_key, sizeof(blocker_key), "%s_tp_1", b.keys[3]);
    uint8_t *blk = conf_alloc(ctx, 16);
    if (blk == NULL)
        return;
    CONF_EXPECT(ctx, "put_from(<item 3>_tp_1)",
                ctx->ops->put_from(ctx->engine, blocker_key, blk, 16, NULL),
                KVP_OK);
    int32_t st = ctx->ops->batch_put_tensor_with_tp_from(
        ctx->engine, BN, b.keys, b.ptrs, b.lens, 0, 2, 1, NULL, b.res);
    for (int i = 0; i < BN; i++) {
        if (b.res[i] >= 0)
            continue;
        char k[300];
        snprintf(k, sizeof(k), "%s_tp_0", b.keys[i]);
        if (ctx->ops->exists(ctx->engine, k) == 1) {
            conf_fail(ctx,
                      "observed item %d reported %s but its shard "
                      "<key>_tp_0 is stored, expected a failed item to "
                      "leave nothing",
                      i, conf_st(b.res[i]));
            return;
        }
    }
    const int32_t want[BN] = {KVP_OK, KVP_ERR_INVALID, KVP_OK, KVP_ERR_EXISTS,
                              KVP_OK};
    for (int i = 0; i < BN; i++) {
        char what[64];
        snprintf(what, sizeof(what), "results[%d]", i);
        CONF_EXPECT(ctx, what, b.res[i], want[i]);
    }
    CONF_EXPECT_ST(ctx, "batch_put_tensor_with_tp_from(3 good, 2 bad)", st,
                   KVP_PARTIAL);
    for (int i = 0; i < BN; i += 2)
        CONF_TRY(tp_verify(ctx, b.keys[i], b.objs[i], &b.t[i], 2, 1));
}

#define TPC CONF_NEED_ENGINE, KVP_CAP_TP
#define TPB CONF_NEED_ENGINE, KVP_CAP_TP | KVP_CAP_BATCH
static const struct conf_case cases[] = {
    {"tp-put", "shards-split-dim-0",
     "shard r is the slice [r*D/tp, (r+1)*D/tp) along split_dim 0 with the "
     "exact SHARD header",
     TPC, split_dim_0, NULL},
    {"tp-put", "shards-split-dim-inner",
     "shard r is the slice along an inner split_dim, C-contiguous, with the "
     "exact SHARD header",
     TPC, split_dim_inner, NULL},
    {"tp-put", "split-dim-negative",
     "a negative split_dim counts from the end; the header holds it "
     "normalised",
     TPC, split_dim_negative, NULL},
    {"tp-put", "all-dtypes", "TP put works for all 15 dtypes", TPC, all_dtypes,
     NULL},
    {"tp-put", "ndim-8", "TP put splits every dim of an 8-dim tensor", TPC,
     ndim_8, NULL},
    {"tp-put", "zero-element",
     "zero-element tensors split into empty shards (D = 0 gives empty "
     "shards)",
     TPC, zero_element, NULL},
    {"tp-put", "tp-size-le-1-stores-unchanged",
     "tp_size <= 1 stores the validated object under key unchanged", TPC,
     tp_size_le_1, NULL},
    {"tp-put", "tp-rank-ignored",
     "tp_rank is accepted and ignored on put (the full tensor is split)", TPC,
     tp_rank_ignored, NULL},
    {"tp-put", "non-divisible-invalid",
     "shape[split_dim] % tp_size != 0 is KVP_ERR_INVALID, nothing stored", TPC,
     non_divisible, NULL},
    {"tp-put", "split-dim-out-of-range-invalid",
     "split_dim outside [-ndim, ndim) is KVP_ERR_INVALID, nothing stored", TPC,
     split_dim_out_of_range, NULL},
    {"tp-put", "exists-and-overwrite",
     "a second TP put of a key is KVP_ERR_EXISTS keeping the shards; "
     "overwrite replaces them",
     TPC, exists_and_overwrite, NULL},
    {"tp-put", "all-or-nothing",
     "a pre-existing <key>_tp_2 fails the whole TP put with KVP_ERR_EXISTS "
     "and leaves no other shard",
     TPC, all_or_nothing, NULL},
    {"tp-put", "batch-success-means-written",
     "batch TP put never reports success for an item not fully written", TPB,
     batch_success_means_written, NULL},
    {"tp-put", "batch-failure-means-not-written",
     "batch TP put never reports failure for an item that was written; a "
     "bad item fails only itself",
     TPB, batch_failure_means_not_written, NULL},
};

CONF_GROUP(conf_group_tp_put, cases);
