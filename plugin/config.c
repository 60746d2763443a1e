/* config.c - parser of the engine configuration string (docs/config.md). */
#include "config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hostport.h"
#include "server_opts.h"

#define CFG_INPUT_MAX                                                          \
    (64 * 1024) /* a config string longer than this is                         \
                 * refused: nothing legitimate needs it */
#define URL_PREFIX "kvplug://"

void cfg_defaults(struct kvp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->transport, sizeof(cfg->transport), "%s", "ucx");
    cfg->pool_size = CFG_DEFAULT_POOL_SIZE;
    cfg->timeout_ms = CFG_DEFAULT_TIMEOUT_MS;
    cfg->log_level = KVP_LOG_WARN;
    cfg->lease_timeout_ms = CFG_DEFAULT_LEASE_TIMEOUT_MS;
    cfg->local_fastpath = 1;
    cfg->local_fastget = 1;
    cfg->local_arena = CFG_DEFAULT_LOCAL_ARENA;
}

/* servers=etcd://HOST:PORT[/PREFIX]: the members come from a registry
 * (a discovery module, loaded at engine_create). */
static int set_registry(const char *v, struct kvp_config *cfg,
                        const char **why)
{
    static const char scheme[] = "etcd://";
    *why = "the only registry is etcd://HOST:PORT[/PREFIX]";
    if (strncmp(v, scheme, sizeof(scheme) - 1) != 0)
        return -1;
    const char *hp = v + sizeof(scheme) - 1;
    char one[CFG_HOST_MAX + 8], host[CFG_HOST_MAX];
    size_t hn = strcspn(hp, "/");
    uint16_t port;
    if (hn >= sizeof(one))
        return -1;
    memcpy(one, hp, hn);
    one[hn] = '\0';
    if (kvp_parse_hostport(one, host, sizeof(host), &port) != 0) {
        *why = "etcd://HOST:PORT[/PREFIX] with port 1..65535";
        return -1;
    }
    if (strlen(v) >= sizeof(cfg->discovery)) {
        *why = "too long";
        return -1;
    }
    snprintf(cfg->discovery, sizeof(cfg->discovery), "%s", v);
    return 0;
}

/* servers=: field is cfg->n_servers (the list follows it in the struct). */
static int set_servers(const char *v, void *field, size_t size,
                       const char **why)
{
    (void)size;
    struct kvp_config *cfg =
        (struct kvp_config *)((char *)field -
                              offsetof(struct kvp_config, n_servers));
    cfg->n_servers = 0;
    cfg->discovery[0] = '\0';
    if (v[0] == '\0')
        return 0; /* empty: embedded server */
    if (strstr(v, "://") != NULL)
        return set_registry(v, cfg, why);
    char buf[CFG_STR_MAX];
    size_t vlen = strlen(v);
    if (vlen >= sizeof(buf)) {
        *why = "list too long";
        return -1;
    }
    memcpy(buf, v, vlen + 1);
    char *next = buf;
    while (next != NULL) {
        char *tok = next;
        next = strchr(tok, ',');
        if (next != NULL)
            *next++ = '\0';
        while (*tok == ' ')
            tok++;
        size_t n = strlen(tok);
        while (n > 0 && tok[n - 1] == ' ')
            tok[--n] = '\0';
        if (cfg->n_servers == CFG_MAX_SERVERS) {
            *why = "more than 64 servers";
            return -1;
        }
        struct cfg_server *srv = &cfg->servers[cfg->n_servers];
        if (kvp_parse_hostport(tok, srv->host, sizeof(srv->host),
                               &srv->port) != 0) {
            *why = "expected host:port[,host:port...] with port 1..65535";
            return -1;
        }
        cfg->n_servers++;
    }
    if (cfg->n_servers == 0) {
        *why = "no server in the list";
        return -1;
    }
    return 0;
}

/* transport=: a module's short name, libkvplug_<name>.so. */
static int set_transport(const char *v, void *field, size_t size,
                         const char **why)
{
    size_t len = strlen(v);
    if (len == 0 || len >= size) {
        *why = "must be 1..31 characters";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (!islower((unsigned char)v[i]) && !isdigit((unsigned char)v[i]) &&
            v[i] != '_') {
            *why = "not a module name (a-z, 0-9, '_')";
            return -1;
        }
    }
    memcpy(field, v, len + 1);
    return 0;
}

/* servers= as it would be written: the registry URL, the list, or
 * "(embedded)". */
