/*
 * ucx_internal.h - objects of the UCX transport module (libkvplug_ucx.so).
 *
 * One ucx_ctx = one UCP context + one worker. Every UCP call on a ctx is made
 * under ctx->lock (the worker is UCS_THREAD_MODE_SINGLE): that one rule makes
 * ctx-level ops, ep ops on different eps and the server's progress thread
 * safe together, and costs one uncontended mutex per call (measured against
 * UCS_THREAD_MODE_MULTI in tools/ucx_crossover.c, see docs/transports.md).
 */
#ifndef KVP_UCX_INTERNAL_H
#define KVP_UCX_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <ucp/api/ucp.h>

#include "kvp_transport.h"
#include "clock.h"
#include "le.h"
#include "log.h"

/* Default for the ucx_pack_below option: the extent size below which
 * memcpy into a bounce buffer + one put beats one put per extent
 * (measured with kvplug-ucx-crossover against a UCX-allocated target, as
 * the server's pool is since mem_alloc; docs/transports.md). */
#define UCX_PACK_BELOW_DEFAULT 2048u
/* Bounce buffers are registered chunks of this size, one put per chunk. */
#define UCX_BOUNCE_CHUNK (1u << 20)
/* flush() timeout when neither the call nor the ctx params give one. */
#define UCX_TIMEOUT_DEFAULT_MS 5000u
/* How long an ep close may wait for its flush before it is forced. */
#define UCX_CLOSE_WAIT_MS 1000u

/* The module's options (ucx_ctx.c ucx_opt_table, docs/transports.md). */
struct ucx_opts {
    char tls[128];       /* ucx_tls: UCX_TLS for this ctx, "" = default */
    uint64_t pack_below; /* ucx_pack_below: 0 = UCX_PACK_BELOW_DEFAULT */
};

struct kvp_xport_ctx {
    ucp_context_h context;
    ucp_worker_h worker;
    pthread_mutex_t lock; /* guards every UCP call on context/worker */
    uint32_t role;
    uint32_t timeout_ms;
    uint64_t pack_below;
    int use_mapped; /* copy straight into mapped peer regions (default 1) */
    struct kvp_logger log;
    char tls[128]; /* UCX_TLS in use ("" = UCX default), for messages */
    /* UCP_ERR_HANDLING_MODE_PEER only when no shared-memory transport may
     * be used: UCX 1.13's posix/sysv have no peer failure handler, and PEER
     * mode would silently move intra-node traffic to TCP. */
    int peer_err_mode;

    ucp_address_t *addr; /* this worker's address (the blob payload) */
    size_t addr_len;

    /* Server role: a progress thread; it spins briefly, then sleeps on the
     * worker's event fd (or yields, when the fd cannot be armed). */
    pthread_t progress_thread;
    int progress_running;
    atomic_int stop;
    int epfd; /* -1: no event fd, the thread busy-polls */
    atomic_uint_fast64_t progress_sleeps; /* times it blocked in epoll */

    /* eps whose operations never completed after a forced close: a late
     * callback may still name them, so they are freed only after the worker
     * is destroyed (guarded by lock). */
    struct kvp_xport_ep *zombies;

    atomic_uint_fast64_t bytes_written;
    atomic_uint_fast64_t bytes_read;
    atomic_uint_fast64_t bytes_packed;
    atomic_uint_fast64_t ops_posted;
    atomic_uint_fast64_t mapped_copies;
};

struct kvp_xport_mem {
    struct kvp_xport_ctx *ctx;
    ucp_mem_h memh;
    uintptr_t base;
    uint64_t len;
    int allocated; /* by mem_alloc: ucp_mem_unmap also frees it */
};

/* A registered bounce chunk; [0, used) holds packed data of posted puts
 * until the next successful flush. */
struct ucx_bounce {
    struct kvp_xport_mem *mem;
    uint8_t *buf;
    uint64_t used;
};

struct kvp_xport_ep {
    struct kvp_xport_ctx *ctx;
    ucp_ep_h ep;   /* NULL once closed, and for passive eps */
    int connected; /* after ep_connect */
    int passive;   /* made by ep_accept: the target side, no UCP ep */
    /* Guarded by ctx->lock (callbacks run inside progress, under it): */
    uint32_t inflight;      /* posted ops whose completion is pending */
    ucs_status_t first_err; /* first completion / peer error, UCS_OK if none */
    uint32_t n_rkeys;       /* live rkeys unpacked on this ep */
    struct ucx_bounce *bounce;
    uint32_t n_bounce, cap_bounce, cur_bounce;
    struct kvp_xport_ep *next_zombie;
};

struct ucx_warm;

struct kvp_xport_rkey {
    struct kvp_xport_ep *ep;
    ucp_rkey_h rkey;
    uint64_t base; /* remote region, from the packed blob */
    uint64_t len;
    /* The region mapped into this process (shared memory, ucp_rkey_ptr),
     * or NULL: then every write/read goes through UCP. */
    uint8_t *local;
    struct ucx_warm *warm;
};

