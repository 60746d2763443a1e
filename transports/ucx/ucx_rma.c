/* ucx_rma.c - write (gather into consecutive remote addresses), read, and
 * flush. ucp_put_nbx takes one contiguous buffer, so a write of n extents is
 * n puts completed together by flush(); below the measured crossover
 * (ctx->pack_below) the extents are packed into a registered bounce buffer
 * owned by the ep and sent as one put per bounce chunk.
 *
 * When UCX mapped the peer's region into this process (shared memory on
 * one host: rkey->local), a write or read is the memcpy UCX's shm RMA would
 * do, done here: one copy per extent, without a UCP request per extent,
 * which is what a TP shard of thousands of small strided extents needs. */
#include "ucx_rma.h"

#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* Completion of a put/get: runs inside worker progress, under ctx->lock. */
static void op_done_cb(void *req, ucs_status_t st, void *user)
{
    struct kvp_xport_ep *ep = user;
    ep->inflight--;
    if (st != UCS_OK && ep->first_err == UCS_OK)
        ep->first_err = st;
    ucp_request_free(req);
}

/* Posts one put; caller holds ctx->lock. */
static ucs_status_t post_put(struct kvp_xport_ep *ep, const void *buf,
                             uint64_t len, ucp_mem_h memh, uint64_t raddr,
                             ucp_rkey_h rkey)
{
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                        UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_MEMH,
        .cb.send = op_done_cb,
        .user_data = ep,
        .memh = memh,
    };
    void *req = ucp_put_nbx(ep->ep, buf, len, raddr, rkey, &p);
    if (UCS_PTR_IS_ERR(req))
        return UCS_PTR_STATUS(req);
    if (req != NULL)
        ep->inflight++;
    atomic_fetch_add(&ep->ctx->ops_posted, 1);
    return UCS_OK;
}

/* Common checks of write/read: ep usable, rkey of this ep, lmem of this ctx,
 * remote range inside the rkey's region. */
static int32_t rma_check(struct kvp_xport_ep *ep, struct kvp_xport_mem *lmem,
                         uint64_t raddr, uint64_t len, struct kvp_xport_rkey *rkey,
                         const char *op)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    if (rkey == NULL || rkey->ep != ep || lmem == NULL || lmem->ctx != ctx) {
        KVP_LOG_E(&ctx->log, "ucx: %s: rkey %s, lmem %s", op,
                  rkey == NULL     ? "NULL"
                  : rkey->ep != ep ? "of another ep"
                                   : "ok",
                  lmem == NULL       ? "NULL"
                  : lmem->ctx != ctx ? "of another ctx"
                                     : "ok");
        return KVP_ERR_INVALID;
    }
    pthread_mutex_lock(&ctx->lock);
    ucs_status_t err = ep->first_err;
    pthread_mutex_unlock(&ctx->lock);
    if (err != UCS_OK || ep->ep == NULL || !ep->connected) {
        KVP_LOG_E(&ctx->log, "ucx: %s: ep %p is %s", op, (void *)ep,
                  err != UCS_OK ? ucs_status_string(err)
                  : ep->passive ? "an accepted (passive) ep: the client "
                                  "side posts"
                                : "not connected");
        return err != UCS_OK ? KVP_ERR_TRANSPORT : KVP_ERR_INVALID;
    }
    if (raddr < rkey->base || raddr + len < raddr ||
        raddr + len > rkey->base + rkey->len) {
        KVP_LOG_E(&ctx->log,
                  "ucx: %s: remote range %#" PRIx64 " + %" PRIu64
                  " is outside the region %#" PRIx64 " + %" PRIu64,
                  op, raddr, len, rkey->base, rkey->len);
        return KVP_ERR_INVALID;
    }
    return KVP_OK;
}

static int in_mem(const struct kvp_xport_mem *m, const void *p, uint64_t len)
{
    uintptr_t a = (uintptr_t)p;
    return a >= m->base && a + len >= a && a + len <= m->base + m->len;
}

