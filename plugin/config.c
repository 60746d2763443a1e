/* config.c - parser of the engine configuration string (docs/config.md). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

#define CFG_INPUT_MAX                                                          \
    (64 * 1024) /* a config string longer than this is                         \
                 * refused: nothing legitimate needs it */
#define URL_PREFIX "kvplug://"

void cfg_defaults(struct kvp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->transport = CFG_TRANSPORT_UCX;
    cfg->pool_size = CFG_DEFAULT_POOL_SIZE;
    cfg->gid_index = -1;
    cfg->timeout_ms = CFG_DEFAULT_TIMEOUT_MS;
    cfg->log_level = KVP_LOG_WARN;
    cfg->lease_timeout_ms = CFG_DEFAULT_LEASE_TIMEOUT_MS;
}

/* Strict decimal integer in [lo, hi]. */
static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
    if (s[0] == '\0')
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int cfg_parse_size(const char *s, uint64_t *out)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    while (*end == ' ')
        end++;
    /* SI units (kB, MB, ...) are powers of 1000; IEC units (KiB, ...) and
     * the bare letters (K, M, G, T) are powers of 1024. */
    static const struct {
        const char *suffix;
        uint64_t mul;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"K", UINT64_C(1) << 10},
        {"KiB", UINT64_C(1) << 10},
        {"kB", 1000},
        {"KB", 1000},
        {"M", UINT64_C(1) << 20},
        {"MiB", UINT64_C(1) << 20},
        {"MB", 1000000},
        {"G", UINT64_C(1) << 30},
        {"GiB", UINT64_C(1) << 30},
        {"GB", UINT64_C(1000000000)},
        {"T", UINT64_C(1) << 40},
        {"TiB", UINT64_C(1) << 40},
        {"TB", UINT64_C(1000000000000)},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        if (v > UINT64_MAX / units[i].mul)
            return -1;
        *out = (uint64_t)v * units[i].mul;
        return 0;
    }
    return -1;
}

static int set_string(const char *v, char *dst, size_t cap, int allow_empty,
                      const char **why);

/* "h:p" or "[v6]:p" into srv. */
static int parse_server(const char *s, struct cfg_server *srv)
{
    const char *host = s, *colon;
    size_t host_len;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        host = s + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        host_len = (size_t)(colon - s);
    }
    if (host_len == 0 || host_len >= sizeof(srv->host))
        return -1;
    long long port;
    if (parse_int(colon + 1, 1, 65535, &port) != 0)
        return -1;
    memcpy(srv->host, host, host_len);
    srv->host[host_len] = '\0';
    srv->port = (uint16_t)port;
    return 0;
}

