/*
 * registry.h - the table of registered host buffers of one engine.
 *
 * A sorted array of non-overlapping [start, start+len) ranges under a
 * rwlock: lookups (every data op) take the read lock and binary-search;
 * register/unregister take the write lock. Each entry carries an opaque
 * handle (the transport's struct kvp_xport_mem *) owned by the caller.
 *
 * Entries in use are reference-counted: a data op holds a reference
 * (registry_acquire .. registry_release) from its lookup until its last
 * byte moved, and registry_remove waits for the references to go, bounded
 * by a timeout, so a transport never uses a torn-down registration.
 */
#ifndef KVP_REGISTRY_H
#define KVP_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct reg_entry {
    uintptr_t start;
    uint64_t len;
    void *handle;
    atomic_uint refs;   /* ops holding it (registry_acquire) */
    atomic_int closing; /* registry_remove waits: no new references */
};

struct registry {
    pthread_rwlock_t lock;
    struct reg_entry **entries; /* sorted by start, disjoint */
    uint32_t n, cap;
    pthread_mutex_t idle_lock; /* with idle: the last release wakes removers */
    pthread_cond_t idle;
};

int32_t registry_init(struct registry *reg);
/* Frees the table; *not* the handles (the engine deregisters them first
 * with registry_pop). */
void registry_fini(struct registry *reg);

/* KVP_ERR_INVALID (NULL ptr, len 0, range wraps), KVP_ERR_EXISTS (overlaps
 * a registration), KVP_ERR_NO_MEMORY, else KVP_OK. */
int32_t registry_add(struct registry *reg, const void *ptr, uint64_t len,
                     void *handle);
/* Removes the entry starting exactly at ptr once no op holds it, waiting
 * at most timeout_ms for them (new lookups fail meanwhile); its handle
 * into *handle_p. KVP_ERR_NOT_FOUND: no such entry (or another removal of
 * it is waiting); KVP_ERR_TIMEOUT: still in use after timeout_ms, the
 * entry stays registered and usable. */
int32_t registry_remove(struct registry *reg, const void *ptr,
                        uint32_t timeout_ms, void **handle_p);
/* Handle of the one registration containing [ptr, ptr+len) (len >= 1;
 * len 0 is treated as 1 byte at ptr). KVP_ERR_NOT_REGISTERED otherwise.
 * No reference: for checks that move no bytes. */
int32_t registry_find(struct registry *reg, const void *ptr, uint64_t len,
                      void **handle_p);
/* registry_find + one reference on the entry (*ref_p), which the caller
 * gives back with registry_release once its transfer is over. An entry
 * being removed is not found. */
int32_t registry_acquire(struct registry *reg, const void *ptr, uint64_t len,
                         void **handle_p, struct reg_entry **ref_p);
/* Gives back a reference of registry_acquire (NULL: nothing). */
void registry_release(struct registry *reg, struct reg_entry *ref);
/* Removes any one entry (for engine_destroy); 0 when empty. */
int registry_pop(struct registry *reg, void **handle_p);

#endif /* KVP_REGISTRY_H */
