/* lease.c - lease table: id map + expiry FIFO (see lease.h). */
#include "lease.h"

#include <stdlib.h>

struct lease {
    uint64_t id;
    uint64_t owner;
    uint64_t expires_ns;
    void *obj;
    struct lease *prev, *next; /* FIFO */
};

int lease_init(struct lease_table *lt, uint64_t timeout_ns)
{
    lt->oldest = lt->newest = NULL;
    lt->timeout_ns = timeout_ns;
    lt->next_id = 1;
    return idmap_init(&lt->by_id);
}

void lease_fini(struct lease_table *lt)
{
    struct lease *l = lt->oldest;
    while (l != NULL) {
        struct lease *next = l->next;
        free(l);
        l = next;
    }
    lt->oldest = lt->newest = NULL;
    idmap_fini(&lt->by_id);
}

static void unlink_lease(struct lease_table *lt, struct lease *l)
{
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        lt->oldest = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    else
        lt->newest = l->prev;
    idmap_del(&lt->by_id, l->id);
}

uint64_t lease_add(struct lease_table *lt, void *obj, uint64_t owner,
                   uint64_t now_ns)
{
    struct lease *l = malloc(sizeof(*l));
    if (l == NULL)
        return 0;
    l->id = lt->next_id++;
    l->owner = owner;
    l->obj = obj;
    l->expires_ns = now_ns + lt->timeout_ns;
    if (idmap_put(&lt->by_id, l->id, l) != 0) {
        free(l);
        return 0;
    }
    l->next = NULL;
    l->prev = lt->newest;
    if (lt->newest != NULL)
        lt->newest->next = l;
    else
        lt->oldest = l;
    lt->newest = l;
    return l->id;
}

void *lease_take(struct lease_table *lt, uint64_t id, uint64_t owner)
{
    struct lease *l = idmap_get(&lt->by_id, id);
    if (l == NULL || l->owner != owner)
        return NULL;
    void *obj = l->obj;
    unlink_lease(lt, l);
    free(l);
    return obj;
}

void *lease_expire_one(struct lease_table *lt, uint64_t now_ns, uint64_t *id_p)
{
    struct lease *l = lt->oldest;
    if (l == NULL || l->expires_ns > now_ns)
        return NULL;
    void *obj = l->obj;
    if (id_p != NULL)
        *id_p = l->id;
    unlink_lease(lt, l);
    free(l);
    return obj;
}

uint64_t lease_drop_owner(struct lease_table *lt, uint64_t owner,
                          void (*fn)(void *obj, void *arg), void *arg)
{
    uint64_t n = 0;
    struct lease *l = lt->oldest;
    while (l != NULL) {
        struct lease *next = l->next;
        if (l->owner == owner) {
            void *obj = l->obj;
            unlink_lease(lt, l);
            free(l);
            fn(obj, arg);
            n++;
        }
        l = next;
    }
    return n;
}

uint64_t lease_count(const struct lease_table *lt)
{
    return lt->by_id.count;
}
