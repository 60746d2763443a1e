/*
 * index.h - the store's key map: key bytes -> entry. An entry holds the
 * committed (visible) object of a key and counts its pending allocations;
 * the semantics live in kvstore.c. Not thread-safe.
 */
#ifndef KVP_SERVER_INDEX_H
#define KVP_SERVER_INDEX_H

#include <stdint.h>

#include "hash.h"

#define INDEX_KEY_MAX 1024

struct kvs_obj;

struct index_entry {
    struct index_entry *next; /* hash chain */
    uint64_t hash;
    struct kvs_obj *cur; /* committed object, NULL if none */
    uint32_t n_pending;  /* allocations not yet committed/aborted */
    uint16_t key_len;
    char key[]; /* key_len bytes, NUL-terminated for logs */
};

struct index {
    struct index_entry **buckets;
    uint64_t n_buckets;
    uint64_t count;
    uint8_t seed[KVP_HASH_KEY_LEN]; /* secret key of the bucket hash */
};

#define INDEX_ERR_NO_MEMORY (-1)
#define INDEX_ERR_RANDOM    (-2) /* no random seed (RAND_bytes failed) */

/* 0, INDEX_ERR_NO_MEMORY or INDEX_ERR_RANDOM. Each index draws its own
 * random seed, so bucket placement differs between indexes and processes
 * and no client can predict it. index_fini is safe after a failure. */
int index_init(struct index *ix);
void index_fini(struct index *ix); /* frees entries (not their objects) */
struct index_entry *index_find(const struct index *ix, const void *key,
                               uint16_t key_len);
/* New entry for a key not in the map; NULL on no memory. */
struct index_entry *index_insert(struct index *ix, const void *key,
                                 uint16_t key_len);
void index_remove(struct index *ix, struct index_entry *e); /* frees e */

#endif /* KVP_SERVER_INDEX_H */
