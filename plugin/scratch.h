/*
 * scratch.h - a small registered area for the 304-byte SHARD headers a TP
 * put writes in front of each shard's payload (the payload itself goes
 * straight from the host buffer). Fixed slots handed out from a free
 * stack; an op that needs more slots than are free gets a temporary
 * registered area of its own.
 */
#ifndef KVP_SCRATCH_H
#define KVP_SCRATCH_H

#include <pthread.h>
#include <stdint.h>

#include "kvp_transport.h"

#define SCRATCH_SLOT_SIZE 320u /* 304 rounded to 64 */
#define SCRATCH_SLOTS     1024u

struct scratch {
    pthread_mutex_t lock;
    const struct kvp_transport_ops *tops;
    struct kvp_xport_ctx *tctx;
    unsigned char *base;
    struct kvp_xport_mem *mem;
    uint32_t *free_idx;
    uint32_t n_free;
};

/* A set of k header slots for one op. */
struct scratch_lease {
    uint32_t k;
    unsigned char **slots;  /* k pointers */
    struct kvp_xport_mem *mem; /* registration that holds every slot */
    uint32_t *idx;          /* pooled slot indexes, NULL if temporary */
    unsigned char *temp;    /* temporary area, NULL if pooled */
};

int32_t scratch_init(struct scratch *s, const struct kvp_transport_ops *tops,
                     struct kvp_xport_ctx *tctx);
void scratch_fini(struct scratch *s);
int32_t scratch_get(struct scratch *s, uint32_t k, struct scratch_lease *l);
void scratch_put(struct scratch *s, struct scratch_lease *l);

#endif /* KVP_SCRATCH_H */
