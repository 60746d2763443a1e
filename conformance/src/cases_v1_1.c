/* cases_v1_1.c - what ABI 1.1 adds (DESIGN.md §2.1, §3 "TP group"):
 * batch_exists, batch_remove, gather/scatter, remove_prefix, get_stats, TP
 * groups, batches of any size. Every case needs a negotiated minor >= 1
 * (CONF_NEED_V1_1): a plugin that negotiates 1.0 gets them skipped. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "tensor_obj.h"

#define NEED (CONF_NEED_ENGINE | CONF_NEED_V1_1)

static const char *k_(struct conf_ctx *ctx, char *buf, const char *name)
{
    return conf_key(ctx, buf, KVP_KEY_MAX + 1, name);
}

/* ---- batch_exists / batch_remove ------------------------------------------ */

static void exists_mix(struct conf_ctx *ctx)
{
    static char a[KVP_KEY_MAX + 1], m[KVP_KEY_MAX + 1];
    k_(ctx, a, "a");
    k_(ctx, m, "missing");
    if (conf_put_pattern(ctx, a, 64, 1, NULL) == NULL)
        return;
    const char *keys[5] = {a, m, "", a, NULL};
    int32_t res[5];
    int32_t st = ctx->ops->batch_exists(ctx->engine, 5, keys, res);
    CONF_EXPECT_ST(ctx, "batch_exists(stored, missing, \"\", stored, NULL)",
                   st, KVP_PARTIAL);
    CONF_EXPECT(ctx, "results[0] (stored)", res[0], 1);
    CONF_EXPECT(ctx, "results[1] (missing)", res[1], 0);
    CONF_EXPECT(ctx, "results[2] (empty key)", res[2], KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "results[3] (duplicate of a stored key)", res[3], 1);
    CONF_EXPECT(ctx, "results[4] (NULL key)", res[4], KVP_ERR_INVALID);
    st = ctx->ops->batch_exists(ctx->engine, 2, keys, res);
    CONF_EXPECT_ST(ctx, "batch_exists(stored, missing)", st, KVP_OK);
    st = ctx->ops->batch_exists(ctx->engine, 2, NULL, res);
    CONF_EXPECT_ST(ctx, "batch_exists(keys NULL)", st, KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "results[1] after keys NULL", res[1], KVP_ERR_INVALID);
}

/* A writer puts 8 MiB objects; a reader polls batch_exists on the key
 * being put and, when it says 1, reads it: a stored key must be readable
 * (a put in flight is not stored). cur only grows, and the writer sets it
 * before each put: cur still i after a failed get means no later put ran
 * during it, so nothing of the writer's could have evicted key i. */
struct pending_run {
    struct conf_ctx *ctx;
    char keys[20][KVP_KEY_MAX + 1];
    atomic_int cur, done;
    atomic_int bad;
    int64_t bad_get;
};

static void *pending_reader(void *arg)
{
    struct pending_run *p = arg;
    struct conf_ctx *ctx = p->ctx;
    unsigned char *dst = conf_alloc(ctx, 8u << 20);
    if (dst == NULL) {
        atomic_store(&p->bad, -1);
        return NULL;
    }
    while (!atomic_load(&p->done)) {
        int i = atomic_load(&p->cur);
        const char *k = p->keys[i];
        int32_t r;
        if (ctx->ops->batch_exists(ctx->engine, 1, &k, &r) < 0 || r != 1)
            continue;
        int64_t g = ctx->ops->get_into(ctx->engine, k, dst, 8u << 20);
        /* Once the writer has moved on, a later put may have evicted k
         * (20 x 8 MiB outgrow a small pool): only a miss while k is still
         * the key being put says a pending put was reported as stored. */
        if (g < 0 && atomic_load(&p->cur) == i) {
            p->bad_get = g;
            atomic_store(&p->bad, i + 1);
            return NULL;
        }
    }
    return NULL;
}

