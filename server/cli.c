/* cli.c - kvplug-server flags from one table (cli.h). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvplug/abi.h"
#include "hostport.h"
#include "log.h"
#include "pool.h"
#include "server_opts.h"

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int cli_parse_listen(const char *s, char *host, size_t host_cap, uint16_t *port,
                     char *err, size_t cap)
{
    const char *port_s = s;
    const char *colon = NULL;
    size_t hlen = 0;
    const char *hstart = s;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, cap, "'%s' is not [IPv6]:PORT", s);
            return -1;
        }
        hstart = s + 1;
        hlen = (size_t)(close - hstart);
        port_s = close + 2;
    } else if ((colon = strrchr(s, ':')) != NULL) {
        hlen = (size_t)(colon - s);
        port_s = colon + 1;
    }
    uint32_t p;
    if (colon == NULL && s[0] != '[' && !isdigit((unsigned char)s[0])) {
        snprintf(err, cap,
                 "'%s' is not HOST:PORT (e.g. 127.0.0.1:7460, "
                 "0.0.0.0:7460, [::1]:7460 or :7460)",
                 s);
        return -1;
    }
    if (parse_u32(port_s, 65535, &p) != 0) {
        snprintf(err, cap, "'%s': port '%s' must be 0..65535", s, port_s);
        return -1;
    }
    char h[256];
    if (hlen >= host_cap || hlen >= sizeof(h)) {
        snprintf(err, cap, "'%s': host name too long", s);
        return -1;
    }
    if (hlen > 0) {
        memcpy(h, hstart, hlen);
        h[hlen] = '\0';
        struct addrinfo hints = {.ai_flags = AI_PASSIVE}, *res = NULL;
        int gai = getaddrinfo(h, NULL, &hints, &res);
        if (gai != 0) {
            snprintf(err, cap, "'%s': host '%s' does not resolve (%s)", s, h,
                     gai_strerror(gai));
            return -1;
        }
        freeaddrinfo(res);
        memcpy(host, h, hlen + 1);
    }
    *port = (uint16_t)p;
    return 0;
}

/* --listen: field is o->host (the port follows it in the struct). */
static int set_listen(const char *v, void *field, size_t size,
                      const char **why)
{
    struct cli_opts *o =
        (struct cli_opts *)((char *)field - offsetof(struct cli_opts, host));
    static char msg[320];
    if (cli_parse_listen(v, o->host, size, &o->port, msg, sizeof(msg)) != 0) {
        *why = msg;
        return -1;
    }
    return 0;
}

/* --metrics HOST:PORT: field is o->metrics_host ("" = no endpoint; the
 * port follows it in the struct). A bare PORT binds CLI_DEFAULT_HOST. */
static int set_metrics(const char *v, void *field, size_t size,
                       const char **why)
{
    struct cli_opts *o = (struct cli_opts *)((char *)field -
                                             offsetof(struct cli_opts,
                                                      metrics_host));
    static char msg[320];
    char host[sizeof(o->metrics_host)];
    snprintf(host, sizeof(host), "%s",
             o->metrics_host[0] != '\0' ? o->metrics_host : CLI_DEFAULT_HOST);
    uint16_t port = 0;
    if (cli_parse_listen(v, host, size, &port, msg, sizeof(msg)) != 0) {
        *why = msg;
        return -1;
    }
    memcpy(o->metrics_host, host, sizeof(host));
    o->metrics_port = port;
    return 0;
}

/* --advertise HOST:PORT: what clients are told to connect to. */
static int set_advertise(const char *v, void *field, size_t size,
                         const char **why)
{
    char host[256];
    uint16_t port;
    if (strlen(v) >= size ||
        kvp_parse_hostport(v, host, sizeof(host), &port) != 0) {
        *why = "not HOST:PORT with port 1..65535";
        return -1;
    }
    memcpy(field, v, strlen(v) + 1);
    return 0;
}

/* --transports: a comma list of module names, or none. Only the form is
 * checked here; whether each module loads is checked after the flags
 * (check_modules), with the modules' own flags. */
static int set_transports(const char *v, void *field, size_t size,
                          const char **why)
{
    if (strlen(v) >= size) {
        *why = "too long";
        return -1;
    }
    for (const char *p = v;; p++) {
        size_t n = strcspn(p, ",");
        if (n == 0) {
            *why = "an empty name";
            return -1;
        }
        if (n > POOL_NAME_MAX) {
            *why = "a module name longer than 32 characters";
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (!islower((unsigned char)p[i]) &&
                !isdigit((unsigned char)p[i]) && p[i] != '_') {
                *why = "not a module name (a-z, 0-9, '_')";
                return -1;
            }
        }
        p += n;
        if (*p == '\0')
            break;
    }
    memcpy(field, v, strlen(v) + 1);
    return 0;
}

