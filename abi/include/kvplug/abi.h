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
#define KVP_ABI_MINOR 1

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

/* One piece of a gathered/scattered object. Fixed layout (16 bytes), never
 * grows. ptr/len must lie inside one registered buffer (pieces of one object
 * may lie in different registrations). Since 1.1. */
struct kvp_iov {
    void *ptr;
    uint64_t len;
};

/* Growable counters of this engine (host sets struct_size; the plugin fills
 * what it knows and leaves the rest untouched). Counted per object (a TP
 * put of tp 4 is 4 puts); counters only grow. Since 1.1. */
struct kvp_stats {
    uint32_t struct_size; /* in: sizeof(struct kvp_stats) as the host knows */
    uint32_t reserved;    /* out: 0 */
    uint64_t puts;        /* objects stored */
    uint64_t put_bytes;   /* their bytes (TP shards: header included) */
    uint64_t gets;        /* objects read */
    uint64_t get_bytes;
    uint64_t get_hits;    /* get items that found their key */
    uint64_t get_misses;  /* get items answered KVP_ERR_NOT_FOUND */
    uint64_t errors;      /* items of any op that failed otherwise */
    uint64_t reconnects;  /* connections re-opened after a loss */
    uint64_t removes;     /* keys removed: one per remove/batch_remove
                           * key, every object remove_prefix removed */
};

struct kvp_engine; /* opaque, plugin-owned */