static void exists_pending_not_stored(struct conf_ctx *ctx)
{
    static struct pending_run p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "pend%d", i);
        k_(ctx, p.keys[i], name);
    }
    unsigned char *src = conf_alloc(ctx, 8u << 20);
    if (src == NULL)
        return;
    conf_pattern_fill(src, 8u << 20, 3);
    pthread_t t;
    pthread_create(&t, NULL, pending_reader, &p);
    for (int i = 0; i < 20 && !atomic_load(&p.bad); i++) {
        atomic_store(&p.cur, i);
        ctx->ops->put_from(ctx->engine, p.keys[i], src, 8u << 20, NULL);
    }
    atomic_store(&p.done, 1);
    pthread_join(t, NULL);
    int bad = atomic_load(&p.bad);
    if (bad > 0)
        conf_fail(ctx,
                  "observed batch_exists = 1 for '%s' while get_into of it "
                  "= %s, expected 1 only for a stored (committed) key",
                  p.keys[bad - 1], conf_st(p.bad_get));
}

static void remove_mix(struct conf_ctx *ctx)
{
    static char a[KVP_KEY_MAX + 1], m[KVP_KEY_MAX + 1];
    k_(ctx, a, "a");
    k_(ctx, m, "missing");
    if (conf_put_pattern(ctx, a, 64, 1, NULL) == NULL)
        return;
    const char *keys[4] = {a, m, a, ""};
    int32_t res[4];
    int32_t st = ctx->ops->batch_remove(ctx->engine, 4, keys, res);
    CONF_EXPECT_ST(ctx, "batch_remove(stored, missing, same again, \"\")", st,
                   KVP_PARTIAL);
    CONF_EXPECT(ctx, "results[0] (stored)", res[0], KVP_OK);
    CONF_EXPECT(ctx, "results[1] (missing)", res[1], KVP_ERR_NOT_FOUND);
    CONF_EXPECT(ctx, "results[2] (removed by item 0)", res[2],
                KVP_ERR_NOT_FOUND);
    CONF_EXPECT(ctx, "results[3] (empty key)", res[3], KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "exists(removed key)", ctx->ops->exists(ctx->engine, a),
                0);
}

/* ---- gather / scatter -------------------------------------------------- */

static void iov_gather(struct conf_ctx *ctx)
{
    static char k[KVP_KEY_MAX + 1];
    k_(ctx, k, "gather");
    unsigned char *own = aligned_alloc(4096, 1 << 16);
    if (own == NULL) {
        conf_fail(ctx, "observed no memory (suite)");
        return;
    }
    int32_t st = ctx->ops->register_buffer(ctx->engine, own, 1 << 16);
    if (st != KVP_OK) {
        free(own);
        CONF_EXPECT(ctx, "register_buffer(second buffer)", st, KVP_OK);
    }
    unsigned char *a = conf_alloc(ctx, 3000);
    unsigned char *flat = conf_alloc(ctx, 8192);
    if (a == NULL || flat == NULL)
        goto out;
    conf_pattern_fill(a, 3000, 11);
    conf_pattern_fill(own, 5000, 12);
    struct kvp_iov in[4] = {{a, 1000}, {own, 5000}, {a, 0}, {a + 1000, 2000}};
    const struct kvp_iov *iovs[1] = {in};
    uint32_t counts[1] = {4};
    const char *keys[1] = {k};
    int32_t res[1];
    st = ctx->ops->batch_put_from_iov(ctx->engine, 1, keys, iovs, counts,
                                      NULL, res);
    if (st != KVP_OK || res[0] != KVP_OK) {
        conf_fail(ctx, "observed batch_put_from_iov = %s (results[0] %s), "
                       "expected KVP_OK",
                  conf_bst(st), conf_st(res[0]));
        goto out;
    }
    int64_t g = ctx->ops->get_into(ctx->engine, k, flat, 8192);
    if (g != 8000 || conf_memdiff(flat, a, 1000) >= 0 ||
        conf_memdiff(flat + 1000, own, 5000) >= 0 ||
        conf_memdiff(flat + 6000, a + 1000, 2000) >= 0)
        conf_fail(ctx, "observed get_into = %s%s, expected the 8000 bytes "
                       "of the pieces concatenated in order",
                  conf_st(g), g == 8000 ? " with other bytes" : "");
out:
    ctx->ops->unregister_buffer(ctx->engine, own);
    free(own);
}

