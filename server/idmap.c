/* idmap.c - chained hash map u64 -> pointer, doubling at load factor 1. */
#include "idmap.h"

#include <stdlib.h>

#include "hash.h"

struct idmap_node {
    uint64_t id;
    void *val;
    struct idmap_node *next;
};

int idmap_init(struct idmap *m)
{
    m->n_buckets = 64;
    m->count = 0;
    m->buckets = calloc(m->n_buckets, sizeof(*m->buckets));
    return m->buckets != NULL ? 0 : -1;
}

void idmap_fini(struct idmap *m)
{
    for (uint64_t i = 0; m->buckets != NULL && i < m->n_buckets; i++) {
        struct idmap_node *n = m->buckets[i];
        while (n != NULL) {
            struct idmap_node *next = n->next;
            free(n);
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->count = 0;
}

static void grow(struct idmap *m)
{
    uint64_t nb = m->n_buckets * 2;
    struct idmap_node **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return; /* keep working with longer chains */
    for (uint64_t i = 0; i < m->n_buckets; i++) {
        struct idmap_node *n = m->buckets[i];
        while (n != NULL) {
            struct idmap_node *next = n->next;
            uint64_t h = kvp_hash_fmix64(n->id) & (nb - 1);
            n->next = b[h];
            b[h] = n;
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = nb;
}

int idmap_put(struct idmap *m, uint64_t id, void *val)
{
    if (m->count >= m->n_buckets)
        grow(m);
    struct idmap_node *n = malloc(sizeof(*n));
    if (n == NULL)
        return -1;
    uint64_t h = kvp_hash_fmix64(id) & (m->n_buckets - 1);
    n->id = id;
    n->val = val;
    n->next = m->buckets[h];
    m->buckets[h] = n;
    m->count++;
    return 0;
}

void *idmap_get(const struct idmap *m, uint64_t id)
{
    uint64_t h = kvp_hash_fmix64(id) & (m->n_buckets - 1);
    for (struct idmap_node *n = m->buckets[h]; n != NULL; n = n->next) {
        if (n->id == id)
            return n->val;
    }
    return NULL;
}

void *idmap_del(struct idmap *m, uint64_t id)
{
    uint64_t h = kvp_hash_fmix64(id) & (m->n_buckets - 1);
    for (struct idmap_node **link = &m->buckets[h]; *link != NULL;
         link = &(*link)->next) {
        struct idmap_node *n = *link;
        if (n->id == id) {
            void *val = n->val;
            *link = n->next;
            free(n);
            m->count--;
            return val;
        }
    }
    return NULL;
}

void *idmap_find_if(const struct idmap *m, int (*fn)(void *val, void *arg),
                    void *arg, uint64_t *id_p)
{
    for (uint64_t i = 0; i < m->n_buckets; i++) {
        for (struct idmap_node *n = m->buckets[i]; n != NULL; n = n->next) {
            if (fn(n->val, arg)) {
                if (id_p != NULL)
                    *id_p = n->id;
                return n->val;
            }
        }
    }
    return NULL;
}
