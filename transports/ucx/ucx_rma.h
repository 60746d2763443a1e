/*
 * ucx_rma.h - the data path: write (gather into consecutive remote
 * addresses), read, flush. The top of the module below the ops table:
 * builds on ucx_ep.h (and what it includes).
 */
#ifndef KVP_UCX_RMA_H
#define KVP_UCX_RMA_H

#include "ucx_ep.h"

int32_t ucx_write(struct kvp_xport_ep *ep, const struct kvp_xport_iov *iov,
                  uint32_t n_iov, struct kvp_xport_mem *lmem, uint64_t raddr,
                  struct kvp_xport_rkey *rkey);
int32_t ucx_read(struct kvp_xport_ep *ep, void *dst, uint64_t len,
                 struct kvp_xport_mem *lmem, uint64_t raddr,
                 struct kvp_xport_rkey *rkey);
int32_t ucx_flush(struct kvp_xport_ep *ep, uint32_t timeout_ms);

#endif /* KVP_UCX_RMA_H */
