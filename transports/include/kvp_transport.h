/*
 * kvp_transport.h - the PRIVATE ops table between libkvplug.so / kvplug-server
 * and a transport module (libkvplug_ucx.so, libkvplug_verbs.so).
 *
 * Versioned separately from the public ABI: a module exports
 *     const struct kvp_transport_ops *kvp_transport_get_ops_v1(void);
 * (the symbol names the lookup, not the table's version) and the loader
 * refuses a module whose `version` differs from KVP_TRANSPORT_OPS_VERSION
 * or whose struct_size is smaller than ours. Fields are appended; a change
 * to an existing field, or to struct kvp_opt (common/options.h), whose
 * tables modules hand out, bumps the version (docs/transports.md
 * "Versions of this table").
 *
 * Options: a module owns its settings. It declares them in a table
 * (opt_table, common/options.h); the core hands it the `key=value` pairs
 * of the config (or the server's flags) that its table names, in
 * kvp_xport_params.opts, and the module parses them itself in ctx_create.
 *
 * Model: one-sided RMA. A server registers its pool (mem_reg) and hands the
 * packed rkey (mem_rkey_pack) plus the pool's base address to clients over
 * the control channel. A connection is set up by exchanging opaque blobs
 * over the control channel:
 *     client: ep_create()  -> client blob  --CONNECT-->  server
 *     server: ep_accept(client blob) -> server blob --reply--> client
 *     client: ep_connect(server blob)
 * Then the client posts write()/read() on its ep and waits with flush().
 * A module may offer mem_alloc (memory it allocates itself, the best RMA
 * target it can serve); the server then allocates its pool with it.
 *
 * Threads: every op may be called from any thread. ctx-level ops (mem_reg,
 * mem_dereg, ep_create, ep_accept) may run concurrently with each other and
 * with ep ops on other eps; ops on ONE ep are serialised by the caller.
 * A module that needs remote progress (UCX shm) runs its own progress thread
 * in a KVP_XPORT_ROLE_SERVER ctx.
 *
 * Status codes are the public kvplug ones (kvplug/status.h).
 */
#ifndef KVP_TRANSPORT_H
#define KVP_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kvplug/abi.h"
#include "kvplug/status.h"
#include "log.h"
#include "module.h"
#include "options.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_TRANSPORT_OPS_VERSION 2
#define KVP_TRANSPORT_ENTRY_SYMBOL "kvp_transport_get_ops_v1"

#define KVP_XPORT_ROLE_CLIENT 0
#define KVP_XPORT_ROLE_SERVER 1

/* Max size of any blob (rkey, connect info) a module produces. */
#define KVP_XPORT_BLOB_MAX 4096

struct kvp_xport_ctx;  /* module context: device / UCP context + worker */
struct kvp_xport_mem;  /* a registered memory region */
struct kvp_xport_ep;   /* one connection to one peer */
struct kvp_xport_rkey; /* a peer's region, unpacked for one ep */

/* What every module gets; its own settings come as opts. Module logger:
 * same contract as the host logger (kvp_log_fn). */
struct kvp_xport_params {
    uint32_t struct_size;
    uint32_t role;          /* KVP_XPORT_ROLE_* */
    uint32_t timeout_ms;    /* default timeout for flush() */
    int32_t log_level;      /* KVP_LOG_*: messages above it are dropped */
    kvp_log_fn log;         /* never NULL */
    void *log_user;
    /* The module's own options, "key=value" strings (n_opts of them, in
     * the order given; a later key wins), each a key of its opt_table.
     * ctx_create refuses an unknown key or a bad value (KVP_ERR_INVALID,
     * the message names the module, the key and the accepted values). */
    const char *const *opts;
    uint32_t n_opts;
    /* Appended (read only if struct_size covers it): the host whose
     * interface every listener of the module is bound to (the server's
     * --listen host). NULL or a wildcard address (0.0.0.0, ::) = no
     * restriction. UCX: its TCP transport listens only on that
     * interface (docs/operations.md "What a server listens on"). */
    const char *bind_host;
};

