/* batch.h - the shared rules of batch ops: ill-formed calls fill every
 * result with the error; otherwise OK or PARTIAL from the per-item
 * results. And the put options every put variant reads. */
#ifndef KVP_BATCH_H
#define KVP_BATCH_H

#include <stdint.h>

#include "engine.h"

/* The argument check every batch op shares: results (r32 or r64, the
 * other NULL) and the named arrays given as (const char *name, const void
 * *array) pairs, ended by a NULL name. Returns 1 when the call is decided
 * without any item being looked at (*ret_p = its return: KVP_OK for n 0,
 * else a negative code that every results[i] holds, logged once), 0 when
 * the items are to be processed. */
int batch_precheck(struct kvp_engine *e, const char *what, uint32_t n,
                   int32_t *r32, int64_t *r64, int32_t *ret_p, ...);

/* One log line per cause, not per item: a batch notes each failed item
 * with (what, where, status) and cause_flush() logs one line per distinct
 * cause with its item count and first key. */
#define CAUSE_MAX 8
struct cause_log {
    uint32_t n;
    uint64_t more; /* items whose cause did not fit (logged as a count) */
    struct {
        const char *what, *where; /* static strings */
        int32_t status;
        int32_t level;
        uint32_t server; /* UINT32_MAX: none */
        uint64_t count;
        char first[129]; /* first key, truncated */
    } c[CAUSE_MAX];
};
void cause_note(struct cause_log *cl, int32_t level, const char *what,
                const char *where, uint32_t server, int32_t status,
                const char *key);
/* Logs one line per cause (naming the server) and empties cl. */
void cause_flush(struct kvp_engine *e, struct cause_log *cl);

int32_t batch_fill32(int32_t *results, uint32_t n, int32_t st);
int32_t batch_fill64(int64_t *results, uint32_t n, int32_t st);
int32_t batch_outcome32(const int32_t *results, uint32_t n);
int32_t batch_outcome64(const int64_t *results, uint32_t n);

/* opts -> STORE_ALLOC_* flags. NULL = defaults. struct_size < 8 or unknown
 * flag bits: KVP_ERR_INVALID (logged). */
int32_t put_opts_flags(struct kvp_engine *e, const char *what,
                       const struct kvp_put_opts *opts, uint32_t *flags_p);

#endif /* KVP_BATCH_H */