static void iov_scatter(struct conf_ctx *ctx)
{
    static char k[KVP_KEY_MAX + 1];
    k_(ctx, k, "scatter");
    unsigned char *src = conf_put_pattern(ctx, k, 5000, 21, NULL);
    unsigned char *o = conf_alloc(ctx, 3 * 4096);
    if (src == NULL || o == NULL)
        return;
    memset(o, 0xEE, 3 * 4096);
    struct kvp_iov out[3] = {
        {o, 100}, {o + 4096, 2900}, {o + 8192, 4000}}; /* 7000 >= 5000 */
    const struct kvp_iov *iovs[1] = {out};
    uint32_t counts[1] = {3};
    const char *keys[1] = {k};
    int64_t res[1];
    int32_t st = ctx->ops->batch_get_into_iov(ctx->engine, 1, keys, iovs,
                                              counts, res);
    CONF_EXPECT_ST(ctx, "batch_get_into_iov", st, KVP_OK);
    CONF_EXPECT(ctx, "results[0] (object size)", res[0], 5000);
    if (conf_memdiff(o, src, 100) >= 0 ||
        conf_memdiff(o + 4096, src + 100, 2900) >= 0 ||
        conf_memdiff(o + 8192, src + 3000, 2000) >= 0) {
        conf_fail(ctx, "observed other bytes in the pieces, expected the "
                       "object scattered over them in order");
        return;
    }
    CONF_EXPECT(ctx, "byte of the last piece past the object",
                o[8192 + 2000], 0xEE);
}

static void iov_too_small(struct conf_ctx *ctx)
{
    static char k[KVP_KEY_MAX + 1];
    k_(ctx, k, "small");
    unsigned char *o = conf_alloc(ctx, 8192);
    if (conf_put_pattern(ctx, k, 5000, 22, NULL) == NULL || o == NULL)
        return;
    memset(o, 0xEE, 8192);
    struct kvp_iov out[2] = {{o, 2500}, {o + 4096, 2499}};
    const struct kvp_iov *iovs[1] = {out};
    uint32_t counts[1] = {2};
    const char *keys[1] = {k};
    int64_t res[1];
    int32_t st = ctx->ops->batch_get_into_iov(ctx->engine, 1, keys, iovs,
                                              counts, res);
    CONF_EXPECT_ST(ctx, "batch_get_into_iov(pieces 1 byte short)", st,
                   KVP_PARTIAL);
    CONF_EXPECT(ctx, "results[0]", res[0], KVP_ERR_TOO_SMALL);
    for (int i = 0; i < 8192; i++)
        CONF_EXPECT(ctx, "a byte of the pieces after TOO_SMALL", o[i], 0xEE);
}

/* ---- remove_prefix, get_stats ------------------------------------------ */

static void prefix_counts(struct conf_ctx *ctx)
{
    static char k[KVP_KEY_MAX + 1], p[KVP_KEY_MAX + 1];
    for (int i = 0; i < 7; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s%d", i < 4 ? "x/" : "y/", i);
        if (conf_put_pattern(ctx, k_(ctx, k, name), 32, (uint32_t)i, NULL) ==
            NULL)
            return;
    }
    uint64_t n = 999;
    int32_t st = ctx->ops->remove_prefix(ctx->engine, k_(ctx, p, "x/"), &n);
    CONF_EXPECT(ctx, "remove_prefix(<prefix>x/)", st, KVP_OK);
    CONF_EXPECT(ctx, "*removed_p after remove_prefix(x/)", n, 4);
    CONF_EXPECT(ctx, "exists(<prefix>y/5)",
                ctx->ops->exists(ctx->engine, k_(ctx, k, "y/5")), 1);
    CONF_EXPECT(ctx, "exists(<prefix>x/1)",
                ctx->ops->exists(ctx->engine, k_(ctx, k, "x/1")), 0);
    st = ctx->ops->remove_prefix(ctx->engine, ctx->prefix, &n);
    CONF_EXPECT(ctx, "remove_prefix(<case prefix>)", st, KVP_OK);
    CONF_EXPECT(ctx, "*removed_p after remove_prefix(<case prefix>)", n, 3);
}

