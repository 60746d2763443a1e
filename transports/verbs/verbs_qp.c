/*
 * verbs_qp.c - one RC QP per ep: create, INIT, RTR/RTS from a peer's
 * connect info, and forced ERROR (which flushes every outstanding WR).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "verbs_int.h"

/* Local ACK timeout 4.096 us * 2^16 = 268 ms (generous: emulated devices
 * are slow). Retry count 6, not 7: rdma_rxe treats 7 like an infinite RNR
 * retry and never reports a dead peer (seen in the VM lane); 7 x 268 ms
 * gives IBV_WC_RETRY_EXC_ERR about 2 s after a peer vanished. RNR retry
 * is moot: we post no receives and use only RDMA WRITE/READ. */
#define VERBS_ACK_TIMEOUT   16
#define VERBS_RETRY_CNT     6
#define VERBS_RNR_RETRY     7
#define VERBS_MIN_RNR_TIMER 12
#define VERBS_HOP_LIMIT     64

static uint32_t psn_random(void)
{
    uint32_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u;
    }
    return v & 0xFFFFFF;
}

/* Creates the QP, shrinking inline data, then SGEs, then depth until the
 * device accepts: providers differ in how these limits trade off. */
static struct ibv_qp *qp_create_fitting(struct kvp_xport_ep *ep, uint32_t depth,
                                        uint32_t sge, uint32_t inl,
                                        struct ibv_qp_init_attr *qa)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    for (;;) {
        memset(qa, 0, sizeof(*qa));
        qa->send_cq = ep->cq;
        qa->recv_cq = ep->cq;
        qa->qp_type = IBV_QPT_RC;
        qa->sq_sig_all = 0;
        qa->cap.max_send_wr = depth;
        qa->cap.max_recv_wr = 1;
        qa->cap.max_send_sge = sge;
        qa->cap.max_recv_sge = 1;
        qa->cap.max_inline_data = inl;
        struct ibv_qp *qp = ibv_create_qp(ctx->pd, qa);
        if (qp != NULL)
            return qp;
        if (inl > 0)
            inl = 0;
        else if (sge > 1)
            sge /= 2;
        else if (depth > 16)
            depth /= 2;
        else
            return NULL;
    }
}

static int32_t qp_to_init(struct kvp_xport_ep *ep)
{
    struct ibv_qp_attr a;
    memset(&a, 0, sizeof(a));
    a.qp_state = IBV_QPS_INIT;
    a.pkey_index = 0;
    a.port_num = ep->ctx->port;
    a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
                        IBV_ACCESS_REMOTE_READ;
    int rc = ibv_modify_qp(ep->qp, &a,
                           IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
                               IBV_QP_ACCESS_FLAGS);
    if (rc != 0) {
        KVP_LOG_E(&ep->ctx->lg, "verbs: %s qpn %u -> INIT failed: %s",
                  ep->ctx->dev_name, ep->qp->qp_num, strerror(rc));
        return KVP_ERR_TRANSPORT;
    }
    return KVP_OK;
}

int32_t verbs_qp_create(struct kvp_xport_ep *ep, int passive)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    /* An accepted (server) ep only responds to the client's one-sided
     * WRITE/READ: a small send queue keeps a server with many clients
     * light; it can still post (one SGE per WR). */
    uint32_t depth = passive ? VERBS_PASSIVE_SQ_DEPTH : ctx->sq_depth;
    uint32_t sge = passive ? 1 : ctx->max_sge;
    uint32_t inl = passive ? 0 : VERBS_MAX_INLINE;
    if (depth > ctx->sq_depth)
        depth = ctx->sq_depth;
    int cqe = (int)depth + 8;
    if (ctx->max_cqe > 0 && cqe > ctx->max_cqe)
        cqe = ctx->max_cqe;
    ep->cq = ibv_create_cq(ctx->dev, cqe, NULL, NULL, 0);
    if (ep->cq == NULL) {
        KVP_LOG_E(&ctx->lg, "verbs: ibv_create_cq(%d) on %s failed: %s", cqe,
                  ctx->dev_name, strerror(errno));
        return KVP_ERR_TRANSPORT;
    }
    struct ibv_qp_init_attr qa;
    ep->qp = qp_create_fitting(ep, depth, sge, inl, &qa);
    if (ep->qp == NULL) {
        KVP_LOG_E(&ctx->lg, "verbs: ibv_create_qp(RC) on %s failed: %s",
                  ctx->dev_name, strerror(errno));
        goto destroy_cq;
    }
    /* Every WR may complete with an error CQE: the CQ must hold them all. */
    ep->sq_depth = qa.cap.max_send_wr;
    if (ep->sq_depth > (uint32_t)cqe)
        ep->sq_depth = (uint32_t)cqe;
    ep->max_sge = qa.cap.max_send_sge;
    if (ep->max_sge > ctx->max_sge)
        ep->max_sge = ctx->max_sge;
    if (ep->max_sge == 0)
        ep->max_sge = 1;
    ep->max_inline = qa.cap.max_inline_data;
    ep->signal_every = ep->sq_depth / 4 > 0 ? ep->sq_depth / 4 : 1;
    ep->sges = calloc((size_t)VERBS_BATCH * ep->max_sge, sizeof(*ep->sges));
    ep->pieces = calloc(ep->max_sge, sizeof(*ep->pieces));
    if (ep->sges == NULL || ep->pieces == NULL) {
        KVP_LOG_E(&ctx->lg, "verbs: out of memory for the ep's WR batch");
        goto destroy_qp;
    }
    ep->psn = psn_random();
    ep->next_seq = 1;
    if (qp_to_init(ep) != KVP_OK)
        goto destroy_qp;
    KVP_LOG_D(&ctx->lg,
              "verbs: %s qpn %u created (sq %u, sge %u, inline %u, "
              "signal every %u)",
              ctx->dev_name, ep->qp->qp_num, ep->sq_depth, ep->max_sge,
              ep->max_inline, ep->signal_every);
    return KVP_OK;

