/* kvstore.c - store semantics over alloc + index + lease (see kvstore.h). */
#include "kvstore.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "grace.h"
#include "idmap.h"
#include "index.h"
#include "lease.h"
#include "shm_ring.h"

#define OBJ_PENDING   0
#define OBJ_COMMITTED 1
#define OBJ_RETIRED   2 /* replaced or removed, waiting for its last lease */
#define OBJ_READY     3 /* group member committed by its client, waiting
                         * for the rest of its group */

struct kvs_obj {
    uint64_t off, len;
    uint64_t id;    /* alloc id */
    uint64_t owner; /* connection that allocated it */
    uint32_t state;
    uint32_t flags; /* KVS_ALLOC_* */
    uint32_t leases;
    int in_list; /* on lru (COMMITTED, unleased) or retired list */
    struct index_entry *entry; /* NULL once RETIRED */
    struct kvs_obj *prev, *next;
    struct kvs_group *group; /* TP group, NULL for a plain object */
    uint32_t gidx;           /* index in group->m */
    int64_t slot; /* in the shared index, -1 when not published */
    int named;    /* the shared index named it once: its memory waits for
                   * same-host readers before reuse (grace.h) */
};

/* A TP group. While it is committed, only m[0] stands for it on the LRU
 * list (the group is one object to eviction), and `leases` counts the
 * leases on all members: the group is evictable when it is 0. */
struct kvs_group {
    struct kvs_group *prev, *next; /* kvs->groups */
    uint64_t owner;
    uint32_t flags;
    int32_t status; /* KVP_OK, or why it can never commit */
    int open;       /* members may still be added */
    int committed;
    uint32_t n, cap, n_ready, leases;
    struct kvs_obj **m;
    uint16_t base_len;
    char base[]; /* base_len bytes + NUL */
};

struct obj_list {
    struct kvs_obj *head, *tail; /* head = most recently used */
};

struct kvs {
    pthread_mutex_t lock;
    struct alloc alloc;
    struct index index;
    struct idmap pending; /* alloc id -> obj */
    struct lease_table leases;
    struct obj_list lru;     /* COMMITTED with no lease */
    struct obj_list retired; /* RETIRED, still leased */
    struct kvs_group *groups; /* every group, open or committed */
    uint64_t base_addr;
    uint64_t next_alloc_id;
    struct kvs_stats st;
    const struct kvp_logger *log;
    struct shidx *shidx; /* NULL: no shared index */
    struct grace grace;  /* freed memory same-host readers may still copy */
    uint64_t grace_max_ns; /* the lease timeout: then readers are revoked */
};

/* ---- object lists --------------------------------------------------- */

static void list_unlink(struct obj_list *l, struct kvs_obj *o)
{
    if (!o->in_list)
        return;
    if (o->prev != NULL)
        o->prev->next = o->next;
    else
        l->head = o->next;
    if (o->next != NULL)
        o->next->prev = o->prev;
    else
        l->tail = o->prev;
    o->prev = o->next = NULL;
    o->in_list = 0;
}

static void list_push_front(struct obj_list *l, struct kvs_obj *o)
{
    o->prev = NULL;
    o->next = l->head;
    if (l->head != NULL)
        l->head->prev = o;
    else
        l->tail = o;
    l->head = o;
    o->in_list = 1;
}

/* ---- object lifetime ------------------------------------------------- */

/* Gives [off, off + len) back to the allocator (take_space's opposite):
 * it stops counting as used. len 0 took no space. */
static void give_space(struct kvs *kvs, uint64_t off, uint64_t len)
{
    if (len == 0)
        return;
    alloc_put(&kvs->alloc, off, len);
    kvs->st.used_bytes -= alloc_rounded(len);
}

/* Gives back what no same-host reader can still be copying (max_wait_ns:
 * grace_reclaim's); it stops counting as used. Returns 1 if any. */
static int grace_give_back(struct kvs *kvs, uint64_t now_ns,
                           uint64_t max_wait_ns)
{
    if (kvs->grace.head == NULL)
        return 0;
    uint64_t freed = grace_reclaim(&kvs->grace, &kvs->alloc, kvs->shidx,
                                   now_ns, max_wait_ns);
    kvs->st.used_bytes -= freed;
    return freed > 0;
}

static void obj_free(struct kvs *kvs, struct kvs_obj *o)
{
    if (o->len > 0) {
        /* memory the shared index named may be under a reader's copy */
        if (o->named && kvs->shidx != NULL &&
            grace_defer(&kvs->grace, o->off, o->len,
                        shidx_retire_tag(kvs->shidx), kvp_now_ns()) == 0) {
            grace_give_back(kvs, 0, 0);
        } else {
            give_space(kvs, o->off, o->len);
        }
    }
    free(o);
}

static void entry_maybe_drop(struct kvs *kvs, struct index_entry *e)
{
    if (e->cur == NULL && e->n_pending == 0)
        index_remove(&kvs->index, e);
}

/* ---- the shared index (docs/protocol.md, "Gets without a round trip") */