/* The smallest params a v2 module accepts (fields may be appended). */
#define KVP_XPORT_PARAMS_MIN_SIZE                                              \
    (offsetof(struct kvp_xport_params, n_opts) + sizeof(uint32_t))

/* A contiguous piece of local memory. */
struct kvp_xport_iov {
    const void *ptr;
    uint64_t len;
};

/* Counters a module keeps (monotonic, per ctx). */
struct kvp_xport_stats {
    uint32_t struct_size;
    uint32_t reserved;
    uint64_t bytes_written;  /* bytes posted by write() */
    uint64_t bytes_read;     /* bytes posted by read() */
    uint64_t bytes_packed;   /* bytes copied into bounce buffers */
    uint64_t ops_posted;     /* RMA operations handed to the hardware/UCX */
    /* appended: filled when struct_size covers it */
    uint64_t mapped_copies;  /* writes/reads done as a memcpy into a peer
                              * region mapped into this process */
};

struct kvp_transport_ops {
    uint32_t struct_size;
    uint32_t version; /* KVP_TRANSPORT_OPS_VERSION */
    const char *name; /* "ucx", "verbs" */

    /* KVP_ERR_NO_DEVICE when no usable device exists (message lists what
     * was found). *ctx_p set only on KVP_OK. */
    int32_t (*ctx_create)(const struct kvp_xport_params *params,
                          struct kvp_xport_ctx **ctx_p);
    void (*ctx_destroy)(struct kvp_xport_ctx *ctx);

    /* Register [ptr, ptr+len) for local use in write()/read() and as a
     * remote target. */
    int32_t (*mem_reg)(struct kvp_xport_ctx *ctx, void *ptr, uint64_t len,
                       struct kvp_xport_mem **mem_p);
    void (*mem_dereg)(struct kvp_xport_mem *mem);
    /* Pack the rkey of mem into buf (cap bytes); *len_p = used bytes. */
    int32_t (*mem_rkey_pack)(struct kvp_xport_mem *mem, void *buf, uint32_t cap,
                             uint32_t *len_p);

    /* Client: new ep, not yet connected; writes the client blob. */
    int32_t (*ep_create)(struct kvp_xport_ctx *ctx, void *blob, uint32_t cap,
                         uint32_t *len_p, struct kvp_xport_ep **ep_p);
    /* Server: accept a client blob, write the server blob, new ep. */
    int32_t (*ep_accept)(struct kvp_xport_ctx *ctx, const void *peer_blob,
                         uint32_t peer_len, void *blob, uint32_t cap,
                         uint32_t *len_p, struct kvp_xport_ep **ep_p);
    /* Client: finish the connection with the server blob. */
    int32_t (*ep_connect)(struct kvp_xport_ep *ep, const void *peer_blob,
                          uint32_t peer_len);
    void (*ep_destroy)(struct kvp_xport_ep *ep);

    int32_t (*rkey_unpack)(struct kvp_xport_ep *ep, const void *blob,
                           uint32_t len, struct kvp_xport_rkey **rkey_p);
    void (*rkey_destroy)(struct kvp_xport_rkey *rkey);

    /* Post: gather iov[0..n) (all inside lmem) into the remote range
     * [raddr, raddr + sum(len)) in order. Completes at flush(). iov and the
     * array are borrowed until flush() returns. */
    int32_t (*write)(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                     uint32_t n_iov, struct kvp_xport_mem *lmem, uint64_t raddr,
                     struct kvp_xport_rkey *rkey);
    /* Post: read [raddr, raddr+len) into dst (inside lmem). */
    int32_t (*read)(struct kvp_xport_ep *ep, void *dst, uint64_t len,
                    struct kvp_xport_mem *lmem, uint64_t raddr,
                    struct kvp_xport_rkey *rkey);
    /* Wait until every op posted on ep completed. KVP_OK, KVP_ERR_TIMEOUT
     * (timeout_ms, 0 = ctx default), KVP_ERR_TRANSPORT (the first completion
     * error; the ep may be unusable afterwards). */
    int32_t (*flush)(struct kvp_xport_ep *ep, uint32_t timeout_ms);