#define CLI_AT(f) KVP_OPT_AT(struct cli_opts, f)

const struct kvp_opt cli_table[] = {
    {"listen", KVP_OPT_CUSTOM, 0, CLI_AT(host), 0, 0, set_listen,
     "HOST:PORT", "HOST:PORT, [IPv6]:PORT or PORT, port 0..65535",
     "bind address (default 127.0.0.1:7460; port 0 = ephemeral)", NULL},
    KVP_SRV_OPT_POOL_SIZE(struct cli_opts, pool_size,
                          "pool bytes (default 1GiB)"),
    {"transports", KVP_OPT_CUSTOM, 0, CLI_AT(transports), 0, 0,
     set_transports, "LIST",
     "a comma list of transport modules (ucx, verbs, ...) or none",
     "modules: ucx, verbs, ucx,verbs, ... (default ucx); none = control "
     "only",
     NULL},
    KVP_SRV_OPT_TOKEN_FILE(struct cli_opts, auth_token_file,
                           "require clients to prove this shared secret"),
    KVP_SRV_OPT_LEASE_TIMEOUT(struct cli_opts, lease_timeout_ms,
                              "read leases expire after MS ms (default "
                              "30000)"),
    KVP_SRV_OPT_LOG_LEVEL(struct cli_opts, log_level),
    {"etcd", KVP_OPT_STR, KVP_OPT_NONEMPTY, CLI_AT(etcd), 0, 0, NULL, "URL",
     "http://HOST:PORT of an etcd member",
     "join the members in etcd (http://HOST:PORT)", NULL},
    {"etcd_prefix", KVP_OPT_STR, KVP_OPT_NONEMPTY, CLI_AT(etcd_prefix), 0, 0,
     NULL, "P", "a key prefix such as /kvplug",
     "key prefix there (default /kvplug)", NULL},
    {"advertise", KVP_OPT_CUSTOM, 0, CLI_AT(advertise), 0, 0, set_advertise,
     "HOST:PORT", "HOST:PORT or [IPv6]:PORT, port 1..65535",
     "address clients connect to (default: --listen)", NULL},
    {"etcd_ttl", KVP_OPT_UINT, 0, CLI_AT(etcd_ttl_s), 2, 3600, NULL, "S",
     "seconds 2..3600", "membership lease TTL (default 10 s)", NULL},
    {"metrics", KVP_OPT_CUSTOM, 0, CLI_AT(metrics_host), 0, 0, set_metrics,
     "HOST:PORT", "HOST:PORT, [IPv6]:PORT or PORT, port 0..65535",
     "serve Prometheus /metrics there", NULL},
    {"summary_ms", KVP_OPT_UINT, 0, CLI_AT(summary_ms), 100, 86400000, NULL,
     "MS", "milliseconds 100..86400000",
     "info summary line period (default 60000)", NULL},
    {"version", KVP_OPT_FLAG, 0, CLI_AT(version), 0, 0, NULL, NULL, NULL,
     "print the version and exit", NULL},
    {"help", KVP_OPT_FLAG, 0, CLI_AT(help), 0, 0, NULL, NULL, NULL,
     "this text (-h); with --transports, those modules' flags", NULL},
};
const size_t cli_table_len = sizeof(cli_table) / sizeof(cli_table[0]);

/* "--gid-index" -> "gid_index" into key; -1 if it is not a --flag. */
static int flag_key(const char *flag, size_t len, char *key, size_t cap)
{
    if (len < 3 || strncmp(flag, "--", 2) != 0 || len - 2 >= cap)
        return -1;
    for (size_t i = 2; i < len; i++)
        key[i - 2] = flag[i] == '-' ? '_' : flag[i];
    key[len - 2] = '\0';
    return 0;
}

/* Loads the modules of --transports (a name no module answers to is an
 * error, with a hint for "tcp" and "shm") and checks the module flags
 * against them. */
