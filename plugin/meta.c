/* meta.c - exists, stat, remove and their 1.1 batch and prefix forms,
 * get_stats: control-channel only, no data moves. */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "engine.h"
#include "ops.h"
#include "store_client.h"
#include "xfer.h"

static int32_t req_lookup1(struct store_conn *c, void *arg)
{
    return store_lookup(c, 1, arg, STORE_LOOKUP_NO_LEASE);
}

struct remove_req {
    const char *key;
    int32_t status;
};

static int32_t req_remove(struct store_conn *c, void *arg)
{
    struct remove_req *r = arg;
    return store_remove(c, r->key, &r->status);
}

/* LOOKUP without a lease: size into *len_p, or NOT_FOUND / an error. */
static int32_t meta_lookup(struct kvp_engine *e, const char *what,
                           const char *key, uint64_t *len_p)
{
    int32_t st = eng_check_key(e, what, key);
    if (st != KVP_OK)
        return st;
    uint32_t s = eng_server_of(e, key);
    struct eng_server *sv = eng_acquire(e, s);
    struct store_conn *c;
    struct store_lookup_item it = {.key = key};
    st = eng_request(e, sv, req_lookup1, &it, &c);
    eng_release(e, sv);
    if (st == KVP_OK)
        st = it.status;
    if (st == KVP_OK)
        *len_p = it.len;
    else if (st != KVP_ERR_NOT_FOUND)
        KVP_LOG_E(&e->log, "%s: key '%.128s': %s", what, key,
                  kvp_op_status_str(st));
    return st;
}

int32_t kvp_op_exists(struct kvp_engine *e, const char *key)
{
    if (e == NULL)
        return KVP_ERR_INVALID;
    uint64_t len;
    int32_t st = meta_lookup(e, "exists", key, &len);
    if (st == KVP_ERR_NOT_FOUND)
        return 0;
    return st == KVP_OK ? 1 : st;
}

int64_t kvp_op_stat(struct kvp_engine *e, const char *key)
{
    if (e == NULL)
        return KVP_ERR_INVALID;
    uint64_t len = 0;
    int32_t st = meta_lookup(e, "stat", key, &len);
    if (st != KVP_OK)
        return st;
    return len > (uint64_t)INT64_MAX ? KVP_ERR_INTERNAL : (int64_t)len;
}

int32_t kvp_op_remove(struct kvp_engine *e, const char *key)
{
    if (e == NULL)
        return KVP_ERR_INVALID;
    int32_t st = eng_check_key(e, "remove", key);
    if (st != KVP_OK)
        return st;
    uint32_t s = eng_server_of(e, key);
    struct eng_server *sv = eng_acquire(e, s);
    struct store_conn *c;
    struct remove_req r = {key, KVP_ERR_INTERNAL};
    st = eng_request(e, sv, req_remove, &r, &c);
    eng_release(e, sv);
    if (st == KVP_OK)
        st = r.status;
    if (st == KVP_OK)
        ENG_COUNT(e, removes, 1);
    if (st != KVP_OK)
        KVP_LOG_E(&e->log, "remove: key '%.128s': %s", key,
                  kvp_op_status_str(st));
    return st;
}

/* exists or remove over a batch: bad keys fail alone, the valid ones go
 * to xfer in one request per server. */
static int32_t meta_batch(struct kvp_engine *e, const char *what, int remove,
                          uint32_t n, const char *const *keys,
                          int32_t *results)
{
    int32_t ret;
    if (batch_precheck(e, what, n, results, NULL, &ret, "keys", keys, NULL))
        return ret;
    const char **ok = calloc(n, sizeof(*ok));
    uint32_t *map = malloc((size_t)n * sizeof(*map));
    int32_t *res = malloc((size_t)n * sizeof(*res));
    if (ok == NULL || map == NULL || res == NULL) {
        free(ok);
        free(map);
        free(res);
        return batch_fill32(results, n, KVP_ERR_NO_MEMORY);
    }
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        results[i] = eng_check_key(e, what, keys[i]);
        if (results[i] == KVP_OK) {
            ok[m] = keys[i];
            map[m++] = i;
        }
    }
    if (remove)
        xfer_remove(e, m, ok, res);
    else
        xfer_exists(e, m, ok, res);
    for (uint32_t j = 0; j < m; j++)
        results[map[j]] = res[j];
    free(ok);
    free(map);
    free(res);
    /* exists: 1 and 0 are answers; remove: only OK is success */
    for (uint32_t i = 0; i < n; i++)
        if (remove ? results[i] != KVP_OK : results[i] < 0)
            return KVP_PARTIAL;
    return KVP_OK;
}

