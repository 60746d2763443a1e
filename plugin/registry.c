/* registry.c - sorted, disjoint buffer ranges under a rwlock. */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "kvplug/status.h"

int32_t registry_init(struct registry *reg)
{
    memset(reg, 0, sizeof(*reg));
    if (pthread_rwlock_init(&reg->lock, NULL) != 0)
        return KVP_ERR_INTERNAL;
    return KVP_OK;
}

void registry_fini(struct registry *reg)
{
    free(reg->entries);
    reg->entries = NULL;
    reg->n = reg->cap = 0;
    pthread_rwlock_destroy(&reg->lock);
}

/* Index of the first entry with start > p (caller holds the lock). */
static uint32_t upper_bound(const struct registry *reg, uintptr_t p)
{
    uint32_t lo = 0, hi = reg->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (reg->entries[mid].start <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int32_t registry_add(struct registry *reg, const void *ptr, uint64_t len,
                     void *handle)
{
    uintptr_t start = (uintptr_t)ptr;
    if (ptr == NULL || len == 0 || len - 1 > UINTPTR_MAX - start)
        return KVP_ERR_INVALID;
    int32_t st = KVP_OK;
    pthread_rwlock_wrlock(&reg->lock);
    uint32_t i = upper_bound(reg, start);
    /* the previous entry must end before start, the next start after end */
    if (i > 0) {
        const struct reg_entry *prev = &reg->entries[i - 1];
        if (start - prev->start < prev->len) {
            st = KVP_ERR_EXISTS;
            goto out_unlock;
        }
    }
    if (i < reg->n && reg->entries[i].start - start < len) {
        st = KVP_ERR_EXISTS;
        goto out_unlock;
    }
    if (reg->n == reg->cap) {
        uint32_t cap = reg->cap ? reg->cap * 2 : 16;
        struct reg_entry *e = realloc(reg->entries, cap * sizeof(*e));
        if (e == NULL) {
            st = KVP_ERR_NO_MEMORY;
            goto out_unlock;
        }
        reg->entries = e;
        reg->cap = cap;
    }
    memmove(&reg->entries[i + 1], &reg->entries[i],
            (reg->n - i) * sizeof(reg->entries[0]));
    reg->entries[i] = (struct reg_entry){start, len, handle};
    reg->n++;
out_unlock:
    pthread_rwlock_unlock(&reg->lock);
    return st;
}

int32_t registry_remove(struct registry *reg, const void *ptr, void **handle_p)
{
    uintptr_t start = (uintptr_t)ptr;
    int32_t st = KVP_ERR_NOT_FOUND;
    pthread_rwlock_wrlock(&reg->lock);
    uint32_t i = upper_bound(reg, start);
    if (i > 0 && reg->entries[i - 1].start == start) {
        *handle_p = reg->entries[i - 1].handle;
        memmove(&reg->entries[i - 1], &reg->entries[i],
                (reg->n - i) * sizeof(reg->entries[0]));
        reg->n--;
        st = KVP_OK;
    }
    pthread_rwlock_unlock(&reg->lock);
    return st;
}

int32_t registry_find(struct registry *reg, const void *ptr, uint64_t len,
                      void **handle_p)
{
    uintptr_t p = (uintptr_t)ptr;
    if (len == 0)
        len = 1;
    int32_t st = KVP_ERR_NOT_REGISTERED;
    pthread_rwlock_rdlock(&reg->lock);
    uint32_t i = upper_bound(reg, p);
    if (i > 0) {
        const struct reg_entry *e = &reg->entries[i - 1];
        uint64_t off = p - e->start; /* p >= e->start */
        if (off < e->len && len <= e->len - off) {
            *handle_p = e->handle;
            st = KVP_OK;
        }
    }
    pthread_rwlock_unlock(&reg->lock);
    return st;
}

int registry_pop(struct registry *reg, void **handle_p)
{
    int got = 0;
    pthread_rwlock_wrlock(&reg->lock);
    if (reg->n > 0) {
        *handle_p = reg->entries[--reg->n].handle;
        got = 1;
    }
    pthread_rwlock_unlock(&reg->lock);
    return got;
}
