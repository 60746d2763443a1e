/* index.c - chained hash map keyed by byte strings (SipHash, seeded). */
#include "index.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/* Keys come from clients: under a fixed hash a client could choose keys
 * that all share one bucket and turn every lookup into a list walk. The
 * bucket hash is keyed with a secret drawn per index, so it cannot. */
static uint64_t key_hash(const struct index *ix, const void *key, uint16_t len)
{
    return kvp_hash_keyed(ix->seed, key, len);
}

int index_init(struct index *ix)
{
    ix->n_buckets = 256;
    ix->count = 0;
    ix->buckets = NULL;
    if (RAND_bytes(ix->seed, (int)sizeof(ix->seed)) != 1)
        return INDEX_ERR_RANDOM;
    ix->buckets = calloc(ix->n_buckets, sizeof(*ix->buckets));
    return ix->buckets != NULL ? 0 : INDEX_ERR_NO_MEMORY;
}

void index_fini(struct index *ix)
{
    for (uint64_t i = 0; ix->buckets != NULL && i < ix->n_buckets; i++) {
        struct index_entry *e = ix->buckets[i];
        while (e != NULL) {
            struct index_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(ix->buckets);
    ix->buckets = NULL;
    ix->count = 0;
}

struct index_entry *index_find(const struct index *ix, const void *key,
                               uint16_t key_len)
{
    uint64_t h = key_hash(ix, key, key_len);
    for (struct index_entry *e = ix->buckets[h & (ix->n_buckets - 1)];
         e != NULL; e = e->next) {
        if (e->hash == h && e->key_len == key_len &&
            memcmp(e->key, key, key_len) == 0)
            return e;
    }
    return NULL;
}

static void grow(struct index *ix)
{
    uint64_t nb = ix->n_buckets * 2;
    struct index_entry **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return; /* longer chains, still correct */
    for (uint64_t i = 0; i < ix->n_buckets; i++) {
        struct index_entry *e = ix->buckets[i];
        while (e != NULL) {
            struct index_entry *next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    free(ix->buckets);
    ix->buckets = b;
    ix->n_buckets = nb;
}

struct index_entry *index_insert(struct index *ix, const void *key,
                                 uint16_t key_len)
{
    if (ix->count >= ix->n_buckets)
        grow(ix);
    struct index_entry *e = malloc(sizeof(*e) + (size_t)key_len + 1);
    if (e == NULL)
        return NULL;
    e->hash = key_hash(ix, key, key_len);
    e->cur = NULL;
    e->n_pending = 0;
    e->key_len = key_len;
    memcpy(e->key, key, key_len);
    e->key[key_len] = '\0';
    uint64_t b = e->hash & (ix->n_buckets - 1);
    e->next = ix->buckets[b];
    ix->buckets[b] = e;
    ix->count++;
    return e;
}

void index_remove(struct index *ix, struct index_entry *e)
{
    uint64_t b = e->hash & (ix->n_buckets - 1);
    for (struct index_entry **link = &ix->buckets[b]; *link != NULL;
         link = &(*link)->next) {
        if (*link == e) {
            *link = e->next;
            ix->count--;
            free(e);
            return;
        }
    }
}
