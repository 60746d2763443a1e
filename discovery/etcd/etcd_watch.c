/* etcd_watch.c - the client side: read the members, then watch the prefix
 * and hand every new member list to the plugin (etcd.h). A change is a
 * trigger: the list is re-read whole, so the plugin always gets a complete
 * list and a missed event cannot leave it wrong. */
#include "etcd.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define RETRY_MS 1000

struct kvp_disc_watch {
    struct etcd_target t;
    uint32_t timeout_ms;
    struct kvp_logger log;
    kvp_disc_update_fn update;
    void *user;
    pthread_t thread;
    CURLM *multi;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop;                     /* under lock */
    int changed;                  /* the watch saw an event */
    int64_t rev;                  /* revision of the last list read */
    struct kvp_disc_member *last; /* the last list handed over */
    uint32_t n_last;
    struct json_tokener *tok;
};

static int same(const struct kvp_disc_member *a, uint32_t na,
                const struct kvp_disc_member *b, uint32_t nb)
{
    if (na != nb)
        return 0;
    for (uint32_t i = 0; i < na; i++)
        if (a[i].port != b[i].port || strcmp(a[i].host, b[i].host) != 0)
            return 0;
    return 1;
}

/* Reads the list; hands it over if it changed. */
static int32_t refresh(struct kvp_disc_watch *w, char *err, size_t cap)
{
    struct kvp_disc_member *m = NULL;
    uint32_t n = 0;
    int64_t rev = 0;
    int32_t st = etcd_members(&w->t, w->timeout_ms, &m, &n, &rev, err, cap);
    if (st != KVP_OK)
        return st;
    w->rev = rev;
    if (w->last != NULL && same(w->last, w->n_last, m, n)) {
        free(m);
        return KVP_OK;
    }
    KVP_LOG_I(&w->log, "etcd %s%s: %u member(s)", w->t.base, w->t.prefix, n);
    w->update(w->user, m, n);
    free(w->last);
    w->last = m;
    w->n_last = n;
    return KVP_OK;
}

/* One JSON message of the watch stream. */
static void on_message(struct kvp_disc_watch *w, struct json_object *o)
{
    struct json_object *res = NULL, *ev = NULL, *v = NULL;
    if (!json_object_object_get_ex(o, "result", &res))
        res = o;
    if ((json_object_object_get_ex(res, "events", &ev) &&
         json_object_array_length(ev) > 0) ||
        (json_object_object_get_ex(res, "canceled", &v) &&
         json_object_get_boolean(v)) ||
        json_object_object_get_ex(o, "error", &v))
        w->changed = 1;
}

static size_t on_stream(char *p, size_t sz, size_t nm, void *u)
{
    struct kvp_disc_watch *w = u;
    size_t len = sz * nm, off = 0;
    while (off < len) {
        struct json_object *o =
            json_tokener_parse_ex(w->tok, p + off, (int)(len - off));
        if (o == NULL) {
            if (json_tokener_get_error(w->tok) == json_tokener_continue)
                return len;
            return 0; /* garbage: end this watch, re-read */
        }
        off += json_tokener_get_parse_end(w->tok);
        json_tokener_reset(w->tok);
        on_message(w, o);
        json_object_put(o);
    }
    return len;
}

static int stopping(struct kvp_disc_watch *w)
{
    pthread_mutex_lock(&w->lock);
    int s = w->stop;
    pthread_mutex_unlock(&w->lock);
    return s;
}

/* Watches from w->rev + 1 until an event, an error or stop. */
static int watch_once(struct kvp_disc_watch *w)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return 0;
    struct json_object *req = json_object_new_object();
    struct json_object *cr = json_object_new_object();
    etcd_range_of(&w->t, cr);
    json_object_object_add(cr, "start_revision",
                           json_object_new_int64(w->rev + 1));
    json_object_object_add(req, "create_request", cr);
    char url[ETCD_URL_MAX + 16];
    snprintf(url, sizeof(url), "%s/v3/watch", w->t.base);
    json_tokener_reset(w->tok);
    w->changed = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                     json_object_to_json_string_ext(req,
                                                    JSON_C_TO_STRING_PLAIN));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)w->timeout_ms);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 2L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
    curl_multi_add_handle(w->multi, c);
    int running = 1;
    while (running && !w->changed && !stopping(w)) {
        if (curl_multi_perform(w->multi, &running) != CURLM_OK)
            break;
        if (running && !w->changed)
            curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
    }
    curl_multi_remove_handle(w->multi, c);
    curl_easy_cleanup(c);
    json_object_put(req);
    return w->changed;
}

