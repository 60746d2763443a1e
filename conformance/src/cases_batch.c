/* cases_batch.c - batch_put_from / batch_get_into (DESIGN.md §3
 * "batches"): results[i] always filled in input order, KVP_PARTIAL when some
 * failed, a bad item fails only itself, duplicates in input order, NULL
 * arrays make the whole call fail with every results[i] set. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"

#define MAXN     8
#define SENTINEL 12345

struct batch {
    char keybuf[MAXN][KVP_KEY_MAX + 2];
    const char *keys[MAXN];
    const void *ptrs[MAXN];
    void *dst[MAXN];
    uint64_t lens[MAXN];
    int32_t res[MAXN];
    int64_t gres[MAXN];
};

static void set_key(struct conf_ctx *ctx, struct batch *b, int i,
                    const char *name)
{
    conf_key(ctx, b->keybuf[i], sizeof(b->keybuf[i]), name);
    b->keys[i] = b->keybuf[i];
}

static int set_src(struct conf_ctx *ctx, struct batch *b, int i, size_t len,
                   uint32_t seed)
{
    unsigned char *p = conf_alloc(ctx, len);
    if (p == NULL)
        return -1;
    conf_pattern_fill(p, len, seed);
    b->ptrs[i] = p;
    b->lens[i] = len;
    return 0;
}

static int check_stored(struct conf_ctx *ctx, const char *key, size_t len,
                        uint32_t seed)
{
    unsigned char *want = conf_alloc(ctx, len);
    unsigned char *got = conf_alloc(ctx, len + 16);
    if (want == NULL || got == NULL)
        return -1;
    conf_pattern_fill(want, len, seed);
    int64_t r = ctx->ops->get_into(ctx->engine, key, got, len + 16);
    if (r != (int64_t)len || conf_memdiff(got, want, len) >= 0) {
        conf_fail(ctx,
                  "observed get_into(%s) = %s%s, expected the %zu "
                  "bytes of its batch item",
                  key, conf_st(r), r == (int64_t)len ? " with other bytes" : "",
                  len);
        return -1;
    }
    return 0;
}

static void put_results_in_order(struct conf_ctx *ctx)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return;
    const int n = 6;
    char name[16];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "b%d", i);
        set_key(ctx, b, i, name);
        CONF_TRY(set_src(ctx, b, i, 100 + 37 * (size_t)i, (uint32_t)i + 1));
    }
    /* all new: KVP_OK and every item OK */
    CONF_EXPECT_ST(ctx, "batch_put_from(3 new keys)",
                   ctx->ops->batch_put_from(ctx->engine, 3, b->keys, b->ptrs,
                                            b->lens, NULL, b->res),
                   KVP_OK);
    for (int i = 0; i < 3; i++)
        CONF_EXPECT(ctx, "results[i] of an all-new batch", b->res[i], KVP_OK);
    /* items 0..2 exist now: results follow input order */
    for (int i = 0; i < n; i++)
        b->res[i] = SENTINEL;
    const char *k2[MAXN] = {b->keys[3], b->keys[0], b->keys[4],
                            b->keys[2], b->keys[5], b->keys[1]};
    const void *p2[MAXN] = {b->ptrs[3], b->ptrs[0], b->ptrs[4],
                            b->ptrs[2], b->ptrs[5], b->ptrs[1]};
    uint64_t l2[MAXN] = {b->lens[3], b->lens[0], b->lens[4],
                         b->lens[2], b->lens[5], b->lens[1]};
    const int32_t want[6] = {KVP_OK,         KVP_ERR_EXISTS, KVP_OK,
                             KVP_ERR_EXISTS, KVP_OK,         KVP_ERR_EXISTS};
    CONF_EXPECT_ST(
        ctx, "batch_put_from(3 new, 3 existing)",
        ctx->ops->batch_put_from(ctx->engine, 6, k2, p2, l2, NULL, b->res),
        KVP_PARTIAL);
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof(what), "results[%d]", i);
        CONF_EXPECT(ctx, what, b->res[i], want[i]);
    }
    for (int i = 0; i < n; i++)
        CONF_TRY(check_stored(ctx, b->keys[i], b->lens[i], (uint32_t)i + 1));
    free(b);
}

