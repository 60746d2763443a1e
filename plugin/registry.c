/* registry.c - sorted, disjoint buffer ranges under a rwlock, each entry
 * reference-counted while ops use it. */
#include "registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvplug/status.h"

int32_t registry_init(struct registry *reg)
{
    memset(reg, 0, sizeof(*reg));
    if (pthread_rwlock_init(&reg->lock, NULL) != 0)
        return KVP_ERR_INTERNAL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int bad = pthread_mutex_init(&reg->idle_lock, NULL) != 0 ||
              pthread_cond_init(&reg->idle, &ca) != 0;
    pthread_condattr_destroy(&ca);
    if (bad) {
        pthread_rwlock_destroy(&reg->lock);
        return KVP_ERR_INTERNAL;
    }
    return KVP_OK;
}

void registry_fini(struct registry *reg)
{
    for (uint32_t i = 0; i < reg->n; i++)
        free(reg->entries[i]);
    free(reg->entries);
    reg->entries = NULL;
    reg->n = reg->cap = 0;
    pthread_rwlock_destroy(&reg->lock);
    pthread_mutex_destroy(&reg->idle_lock);
    pthread_cond_destroy(&reg->idle);
}

/* Index of the first entry with start > p (caller holds the lock). */
static uint32_t upper_bound(const struct registry *reg, uintptr_t p)
{
    uint32_t lo = 0, hi = reg->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (reg->entries[mid]->start <= p)
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
    struct reg_entry *ne = calloc(1, sizeof(*ne));
    if (ne == NULL)
        return KVP_ERR_NO_MEMORY;
    ne->start = start;
    ne->len = len;
    ne->handle = handle;
    int32_t st = KVP_OK;
    pthread_rwlock_wrlock(&reg->lock);
    uint32_t i = upper_bound(reg, start);
    /* the previous entry must end before start, the next start after end */
    if (i > 0) {
        const struct reg_entry *prev = reg->entries[i - 1];
        if (start - prev->start < prev->len) {
            st = KVP_ERR_EXISTS;
            goto out_unlock;
        }
    }
    if (i < reg->n && reg->entries[i]->start - start < len) {
        st = KVP_ERR_EXISTS;
        goto out_unlock;
    }
    if (reg->n == reg->cap) {
        uint32_t cap = reg->cap ? reg->cap * 2 : 16;
        struct reg_entry **e = realloc(reg->entries, cap * sizeof(*e));
        if (e == NULL) {
            st = KVP_ERR_NO_MEMORY;
            goto out_unlock;
        }
        reg->entries = e;
        reg->cap = cap;
    }
    memmove(&reg->entries[i + 1], &reg->entries[i],
            (reg->n - i) * sizeof(reg->entries[0]));
    reg->entries[i] = ne;
    ne = NULL;
    reg->n++;
out_unlock:
    pthread_rwlock_unlock(&reg->lock);
    free(ne);
    return st;
}

/* Index of the entry starting exactly at start, or -1 (lock held). */
static int64_t index_of(const struct registry *reg, uintptr_t start)
{
    uint32_t i = upper_bound(reg, start);
    return i > 0 && reg->entries[i - 1]->start == start ? (int64_t)i - 1 : -1;
}

/* Waits until e has no references or the deadline passes; 1 when idle. */
static int wait_idle(struct registry *reg, struct reg_entry *e,
                     uint32_t timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&reg->idle_lock);
    int rc = 0;
    while (atomic_load(&e->refs) != 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&reg->idle, &reg->idle_lock, &dl);
    int idle = atomic_load(&e->refs) == 0;
    pthread_mutex_unlock(&reg->idle_lock);
    return idle;
}

int32_t registry_remove(struct registry *reg, const void *ptr,
                        uint32_t timeout_ms, void **handle_p)
{
    uintptr_t start = (uintptr_t)ptr;
    pthread_rwlock_wrlock(&reg->lock);
    int64_t i = index_of(reg, start);
    struct reg_entry *e = i >= 0 ? reg->entries[i] : NULL;
    if (e == NULL || atomic_load(&e->closing)) {
        pthread_rwlock_unlock(&reg->lock);
        return KVP_ERR_NOT_FOUND;
    }
    atomic_store(&e->closing, 1); /* no new references from here on */
    pthread_rwlock_unlock(&reg->lock);
    int idle = wait_idle(reg, e, timeout_ms);
    pthread_rwlock_wrlock(&reg->lock);
    if (!idle) {
        atomic_store(&e->closing, 0); /* still registered, usable again */
        pthread_rwlock_unlock(&reg->lock);
        return KVP_ERR_TIMEOUT;
    }
    i = index_of(reg, start); /* the array may have moved meanwhile */
    memmove(&reg->entries[i], &reg->entries[i + 1],
            (reg->n - (uint32_t)i - 1) * sizeof(reg->entries[0]));
    reg->n--;
    pthread_rwlock_unlock(&reg->lock);
    *handle_p = e->handle;
    free(e);
    return KVP_OK;
}

/* The entry containing [p, p+len), or NULL (lock held). */
static struct reg_entry *containing(struct registry *reg, uintptr_t p,
                                    uint64_t len)
{
    if (len == 0)
        len = 1;
    uint32_t i = upper_bound(reg, p);
    if (i == 0)
        return NULL;
    struct reg_entry *e = reg->entries[i - 1];
    uint64_t off = p - e->start; /* p >= e->start */
    return off < e->len && len <= e->len - off ? e : NULL;
}

int32_t registry_find(struct registry *reg, const void *ptr, uint64_t len,
                      void **handle_p)
{
    pthread_rwlock_rdlock(&reg->lock);
    struct reg_entry *e = containing(reg, (uintptr_t)ptr, len);
    if (e != NULL)
        *handle_p = e->handle;
    pthread_rwlock_unlock(&reg->lock);
    return e != NULL ? KVP_OK : KVP_ERR_NOT_REGISTERED;
}

int32_t registry_acquire(struct registry *reg, const void *ptr, uint64_t len,
                         void **handle_p, struct reg_entry **ref_p)
{
    pthread_rwlock_rdlock(&reg->lock);
    struct reg_entry *e = containing(reg, (uintptr_t)ptr, len);
    if (e != NULL && atomic_load(&e->closing))
        e = NULL;
    if (e != NULL) {
        /* under the read lock: a remover sets closing under the write
         * lock, so it either sees this reference or we saw closing */
        atomic_fetch_add(&e->refs, 1);
        *handle_p = e->handle;
    }
    pthread_rwlock_unlock(&reg->lock);
    *ref_p = e;
    return e != NULL ? KVP_OK : KVP_ERR_NOT_REGISTERED;
}

void registry_release(struct registry *reg, struct reg_entry *ref)
{
    if (ref == NULL)
        return;
    /* under the read lock: a remover frees the entry only under the write
     * lock, so ref stays valid until this returns */
    pthread_rwlock_rdlock(&reg->lock);
    if (atomic_fetch_sub(&ref->refs, 1) == 1 && atomic_load(&ref->closing)) {
        pthread_mutex_lock(&reg->idle_lock);
        pthread_cond_broadcast(&reg->idle);
        pthread_mutex_unlock(&reg->idle_lock);
    }
    pthread_rwlock_unlock(&reg->lock);
}

int registry_pop(struct registry *reg, void **handle_p)
{
    struct reg_entry *e = NULL;
    pthread_rwlock_wrlock(&reg->lock);
    if (reg->n > 0)
        e = reg->entries[--reg->n];
    pthread_rwlock_unlock(&reg->lock);
    if (e == NULL)
        return 0;
    *handle_p = e->handle;
    free(e);
    return 1;
}