/* Sum of the extents, each checked against lmem; *n_nz = non-empty ones. */
static int32_t iov_total(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                         uint32_t n, const struct kvp_xport_mem *lmem,
                         uint64_t *total_p, uint32_t *n_nz_p)
{
    uint64_t total = 0;
    uint32_t n_nz = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (iov[i].len == 0)
            continue;
        if (iov[i].ptr == NULL || !in_mem(lmem, iov[i].ptr, iov[i].len)) {
            KVP_LOG_E(&ep->ctx->log,
                      "ucx: write: iov[%u] %p + %" PRIu64
                      " is not inside the registered region %#" PRIxPTR
                      " + %" PRIu64,
                      i, iov[i].ptr, iov[i].len, lmem->base, lmem->len);
            return KVP_ERR_NOT_REGISTERED;
        }
        if (total + iov[i].len < total) {
            KVP_LOG_E(&ep->ctx->log, "ucx: write: total length overflows");
            return KVP_ERR_INVALID;
        }
        total += iov[i].len;
        n_nz++;
    }
    *total_p = total;
    *n_nz_p = n_nz;
    return KVP_OK;
}

/* Cursor over the bytes of an iov list. */
struct iov_cursor {
    const struct kvp_xport_iov *iov;
    uint32_t n, i;
    uint64_t off;
};

static void cursor_copy(struct iov_cursor *c, uint8_t *dst, uint64_t len)
{
    while (len > 0 && c->i < c->n) {
        uint64_t left = c->iov[c->i].len - c->off;
        uint64_t take = left < len ? left : len;
        if (take > 0)
            memcpy(dst, (const uint8_t *)c->iov[c->i].ptr + c->off, take);
        dst += take;
        len -= take;
        c->off += take;
        if (c->off == c->iov[c->i].len) {
            c->i++;
            c->off = 0;
        }
    }
}

static int32_t write_packed(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                            uint32_t n, uint64_t total, uint64_t raddr,
                            struct kvp_xport_rkey *rkey)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    struct iov_cursor cur = {iov, n, 0, 0};
    while (total > 0) {
        struct ucx_bounce *b = ucx_bounce_get(&ep->bounce, ctx);
        if (b == NULL) {
            KVP_LOG_E(&ctx->log,
                      "ucx: write: cannot get a %u-byte bounce "
                      "buffer",
                      UCX_BOUNCE_CHUNK);
            return KVP_ERR_NO_MEMORY;
        }
        uint64_t room = UCX_BOUNCE_CHUNK - b->used;
        uint64_t take = room < total ? room : total;
        uint8_t *dst = b->buf + b->used;
        cursor_copy(&cur, dst, take);
        b->used += take;
        pthread_mutex_lock(&ctx->lock);
        ucs_status_t st =
            post_put(ep, dst, take, b->mem->memh, raddr, rkey->rkey);
        pthread_mutex_unlock(&ctx->lock);
        if (st != UCS_OK) {
            KVP_LOG_E(&ctx->log,
                      "ucx: write: ucp_put_nbx (packed, %" PRIu64 " B): %s",
                      take, ucs_status_string(st));
            return KVP_ERR_TRANSPORT;
        }
        atomic_fetch_add(&ctx->bytes_packed, take);
        raddr += take;
        total -= take;
    }
    return KVP_OK;
}

static int32_t write_direct(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                            uint32_t n, struct kvp_xport_mem *lmem, uint64_t raddr,
                            struct kvp_xport_rkey *rkey)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    ucs_status_t st = UCS_OK;
    uint32_t i;
    pthread_mutex_lock(&ctx->lock);
    for (i = 0; i < n && st == UCS_OK; i++) {
        if (iov[i].len == 0)
            continue;
        st =
            post_put(ep, iov[i].ptr, iov[i].len, lmem->memh, raddr, rkey->rkey);
        raddr += iov[i].len;
    }
    pthread_mutex_unlock(&ctx->lock);
    if (st != UCS_OK) {
        KVP_LOG_E(&ctx->log, "ucx: write: ucp_put_nbx of iov[%u]: %s", i - 1,
                  ucs_status_string(st));
        return KVP_ERR_TRANSPORT;
    }
    return KVP_OK;
}