/* o became its key's visible object; old (may be NULL) was it before and
 * still holds its slot: o takes the slot over in place, so the key never
 * leaves the index and old's memory is no longer named there before it
 * can be freed. */
static void obj_publish(struct kvs *kvs, struct kvs_obj *o,
                        struct kvs_obj *old)
{
    int64_t slot = old != NULL ? old->slot : -1;
    if (old != NULL)
        old->slot = -1;
    if (kvs->shidx == NULL)
        return;
    struct index_entry *e = o->entry;
    o->slot = shidx_publish(kvs->shidx, slot, e->key, e->key_len,
                            kvs->base_addr + o->off, o->len);
    if (o->slot >= 0)
        o->named = 1;
    if (o->slot < 0 && slot >= 0)
        shidx_clear(kvs->shidx, slot);
}

/* Before o's memory may go back to the allocator: its slot moves on. */
static void obj_unpublish(struct kvs *kvs, struct kvs_obj *o)
{
    if (o->slot >= 0 && kvs->shidx != NULL)
        shidx_clear(kvs->shidx, o->slot);
    o->slot = -1;
}

/* A reader copied o since the last look (its reference byte). */
static int obj_referenced(struct kvs *kvs, struct kvs_obj *o)
{
    if (kvs->shidx == NULL)
        return 0;
    if (o->group == NULL)
        return shidx_take_ref(kvs->shidx, o->slot);
    int any = 0; /* a group is one object to the LRU: any member's read */
    for (uint32_t i = 0; i < o->group->n; i++)
        any |= shidx_take_ref(kvs->shidx, o->group->m[i]->slot);
    return any;
}

/* o stopped being its key's current object (already unhooked from the
 * entry): free it now, or when its last lease goes. */
static void obj_retire(struct kvs *kvs, struct kvs_obj *o)
{
    obj_unpublish(kvs, o);
    list_unlink(&kvs->lru, o);
    kvs->st.objects--;
    o->entry = NULL;
    if (o->leases == 0) {
        obj_free(kvs, o);
        return;
    }
    o->state = OBJ_RETIRED;
    list_push_front(&kvs->retired, o);
    kvs->st.retired++;
}

static void obj_drop_lease(void *obj, void *arg)
{
    struct kvs *kvs = arg;
    struct kvs_obj *o = obj;
    o->leases--;
    if (o->state == OBJ_RETIRED) {
        if (o->leases > 0)
            return;
        list_unlink(&kvs->retired, o);
        kvs->st.retired--;
        obj_free(kvs, o);
        return;
    }
    struct kvs_obj *node = o;
    if (o->group != NULL) {
        if (--o->group->leases > 0)
            return;
        node = o->group->m[0];
    } else if (o->leases > 0) {
        return;
    }
    list_push_front(&kvs->lru, node); /* just read: most recently used */
}

/* ---- TP groups --------------------------------------------------------- */

static void group_free(struct kvs *kvs, struct kvs_group *g)
{
    if (g->prev != NULL)
        g->prev->next = g->next;
    else
        kvs->groups = g->next;
    if (g->next != NULL)
        g->next->prev = g->prev;
    free(g->m);
    free(g);
}

/* The committed group whose base key is base: its members are base itself
 * (tp_size <= 1) or "<base>_tp_0", ... */
static struct kvs_group *group_of_base(struct kvs *kvs, const char *base,
                                       uint16_t len)
{
    char k[INDEX_KEY_MAX + 8];
    memcpy(k, base, len);
    memcpy(k + len, "_tp_0", 5);
    for (int i = 0; i < 2; i++) {
        uint16_t kl = (uint16_t)(len + (i == 1 ? 5 : 0));
        if (kl > INDEX_KEY_MAX)
            break;
        struct index_entry *e = index_find(&kvs->index, k, kl);
        struct kvs_group *g = e != NULL && e->cur != NULL ? e->cur->group
                                                          : NULL;
        if (g != NULL && g->base_len == len && memcmp(g->base, base, len) == 0)
            return g;
    }
    return NULL;
}

/* Retires every member of a committed group (eviction, removal, overwrite
 * of any member or of its base); returns how many. */
static uint64_t group_retire(struct kvs *kvs, struct kvs_group *g)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        struct kvs_obj *o = g->m[i];
        struct index_entry *e = o->entry;
        o->group = NULL;
        if (e == NULL || e->cur != o)
            continue;
        e->cur = NULL;
        obj_retire(kvs, o);
        entry_maybe_drop(kvs, e);
        n++;
    }
    group_free(kvs, g);
    return n;
}

static void pending_done(struct kvs *kvs, struct kvs_obj *o)
{
    o->entry->n_pending--;
    kvs->st.pending--;
}

/* Takes a pending or ready member out of its (uncommitted) group and frees
 * it; frees the group when it was the last member of a closed group. */
