/* tp_put.c - put_tensor_with_tp_from and its batch variant: the FULL
 * tensor in, SHARD objects out, gathered straight from the host buffer
 * (only the 304-byte shard headers come from our scratch area). */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cuda_rt.h"
#include "ops.h"
#include "tensor_hdr.h"
#include "tp_keys.h"
#include "xfer.h"

struct tp_item {
    struct kvp_tensor_hdr full;
    struct tp_plan plan;
    struct kvp_xport_mem *mem;
    int32_t device;    /* CUDA device of a staged buffer, else -1 */
    struct reg_entry *ref; /* mem's reference (eng_put_buf) */
    uint32_t n_shards; /* 1 when tp_size <= 1 (stored unchanged) */
    char *keys;        /* n_shards * TP_SHARD_KEY_MAX */
};

/* Validates one FULL tensor object and plans its shards. */
static int32_t tp_prepare(struct kvp_engine *e, const char *what,
                          const char *key, const void *ptr, uint64_t len,
                          int32_t tp_size, int32_t split_dim,
                          struct tp_item *it)
{
    memset(it, 0, sizeof(*it));
    int32_t st = eng_check_key(e, what, key);
    if (st != KVP_OK)
        return st;
    st = eng_find_buf(e, what, key, ptr, len, &it->mem, &it->device,
                      &it->ref);
    if (st != KVP_OK)
        return st;
    /* A device buffer's header: one small copy (docs/cuda.md). */
    unsigned char hdr[KVP_TENSOR_HDR_SIZE];
    const void *head = ptr;
    if (it->device >= 0 && len >= KVP_TENSOR_HDR_SIZE) {
        st = kvp_cuda_copy_sync(it->device, hdr, ptr, sizeof(hdr), 1,
                                &e->log);
        if (st != KVP_OK)
            return st;
        head = hdr;
    }
    int32_t rule =
        len == 0 ? TH_TOO_SHORT : tensor_hdr_parse(head, len, &it->full);
    if (rule != TH_OK) {
        KVP_LOG_E(&e->log,
                  "%s: key '%.128s': not a valid tensor object "
                  "(%llu bytes): rule '%s' broken",
                  what, key, (unsigned long long)len,
                  tensor_hdr_rule_str(rule));
        return KVP_ERR_INVALID;
    }
    if (it->full.layout_kind != KVP_LAYOUT_FULL) {
        KVP_LOG_E(&e->log,
                  "%s: key '%.128s': layout_kind %u; a TP put "
                  "takes the FULL tensor, not a shard",
                  what, key, it->full.layout_kind);
        return KVP_ERR_INVALID;
    }
    it->n_shards = tp_size > 1 ? (uint32_t)tp_size : 1;
    if (tp_size > 1 &&
        tp_plan_make(&it->full, tp_size, split_dim, &it->plan) != KVP_OK) {
        int32_t nd = it->full.ndim;
        int32_t d = split_dim < 0 ? split_dim + nd : split_dim;
        if (nd == 0 || d < 0 || d >= nd)
            KVP_LOG_E(&e->log,
                      "%s: key '%.128s': split_dim %d out of range "
                      "for ndim %d",
                      what, key, split_dim, nd);
        else
            KVP_LOG_E(&e->log,
                      "%s: key '%.128s': shape[%d] = %lld is not "
                      "divisible by tp_size %d",
                      what, key, d, (long long)it->full.global_shape[d],
                      tp_size);
        return KVP_ERR_INVALID;
    }
    it->keys = malloc((size_t)it->n_shards * TP_SHARD_KEY_MAX);
    if (it->keys == NULL)
        return KVP_ERR_NO_MEMORY;
    if (tp_size <= 1) {
        snprintf(it->keys, TP_SHARD_KEY_MAX, "%s", key);
        return KVP_OK;
    }
    for (uint32_t r = 0; r < it->n_shards; r++) {
        int kl = tp_shard_key(it->keys + (size_t)r * TP_SHARD_KEY_MAX, key,
                              (int32_t)r);
        if (kl > KVP_KEY_MAX) {
            KVP_LOG_E(&e->log,
                      "%s: key '%.64s...': shard key '<key>_tp_%u'"
                      " would be %d bytes, over %d",
                      what, key, r, kl, KVP_KEY_MAX);
            return KVP_ERR_INVALID;
        }
    }
    return KVP_OK;
}

/* Puts n validated-or-failed items; results[i] must hold the validation
 * status. */
