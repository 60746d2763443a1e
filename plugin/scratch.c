/* scratch.c - registered slots for shard headers. */
#include "scratch.h"

#include <stdlib.h>
#include <string.h>

int32_t scratch_init(struct scratch *s, const struct kvp_transport_ops *tops,
                     struct kvp_xport_ctx *tctx)
{
    memset(s, 0, sizeof(*s));
    s->tops = tops;
    s->tctx = tctx;
    size_t bytes = (size_t)SCRATCH_SLOTS * SCRATCH_SLOT_SIZE;
    if (posix_memalign((void **)&s->base, 4096, bytes) != 0)
        return KVP_ERR_NO_MEMORY;
    memset(s->base, 0, bytes);
    s->free_idx = malloc(SCRATCH_SLOTS * sizeof(uint32_t));
    if (s->free_idx == NULL) {
        free(s->base);
        return KVP_ERR_NO_MEMORY;
    }
    int32_t st = tops->mem_reg(tctx, s->base, bytes, &s->mem);
    if (st != KVP_OK) {
        free(s->free_idx);
        free(s->base);
        return st;
    }
    for (uint32_t i = 0; i < SCRATCH_SLOTS; i++)
        s->free_idx[i] = SCRATCH_SLOTS - 1 - i;
    s->n_free = SCRATCH_SLOTS;
    pthread_mutex_init(&s->lock, NULL);
    return KVP_OK;
}

void scratch_fini(struct scratch *s)
{
    if (s->base == NULL)
        return;
    s->tops->mem_dereg(s->mem);
    free(s->free_idx);
    free(s->base);
    pthread_mutex_destroy(&s->lock);
    s->base = NULL;
}

/* A registered area of its own for an op larger than the free pool. */
static int32_t get_temporary(struct scratch *s, uint32_t k,
                             struct scratch_lease *l)
{
    size_t bytes = (size_t)k * SCRATCH_SLOT_SIZE;
    if (posix_memalign((void **)&l->temp, 4096, bytes) != 0)
        return KVP_ERR_NO_MEMORY;
    int32_t st = s->tops->mem_reg(s->tctx, l->temp, bytes, &l->mem);
    if (st != KVP_OK) {
        free(l->temp);
        l->temp = NULL;
        return st;
    }
    for (uint32_t i = 0; i < k; i++)
        l->slots[i] = l->temp + (size_t)i * SCRATCH_SLOT_SIZE;
    return KVP_OK;
}

int32_t scratch_get(struct scratch *s, uint32_t k, struct scratch_lease *l)
{
    memset(l, 0, sizeof(*l));
    l->k = k;
    if (k == 0)
        return KVP_OK;
    l->slots = malloc(k * sizeof(*l->slots));
    l->idx = malloc(k * sizeof(*l->idx));
    if (l->slots == NULL || l->idx == NULL) {
        free(l->slots);
        free(l->idx);
        return KVP_ERR_NO_MEMORY;
    }
    pthread_mutex_lock(&s->lock);
    int pooled = s->n_free >= k;
    if (pooled) {
        for (uint32_t i = 0; i < k; i++) {
            l->idx[i] = s->free_idx[--s->n_free];
            l->slots[i] = s->base + (size_t)l->idx[i] * SCRATCH_SLOT_SIZE;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (pooled) {
        l->mem = s->mem;
        return KVP_OK;
    }
    free(l->idx);
    l->idx = NULL;
    int32_t st = get_temporary(s, k, l);
    if (st != KVP_OK) {
        free(l->slots);
        l->slots = NULL;
    }
    return st;
}

void scratch_put(struct scratch *s, struct scratch_lease *l)
{
    if (l->idx != NULL) {
        pthread_mutex_lock(&s->lock);
        for (uint32_t i = 0; i < l->k; i++)
            s->free_idx[s->n_free++] = l->idx[i];
        pthread_mutex_unlock(&s->lock);
    }
    if (l->temp != NULL) {
        s->tops->mem_dereg(l->mem);
        free(l->temp);
    }
    free(l->idx);
    free(l->slots);
    memset(l, 0, sizeof(*l));
}