static void member_drop(struct kvs *kvs, struct kvs_obj *o)
{
    struct kvs_group *g = o->group;
    g->m[o->gidx] = g->m[--g->n];
    g->m[o->gidx]->gidx = o->gidx;
    if (o->state == OBJ_READY)
        g->n_ready--;
    pending_done(kvs, o);
    struct index_entry *e = o->entry;
    obj_free(kvs, o);
    entry_maybe_drop(kvs, e);
    if (g->n == 0 && !g->open)
        group_free(kvs, g);
}

/* The group can never commit: free its ready members now; its pending ones
 * go at their commit or abort (which then report st). */
static void group_break(struct kvs *kvs, struct kvs_group *g, int32_t st)
{
    if (g->status == KVP_OK)
        g->status = st;
    /* backwards: a swap-remove only moves an already visited member */
    for (uint32_t i = g->n; i > 0; i--) {
        struct kvs_obj *o = g->m[i - 1];
        if (o->state != OBJ_READY)
            continue;
        int last = g->n == 1 && !g->open;
        member_drop(kvs, o);
        if (last)
            return; /* g is freed */
    }
}

/* Every member is ready: make the group visible as one, replacing the old
 * group of its base and whatever was stored under its member keys. */
static int32_t group_commit(struct kvs *kvs, struct kvs_group *g)
{
    if (!(g->flags & KVS_ALLOC_OVERWRITE)) {
        int clash = group_of_base(kvs, g->base, g->base_len) != NULL;
        for (uint32_t i = 0; i < g->n && !clash; i++)
            clash = g->m[i]->entry->cur != NULL;
        if (clash) {
            group_break(kvs, g, KVP_ERR_EXISTS);
            return KVP_ERR_EXISTS;
        }
    }
    struct kvs_group *old = group_of_base(kvs, g->base, g->base_len);
    if (old != NULL)
        group_retire(kvs, old);
    for (uint32_t i = 0; i < g->n; i++) {
        struct index_entry *e = g->m[i]->entry;
        struct kvs_obj *cur = e->cur;
        if (cur != NULL && cur->group != NULL) {
            group_retire(kvs, cur->group);
        } else if (cur != NULL) {
            e->cur = NULL;
            obj_retire(kvs, cur);
        }
    }
    for (uint32_t i = 0; i < g->n; i++) {
        struct kvs_obj *o = g->m[i];
        pending_done(kvs, o);
        o->entry->cur = o;
        o->state = OBJ_COMMITTED;
        /* published only now, all members in this locked step: a member
         * of an incomplete group is never in the shared index */
        obj_publish(kvs, o, NULL);
        kvs->st.objects++;
    }
    g->committed = 1;
    list_push_front(&kvs->lru, g->m[0]);
    return KVP_OK;
}

static int evict_one(struct kvs *kvs)
{
    /* second chance for objects read through the shared index (no lookup
     * told the LRU of them): each at most once per eviction */
    uint64_t budget = kvs->st.objects;
    struct kvs_obj *o;
    while ((o = kvs->lru.tail) != NULL && budget-- > 0 &&
           obj_referenced(kvs, o)) {
        list_unlink(&kvs->lru, o);
        list_push_front(&kvs->lru, o);
    }
    if (o == NULL)
        return -1;
    if (o->group != NULL) {
        KVP_LOG_D(kvs->log, "store: evicting TP group '%s' (%u objects)",
                  o->group->base, o->group->n);
        kvs->st.evictions += group_retire(kvs, o->group);
        return 0;
    }
    struct index_entry *e = o->entry;
    KVP_LOG_D(kvs->log, "store: evicting key '%s' (%llu bytes)", e->key,
              (unsigned long long)o->len);
    e->cur = NULL;
    obj_retire(kvs, o);
    entry_maybe_drop(kvs, e);
    kvs->st.evictions++;
    return 0;
}

/* Memory waits for a reader copying now (microseconds) rather than the
 * store evicting more objects; a reader stalled longer does not hold an
 * allocation up past this, per allocation. */
#define GRACE_WAIT_NS 200000u

/* 1 when waiting for same-host readers gave memory back. */
static int grace_wait(struct kvs *kvs, uint64_t *deadline_ns)
{
    if (kvs->grace.head == NULL)
        return 0;
    if (*deadline_ns == 0)
        *deadline_ns = kvp_now_ns() + GRACE_WAIT_NS;
    do {
        if (grace_give_back(kvs, 0, 0))
            return 1;
        shm_cpu_relax();
    } while (kvp_now_ns() < *deadline_ns);
    return 0;
}

/* Space for len bytes, evicting least recently used objects as needed. */
static int32_t take_space(struct kvs *kvs, uint64_t len, uint64_t *off_p)
{
    if (len > kvs->alloc.size)
        return KVP_ERR_NO_SPACE;
    uint64_t deadline_ns = 0;
    while (alloc_get(&kvs->alloc, len, off_p) != 0) {
        if (grace_wait(kvs, &deadline_ns))
            continue;
        if (evict_one(kvs) != 0)
            return KVP_ERR_NO_SPACE;
    }
    kvs->st.used_bytes += alloc_rounded(len);
    return KVP_OK;
}

/* ---- public ---------------------------------------------------------- */