static void tp_put_items(struct kvp_engine *e, uint32_t n,
                         const char *const *keys, const void *const *ptrs, const uint64_t *lens,
                         int32_t tp_size, struct tp_item *items,
                         int32_t *results, uint32_t flags)
{
    uint64_t n_jobs = 0;
    for (uint32_t i = 0; i < n; i++)
        if (results[i] == KVP_OK)
            n_jobs += items[i].n_shards;
    if (n_jobs == 0)
        return;
    struct scratch_lease lease;
    memset(&lease, 0, sizeof(lease));
    struct put_job *jobs = NULL;
    int32_t st = n_jobs > UINT32_MAX ? KVP_ERR_INVALID : KVP_OK;
    if (st == KVP_OK) {
        jobs = calloc(n_jobs, sizeof(*jobs));
        st = jobs == NULL ? KVP_ERR_NO_MEMORY : KVP_OK;
    }
    if (st == KVP_OK && tp_size > 1)
        st = scratch_get(&e->scratch, (uint32_t)n_jobs, &lease);
    if (st != KVP_OK) {
        KVP_LOG_E(&e->log, "tp put: cannot prepare %llu shard(s): %s",
                  (unsigned long long)n_jobs, kvp_op_status_str(st));
        for (uint32_t i = 0; i < n; i++)
            if (results[i] == KVP_OK)
                results[i] = st;
        free(jobs);
        return;
    }
    uint32_t nj = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (results[i] != KVP_OK)
            continue;
        struct tp_item *it = &items[i];
        for (uint32_t r = 0; r < it->n_shards; r++, nj++) {
            struct put_job *j = &jobs[nj];
            j->key = it->keys + (size_t)r * TP_SHARD_KEY_MAX;
            j->item = i;
            /* one TP group per item, even of one object (tp_size <= 1):
             * an overwrite with another tp_size replaces it whole */
            j->group = i + 1;
            j->base_len = (uint16_t)strlen(keys[i]);
            j->data_mem = it->mem;
            j->staged = it->device >= 0;
            j->device = it->device;
            if (tp_size <= 1) {
                j->data = ptrs[i];
                j->data_len = lens[i];
                continue;
            }
            struct kvp_tensor_hdr shard;
            tp_plan_shard_hdr(&it->plan, &it->full, (int32_t)r, &shard);
            tensor_hdr_encode(&shard, lease.slots[nj]);
            j->hdr = lease.slots[nj];
            j->hdr_mem = lease.mem;
            j->plan = &it->plan;
            j->rank = (int32_t)r;
            j->payload = (const unsigned char *)ptrs[i] + KVP_TENSOR_HDR_SIZE;
        }
    }
    xfer_put(e, jobs, nj, results, flags);
    if (tp_size > 1)
        scratch_put(&e->scratch, &lease);
    free(jobs);
    if (e->log.level >= KVP_LOG_DEBUG)
        eng_log_stats(e, KVP_LOG_DEBUG);
}

static int32_t tp_put_many(struct kvp_engine *e, const char *what, uint32_t n,
                           const char *const *keys, const void *const *ptrs,
                           const uint64_t *lens, int32_t tp_size,
                           int32_t split_dim, const struct kvp_put_opts *opts,
                           int32_t *results)
{
    uint32_t flags;
    int32_t st = put_opts_flags(e, what, opts, &flags);
    if (st != KVP_OK)
        return batch_fill32(results, n, st);
    if (tp_size > KVP_TP_SIZE_MAX) {
        /* one line for the cause, not one per item or shard */
        KVP_LOG_E(&e->log, "%s: tp_size %d is over the limit %d "
                  "(KVP_TP_SIZE_MAX); %u item(s) refused",
                  what, tp_size, KVP_TP_SIZE_MAX, n);
        return batch_fill32(results, n, KVP_ERR_INVALID);
    }
    struct tp_item *items = calloc(n, sizeof(*items));
    if (items == NULL)
        return batch_fill32(results, n, KVP_ERR_NO_MEMORY);
    for (uint32_t i = 0; i < n; i++)
        results[i] = tp_prepare(e, what, keys[i], ptrs[i], lens[i], tp_size,
                                split_dim, &items[i]);
    tp_put_items(e, n, keys, ptrs, lens, tp_size, items, results, flags);
    for (uint32_t i = 0; i < n; i++) {
        eng_put_buf(e, items[i].ref);
        free(items[i].keys);
    }
    free(items);
    return KVP_OK;
}

int32_t kvp_op_put_tensor_with_tp_from(struct kvp_engine *e, const char *key,
                                       const void *ptr, uint64_t len,
                                       int32_t tp_rank, int32_t tp_size,
                                       int32_t split_dim,
                                       const struct kvp_put_opts *opts)
{
    (void)tp_rank; /* ignored on put: every rank's shard is stored */
    if (e == NULL)
        return KVP_ERR_INVALID;
    int32_t result = KVP_OK;
    int32_t st = tp_put_many(e, "put_tensor_with_tp_from", 1, &key, &ptr, &len,
                             tp_size, split_dim, opts, &result);
    return st != KVP_OK ? st : result;
}

int32_t kvp_op_batch_put_tensor_with_tp_from(
    struct kvp_engine *e, uint32_t n, const char *const *keys,
    const void *const *ptrs, const uint64_t *lens, int32_t tp_rank,
    int32_t tp_size, int32_t split_dim, const struct kvp_put_opts *opts,
    int32_t *results)
{
    (void)tp_rank;
    const char *what = "batch_put_tensor_with_tp_from";
    int32_t ret;
    if (batch_precheck(e, what, n, results, NULL, &ret, "keys", keys, "ptrs",
                       ptrs, "lens", lens, NULL))
        return ret;
    int32_t st = tp_put_many(e, what, n, keys, ptrs, lens, tp_size, split_dim,
                             opts, results);
    return st != KVP_OK ? st : batch_outcome32(results, n);
}
