/* harness.c - outcome recording, arena, keys and payload patterns shared by
 * every case. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"

const struct kvp_put_opts conf_opts_overwrite = {sizeof(struct kvp_put_opts),
                                                 KVP_PUT_OVERWRITE};
const struct kvp_put_opts conf_opts_default = {sizeof(struct kvp_put_opts), 0};

static void conf_record(struct conf_ctx *ctx, int state, const char *fmt,
                        va_list ap) __attribute__((format(printf, 3, 0)));

static void conf_record(struct conf_ctx *ctx, int state, const char *fmt,
                        va_list ap)
{
    if (ctx->state == CONF_FAIL)
        return; /* the first failure is the one worth reading */
    ctx->state = state;
    vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
}

void conf_fail(struct conf_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conf_record(ctx, CONF_FAIL, fmt, ap);
    va_end(ap);
}

void conf_skip(struct conf_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conf_record(ctx, CONF_SKIP, fmt, ap);
    va_end(ap);
}

int conf_failed(const struct conf_ctx *ctx)
{
    return ctx->state == CONF_FAIL;
}

#define ROT_BUFS 8
static char *rot_buf(void)
{
    static __thread char bufs[ROT_BUFS][64];
    static __thread unsigned next;
    return bufs[next++ % ROT_BUFS];
}

const char *conf_status_name(int64_t v)
{
    switch (v) {
#define CONF_STATUS_CASE_(name, value, text)                                   \
    case value:                                                                \
        return #name;
        KVP_STATUS_LIST(CONF_STATUS_CASE_)
#undef CONF_STATUS_CASE_
    }
    return "unknown status";
}

const char *conf_st(int64_t v)
{
    char *b = rot_buf();
    if (v > 0)
        snprintf(b, 64, "%" PRId64, v);
    else
        snprintf(b, 64, "%s (%" PRId64 ")", conf_status_name(v), v);
    return b;
}

const char *conf_bst(int64_t v)
{
    if (v == KVP_PARTIAL) {
        char *b = rot_buf();
        snprintf(b, 64, "KVP_PARTIAL (1)");
        return b;
    }
    return conf_st(v);
}

void *conf_alloc(struct conf_ctx *ctx, size_t len)
{
    size_t at = (ctx->arena_used + 63) & ~(size_t)63;
    if (ctx->arena == NULL || len > CONF_ARENA_SIZE - at) {
        conf_fail(ctx,
                  "observed the suite's %zu-byte arena exhausted by a "
                  "%zu-byte request, expected room (suite bug)",
                  (size_t)CONF_ARENA_SIZE, len);
        return NULL;
    }
    ctx->arena_used = at + len;
    return ctx->arena + at;
}

const char *conf_key(struct conf_ctx *ctx, char *buf, size_t cap,
                     const char *name)
{
    snprintf(buf, cap, "%s%s", ctx->prefix, name);
    return buf;
}

void conf_pattern_fill(void *p, size_t len, uint32_t seed)
{
    unsigned char *b = p;
    uint32_t x = seed * 2654435761u + 0x9e3779b9u;
    for (size_t i = 0; i < len; i++) {
        /* xorshift: consecutive ranges never repeat each other, so a slice
         * taken from the wrong place is always noticed */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)(x >> 24);
    }
}

int64_t conf_memdiff(const void *a, const void *b, size_t len)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < len; i++)
        if (x[i] != y[i])
            return (int64_t)i;
    return -1;
}

unsigned char *conf_put_pattern(struct conf_ctx *ctx, const char *key,
                                size_t len, uint32_t seed,
                                const struct kvp_put_opts *opts)
{
    unsigned char *p = conf_alloc(ctx, len ? len : 1);
    if (p == NULL)
        return NULL;
    conf_pattern_fill(p, len, seed);
    int32_t st = ctx->ops->put_from(ctx->engine, key, p, len, opts);
    if (st != KVP_OK) {
        conf_fail(ctx, "observed put_from(%zu bytes) = %s, expected KVP_OK",
                  len, conf_st(st));
        return NULL;
    }
    return p;
}
