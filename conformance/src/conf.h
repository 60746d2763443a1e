/*
 * conf.h - the harness every conformance case is written against.
 *
 * A case is a function that gets a fresh context (its own process, loaded
 * plugin, fresh engine, a registered arena, a unique key prefix) and checks
 * one rule of the contract (DESIGN.md §2-§3). The first failed check records
 * "observed X, expected Y" and the case returns.
 */
#ifndef CONF_H
#define CONF_H

#include <stddef.h>
#include <stdint.h>

#include "kvp_loader.h"
#include "kvplug/abi.h"
#include "kvplug/tensor.h"

struct conf_ctx;

/* What a case needs before it can run; missing caps -> SKIP. */
#define CONF_NEED_ENGINE (1u << 0) /* loaded plugin + engine + arena */
#define CONF_NEED_OPS    (1u << 1) /* loaded plugin only (no engine) */
#define CONF_NEED_V1_1   (1u << 2) /* negotiated ABI minor >= 1 (else SKIP) */

struct conf_case {
    const char *group; /* "abi", "put", ... */
    const char *name;  /* "exists-keeps-old" */
    const char *rule;  /* the rule text, printed on failure */
    uint32_t flags;    /* CONF_NEED_* */
    uint64_t caps;     /* KVP_CAP_* the case needs (else SKIP) */
    void (*fn)(struct conf_ctx *ctx);
    const void *arg; /* case data (e.g. a test vector) */
};

struct conf_options {
    const char *plugin_path;
    const char *config;
    const char *vectors_dir;
    unsigned timeout_s;
};

/* Result states a case reports. */
#define CONF_PASS 0
#define CONF_FAIL 1
#define CONF_SKIP 2

#define CONF_MSG_MAX 2048

struct conf_ctx {
    const struct conf_case *tc;
    const struct conf_options *opt;
    struct kvp_plugin plugin; /* loaded through kvp_loader */
    const struct kvp_ops *ops;
    struct kvp_engine *engine;
    unsigned char *arena; /* registered, CONF_ARENA_SIZE bytes */
    size_t arena_used;
    char prefix[96]; /* unique key prefix for this case */
    int state;       /* CONF_PASS/FAIL/SKIP */
    char msg[CONF_MSG_MAX];
};

#define CONF_ARENA_SIZE ((size_t)48 << 20)

/* ---- recording outcomes --------------------------------------------- */
void conf_fail(struct conf_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void conf_skip(struct conf_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int conf_failed(const struct conf_ctx *ctx);

/* "KVP_ERR_INVALID (-1)" for a status <= 0, "42" for a positive result
 * (size, boolean); conf_bst also names KVP_PARTIAL (batch returns).
 * Returns a pointer into one of a few rotating (thread-local) buffers. */
const char *conf_st(int64_t v);
const char *conf_bst(int64_t v);
const char *conf_status_name(int64_t v);

/* Records a failure and makes the case return unless got == want. */
#define CONF_EXPECT(ctx, what, got, want)                                      \
    do {                                                                       \
        int64_t got_ = (int64_t)(got), want_ = (int64_t)(want);                \
        if (got_ != want_) {                                                   \
            conf_fail((ctx), "observed %s = %s, expected %s", (what),          \
                      conf_st(got_), conf_st(want_));                          \
            return;                                                            \
        }                                                                      \
    } while (0)

/* For the return of a batch call (0, KVP_PARTIAL or negative). */
#define CONF_EXPECT_ST(ctx, what, got, want)                                   \
    do {                                                                       \
        int64_t got_ = (int64_t)(got), want_ = (int64_t)(want);                \
        if (got_ != want_) {                                                   \
            conf_fail((ctx), "observed %s = %s, expected %s", (what),          \
                      conf_bst(got_), conf_bst(want_));                        \
            return;                                                            \
        }                                                                      \
    } while (0)

/* Same for helpers that return int (-1 after recording a failure). */
#define CONF_EXPECT_I(ctx, what, got, want)                                    \
    do {                                                                       \
        int64_t got_ = (int64_t)(got), want_ = (int64_t)(want);                \
        if (got_ != want_) {                                                   \
            conf_fail((ctx), "observed %s = %s, expected %s", (what),          \
                      conf_st(got_), conf_st(want_));                          \
            return -1;                                                         \
        }                                                                      \
    } while (0)

/* Return from the case if a helper failed. */
#define CONF_TRY(x)                                                            \
    do {                                                                       \
        if ((x) != 0)                                                          \
            return;                                                            \
    } while (0)

/* ---- resources -------------------------------------------------------- */
/* Bump-allocates from the registered arena (64-byte aligned); fails the
 * case (returns NULL) when exhausted. */
void *conf_alloc(struct conf_ctx *ctx, size_t len);
/* "<prefix><name>" into buf (a case-unique key). */
const char *conf_key(struct conf_ctx *ctx, char *buf, size_t cap,
                     const char *name);
/* Deterministic bytes for a (seed, length); conf_pattern_check compares. */
void conf_pattern_fill(void *p, size_t len, uint32_t seed);
/* Puts len pattern bytes (seed) under key from the arena (opts may be
 * NULL); returns the source buffer, or NULL after failing the case. */
unsigned char *conf_put_pattern(struct conf_ctx *ctx, const char *key,
                                size_t len, uint32_t seed,
                                const struct kvp_put_opts *opts);
/* Same put options every case uses. */
extern const struct kvp_put_opts conf_opts_overwrite;
extern const struct kvp_put_opts conf_opts_default;

/* Where the first differing byte is, or -1. */
int64_t conf_memdiff(const void *a, const void *b, size_t len);

/* ---- case registry ----------------------------------------------------- */
/* Every group file defines a table; the registry collects them. */
struct conf_group {
    const struct conf_case *cases;
    size_t count;
};

extern const struct conf_group conf_group_abi;
extern const struct conf_group conf_group_registration;
extern const struct conf_group conf_group_put;
extern const struct conf_group conf_group_get;
extern const struct conf_group conf_group_batch;
extern const struct conf_group conf_group_tp_put;
extern const struct conf_group conf_group_tp_get;
extern const struct conf_group conf_group_concurrency;
extern const struct conf_group conf_group_v1_1;

#define CONF_GROUP(var, table)                                                 \
    const struct conf_group var = {table, sizeof(table) / sizeof(table[0])}

#endif /* CONF_H */