static int set_servers(const char *v, struct kvp_config *cfg, const char **why)
{
    cfg->n_servers = 0;
    cfg->discovery[0] = '\0';
    if (v[0] == '\0')
        return 0; /* empty: embedded server */
    if (strstr(v, "://") != NULL) {
        /* a discovery URL: the members come from a registry module */
        if (strncmp(v, "etcd://", 7) != 0) {
            *why = "the only registry is etcd://HOST:PORT[/PREFIX]";
            return -1;
        }
        return set_string(v, cfg->discovery, sizeof(cfg->discovery), 0, why);
    }
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
        if (parse_server(tok, &cfg->servers[cfg->n_servers]) != 0) {
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

static int set_string(const char *v, char *dst, size_t cap, int allow_empty,
                      const char **why)
{
    if (!allow_empty && v[0] == '\0') {
        *why = "must not be empty";
        return -1;
    }
    size_t vlen = strlen(v);
    if (vlen >= cap) {
        *why = "value too long";
        return -1;
    }
    memcpy(dst, v, vlen + 1);
    return 0;
}

/* One key. Returns its index in the key table (for duplicate detection),
 * -1 for an unknown key, -2 for a bad value (*why says why). */
static int apply_kv(const char *k, const char *v, struct kvp_config *cfg,
                    const char **why)
{
    static const char *const keys[] = {
        "transport",  "servers",   "pool_size",        "device",
        "port",       "gid_index", "ucx_tls",          "auth_token_file",
        "timeout_ms", "log_level", "lease_timeout_ms", "ucx_pack_below",
    };
    int idx = -1;
    for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++) {
        if (strcmp(k, keys[i]) == 0)
            idx = i;
    }
    long long n = 0;
    int rc = 0;
    switch (idx) {
    case 0:
        if (strcmp(v, "ucx") == 0) {
            cfg->transport = CFG_TRANSPORT_UCX;
        } else if (strcmp(v, "verbs") == 0) {
            cfg->transport = CFG_TRANSPORT_VERBS;
        } else {
            *why = "expected ucx or verbs";
            rc = -1;
        }
        break;
    case 1:
        rc = set_servers(v, cfg, why);
        break;
    case 2:
        if (cfg_parse_size(v, &cfg->pool_size) != 0 || cfg->pool_size < 4096) {
            *why = "expected a size >= 4096 bytes, e.g. 1GiB, 512MiB, 64M";
            rc = -1;
        }
        break;
    case 3:
        rc = set_string(v, cfg->device, sizeof(cfg->device), 1, why);
        break;
    case 4:
        if (parse_int(v, 0, 255, &n) != 0) {
            *why = "expected an integer 0..255 (0 = first active port)";
            rc = -1;
        }
        cfg->port = (int32_t)n;
        break;
    case 5:
        if (parse_int(v, -1, 255, &n) != 0) {
            *why = "expected an integer -1..255 (-1 = auto)";
            rc = -1;
        }
        cfg->gid_index = (int32_t)n;
        break;
    case 6:
        rc = set_string(v, cfg->ucx_tls, sizeof(cfg->ucx_tls), 1, why);
        break;
    case 7:
        rc = set_string(v, cfg->auth_token_file, sizeof(cfg->auth_token_file),
                        1, why);
        break;
    case 8:
        if (parse_int(v, 1, 3600000, &n) != 0) {
            *why = "expected milliseconds 1..3600000";
            rc = -1;
        }
        cfg->timeout_ms = (uint32_t)n;
        break;
    case 9:
        cfg->log_level = kvp_log_level_parse(v);
        if (cfg->log_level < 0) {
            *why = "expected error, warn, info, debug or 0..3";
            rc = -1;
        }
        break;
    case 10:
        if (parse_int(v, 1, 86400000, &n) != 0) {
            *why = "expected milliseconds 1..86400000";
            rc = -1;
        }
        cfg->lease_timeout_ms = (uint32_t)n;
        break;
    case 11:
        if (cfg_parse_size(v, &cfg->ucx_pack_below) != 0) {
            *why = "expected a size in bytes, e.g. 8192 or 8KiB";
            rc = -1;
        }
        break;
    default:
        return -1;
    }
    return rc == 0 ? idx : -2;
}

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

/* Parses the pairs of `list` (separated by sep), updating *seen. */
static int32_t parse_pairs(char *list, char sep, struct kvp_config *cfg,
                           uint32_t *seen, const struct kvp_logger *lg)
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
        char *k = trim(tok), *v = trim(eq + 1);
        const char *why = "";
        int idx = apply_kv(k, v, cfg, &why);
        if (idx == -1) {
            KVP_LOG_E(lg, "config: unknown key '%.64s'", k);
            return KVP_ERR_INVALID;
        }
        if (idx == -2) {
            KVP_LOG_E(lg, "config: key '%s' has bad value '%.128s': %s", k, v,
                      why);
            return KVP_ERR_INVALID;
        }
        if (*seen & (UINT32_C(1) << idx)) {
            KVP_LOG_E(lg, "config: key '%s' given twice", k);
            return KVP_ERR_INVALID;
        }
        *seen |= UINT32_C(1) << idx;
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
    char *buf = malloc(len + 1);
    int32_t st = KVP_ERR_NO_MEMORY;
    if (tmp == NULL || buf == NULL)
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
            const char *why = "";
            if (apply_kv("servers", auth, tmp, &why) < 0) {
                KVP_LOG_E(lg,
                          "config: key 'servers' (URL authority '%.128s')"
                          ": %s",
                          auth, why);
                st = KVP_ERR_INVALID;
                goto out_free;
            }
            seen |= UINT32_C(1) << 1;
        }
        st = query != NULL ? parse_pairs(query, '&', tmp, &seen, lg) : KVP_OK;
    } else {
        st = parse_pairs(s, ';', tmp, &seen, lg);
    }
    if (st == KVP_OK)
        *cfg = *tmp;
out_free:
    free(buf);
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
    char servers[CFG_STR_MAX] = "";
    size_t used = 0;
    if (cfg->discovery[0] != '\0')
        snprintf(servers, sizeof(servers), "%s", cfg->discovery);
    for (uint32_t i = 0; i < cfg->n_servers && used < sizeof(servers); i++)
        used += (size_t)snprintf(
            servers + used, sizeof(servers) - used,
            strchr(cfg->servers[i].host, ':') ? "%s[%s]:%u" : "%s%s:%u",
            i ? "," : "", cfg->servers[i].host, cfg->servers[i].port);
    char pool[32], pack[32];
    kvp_fmt_bytes(cfg->pool_size, pool, sizeof(pool));
    kvp_fmt_bytes(cfg->ucx_pack_below, pack, sizeof(pack));
    snprintf(buf, cap,
             "transport=%s; servers=%s; pool_size=%s; device=%s; port=%d; "
             "gid_index=%d; ucx_tls=%s; auth_token_file=%s; timeout_ms=%u; "
             "log_level=%s; lease_timeout_ms=%u; ucx_pack_below=%s",
             cfg->transport == CFG_TRANSPORT_VERBS ? "verbs" : "ucx",
             servers[0] ? servers : "(embedded)", pool,
             cfg->device[0] ? cfg->device : "(first active)", cfg->port,
             cfg->gid_index,
             cfg->ucx_tls[0] ? cfg->ucx_tls : "(UCX default)",
             cfg->auth_token_file[0] ? cfg->auth_token_file : "(none)",
             cfg->timeout_ms, kvp_log_level_name(cfg->log_level),
             cfg->lease_timeout_ms,
             cfg->ucx_pack_below ? pack : "(module default)");
}