int32_t kvs_create(const struct kvs_params *p, struct kvs **kvs_p)
{
    struct kvs *kvs = calloc(1, sizeof(*kvs));
    if (kvs == NULL)
        return KVP_ERR_NO_MEMORY;
    uint32_t lease_ms = p->lease_timeout_ms ? p->lease_timeout_ms
                                            : KVS_DEFAULT_LEASE_TIMEOUT_MS;
    kvs->base_addr = p->base_addr;
    kvs->next_alloc_id = 1;
    kvs->log = p->log;
    kvs->shidx = p->shidx;
    kvs->grace_max_ns = (uint64_t)lease_ms * 1000000u;
    int32_t st = KVP_ERR_NO_MEMORY;
    if (alloc_init(&kvs->alloc, p->size) != 0)
        goto err_free;
    int rc = index_init(&kvs->index);
    if (rc == INDEX_ERR_RANDOM) {
        KVP_LOG_E(kvs->log, "store: no random seed for the key index "
                            "(RAND_bytes failed; is the system entropy source "
                            "available?)");
        st = KVP_ERR_INTERNAL;
    }
    if (rc != 0)
        goto err_index;
    if (idmap_init(&kvs->pending) != 0)
        goto err_index;
    if (lease_init(&kvs->leases, (uint64_t)lease_ms * 1000000u) != 0)
        goto err_pending;
    pthread_mutex_init(&kvs->lock, NULL);
    *kvs_p = kvs;
    return KVP_OK;

err_pending:
    idmap_fini(&kvs->pending);
err_index:
    index_fini(&kvs->index);
    alloc_fini(&kvs->alloc);
err_free:
    free(kvs);
    return st;
}

static int free_any(void *val, void *arg)
{
    (void)val;
    (void)arg;
    return 1;
}

void kvs_destroy(struct kvs *kvs)
{
    if (kvs == NULL)
        return;
    /* Groups first, while their members are alive: a ready member is
     * nowhere else (pending ones are in the pending map, committed ones in
     * the index). */
    while (kvs->groups != NULL) {
        struct kvs_group *g = kvs->groups;
        for (uint32_t i = 0; i < g->n; i++)
            if (g->m[i]->state == OBJ_READY)
                free(g->m[i]);
        group_free(kvs, g);
    }
    /* Objects are plain heap records now; the pool itself is not ours. */
    for (uint64_t b = 0; b < kvs->index.n_buckets; b++) {
        for (struct index_entry *e = kvs->index.buckets[b]; e != NULL;
             e = e->next)
            free(e->cur);
    }
    uint64_t id;
    struct kvs_obj *o;
    while ((o = idmap_find_if(&kvs->pending, free_any, NULL, &id)) != NULL) {
        idmap_del(&kvs->pending, id);
        free(o);
    }
    while ((o = kvs->retired.head) != NULL) {
        list_unlink(&kvs->retired, o);
        free(o);
    }

    grace_fini(&kvs->grace);
    lease_fini(&kvs->leases);
    idmap_fini(&kvs->pending);
    index_fini(&kvs->index);
    alloc_fini(&kvs->alloc);
    pthread_mutex_destroy(&kvs->lock);
    free(kvs);
}

static int key_ok(const void *key, uint16_t key_len)
{
    return key != NULL && key_len >= 1 && key_len <= INDEX_KEY_MAX;
}

/* A pending object for key at [off, off + len) (space already taken).
 * On failure the space is given back. */
static int32_t pending_at(struct kvs *kvs, uint64_t owner, const void *key,
                          uint16_t key_len, uint64_t off, uint64_t len,
                          uint32_t flags, struct kvs_obj **o_p)
{
    /* eviction may have dropped the entry (an overwrite of an idle key) */
    struct index_entry *e = index_find(&kvs->index, key, key_len);
    if (e == NULL)
        e = index_insert(&kvs->index, key, key_len);
    struct kvs_obj *o = e != NULL ? calloc(1, sizeof(*o)) : NULL;
    if (o == NULL)
        goto err_space;
    o->off = off;
    o->len = len;
    o->id = kvs->next_alloc_id++;
    o->owner = owner;
    o->state = OBJ_PENDING;
    o->flags = flags & KVS_ALLOC_OVERWRITE;
    o->entry = e;
    o->slot = -1;
    if (idmap_put(&kvs->pending, o->id, o) != 0)
        goto err_obj;
    e->n_pending++;
    kvs->st.pending++;
    *o_p = o;
    return KVP_OK;

err_obj:
    free(o);
err_space:
    give_space(kvs, off, len);
    if (e != NULL)
        entry_maybe_drop(kvs, e);
    return KVP_ERR_NO_MEMORY;
}

/* A plain (non-overwrite) put of a key that is committed or pending. */
static int key_taken(struct kvs *kvs, const void *key, uint16_t key_len,
                     uint32_t flags)
{
    struct index_entry *e = index_find(&kvs->index, key, key_len);
    return e != NULL && !(flags & KVS_ALLOC_OVERWRITE) &&
           (e->cur != NULL || e->n_pending > 0);
}

