/* etcd_http.c - one JSON request to etcd's v3 gateway, base64, and the
 * member list (etcd.h). */
#include "etcd.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "hostport.h"

#define ETCD_REPLY_MAX (16u << 20) /* a member list is tiny; refuse floods */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int split_hostport(const char *s, size_t n, const char **why)
{
    /* HOST:PORT or [v6]:PORT, port 1..65535 */
    char buf[ETCD_URL_MAX];
    struct kvp_disc_member m;
    if (n == 0 || n >= sizeof(buf)) {
        *why = "expected HOST:PORT";
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (etcd_parse_member(buf, &m) != 0) {
        *why = "expected HOST:PORT with port 1..65535";
        return -1;
    }
    return 0;
}

static int set_prefix(struct etcd_target *t, const char *p, size_t n,
                      const char **why)
{
    while (n > 1 && p[n - 1] == '/')
        n--; /* "/kvplug/" = "/kvplug" */
    if (n == 0 || (n == 1 && p[0] == '/')) {
        p = KVP_DISC_DEFAULT_PREFIX;
        n = strlen(p);
    }
    if (n + 2 > sizeof(t->prefix)) {
        *why = "prefix too long";
        return -1;
    }
    size_t off = 0;
    if (p[0] != '/')
        t->prefix[off++] = '/';
    memcpy(t->prefix + off, p, n);
    t->prefix[off + n] = '\0';
    return 0;
}

int etcd_parse_url(const char *url, struct etcd_target *t, const char **why)
{
    static const char scheme[] = "etcd://";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        *why = "expected etcd://HOST:PORT[/PREFIX]";
        return -1;
    }
    const char *hp = url + sizeof(scheme) - 1;
    const char *slash = strchr(hp, '/');
    size_t hn = slash ? (size_t)(slash - hp) : strlen(hp);
    if (split_hostport(hp, hn, why) != 0)
        return -1;
    snprintf(t->base, sizeof(t->base), "http://%.*s", (int)hn, hp);
    const char *p = slash ? slash : "";
    return set_prefix(t, p, strlen(p), why);
}

int etcd_parse_endpoint(const char *endpoint, const char *prefix,
                        struct etcd_target *t, const char **why)
{
    const char *hp = endpoint;
    if (strncmp(hp, "http://", 7) == 0)
        hp += 7;
    else if (strstr(hp, "://") != NULL) {
        *why = "expected http://HOST:PORT (https is not supported)";
        return -1;
    }
    size_t hn = strlen(hp);
    while (hn > 0 && hp[hn - 1] == '/')
        hn--;
    if (split_hostport(hp, hn, why) != 0)
        return -1;
    snprintf(t->base, sizeof(t->base), "http://%.*s", (int)hn, hp);
    const char *p = prefix ? prefix : "";
    return set_prefix(t, p, strlen(p), why);
}

int etcd_parse_member(const char *s, struct kvp_disc_member *m)
{
    return kvp_parse_hostport(s, m->host, sizeof(m->host), &m->port);
}

struct reply {
    char *data;
    size_t len;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *u)
{
    struct reply *r = u;
    size_t n = sz * nm;
    if (r->len + n > ETCD_REPLY_MAX)
        return 0;
    char *d = realloc(r->data, r->len + n + 1);
    if (d == NULL)
        return 0;
    memcpy(d + r->len, p, n);
    r->data = d;
    r->len += n;
    d[r->len] = '\0';
    return n;
}

int32_t etcd_post(const struct etcd_target *t, const char *path,
                  struct json_object *body, uint32_t timeout_ms,
                  struct json_object **resp_p, char *err, size_t err_cap)
{
    pthread_once(&curl_once, curl_init_once);
    *resp_p = NULL;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, err_cap, "libcurl: cannot create a handle");
        return KVP_ERR_NO_MEMORY;
    }
    char url[ETCD_URL_MAX + 64];
    snprintf(url, sizeof(url), "%s%s", t->base, path);
    struct reply r = {NULL, 0};
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr =
        curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                     json_object_to_json_string_ext(body,
                                                    JSON_C_TO_STRING_PLAIN));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    int32_t st = KVP_OK;
    if (cc != CURLE_OK) {
        snprintf(err, err_cap, "%s: %s", url,
                 cerr[0] ? cerr : curl_easy_strerror(cc));
        st = KVP_ERR_DISCONNECTED;
    } else if (code != 200) {
        snprintf(err, err_cap, /* bare-status-ok: an HTTP status */
                 "%s: HTTP %ld: %.200s", url, code, r.data ? r.data : "");
        st = KVP_ERR_TRANSPORT;
    } else if ((*resp_p = json_tokener_parse(r.data ? r.data : "")) ==
               NULL) {
        snprintf(err, err_cap, "%s: the reply is not JSON", url);
        st = KVP_ERR_TRANSPORT;
    }
    free(r.data);
    return st;
}

