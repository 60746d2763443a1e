/*
 * verbs_post.c - the data path: RDMA WRITE gathered from iov lists, RDMA
 * READ, selective signalling and flush().
 *
 * Each WR gets the next per-ep sequence number as wr_id. A WR is signalled
 * when it is the last one of a write()/read() call, or when signal_every
 * WRs went by without one, so a full send queue always holds a signalled
 * WR whose completion frees space. One SQ completes in order, so a CQE for
 * sequence s (success, or the error/flush CQE every failed WR produces)
 * retires all WRs up to s: done_seq is the whole bookkeeping.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <string.h>

#include "clock.h"
#include "verbs_int.h"

#define POLL_BATCH 16

static uint64_t deadline_after(uint32_t timeout_ms)
{
    return kvp_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* Marks the ep unusable (first cause wins) and flushes the SQ. */
static void ep_fail(struct kvp_xport_ep *ep, int32_t status)
{
    if (ep->fail_status != KVP_OK)
        return;
    ep->fail_status = status;
    verbs_qp_to_error(ep);
}

static const char *wc_opcode_name(enum ibv_wc_opcode op)
{
    switch (op) {
    case IBV_WC_RDMA_WRITE:
        return "RDMA WRITE";
    case IBV_WC_RDMA_READ:
        return "RDMA READ";
    default:
        return "WR";
    }
}

/* Polls once; returns the number of CQEs seen, or -1 if polling failed. */
static int ep_poll(struct kvp_xport_ep *ep)
{
    struct ibv_wc wc[POLL_BATCH];
    int n = ibv_poll_cq(ep->cq, POLL_BATCH, wc);
    if (n < 0) {
        KVP_LOG_E(&ep->ctx->lg, "verbs: ibv_poll_cq on %s qpn %u failed",
                  ep->ctx->dev_name, ep->qp->qp_num);
        ep_fail(ep, KVP_ERR_TRANSPORT);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (wc[i].wr_id > ep->done_seq)
            ep->done_seq = wc[i].wr_id;
        if (wc[i].status == IBV_WC_SUCCESS)
            continue;
        if (ep->fail_status == KVP_OK) {
            /* Only the first error is the cause; later ones are the
             * WR_FLUSH_ERR completions it provokes. */
            KVP_LOG_E(&ep->ctx->lg,
                      "verbs: %s completion failed on %s qpn %u -> peer qpn "
                      "%u: %s (status %d, vendor_err 0x%x)",
                      wc_opcode_name(wc[i].opcode), ep->ctx->dev_name,
                      ep->qp->qp_num, ep->peer.qpn,
                      ibv_wc_status_str(wc[i].status), (int)wc[i].status,
                      wc[i].vendor_err);
            ep_fail(ep, KVP_ERR_TRANSPORT);
        } else {
            KVP_LOG_D(&ep->ctx->lg, "verbs: qpn %u: then %s", ep->qp->qp_num,
                      ibv_wc_status_str(wc[i].status));
        }
    }
    return n;
}

/* Polls until done_seq >= target or the deadline. KVP_OK or
 * KVP_ERR_TIMEOUT; the caller checks ep->fail_status. */
static int32_t ep_wait(struct kvp_xport_ep *ep, uint64_t target, uint64_t deadline)
{
    unsigned idle = 0;
    while (ep->done_seq < target) {
        int n = ep_poll(ep);
        if (n < 0)
            return KVP_ERR_TRANSPORT;
        if (n > 0) {
            idle = 0;
            continue;
        }
        if (++idle % 64 == 0) {
            if (kvp_now_ns() >= deadline)
                return KVP_ERR_TIMEOUT;
            sched_yield();
        }
    }
    return KVP_OK;
}

/* Hands the batch to the QP. On failure the ep fails; WRs the QP took are
 * flushed by the move to ERROR and accounted through their CQEs. */
