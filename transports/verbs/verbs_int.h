/*
 * verbs_int.h - internal objects of the raw ibverbs transport module.
 *
 * One ctx = one opened device port + one protection domain. One ep = one RC
 * QP with its own CQ (ops on one ep are serialised by the caller, so an ep
 * needs no lock; a CQ per ep keeps eps of one ctx independent across
 * threads). Work requests carry a per-ep sequence number in wr_id: a
 * completion for sequence s retires every WR up to s (one SQ completes in
 * order), which makes selective signalling and error draining one counter.
 */
#ifndef KVP_VERBS_INT_H
#define KVP_VERBS_INT_H

#include <infiniband/verbs.h>
#include <stdatomic.h>
#include <stdint.h>

#include "kvp_transport.h"
#include "log.h"
#include "verbs_blob.h"
#include "verbs_plan.h"

#define VERBS_MAX_SGE            32  /* per WR, capped below device max */
#define VERBS_SQ_DEPTH           512 /* send queue WRs, capped by device */
#define VERBS_PASSIVE_SQ_DEPTH   16  /* accepted (server) eps only respond */
#define VERBS_MAX_INLINE         256 /* inline bytes asked for at QP create */
#define VERBS_BATCH              16  /* WRs per ibv_post_send() call */
#define VERBS_GID_SCAN           8   /* GID entries read when gid_index = -1 */
#define VERBS_DEFAULT_TIMEOUT_MS 10000
#define VERBS_RD_ATOM_MAX        16

/* The module's options (verbs_ops.c verbs_opt_table, docs/transports.md
 * "Device, port and GID"). */
struct verbs_opts {
    char device[64];   /* device=: "" = the first with an ACTIVE port */
    int32_t port;      /* port=: 0 = the first ACTIVE port */
    int32_t gid_index; /* gid_index=: -1 = auto */
};

struct kvp_xport_ctx {
    struct kvp_logger lg;
    uint32_t role;
    uint32_t timeout_ms; /* flush() default, never 0 */
    struct ibv_context *dev;
    struct ibv_pd *pd;
    char dev_name[64];
    uint8_t port;
    int gid_index;
    union ibv_gid gid;
    uint8_t link_layer; /* VERBS_LINK_* */
    uint8_t use_grh;    /* RoCE always; IB when gid_index was given */
    uint16_t lid;
    uint8_t mtu;          /* enum ibv_mtu: the port's active MTU */
    uint8_t rd_atom_resp; /* READs we accept in flight as responder */
    uint8_t rd_atom_init; /* READs we may issue in flight */
    uint32_t max_msg;     /* bytes per WR */
    uint32_t max_sge;     /* SGEs per WR asked for at QP create */
    uint32_t sq_depth;    /* send WRs asked for at QP create */
    int max_cqe;
    _Atomic uint64_t bytes_written;
    _Atomic uint64_t bytes_read;
    _Atomic uint64_t ops_posted;
};

struct kvp_xport_mem {
    struct kvp_xport_ctx *ctx;
    struct ibv_mr *mr;
    uint64_t addr;
    uint64_t len;
};

struct kvp_xport_rkey {
    struct kvp_xport_ep *ep;
    uint32_t rkey;
    uint64_t addr; /* region start, as the owner registered it */
    uint64_t len;
};

struct kvp_xport_ep {
    struct kvp_xport_ctx *ctx;
    struct ibv_cq *cq;
    struct ibv_qp *qp;
    uint32_t psn;  /* our starting send PSN */
    int connected; /* QP in RTS */
    struct verbs_conn_info peer;
    /* Actual QP capabilities (what create_qp granted). */
    uint32_t sq_depth;
    uint32_t max_sge;
    uint32_t max_inline;
    uint32_t signal_every; /* at least one signalled WR per this many */
    /* Sequence numbers (wr_id) of work requests. */
    uint64_t next_seq;     /* given to the next queued WR */
    uint64_t posted_seq;   /* last WR handed to ibv_post_send */
    uint64_t done_seq;     /* last WR known complete */
    uint64_t last_sig_seq; /* last signalled WR */
    int32_t fail_status;   /* KVP_OK, or why the ep is unusable */
    /* Batch of WRs being built, posted with one ibv_post_send(). */
    uint32_t n_batch;
    struct ibv_send_wr wrs[VERBS_BATCH];
    struct ibv_sge *sges;       /* VERBS_BATCH * max_sge */
    struct verbs_piece *pieces; /* max_sge */
};

/* verbs_dev.c: open the device/port/GID the params ask for (or the first
 * active one). KVP_ERR_NO_DEVICE names everything that was found. */
int32_t verbs_dev_open(struct kvp_xport_ctx *ctx,
                       const struct verbs_opts *params);
void verbs_dev_close(struct kvp_xport_ctx *ctx);

/* verbs_qp.c: QP lifecycle of one ep. */
int32_t verbs_qp_create(struct kvp_xport_ep *ep, int passive);
void verbs_qp_local_info(const struct kvp_xport_ep *ep,
                         struct verbs_conn_info *info);
int32_t verbs_qp_connect(struct kvp_xport_ep *ep,
                         const struct verbs_conn_info *peer);
void verbs_qp_to_error(struct kvp_xport_ep *ep);

/* verbs_post.c: data path. */
int32_t verbs_post_write(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                         uint32_t n_iov, struct kvp_xport_mem *lmem,
                         uint64_t raddr, struct kvp_xport_rkey *rkey);
int32_t verbs_post_read(struct kvp_xport_ep *ep, void *dst, uint64_t len,
                        struct kvp_xport_mem *lmem, uint64_t raddr,
                        struct kvp_xport_rkey *rkey);
int32_t verbs_ep_flush(struct kvp_xport_ep *ep, uint32_t timeout_ms);

#endif /* KVP_VERBS_INT_H */
