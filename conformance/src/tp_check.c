/* tp_check.c - the reference check of a TP put (DESIGN.md §3 "TP put"). */
#include <stdio.h>
#include <string.h>

#include "tensor_obj.h"
#include "tp_check.h"

uint8_t *tp_put_full(struct conf_ctx *ctx, const char *key,
                     const struct tp_tensor *t, int32_t tp_rank,
                     int32_t tp_size, int32_t split_dim, uint32_t seed,
                     size_t *len_p)
{
    size_t len = th_object_len(t->dtype, t->ndim, t->shape);
    uint8_t *obj = conf_alloc(ctx, len);
    uint8_t *copy = conf_alloc(ctx, len);
    if (obj == NULL || copy == NULL)
        return NULL;
    th_build_object(obj, t->dtype, t->ndim, t->shape, seed);
    memcpy(copy, obj, len);
    int32_t st = ctx->ops->put_tensor_with_tp_from(
        ctx->engine, key, obj, len, tp_rank, tp_size, split_dim, NULL);
    if (st != KVP_OK) {
        conf_fail(ctx,
                  "observed put_tensor_with_tp_from(dtype %d, shape %s, "
                  "tp_size %d, split_dim %d) = %s, expected KVP_OK",
                  t->dtype, th_shape_str(t->ndim, t->shape), tp_size, split_dim,
                  conf_st(st));
        return NULL;
    }
    if (memcmp(obj, copy, len) != 0) {
        conf_fail(ctx, "observed the host's tensor buffer modified by "
                       "put_tensor_with_tp_from, expected it read-only");
        return NULL;
    }
    *len_p = len;
    return copy;
}

int tp_any_stored(struct conf_ctx *ctx, const char *key, int32_t tp_size)
{
    char shard[KVP_KEY_MAX + 32];
    if (ctx->ops->exists(ctx->engine, key) == 1)
        return 1;
    for (int32_t r = 0; r < tp_size; r++) {
        snprintf(shard, sizeof(shard), "%s_tp_%d", key, r);
        if (ctx->ops->exists(ctx->engine, shard) == 1)
            return 1;
    }
    return 0;
}

#define HDR_EXPECT(ctx, r, field, got, want)                                   \
    do {                                                                       \
        int64_t g_ = (int64_t)(got), w_ = (int64_t)(want);                     \
        if (g_ != w_) {                                                        \
            conf_fail((ctx),                                                   \
                      "observed shard %d header %s = %lld, expected "          \
                      "%lld",                                                  \
                      (r), (field), (long long)g_, (long long)w_);             \
            return -1;                                                         \
        }                                                                      \
    } while (0)

static int check_shard_header(struct conf_ctx *ctx, const uint8_t *h,
                              const struct tp_tensor *t, int32_t tp,
                              int32_t split, int32_t r, uint64_t bytes)
{
    int64_t local = t->shape[split] / tp;
    HDR_EXPECT(ctx, r, "magic", th_get32(h, TH_MAGIC), KVP_TENSOR_MAGIC);
    HDR_EXPECT(ctx, r, "version", th_get16(h, TH_VERSION), 1);
    HDR_EXPECT(ctx, r, "header_size", th_get16(h, TH_HEADER_SIZE), 304);
    HDR_EXPECT(ctx, r, "dtype", (int32_t)th_get32(h, TH_DTYPE), t->dtype);
    HDR_EXPECT(ctx, r, "ndim", (int32_t)th_get32(h, TH_NDIM), t->ndim);
    HDR_EXPECT(ctx, r, "layout_kind", th_get32(h, TH_LAYOUT), KVP_LAYOUT_SHARD);
    HDR_EXPECT(ctx, r, "data_offset", th_get64(h, TH_DATA_OFFSET), 304);
    HDR_EXPECT(ctx, r, "data_bytes", th_get64(h, TH_DATA_BYTES), bytes);
    for (int i = 0; i < KVP_TENSOR_MAX_DIMS; i++) {
        char f[32];
        int64_t g = i < t->ndim ? t->shape[i] : -1;
        int64_t l = i == split ? local : g;
        snprintf(f, sizeof(f), "global_shape[%d]", i);
        HDR_EXPECT(ctx, r, f, (int64_t)th_get64(h, TH_GLOBAL_SHAPE + 8 * i), g);
        snprintf(f, sizeof(f), "local_shape[%d]", i);
        HDR_EXPECT(ctx, r, f, (int64_t)th_get64(h, TH_LOCAL_SHAPE + 8 * i), l);
    }
    HDR_EXPECT(ctx, r, "axis_count", th_get32(h, TH_AXIS_COUNT), 1);
    const size_t a = TH_AXES;
    HDR_EXPECT(ctx, r, "axes[0].kind", (int32_t)th_get32(h, a), KVP_AXIS_TP);
    HDR_EXPECT(ctx, r, "axes[0].axis_index", (int32_t)th_get32(h, a + 4), 0);
    HDR_EXPECT(ctx, r, "axes[0].shard_rank", (int32_t)th_get32(h, a + 8), r);
    HDR_EXPECT(ctx, r, "axes[0].shard_count", (int32_t)th_get32(h, a + 12), tp);
    HDR_EXPECT(ctx, r, "axes[0].split_dim (normalised)",
               (int32_t)th_get32(h, a + 16), split);
    HDR_EXPECT(ctx, r, "axes[0].reserved0", (int32_t)th_get32(h, a + 20), 0);
    HDR_EXPECT(ctx, r, "axes[0].reserved1 (local extent)",
               (int64_t)th_get64(h, a + 24), local);
    return 0;
}

