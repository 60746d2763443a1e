/* ucx_bounce.c - the bounce chunks of an ep (ucx_bounce.h). */
#include "ucx_bounce.h"

#include <stdlib.h>

struct ucx_bounce *ucx_bounce_get(struct ucx_bounce_pool *bp,
                                  struct kvp_xport_ctx *ctx)
{
    while (bp->cur < bp->n) {
        struct ucx_bounce *b = &bp->chunk[bp->cur];
        if (b->used < UCX_BOUNCE_CHUNK)
            return b;
        bp->cur++;
    }
    if (bp->n == bp->cap) {
        uint32_t cap = bp->cap ? bp->cap * 2 : 4;
        struct ucx_bounce *nb = realloc(bp->chunk, cap * sizeof(*nb));
        if (nb == NULL)
            return NULL;
        bp->chunk = nb;
        bp->cap = cap;
    }
    struct ucx_bounce *b = &bp->chunk[bp->n];
    b->buf = aligned_alloc(64, UCX_BOUNCE_CHUNK);
    b->used = 0;
    if (b->buf == NULL)
        return NULL;
    if (ucx_mem_reg(ctx, b->buf, UCX_BOUNCE_CHUNK, &b->mem) != KVP_OK) {
        free(b->buf);
        return NULL;
    }
    bp->n++;
    return b;
}

void ucx_bounce_reset(struct ucx_bounce_pool *bp)
{
    for (uint32_t i = 0; i < bp->n; i++)
        bp->chunk[i].used = 0;
    bp->cur = 0;
}

void ucx_bounce_release(struct ucx_bounce_pool *bp)
{
    for (uint32_t i = 0; i < bp->n; i++) {
        ucx_mem_dereg(bp->chunk[i].mem);
        free(bp->chunk[i].buf);
    }
    free(bp->chunk);
    bp->chunk = NULL;
    bp->n = bp->cap = bp->cur = 0;
}