static void put_bad_item_only_itself(struct conf_ctx *ctx)
{
    struct batch *b = calloc(1, sizeof(*b));
    unsigned char *unreg = malloc(256);
    if (b == NULL || unreg == NULL)
        return;
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof(name), "g%d", i);
        set_key(ctx, b, i, name);
        CONF_TRY(set_src(ctx, b, i, 256, (uint32_t)i + 10));
    }
    b->keys[1] = "";                            /* invalid key */
    b->ptrs[3] = unreg;                         /* not registered */
    memset(b->keybuf[5], 'x', KVP_KEY_MAX + 1); /* 1025-byte key */
    b->keybuf[5][KVP_KEY_MAX + 1] = '\0';
    for (int i = 0; i < 6; i++)
        b->res[i] = SENTINEL;
    CONF_EXPECT_ST(ctx, "batch_put_from(3 good, 3 bad items)",
                   ctx->ops->batch_put_from(ctx->engine, 6, b->keys, b->ptrs,
                                            b->lens, NULL, b->res),
                   KVP_PARTIAL);
    const int32_t want[6] = {KVP_OK, KVP_ERR_INVALID,
                             KVP_OK, KVP_ERR_NOT_REGISTERED,
                             KVP_OK, KVP_ERR_INVALID};
    for (int i = 0; i < 6; i++) {
        char what[64];
        snprintf(what, sizeof(what), "results[%d]", i);
        CONF_EXPECT(ctx, what, b->res[i], want[i]);
    }
    for (int i = 0; i <= 4; i += 2)
        CONF_TRY(check_stored(ctx, b->keys[i], 256, (uint32_t)i + 10));
    CONF_EXPECT(ctx, "exists(key of the unregistered item)",
                ctx->ops->exists(ctx->engine, b->keys[3]), 0);
    free(b);
}

static void put_duplicate_keys(struct conf_ctx *ctx)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return;
    set_key(ctx, b, 0, "dup");
    set_key(ctx, b, 1, "other");
    set_key(ctx, b, 2, "dup");
    for (int i = 0; i < 3; i++)
        CONF_TRY(set_src(ctx, b, i, 300 + (size_t)i, (uint32_t)i + 20));
    CONF_EXPECT_ST(ctx, "batch_put_from([dup, other, dup])",
                   ctx->ops->batch_put_from(ctx->engine, 3, b->keys, b->ptrs,
                                            b->lens, NULL, b->res),
                   KVP_PARTIAL);
    CONF_EXPECT(ctx, "results[0] (first dup)", b->res[0], KVP_OK);
    CONF_EXPECT(ctx, "results[1]", b->res[1], KVP_OK);
    CONF_EXPECT(ctx, "results[2] (second dup)", b->res[2], KVP_ERR_EXISTS);
    CONF_TRY(check_stored(ctx, b->keys[0], 300, 20));
    if (!(ctx->ops->caps & KVP_CAP_OVERWRITE)) {
        free(b);
        return;
    }
    set_key(ctx, b, 0, "dupw");
    set_key(ctx, b, 1, "dupw");
    CONF_EXPECT_ST(ctx, "batch_put_from([dupw, dupw], overwrite)",
                   ctx->ops->batch_put_from(ctx->engine, 2, b->keys, b->ptrs,
                                            b->lens, &conf_opts_overwrite,
                                            b->res),
                   KVP_OK);
    CONF_TRY(check_stored(ctx, b->keys[0], 301, 21)); /* the later wins */
    free(b);
}

static int put_one(struct conf_ctx *ctx, const char *key, size_t len,
                   uint32_t seed)
{
    unsigned char *p = conf_alloc(ctx, len);
    if (p == NULL)
        return -1;
    conf_pattern_fill(p, len, seed);
    CONF_EXPECT_I(ctx, "put_from",
                  ctx->ops->put_from(ctx->engine, key, p, len, NULL), KVP_OK);
    return 0;
}