int tp_verify(struct conf_ctx *ctx, const char *key, const uint8_t *obj,
              const struct tp_tensor *t, int32_t tp_size, int32_t split_dim)
{
    size_t len = th_object_len(t->dtype, t->ndim, t->shape);
    size_t es = kvp_dtype_size(t->dtype);
    if (tp_size <= 1) {
        uint8_t *back = conf_alloc(ctx, len + 64);
        if (back == NULL)
            return -1;
        CONF_EXPECT_I(ctx, "get_into(key) after a tp_size <= 1 put",
                      ctx->ops->get_into(ctx->engine, key, back, len + 64),
                      (int64_t)len);
        CONF_EXPECT_I(ctx, "first byte of key differing from the object put",
                      conf_memdiff(back, obj, len), -1);
        char shard[KVP_KEY_MAX + 32];
        snprintf(shard, sizeof(shard), "%s_tp_0", key);
        CONF_EXPECT_I(ctx, "exists(<key>_tp_0) after a tp_size <= 1 put",
                      ctx->ops->exists(ctx->engine, shard), 0);
        return 0;
    }
    int32_t split = split_dim < 0 ? split_dim + t->ndim : split_dim;
    uint64_t shard_payload =
        th_numel(t->ndim, t->shape) / (uint64_t)tp_size * es;
    if (t->shape[split] == 0)
        shard_payload = 0;
    size_t shard_len = KVP_TENSOR_HDR_SIZE + shard_payload;
    uint8_t *got = conf_alloc(ctx, shard_len + 64);
    uint8_t *want = conf_alloc(ctx, shard_payload + 1);
    if (got == NULL || want == NULL)
        return -1;
    for (int32_t r = 0; r < tp_size; r++) {
        memset(got, 0xA5, shard_len + 64);
        int64_t n = ctx->ops->get_tensor_with_tp_into(
            ctx->engine, key, got, shard_len + 64, r, tp_size);
        if (n != (int64_t)shard_len) {
            conf_fail(ctx,
                      "observed get_tensor_with_tp_into(rank %d of %d, "
                      "shape %s, split_dim %d) = %s, expected the "
                      "%zu-byte shard",
                      r, tp_size, th_shape_str(t->ndim, t->shape), split_dim,
                      conf_st(n), shard_len);
            return -1;
        }
        if (check_shard_header(ctx, got, t, tp_size, split, r, shard_payload) !=
            0)
            return -1;
        th_reference_shard(obj + KVP_TENSOR_HDR_SIZE, t->dtype, t->ndim,
                           t->shape, split, tp_size, r, want);
        int64_t d =
            conf_memdiff(got + KVP_TENSOR_HDR_SIZE, want, shard_payload);
        if (d >= 0) {
            conf_fail(ctx,
                      "observed shard %d of %d (dtype %d, shape %s, "
                      "split_dim %d) payload differing from the "
                      "reference slice at byte %lld, expected the "
                      "slice [r*D/tp, (r+1)*D/tp) along split_dim",
                      r, tp_size, t->dtype, th_shape_str(t->ndim, t->shape),
                      split_dim, (long long)d);
            return -1;
        }
    }
    char extra[KVP_KEY_MAX + 32];
    snprintf(extra, sizeof(extra), "%s_tp_%d", key, tp_size);
    CONF_EXPECT_I(ctx, "exists(<key>_tp_<tp_size>) (a shard too many)",
                  ctx->ops->exists(ctx->engine, extra), 0);
    CONF_EXPECT_I(ctx, "exists(key) after a tp_size > 1 put (only shards)",
                  ctx->ops->exists(ctx->engine, key), 0);
    return 0;
}

int tp_roundtrip(struct conf_ctx *ctx, const struct tp_tensor *t,
                 int32_t tp_size, int32_t split_dim)
{
    static unsigned counter;
    char key[256], name[32];
    snprintf(name, sizeof(name), "tp%u", counter++);
    conf_key(ctx, key, sizeof(key), name);
    size_t len, mark = ctx->arena_used;
    uint8_t *obj = tp_put_full(ctx, key, t, 0, tp_size, split_dim,
                               counter * 31u + 7u, &len);
    if (obj == NULL)
        return -1;
    int rc = tp_verify(ctx, key, obj, t, tp_size, split_dim);
    ctx->arena_used = mark; /* the arena is reused by the next combination */
    return rc;
}
