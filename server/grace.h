/*
 * grace.h - memory waiting for same-host readers (docs/protocol.md, "Gets
 * without a round trip"): a range the shared index named is given back to
 * the allocator only once no reader that might have found it is still
 * copying (proto/shidx.h: epoch-based reclamation). A FIFO in tag order;
 * the store serialises calls.
 */
#ifndef KVP_SERVER_GRACE_H
#define KVP_SERVER_GRACE_H

#include <stdint.h>

#include "alloc.h"
#include "shidx.h"

struct grace_range;

struct grace {
    struct grace_range *head, *tail; /* head NULL: nothing waits */
    uint64_t forced; /* ranges given back past a stalled reader */
};

/* off/len (an alloc_get range) waits under tag (shidx_retire_tag). -1
 * when no memory for the record: the caller gives the range back now. */
int grace_defer(struct grace *g, uint64_t off, uint64_t len, uint64_t tag,
                uint64_t now_ns);
/* Gives back every range no reader can still be copying; with
 * max_wait_ns != 0, also those waiting longer than that (their stalled
 * readers are revoked). Returns the bytes given back. */
uint64_t grace_reclaim(struct grace *g, struct alloc *a, struct shidx *ix,
                       uint64_t now_ns, uint64_t max_wait_ns);
/* Frees the records (the allocator goes with the store). */
void grace_fini(struct grace *g);

#endif /* KVP_SERVER_GRACE_H */
