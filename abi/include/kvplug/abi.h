/*
 * kvplug/abi.h - the stable, versioned C ABI between a host engine and a
 * kvplug plugin.
 *
 * A plugin exports exactly one symbol, kvp_plugin_negotiate_v1(). The host
 * fills a struct kvp_negotiate and receives a const ops table.
 *
 * Rules (see docs/abi.md):
 *  - Only plain C types cross the boundary: fixed-width integers,
 *    const char *, pointers to incomplete structs. No enum/bool/long fields.
 *  - Every struct that may grow starts with uint32_t struct_size.
 *  - struct kvp_ops is APPEND-ONLY. Test a slot with KVP_HAS_OP().
 *  - Keys, arrays and option structs are borrowed for the duration of a call;
 *    data buffers are borrowed until the call returns (all v1 ops are
 *    synchronous). Memory never crosses the boundary to be freed on the other
 *    side.
 *  - With KVP_CAP_THREAD_SAFE, data ops and registration may run concurrently
 *    on one engine; engine_create/engine_destroy are never concurrent with
 *    anything on that engine.
 *
 * Since ABI 1.0 unless marked otherwise.
 */
#ifndef KVPLUG_ABI_H
#define KVPLUG_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "kvplug/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_ABI_MAJOR 1
#define KVP_ABI_MINOR 0

/* Name of the one exported entry symbol for ABI major 1. */
#define KVP_NEGOTIATE_V1_SYMBOL "kvp_plugin_negotiate_v1"

/* ---- log levels (host logger) ------------------------------------------ */
#define KVP_LOG_ERROR 0
#define KVP_LOG_WARN 1
#define KVP_LOG_INFO 2
#define KVP_LOG_DEBUG 3

/*
 * Host logger. `msg` is a NUL-terminated line without trailing newline,
 * borrowed for the duration of the call only. May be called from any plugin
 * thread, concurrently; the host must make it thread-safe.
 */
typedef void (*kvp_log_fn)(void *user, int32_t level, const char *msg);

/* What the host offers the plugin. Since 1.0. */
struct kvp_host_api {
    uint32_t struct_size; /* sizeof(struct kvp_host_api) as the host knows it */
    uint32_t flags;       /* reserved, must be 0 */
    kvp_log_fn log;       /* optional (NULL: plugin logs to stderr) */
    void *log_user;       /* passed back to log(); must stay valid until the
                           * engine it was given to is destroyed */
};

/*
 * Negotiation. The host fills the "in" fields, the plugin fills the "out"
 * fields. The plugin writes plugin_abi_major/plugin_abi_minor on every call
 * where struct_size covers them (so a host can report both versions on
 * KVP_ERR_ABI_MISMATCH); abi_minor and ops only on success.
 */
struct kvp_negotiate {
    uint32_t struct_size;                /* in: sizeof(struct kvp_negotiate) */
    uint16_t host_abi_major;             /* in: KVP_ABI_MAJOR of the host */
    uint16_t host_abi_minor;             /* in: highest minor the host knows */
    const struct kvp_host_api *host;     /* in, optional: logger for the call
                                          * (borrowed for the call only) */
    uint16_t plugin_abi_major;           /* out: the plugin's major */
    uint16_t plugin_abi_minor;           /* out: the plugin's highest minor */
    uint16_t abi_minor;                  /* out: min(host, plugin) minor */
    uint16_t reserved;                   /* out: 0 */
    const struct kvp_ops *ops;           /* out: plugin-owned, const, lives
                                          * while the library is loaded */
};

/*
 * The entry point.
 * Returns KVP_OK; KVP_ERR_INVALID (io NULL or io->struct_size too small);
 * KVP_ERR_ABI_MISMATCH (majors differ).
 */
typedef int32_t (*kvp_negotiate_v1_fn)(struct kvp_negotiate *io);

/* ---- capabilities ------------------------------------------------------- */
#define KVP_CAP_THREAD_SAFE (UINT64_C(1) << 0) /* concurrent ops on 1 engine */
#define KVP_CAP_TP (UINT64_C(1) << 1)          /* TP put/get ops implemented */
#define KVP_CAP_BATCH (UINT64_C(1) << 2)       /* batch ops implemented */
#define KVP_CAP_OVERWRITE (UINT64_C(1) << 3)   /* KVP_PUT_OVERWRITE honoured */
#define KVP_CAP_CUDA (UINT64_C(1) << 4)        /* device memory registration */

/* ---- put options -------------------------------------------------------- */
#define KVP_PUT_OVERWRITE (UINT32_C(1) << 0) /* replace an existing key
                                              * atomically */

/* Growable: hosts set struct_size = sizeof(struct kvp_put_opts). NULL means
 * all defaults. Borrowed for the duration of the call. Since 1.0. */
struct kvp_put_opts {
    uint32_t struct_size;
    uint32_t flags; /* KVP_PUT_* */
};

/* Limits of the contract. */
#define KVP_KEY_MAX 1024 /* bytes, excluding the NUL */

struct kvp_engine; /* opaque, plugin-owned */

/*
 * The v1 ops table. APPEND-ONLY: never reorder, remove or retype a slot.
 * Every const char *key is a NUL-terminated string of 1..KVP_KEY_MAX bytes,
 * borrowed for the call. Every data pointer must lie, with its length, inside
 * one registered buffer (else KVP_ERR_NOT_REGISTERED) and is borrowed until
 * the call returns.
 */
