/* meta.c - exists, stat, remove: control-channel only, no data moves. */
#include "engine.h"
#include "ops.h"
#include "store_client.h"

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
    if (st != KVP_OK)
        KVP_LOG_E(&e->log, "remove: key '%.128s': %s", key,
                  kvp_op_status_str(st));
    return st;
}