static void get_results_in_order(struct conf_ctx *ctx)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return;
    set_key(ctx, b, 0, "B");
    set_key(ctx, b, 1, "C-missing");
    set_key(ctx, b, 2, "A");
    set_key(ctx, b, 3, "B"); /* too small for B */
    CONF_TRY(put_one(ctx, b->keys[2], 100, 1));
    CONF_TRY(put_one(ctx, b->keys[0], 200, 2));
    const uint64_t caps[4] = {256, 256, 256, 199};
    unsigned char *canary = conf_alloc(ctx, 256);
    if (canary == NULL)
        return;
    memset(canary, 0x5A, 256);
    for (int i = 0; i < 4; i++) {
        if ((b->dst[i] = conf_alloc(ctx, 256)) == NULL)
            return;
        memset(b->dst[i], 0x5A, 256);
        b->gres[i] = SENTINEL;
    }
    CONF_EXPECT_ST(ctx, "batch_get_into([B, missing, A, B cap 199])",
                   ctx->ops->batch_get_into(ctx->engine, 4, b->keys, b->dst,
                                            caps, b->gres),
                   KVP_PARTIAL);
    const int64_t want[4] = {200, KVP_ERR_NOT_FOUND, 100, KVP_ERR_TOO_SMALL};
    for (int i = 0; i < 4; i++) {
        char what[64];
        snprintf(what, sizeof(what), "results[%d]", i);
        CONF_EXPECT(ctx, what, b->gres[i], want[i]);
    }
    unsigned char *want_b = conf_alloc(ctx, 200),
                  *want_a = conf_alloc(ctx, 100);
    if (want_a == NULL || want_b == NULL)
        return;
    conf_pattern_fill(want_b, 200, 2);
    conf_pattern_fill(want_a, 100, 1);
    CONF_EXPECT(ctx, "item 0 first differing byte",
                conf_memdiff(b->dst[0], want_b, 200), -1);
    CONF_EXPECT(ctx, "item 2 first differing byte",
                conf_memdiff(b->dst[2], want_a, 100), -1);
    CONF_EXPECT(ctx, "item 3 (TOO_SMALL) first changed byte",
                conf_memdiff(b->dst[3], canary, 256), -1);
    free(b);
}

static void get_duplicate_keys(struct conf_ctx *ctx)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return;
    uint64_t caps[3];
    for (int i = 0; i < 3; i++) {
        set_key(ctx, b, i, "same");
        if ((b->dst[i] = conf_alloc(ctx, 512)) == NULL)
            return;
        caps[i] = 512;
    }
    CONF_TRY(put_one(ctx, b->keys[0], 500, 7));
    CONF_EXPECT_ST(ctx, "batch_get_into([k, k, k])",
                   ctx->ops->batch_get_into(ctx->engine, 3, b->keys, b->dst,
                                            caps, b->gres),
                   KVP_OK);
    unsigned char *want = conf_alloc(ctx, 500);
    if (want == NULL)
        return;
    conf_pattern_fill(want, 500, 7);
    for (int i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof(what), "results[%d]", i);
        CONF_EXPECT(ctx, what, b->gres[i], 500);
        snprintf(what, sizeof(what), "occurrence %d first differing byte", i);
        CONF_EXPECT(ctx, what, conf_memdiff(b->dst[i], want, 500), -1);
    }
    free(b);
}

/* res: int32_t[n] (wide 0, put results) or int64_t[n] (wide 1, get). */
static int all_results_are(struct conf_ctx *ctx, const char *call, int64_t ret,
                           const void *res, int n, int wide)
{
    if (ret >= 0) {
        conf_fail(ctx, "observed %s = %s, expected a negative status", call,
                  conf_st(ret));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int64_t r =
            wide ? ((const int64_t *)res)[i] : ((const int32_t *)res)[i];
        if (r != ret) {
            conf_fail(ctx,
                      "observed %s results[%d] = %s, expected the "
                      "call's status %s",
                      call, i, conf_st(r), conf_st(ret));
            return -1;
        }
    }
    return 0;
}

