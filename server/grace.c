/* grace.c - memory waiting for same-host readers (see grace.h). */
#include "grace.h"

#include <stdlib.h>

struct grace_range {
    struct grace_range *next;
    uint64_t off, len, tag, since_ns;
};

int grace_defer(struct grace *g, uint64_t off, uint64_t len, uint64_t tag,
                uint64_t now_ns)
{
    struct grace_range *r = malloc(sizeof(*r));
    if (r == NULL)
        return -1;
    *r = (struct grace_range){NULL, off, len, tag, now_ns};
    if (g->tail != NULL)
        g->tail->next = r;
    else
        g->head = r;
    g->tail = r;
    return 0;
}

static uint64_t give_back(struct grace *g, struct alloc *a)
{
    struct grace_range *r = g->head;
    g->head = r->next;
    if (g->head == NULL)
        g->tail = NULL;
    alloc_put(a, r->off, r->len);
    uint64_t bytes = alloc_rounded(r->len);
    free(r);
    return bytes;
}

uint64_t grace_reclaim(struct grace *g, struct alloc *a, struct shidx *ix,
                       uint64_t now_ns, uint64_t max_wait_ns)
{
    if (g->head == NULL)
        return 0;
    uint64_t freed = 0, oldest = shidx_oldest_read(ix);
    /* tags grow along the list: stop at the first one still read */
    while (g->head != NULL && g->head->tag < oldest)
        freed += give_back(g, a);
    if (max_wait_ns == 0)
        return freed;
    while (g->head != NULL && now_ns > g->head->since_ns &&
           now_ns - g->head->since_ns > max_wait_ns) {
        shidx_revoke(ix, g->head->tag);
        g->forced++;
        freed += give_back(g, a);
    }
    return freed;
}

void grace_fini(struct grace *g)
{
    while (g->head != NULL) {
        struct grace_range *r = g->head;
        g->head = r->next;
        free(r);
    }
    g->tail = NULL;
}
