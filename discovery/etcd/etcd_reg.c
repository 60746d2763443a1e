/* etcd_reg.c - the server side: a lease of ttl_s seconds, the key
 * PREFIX/ADVERTISE held by it, and a thread that keeps the lease alive
 * (every ttl/3) and registers again when it was lost (etcd.h). */
#include "etcd.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct kvp_disc_reg {
    struct etcd_target t;
    char key[ETCD_URL_MAX + KVP_DISC_HOST_MAX + 16];
    char value[KVP_DISC_HOST_MAX + 16];
    uint32_t ttl_s, timeout_ms;
    int64_t lease; /* 0 = none held */
    struct kvp_logger log;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;
};

static int32_t post_id(struct kvp_disc_reg *r, const char *path,
                       struct json_object **resp_p, char *err, size_t cap)
{
    struct json_object *req = json_object_new_object();
    json_object_object_add(req, "ID", json_object_new_int64(r->lease));
    int32_t st = etcd_post(&r->t, path, req, r->timeout_ms, resp_p, err, cap);
    json_object_put(req);
    return st;
}

/* Grants a lease and puts the key under it. */
static int32_t reg_join(struct kvp_disc_reg *r, char *err, size_t cap)
{
    struct json_object *req = json_object_new_object(), *resp = NULL;
    json_object_object_add(req, "TTL", json_object_new_int64(r->ttl_s));
    int32_t st = etcd_post(&r->t, "/v3/lease/grant", req, r->timeout_ms,
                           &resp, err, cap);
    json_object_put(req);
    if (st != KVP_OK)
        return st;
    r->lease = etcd_i64(resp, "ID");
    json_object_put(resp);
    if (r->lease == 0) {
        snprintf(err, cap, "lease grant returned no ID");
        return KVP_ERR_TRANSPORT;
    }
    req = json_object_new_object();
    json_object_object_add(req, "key", etcd_b64(r->key, strlen(r->key)));
    json_object_object_add(req, "value",
                           etcd_b64(r->value, strlen(r->value)));
    json_object_object_add(req, "lease", json_object_new_int64(r->lease));
    st = etcd_post(&r->t, "/v3/kv/put", req, r->timeout_ms, &resp, err, cap);
    json_object_put(req);
    json_object_put(resp);
    if (st != KVP_OK)
        r->lease = 0;
    return st;
}

/* KVP_OK while the lease lives; KVP_ERR_NOT_FOUND when it expired. */
static int32_t reg_keepalive(struct kvp_disc_reg *r, char *err, size_t cap)
{
    struct json_object *resp = NULL, *res = NULL;
    int32_t st = post_id(r, "/v3/lease/keepalive", &resp, err, cap);
    if (st != KVP_OK)
        return st;
    if (!json_object_object_get_ex(resp, "result", &res))
        res = resp;
    int64_t ttl = etcd_i64(res, "TTL");
    json_object_put(resp);
    if (ttl <= 0) {
        snprintf(err, cap, "lease %lld expired", (long long)r->lease);
        r->lease = 0;
        return KVP_ERR_NOT_FOUND;
    }
    return KVP_OK;
}

/* Sleeps ms unless stopped; returns stop. */
static int nap(struct kvp_disc_reg *r, uint32_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->lock);
    while (!r->stop && pthread_cond_timedwait(&r->cond, &r->lock, &ts) == 0)
        ;
    int s = r->stop;
    pthread_mutex_unlock(&r->lock);
    return s;
}

static void *reg_main(void *arg)
{
    struct kvp_disc_reg *r = arg;
    int lost = 0;
    uint32_t period = r->ttl_s * 1000 / 3;
    while (!nap(r, lost ? 1000 : period)) {
        char err[512];
        int32_t st = r->lease != 0 ? reg_keepalive(r, err, sizeof(err))
                                   : KVP_ERR_NOT_FOUND;
        if (st == KVP_ERR_NOT_FOUND)
            st = reg_join(r, err, sizeof(err));
        if (st != KVP_OK && !lost)
            KVP_LOG_W(&r->log,
                      "etcd %s: cannot keep %s registered (%s); retrying "
                      "every second",
                      r->t.base, r->key, err);
        else if (st == KVP_OK && lost)
            KVP_LOG_W(&r->log, "etcd %s: %s registered again", r->t.base,
                      r->key);
        lost = st != KVP_OK;
    }
    return NULL;
}

int32_t etcd_register_start(const char *endpoint, const char *prefix,
                            const char *advertise, uint32_t ttl_s,
                            uint32_t timeout_ms, const struct kvp_logger *lg,
                            struct kvp_disc_reg **r_p)
{
    struct kvp_disc_member m;
    const char *why = NULL;
    struct kvp_disc_reg *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return KVP_ERR_NO_MEMORY;
    if (etcd_parse_endpoint(endpoint, prefix, &r->t, &why) != 0) {
        KVP_LOG_E(lg, "--etcd '%s' (prefix '%s'): %s", endpoint,
                  prefix ? prefix : "", why);
        free(r);
        return KVP_ERR_INVALID;
    }
    if (etcd_parse_member(advertise, &m) != 0 || ttl_s < 2) {
        KVP_LOG_E(lg, "%s", ttl_s < 2 ? "etcd lease TTL must be >= 2 s"
                                      : "--advertise: expected HOST:PORT "
                                        "with port 1..65535");
        free(r);
        return KVP_ERR_INVALID;
    }
    snprintf(r->key, sizeof(r->key), "%s/%s", r->t.prefix, advertise);
    snprintf(r->value, sizeof(r->value), "%s", advertise);
    r->ttl_s = ttl_s;
    r->timeout_ms = timeout_ms;
    r->log = *lg;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    char err[512];
    int32_t st = reg_join(r, err, sizeof(err));
    if (st == KVP_OK && pthread_create(&r->thread, NULL, reg_main, r) != 0)
        st = KVP_ERR_NO_MEMORY;
    if (st != KVP_OK) {
        if (st != KVP_ERR_NO_MEMORY)
            KVP_LOG_E(lg,
                      "--etcd %s: cannot register %s (%s); start etcd or "
                      "fix the address",
                      r->t.base, r->key, err);
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return st;
    }
    KVP_LOG_I(lg, "etcd %s: registered %s (lease %lld, TTL %u s)", r->t.base,
              r->key, (long long)r->lease, ttl_s);
    *r_p = r;
    return KVP_OK;
}

void etcd_register_stop(struct kvp_disc_reg *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    if (r->lease != 0) {
        struct json_object *resp = NULL;
        char err[512];
        if (post_id(r, "/v3/lease/revoke", &resp, err, sizeof(err)) != KVP_OK)
            KVP_LOG_W(&r->log, "etcd %s: revoking the lease of %s: %s; it "
                               "drops out after its TTL",
                      r->t.base, r->key, err);
        json_object_put(resp);
    }
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
