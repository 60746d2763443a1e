/* cases_registration.c - every data op needs its range inside ONE
 * registered buffer (KVP_ERR_NOT_REGISTERED otherwise, on every transport);
 * NULL/0 registrations are invalid; overlaps are refused. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "tensor_obj.h"

#define PAGE 4096

/* Host memory the engine never saw (freed at process exit). */
static unsigned char *unregistered(struct conf_ctx *ctx, size_t len)
{
    unsigned char *p = aligned_alloc(PAGE, (len + PAGE - 1) / PAGE * PAGE);
    if (p == NULL)
        conf_fail(ctx, "observed no memory (suite)");
    else
        memset(p, 0x11, len);
    return p;
}

static void register_null_or_zero(struct conf_ctx *ctx)
{
    unsigned char *p = unregistered(ctx, PAGE);
    if (p == NULL)
        return;
    CONF_EXPECT(ctx, "register_buffer(NULL, 4096)",
                ctx->ops->register_buffer(ctx->engine, NULL, PAGE),
                KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "register_buffer(p, 0)",
                ctx->ops->register_buffer(ctx->engine, p, 0), KVP_ERR_INVALID);
}

static void register_overlap(struct conf_ctx *ctx)
{
    unsigned char *p = unregistered(ctx, 4 * PAGE);
    if (p == NULL)
        return;
    CONF_EXPECT(ctx, "register_buffer([0, 2 pages))",
                ctx->ops->register_buffer(ctx->engine, p, 2 * PAGE), KVP_OK);
    CONF_EXPECT(ctx, "register_buffer(the same range again)",
                ctx->ops->register_buffer(ctx->engine, p, 2 * PAGE),
                KVP_ERR_EXISTS);
    CONF_EXPECT(ctx, "register_buffer([1 page, 3 pages)) (tail overlap)",
                ctx->ops->register_buffer(ctx->engine, p + PAGE, 2 * PAGE),
                KVP_ERR_EXISTS);
    CONF_EXPECT(ctx, "register_buffer([100, 200)) (contained)",
                ctx->ops->register_buffer(ctx->engine, p + 100, 100),
                KVP_ERR_EXISTS);
    CONF_EXPECT(ctx, "register_buffer([0, 4 pages)) (containing)",
                ctx->ops->register_buffer(ctx->engine, p, 4 * PAGE),
                KVP_ERR_EXISTS);
    CONF_EXPECT(ctx, "register_buffer(arena + 64, 64) (inside the arena)",
                ctx->ops->register_buffer(ctx->engine, ctx->arena + 64, 64),
                KVP_ERR_EXISTS);
    CONF_EXPECT(ctx, "register_buffer([2 pages, 4 pages)) (adjacent)",
                ctx->ops->register_buffer(ctx->engine, p + 2 * PAGE, 2 * PAGE),
                KVP_OK);
}

static void unregistered_put_get(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "k");
    unsigned char *p = unregistered(ctx, PAGE);
    if (p == NULL)
        return;
    CONF_EXPECT(ctx, "put_from(unregistered host memory)",
                ctx->ops->put_from(ctx->engine, key, p, 512, NULL),
                KVP_ERR_NOT_REGISTERED);
    CONF_EXPECT(ctx, "exists(key) after the refused put",
                ctx->ops->exists(ctx->engine, key), 0);
    unsigned char *r = conf_alloc(ctx, 512);
    if (r == NULL)
        return;
    CONF_EXPECT(ctx, "put_from(registered)",
                ctx->ops->put_from(ctx->engine, key, r, 512, NULL), KVP_OK);
    CONF_EXPECT(ctx, "get_into(unregistered host memory)",
                ctx->ops->get_into(ctx->engine, key, p, 512),
                KVP_ERR_NOT_REGISTERED);
}

static void unregistered_tp(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "t");
    unsigned char *p = unregistered(ctx, PAGE);
    unsigned char *r = conf_alloc(ctx, PAGE);
    if (p == NULL || r == NULL)
        return;
    /* a valid [4,6] f32 object in both places */
    const int64_t shape[2] = {4, 6};
    size_t len = th_build_object(p, KVP_DTYPE_F32, 2, shape, 1);
    memcpy(r, p, len);
    CONF_EXPECT(ctx, "put_tensor_with_tp_from(unregistered, tp 2)",
                ctx->ops->put_tensor_with_tp_from(ctx->engine, key, p, len, 0,
                                                  2, 0, NULL),
                KVP_ERR_NOT_REGISTERED);
    CONF_EXPECT(ctx, "put_tensor_with_tp_from(unregistered, tp 1)",
                ctx->ops->put_tensor_with_tp_from(ctx->engine, key, p, len, 0,
                                                  1, 0, NULL),
                KVP_ERR_NOT_REGISTERED);
    CONF_EXPECT(ctx, "put_tensor_with_tp_from(registered, tp 2)",
                ctx->ops->put_tensor_with_tp_from(ctx->engine, key, r, len, 0,
                                                  2, 0, NULL),
                KVP_OK);
    CONF_EXPECT(
        ctx, "get_tensor_with_tp_into(unregistered, rank 1)",
        ctx->ops->get_tensor_with_tp_into(ctx->engine, key, p, PAGE, 1, 2),
        KVP_ERR_NOT_REGISTERED);
}

