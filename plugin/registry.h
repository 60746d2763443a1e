/*
 * registry.h - the table of registered host buffers of one engine.
 *
 * A sorted array of non-overlapping [start, start+len) ranges under a
 * rwlock: lookups (every data op) take the read lock and binary-search;
 * register/unregister take the write lock. Each entry carries an opaque
 * handle (the transport's struct kvp_xport_mem *) owned by the caller.
 */
#ifndef KVP_REGISTRY_H
#define KVP_REGISTRY_H

#include <pthread.h>
#include <stdint.h>

struct reg_entry {
    uintptr_t start;
    uint64_t len;
    void *handle;
};

struct registry {
    pthread_rwlock_t lock;
    struct reg_entry *entries; /* sorted by start, disjoint */
    uint32_t n, cap;
};

int32_t registry_init(struct registry *reg);
/* Frees the table; *not* the handles (the engine deregisters them first
 * with registry_pop). */
void registry_fini(struct registry *reg);

/* KVP_ERR_INVALID (NULL ptr, len 0, range wraps), KVP_ERR_EXISTS (overlaps
 * a registration), KVP_ERR_NO_MEMORY, else KVP_OK. */
int32_t registry_add(struct registry *reg, const void *ptr, uint64_t len,
                     void *handle);
/* Removes the entry starting exactly at ptr; its handle into *handle_p.
 * KVP_ERR_NOT_FOUND otherwise. */
int32_t registry_remove(struct registry *reg, const void *ptr, void **handle_p);
/* Handle of the one registration containing [ptr, ptr+len) (len >= 1;
 * len 0 is treated as 1 byte at ptr). KVP_ERR_NOT_REGISTERED otherwise. */
int32_t registry_find(struct registry *reg, const void *ptr, uint64_t len,
                      void **handle_p);
/* Removes any one entry (for engine_destroy); 0 when empty. */
int registry_pop(struct registry *reg, void **handle_p);

#endif /* KVP_REGISTRY_H */