struct kvp_ops {
    uint32_t struct_size; /* bytes of this table the plugin provides */
    uint16_t abi_major;
    uint16_t abi_minor;
    uint64_t caps;        /* KVP_CAP_* */
    const char *name;     /* static string, e.g. "kvplug" */
    const char *version;  /* static string, e.g. "0.1.0" */

    /* Static, never NULL, for every int32_t code (unknown codes included). */
    const char *(*status_str)(int32_t status);

    /* config: NUL-terminated "key=value;..." (docs/config.md), borrowed.
     * host: optional, copied; host->log_user must outlive the engine.
     * *engine_p is set only on KVP_OK. */
    int32_t (*engine_create)(const char *config,
                             const struct kvp_host_api *host,
                             struct kvp_engine **engine_p);
    /* Releases everything; registered buffers are unregistered implicitly. */
    int32_t (*engine_destroy)(struct kvp_engine *engine);

    /* [ptr, ptr+len) host (or CUDA, with KVP_CAP_CUDA) memory. The host keeps
     * it valid until unregister_buffer or engine_destroy. NULL or 0 length:
     * KVP_ERR_INVALID; overlapping an existing registration:
     * KVP_ERR_EXISTS. */
    int32_t (*register_buffer)(struct kvp_engine *engine, void *ptr,
                               uint64_t len);
    /* ptr is the exact start of a registration, else KVP_ERR_NOT_FOUND. */
    int32_t (*unregister_buffer)(struct kvp_engine *engine, void *ptr);

    /* Stores [ptr, ptr+len) under key. opts may be NULL. */
    int32_t (*put_from)(struct kvp_engine *engine, const char *key,
                        const void *ptr, uint64_t len,
                        const struct kvp_put_opts *opts);
    /* results[i] is always written, in input order. Returns KVP_OK,
     * KVP_PARTIAL, or a negative code (then every results[i] holds it). */
    int32_t (*batch_put_from)(struct kvp_engine *engine, uint32_t n,
                              const char *const *keys,
                              const void *const *ptrs, const uint64_t *lens,
                              const struct kvp_put_opts *opts,
                              int32_t *results);
    /* Returns the object size (>= 0) or a negative status. */
    int64_t (*get_into)(struct kvp_engine *engine, const char *key, void *ptr,
                        uint64_t cap);
    /* results[i]: size or negative status. Return as batch_put_from. */
    int32_t (*batch_get_into)(struct kvp_engine *engine, uint32_t n,
                              const char *const *keys, void *const *ptrs,
                              const uint64_t *caps, int64_t *results);

    /* ptr holds a FULL tensor object (docs/tensor-format.md). tp_size <= 1:
     * stored unchanged under key; else shard r goes to "<key>_tp_<r>".
     * tp_rank is ignored on put. All-or-nothing. */
    int32_t (*put_tensor_with_tp_from)(struct kvp_engine *engine,
                                       const char *key, const void *ptr,
                                       uint64_t len, int32_t tp_rank,
                                       int32_t tp_size, int32_t split_dim,
                                       const struct kvp_put_opts *opts);
    int32_t (*batch_put_tensor_with_tp_from)(
        struct kvp_engine *engine, uint32_t n, const char *const *keys,
        const void *const *ptrs, const uint64_t *lens, int32_t tp_rank,
        int32_t tp_size, int32_t split_dim, const struct kvp_put_opts *opts,
        int32_t *results);
    /* Reads this rank's shard (or key itself for tp_size <= 1). Returns its
     * size or a negative status. */
    int64_t (*get_tensor_with_tp_into)(struct kvp_engine *engine,
                                       const char *key, void *ptr,
                                       uint64_t cap, int32_t tp_rank,
                                       int32_t tp_size);
    int32_t (*batch_get_tensor_with_tp_into)(
        struct kvp_engine *engine, uint32_t n, const char *const *keys,
        void *const *ptrs, const uint64_t *caps, int32_t tp_rank,
        int32_t tp_size, int64_t *results);

    /* 1 if key is stored, 0 if not, negative status on error. */
    int32_t (*exists)(struct kvp_engine *engine, const char *key);
    /* Object size (>= 0) or negative status. */
    int64_t (*stat)(struct kvp_engine *engine, const char *key);
    /* KVP_OK or KVP_ERR_NOT_FOUND (or another error). */
    int32_t (*remove)(struct kvp_engine *engine, const char *key);
    /* ---- end of ABI 1.0; append new slots below, with their minor ---- */
};

/* Size of the table as of ABI 1.0 (a plugin claiming minor 0 provides at
 * least this many bytes). */
#define KVP_OPS_SIZE_V1_0                                                     \
    (offsetof(struct kvp_ops, remove) + sizeof(((struct kvp_ops *)0)->remove))

/* True if the table provides `field` (covered by struct_size, non-NULL). */
#define KVP_HAS_OP(ops, field)                                                \
    ((ops) != NULL &&                                                         \
     (ops)->struct_size >= offsetof(struct kvp_ops, field) +                  \
                               sizeof((ops)->field) &&                        \
     (ops)->field != NULL)

#ifdef __cplusplus
}
#endif

#endif /* KVPLUG_ABI_H */
