/* batch.c - batch result rules and put options. */
#include "batch.h"

#include "store_client.h"

int32_t batch_fill32(int32_t *results, uint32_t n, int32_t st)
{
    for (uint32_t i = 0; results != NULL && i < n; i++)
        results[i] = st;
    return st;
}

int32_t batch_fill64(int64_t *results, uint32_t n, int32_t st)
{
    for (uint32_t i = 0; results != NULL && i < n; i++)
        results[i] = st;
    return st;
}

int32_t batch_outcome32(const int32_t *results, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (results[i] != KVP_OK)
            return KVP_PARTIAL;
    return KVP_OK;
}

int32_t batch_outcome64(const int64_t *results, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (results[i] < 0)
            return KVP_PARTIAL;
    return KVP_OK;
}

int32_t put_opts_flags(struct kvp_engine *e, const char *what,
                       const struct kvp_put_opts *opts, uint32_t *flags_p)
{
    *flags_p = 0;
    if (opts == NULL)
        return KVP_OK;
    if (opts->struct_size < sizeof(uint32_t) * 2) {
        KVP_LOG_E(&e->log,
                  "%s: opts->struct_size %u is smaller than the "
                  "8 bytes of ABI 1.0",
                  what, opts->struct_size);
        return KVP_ERR_INVALID;
    }
    if ((opts->flags & ~KVP_PUT_OVERWRITE) != 0) {
        KVP_LOG_E(&e->log, "%s: opts->flags 0x%x has unknown bits", what,
                  opts->flags);
        return KVP_ERR_INVALID;
    }
    if (opts->flags & KVP_PUT_OVERWRITE)
        *flags_p |= STORE_ALLOC_OVERWRITE;
    return KVP_OK;
}