static int32_t alloc_locked(struct kvs *kvs, uint64_t owner, const void *key,
                            uint16_t key_len, uint64_t len, uint32_t flags,
                            uint64_t *raddr_p, uint64_t *id_p)
{
    if (key_taken(kvs, key, key_len, flags))
        return KVP_ERR_EXISTS;
    uint64_t off;
    int32_t st = take_space(kvs, len, &off);
    if (st != KVP_OK)
        return st;
    struct kvs_obj *o;
    if ((st = pending_at(kvs, owner, key, key_len, off, len, flags, &o)) !=
        KVP_OK)
        return st;
    *raddr_p = kvs->base_addr + off;
    *id_p = o->id;
    return KVP_OK;
}

int32_t kvs_alloc(struct kvs *kvs, uint64_t owner, const void *key,
                  uint16_t key_len, uint64_t len, uint32_t flags,
                  uint64_t *raddr_p, uint64_t *id_p)
{
    if (kvs == NULL || !key_ok(key, key_len) || raddr_p == NULL || id_p == NULL)
        return KVP_ERR_INVALID;
    pthread_mutex_lock(&kvs->lock);
    int32_t st =
        alloc_locked(kvs, owner, key, key_len, len, flags, raddr_p, id_p);
    pthread_mutex_unlock(&kvs->lock);
    return st;
}

struct kvs_group *kvs_group_open(struct kvs *kvs, uint64_t owner,
                                 const void *base, uint16_t base_len,
                                 uint32_t flags)
{
    if (kvs == NULL || !key_ok(base, base_len))
        return NULL;
    struct kvs_group *g = calloc(1, sizeof(*g) + base_len + 1);
    if (g == NULL)
        return NULL;
    memcpy(g->base, base, base_len);
    g->base_len = base_len;
    g->owner = owner;
    g->flags = flags & KVS_ALLOC_OVERWRITE;
    g->open = 1;
    pthread_mutex_lock(&kvs->lock);
    if (!(flags & KVS_ALLOC_OVERWRITE) &&
        group_of_base(kvs, g->base, base_len) != NULL)
        g->status = KVP_ERR_EXISTS; /* stored with another tp_size */
    g->next = kvs->groups;
    if (g->next != NULL)
        g->next->prev = g;
    kvs->groups = g;
    pthread_mutex_unlock(&kvs->lock);
    return g;
}

int32_t kvs_alloc_in(struct kvs *kvs, struct kvs_group *g, uint64_t owner,
                     const void *key, uint16_t key_len, uint64_t len,
                     uint32_t flags, uint64_t *raddr_p, uint64_t *id_p)
{
    if (g == NULL)
        return kvs_alloc(kvs, owner, key, key_len, len, flags, raddr_p, id_p);
    if (kvs == NULL || !key_ok(key, key_len) || raddr_p == NULL || id_p == NULL)
        return KVP_ERR_INVALID;
    pthread_mutex_lock(&kvs->lock);
    int32_t st = g->status;
    if (st == KVP_OK && g->n == g->cap) {
        uint32_t cap = g->cap ? 2 * g->cap : 8;
        struct kvs_obj **m = realloc(g->m, cap * sizeof(*m));
        st = m != NULL ? KVP_OK : KVP_ERR_NO_MEMORY;
        if (m != NULL) {
            g->m = m;
            g->cap = cap;
        }
    }
    if (st == KVP_OK)
        st = alloc_locked(kvs, owner, key, key_len, len,
                          flags & KVS_ALLOC_OVERWRITE, raddr_p, id_p);
    if (st == KVP_OK) {
        struct kvs_obj *o = idmap_get(&kvs->pending, *id_p);
        o->group = g;
        o->gidx = g->n;
        g->m[g->n++] = o;
    } else {
        group_break(kvs, g, st);
    }
    pthread_mutex_unlock(&kvs->lock);
    return st;
}

void kvs_group_close(struct kvs *kvs, struct kvs_group *g)
{
    if (kvs == NULL || g == NULL)
        return;
    pthread_mutex_lock(&kvs->lock);
    g->open = 0;
    if (g->n == 0)
        group_free(kvs, g);
    pthread_mutex_unlock(&kvs->lock);
}

/* The pending alloc id of owner, removed from the pending map. */
static struct kvs_obj *take_pending(struct kvs *kvs, uint64_t owner,
                                    uint64_t id)
{
    struct kvs_obj *o = idmap_get(&kvs->pending, id);
    if (o == NULL || o->owner != owner)
        return NULL;
    idmap_del(&kvs->pending, id);
    return o;
}

/* A member's client committed it: ready; the last one commits the group. */
static int32_t member_ready(struct kvs *kvs, struct kvs_obj *o)
{
    struct kvs_group *g = o->group;
    if (g->status != KVP_OK) {
        int32_t st = g->status;
        member_drop(kvs, o);
        return st;
    }
    o->state = OBJ_READY;
    if (++g->n_ready < g->n || g->open)
        return KVP_OK;
    return group_commit(kvs, g);
}

