/* cases_put.c - put_from, exists, stat, remove and key rules (DESIGN.md §3
 * "Keys", "put"). */
#include <stdio.h>
#include <string.h>

#include "conf.h"

/* get_into must return len and the bytes of pattern seed. */
static int expect_pattern(struct conf_ctx *ctx, const char *key, size_t len,
                          uint32_t seed, const char *when)
{
    unsigned char *want = conf_alloc(ctx, len + 1);
    unsigned char *got = conf_alloc(ctx, len + 64);
    if (want == NULL || got == NULL)
        return -1;
    conf_pattern_fill(want, len, seed);
    int64_t r = ctx->ops->get_into(ctx->engine, key, got, len + 64);
    if (r != (int64_t)len) {
        conf_fail(ctx, "observed get_into %s = %s, expected %zu", when,
                  conf_st(r), len);
        return -1;
    }
    int64_t d = conf_memdiff(got, want, len);
    if (d >= 0) {
        conf_fail(ctx,
                  "observed get_into %s differing at byte %lld, "
                  "expected the bytes put",
                  when, (long long)d);
        return -1;
    }
    return 0;
}

static void roundtrip(struct conf_ctx *ctx)
{
    const size_t sizes[] = {1, 7, 4096, (1u << 20) + 13};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char key[256], name[32];
        snprintf(name, sizeof(name), "rt%zu", i);
        conf_key(ctx, key, sizeof(key), name);
        if (conf_put_pattern(ctx, key, sizes[i], (uint32_t)i + 1, NULL) == NULL)
            return;
        CONF_TRY(
            expect_pattern(ctx, key, sizes[i], (uint32_t)i + 1, "after put"));
        CONF_EXPECT(ctx, "exists(key)", ctx->ops->exists(ctx->engine, key), 1);
        CONF_EXPECT(ctx, "stat(key)", ctx->ops->stat(ctx->engine, key),
                    (int64_t)sizes[i]);
    }
}

static void exists_keeps_old(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "e");
    if (conf_put_pattern(ctx, key, 1000, 1, NULL) == NULL)
        return;
    unsigned char *b = conf_alloc(ctx, 2000);
    if (b == NULL)
        return;
    conf_pattern_fill(b, 2000, 2);
    CONF_EXPECT(ctx, "put_from(existing key, opts NULL)",
                ctx->ops->put_from(ctx->engine, key, b, 2000, NULL),
                KVP_ERR_EXISTS);
    CONF_EXPECT(
        ctx, "put_from(existing key, flags 0)",
        ctx->ops->put_from(ctx->engine, key, b, 2000, &conf_opts_default),
        KVP_ERR_EXISTS);
    CONF_TRY(expect_pattern(ctx, key, 1000, 1, "after the refused put"));
}

static void overwrite_replaces(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "o");
    if (conf_put_pattern(ctx, key, 1000, 1, &conf_opts_overwrite) == NULL)
        return; /* overwrite of a missing key simply stores it */
    if (conf_put_pattern(ctx, key, 3000, 2, &conf_opts_overwrite) == NULL)
        return;
    CONF_TRY(expect_pattern(ctx, key, 3000, 2, "after a longer overwrite"));
    if (conf_put_pattern(ctx, key, 10, 3, &conf_opts_overwrite) == NULL)
        return;
    CONF_TRY(expect_pattern(ctx, key, 10, 3, "after a shorter overwrite"));
    CONF_EXPECT(ctx, "stat after overwrite", ctx->ops->stat(ctx->engine, key),
                10);
}

static void empty_object(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "z");
    unsigned char *p = conf_alloc(ctx, 64);
    if (p == NULL)
        return;
    CONF_EXPECT(ctx, "put_from(len 0)",
                ctx->ops->put_from(ctx->engine, key, p, 0, NULL), KVP_OK);
    CONF_EXPECT(ctx, "exists(empty object)", ctx->ops->exists(ctx->engine, key),
                1);
    CONF_EXPECT(ctx, "stat(empty object)", ctx->ops->stat(ctx->engine, key), 0);
    CONF_EXPECT(ctx, "get_into(empty object, cap 64)",
                ctx->ops->get_into(ctx->engine, key, p, 64), 0);
    CONF_EXPECT(ctx, "get_into(empty object, cap 0)",
                ctx->ops->get_into(ctx->engine, key, p, 0), 0);
    CONF_EXPECT(ctx, "put_from(len 0, existing key)",
                ctx->ops->put_from(ctx->engine, key, p, 0, NULL),
                KVP_ERR_EXISTS);
}