/* Copies the extents into the mapped region; complete on return. */
static void write_mapped(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                         uint32_t n, uint64_t raddr, struct kvp_xport_rkey *rkey)
{
    uint8_t *dst = rkey->local + (raddr - rkey->base);
    for (uint32_t i = 0; i < n; i++) {
        if (iov[i].len == 0)
            continue;
        memcpy(dst, iov[i].ptr, iov[i].len);
        dst += iov[i].len;
    }
    /* the object becomes visible by a control message sent after this */
    atomic_thread_fence(memory_order_release);
    atomic_fetch_add(&ep->ctx->mapped_copies, 1);
}

int32_t ucx_write(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                  uint32_t n_iov, struct kvp_xport_mem *lmem, uint64_t raddr,
                  struct kvp_xport_rkey *rkey)
{
    if (ep == NULL || (iov == NULL && n_iov > 0)) {
        kvp_logf(ep ? &ep->ctx->log : NULL, KVP_LOG_ERROR,
                 "ucx: write: ep or iov is NULL");
        return KVP_ERR_INVALID;
    }
    uint64_t total = 0;
    uint32_t n_nz = 0;
    if (lmem == NULL || lmem->ctx != ep->ctx) {
        KVP_LOG_E(&ep->ctx->log, "ucx: write: lmem is %s",
                  lmem ? "registered on another ctx" : "NULL");
        return KVP_ERR_INVALID;
    }
    int32_t status = iov_total(ep, iov, n_iov, lmem, &total, &n_nz);
    if (status != KVP_OK)
        return status;
    status = rma_check(ep, lmem, raddr, total, rkey, "write");
    if (status != KVP_OK || total == 0)
        return status;
    /* One extent is one put either way: packing only pays when it turns
     * many small puts into few. */
    if (rkey->local != NULL)
        write_mapped(ep, iov, n_iov, raddr, rkey);
    else if (n_nz > 1 && total / n_nz < ep->ctx->pack_below)
        status = write_packed(ep, iov, n_iov, total, raddr, rkey);
    else
        status = write_direct(ep, iov, n_iov, lmem, raddr, rkey);
    if (status == KVP_OK)
        atomic_fetch_add(&ep->ctx->bytes_written, total);
    return status;
}

int32_t ucx_read(struct kvp_xport_ep *ep, void *dst, uint64_t len,
                 struct kvp_xport_mem *lmem, uint64_t raddr,
                 struct kvp_xport_rkey *rkey)
{
    if (ep == NULL || lmem == NULL) {
        kvp_logf(ep ? &ep->ctx->log : NULL, KVP_LOG_ERROR,
                 "ucx: read: ep or lmem is NULL");
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_ctx *ctx = ep->ctx;
    if (len > 0 && (dst == NULL || !in_mem(lmem, dst, len))) {
        KVP_LOG_E(&ctx->log,
                  "ucx: read: dst %p + %" PRIu64 " is not inside "
                  "the registered region %#" PRIxPTR " + %" PRIu64,
                  dst, len, lmem->base, lmem->len);
        return KVP_ERR_NOT_REGISTERED;
    }
    int32_t status = rma_check(ep, lmem, raddr, len, rkey, "read");
    if (status != KVP_OK || len == 0)
        return status;
    if (rkey->local != NULL) {
        atomic_thread_fence(memory_order_acquire); /* after the LOOKUP */
        memcpy(dst, rkey->local + (raddr - rkey->base), len);
        atomic_fetch_add(&ctx->mapped_copies, 1);
        atomic_fetch_add(&ctx->bytes_read, len);
        return KVP_OK;
    }
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
                        UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_MEMH,
        .cb.send = op_done_cb,
        .user_data = ep,
        .memh = lmem->memh,
    };
    pthread_mutex_lock(&ctx->lock);
    void *req = ucp_get_nbx(ep->ep, dst, len, raddr, rkey->rkey, &p);
    if (!UCS_PTR_IS_ERR(req) && req != NULL)
        ep->inflight++;
    pthread_mutex_unlock(&ctx->lock);
    if (UCS_PTR_IS_ERR(req)) {
        KVP_LOG_E(&ctx->log, "ucx: read: ucp_get_nbx %" PRIu64 " B: %s", len,
                  ucs_status_string(UCS_PTR_STATUS(req)));
        return KVP_ERR_TRANSPORT;
    }
    atomic_fetch_add(&ctx->ops_posted, 1);
    atomic_fetch_add(&ctx->bytes_read, len);
    return KVP_OK;
}