/* Makes pending o (taken out of the pending map) its key's object. */
static int32_t commit_locked(struct kvs *kvs, struct kvs_obj *o)
{
    if (o->group != NULL)
        return member_ready(kvs, o);
    struct index_entry *e = o->entry;
    if (!(o->flags & KVS_ALLOC_OVERWRITE) && e->cur != NULL) {
        /* an overwrite committed this key first: a plain put must not
         * replace it */
        pending_done(kvs, o);
        obj_free(kvs, o);
        return KVP_ERR_EXISTS;
    }
    /* an overwrite of a group member replaces the whole group (retired
     * while this allocation still keeps the entry alive) */
    if (e->cur != NULL && e->cur->group != NULL)
        group_retire(kvs, e->cur->group);
    pending_done(kvs, o);
    struct kvs_obj *old = e->cur;
    e->cur = o;
    o->state = OBJ_COMMITTED;
    obj_publish(kvs, o, old);
    list_push_front(&kvs->lru, o);
    kvs->st.objects++;
    if (old != NULL)
        obj_retire(kvs, old);
    return KVP_OK;
}

int32_t kvs_commit(struct kvs *kvs, uint64_t owner, uint64_t id)
{
    if (kvs == NULL)
        return KVP_ERR_INVALID;
    pthread_mutex_lock(&kvs->lock);
    struct kvs_obj *o = take_pending(kvs, owner, id);
    int32_t st = o == NULL ? KVP_ERR_NOT_FOUND : commit_locked(kvs, o);
    pthread_mutex_unlock(&kvs->lock);
    return st;
}

/* ---- arenas (docs/protocol.md, "Puts with one round trip") ------------ */

int32_t kvs_arena_take(struct kvs *kvs, uint64_t min, uint64_t max,
                       uint64_t *raddr_p, uint64_t *len_p)
{
    if (kvs == NULL || raddr_p == NULL || len_p == NULL || min == 0 ||
        max < min)
        return KVP_ERR_INVALID;
    uint64_t off;
    pthread_mutex_lock(&kvs->lock);
    grace_give_back(kvs, 0, 0);
    /* free space first: max bytes where an ALLOC of max would go (first
     * fit: the memory puts used last, warm), else the largest free block
     * if it holds min; an arena never evicts objects to be bigger than
     * min (in a full pool it is about one put) */
    int32_t st = KVP_OK;
    uint64_t len = max;
    if (alloc_get(&kvs->alloc, max, &off) == 0) {
        kvs->st.used_bytes += alloc_rounded(max);
    } else {
        len = alloc_largest_free(&kvs->alloc) & ~(uint64_t)(ALLOC_ALIGN - 1);
        len = len >= min ? len : min;
        st = take_space(kvs, len, &off);
    }
    pthread_mutex_unlock(&kvs->lock);
    if (st == KVP_OK) {
        *raddr_p = kvs->base_addr + off;
        *len_p = len;
    }
    return st;
}

void kvs_arena_give(struct kvs *kvs, uint64_t raddr, uint64_t len)
{
    if (kvs == NULL || len == 0)
        return;
    pthread_mutex_lock(&kvs->lock);
    give_space(kvs, raddr - kvs->base_addr, len);
    pthread_mutex_unlock(&kvs->lock);
}

int32_t kvs_put_at(struct kvs *kvs, uint64_t owner, const void *key,
                   uint16_t key_len, uint64_t raddr, uint64_t len,
                   uint32_t flags)
{
    if (kvs == NULL || !key_ok(key, key_len)) {
        kvs_arena_give(kvs, raddr, len);
        return KVP_ERR_INVALID;
    }
    uint64_t off = raddr - kvs->base_addr;
    pthread_mutex_lock(&kvs->lock);
    int32_t st = KVP_ERR_EXISTS;
    struct kvs_obj *o = NULL;
    if (!key_taken(kvs, key, key_len, flags))
        st = pending_at(kvs, owner, key, key_len, off, len, flags, &o);
    else
        give_space(kvs, off, len); /* not stored: back to the pool */
    if (st == KVP_OK)
        st = commit_locked(kvs, take_pending(kvs, owner, o->id));
    pthread_mutex_unlock(&kvs->lock);
    return st;
}

static void abort_obj(struct kvs *kvs, struct kvs_obj *o)
{
    if (o->group != NULL) {
        group_break(kvs, o->group, KVP_ERR_NOT_FOUND);
        member_drop(kvs, o);
        return;
    }
    pending_done(kvs, o);
    struct index_entry *e = o->entry;
    obj_free(kvs, o);
    entry_maybe_drop(kvs, e);
}

int32_t kvs_abort(struct kvs *kvs, uint64_t owner, uint64_t id)
{
    if (kvs == NULL)
        return KVP_ERR_INVALID;
    pthread_mutex_lock(&kvs->lock);
    struct kvs_obj *o = take_pending(kvs, owner, id);
    if (o != NULL)
        abort_obj(kvs, o);
    pthread_mutex_unlock(&kvs->lock);
    return o != NULL ? KVP_OK : KVP_ERR_NOT_FOUND;
}