static void straddling(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "s");
    unsigned char *end = ctx->arena + CONF_ARENA_SIZE;
    CONF_EXPECT(ctx, "put_from(range running 100 bytes past the arena end)",
                ctx->ops->put_from(ctx->engine, key, end - 100, 200, NULL),
                KVP_ERR_NOT_REGISTERED);
    /* two adjacent registrations are still two buffers */
    unsigned char *p = unregistered(ctx, 2 * PAGE);
    if (p == NULL)
        return;
    CONF_EXPECT(ctx, "register_buffer(page A)",
                ctx->ops->register_buffer(ctx->engine, p, PAGE), KVP_OK);
    CONF_EXPECT(ctx, "register_buffer(page B, adjacent)",
                ctx->ops->register_buffer(ctx->engine, p + PAGE, PAGE), KVP_OK);
    CONF_EXPECT(ctx, "put_from(range straddling pages A and B)",
                ctx->ops->put_from(ctx->engine, key, p + PAGE - 8, 16, NULL),
                KVP_ERR_NOT_REGISTERED);
    CONF_EXPECT(ctx, "exists(key) after refused puts",
                ctx->ops->exists(ctx->engine, key), 0);
    CONF_EXPECT(ctx, "put_from(inside page A)",
                ctx->ops->put_from(ctx->engine, key, p + 8, 16, NULL), KVP_OK);
    CONF_EXPECT(ctx, "get_into(range straddling pages A and B)",
                ctx->ops->get_into(ctx->engine, key, p + PAGE - 8, 16),
                KVP_ERR_NOT_REGISTERED);
    CONF_EXPECT(ctx, "get_into(cap running past the arena end)",
                ctx->ops->get_into(ctx->engine, key, end - 8, 16),
                KVP_ERR_NOT_REGISTERED);
}

static void unregister_then_use(struct conf_ctx *ctx)
{
    char key[256];
    conf_key(ctx, key, sizeof(key), "u");
    unsigned char *p = unregistered(ctx, PAGE);
    if (p == NULL)
        return;
    CONF_EXPECT(ctx, "register_buffer",
                ctx->ops->register_buffer(ctx->engine, p, PAGE), KVP_OK);
    CONF_EXPECT(ctx, "put_from(registered)",
                ctx->ops->put_from(ctx->engine, key, p, 64, NULL), KVP_OK);
    CONF_EXPECT(ctx, "unregister_buffer",
                ctx->ops->unregister_buffer(ctx->engine, p), KVP_OK);
    conf_key(ctx, key, sizeof(key), "u2");
    CONF_EXPECT(ctx, "put_from(after unregister)",
                ctx->ops->put_from(ctx->engine, key, p, 64, NULL),
                KVP_ERR_NOT_REGISTERED);
    conf_key(ctx, key, sizeof(key), "u");
    CONF_EXPECT(ctx, "get_into(after unregister)",
                ctx->ops->get_into(ctx->engine, key, p, 64),
                KVP_ERR_NOT_REGISTERED);
    CONF_EXPECT(ctx, "register_buffer(again)",
                ctx->ops->register_buffer(ctx->engine, p, PAGE), KVP_OK);
    CONF_EXPECT(ctx, "get_into(registered again)",
                ctx->ops->get_into(ctx->engine, key, p, 64), 64);
}

static void unregister_unknown(struct conf_ctx *ctx)
{
    unsigned char *p = unregistered(ctx, PAGE);
    if (p == NULL)
        return;
    CONF_EXPECT(ctx, "unregister_buffer(never registered)",
                ctx->ops->unregister_buffer(ctx->engine, p), KVP_ERR_NOT_FOUND);
    CONF_EXPECT(ctx, "unregister_buffer(arena + 64, not a start)",
                ctx->ops->unregister_buffer(ctx->engine, ctx->arena + 64),
                KVP_ERR_NOT_FOUND);
}

static const struct conf_case cases[] = {
    {"registration", "register-null-or-zero-invalid",
     "registering NULL or length 0 is KVP_ERR_INVALID", CONF_NEED_ENGINE, 0,
     register_null_or_zero, NULL},
    {"registration", "overlap-refused",
     "an overlapping registration is refused (KVP_ERR_EXISTS); adjacent is "
     "fine",
     CONF_NEED_ENGINE, 0, register_overlap, NULL},
    {"registration", "unregistered-put-get",
     "put_from/get_into outside every registered buffer is "
     "KVP_ERR_NOT_REGISTERED",
     CONF_NEED_ENGINE, 0, unregistered_put_get, NULL},
    {"registration", "unregistered-tp",
     "TP put/get outside every registered buffer is KVP_ERR_NOT_REGISTERED",
     CONF_NEED_ENGINE, KVP_CAP_TP, unregistered_tp, NULL},
    {"registration", "straddling-range",
     "[ptr, ptr+len) must lie inside ONE registered buffer, else "
     "KVP_ERR_NOT_REGISTERED",
     CONF_NEED_ENGINE, 0, straddling, NULL},
    {"registration", "unregister-then-use",
     "after unregister_buffer the range is KVP_ERR_NOT_REGISTERED; "
     "re-registering works",
     CONF_NEED_ENGINE, 0, unregister_then_use, NULL},
    {"registration", "unregister-unknown",
     "unregister_buffer of a pointer that starts no registration is "
     "KVP_ERR_NOT_FOUND",
     CONF_NEED_ENGINE, 0, unregister_unknown, NULL},
};

CONF_GROUP(conf_group_registration, cases);