/* ---- ucx_warm.c --------------------------------------------------------- */
/* Populates this process's mapping [local, local+len) of a peer region and
 * touches every page, the first GiB now and the rest on a thread of its own
 * (see ucx_warm.c). NULL if nothing runs. Stop before the rkey is
 * destroyed. */
struct ucx_warm *ucx_warm_start(struct kvp_xport_ctx *ctx, void *local,
                                uint64_t len);
void ucx_warm_stop(struct ucx_warm *w);

/* ---- ucx_ctx.c ---------------------------------------------------------- */
/* A decimal byte count from env variable `name`: 1 and *v_p set, 0 when
 * unset or empty (*v_p untouched), -1 when it is not a byte count. */
int ucx_env_bytes(const char *name, uint64_t *v_p);

const struct kvp_opt *ucx_opt_table(size_t *n_p);
int32_t ucx_ctx_create(const struct kvp_xport_params *params,
                       struct kvp_xport_ctx **ctx_p);
void ucx_ctx_destroy(struct kvp_xport_ctx *ctx);
int32_t ucx_stats(struct kvp_xport_ctx *ctx, struct kvp_xport_stats *stats);
/* One progress round under the lock; returns ucp_worker_progress(). */
unsigned ucx_ctx_progress(struct kvp_xport_ctx *ctx);
/* Progress until req completes or deadline_ns passes; returns its status,
 * UCS_INPROGRESS on timeout (req still owned by the caller). */
ucs_status_t ucx_wait_req(struct kvp_xport_ctx *ctx, void *req,
                          uint64_t deadline_ns);

/* ---- ucx_mem.c ---------------------------------------------------------- */
int32_t ucx_mem_reg(struct kvp_xport_ctx *ctx, void *ptr, uint64_t len,
                    struct kvp_xport_mem **mem_p);
void ucx_mem_dereg(struct kvp_xport_mem *mem);
int32_t ucx_mem_alloc(struct kvp_xport_ctx *ctx, uint64_t len, void **ptr_p,
                      struct kvp_xport_mem **mem_p);
int32_t ucx_mem_rkey_pack(struct kvp_xport_mem *mem, void *buf, uint32_t cap,
                          uint32_t *len_p);

/* ---- ucx_ep.c ----------------------------------------------------------- */
int32_t ucx_ep_create(struct kvp_xport_ctx *ctx, void *blob, uint32_t cap,
                      uint32_t *len_p, struct kvp_xport_ep **ep_p);
int32_t ucx_ep_accept(struct kvp_xport_ctx *ctx, const void *peer_blob,
                      uint32_t peer_len, void *blob, uint32_t cap,
                      uint32_t *len_p, struct kvp_xport_ep **ep_p);
int32_t ucx_ep_connect(struct kvp_xport_ep *ep, const void *peer_blob,
                       uint32_t peer_len);
void ucx_ep_destroy(struct kvp_xport_ep *ep);
int32_t ucx_rkey_unpack(struct kvp_xport_ep *ep, const void *blob, uint32_t len,
                        struct kvp_xport_rkey **rkey_p);
void ucx_rkey_destroy(struct kvp_xport_rkey *rkey);
/* Closes ep->ep (force when it failed or the flush does not finish in
 * UCX_CLOSE_WAIT_MS); caller holds no lock. */
void ucx_ep_close(struct kvp_xport_ep *ep, int force);

/* ---- ucx_rma.c ---------------------------------------------------------- */
int32_t ucx_write(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                  uint32_t n_iov, struct kvp_xport_mem *lmem, uint64_t raddr,
                  struct kvp_xport_rkey *rkey);
int32_t ucx_read(struct kvp_xport_ep *ep, void *dst, uint64_t len,
                 struct kvp_xport_mem *lmem, uint64_t raddr,
                 struct kvp_xport_rkey *rkey);
int32_t ucx_flush(struct kvp_xport_ep *ep, uint32_t timeout_ms);
/* Releases the bounce chunks of ep (after it is closed). */
void ucx_bounce_release(struct kvp_xport_ep *ep);

/* ---- ucx_blob.c: the wire format of blobs (little-endian) --------------- */
#define UCX_BLOB_MAGIC   0x5850564Bu /* "KVPX" */
#define UCX_BLOB_VERSION 1u
#define UCX_BLOB_ADDR    1u  /* worker address */
#define UCX_BLOB_RKEY    2u  /* base u64, len u64, packed rkey */
#define UCX_BLOB_HDR     12u /* magic u32, version u16, kind u16, payload u32 */
#define UCX_RKEY_HDR     (UCX_BLOB_HDR + 16u)

/* Writes a blob header; the payload follows at UCX_BLOB_HDR. */
void ucx_blob_put_hdr(uint8_t *buf, uint16_t kind, uint32_t payload_len);
/* Checks magic/version/kind and that payload_len fits in len exactly;
 * *payload_len_p set on KVP_OK. Logs what is wrong. */
int32_t ucx_blob_check(const struct kvp_logger *lg, const void *blob,
                       uint32_t len, uint16_t kind, uint32_t *payload_len_p);

/* UCX status -> kvplug status for the transport boundary. */
int32_t ucx_status_map(ucs_status_t st);

#endif /* KVP_UCX_INTERNAL_H */