static void stats_counts(struct conf_ctx *ctx)
{
    static char k[KVP_KEY_MAX + 1], m[KVP_KEY_MAX + 1];
    struct kvp_stats a = {.struct_size = sizeof a}, b = a;
    CONF_EXPECT(ctx, "get_stats", ctx->ops->get_stats(ctx->engine, &a),
                KVP_OK);
    unsigned char *dst = conf_alloc(ctx, 4096);
    if (conf_put_pattern(ctx, k_(ctx, k, "s"), 1000, 5, NULL) == NULL ||
        dst == NULL)
        return;
    ctx->ops->get_into(ctx->engine, k, dst, 4096);
    ctx->ops->get_into(ctx->engine, k_(ctx, m, "missing"), dst, 4096);
    CONF_EXPECT(ctx, "get_stats", ctx->ops->get_stats(ctx->engine, &b),
                KVP_OK);
    CONF_EXPECT(ctx, "puts counted for one put_from", b.puts - a.puts, 1);
    CONF_EXPECT(ctx, "put_bytes for a 1000-byte put",
                b.put_bytes - a.put_bytes, 1000);
    CONF_EXPECT(ctx, "get_hits after one found get", b.get_hits - a.get_hits,
                1);
    CONF_EXPECT(ctx, "get_misses after one missing get",
                b.get_misses - a.get_misses, 1);
}

/* ---- TP groups ----------------------------------------------------------- */

static uint8_t *tensor(struct conf_ctx *ctx, int64_t d0, int64_t d1,
                       size_t *len_p)
{
    const int64_t shape[2] = {d0, d1};
    size_t len = th_object_len(KVP_DTYPE_U8, 2, shape);
    uint8_t *obj = conf_alloc(ctx, len);
    if (obj != NULL)
        th_build_object(obj, KVP_DTYPE_U8, 2, shape, 7);
    *len_p = len;
    return obj;
}

static int shards(struct conf_ctx *ctx, const char *key, int tp)
{
    int n = 0;
    for (int r = 0; r < tp; r++) {
        char s[KVP_KEY_MAX + 16];
        snprintf(s, sizeof s, "%s_tp_%d", key, r);
        n += ctx->ops->exists(ctx->engine, s) == 1;
    }
    return n;
}

static void group_overwrite(struct conf_ctx *ctx)
{
    static char k[KVP_KEY_MAX + 1];
    k_(ctx, k, "ow");
    size_t len;
    uint8_t *obj = tensor(ctx, 8, 16, &len);
    if (obj == NULL)
        return;
    const struct kvp_put_opts *ow = &conf_opts_overwrite;
    CONF_EXPECT(ctx, "put_tensor_with_tp_from(tp 4)",
                ctx->ops->put_tensor_with_tp_from(ctx->engine, k, obj, len, 0,
                                                  4, 0, NULL),
                KVP_OK);
    CONF_EXPECT(ctx, "put_tensor_with_tp_from(tp 2, overwrite)",
                ctx->ops->put_tensor_with_tp_from(ctx->engine, k, obj, len, 0,
                                                  2, 0, ow),
                KVP_OK);
    CONF_EXPECT(ctx, "shards of tp 4 left after the tp 2 overwrite "
                     "(exists of <key>_tp_0..3)",
                shards(ctx, k, 4), 2);
    uint8_t *dst = conf_alloc(ctx, 4096);
    if (dst == NULL)
        return;
    CONF_EXPECT(ctx, "get_tensor_with_tp_into(rank 2 of 4) after the tp 2 "
                     "overwrite",
                ctx->ops->get_tensor_with_tp_into(ctx->engine, k, dst, 4096,
                                                  2, 4),
                KVP_ERR_NOT_FOUND);
}