static int32_t ep_post_batch(struct kvp_xport_ep *ep)
{
    if (ep->n_batch == 0)
        return KVP_OK;
    for (uint32_t i = 0; i + 1 < ep->n_batch; i++)
        ep->wrs[i].next = &ep->wrs[i + 1];
    ep->wrs[ep->n_batch - 1].next = NULL;
    struct ibv_send_wr *bad = NULL;
    int rc = ibv_post_send(ep->qp, &ep->wrs[0], &bad);
    uint32_t posted = ep->n_batch;
    if (rc != 0)
        posted = bad != NULL ? (uint32_t)(bad - ep->wrs) : 0;
    if (posted > 0)
        ep->posted_seq = ep->wrs[posted - 1].wr_id;
    atomic_fetch_add_explicit(&ep->ctx->ops_posted, posted,
                              memory_order_relaxed);
    ep->n_batch = 0;
    if (rc != 0) {
        KVP_LOG_E(&ep->ctx->lg,
                  "verbs: ibv_post_send on %s qpn %u failed after %u of the "
                  "batch's WRs: %s",
                  ep->ctx->dev_name, ep->qp->qp_num, posted, strerror(rc));
        ep->next_seq = ep->posted_seq + 1;
        ep_fail(ep, KVP_ERR_TRANSPORT);
        return KVP_ERR_TRANSPORT;
    }
    return KVP_OK;
}

/* Returns the batch slot for the next WR, waiting for send-queue room
 * first (bounded by the ctx timeout). */
static int32_t ep_reserve(struct kvp_xport_ep *ep, uint32_t *slot_p)
{
    if (ep->next_seq - 1 - ep->done_seq >= ep->sq_depth) {
        int32_t st = ep_post_batch(ep);
        if (st != KVP_OK)
            return st;
        /* Room for one: the oldest signalled WR among the in-flight ones
         * retires at least one slot. */
        uint64_t target = ep->next_seq - ep->sq_depth;
        st = ep_wait(ep, target, deadline_after(ep->ctx->timeout_ms));
        if (ep->fail_status != KVP_OK)
            return ep->fail_status;
        if (st == KVP_ERR_TIMEOUT) {
            KVP_LOG_E(&ep->ctx->lg,
                      "verbs: %s qpn %u: send queue full for %u ms "
                      "(%" PRIu64 " WRs in flight)",
                      ep->ctx->dev_name, ep->qp->qp_num, ep->ctx->timeout_ms,
                      ep->posted_seq - ep->done_seq);
            ep_fail(ep, KVP_ERR_TIMEOUT);
            return KVP_ERR_TIMEOUT;
        }
    }
    *slot_p = ep->n_batch;
    return KVP_OK;
}

/* Seals the WR in the reserved slot; posts the batch when it is full or
 * when this is the call's last WR. */
static int32_t ep_commit(struct kvp_xport_ep *ep, int last_of_call)
{
    struct ibv_send_wr *wr = &ep->wrs[ep->n_batch];
    wr->wr_id = ep->next_seq++;
    if (last_of_call || wr->wr_id - ep->last_sig_seq >= ep->signal_every) {
        wr->send_flags |= IBV_SEND_SIGNALED;
        ep->last_sig_seq = wr->wr_id;
    }
    ep->n_batch++;
    if (last_of_call || ep->n_batch == VERBS_BATCH)
        return ep_post_batch(ep);
    return KVP_OK;
}

/* Common argument checks of write() and read(). */
static int32_t ep_check_usable(struct kvp_xport_ep *ep, struct kvp_xport_mem *lmem,
                               struct kvp_xport_rkey *rkey, const char *what)
{
    if (!ep->connected) {
        KVP_LOG_E(&ep->ctx->lg, "verbs: %s on an ep that is not connected",
                  what);
        return KVP_ERR_INVALID;
    }
    if (ep->fail_status != KVP_OK) {
        KVP_LOG_E(&ep->ctx->lg,
                  "verbs: %s on %s qpn %u refused: the ep failed earlier "
                  "(reconnect)",
                  what, ep->ctx->dev_name, ep->qp->qp_num);
        return KVP_ERR_TRANSPORT;
    }
    if (lmem == NULL || lmem->ctx != ep->ctx) {
        KVP_LOG_E(&ep->ctx->lg,
                  "verbs: %s: lmem is NULL or registered on another ctx", what);
        return KVP_ERR_INVALID;
    }
    if (rkey == NULL || rkey->ep != ep) {
        KVP_LOG_E(&ep->ctx->lg,
                  "verbs: %s: rkey is NULL or was unpacked for another ep",
                  what);
        return KVP_ERR_INVALID;
    }
    return KVP_OK;
}

