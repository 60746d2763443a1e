/* batch.h - the shared rules of batch ops: ill-formed calls fill every
 * result with the error; otherwise OK or PARTIAL from the per-item
 * results. And the put options every put variant reads. */
#ifndef KVP_BATCH_H
#define KVP_BATCH_H

#include <stdint.h>

#include "engine.h"

int32_t batch_fill32(int32_t *results, uint32_t n, int32_t st);
int32_t batch_fill64(int64_t *results, uint32_t n, int32_t st);
int32_t batch_outcome32(const int32_t *results, uint32_t n);
int32_t batch_outcome64(const int64_t *results, uint32_t n);

/* opts -> STORE_ALLOC_* flags. NULL = defaults. struct_size < 8 or unknown
 * flag bits: KVP_ERR_INVALID (logged). */
int32_t put_opts_flags(struct kvp_engine *e, const char *what,
                       const struct kvp_put_opts *opts, uint32_t *flags_p);

#endif /* KVP_BATCH_H */