/* After a timeout or a failure: cancel what is left, close the ep so UCX
 * releases the caller's buffers, and remember why. */
static void flush_abort(struct kvp_xport_ep *ep, void *req, ucs_status_t why)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    pthread_mutex_lock(&ctx->lock);
    if (req != NULL)
        ucp_request_cancel(ctx->worker, req);
    if (ep->first_err == UCS_OK)
        ep->first_err = why;
    pthread_mutex_unlock(&ctx->lock);
    ucx_ep_close(ep, 1);
}

int32_t ucx_flush(struct kvp_xport_ep *ep, uint32_t timeout_ms)
{
    if (ep == NULL) {
        kvp_logf(NULL, KVP_LOG_ERROR, "ucx: flush: ep is NULL");
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_ctx *ctx = ep->ctx;
    if (ep->passive)
        return KVP_OK; /* nothing is ever posted on it */
    if (ep->ep == NULL) {
        KVP_LOG_E(&ctx->log, "ucx: flush: ep %p is %s", (void *)ep,
                  ep->first_err != UCS_OK ? "closed after an error"
                                          : "not connected");
        return ep->first_err != UCS_OK ? KVP_ERR_TRANSPORT : KVP_ERR_INVALID;
    }
    uint32_t ms = timeout_ms ? timeout_ms : ctx->timeout_ms;
    uint64_t deadline = kvp_now_ns() + (uint64_t)ms * 1000000ull;
    ucp_request_param_t p = {.op_attr_mask = 0};
    pthread_mutex_lock(&ctx->lock);
    void *req = ep->first_err == UCS_OK ? ucp_ep_flush_nbx(ep->ep, &p) : NULL;
    pthread_mutex_unlock(&ctx->lock);
    if (UCS_PTR_IS_ERR(req)) {
        KVP_LOG_E(&ctx->log, "ucx: flush: ucp_ep_flush_nbx: %s",
                  ucs_status_string(UCS_PTR_STATUS(req)));
        flush_abort(ep, NULL, UCS_PTR_STATUS(req));
        return KVP_ERR_TRANSPORT;
    }
    for (;;) {
        pthread_mutex_lock(&ctx->lock);
        unsigned n = ucp_worker_progress(ctx->worker);
        ucs_status_t fst = req ? ucp_request_check_status(req) : UCS_OK;
        uint32_t inflight = ep->inflight;
        ucs_status_t err = ep->first_err;
        pthread_mutex_unlock(&ctx->lock);
        if (err == UCS_OK && fst != UCS_INPROGRESS && fst != UCS_OK)
            err = fst;
        if (err != UCS_OK) {
            KVP_LOG_E(&ctx->log, "ucx: flush: ep %p failed: %s", (void *)ep,
                      ucs_status_string(err));
            flush_abort(ep, req, err);
            break;
        }
        if (fst == UCS_OK && inflight == 0) {
            if (req != NULL) {
                pthread_mutex_lock(&ctx->lock);
                ucp_request_free(req);
                pthread_mutex_unlock(&ctx->lock);
            }
            ucx_bounce_reset(&ep->bounce);
            return KVP_OK;
        }
        if (kvp_now_ns() >= deadline) {
            KVP_LOG_E(&ctx->log,
                      "ucx: flush: ep %p: %u operations not "
                      "complete after %u ms; the ep is closed",
                      (void *)ep, inflight, ms);
            flush_abort(ep, req, UCS_ERR_TIMED_OUT);
            break;
        }
        if (n == 0)
            sched_yield();
    }
    if (req != NULL) {
        pthread_mutex_lock(&ctx->lock);
        ucp_request_free(req);
        pthread_mutex_unlock(&ctx->lock);
    }
    return ep->first_err == UCS_ERR_TIMED_OUT ? KVP_ERR_TIMEOUT
                                              : KVP_ERR_TRANSPORT;
}