destroy_qp:
    free(ep->sges);
    free(ep->pieces);
    ep->sges = NULL;
    ep->pieces = NULL;
    ibv_destroy_qp(ep->qp);
    ep->qp = NULL;
destroy_cq:
    ibv_destroy_cq(ep->cq);
    ep->cq = NULL;
    return KVP_ERR_TRANSPORT;
}

void verbs_qp_local_info(const struct kvp_xport_ep *ep,
                         struct verbs_conn_info *info)
{
    const struct kvp_xport_ctx *ctx = ep->ctx;
    memset(info, 0, sizeof(*info));
    info->qpn = ep->qp->qp_num;
    info->psn = ep->psn;
    info->lid = ctx->lid;
    info->mtu = ctx->mtu;
    info->link_layer = ctx->link_layer;
    info->rd_atom = ctx->rd_atom_resp;
    info->flags = ctx->use_grh ? 1 : 0;
    memcpy(info->gid, ctx->gid.raw, 16);
}

static int32_t qp_to_rtr(struct kvp_xport_ep *ep,
                         const struct verbs_conn_info *peer)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    struct ibv_qp_attr a;
    memset(&a, 0, sizeof(a));
    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = (enum ibv_mtu)(peer->mtu < ctx->mtu ? peer->mtu : ctx->mtu);
    a.dest_qp_num = peer->qpn;
    a.rq_psn = peer->psn;
    a.max_dest_rd_atomic = ctx->rd_atom_resp;
    a.min_rnr_timer = VERBS_MIN_RNR_TIMER;
    a.ah_attr.port_num = ctx->port;
    a.ah_attr.dlid = peer->lid;
    if (ctx->use_grh || (peer->flags & 1)) {
        a.ah_attr.is_global = 1;
        memcpy(a.ah_attr.grh.dgid.raw, peer->gid, 16);
        a.ah_attr.grh.sgid_index = (uint8_t)ctx->gid_index;
        a.ah_attr.grh.hop_limit = VERBS_HOP_LIMIT;
    }
    int rc = ibv_modify_qp(
        ep->qp, &a,
        IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
            IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
    if (rc != 0) {
        KVP_LOG_E(&ctx->lg,
                  "verbs: %s qpn %u -> RTR (peer qpn %u, gid_index %d) "
                  "failed: %s",
                  ctx->dev_name, ep->qp->qp_num, peer->qpn, ctx->gid_index,
                  strerror(rc));
        return KVP_ERR_TRANSPORT;
    }
    return KVP_OK;
}

static int32_t qp_to_rts(struct kvp_xport_ep *ep,
                         const struct verbs_conn_info *peer)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    struct ibv_qp_attr a;
    memset(&a, 0, sizeof(a));
    a.qp_state = IBV_QPS_RTS;
    a.sq_psn = ep->psn;
    a.timeout = VERBS_ACK_TIMEOUT;
    a.retry_cnt = VERBS_RETRY_CNT;
    a.rnr_retry = VERBS_RNR_RETRY;
    /* Never more READs in flight than the peer accepts as responder. */
    a.max_rd_atomic =
        peer->rd_atom < ctx->rd_atom_init ? peer->rd_atom : ctx->rd_atom_init;
    int rc = ibv_modify_qp(ep->qp, &a,
                           IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT |
                               IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                               IBV_QP_MAX_QP_RD_ATOMIC);
    if (rc != 0) {
        KVP_LOG_E(&ctx->lg, "verbs: %s qpn %u -> RTS failed: %s", ctx->dev_name,
                  ep->qp->qp_num, strerror(rc));
        return KVP_ERR_TRANSPORT;
    }
    return KVP_OK;
}

int32_t verbs_qp_connect(struct kvp_xport_ep *ep,
                         const struct verbs_conn_info *peer)
{
    struct kvp_xport_ctx *ctx = ep->ctx;
    if (peer->link_layer != ctx->link_layer) {
        KVP_LOG_E(&ctx->lg,
                  "verbs: peer qpn %u is on %s, %s port %u on %s: an RC "
                  "connection needs one fabric",
                  peer->qpn,
                  peer->link_layer == VERBS_LINK_IB ? "InfiniBand" : "Ethernet",
                  ctx->dev_name, ctx->port,
                  ctx->link_layer == VERBS_LINK_IB ? "InfiniBand" : "Ethernet");
        return KVP_ERR_INVALID;
    }
    int32_t st = qp_to_rtr(ep, peer);
    if (st == KVP_OK)
        st = qp_to_rts(ep, peer);
    if (st != KVP_OK)
        return st;
    ep->peer = *peer;
    ep->connected = 1;
    KVP_LOG_D(&ctx->lg, "verbs: %s qpn %u connected to peer qpn %u (mtu %d)",
              ctx->dev_name, ep->qp->qp_num, peer->qpn,
              128 << (peer->mtu < ctx->mtu ? peer->mtu : ctx->mtu));
    return KVP_OK;
}

void verbs_qp_to_error(struct kvp_xport_ep *ep)
{
    struct ibv_qp_attr a;
    memset(&a, 0, sizeof(a));
    a.qp_state = IBV_QPS_ERR;
    int rc = ibv_modify_qp(ep->qp, &a, IBV_QP_STATE);
    if (rc != 0)
        KVP_LOG_W(&ep->ctx->lg, "verbs: %s qpn %u -> ERROR failed: %s",
                  ep->ctx->dev_name, ep->qp->qp_num, strerror(rc));
}
