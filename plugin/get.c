/* get.c - get_into and batch_get_into: plain objects. */
#include <stdlib.h>

#include "batch.h"
#include "ops.h"
#include "xfer.h"

static int32_t get_prepare(struct kvp_engine *e, const char *what,
                           const char *key, void *ptr, uint64_t cap,
                           struct get_job *j)
{
    int32_t st = eng_check_key(e, what, key);
    if (st != KVP_OK)
        return st;
    struct kvp_xport_mem *mem;
    int32_t dev;
    struct reg_entry *ref;
    st = eng_find_buf(e, what, key, ptr, cap, &mem, &dev, &ref);
    if (st != KVP_OK)
        return st;
    *j = (struct get_job){.key = key,
                          .dst = ptr,
                          .cap = cap,
                          .mem = mem,
                          .ref = ref,
                          .staged = dev >= 0,
                          .device = dev};
    return KVP_OK;
}

int64_t kvp_op_get_into(struct kvp_engine *e, const char *key, void *ptr,
                        uint64_t cap)
{
    if (e == NULL)
        return KVP_ERR_INVALID;
    struct get_job j;
    int32_t st = get_prepare(e, "get_into", key, ptr, cap, &j);
    if (st != KVP_OK)
        return st;
    xfer_get(e, &j, 1);
    eng_put_buf(e, j.ref);
    return j.result;
}

int32_t kvp_op_batch_get_into(struct kvp_engine *e, uint32_t n,
                              const char *const *keys, void *const *ptrs,
                              const uint64_t *caps, int64_t *results)
{
    int32_t ret;
    if (batch_precheck(e, "batch_get_into", n, NULL, results, &ret, "keys",
                       keys, "ptrs", ptrs, "caps", caps, NULL))
        return ret;
    struct get_job *jobs = malloc((size_t)n * sizeof(*jobs));
    uint32_t *item = malloc((size_t)n * sizeof(uint32_t));
    if (jobs == NULL || item == NULL) {
        free(jobs);
        free(item);
        return batch_fill64(results, n, KVP_ERR_NO_MEMORY);
    }
    uint32_t nj = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t st = get_prepare(e, "batch_get_into", keys[i], ptrs[i], caps[i],
                                 &jobs[nj]);
        results[i] = st;
        if (st == KVP_OK)
            item[nj++] = i;
    }
    xfer_get(e, jobs, nj);
    for (uint32_t j = 0; j < nj; j++) {
        results[item[j]] = jobs[j].result;
        eng_put_buf(e, jobs[j].ref);
    }
    free(jobs);
    free(item);
    return batch_outcome64(results, n);
}