static void show_servers(const void *field, size_t size, char *buf,
                         size_t cap)
{
    (void)size;
    const struct kvp_config *cfg =
        (const struct kvp_config *)((const char *)field -
                                    offsetof(struct kvp_config, n_servers));
    if (cfg->discovery[0] != '\0') {
        snprintf(buf, cap, "%s", cfg->discovery);
        return;
    }
    if (cfg->n_servers == 0) {
        snprintf(buf, cap, "(embedded)");
        return;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < cfg->n_servers && used < cap; i++) {
        const struct cfg_server *s = &cfg->servers[i];
        int w = snprintf(buf + used, cap - used,
                         strchr(s->host, ':') ? "%s[%s]:%u" : "%s%s:%u",
                         i ? "," : "", s->host, (unsigned)s->port);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void show_str(const void *field, size_t size, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.*s", (int)size, (const char *)field);
}

#define CFG_AT(f) KVP_OPT_AT(struct kvp_config, f)

const struct kvp_opt cfg_table[] = {
    {"transport", KVP_OPT_CUSTOM, 0, CFG_AT(transport), 0, 0, set_transport,
     "NAME",
     "the name of a transport module libkvplug_<name>.so: ucx, verbs, ...",
     "data-path module (default ucx)", show_str},
    {"servers", KVP_OPT_CUSTOM, 0, CFG_AT(n_servers), 0, 0, set_servers,
     "H:P,...",
     "host:port[,host:port...] with port 1..65535, up to 64, or "
     "etcd://HOST:PORT[/PREFIX]",
     "store servers, or the registry listing them (empty = embedded "
     "server)",
     show_servers},
    KVP_SRV_OPT_POOL_SIZE(struct kvp_config, pool_size,
                          "pool of the embedded server (default 1GiB)"),
    KVP_SRV_OPT_TOKEN_FILE(struct kvp_config, auth_token_file,
                           "file holding the shared secret"),
    {"timeout_ms", KVP_OPT_UINT, 0, CFG_AT(timeout_ms), 1, 3600000, NULL,
     "MS", "milliseconds 1..3600000",
     "bound on every request and flush (default 5000)", NULL},
    KVP_SRV_OPT_LOG_LEVEL(struct kvp_config, log_level),
    KVP_SRV_OPT_LEASE_TIMEOUT(struct kvp_config, lease_timeout_ms,
                              "embedded server: read lease expiry (default "
                              "30000)"),
    {"local_fastpath", KVP_OPT_BOOL, 0, CFG_AT(local_fastpath), 0, 1, NULL,
     "0|1", "0 or 1 (also false/true, no/yes, off/on)",
     "control over shared-memory rings to a server on this host (default "
     "1; 0 = TCP)",
     NULL},
    {"local_fastget", KVP_OPT_BOOL, 0, CFG_AT(local_fastget), 0, 1, NULL,
     "0|1", "0 or 1 (also false/true, no/yes, off/on)",
     "on the same-host rings, gets read the server's shared index and need "
     "no round trip (default 1; 0 = LOOKUP every get)",
     NULL},
    {"local_arena", KVP_OPT_SIZE, 0, CFG_AT(local_arena), 0, 0, NULL, "BYTES",
     "a size such as 4mib, or 0",
     "on the same-host rings, puts fill an arena of this size the server "
     "grants and commit with one round trip (default 4 MiB, at most 1/8 of "
     "the server's pool; 0 = ALLOC and COMMIT every put)",
     NULL},
};
const size_t cfg_table_len = sizeof(cfg_table) / sizeof(cfg_table[0]);

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                     s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* One pair. Core keys go through the table (bit i of *seen for entry
 * i); other keys are the transport module's and are kept as strings
 * (mine: those set by this string, for duplicates). */
static int32_t apply_pair(const char *k, const char *v, struct kvp_config *cfg,
                          uint32_t *seen, struct kvp_kvlist *mine,
                          const struct kvp_logger *lg)
{
    const struct kvp_opt *o = kvp_opt_find(cfg_table, cfg_table_len, k);
    if (o != NULL) {
        uint32_t bit = UINT32_C(1) << (o - cfg_table);
        if (*seen & bit) {
            KVP_LOG_E(lg, "config: key '%s' given twice", k);
            return KVP_ERR_INVALID;
        }
        char err[512];
        if (kvp_opt_set(o, v, cfg, KVP_OPT_KEYS, err, sizeof(err)) != 0) {
            KVP_LOG_E(lg, "config: %s", err);
            return KVP_ERR_INVALID;
        }
        *seen |= bit;
        return KVP_OK;
    }
    if (!kvp_key_valid(k)) {
        KVP_LOG_E(lg,
                  "config: '%.64s' is not a key (1..63 of a-z, 0-9, '_', "
                  "optionally '<transport>.' before it)",
                  k);
        return KVP_ERR_INVALID;
    }
    if (kvp_kvlist_get(mine, k) != NULL) {
        KVP_LOG_E(lg, "config: key '%s' given twice", k);
        return KVP_ERR_INVALID;
    }
    if (kvp_kvlist_set(mine, k, v) != 0 ||
        kvp_kvlist_set(&cfg->xport_opts, k, v) != 0) {
        KVP_LOG_E(lg,
                  "config: key '%s': more than %d transport options or %d "
                  "bytes of them",
                  k, KVP_KVLIST_MAX, KVP_KVLIST_CAP);
        return KVP_ERR_INVALID;
    }
    return KVP_OK;
}

/* Parses the pairs of `list` (separated by sep), updating *seen. */
static int32_t parse_pairs(char *list, char sep, struct kvp_config *cfg,
                           uint32_t *seen, struct kvp_kvlist *mine,
                           const struct kvp_logger *lg)
{
    char *p = list;
    while (p != NULL) {
        char *next = strchr(p, sep);
        if (next != NULL)
            *next++ = '\0';
        char *tok = trim(p);
        p = next;
        if (tok[0] == '\0')
            continue; /* empty segment: "a=1;;b=2", trailing ';' */
        char *eq = strchr(tok, '=');
        if (eq == NULL) {
            KVP_LOG_E(lg, "config: '%.64s' is not key=value", tok);
            return KVP_ERR_INVALID;
        }
        *eq = '\0';
        int32_t st = apply_pair(trim(tok), trim(eq + 1), cfg, seen, mine, lg);
        if (st != KVP_OK)
            return st;
    }
    return KVP_OK;
}

int32_t cfg_parse(const char *str, struct kvp_config *cfg,
                  const struct kvp_logger *lg)
{
    if (cfg == NULL)
        return KVP_ERR_INVALID;
    if (str == NULL || str[0] == '\0')
        return KVP_OK;
    size_t len = strnlen(str, CFG_INPUT_MAX + 1);
    if (len > CFG_INPUT_MAX) {
        KVP_LOG_E(lg, "config: string longer than %d bytes", CFG_INPUT_MAX);
        return KVP_ERR_INVALID;
    }
    /* Work on a copy: a failed parse must leave *cfg untouched. */
    struct kvp_config *tmp = malloc(sizeof(*tmp));
    struct kvp_kvlist *mine = calloc(1, sizeof(*mine));
    char *buf = malloc(len + 1);
    int32_t st = KVP_ERR_NO_MEMORY;
    if (tmp == NULL || mine == NULL || buf == NULL)
        goto out_free;
    *tmp = *cfg;
    memcpy(buf, str, len + 1);
    uint32_t seen = 0;
    char *s = trim(buf);
    if (strncmp(s, URL_PREFIX, strlen(URL_PREFIX)) == 0) {
        char *auth = s + strlen(URL_PREFIX);
        char *query = strchr(auth, '?');
        if (query != NULL)
            *query++ = '\0';
        /* tolerate a trailing '/' after the authority */
        size_t an = strlen(auth);
        if (an > 0 && auth[an - 1] == '/')
            auth[an - 1] = '\0';
        if (auth[0] != '\0') {
            st = apply_pair("servers", auth, tmp, &seen, mine, lg);
            if (st != KVP_OK)
                goto out_free;
        }
        st = query != NULL ? parse_pairs(query, '&', tmp, &seen, mine, lg)
                           : KVP_OK;
    } else {
        st = parse_pairs(s, ';', tmp, &seen, mine, lg);
    }
    if (st == KVP_OK)
        *cfg = *tmp;
out_free:
    free(buf);
    free(mine);
    free(tmp);
    return st;
}

int32_t cfg_load(const char *str, struct kvp_config *cfg,
                 const struct kvp_logger *lg)
{
    cfg_defaults(cfg);
    int32_t st = cfg_parse(str, cfg, lg);
    if (st != KVP_OK)
        return st;
    const char *env = getenv("KVPLUG_CONFIG");
    if (env != NULL && env[0] != '\0') {
        st = cfg_parse(env, cfg, lg);
        if (st != KVP_OK)
            KVP_LOG_E(lg, "config: in KVPLUG_CONFIG (see the message above)");
    }
    return st;
}

void cfg_describe(const struct kvp_config *cfg, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    buf[0] = '\0';
    kvp_opt_describe(cfg_table, cfg_table_len, cfg, KVP_OPT_KEYS, buf, cap);
    /* the transport module's options, as given (the module's defaults
     * for the others) */
    const char *kv[KVP_KVLIST_MAX];
    uint32_t n = kvp_kvlist_ptrs(&cfg->xport_opts, kv);
    size_t len = strnlen(buf, cap);
    for (uint32_t i = 0; i < n && len + 1 < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s; ", kv[i]);
        if (w < 0 || (size_t)w >= cap - len)
            break;
        len += (size_t)w;
    }
    /* no trailing "; " */
    len = strnlen(buf, cap);
    if (len >= 2 && len < cap && buf[len - 2] == ';' && buf[len - 1] == ' ')
        buf[len - 2] = '\0';
}