int32_t kvp_op_batch_exists(struct kvp_engine *e, uint32_t n,
                            const char *const *keys, int32_t *results)
{
    return meta_batch(e, "batch_exists", 0, n, keys, results);
}

int32_t kvp_op_batch_remove(struct kvp_engine *e, uint32_t n,
                            const char *const *keys, int32_t *results)
{
    return meta_batch(e, "batch_remove", 1, n, keys, results);
}

struct prefix_req {
    const char *prefix;
    uint64_t removed;
};

static int32_t req_remove_prefix(struct store_conn *c, void *arg)
{
    struct prefix_req *r = arg;
    return store_remove_prefix(c, r->prefix, &r->removed);
}

int32_t kvp_op_remove_prefix(struct kvp_engine *e, const char *prefix,
                             uint64_t *removed_p)
{
    if (e == NULL)
        return KVP_ERR_INVALID;
    if (prefix == NULL || strnlen(prefix, KVP_KEY_MAX + 1) > KVP_KEY_MAX) {
        KVP_LOG_E(&e->log,
                  "remove_prefix: prefix is %s; pass \"\" to remove every "
                  "key, or a prefix of at most %d bytes",
                  prefix == NULL ? "NULL" : "longer than a key", KVP_KEY_MAX);
        return KVP_ERR_INVALID;
    }
    /* every server this engine uses, one at a time; the first error is
     * the result, the count covers the servers that answered */
    uint64_t removed = 0;
    int32_t first = KVP_OK;
    /* the members now (with servers=etcd:// the set may change) */
    pthread_rwlock_rdlock(&e->members_lock);
    uint32_t n = e->n_active;
    uint32_t *members = malloc((n ? n : 1) * sizeof(*members));
    if (members != NULL)
        memcpy(members, e->active, n * sizeof(*members));
    pthread_rwlock_unlock(&e->members_lock);
    if (members == NULL)
        return KVP_ERR_NO_MEMORY;
    for (uint32_t m = 0; m < n; m++) {
        struct eng_server *sv = eng_acquire(e, members[m]);
        struct store_conn *c;
        struct prefix_req r = {prefix, 0};
        int32_t st = eng_request(e, sv, req_remove_prefix, &r, &c);
        eng_release(e, sv);
        if (st == KVP_OK) {
            removed += r.removed;
            continue;
        }
        KVP_LOG_E(&e->log, "remove_prefix: '%.128s' on %s:%u: %s", prefix,
                  sv->addr.host, sv->addr.port, kvp_op_status_str(st));
        if (first == KVP_OK)
            first = st;
    }
    free(members);
    ENG_COUNT(e, removes, removed);
    if (removed_p != NULL)
        *removed_p = removed;
    return first;
}

int32_t kvp_op_get_stats(struct kvp_engine *e, struct kvp_stats *stats)
{
    if (e == NULL)
        return KVP_ERR_INVALID;
    if (stats == NULL || stats->struct_size < 2 * sizeof(uint32_t)) {
        KVP_LOG_E(&e->log,
                  "get_stats: stats is NULL or its struct_size (%u) is "
                  "smaller than 8; set it to sizeof(struct kvp_stats)",
                  stats != NULL ? stats->struct_size : 0);
        return KVP_ERR_INVALID;
    }
    struct kvp_stats v = {
        .struct_size = stats->struct_size,
        .puts = atomic_load(&e->cnt.puts),
        .put_bytes = atomic_load(&e->cnt.put_bytes),
        .gets = atomic_load(&e->cnt.gets),
        .get_bytes = atomic_load(&e->cnt.get_bytes),
        .get_hits = atomic_load(&e->cnt.get_hits),
        .get_misses = atomic_load(&e->cnt.get_misses),
        .errors = atomic_load(&e->cnt.errors),
        .reconnects = atomic_load(&e->cnt.reconnects),
        .removes = atomic_load(&e->cnt.removes),
    };
    /* what both sides know: a bigger host struct keeps its tail */
    size_t n = stats->struct_size < sizeof(v) ? stats->struct_size
                                              : sizeof(v);
    memcpy(stats, &v, n);
    return KVP_OK;
}