struct json_object *etcd_b64(const void *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    int n = EVP_EncodeBlock(out, data, (int)len);
    struct json_object *s = json_object_new_string_len((char *)out, n);
    free(out);
    return s;
}

int etcd_unb64(struct json_object *s, char *buf, size_t cap, size_t *len_p)
{
    if (s == NULL || !json_object_is_type(s, json_type_string))
        return -1;
    int in = json_object_get_string_len(s);
    const char *p = json_object_get_string(s);
    if (in % 4 != 0 || (size_t)(in / 4) * 3 + 1 > cap)
        return -1;
    int n = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)p,
                            in);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock keeps the padding's zero bytes: drop them */
    for (int i = in - 1; i >= 0 && p[i] == '='; i--)
        n--;
    buf[n] = '\0';
    if (len_p != NULL)
        *len_p = (size_t)n;
    return 0;
}

void etcd_range_of(const struct etcd_target *t, struct json_object *req)
{
    char k[ETCD_URL_MAX + 2];
    size_t n = (size_t)snprintf(k, sizeof(k), "%s/", t->prefix);
    json_object_object_add(req, "key", etcd_b64(k, n));
    k[n - 1] = '/' + 1; /* every key that starts with "prefix/" */
    json_object_object_add(req, "range_end", etcd_b64(k, n));
}

int64_t etcd_i64(struct json_object *o, const char *field)
{
    struct json_object *v = NULL;
    if (o == NULL || !json_object_object_get_ex(o, field, &v))
        return 0;
    return json_object_get_int64(v); /* parses "123" strings too */
}

static int member_cmp(const void *a, const void *b)
{
    const struct kvp_disc_member *x = a, *y = b;
    int c = strcmp(x->host, y->host);
    return c != 0 ? c : (int)x->port - (int)y->port;
}

int32_t etcd_members(const struct etcd_target *t, uint32_t timeout_ms,
                     struct kvp_disc_member **m_p, uint32_t *n_p,
                     int64_t *rev_p, char *err, size_t err_cap)
{
    struct json_object *req = json_object_new_object(), *resp = NULL;
    etcd_range_of(t, req);
    int32_t st = etcd_post(t, "/v3/kv/range", req, timeout_ms, &resp, err,
                           err_cap);
    json_object_put(req);
    if (st != KVP_OK)
        return st;
    struct json_object *hdr = NULL, *kvs = NULL;
    json_object_object_get_ex(resp, "header", &hdr);
    *rev_p = etcd_i64(hdr, "revision");
    size_t n = 0;
    if (json_object_object_get_ex(resp, "kvs", &kvs) &&
        json_object_is_type(kvs, json_type_array))
        n = json_object_array_length(kvs);
    struct kvp_disc_member *m = n ? calloc(n, sizeof(*m)) : NULL;
    if (n > 0 && m == NULL) {
        json_object_put(resp);
        return KVP_ERR_NO_MEMORY;
    }
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *kv = json_object_array_get_idx(kvs, i), *v = NULL;
        char val[KVP_DISC_HOST_MAX + 16];
        if (!json_object_object_get_ex(kv, "value", &v) ||
            etcd_unb64(v, val, sizeof(val), NULL) != 0 ||
            etcd_parse_member(val, &m[k]) != 0)
            continue; /* not ours: skipped (logged by the caller's count) */
        k++;
    }
    json_object_put(resp);
    qsort(m, k, sizeof(*m), member_cmp);
    *m_p = m;
    *n_p = k;
    return KVP_OK;
}
