/*
 * etcd.h - internals of libkvplug_etcd.so: etcd's v3 JSON gateway
 * (etcd 3.4: /v3/kv/range, /v3/kv/put, /v3/lease/grant|keepalive|revoke,
 * /v3/watch; keys and values base64) through libcurl and json-c.
 */
#ifndef KVP_ETCD_H
#define KVP_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "kvp_discovery.h"

#define ETCD_URL_MAX 512

/* Where the members live: "http://HOST:PORT" and the key prefix ("/p"). */
struct etcd_target {
    char base[ETCD_URL_MAX];
    char prefix[ETCD_URL_MAX];
};

/* "etcd://HOST:PORT[/PREFIX]" (client form) into t. -1 with *why. */
int etcd_parse_url(const char *url, struct etcd_target *t, const char **why);
/* "http://HOST:PORT" or "HOST:PORT" + prefix ("" = default) into t. */
int etcd_parse_endpoint(const char *endpoint, const char *prefix,
                        struct etcd_target *t, const char **why);

/* POSTs the JSON body to base + path; *resp_p = the parsed reply (put it
 * with json_object_put). KVP_ERR_DISCONNECTED: no answer within
 * timeout_ms (*err says the libcurl reason); KVP_ERR_TRANSPORT: an HTTP
 * error or a reply that is not JSON. */
int32_t etcd_post(const struct etcd_target *t, const char *path,
                  struct json_object *body, uint32_t timeout_ms,
                  struct json_object **resp_p, char *err, size_t err_cap);

/* base64 of bytes into a new json string; decoding of a json string into
 * buf (NUL-terminated), -1 if it does not fit or is not base64. */
struct json_object *etcd_b64(const void *data, size_t len);
int etcd_unb64(struct json_object *s, char *buf, size_t cap, size_t *len_p);

/* {"key": prefix "/", "range_end": prefix "0"} for every member key. */
void etcd_range_of(const struct etcd_target *t, struct json_object *req);

/* Reads the members: sorted, *m_p malloc'd; *rev_p = the revision. */
int32_t etcd_members(const struct etcd_target *t, uint32_t timeout_ms,
                     struct kvp_disc_member **m_p, uint32_t *n_p,
                     int64_t *rev_p, char *err, size_t err_cap);

/* A json int64 that the gateway sends as a string ("123"); 0 if absent. */
int64_t etcd_i64(struct json_object *o, const char *field);

/* "HOST:PORT" or "[v6]:PORT" into m. -1 if malformed. */
int etcd_parse_member(const char *s, struct kvp_disc_member *m);

int32_t etcd_watch_start(const char *url, uint32_t timeout_ms,
                         const struct kvp_logger *lg,
                         kvp_disc_update_fn update, void *user,
                         struct kvp_disc_watch **w_p);
void etcd_watch_stop(struct kvp_disc_watch *w);
int32_t etcd_list(const char *url, uint32_t timeout_ms,
                  const struct kvp_logger *lg, struct kvp_disc_member **m_p,
                  uint32_t *n_p);
int32_t etcd_register_start(const char *endpoint, const char *prefix,
                            const char *advertise, uint32_t ttl_s,
                            uint32_t timeout_ms, const struct kvp_logger *lg,
                            struct kvp_disc_reg **r_p);
void etcd_register_stop(struct kvp_disc_reg *r);

#endif /* KVP_ETCD_H */
