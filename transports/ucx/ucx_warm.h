/*
 * ucx_warm.h - pre-faulting this process's mapping of a peer region, so
 * the first put into it is not a page-fault storm (see ucx_warm.c).
 * Builds on ucx_ctx.h.
 */
#ifndef KVP_UCX_WARM_H
#define KVP_UCX_WARM_H

#include "ucx_ctx.h"

struct ucx_warm;

/* Populates the mapping [local, local+len) of a peer region and touches
 * every page, the first GiB now and the rest on a thread of its own. NULL
 * if nothing runs. Stop before the rkey is destroyed. */
struct ucx_warm *ucx_warm_start(struct kvp_xport_ctx *ctx, void *local,
                                uint64_t len);
void ucx_warm_stop(struct ucx_warm *w);

#endif /* KVP_UCX_WARM_H */