/* [raddr, raddr+len) must lie inside the peer's region. */
static int32_t rkey_check_range(struct kvp_xport_ep *ep,
                                const struct kvp_xport_rkey *rkey, uint64_t raddr,
                                uint64_t len, const char *what)
{
    if (raddr < rkey->addr || raddr - rkey->addr > rkey->len ||
        len > rkey->len - (raddr - rkey->addr)) {
        KVP_LOG_E(&ep->ctx->lg,
                  "verbs: %s: remote range [0x%" PRIx64 ", +%" PRIu64
                  ") is outside the peer region [0x%" PRIx64 ", +%" PRIu64 ")",
                  what, raddr, len, rkey->addr, rkey->len);
        return KVP_ERR_INVALID;
    }
    return KVP_OK;
}

static int mem_contains(const struct kvp_xport_mem *m, const void *p, uint64_t n)
{
    uint64_t a = (uint64_t)(uintptr_t)p;
    return a >= m->addr && a - m->addr <= m->len && n <= m->len - (a - m->addr);
}

int32_t verbs_post_write(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                         uint32_t n_iov, struct kvp_xport_mem *lmem,
                         uint64_t raddr, struct kvp_xport_rkey *rkey)
{
    int32_t st = ep_check_usable(ep, lmem, rkey, "write");
    if (st != KVP_OK)
        return st;
    uint64_t total = 0;
    if (n_iov > 0 && iov == NULL) {
        KVP_LOG_E(&ep->ctx->lg, "verbs: write: iov is NULL, n_iov %u", n_iov);
        return KVP_ERR_INVALID;
    }
    if (verbs_iov_total(iov, n_iov, &total) != 0) {
        KVP_LOG_E(&ep->ctx->lg, "verbs: write: iov lengths overflow 64 bits");
        return KVP_ERR_INVALID;
    }
    for (uint32_t i = 0; i < n_iov; i++) {
        if (iov[i].len > 0 && !mem_contains(lmem, iov[i].ptr, iov[i].len)) {
            KVP_LOG_E(&ep->ctx->lg,
                      "verbs: write: iov[%u] [%p, +%" PRIu64
                      ") is not inside the local region [0x%" PRIx64
                      ", +%" PRIu64 ")",
                      i, iov[i].ptr, iov[i].len, lmem->addr, lmem->len);
            return KVP_ERR_NOT_REGISTERED;
        }
    }
    st = rkey_check_range(ep, rkey, raddr, total, "write");
    if (st != KVP_OK || total == 0)
        return st;

    struct verbs_plan plan;
    verbs_plan_init(&plan, iov, n_iov, ep->max_sge, ep->ctx->max_msg);
    for (;;) {
        uint32_t slot;
        st = ep_reserve(ep, &slot);
        if (st != KVP_OK)
            return st;
        uint64_t roff = 0, len = 0;
        uint32_t n = verbs_plan_next(&plan, ep->pieces, &roff, &len);
        if (n == 0)
            break; /* unreachable: total > 0 and the loop ends on done */
        struct ibv_sge *sge = &ep->sges[(size_t)slot * ep->max_sge];
        for (uint32_t i = 0; i < n; i++) {
            sge[i].addr = ep->pieces[i].addr;
            sge[i].length = ep->pieces[i].len;
            sge[i].lkey = lmem->mr->lkey;
        }
        struct ibv_send_wr *wr = &ep->wrs[slot];
        memset(wr, 0, sizeof(*wr));
        wr->opcode = IBV_WR_RDMA_WRITE;
        wr->sg_list = sge;
        wr->num_sge = (int)n;
        wr->wr.rdma.remote_addr = raddr + roff;
        wr->wr.rdma.rkey = rkey->rkey;
        /* Small whole writes go inline: the CPU copies them into the WQE,
         * the HCA skips one DMA read of host memory. */
        if (roff == 0 && len == total && total <= ep->max_inline)
            wr->send_flags = IBV_SEND_INLINE;
        int last = verbs_plan_done(&plan);
        st = ep_commit(ep, last);
        if (st != KVP_OK)
            return st;
        if (last)
            break;
    }
    atomic_fetch_add_explicit(&ep->ctx->bytes_written, total,
                              memory_order_relaxed);
    return KVP_OK;
}

