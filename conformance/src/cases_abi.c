/* cases_abi.c - negotiation and the ops table (DESIGN.md §2). These cases
 * call the entry symbol directly (dlopen + dlsym, as any host could), so a
 * plugin the loader refuses still gets a precise verdict. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "runner.h"

static kvp_negotiate_v1_fn raw_entry(struct conf_ctx *ctx)
{
    void *h = dlopen(ctx->opt->plugin_path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        conf_fail(ctx, "observed dlopen(%s) failing: %s, expected it to load",
                  ctx->opt->plugin_path, dlerror());
        return NULL;
    }
    kvp_negotiate_v1_fn fn =
        (kvp_negotiate_v1_fn)dlsym(h, KVP_NEGOTIATE_V1_SYMBOL);
    if (fn == NULL)
        conf_fail(ctx, "observed no symbol %s in %s, expected it exported",
                  KVP_NEGOTIATE_V1_SYMBOL, ctx->opt->plugin_path);
    return fn;
}

static void neg_init(struct kvp_negotiate *io, uint16_t major, uint16_t minor)
{
    memset(io, 0, sizeof(*io));
    io->struct_size = sizeof(*io);
    io->host_abi_major = major;
    io->host_abi_minor = minor;
    io->host = &conf_host_api;
}

/* Negotiates as (1, minor) and checks the effective minor is the lower. */
static void check_minor(struct conf_ctx *ctx, int delta)
{
    kvp_negotiate_v1_fn fn = raw_entry(ctx);
    if (fn == NULL)
        return;
    struct kvp_negotiate io;
    neg_init(&io, KVP_ABI_MAJOR, KVP_ABI_MINOR);
    CONF_EXPECT(ctx, "negotiate(host 1.KVP_ABI_MINOR)", fn(&io), KVP_OK);
    uint16_t plugin_minor = io.plugin_abi_minor;
    int host_minor = delta < 0 ? 0 : plugin_minor + delta;
    neg_init(&io, KVP_ABI_MAJOR, (uint16_t)host_minor);
    io.ops = NULL;
    CONF_EXPECT(ctx, "negotiate status", fn(&io), KVP_OK);
    CONF_EXPECT(ctx, "negotiate plugin_abi_major", io.plugin_abi_major,
                KVP_ABI_MAJOR);
    int want = host_minor < plugin_minor ? host_minor : plugin_minor;
    CONF_EXPECT(ctx, "effective abi_minor", io.abi_minor, want);
    CONF_EXPECT(ctx, "ops != NULL", io.ops != NULL, 1);
    CONF_EXPECT(ctx, "ops->abi_major", io.ops->abi_major, KVP_ABI_MAJOR);
}

static void negotiate_newer_host(struct conf_ctx *ctx)
{
    check_minor(ctx, 7);
}

static void negotiate_same_minor(struct conf_ctx *ctx)
{
    check_minor(ctx, 0);
}

static void negotiate_older_host(struct conf_ctx *ctx)
{
    check_minor(ctx, -1);
}

static void negotiate_wrong_major(struct conf_ctx *ctx)
{
    kvp_negotiate_v1_fn fn = raw_entry(ctx);
    if (fn == NULL)
        return;
    const uint16_t majors[] = {0, KVP_ABI_MAJOR + 1, 0xffff};
    for (size_t i = 0; i < sizeof(majors) / sizeof(majors[0]); i++) {
        struct kvp_negotiate io;
        neg_init(&io, majors[i], 0);
        io.ops = NULL;
        char what[64];
        snprintf(what, sizeof(what), "negotiate(host major %u)", majors[i]);
        CONF_EXPECT(ctx, what, fn(&io), KVP_ERR_ABI_MISMATCH);
        CONF_EXPECT(ctx, "plugin_abi_major written on mismatch",
                    io.plugin_abi_major, KVP_ABI_MAJOR);
        CONF_EXPECT(ctx, "ops left NULL on mismatch", io.ops == NULL, 1);
    }
}

static void negotiate_struct_too_small(struct conf_ctx *ctx)
{
    kvp_negotiate_v1_fn fn = raw_entry(ctx);
    if (fn == NULL)
        return;
    const uint32_t sizes[] = {0, 4, offsetof(struct kvp_negotiate, ops)};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct kvp_negotiate io;
        neg_init(&io, KVP_ABI_MAJOR, KVP_ABI_MINOR);
        io.struct_size = sizes[i];
        io.ops = NULL;
        char what[64];
        snprintf(what, sizeof(what), "negotiate(struct_size %u)", sizes[i]);
        CONF_EXPECT(ctx, what, fn(&io), KVP_ERR_INVALID);
        CONF_EXPECT(ctx, "ops left NULL", io.ops == NULL, 1);
    }
    CONF_EXPECT(ctx, "negotiate(NULL)", fn(NULL), KVP_ERR_INVALID);
}

static void ops_size_covers_minor(struct conf_ctx *ctx)
{
    kvp_negotiate_v1_fn fn = raw_entry(ctx);
    if (fn == NULL)
        return;
    struct kvp_negotiate io;
    neg_init(&io, KVP_ABI_MAJOR, KVP_ABI_MINOR);
    CONF_EXPECT(ctx, "negotiate", fn(&io), KVP_OK);
    CONF_EXPECT(ctx, "ops != NULL", io.ops != NULL, 1);
    /* this suite knows minor 0; a table for any minor >= 0 covers 1.0 */
    if (io.ops->struct_size < KVP_OPS_SIZE_V1_0) {
        conf_fail(ctx,
                  "observed ops->struct_size = %u for minor %u, "
                  "expected >= %zu (KVP_OPS_SIZE_V1_0)",
                  io.ops->struct_size, io.abi_minor, (size_t)KVP_OPS_SIZE_V1_0);
        return;
    }
    if (io.ops->abi_minor < io.abi_minor)
        conf_fail(ctx,
                  "observed ops->abi_minor = %u, expected >= the "
                  "negotiated minor %u",
                  io.ops->abi_minor, io.abi_minor);
}