static void null_arrays(struct conf_ctx *ctx)
{
    struct batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return;
    for (int i = 0; i < 3; i++) {
        set_key(ctx, b, i, "n");
        CONF_TRY(set_src(ctx, b, i, 64, 1));
        b->dst[i] = (void *)b->ptrs[i];
    }
    const uint64_t caps[3] = {64, 64, 64};
    struct {
        const char *name;
        const char *const *k;
        const void *const *p;
        const uint64_t *l;
    } puts[] = {{"batch_put_from(keys NULL)", NULL, b->ptrs, b->lens},
                {"batch_put_from(ptrs NULL)", b->keys, NULL, b->lens},
                {"batch_put_from(lens NULL)", b->keys, b->ptrs, NULL}};
    for (size_t t = 0; t < 3; t++) {
        for (int i = 0; i < 3; i++)
            b->res[i] = SENTINEL;
        int32_t r = ctx->ops->batch_put_from(
            ctx->engine, 3, puts[t].k, puts[t].p, puts[t].l, NULL, b->res);
        CONF_TRY(all_results_are(ctx, puts[t].name, r, b->res, 3, 0));
    }
    CONF_EXPECT(ctx, "exists(key) after ill-formed batches",
                ctx->ops->exists(ctx->engine, b->keys[0]), 0);
    struct {
        const char *name;
        const char *const *k;
        void *const *p;
        const uint64_t *c;
    } gets[] = {{"batch_get_into(keys NULL)", NULL, b->dst, caps},
                {"batch_get_into(ptrs NULL)", b->keys, NULL, caps},
                {"batch_get_into(caps NULL)", b->keys, b->dst, NULL}};
    for (size_t t = 0; t < 3; t++) {
        for (int i = 0; i < 3; i++)
            b->gres[i] = SENTINEL;
        int32_t r = ctx->ops->batch_get_into(ctx->engine, 3, gets[t].k,
                                             gets[t].p, gets[t].c, b->gres);
        CONF_TRY(all_results_are(ctx, gets[t].name, r, b->gres, 3, 1));
    }
    if ((ctx->ops->caps & KVP_CAP_TP) == 0) {
        free(b);
        return;
    }
    for (int i = 0; i < 3; i++)
        b->res[i] = SENTINEL;
    int32_t r = ctx->ops->batch_put_tensor_with_tp_from(
        ctx->engine, 3, NULL, b->ptrs, b->lens, 0, 2, 0, NULL, b->res);
    CONF_TRY(all_results_are(ctx, "batch_put_tensor_with_tp_from(keys NULL)", r,
                             b->res, 3, 0));
    for (int i = 0; i < 3; i++)
        b->gres[i] = SENTINEL;
    r = ctx->ops->batch_get_tensor_with_tp_into(ctx->engine, 3, b->keys, NULL,
                                                caps, 0, 2, b->gres);
    CONF_TRY(all_results_are(ctx, "batch_get_tensor_with_tp_into(ptrs NULL)", r,
                             b->gres, 3, 1));
    free(b);
}

static const struct conf_case cases[] = {
    {"batch", "put-results-in-order",
     "batch_put_from fills results[i] in input order; KVP_OK if all "
     "succeeded, KVP_PARTIAL if some failed",
     CONF_NEED_ENGINE, KVP_CAP_BATCH, put_results_in_order, NULL},
    {"batch", "put-bad-item-fails-only-itself",
     "a bad item (invalid key, unregistered buffer) fails only itself",
     CONF_NEED_ENGINE, KVP_CAP_BATCH, put_bad_item_only_itself, NULL},
    {"batch", "put-duplicate-keys-in-order",
     "duplicate keys are processed in input order: the second put is "
     "KVP_ERR_EXISTS (or overwrites)",
     CONF_NEED_ENGINE, KVP_CAP_BATCH, put_duplicate_keys, NULL},
    {"batch", "get-results-in-order",
     "batch_get_into fills results[i] (size or status) in input order; a "
     "too-small item is untouched",
     CONF_NEED_ENGINE, KVP_CAP_BATCH, get_results_in_order, NULL},
    {"batch", "get-duplicate-keys-each-filled",
     "every get occurrence of a duplicate key fills its own buffer",
     CONF_NEED_ENGINE, KVP_CAP_BATCH, get_duplicate_keys, NULL},
    {"batch", "null-arrays",
     "NULL arrays make the call fail with a negative status held by every "
     "results[i]",
     CONF_NEED_ENGINE, KVP_CAP_BATCH, null_arrays, NULL},
};

CONF_GROUP(conf_group_batch, cases);
