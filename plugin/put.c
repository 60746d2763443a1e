/* put.c - put_from and batch_put_from: plain objects. */
#include <stdlib.h>

#include "batch.h"
#include "ops.h"
#include "xfer.h"

/* Validates one item into a job; returns its status. */
static int32_t put_prepare(struct kvp_engine *e, const char *what,
                           const char *key, const void *ptr, uint64_t len,
                           uint32_t item, struct put_job *j)
{
    int32_t st = eng_check_key(e, what, key);
    if (st != KVP_OK)
        return st;
    struct kvp_xport_mem *mem;
    int32_t dev;
    struct reg_entry *ref;
    st = eng_find_buf(e, what, key, ptr, len, &mem, &dev, &ref);
    if (st != KVP_OK)
        return st;
    *j = (struct put_job){.key = key,
                          .item = item,
                          .data = ptr,
                          .data_len = len,
                          .data_mem = mem,
                          .ref = ref,
                          .staged = dev >= 0,
                          .device = dev};
    return KVP_OK;
}

int32_t kvp_op_put_from(struct kvp_engine *e, const char *key, const void *ptr,
                        uint64_t len, const struct kvp_put_opts *opts)
{
    if (e == NULL)
        return KVP_ERR_INVALID;
    uint32_t flags;
    int32_t st = put_opts_flags(e, "put_from", opts, &flags);
    if (st != KVP_OK)
        return st;
    struct put_job j;
    st = put_prepare(e, "put_from", key, ptr, len, 0, &j);
    if (st != KVP_OK)
        return st;
    xfer_put(e, &j, 1, &st, flags);
    eng_put_buf(e, j.ref);
    return st;
}

int32_t kvp_op_batch_put_from(struct kvp_engine *e, uint32_t n,
                              const char *const *keys, const void *const *ptrs,
                              const uint64_t *lens,
                              const struct kvp_put_opts *opts, int32_t *results)
{
    int32_t ret;
    if (batch_precheck(e, "batch_put_from", n, results, NULL, &ret, "keys",
                       keys, "ptrs", ptrs, "lens", lens, NULL))
        return ret;
    uint32_t flags;
    int32_t st = put_opts_flags(e, "batch_put_from", opts, &flags);
    if (st != KVP_OK)
        return batch_fill32(results, n, st);
    struct put_job *jobs = malloc((size_t)n * sizeof(*jobs));
    if (jobs == NULL)
        return batch_fill32(results, n, KVP_ERR_NO_MEMORY);
    uint32_t nj = 0;
    for (uint32_t i = 0; i < n; i++) {
        results[i] = put_prepare(e, "batch_put_from", keys[i], ptrs[i], lens[i],
                                 i, &jobs[nj]);
        if (results[i] == KVP_OK)
            nj++;
    }
    xfer_put(e, jobs, nj, results, flags);
    for (uint32_t j = 0; j < nj; j++)
        eng_put_buf(e, jobs[j].ref);
    free(jobs);
    return batch_outcome32(results, n);
}