int32_t verbs_post_read(struct kvp_xport_ep *ep, void *dst, uint64_t len,
                        struct kvp_xport_mem *lmem, uint64_t raddr,
                        struct kvp_xport_rkey *rkey)
{
    int32_t st = ep_check_usable(ep, lmem, rkey, "read");
    if (st != KVP_OK)
        return st;
    if (len == 0)
        return KVP_OK;
    if (dst == NULL || !mem_contains(lmem, dst, len)) {
        KVP_LOG_E(&ep->ctx->lg,
                  "verbs: read: dst [%p, +%" PRIu64
                  ") is not inside the local region [0x%" PRIx64 ", +%" PRIu64
                  ")",
                  dst, len, lmem->addr, lmem->len);
        return KVP_ERR_NOT_REGISTERED;
    }
    st = rkey_check_range(ep, rkey, raddr, len, "read");
    if (st != KVP_OK)
        return st;
    uint64_t off = 0;
    while (off < len) {
        uint32_t slot;
        st = ep_reserve(ep, &slot);
        if (st != KVP_OK)
            return st;
        uint64_t chunk = len - off;
        if (chunk > ep->ctx->max_msg)
            chunk = ep->ctx->max_msg;
        struct ibv_sge *sge = &ep->sges[(size_t)slot * ep->max_sge];
        sge->addr = (uint64_t)(uintptr_t)dst + off;
        sge->length = (uint32_t)chunk;
        sge->lkey = lmem->mr->lkey;
        struct ibv_send_wr *wr = &ep->wrs[slot];
        memset(wr, 0, sizeof(*wr));
        wr->opcode = IBV_WR_RDMA_READ;
        wr->sg_list = sge;
        wr->num_sge = 1;
        wr->wr.rdma.remote_addr = raddr + off;
        wr->wr.rdma.rkey = rkey->rkey;
        off += chunk;
        st = ep_commit(ep, off == len);
        if (st != KVP_OK)
            return st;
    }
    atomic_fetch_add_explicit(&ep->ctx->bytes_read, len, memory_order_relaxed);
    return KVP_OK;
}

int32_t verbs_ep_flush(struct kvp_xport_ep *ep, uint32_t timeout_ms)
{
    if (timeout_ms == 0)
        timeout_ms = ep->ctx->timeout_ms;
    if (ep->qp == NULL || !ep->connected) {
        KVP_LOG_E(&ep->ctx->lg, "verbs: flush on an ep that is not connected");
        return KVP_ERR_INVALID;
    }
    if (ep->fail_status == KVP_OK)
        ep_post_batch(ep); /* normally empty: a call's last WR posts */
    ep->n_batch = 0;
    uint64_t deadline = deadline_after(timeout_ms);
    int32_t st = ep_wait(ep, ep->posted_seq, deadline);
    if (st == KVP_ERR_TIMEOUT && ep->fail_status == KVP_OK) {
        KVP_LOG_E(&ep->ctx->lg,
                  "verbs: flush on %s qpn %u timed out after %u ms with "
                  "%" PRIu64 " WRs in flight (peer qpn %u unreachable?)",
                  ep->ctx->dev_name, ep->qp->qp_num, timeout_ms,
                  ep->posted_seq - ep->done_seq, ep->peer.qpn);
        /* The HCA may still touch the caller's buffers: stop the QP and
         * give the flush completions a bounded moment to drain. */
        ep_fail(ep, KVP_ERR_TIMEOUT);
        ep_wait(ep, ep->posted_seq, deadline_after(1000));
        return KVP_ERR_TIMEOUT;
    }
    if (ep->fail_status != KVP_OK) {
        /* Drain the flushed WRs so none still refers to caller memory. */
        if (ep->done_seq < ep->posted_seq &&
            ep_wait(ep, ep->posted_seq, deadline) != KVP_OK)
            KVP_LOG_W(&ep->ctx->lg,
                      "verbs: qpn %u: %" PRIu64
                      " failed WRs did not drain in time",
                      ep->qp->qp_num, ep->posted_seq - ep->done_seq);
        return ep->fail_status;
    }
    return st;
}
