/* tp_get.c - get_tensor_with_tp_into and its batch variant: read this
 * rank's shard and check that it is one (★ TP_MISMATCH). */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cuda_rt.h"
#include "ops.h"
#include "tensor_hdr.h"
#include "tp_keys.h"
#include "xfer.h"

/* The object just read must be the SHARD of (rank, tp_size). Otherwise
 * KVP_ERR_TP_MISMATCH; the buffer then holds the stored object as read. */
static int32_t check_shard(struct kvp_engine *e, const char *key,
                           const void *buf, uint64_t len, int32_t rank,
                           int32_t tp_size)
{
    struct kvp_tensor_hdr h;
    int32_t rule = tensor_hdr_parse(buf, len, &h);
    const char *why = NULL;
    /* the TP axis is found by its kind, wherever it sits in axes[] */
    uint32_t a = 0;
    while (rule == TH_OK && a < h.axis_count && h.axes[a].kind != KVP_AXIS_TP)
        a++;
    if (rule != TH_OK)
        why = tensor_hdr_rule_str(rule);
    else if (h.layout_kind != KVP_LAYOUT_SHARD || a == h.axis_count)
        why = "not a TP shard";
    else if (h.axes[a].shard_count != tp_size || h.axes[a].shard_rank != rank)
        why = "another tp_size or rank";
    if (why == NULL)
        return KVP_OK;
    if (a >= KVP_TENSOR_MAX_AXES)
        a = 0;
    KVP_LOG_E(&e->log,
              "get_tensor_with_tp_into: key '%.128s' (rank %d of %d): "
              "stored object does not match: %s (header says rank %d of %d)",
              key, rank, tp_size, why,
              rule == TH_OK ? h.axes[a].shard_rank : -1,
              rule == TH_OK ? h.axes[a].shard_count : -1);
    return KVP_ERR_TP_MISMATCH;
}

/* check_shard on what was read: a device buffer's header is copied to
 * the host first (one small copy). Returns the size or a status. */
static int64_t check_read(struct kvp_engine *e, const struct get_job *j,
                          uint64_t len, int32_t rank, int32_t tp_size)
{
    unsigned char hdr[KVP_TENSOR_HDR_SIZE];
    const void *head = j->dst;
    if (j->staged && len >= KVP_TENSOR_HDR_SIZE) {
        int32_t st = kvp_cuda_copy_sync(j->device, hdr, j->dst, sizeof(hdr),
                                        1, &e->log);
        if (st != KVP_OK)
            return st;
        head = hdr;
    }
    if (check_shard(e, j->key, head, len, rank, tp_size) != KVP_OK)
        return KVP_ERR_TP_MISMATCH;
    return (int64_t)len;
}

static int32_t tp_get_many(struct kvp_engine *e, const char *what, uint32_t n,
                           const char *const *keys, void *const *ptrs,
                           const uint64_t *caps, int32_t tp_rank,
                           int32_t tp_size, int64_t *results)
{
    if (tp_size > 1 && (tp_rank < 0 || tp_rank >= tp_size)) {
        KVP_LOG_E(&e->log, "%s: tp_rank %d outside [0, %d)", what, tp_rank,
                  tp_size);
        return batch_fill64(results, n, KVP_ERR_INVALID);
    }
    if (tp_size > KVP_TP_SIZE_MAX) {
        KVP_LOG_E(&e->log, "%s: tp_size %d is over the limit %d "
                  "(KVP_TP_SIZE_MAX)", what, tp_size, KVP_TP_SIZE_MAX);
        return batch_fill64(results, n, KVP_ERR_INVALID);
    }
    struct get_job *jobs = calloc(n, sizeof(*jobs));
    uint32_t *item = calloc(n, sizeof(uint32_t));
    char *skeys = calloc(n, TP_SHARD_KEY_MAX);
    if (jobs == NULL || item == NULL || skeys == NULL) {
        free(jobs);
        free(item);
        free(skeys);
        return batch_fill64(results, n, KVP_ERR_NO_MEMORY);
    }
    uint32_t nj = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct kvp_xport_mem *mem;
        int32_t dev = -1;
        struct reg_entry *ref = NULL;
        int32_t st = eng_check_key(e, what, keys[i]);
        if (st == KVP_OK)
            st = eng_find_buf(e, what, keys[i], ptrs[i], caps[i], &mem, &dev,
                              &ref);
        results[i] = st;
        if (st != KVP_OK)
            continue;
        char *k = skeys + (size_t)i * TP_SHARD_KEY_MAX;
        if (tp_size > 1 && tp_shard_key(k, keys[i], tp_rank) > KVP_KEY_MAX) {
            KVP_LOG_E(&e->log, "%s: key '%.64s...': shard key over %d bytes",
                      what, keys[i], KVP_KEY_MAX);
            results[i] = KVP_ERR_INVALID;
            eng_put_buf(e, ref);
            continue;
        }
        if (tp_size <= 1)
            snprintf(k, TP_SHARD_KEY_MAX, "%s", keys[i]);
        jobs[nj] = (struct get_job){.key = k,
                                    .dst = ptrs[i],
                                    .cap = caps[i],
                                    .mem = mem,
                                    .ref = ref,
                                    .staged = dev >= 0,
                                    .device = dev};
        item[nj++] = i;
    }
    xfer_get(e, jobs, nj);
    for (uint32_t j = 0; j < nj; j++) {
        int64_t r = jobs[j].result;
        if (r >= 0 && tp_size > 1)
            r = check_read(e, &jobs[j], (uint64_t)r, tp_rank, tp_size);
        results[item[j]] = r;
        eng_put_buf(e, jobs[j].ref);
    }
    free(jobs);
    free(item);
    free(skeys);
    return KVP_OK;
}

int64_t kvp_op_get_tensor_with_tp_into(struct kvp_engine *e, const char *key,
                                       void *ptr, uint64_t cap, int32_t tp_rank,
                                       int32_t tp_size)
{
    if (e == NULL)
        return KVP_ERR_INVALID;
    int64_t result = KVP_OK;
    void *const ptrs[1] = {ptr};
    int32_t st = tp_get_many(e, "get_tensor_with_tp_into", 1, &key, ptrs, &cap,
                             tp_rank, tp_size, &result);
    return st != KVP_OK ? st : result;
}

int32_t kvp_op_batch_get_tensor_with_tp_into(struct kvp_engine *e, uint32_t n,
                                             const char *const *keys,
                                             void *const *ptrs,
                                             const uint64_t *caps,
                                             int32_t tp_rank, int32_t tp_size,
                                             int64_t *results)
{
    const char *what = "batch_get_tensor_with_tp_into";
    int32_t ret;
    if (batch_precheck(e, what, n, NULL, results, &ret, "keys", keys, "ptrs",
                       ptrs, "caps", caps, NULL))
        return ret;
    int32_t st =
        tp_get_many(e, what, n, keys, ptrs, caps, tp_rank, tp_size, results);
    return st != KVP_OK ? st : batch_outcome64(results, n);
}