static void group_remove(struct conf_ctx *ctx)
{
    static char k[KVP_KEY_MAX + 1];
    char s[KVP_KEY_MAX + 16];
    k_(ctx, k, "rm");
    size_t len;
    uint8_t *obj = tensor(ctx, 4, 8, &len);
    if (obj == NULL)
        return;
    CONF_EXPECT(ctx, "put_tensor_with_tp_from(tp 4)",
                ctx->ops->put_tensor_with_tp_from(ctx->engine, k, obj, len, 0,
                                                  4, 0, NULL),
                KVP_OK);
    snprintf(s, sizeof s, "%s_tp_1", k);
    CONF_EXPECT(ctx, "remove(<key>_tp_1)", ctx->ops->remove(ctx->engine, s),
                KVP_OK);
    CONF_EXPECT(ctx, "shards left after remove(<key>_tp_1)", shards(ctx, k, 4),
                0);
}

/* Fills the store with TP tensors (tp 4, 1 MiB each) until the store has
 * evicted some; then every tensor has all of its shards or none. */
static void group_eviction(struct conf_ctx *ctx)
{
    size_t len;
    uint8_t *obj = tensor(ctx, 4, 256 << 10, &len);
    if (obj == NULL)
        return;
    static char keys[512][64];
    int n = 0, evicted = 0, probe = 0;
    for (; n < 512 && !evicted; n++) {
        char name[16];
        snprintf(name, sizeof name, "ev%d", n);
        conf_key(ctx, keys[n], sizeof keys[n], name);
        int32_t st = ctx->ops->put_tensor_with_tp_from(
            ctx->engine, keys[n], obj, len, 0, 4, 0, NULL);
        CONF_EXPECT(ctx, "put_tensor_with_tp_from(tp 4, 1 MiB)", st, KVP_OK);
        /* probe the oldest key not probed yet (a probe is a use: the
         * probed tensor becomes recently used) */
        if (n % 8 == 7 && !(evicted = shards(ctx, keys[probe], 4) < 4))
            probe++;
    }
    if (!evicted) {
        conf_skip(ctx, "the store never evicted with 512 MiB of tensors");
        return;
    }
    for (int i = 0; i < n; i++) {
        int s = shards(ctx, keys[i], 4);
        if (s != 0 && s != 4) {
            conf_fail(ctx, "observed %d of 4 shards of '%s' stored after "
                           "eviction, expected all or none",
                      s, keys[i]);
            return;
        }
    }
}

/* ---- any size ------------------------------------------------------------- */

#define BIG_N 100000u

static void big_batches(struct conf_ctx *ctx)
{
    const char **keys = malloc(BIG_N * sizeof(*keys));
    char *kb = malloc((size_t)BIG_N * 128);
    const void **ptrs = malloc(BIG_N * sizeof(*ptrs));
    void **dsts = malloc(BIG_N * sizeof(*dsts));
    uint64_t *lens = malloc(BIG_N * sizeof(*lens));
    int32_t *res = malloc(BIG_N * sizeof(*res));
    int64_t *gres = malloc(BIG_N * sizeof(*gres));
    unsigned char *src = conf_alloc(ctx, 8 * (size_t)BIG_N);
    unsigned char *dst = conf_alloc(ctx, 8 * (size_t)BIG_N);
    if (!keys || !kb || !ptrs || !dsts || !lens || !res || !gres || !src ||
        !dst) {
        if (!conf_failed(ctx))
            conf_fail(ctx, "observed no memory (suite)");
        goto out;
    }
    conf_pattern_fill(src, 8 * (size_t)BIG_N, 31);
    for (uint32_t i = 0; i < BIG_N; i++) {
        char name[16];
        snprintf(name, sizeof name, "b%u", i);
        keys[i] = conf_key(ctx, kb + (size_t)i * 128, 128, name);
        ptrs[i] = src + 8 * (size_t)i;
        dsts[i] = dst + 8 * (size_t)i;
        lens[i] = 8;
    }
    int32_t st = ctx->ops->batch_put_from(ctx->engine, BIG_N, keys, ptrs, lens,
                                          NULL, res);
    if (st != KVP_OK) {
        conf_fail(ctx, "observed batch_put_from(n = 100000) = %s "
                       "(results[16384] %s), expected KVP_OK",
                  conf_bst(st), conf_st(res[16384]));
        goto out;
    }
    st = ctx->ops->batch_get_into(ctx->engine, BIG_N, keys, dsts, lens, gres);
    if (st != KVP_OK || conf_memdiff(dst, src, 8 * (size_t)BIG_N) >= 0) {
        conf_fail(ctx, "observed batch_get_into(n = 100000) = %s, expected "
                       "KVP_OK and every object's bytes",
                  conf_bst(st));
        goto out;
    }
    st = ctx->ops->batch_exists(ctx->engine, BIG_N, keys, res);
    if (st != KVP_OK || res[BIG_N - 1] != 1) {
        conf_fail(ctx, "observed batch_exists(n = 100000) = %s, expected "
                       "KVP_OK with every result 1",
                  conf_bst(st));
        goto out;
    }
    st = ctx->ops->batch_remove(ctx->engine, BIG_N, keys, res);
    if (st != KVP_OK)
        conf_fail(ctx, "observed batch_remove(n = 100000) = %s, expected "
                       "KVP_OK",
                  conf_bst(st));
out:
    free(keys);
    free(kb);
    free(ptrs);
    free(dsts);
    free(lens);
    free(res);
    free(gres);
}

