/*
 * config.h - the engine configuration string (docs/config.md).
 *
 * Two forms:
 *   "key=value;key=value"                        (spaces around tokens ok)
 *   "kvplug://h1:p1,h2:p2?key=value&key=value"   (authority = servers=)
 * KVPLUG_CONFIG (either form) is merged over the string key by key: a key
 * set in the environment replaces the same key of the string, other keys
 * keep their values. A key given twice in ONE string is an error.
 */
#ifndef KVP_CONFIG_H
#define KVP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CFG_MAX_SERVERS 64
#define CFG_HOST_MAX    256
#define CFG_STR_MAX     4096

#define CFG_TRANSPORT_UCX   0
#define CFG_TRANSPORT_VERBS 1

#define CFG_DEFAULT_POOL_SIZE        (UINT64_C(1) << 30)
#define CFG_DEFAULT_TIMEOUT_MS       5000u
#define CFG_DEFAULT_LEASE_TIMEOUT_MS 30000u

struct cfg_server {
    char host[CFG_HOST_MAX];
    uint16_t port;
};

struct kvp_config {
    int32_t transport;  /* CFG_TRANSPORT_* */
    uint32_t n_servers; /* 0 = embedded server */
    struct cfg_server servers[CFG_MAX_SERVERS];
    char discovery[CFG_STR_MAX]; /* servers=etcd://...: "" = static list */
    uint64_t pool_size;                /* bytes, embedded server only */
    char device[CFG_STR_MAX];          /* "" = first active (verbs) */
    int32_t port;                      /* verbs port, 0 = first active */
    int32_t gid_index;                 /* -1 = auto */
    char ucx_tls[CFG_STR_MAX];         /* "" = UCX default */
    char auth_token_file[CFG_STR_MAX]; /* "" = no auth */
    uint32_t timeout_ms;
    int32_t log_level;         /* KVP_LOG_* */
    uint32_t lease_timeout_ms; /* embedded server */
    uint64_t ucx_pack_below;   /* 0 = module default */
};

/* Defaults: ucx, embedded, 1 GiB, timeout 5000 ms, log warn. */
void cfg_defaults(struct kvp_config *cfg);

/* Parse one string (either form) over *cfg (keys not in str are kept).
 * str NULL or "" changes nothing. KVP_ERR_INVALID naming the key and why
 * (logged through lg) on an unknown key, a bad value or a duplicate. */
int32_t cfg_parse(const char *str, struct kvp_config *cfg,
                  const struct kvp_logger *lg);

/* defaults, then str, then getenv("KVPLUG_CONFIG") over it. */
int32_t cfg_load(const char *str, struct kvp_config *cfg,
                 const struct kvp_logger *lg);

/* The effective configuration, every key, as "key=value; ..." (sizes in
 * human units, "" values shown as they are). Truncated at cap. */
void cfg_describe(const struct kvp_config *cfg, char *buf, size_t cap);

/* "1GiB", "512MB", "4096": bytes into *out. -1 on a bad size/overflow. */
int cfg_parse_size(const char *s, uint64_t *out);

#endif /* KVP_CONFIG_H */
