/*
 * idmap.h - hash map from a 64-bit id to a pointer. Used for pending
 * allocations (alloc_id) and leases (lease_id). Not thread-safe.
 */
#ifndef KVP_SERVER_IDMAP_H
#define KVP_SERVER_IDMAP_H

#include <stdint.h>

struct idmap_node;

struct idmap {
    struct idmap_node **buckets;
    uint64_t n_buckets; /* power of two */
    uint64_t count;
};

int idmap_init(struct idmap *m);  /* 0 or -1 (no memory) */
void idmap_fini(struct idmap *m); /* frees nodes, not the values */
int idmap_put(struct idmap *m, uint64_t id, void *val); /* id must be new */
void *idmap_get(const struct idmap *m, uint64_t id);
void *idmap_del(struct idmap *m, uint64_t id); /* value or NULL */
/* Calls fn for every entry; fn may not modify the map. Returns the first
 * value for which fn returns nonzero, or NULL. */
void *idmap_find_if(const struct idmap *m, int (*fn)(void *val, void *arg),
                    void *arg, uint64_t *id_p);

#endif /* KVP_SERVER_IDMAP_H */