static const struct conf_case cases[] = {
    {"batch-exists", "mix-duplicates-bad",
     "batch_exists: results[i] 1 stored / 0 not / < 0 error in input order; "
     "KVP_PARTIAL when an item errored, KVP_OK otherwise",
     NEED, KVP_CAP_BATCH, exists_mix, NULL},
    {"batch-exists", "pending-is-not-stored",
     "batch_exists says 1 only for a committed object: a put in flight is "
     "not stored",
     NEED, KVP_CAP_BATCH | KVP_CAP_THREAD_SAFE, exists_pending_not_stored,
     NULL},
    {"batch-remove", "mix-duplicates-bad",
     "batch_remove: KVP_OK / KVP_ERR_NOT_FOUND / error per item in input "
     "order; KVP_OK only if all removed",
     NEED, KVP_CAP_BATCH, remove_mix, NULL},
    {"iov", "gather-two-registrations",
     "batch_put_from_iov stores the concatenation of every piece in order; "
     "pieces may lie in different registrations",
     NEED, KVP_CAP_BATCH, iov_gather, NULL},
    {"iov", "scatter-into-pieces",
     "batch_get_into_iov scatters the object over the pieces in order and "
     "returns its size; bytes past the object are untouched",
     NEED, KVP_CAP_BATCH, iov_scatter, NULL},
    {"iov", "too-small-untouched",
     "batch_get_into_iov with pieces smaller than the object: "
     "KVP_ERR_TOO_SMALL and every piece untouched",
     NEED, KVP_CAP_BATCH, iov_too_small, NULL},
    {"remove-prefix", "counts",
     "remove_prefix removes every key with the prefix and counts them",
     NEED, 0, prefix_counts, NULL},
    {"stats", "counts",
     "get_stats counts puts, put bytes, get hits and misses", NEED, 0,
     stats_counts, NULL},
    {"tp-group", "overwrite-other-tp-no-stale-shard",
     "a TP overwrite replaces the whole old group whatever its tp_size: no "
     "shard of the old put is left",
     NEED, KVP_CAP_TP | KVP_CAP_OVERWRITE, group_overwrite, NULL},
    {"tp-group", "remove-shard-removes-group",
     "remove of one shard key removes every shard of its TP group", NEED,
     KVP_CAP_TP, group_remove, NULL},
    {"tp-group", "eviction-never-partial",
     "eviction treats a TP group as one object: every rank's shard is "
     "stored or none",
     NEED, KVP_CAP_TP, group_eviction, NULL},
    {"any-size", "batch-100k",
     "batches of any size: n = 100000 through batch_put_from, "
     "batch_get_into, batch_exists, batch_remove",
     NEED, KVP_CAP_BATCH, big_batches, NULL},
};

CONF_GROUP(conf_group_v1_1, cases);