    /* Counters; stats->struct_size set by the caller. */
    int32_t (*stats)(struct kvp_xport_ctx *ctx, struct kvp_xport_stats *stats);

    /* Added after v1 (optional, NULL = not offered): allocate len bytes of
     * memory that this transport serves best as an RMA target and register
     * it; *ptr_p = its address. UCX: ucp_mem_map(ALLOCATE), i.e. shared
     * memory a peer on this host maps, so a put/get is one memcpy by the
     * initiator and the target does nothing (memory the caller mmap()ed is
     * reached over shm only by emulating RMA with messages). The memory is
     * not pre-faulted. mem_dereg(*mem_p) frees it. */
    int32_t (*mem_alloc)(struct kvp_xport_ctx *ctx, uint64_t len, void **ptr_p,
                         struct kvp_xport_mem **mem_p);

    /* Added in v2 (NULL = the module takes no options): the module's
     * option table, *n_p entries (static; the module is never unloaded).
     * The core reads it to route `key=value` pairs to the module that
     * names them, to check a value before starting anything, to list the
     * valid keys in errors and to print --help; the values' meaning is the
     * module's own. */
    const struct kvp_opt *(*opt_table)(size_t *n_p);
};

typedef const struct kvp_transport_ops *(*kvp_transport_get_ops_fn)(void);

/* Loads libkvplug_<name>.so (common/module.h search order) and checks its
 * ops table: KVP_ERR_ABI_MISMATCH on another version or a smaller table. */
static inline int32_t xport_module_load(const char *name,
                                        const struct kvp_logger *lg,
                                        const struct kvp_transport_ops **ops_p)
{
    void *sym = NULL;
    int32_t st = kvp_module_open("transport", name,
                                 KVP_TRANSPORT_ENTRY_SYMBOL, lg, &sym);
    if (st != KVP_OK)
        return st;
    kvp_transport_get_ops_fn get;
    *(void **)&get = sym;
    const struct kvp_transport_ops *ops = get();
    if (ops == NULL || ops->version != KVP_TRANSPORT_OPS_VERSION ||
        ops->struct_size < sizeof(struct kvp_transport_ops)) {
        KVP_LOG_E(lg,
                  "transport module '%s': ops version %u size %u, expected "
                  "version %u size >= %zu; rebuild the module with this "
                  "kvplug",
                  name, ops ? ops->version : 0, ops ? ops->struct_size : 0,
                  KVP_TRANSPORT_OPS_VERSION, sizeof(struct kvp_transport_ops));
        return KVP_ERR_ABI_MISMATCH;
    }
    *ops_p = ops;
    return KVP_OK;
}

/* For a transport name that is no module but names a way UCX can run
 * ("tcp", "shm"): "; for UCX over TCP use --ucx-tls tcp" (the option in
 * style) into buf; "" for any other name. */
static inline void xport_name_hint(const char *name, enum kvp_opt_style style,
                                   char *buf, size_t cap)
{
    const char *what = NULL, *tls = NULL;
    if (strcmp(name, "tcp") == 0) {
        what = "TCP";
        tls = "tcp";
    } else if (strcmp(name, "shm") == 0) {
        what = "shared memory";
        tls = "self,sysv,posix";
    }
    if (cap > 0)
        buf[0] = '\0';
    if (what == NULL)
        return;
    char label[32];
    kvp_opt_label("ucx_tls", style, label, sizeof(label));
    snprintf(buf, cap, "; for UCX over %s use %s%s%s", what, label,
             style == KVP_OPT_FLAGS ? " " : "=", tls);
}

/* The module's options as the router sees them (common/options.h). */
static inline void xport_module_opts(const struct kvp_transport_ops *ops,
                                     struct kvp_opt_module *m)
{
    m->name = ops->name;
    m->t = NULL;
    m->n = 0;
    if (ops->opt_table != NULL)
        m->t = ops->opt_table(&m->n);
}

#ifdef __cplusplus
}
#endif

#endif /* KVP_TRANSPORT_H */
