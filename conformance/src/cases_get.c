/* cases_get.c - get_into (DESIGN.md §3 "get"). */
#include <stdio.h>
#include <string.h>

#include "conf.h"

#define CANARY 0x5A

static void returns_size(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "g");
    unsigned char *src = conf_put_pattern(ctx, key, 777, 3, NULL);
    unsigned char *dst = conf_alloc(ctx, 4096);
    if (src == NULL || dst == NULL)
        return;
    CONF_EXPECT(ctx, "get_into(cap 4096)",
                ctx->ops->get_into(ctx->engine, key, dst, 4096), 777);
    CONF_EXPECT(ctx, "first differing byte", conf_memdiff(dst, src, 777), -1);
    memset(dst, 0, 777);
    CONF_EXPECT(ctx, "get_into(cap == size)",
                ctx->ops->get_into(ctx->engine, key, dst, 777), 777);
    CONF_EXPECT(ctx, "first differing byte", conf_memdiff(dst, src, 777), -1);
}

static void too_small_untouched(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "s");
    const size_t len = 100000;
    if (conf_put_pattern(ctx, key, len, 4, NULL) == NULL)
        return;
    unsigned char *dst = conf_alloc(ctx, len);
    unsigned char *canary = conf_alloc(ctx, len);
    if (dst == NULL || canary == NULL)
        return;
    memset(canary, CANARY, len);
    const uint64_t caps[] = {len - 1, 4096, 1, 0};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        memset(dst, CANARY, len);
        char what[64];
        snprintf(what, sizeof(what), "get_into(cap %llu < %zu)",
                 (unsigned long long)caps[i], len);
        CONF_EXPECT(ctx, what,
                    ctx->ops->get_into(ctx->engine, key, dst, caps[i]),
                    KVP_ERR_TOO_SMALL);
        CONF_EXPECT(ctx, "first byte changed in the too-small buffer",
                    conf_memdiff(dst, canary, len), -1);
    }
    CONF_EXPECT(ctx, "stat (the size needed)", ctx->ops->stat(ctx->engine, key),
                (int64_t)len);
}

static void not_found(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "missing");
    unsigned char *dst = conf_alloc(ctx, 64);
    if (dst == NULL)
        return;
    CONF_EXPECT(ctx, "get_into(missing key)",
                ctx->ops->get_into(ctx->engine, key, dst, 64),
                KVP_ERR_NOT_FOUND);
    /* a key that only shares a prefix with a stored one is still missing */
    char longer[300];
    snprintf(longer, sizeof(longer), "%s-not", key);
    if (conf_put_pattern(ctx, longer, 10, 1, NULL) == NULL)
        return;
    CONF_EXPECT(ctx, "get_into(prefix of a stored key)",
                ctx->ops->get_into(ctx->engine, key, dst, 64),
                KVP_ERR_NOT_FOUND);
}

static const struct conf_case cases[] = {
    {"get", "returns-size",
     "get_into returns the object size and fills the buffer", CONF_NEED_ENGINE,
     0, returns_size, NULL},
    {"get", "too-small-untouched",
     "cap < size is KVP_ERR_TOO_SMALL, the buffer untouched; stat reports "
     "the size",
     CONF_NEED_ENGINE, 0, too_small_untouched, NULL},
    {"get", "not-found", "a missing key is KVP_ERR_NOT_FOUND", CONF_NEED_ENGINE,
     0, not_found, NULL},
};

CONF_GROUP(conf_group_get, cases);
