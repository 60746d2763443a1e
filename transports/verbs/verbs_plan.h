/*
 * verbs_plan.h - splits a gather list into RDMA work requests.
 *
 * Pure arithmetic, no libibverbs: a write() of n iov entries becomes a
 * sequence of WRs, each with at most max_sge scatter/gather pieces and at
 * most max_msg bytes, whose remote offsets follow each other. Adjacent iov
 * entries (one ends where the next starts) are merged into one piece, and
 * empty entries are skipped (a 0-length SGE means 2 GiB on some HCAs).
 */
#ifndef KVP_VERBS_PLAN_H
#define KVP_VERBS_PLAN_H

#include <stdint.h>

#include "kvp_transport.h"

/* One scatter/gather piece: a local address and a length (<= max_msg). */
struct verbs_piece {
    uint64_t addr;
    uint32_t len;
};

/* Cursor over an iov list; fields are private to verbs_plan.c. */
struct verbs_plan {
    const struct kvp_xport_iov *iov; /* borrowed */
    uint32_t n_iov;
    uint32_t idx;     /* current entry */
    uint64_t off;     /* bytes of iov[idx] already planned */
    uint64_t planned; /* bytes planned so far = next WR's remote offset */
    uint32_t max_sge; /* >= 1 */
    uint32_t max_msg; /* >= 1, bytes per WR */
};

/* max_sge and max_msg are clamped to at least 1. */
void verbs_plan_init(struct verbs_plan *plan, const struct kvp_xport_iov *iov,
                     uint32_t n_iov, uint32_t max_sge, uint32_t max_msg);

/* Plans the next WR into pieces[0..max_sge): returns the number of pieces
 * (0 when everything is planned), *remote_off_p = the WR's offset from the
 * start of the remote range, *len_p = its byte count. */
uint32_t verbs_plan_next(struct verbs_plan *plan, struct verbs_piece *pieces,
                         uint64_t *remote_off_p, uint64_t *len_p);

/* 1 when no byte is left to plan (trailing empty entries don't count). */
int verbs_plan_done(const struct verbs_plan *plan);

/* Sum of iov lengths into *total_p; -1 on uint64 overflow. */
int verbs_iov_total(const struct kvp_xport_iov *iov, uint32_t n_iov,
                    uint64_t *total_p);

#endif /* KVP_VERBS_PLAN_H */
