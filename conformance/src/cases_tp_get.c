/* cases_tp_get.c - get_tensor_with_tp_into and its batch variant
 * (DESIGN.md §3 "TP get"). */
#include <stdio.h>
#include <string.h>

#include "tensor_obj.h"
#include "tp_check.h"

static const struct tp_tensor t46 = {KVP_DTYPE_F32, 2, {4, 6}};
#define SHARD_LEN (KVP_TENSOR_HDR_SIZE + 12 * 4) /* [2,6] or [4,3] f32 */

static int put_tp2(struct conf_ctx *ctx, const char *name, char *key,
                   size_t cap, uint8_t **obj)
{
    conf_key(ctx, key, cap, name);
    size_t len;
    *obj = tp_put_full(ctx, key, &t46, 0, 2, 0, 11, &len);
    return *obj == NULL ? -1 : 0;
}

static void rank_out_of_range(struct conf_ctx *ctx)
{
    char key[256];
    uint8_t *obj;
    CONF_TRY(put_tp2(ctx, "r", key, sizeof(key), &obj));
    uint8_t *dst = conf_alloc(ctx, 1024);
    if (dst == NULL)
        return;
    const int32_t ranks[] = {2, -1, 1000};
    for (size_t i = 0; i < 3; i++) {
        char what[96];
        snprintf(what, sizeof(what),
                 "get_tensor_with_tp_into(rank %d, "
                 "tp_size 2)",
                 ranks[i]);
        CONF_EXPECT(ctx, what,
                    ctx->ops->get_tensor_with_tp_into(ctx->engine, key, dst,
                                                      1024, ranks[i], 2),
                    KVP_ERR_INVALID);
    }
}

static void tp_size_mismatch(struct conf_ctx *ctx)
{
    char key[256];
    uint8_t *obj;
    CONF_TRY(put_tp2(ctx, "m", key, sizeof(key), &obj));
    uint8_t *dst = conf_alloc(ctx, 1024);
    if (dst == NULL)
        return;
    /* <key>_tp_1 exists but its header says shard 1 of 2 */
    CONF_EXPECT(
        ctx,
        "get_tensor_with_tp_into(rank 1, tp_size 4) of a tp 2 "
        "put",
        ctx->ops->get_tensor_with_tp_into(ctx->engine, key, dst, 1024, 1, 4),
        KVP_ERR_TP_MISMATCH);
}

static void rank_mismatch(struct conf_ctx *ctx)
{
    char key[256], other[256], forged[300];
    uint8_t *obj;
    CONF_TRY(put_tp2(ctx, "a", key, sizeof(key), &obj));
    uint8_t *shard1 = conf_alloc(ctx, 1024);
    if (shard1 == NULL)
        return;
    CONF_EXPECT(
        ctx, "get_tensor_with_tp_into(rank 1, tp_size 2)",
        ctx->ops->get_tensor_with_tp_into(ctx->engine, key, shard1, 1024, 1, 2),
        SHARD_LEN);
    /* store rank 1's shard where rank 0's belongs */
    conf_key(ctx, other, sizeof(other), "b");
    snprintf(forged, sizeof(forged), "%s_tp_0", other);
    CONF_EXPECT(
        ctx, "put_from(<other>_tp_0, rank 1's shard bytes)",
        ctx->ops->put_from(ctx->engine, forged, shard1, SHARD_LEN, NULL),
        KVP_OK);
    uint8_t *dst = conf_alloc(ctx, 1024);
    if (dst == NULL)
        return;
    CONF_EXPECT(
        ctx,
        "get_tensor_with_tp_into(other, rank 0, tp_size 2) of "
        "a shard whose header says rank 1",
        ctx->ops->get_tensor_with_tp_into(ctx->engine, other, dst, 1024, 0, 2),
        KVP_ERR_TP_MISMATCH);
}

static void tp_size_le_1_reads_key(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "plain");
    size_t len = th_object_len(t46.dtype, t46.ndim, t46.shape);
    uint8_t *obj = conf_alloc(ctx, len);
    uint8_t *dst = conf_alloc(ctx, len + 64);
    if (obj == NULL || dst == NULL)
        return;
    th_build_object(obj, t46.dtype, t46.ndim, t46.shape, 4);
    CONF_EXPECT(ctx, "put_from(key, tensor object)",
                ctx->ops->put_from(ctx->engine, key, obj, len, NULL), KVP_OK);
    const int32_t sizes[] = {1, 0};
    for (size_t i = 0; i < 2; i++) {
        memset(dst, 0, len + 64);
        char what[96];
        snprintf(what, sizeof(what),
                 "get_tensor_with_tp_into(rank 0, "
                 "tp_size %d)",
                 sizes[i]);
        CONF_EXPECT(ctx, what,
                    ctx->ops->get_tensor_with_tp_into(ctx->engine, key, dst,
                                                      len + 64, 0, sizes[i]),
                    (int64_t)len);
        CONF_EXPECT(ctx, "first differing byte of the object read",
                    conf_memdiff(dst, obj, len), -1);
    }
}

