/* stage_pool.c - bounce pairs of the staged device path (stage_pool.h). */
#include "stage_pool.h"

#include <stdlib.h>

#include "cuda_rt.h"

void stage_pool_init(struct stage_pool *p, const struct kvp_transport_ops *tops,
                     struct kvp_xport_ctx *tctx, const struct kvp_logger *lg)
{
    pthread_mutex_init(&p->lock, NULL);
    p->pairs = NULL;
    p->chunk = STAGE_CHUNK_DEFAULT;
    p->tops = tops;
    p->tctx = tctx;
    p->lg = lg;
}

static void pair_free(struct stage_pool *p, struct stage_pair *pair)
{
    if (pair->mem != NULL)
        p->tops->mem_dereg(pair->mem);
    if (pair->copier.ctx != NULL)
        kvp_cuda_copier_destroy(&pair->copier);
    kvp_cuda_host_free(pair->host);
    free(pair);
}

void stage_pool_fini(struct stage_pool *p)
{
    while (p->pairs != NULL) {
        struct stage_pair *next = p->pairs->next;
        pair_free(p, p->pairs);
        p->pairs = next;
    }
    pthread_mutex_destroy(&p->lock);
}

static int32_t pair_make(struct stage_pool *p, int dev, struct stage_pair **pp)
{
    struct stage_pair *pair = calloc(1, sizeof(*pair));
    if (pair == NULL)
        return KVP_ERR_NO_MEMORY;
    pair->device = dev;
    int32_t st = kvp_cuda_host_alloc(2 * p->chunk, &pair->host, p->lg);
    if (st == KVP_OK)
        st = p->tops->mem_reg(p->tctx, pair->host, 2 * p->chunk, &pair->mem);
    if (st == KVP_OK)
        st = kvp_cuda_copier_create(dev, p->lg, &pair->copier);
    if (st != KVP_OK) {
        KVP_LOG_E(p->lg,
                  "staging for CUDA device %d: cannot set up 2 x %llu "
                  "pinned bytes: %s",
                  dev, (unsigned long long)p->chunk,
                  st == KVP_ERR_NOT_SUPPORTED ? "no CUDA runtime"
                                              : "see the line above");
        pair_free(p, pair);
        return st;
    }
    pair->bounce.slot[0] = pair->host;
    pair->bounce.slot[1] = (unsigned char *)pair->host + p->chunk;
    pair->bounce.chunk = p->chunk;
    KVP_LOG_D(p->lg, "staging: a pair of %llu-byte bounce slots for device %d",
              (unsigned long long)p->chunk, dev);
    *pp = pair;
    return KVP_OK;
}

int32_t stage_pool_get(struct stage_pool *p, int dev, struct stage_pair **pp)
{
    pthread_mutex_lock(&p->lock);
    for (struct stage_pair *q = p->pairs; q != NULL; q = q->next) {
        if (!q->busy && q->device == dev) {
            q->busy = 1;
            pthread_mutex_unlock(&p->lock);
            *pp = q;
            return KVP_OK;
        }
    }
    pthread_mutex_unlock(&p->lock);
    struct stage_pair *pair = NULL;
    int32_t st = pair_make(p, dev, &pair); /* slow: outside the lock */
    if (st != KVP_OK)
        return st;
    pair->busy = 1;
    pthread_mutex_lock(&p->lock);
    pair->next = p->pairs;
    p->pairs = pair;
    pthread_mutex_unlock(&p->lock);
    *pp = pair;
    return KVP_OK;
}

void stage_pool_put(struct stage_pool *p, struct stage_pair *pair)
{
    pthread_mutex_lock(&p->lock);
    pair->busy = 0;
    pthread_mutex_unlock(&p->lock);
}