int32_t kvs_lookup(struct kvs *kvs, uint64_t owner, const void *key,
                   uint16_t key_len, uint32_t flags, uint64_t now_ns,
                   uint64_t *raddr_p, uint64_t *len_p, uint64_t *lease_p)
{
    if (kvs == NULL || !key_ok(key, key_len) || raddr_p == NULL ||
        len_p == NULL || lease_p == NULL)
        return KVP_ERR_INVALID;
    int32_t st = KVP_OK;
    uint64_t lease = 0;
    pthread_mutex_lock(&kvs->lock);
    struct index_entry *e = index_find(&kvs->index, key, key_len);
    struct kvs_obj *o = e != NULL ? e->cur : NULL;
    if (o == NULL) {
        st = KVP_ERR_NOT_FOUND;
        goto out;
    }
    if (!(flags & KVS_LOOKUP_NO_LEASE)) {
        lease = lease_add(&kvs->leases, o, owner, now_ns);
        if (lease == 0) {
            st = KVP_ERR_NO_MEMORY;
            goto out;
        }
        o->leases++;
        /* leased: not evictable (a group: none of its members) */
        if (o->group == NULL)
            list_unlink(&kvs->lru, o);
        else if (o->group->leases++ == 0)
            list_unlink(&kvs->lru, o->group->m[0]);
    } else {
        struct kvs_obj *node = o->group != NULL ? o->group->m[0] : o;
        if (node->in_list) {
            list_unlink(&kvs->lru, node);
            list_push_front(&kvs->lru, node);
        }
    }
    *raddr_p = kvs->base_addr + o->off;
    *len_p = o->len;
    *lease_p = lease;
out:
    pthread_mutex_unlock(&kvs->lock);
    return st;
}

int32_t kvs_release(struct kvs *kvs, uint64_t owner, uint64_t lease_id)
{
    if (kvs == NULL)
        return KVP_ERR_INVALID;
    pthread_mutex_lock(&kvs->lock);
    struct kvs_obj *o = lease_take(&kvs->leases, lease_id, owner);
    if (o != NULL)
        obj_drop_lease(o, kvs);
    pthread_mutex_unlock(&kvs->lock);
    return o != NULL ? KVP_OK : KVP_ERR_NOT_FOUND;
}

int32_t kvs_remove(struct kvs *kvs, const void *key, uint16_t key_len)
{
    if (kvs == NULL || !key_ok(key, key_len))
        return KVP_ERR_INVALID;
    int32_t st = KVP_OK;
    pthread_mutex_lock(&kvs->lock);
    struct index_entry *e = index_find(&kvs->index, key, key_len);
    if (e == NULL || e->cur == NULL) {
        st = KVP_ERR_NOT_FOUND;
        goto out;
    }
    struct kvs_obj *o = e->cur;
    if (o->group != NULL) {
        group_retire(kvs, o->group);
        goto out;
    }
    e->cur = NULL;
    obj_retire(kvs, o);
    entry_maybe_drop(kvs, e);
out:
    pthread_mutex_unlock(&kvs->lock);
    return st;
}

int32_t kvs_remove_prefix(struct kvs *kvs, const void *prefix,
                          uint16_t prefix_len, uint64_t *removed_p)
{
    if (kvs == NULL || (prefix == NULL && prefix_len > 0) ||
        prefix_len > INDEX_KEY_MAX)
        return KVP_ERR_INVALID;
    uint64_t removed = 0;
    int32_t st = KVP_OK;
    pthread_mutex_lock(&kvs->lock);
    /* copy the keys first: removing a group member drops other entries */
    uint64_t n = 0;
    struct index_entry **keys =
        malloc((kvs->index.count ? kvs->index.count : 1) * sizeof(*keys));
    if (keys == NULL)
        st = KVP_ERR_NO_MEMORY;
    for (uint64_t b = 0; keys != NULL && b < kvs->index.n_buckets; b++) {
        for (struct index_entry *e = kvs->index.buckets[b]; e != NULL;
             e = e->next) {
            if (e->cur == NULL || e->key_len < prefix_len ||
                memcmp(e->key, prefix, prefix_len) != 0)
                continue;
            struct index_entry *k = malloc(sizeof(*k) + e->key_len + 1);
            if (k == NULL) {
                st = KVP_ERR_NO_MEMORY;
                continue;
            }
            memcpy(k, e, sizeof(*k) + e->key_len + 1);
            keys[n++] = k;
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        struct index_entry *e =
            index_find(&kvs->index, keys[i]->key, keys[i]->key_len);
        free(keys[i]);
        if (e == NULL || e->cur == NULL)
            continue; /* went with a group removed before */
        if (e->cur->group != NULL) {
            removed += group_retire(kvs, e->cur->group);
            continue;
        }
        struct kvs_obj *o = e->cur;
        e->cur = NULL;
        obj_retire(kvs, o);
        entry_maybe_drop(kvs, e);
        removed++;
    }
    free(keys);
    pthread_mutex_unlock(&kvs->lock);
    if (removed_p != NULL)
        *removed_p = removed;
    return st;
}

uint64_t kvs_expire(struct kvs *kvs, uint64_t now_ns)
{
    uint64_t n = 0, id;
    pthread_mutex_lock(&kvs->lock);
    struct kvs_obj *o;
    while ((o = lease_expire_one(&kvs->leases, now_ns, &id)) != NULL) {
        KVP_LOG_W(kvs->log,
                  "store: lease %llu expired (object at offset %llu, %llu "
                  "bytes); a client did not release it",
                  (unsigned long long)id, (unsigned long long)o->off,
                  (unsigned long long)o->len);
        obj_drop_lease(o, kvs);
        n++;
    }
    kvs->st.lease_expiries += n;
    uint64_t forced = kvs->grace.forced;
    grace_give_back(kvs, now_ns, kvs->grace_max_ns);
    if (kvs->grace.forced != forced)
        KVP_LOG_W(kvs->log,
                  "store: %llu freed range(s) waited past the lease timeout "
                  "for a same-host reader; reused anyway (that reader's get "
                  "falls back to a lookup)",
                  (unsigned long long)(kvs->grace.forced - forced));
    pthread_mutex_unlock(&kvs->lock);
    return n;
}

struct owned_ids {
    uint64_t owner;
    uint64_t *ids;
    size_t n, cap;
    int oom;
};

/* idmap_find_if visitor: collects the alloc ids of one owner (one pass). */
static int collect_owned(void *val, void *arg)
{
    struct kvs_obj *o = val;
    struct owned_ids *c = arg;
    if (o->owner != c->owner)
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        uint64_t *ids = realloc(c->ids, cap * sizeof(*ids));
        if (ids == NULL) {
            c->oom = 1;
            return 1; /* stop; the caller retries */
        }
        c->ids = ids;
        c->cap = cap;
    }
    c->ids[c->n++] = o->id;
    return 0;
}