/*
 * The v1 ops table. APPEND-ONLY: never reorder, remove or retype a slot.
 * Every const char *key is a NUL-terminated string of 1..KVP_KEY_MAX bytes,
 * borrowed for the call. Every data pointer must lie, with its length, inside
 * one registered buffer (else KVP_ERR_NOT_REGISTERED) and is borrowed until
 * the call returns: for a put that is [ptr, ptr+len), for a get the whole
 * [ptr, ptr+cap) (even when the object is smaller).
 *
 * Batches (every batch_* slot): n may be any value up to UINT32_MAX that
 * fits in memory (the plugin splits a batch into as many protocol frames as
 * it needs); results[i] is always written, in input order; a bad item fails
 * only itself; duplicate keys are processed in input order. The call
 * returns KVP_OK when every item succeeded, KVP_PARTIAL (1, positive) when
 * some failed, or a negative code when the call itself is ill-formed (NULL
 * arrays) - then every results[i] holds that code.
 *
 * TP (tensor parallel): shards of one TP put form a TP group, stored and
 * dropped as one (docs/semantics.md): at every moment either every rank's
 * shard of a key is stored, from the same put, or none is. tp_size is at
 * most KVP_TP_SIZE_MAX.
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

    /* ptr holds a FULL tensor object (docs/tensor-format.md): the 304-byte
     * header, then the payload. tp_size <= 1: stored unchanged under key
     * (split_dim and tp_rank ignored; a SHARD-layout input is refused with
     * KVP_ERR_INVALID). Else shard r goes to "<key>_tp_<r>" with a SHARD
     * header; split_dim may be negative (from the end, as in torch) and is
     * stored normalised to [0, ndim) in the SHARD header's axis.
     * tp_rank is ignored on put. All-or-nothing; an overwrite replaces the
     * whole old group, whatever its tp_size. tp_size > KVP_TP_SIZE_MAX:
     * KVP_ERR_INVALID. */
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
     * size - the 304-byte SHARD header included - or a negative status;
     * cap must hold header + shard payload. The TP axis is found by its
     * kind anywhere in the header's axes[]. */
    int64_t (*get_tensor_with_tp_into)(struct kvp_engine *engine,
                                       const char *key, void *ptr,
                                       uint64_t cap, int32_t tp_rank,
                                       int32_t tp_size);
    int32_t (*batch_get_tensor_with_tp_into)(
        struct kvp_engine *engine, uint32_t n, const char *const *keys,
        void *const *ptrs, const uint64_t *caps, int32_t tp_rank,
        int32_t tp_size, int64_t *results);

    /* 1 if key is stored, 0 if not, negative status on error. Note: 1 has
     * the value of KVP_PARTIAL; compare with 1 / test < 0, never with
     * KVP_OK. A shard key "<key>_tp_<r>" answers for the whole group. */
    int32_t (*exists)(struct kvp_engine *engine, const char *key);
    /* Object size (>= 0) or negative status. Of a shard key: that shard's
     * object size, header included. */
    int64_t (*stat)(struct kvp_engine *engine, const char *key);
    /* KVP_OK or KVP_ERR_NOT_FOUND (or another error). Removing a shard key
     * removes every shard of its TP group. */
    int32_t (*remove)(struct kvp_engine *engine, const char *key);
    /* ---- end of ABI 1.0; append new slots below, with their minor ---- */

    /* results[i] = 1 stored, 0 not stored (a pending, uncommitted put is
     * not stored), < 0 error. Returns KVP_OK when no item errored,
     * KVP_PARTIAL when some did, negative when the call is ill-formed.
     * One request per server, not n round trips. Since 1.1. */
    int32_t (*batch_exists)(struct kvp_engine *engine, uint32_t n,
                            const char *const *keys, int32_t *results);
    /* results[i] = KVP_OK, KVP_ERR_NOT_FOUND or an error; KVP_OK only if
     * all OK (else KVP_PARTIAL). Since 1.1. */
    int32_t (*batch_remove)(struct kvp_engine *engine, uint32_t n,
                            const char *const *keys, int32_t *results);
    /* Object i is the concatenation, in order, of iovs[i][0 ..
     * iov_counts[i]) (0 pieces: an empty object). Zero-copy gather; same put
     * rules as batch_put_from (EXISTS, overwrite, all-or-nothing per item,
     * visible on return). Since 1.1. */
    int32_t (*batch_put_from_iov)(struct kvp_engine *engine, uint32_t n,
                                  const char *const *keys,
                                  const struct kvp_iov *const *iovs,
                                  const uint32_t *iov_counts,
                                  const struct kvp_put_opts *opts,
                                  int32_t *results);
    /* Scatters object i over its pieces in order; results[i] = object
     * size, or KVP_ERR_TOO_SMALL when the pieces' total is smaller (pieces
     * untouched). Bytes of the pieces past the object size are untouched.
     * Since 1.1. */
    int32_t (*batch_get_into_iov)(struct kvp_engine *engine, uint32_t n,
                                  const char *const *keys,
                                  const struct kvp_iov *const *iovs,
                                  const uint32_t *iov_counts,
                                  int64_t *results);
    /* Removes every stored key that starts with prefix ("" = every key) on
     * every server this engine uses; memory under a lease is freed at its
     * release. *removed_p (optional) = number of keys removed. Since 1.1. */
    int32_t (*remove_prefix)(struct kvp_engine *engine, const char *prefix,
                             uint64_t *removed_p);
    /* Fills stats (struct_size set by the host, >= 8). Since 1.1. */
    int32_t (*get_stats)(struct kvp_engine *engine, struct kvp_stats *stats);
    /* ---- end of ABI 1.1; append new slots below, with their minor ---- */
};

/* Size of the table as of ABI 1.0 (a plugin claiming minor 0 provides at
 * least this many bytes). */
#define KVP_OPS_SIZE_V1_0                                                     \
    (offsetof(struct kvp_ops, remove) + sizeof(((struct kvp_ops *)0)->remove))

/* Size of the table as of ABI 1.1. */
#define KVP_OPS_SIZE_V1_1                                                     \
    (offsetof(struct kvp_ops, get_stats) +                                    \
     sizeof(((struct kvp_ops *)0)->get_stats))

/* Largest tp_size a TP put or get accepts (a TP group of one put travels
 * in one protocol frame). Since 1.1 (1.0 plugins: no documented limit). */
#define KVP_TP_SIZE_MAX 16384

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
