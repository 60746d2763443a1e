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
#include "options.h"

#define CFG_MAX_SERVERS 64
#define CFG_HOST_MAX    256
#define CFG_STR_MAX     4096
#define CFG_NAME_MAX    32 /* a transport module's name */

#define CFG_DEFAULT_POOL_SIZE        (UINT64_C(1) << 30)
#define CFG_DEFAULT_LOCAL_ARENA      (UINT64_C(4) << 20)
#define CFG_DEFAULT_TIMEOUT_MS       5000u
#define CFG_DEFAULT_LEASE_TIMEOUT_MS 30000u

struct cfg_server {
    char host[CFG_HOST_MAX];
    uint16_t port;
};

struct kvp_config {
    char transport[CFG_NAME_MAX]; /* module libkvplug_<transport>.so */
    uint32_t n_servers;           /* 0 = embedded server */
    struct cfg_server servers[CFG_MAX_SERVERS];
    char discovery[CFG_STR_MAX]; /* servers=etcd://...: "" = static list */
    uint64_t pool_size;                /* bytes, embedded server only */
    char auth_token_file[CFG_STR_MAX]; /* "" = no auth */
    uint32_t timeout_ms;
    int32_t log_level;         /* KVP_LOG_* */
    uint32_t lease_timeout_ms; /* embedded server */
    int32_t local_fastpath;    /* 1: same-host control rings when offered */
    int32_t local_fastget;     /* 1: gets through the shared index there */
    uint64_t local_arena;      /* bytes of a put arena there; 0: none */
    /* Every key the core does not know, "key=value" in the order given:
     * the transport module's options (device, gid_index, ucx_tls, ...),
     * checked by the module when it is loaded (cfg_xport_load). */
    struct kvp_kvlist xport_opts;
};

/* The core's keys (docs/config.md "Keys"). */
extern const struct kvp_opt cfg_table[];
extern const size_t cfg_table_len;

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

/* The effective configuration, every key of cfg_table, as
 * "key=value; ..." (sizes in human units, an empty value as "(none)",
 * servers= as "(embedded)"), then the transport module's options as
 * given. Truncated at cap. */
void cfg_describe(const struct kvp_config *cfg, char *buf, size_t cap);

struct kvp_transport_ops;

/* Loads the module cfg->transport and hands it its options: *ops_p = the
 * module's ops; opts[0..*n_opts) = the "key=value" strings of
 * cfg->xport_opts it takes (pointers into cfg; opts has KVP_KVLIST_MAX
 * slots). KVP_ERR_INVALID naming the module, the key and the accepted
 * values for a bad value or a key no one takes (the message lists the
 * valid keys); the loader's status when the module does not load.
 * (cfg_xport.c) */
int32_t cfg_xport_load(const struct kvp_config *cfg,
                       const struct kvp_transport_ops **ops_p,
                       const char **opts, uint32_t *n_opts,
                       const struct kvp_logger *lg);

#endif /* KVP_CONFIG_H */