static void ops_identity(struct conf_ctx *ctx)
{
    const struct kvp_ops *ops = ctx->ops;
    CONF_EXPECT(ctx, "ops->abi_major", ops->abi_major, KVP_ABI_MAJOR);
    CONF_EXPECT(ctx, "ops->name non-empty",
                ops->name != NULL && ops->name[0] != '\0', 1);
    CONF_EXPECT(ctx, "ops->version non-empty",
                ops->version != NULL && ops->version[0] != '\0', 1);
    CONF_EXPECT(ctx, "loader's negotiated minor <= KVP_ABI_MINOR",
                ctx->plugin.abi_minor <= KVP_ABI_MINOR, 1);
}

static void status_str_every_code(struct conf_ctx *ctx)
{
    static const int32_t codes[] = {
#define CONF_CODE_(name, value, text) value,
        KVP_STATUS_LIST(CONF_CODE_)
#undef CONF_CODE_
            /* unknown codes: just past both ends, and the extremes */
            KVP_STATUS_MIN_DEFINED -
            1,
        2,
        1000,
        -1000,
        INT32_MAX,
        INT32_MIN};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *s = ctx->ops->status_str(codes[i]);
        if (s == NULL || s[0] == '\0') {
            conf_fail(ctx,
                      "observed status_str(%d) = %s, expected a "
                      "non-empty static string",
                      codes[i], s == NULL ? "NULL" : "\"\"");
            return;
        }
    }
}

static void caps_thread_safe(struct conf_ctx *ctx)
{
    CONF_EXPECT(ctx, "caps & KVP_CAP_THREAD_SAFE",
                (ctx->ops->caps & KVP_CAP_THREAD_SAFE) != 0, 1);
}

static void slots_present(struct conf_ctx *ctx)
{
    conf_require_ops(ctx, ctx->ops->caps);
}

static void engine_lifecycle(struct conf_ctx *ctx)
{
    for (int round = 0; round < 2; round++) {
        struct kvp_engine *e = NULL;
        CONF_EXPECT(
            ctx, "engine_create",
            ctx->ops->engine_create(ctx->opt->config, &conf_host_api, &e),
            KVP_OK);
        CONF_EXPECT(ctx, "engine set by engine_create", e != NULL, 1);
        CONF_EXPECT(ctx, "engine_destroy", ctx->ops->engine_destroy(e), KVP_OK);
    }
}

static void engine_bad_config(struct conf_ctx *ctx)
{
    struct kvp_engine *e = (struct kvp_engine *)&e; /* sentinel */
    CONF_EXPECT(ctx, "engine_create(\"kvp_conformance_no_such_key=1\")",
                ctx->ops->engine_create("kvp_conformance_no_such_key=1",
                                        &conf_host_api, &e),
                KVP_ERR_INVALID);
    CONF_EXPECT(ctx, "*engine_p untouched on error",
                e == (struct kvp_engine *)&e, 1);
    CONF_EXPECT(ctx, "engine_create(engine_p NULL)",
                ctx->ops->engine_create(ctx->opt->config, &conf_host_api, NULL),
                KVP_ERR_INVALID);
}

static const struct conf_case cases[] = {
    {"abi", "negotiate-same-minor",
     "majors match: effective minor = min(host, plugin)", 0, 0,
     negotiate_same_minor, NULL},
    {"abi", "negotiate-newer-host-minor",
     "a newer host minor negotiates down to the plugin's minor", 0, 0,
     negotiate_newer_host, NULL},
    {"abi", "negotiate-older-host-minor",
     "an older host minor is the effective minor", 0, 0, negotiate_older_host,
     NULL},
    {"abi", "negotiate-wrong-major",
     "a different major is KVP_ERR_ABI_MISMATCH (plugin major reported)", 0, 0,
     negotiate_wrong_major, NULL},
    {"abi", "negotiate-struct-size-too-small",
     "negotiate with io NULL or struct_size not covering ops is "
     "KVP_ERR_INVALID",
     0, 0, negotiate_struct_too_small, NULL},
    {"abi", "ops-size-covers-minor",
     "ops->struct_size covers every slot of the negotiated minor", 0, 0,
     ops_size_covers_minor, NULL},
    {"abi", "ops-identity", "ops table names its major, name and version",
     CONF_NEED_OPS, 0, ops_identity, NULL},
    {"abi", "status-str-every-code",
     "status_str is non-NULL for every code, unknown codes included",
     CONF_NEED_OPS, 0, status_str_every_code, NULL},
    {"abi", "caps-thread-safe", "the plugin must set KVP_CAP_THREAD_SAFE",
     CONF_NEED_OPS, 0, caps_thread_safe, NULL},
    {"abi", "slots-present",
     "every v1.0 slot is present (batch/TP slots when caps say so)",
     CONF_NEED_OPS, 0, slots_present, NULL},
    {"abi", "engine-lifecycle",
     "engine_create then engine_destroy succeed, repeatedly", CONF_NEED_OPS, 0,
     engine_lifecycle, NULL},
    {"abi", "engine-create-invalid-args",
     "an unknown config key or a NULL engine_p is KVP_ERR_INVALID; "
     "*engine_p set only on success",
     CONF_NEED_OPS, 0, engine_bad_config, NULL},
};

CONF_GROUP(conf_group_abi, cases);
