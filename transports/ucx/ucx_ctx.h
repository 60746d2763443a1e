/*
 * ucx_ctx.h - the base of the UCX module (libkvplug_ucx.so): one
 * kvp_xport_ctx = one UCP context + one worker, its progress, its
 * counters. Every other ucx_ file builds on this one; it includes none
 * of them.
 *
 * Every UCP call on a ctx is made under ctx->lock (the worker is
 * UCS_THREAD_MODE_SINGLE): that one rule makes ctx-level ops, ep ops on
 * different eps and the server's progress thread safe together, and costs
 * one uncontended mutex per call (measured against UCS_THREAD_MODE_MULTI
 * in tools/ucx_crossover.c, see docs/transports.md).
 */
#ifndef KVP_UCX_CTX_H
#define KVP_UCX_CTX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <ucp/api/ucp.h>

#include "clock.h"
#include "kvp_transport.h"
#include "log.h"

/* Default for the ucx_pack_below option: the extent size below which
 * memcpy into a bounce buffer + one put beats one put per extent
 * (measured with kvplug-ucx-crossover against a UCX-allocated target, as
 * the server's pool is since mem_alloc; docs/transports.md). */
#define UCX_PACK_BELOW_DEFAULT 2048u
/* flush() timeout when neither the call nor the ctx params give one. */
#define UCX_TIMEOUT_DEFAULT_MS 5000u

/* The module's options (ucx_ctx.c ucx_opt_table, docs/transports.md). */
struct ucx_opts {
    char tls[128];       /* ucx_tls: UCX_TLS for this ctx, "" = default */
    uint64_t pack_below; /* ucx_pack_below: 0 = UCX_PACK_BELOW_DEFAULT */
};

/* Something that must outlive the worker (an ep whose completions never
 * came: a late callback may still name it). ucx_ctx_destroy calls
 * release() after the worker is destroyed; the owner layer supplies it. */
struct ucx_deferred {
    struct ucx_deferred *next;
    void (*release)(struct ucx_deferred *d);
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

    /* Released only after the worker is destroyed (guarded by lock). */
    struct ucx_deferred *zombies;

    atomic_uint_fast64_t bytes_written;
    atomic_uint_fast64_t bytes_read;
    atomic_uint_fast64_t bytes_packed;
    atomic_uint_fast64_t ops_posted;
    atomic_uint_fast64_t mapped_copies;
};

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
/* Hands d to ctx, to be released after its worker (takes ctx->lock). */
void ucx_ctx_defer(struct kvp_xport_ctx *ctx, struct ucx_deferred *d);

/* UCX status -> kvplug status for the transport boundary. */
int32_t ucx_status_map(ucs_status_t st);

#endif /* KVP_UCX_CTX_H */