static void key_length(struct conf_ctx *ctx)
{
    static char k1024[KVP_KEY_MAX + 1], k1025[KVP_KEY_MAX + 2];
    size_t pl = strlen(ctx->prefix);
    memcpy(k1024, ctx->prefix, pl);
    memset(k1024 + pl, 'k', KVP_KEY_MAX - pl);
    k1024[KVP_KEY_MAX] = '\0';
    memcpy(k1025, k1024, KVP_KEY_MAX);
    k1025[KVP_KEY_MAX] = 'x';
    k1025[KVP_KEY_MAX + 1] = '\0';
    unsigned char *p = conf_alloc(ctx, 64);
    if (p == NULL)
        return;
    conf_pattern_fill(p, 64, 9);
    CONF_EXPECT(ctx, "put_from(key \"\")",
                ctx->ops->put_from(ctx->engine, "", p, 64, NULL),
                KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "put_from(key NULL)",
                ctx->ops->put_from(ctx->engine, NULL, p, 64, NULL),
                KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "put_from(1025-byte key)",
                ctx->ops->put_from(ctx->engine, k1025, p, 64, NULL),
                KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "get_into(1025-byte key)",
                ctx->ops->get_into(ctx->engine, k1025, p, 64), KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "exists(key \"\")", ctx->ops->exists(ctx->engine, ""),
                KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "stat(1025-byte key)", ctx->ops->stat(ctx->engine, k1025),
                KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "remove(key \"\")", ctx->ops->remove(ctx->engine, ""),
                KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "put_from(1024-byte key)",
                ctx->ops->put_from(ctx->engine, k1024, p, 64, NULL), KVP_OK);
    CONF_TRY(expect_pattern(ctx, k1024, 64, 9, "(1024-byte key)"));
}

static void buffer_reusable(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "r");
    const size_t len = 256 * 1024;
    unsigned char *p = conf_put_pattern(ctx, key, len, 5, NULL);
    if (p == NULL)
        return;
    memset(p, 0xEE, len); /* the put returned: the buffer is ours again */
    CONF_TRY(expect_pattern(ctx, key, len, 5,
                            "after overwriting the source buffer"));
}

static void remove_key(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "d");
    CONF_EXPECT(ctx, "exists(missing)", ctx->ops->exists(ctx->engine, key), 0);
    CONF_EXPECT(ctx, "stat(missing)", ctx->ops->stat(ctx->engine, key),
                KVP_ERR_NOT_FOUND);
    CONF_EXPECT(ctx, "remove(missing)", ctx->ops->remove(ctx->engine, key),
                KVP_ERR_NOT_FOUND);
    if (conf_put_pattern(ctx, key, 100, 1, NULL) == NULL)
        return;
    CONF_EXPECT(ctx, "remove(stored)", ctx->ops->remove(ctx->engine, key),
                KVP_OK);
    CONF_EXPECT(ctx, "exists(removed)", ctx->ops->exists(ctx->engine, key), 0);
    unsigned char *p = conf_alloc(ctx, 100);
    if (p == NULL)
        return;
    CONF_EXPECT(ctx, "get_into(removed)",
                ctx->ops->get_into(ctx->engine, key, p, 100),
                KVP_ERR_NOT_FOUND);
    if (conf_put_pattern(ctx, key, 50, 2, NULL) == NULL)
        return;
    CONF_TRY(expect_pattern(ctx, key, 50, 2, "after put-remove-put"));
}

static const struct conf_case cases[] = {
    {"put", "roundtrip",
     "get_into returns the object size and exactly the bytes put",
     CONF_NEED_ENGINE, 0, roundtrip, NULL},
    {"put", "exists-keeps-old",
     "put_from of an existing key is KVP_ERR_EXISTS and keeps the old value",
     CONF_NEED_ENGINE, 0, exists_keeps_old, NULL},
    {"put", "overwrite-replaces",
     "KVP_PUT_OVERWRITE replaces the object (any length)", CONF_NEED_ENGINE,
     KVP_CAP_OVERWRITE, overwrite_replaces, NULL},
    {"put", "empty-object", "length 0 stores an empty object", CONF_NEED_ENGINE,
     0, empty_object, NULL},
    {"put", "key-length",
     "keys are 1..1024 bytes: length 0, NULL and 1025 are KVP_ERR_INVALID, "
     "1024 works",
     CONF_NEED_ENGINE, 0, key_length, NULL},
    {"put", "buffer-reusable-after-return",
     "puts are synchronous: the source may be reused as soon as put returns",
     CONF_NEED_ENGINE, 0, buffer_reusable, NULL},
    {"put", "exists-stat-remove",
     "exists/stat/remove report a missing key; a removed key is gone and "
     "can be put again",
     CONF_NEED_ENGINE, 0, remove_key, NULL},
};

CONF_GROUP(conf_group_put, cases);