static void too_small_and_not_found(struct conf_ctx *ctx)
{
    char key[256], missing[256];
    uint8_t *obj;
    CONF_TRY(put_tp2(ctx, "s", key, sizeof(key), &obj));
    uint8_t *dst = conf_alloc(ctx, 1024), *canary = conf_alloc(ctx, 1024);
    if (dst == NULL || canary == NULL)
        return;
    memset(dst, 0x5A, 1024);
    memset(canary, 0x5A, 1024);
    CONF_EXPECT(ctx, "get_tensor_with_tp_into(cap = shard size - 1)",
                ctx->ops->get_tensor_with_tp_into(ctx->engine, key, dst,
                                                  SHARD_LEN - 1, 0, 2),
                KVP_ERR_TOO_SMALL);
    CONF_EXPECT(ctx, "first changed byte of the too-small buffer",
                conf_memdiff(dst, canary, 1024), -1);
    conf_key(ctx, missing, sizeof(missing), "never-put");
    CONF_EXPECT(ctx, "get_tensor_with_tp_into(missing key, rank 1, tp 2)",
                ctx->ops->get_tensor_with_tp_into(ctx->engine, missing, dst,
                                                  1024, 1, 2),
                KVP_ERR_NOT_FOUND);
}

static void batch_in_order(struct conf_ctx *ctx)
{
    char ka[256], kb[256], km[256];
    uint8_t *oa, *ob;
    CONF_TRY(put_tp2(ctx, "A", ka, sizeof(ka), &oa));
    CONF_TRY(put_tp2(ctx, "B", kb, sizeof(kb), &ob));
    conf_key(ctx, km, sizeof(km), "missing");
    const char *keys[4] = {kb, km, ka, kb};
    void *dst[4];
    uint64_t caps[4] = {1024, 1024, 1024, 1024};
    int64_t res[4] = {12345, 12345, 12345, 12345};
    for (int i = 0; i < 4; i++)
        if ((dst[i] = conf_alloc(ctx, 1024)) == NULL)
            return;
    CONF_EXPECT_ST(ctx,
                   "batch_get_tensor_with_tp_into([B, missing, A, B], "
                   "rank 1, tp 2)",
                   ctx->ops->batch_get_tensor_with_tp_into(
                       ctx->engine, 4, keys, dst, caps, 1, 2, res),
                   KVP_PARTIAL);
    const int64_t want[4] = {SHARD_LEN, KVP_ERR_NOT_FOUND, SHARD_LEN,
                             SHARD_LEN};
    for (int i = 0; i < 4; i++) {
        char what[32];
        snprintf(what, sizeof(what), "results[%d]", i);
        CONF_EXPECT(ctx, what, res[i], want[i]);
    }
    uint8_t *ref = conf_alloc(ctx, 1024);
    if (ref == NULL)
        return;
    const uint8_t *objs[4] = {ob, NULL, oa, ob};
    for (int i = 0; i < 4; i++) {
        if (objs[i] == NULL)
            continue;
        th_reference_shard(objs[i] + KVP_TENSOR_HDR_SIZE, t46.dtype, t46.ndim,
                           t46.shape, 0, 2, 1, ref);
        char what[64];
        snprintf(what, sizeof(what),
                 "item %d first byte differing from "
                 "the reference shard",
                 i);
        CONF_EXPECT(ctx, what,
                    conf_memdiff((uint8_t *)dst[i] + KVP_TENSOR_HDR_SIZE, ref,
                                 SHARD_LEN - KVP_TENSOR_HDR_SIZE),
                    -1);
    }
}

#define TPC CONF_NEED_ENGINE, KVP_CAP_TP
static const struct conf_case cases[] = {
    {"tp-get", "rank-out-of-range-invalid",
     "tp_rank outside [0, tp_size) is KVP_ERR_INVALID", TPC, rank_out_of_range,
     NULL},
    {"tp-get", "tp-size-mismatch",
     "a stored shard whose header says another tp_size is "
     "KVP_ERR_TP_MISMATCH",
     TPC, tp_size_mismatch, NULL},
    {"tp-get", "rank-mismatch",
     "a stored shard whose header says another rank is KVP_ERR_TP_MISMATCH",
     TPC, rank_mismatch, NULL},
    {"tp-get", "tp-size-le-1-reads-key", "tp_size <= 1 reads key itself", TPC,
     tp_size_le_1_reads_key, NULL},
    {"tp-get", "too-small-and-not-found",
     "a too-small cap is KVP_ERR_TOO_SMALL (buffer untouched); a missing key "
     "is KVP_ERR_NOT_FOUND",
     TPC, too_small_and_not_found, NULL},
    {"tp-get", "batch-in-order",
     "batch TP get fills results[i] in input order, each with its own shard",
     CONF_NEED_ENGINE, KVP_CAP_TP | KVP_CAP_BATCH, batch_in_order, NULL},
};

CONF_GROUP(conf_group_tp_get, cases);