static void wait_retry(struct kvp_disc_watch *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += RETRY_MS / 1000;
    pthread_mutex_lock(&w->lock);
    while (!w->stop &&
           pthread_cond_timedwait(&w->cond, &w->lock, &ts) == 0)
        ;
    pthread_mutex_unlock(&w->lock);
}

static void *watch_main(void *arg)
{
    struct kvp_disc_watch *w = arg;
    int lost = 0;
    while (!stopping(w)) {
        /* returns on a change, a lost etcd, or stop */
        int changed = watch_once(w);
        if (stopping(w))
            break;
        char err[512];
        if (refresh(w, err, sizeof(err)) != KVP_OK) {
            if (!lost)
                KVP_LOG_W(&w->log,
                          "etcd %s%s lost (%s); keeping the last %u "
                          "member(s), retrying every %d ms",
                          w->t.base, w->t.prefix, err, w->n_last, RETRY_MS);
            lost = 1;
            wait_retry(w);
            continue;
        }
        if (lost)
            KVP_LOG_W(&w->log, "etcd %s%s is back: %u member(s)", w->t.base,
                      w->t.prefix, w->n_last);
        lost = 0;
        if (!changed)
            wait_retry(w); /* the stream ended without news: no busy loop */
    }
    return NULL;
}

static void watch_free(struct kvp_disc_watch *w)
{
    if (w->multi != NULL)
        curl_multi_cleanup(w->multi);
    if (w->tok != NULL)
        json_tokener_free(w->tok);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->last);
    free(w);
}

int32_t etcd_watch_start(const char *url, uint32_t timeout_ms,
                         const struct kvp_logger *lg,
                         kvp_disc_update_fn update, void *user,
                         struct kvp_disc_watch **w_p)
{
    struct kvp_disc_watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return KVP_ERR_NO_MEMORY;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->log = *lg;
    w->update = update;
    w->user = user;
    w->timeout_ms = timeout_ms;
    const char *why = NULL;
    if (etcd_parse_url(url, &w->t, &why) != 0) {
        KVP_LOG_E(lg, "servers='%s': %s", url, why);
        watch_free(w);
        return KVP_ERR_INVALID;
    }
    char err[512];
    int32_t st = refresh(w, err, sizeof(err));
    if (st != KVP_OK) {
        KVP_LOG_E(lg,
                  "servers='%s': etcd does not answer (%s); start etcd or "
                  "fix the address",
                  url, err);
        watch_free(w);
        return st;
    }
    w->multi = curl_multi_init();
    w->tok = json_tokener_new();
    if (w->multi == NULL || w->tok == NULL ||
        pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        watch_free(w);
        return KVP_ERR_NO_MEMORY;
    }
    *w_p = w;
    return KVP_OK;
}

void etcd_watch_stop(struct kvp_disc_watch *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    curl_multi_wakeup(w->multi);
    pthread_join(w->thread, NULL);
    watch_free(w);
}

int32_t etcd_list(const char *url, uint32_t timeout_ms,
                  const struct kvp_logger *lg, struct kvp_disc_member **m_p,
                  uint32_t *n_p)
{
    struct etcd_target t;
    const char *why = NULL;
    if (etcd_parse_url(url, &t, &why) != 0) {
        KVP_LOG_E(lg, "'%s': %s", url, why);
        return KVP_ERR_INVALID;
    }
    char err[512];
    int64_t rev;
    int32_t st = etcd_members(&t, timeout_ms, m_p, n_p, &rev, err,
                              sizeof(err));
    if (st != KVP_OK)
        KVP_LOG_E(lg, "'%s': etcd does not answer (%s)", url, err);
    return st;
}
