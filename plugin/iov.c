/* iov.c - batch_put_from_iov and batch_get_into_iov (ABI 1.1): objects
 * gathered from / scattered to several host buffers, zero-copy (xfer.c
 * posts one transport op per piece run straight from/to the pieces). */
#include <stdlib.h>

#include "batch.h"
#include "ops.h"
#include "xfer.h"

/* Checks item i's key and pieces; fills mem[0 .. count) with each piece's
 * registration and *total_p with the object size. */
static int32_t iov_prepare(struct kvp_engine *e, const char *what,
                           const char *key, const struct kvp_iov *iov,
                           uint32_t count, struct kvp_xport_mem **mem,
                           struct reg_entry **ref, uint64_t *total_p)
{
    int32_t st = eng_check_key(e, what, key);
    if (st != KVP_OK)
        return st;
    if (count > 0 && iov == NULL) {
        KVP_LOG_E(&e->log, "%s: key '%.128s': iovs[i] is NULL with %u "
                  "pieces", what, key, count);
        return KVP_ERR_INVALID;
    }
    uint64_t total = 0;
    for (uint32_t p = 0; p < count; p++) {
        if (__builtin_add_overflow(total, iov[p].len, &total) ||
            total > (uint64_t)INT64_MAX) {
            KVP_LOG_E(&e->log, "%s: key '%.128s': pieces add up to more "
                      "than 2^63 bytes", what, key);
            return KVP_ERR_INVALID;
        }
        int32_t device;
        st = eng_find_buf(e, what, key, iov[p].ptr, iov[p].len, &mem[p],
                          &device, &ref[p]);
        if (st != KVP_OK)
            return st;
        if (device >= 0) {
            KVP_LOG_E(&e->log, "%s: key '%.128s': piece %u is CUDA device "
                      "memory; gather/scatter takes host memory only (use "
                      "put_from/get_into for device buffers)", what, key, p);
            return KVP_ERR_NOT_SUPPORTED;
        }
    }
    *total_p = total;
    return KVP_OK;
}

/* The registrations of every item's pieces, in one array each: item i's
 * start at off[i]. refs hold each piece's registration until its bytes
 * have moved (unregister_buffer waits for them). */
struct iov_regs {
    uint64_t *off;
    struct kvp_xport_mem **mems;
    struct reg_entry **refs;
    uint64_t total;
};

static int iov_regs_make(struct iov_regs *r, uint32_t n,
                         const uint32_t *counts)
{
    *r = (struct iov_regs){0};
    r->off = malloc(((size_t)n ? n : 1) * sizeof(*r->off));
    if (r->off == NULL)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        r->off[i] = r->total;
        r->total += counts[i];
    }
    if (r->total > SIZE_MAX / sizeof(void *))
        return -1;
    size_t cnt = r->total ? (size_t)r->total : 1;
    r->mems = calloc(cnt, sizeof(*r->mems));
    r->refs = calloc(cnt, sizeof(*r->refs));
    return r->mems != NULL && r->refs != NULL ? 0 : -1;
}

/* Gives back every reference taken (pieces of failed items included). */
static void iov_regs_free(struct kvp_engine *e, struct iov_regs *r)
{
    for (uint64_t p = 0; r->refs != NULL && p < r->total; p++)
        eng_put_buf(e, r->refs[p]);
    free(r->off);
    free(r->mems);
    free(r->refs);
}

int32_t kvp_op_batch_put_from_iov(struct kvp_engine *e, uint32_t n,
                                  const char *const *keys,
                                  const struct kvp_iov *const *iovs,
                                  const uint32_t *iov_counts,
                                  const struct kvp_put_opts *opts,
                                  int32_t *results)
{
    const char *what = "batch_put_from_iov";
    int32_t ret;
    if (batch_precheck(e, what, n, results, NULL, &ret, "keys", keys, "iovs",
                       iovs, "iov_counts", iov_counts, NULL))
        return ret;
    uint32_t flags;
    int32_t st = put_opts_flags(e, what, opts, &flags);
    if (st != KVP_OK)
        return batch_fill32(results, n, st);
    struct iov_regs rg;
    struct put_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
    if (iov_regs_make(&rg, n, iov_counts) != 0 || jobs == NULL) {
        iov_regs_free(e, &rg);
        free(jobs);
        return batch_fill32(results, n, KVP_ERR_NO_MEMORY);
    }
    uint32_t nj = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t total = 0;
        results[i] = iov_prepare(e, what, keys[i], iovs[i], iov_counts[i],
                                 rg.mems + rg.off[i], rg.refs + rg.off[i],
                                 &total);
        if (results[i] != KVP_OK)
            continue;
        jobs[nj++] = (struct put_job){.key = keys[i],
                                      .item = i,
                                      .data_len = total,
                                      .iov = iovs[i],
                                      .n_iov = iov_counts[i],
                                      .iov_mem = rg.mems + rg.off[i]};
    }
    xfer_put(e, jobs, nj, results, flags);
    iov_regs_free(e, &rg);
    free(jobs);
    return batch_outcome32(results, n);
}

int32_t kvp_op_batch_get_into_iov(struct kvp_engine *e, uint32_t n,
                                  const char *const *keys,
                                  const struct kvp_iov *const *iovs,
                                  const uint32_t *iov_counts,
                                  int64_t *results)
{
    const char *what = "batch_get_into_iov";
    int32_t ret;
    if (batch_precheck(e, what, n, NULL, results, &ret, "keys", keys, "iovs",
                       iovs, "iov_counts", iov_counts, NULL))
        return ret;
    struct iov_regs rg;
    struct get_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
    uint32_t *item = malloc(((size_t)n ? n : 1) * sizeof(*item));
    if (iov_regs_make(&rg, n, iov_counts) != 0 || jobs == NULL ||
        item == NULL) {
        iov_regs_free(e, &rg);
        free(jobs);
        free(item);
        return batch_fill64(results, n, KVP_ERR_NO_MEMORY);
    }
    uint32_t nj = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t total = 0;
        int32_t st = iov_prepare(e, what, keys[i], iovs[i], iov_counts[i],
                                 rg.mems + rg.off[i], rg.refs + rg.off[i],
                                 &total);
        results[i] = st;
        if (st != KVP_OK)
            continue;
        jobs[nj] = (struct get_job){.key = keys[i],
                                    .cap = total,
                                    .iov = iovs[i],
                                    .n_iov = iov_counts[i],
                                    .iov_mem = rg.mems + rg.off[i]};
        item[nj++] = i;
    }
    xfer_get(e, jobs, nj);
    for (uint32_t j = 0; j < nj; j++)
        results[item[j]] = jobs[j].result;
    iov_regs_free(e, &rg);
    free(jobs);
    free(item);
    return batch_outcome64(results, n);
}