void kvs_owner_gone(struct kvs *kvs, uint64_t owner)
{
    pthread_mutex_lock(&kvs->lock);
    uint64_t n_abort = 0;
    struct owned_ids c = {.owner = owner};
    do {
        c.n = 0;
        c.oom = 0;
        idmap_find_if(&kvs->pending, collect_owned, &c, NULL);
        for (size_t i = 0; i < c.n; i++) {
            abort_obj(kvs, take_pending(kvs, owner, c.ids[i]));
            n_abort++;
        }
    } while (c.oom && c.n > 0); /* no memory: free in chunks */
    free(c.ids);
    uint64_t n_lease =
        lease_drop_owner(&kvs->leases, owner, obj_drop_lease, kvs);
    pthread_mutex_unlock(&kvs->lock);
    if (n_abort || n_lease)
        KVP_LOG_I(kvs->log,
                  "store: connection %llu closed: aborted %llu pending "
                  "allocation(s), released %llu lease(s)",
                  (unsigned long long)owner, (unsigned long long)n_abort,
                  (unsigned long long)n_lease);
}

void kvs_stats(struct kvs *kvs, struct kvs_stats *st)
{
    pthread_mutex_lock(&kvs->lock);
    *st = kvs->st;
    st->leases = lease_count(&kvs->leases);
    pthread_mutex_unlock(&kvs->lock);
}

int32_t kvs_keys(struct kvs *kvs, const void *prefix, uint16_t plen,
                 uint32_t limit, struct kvs_key **keys_p, uint32_t *n_p,
                 int *more_p)
{
    *keys_p = NULL;
    *n_p = 0;
    *more_p = 0;
    pthread_mutex_lock(&kvs->lock);
    /* one pass to size the block, one to fill it: no allocation while
     * matching, and the lock is held throughout so the two agree */
    size_t bytes = 0;
    uint32_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        char *text = NULL;
        struct kvs_key *out = NULL;
        if (pass == 1) {
            out = malloc(n * sizeof(*out) + bytes + 1);
            if (out == NULL) {
                pthread_mutex_unlock(&kvs->lock);
                return KVP_ERR_NO_MEMORY;
            }
            text = (char *)(out + n);
        }
        uint32_t k = 0;
        *more_p = 0;
        for (uint64_t b = 0; b < kvs->index.n_buckets; b++) {
            for (struct index_entry *e = kvs->index.buckets[b]; e != NULL;
                 e = e->next) {
                if (e->cur == NULL || e->key_len < plen ||
                    memcmp(e->key, prefix, plen) != 0)
                    continue;
                if (k == limit) {
                    *more_p = 1;
                    break;
                }
                if (pass == 0) {
                    bytes += e->key_len;
                } else {
                    memcpy(text, e->key, e->key_len);
                    out[k] = (struct kvs_key){text, e->key_len, e->cur->len};
                    text += e->key_len;
                }
                k++;
            }
            if (*more_p)
                break;
        }
        n = k;
        if (pass == 1)
            *keys_p = out;
    }
    pthread_mutex_unlock(&kvs->lock);
    *n_p = n;
    return KVP_OK;
}