static int check_modules(struct cli_opts *o, char *err, size_t cap)
{
    int none = strcmp(o->transports, "none") == 0;
    if (none && o->xport_opts.n == 0)
        return 0;
    const char *kv[KVP_KVLIST_MAX];
    uint32_t n = kvp_kvlist_ptrs(&o->xport_opts, kv);
    char core[1024] = "";
    kvp_opt_names(cli_table, cli_table_len, KVP_OPT_FLAGS, core, sizeof(core));
    struct pool_plan *plan = malloc(sizeof(*plan));
    if (plan == NULL) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    struct kvp_logger lg;
    kvp_logger_init_stderr(&lg, o->log_level);
    int32_t st = pool_plan_make(none ? "" : o->transports, kv, n,
                                KVP_OPT_FLAGS, core, plan, err, cap, &lg);
    free(plan);
    return st == KVP_OK ? 0 : -1;
}

/* Rules between flags. */
static int check_cross(const struct cli_opts *o, char *err, size_t cap)
{
    if ((o->etcd_prefix[0] != '\0' || o->advertise[0] != '\0') &&
        o->etcd[0] == '\0') {
        snprintf(err, cap, "%s needs --etcd URL",
                 o->advertise[0] != '\0' ? "--advertise" : "--etcd-prefix");
        return -1;
    }
    return 0;
}

int cli_parse(int argc, char **argv, struct cli_opts *o, char *err, size_t cap)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "%s", CLI_DEFAULT_HOST);
    o->port = CLI_DEFAULT_PORT;
    o->pool_size = CLI_DEFAULT_POOL;
    snprintf(o->transports, sizeof(o->transports), "%s",
             CLI_DEFAULT_TRANSPORTS);
    o->log_level = KVP_LOG_WARN;
    o->etcd_ttl_s = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0) {
            o->help = 1;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t flen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        char key[64];
        if (flag_key(a, flen, key, sizeof(key)) != 0) {
            snprintf(err, cap, "unknown argument '%s' (see --help)", a);
            return -1;
        }
        const struct kvp_opt *opt = kvp_opt_find(cli_table, cli_table_len, key);
        if (opt == NULL && !kvp_key_valid(key)) {
            snprintf(err, cap, "unknown argument '%s' (see --help)", a);
            return -1;
        }
        const char *v = eq != NULL ? eq + 1 : NULL;
        if (opt != NULL && opt->type == KVP_OPT_FLAG) {
            if (kvp_opt_set(opt, v != NULL ? v : "", o, KVP_OPT_FLAGS, err,
                            cap) != 0)
                return -1;
            continue;
        }
        if (v == NULL && i + 1 < argc)
            v = argv[++i];
        if (v == NULL || v[0] == '\0') {
            snprintf(err, cap, "%.*s needs a value", (int)flen, a);
            return -1;
        }
        if (opt != NULL) {
            if (kvp_opt_set(opt, v, o, KVP_OPT_FLAGS, err, cap) != 0)
                return -1;
        } else if (kvp_kvlist_set(&o->xport_opts, key, v) != 0) {
            snprintf(err, cap, "%.*s: more than %d bytes of transport flags",
                     (int)flen, a, KVP_KVLIST_CAP);
            return -1;
        }
    }
    if (o->help || o->version)
        return 0;
    if (check_cross(o, err, cap) != 0)
        return -1;
    return check_modules(o, err, cap);
}

void cli_usage(void *stream, const char *transports)
{
    FILE *f = stream;
    fprintf(f, "usage: kvplug-server [options]\n");
    kvp_opt_usage(f, cli_table, cli_table_len, KVP_OPT_FLAGS);
    struct pool_plan *plan = malloc(sizeof(*plan));
    if (plan == NULL)
        return;
    struct kvp_logger quiet;
    kvp_logger_init_stderr(&quiet, -1); /* a missing module: said below */
    const char *list = transports != NULL ? transports : CLI_DEFAULT_TRANSPORTS;
    char err[512];
    char one[POOL_NAME_MAX + 1];
    for (const char *s = list; *s != '\0';) {
        size_t len = strcspn(s, ",");
        snprintf(one, sizeof(one), "%.*s", (int)len, s);
        s += len + (s[len] == ',');
        if (one[0] == '\0' || strcmp(one, "none") == 0)
            continue;
        if (pool_plan_make(one, NULL, 0, KVP_OPT_FLAGS, NULL, plan, err,
                           sizeof(err), &quiet) != KVP_OK) {
            fprintf(f, "transport '%s': module not found\n", one);
            continue;
        }
        struct kvp_opt_module m;
        xport_module_opts(plan->ops[0], &m);
        fprintf(f, "transport '%s' (--transports %s) options:\n", one, one);
        kvp_opt_usage(f, m.t, m.n, KVP_OPT_FLAGS);
    }
    free(plan);
    fprintf(f, "Transport flags may be written --<transport>.<key> to apply "
               "only when that\ntransport is in use (docs/config.md).\n");
}
