/*
 * admin.c - kvplug-admin: talks to running kvplug-servers over the control
 * protocol (a control-only connection: no transport, no rkey needed).
 *
 *   kvplug-admin [options] ping TARGET
 *   kvplug-admin [options] stats TARGET
 *   kvplug-admin [options] keys TARGET [--prefix P] [--limit N]
 *   kvplug-admin [options] remove-prefix TARGET P
 *
 * TARGET is HOST:PORT[,HOST:PORT...] or etcd://HOST:PORT[/PREFIX] (every
 * member registered there). Exit 0 when every server answered, 1 when one
 * did not (the others are still shown), 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "kvp_discovery.h"
#include "status_name.h"
#include "store_client.h"
#include "token.h"
#include "units.h"

#define ADMIN_MAX_TARGETS 256

struct admin {
    const char *cmd;
    const char *target;
    const char *prefix;
    const char *remove; /* remove-prefix's P */
    uint64_t removed;   /* remove-prefix: total over the servers */
    uint32_t limit;
    char *token;
    uint32_t timeout_ms;
    struct kvp_logger log;
    struct kvp_disc_member *m;
    uint32_t n;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kvplug-admin [options] COMMAND TARGET [args]\n"
            "commands:\n"
            "  ping TARGET                   is each server answering? "
            "(round trip)\n"
            "  stats TARGET                  pool use, objects, leases, "
            "evictions, connections\n"
            "  keys TARGET [--prefix P] [--limit N]\n"
            "                                committed keys and their "
            "sizes (default limit 100)\n"
            "  remove-prefix TARGET P        remove every key starting "
            "with P (\"\" = all)\n"
            "                                on each server; prints the "
            "counts and the total\n"
            "TARGET: HOST:PORT[,HOST:PORT...] or etcd://HOST:PORT[/PREFIX] "
            "(every member)\n"
            "options:\n"
            "  --auth-token-file PATH        the servers' shared secret\n"
            "  --timeout-ms N                per request (default 5000)\n"
            "  --log-level L                 error|warn|info|debug "
            "(default error)\n"
            "  --help                        this text\n"
            "exit status: 0 all answered, 1 a server failed, 2 bad usage\n");
}

static double now_ms(void)
{
    return (double)kvp_now_ns() * 1e-6;
}

/* The servers of TARGET into a->m / a->n. */
static int resolve(struct admin *a)
{
    char scheme[16];
    const char *name = kvp_disc_scheme(a->target, scheme, sizeof(scheme));
    if (name != NULL) {
        const struct kvp_discovery_ops *d;
        if (disc_module_load(name, &a->log, &d) != KVP_OK ||
            d->list(a->target, a->timeout_ms, &a->log, &a->m, &a->n) !=
                KVP_OK)
            return -1;
        if (a->n == 0)
            fprintf(stderr, "kvplug-admin: no server is registered at %s\n",
                    a->target);
        return a->n == 0 ? -1 : 0;
    }
    struct kvp_config cfg;
    cfg_defaults(&cfg);
    char kv[CFG_STR_MAX + 16];
    snprintf(kv, sizeof(kv), "servers=%s", a->target);
    if (strlen(a->target) >= CFG_STR_MAX || a->target[0] == '\0' ||
        cfg_parse(kv, &cfg, &a->log) != KVP_OK) {
        fprintf(stderr, "kvplug-admin: TARGET '%s': expected HOST:PORT[,...] "
                        "or etcd://HOST:PORT[/PREFIX]\n", a->target);
        return -1;
    }
    a->m = calloc(cfg.n_servers, sizeof(*a->m));
    if (a->m == NULL)
        return -1;
    for (uint32_t i = 0; i < cfg.n_servers; i++) {
        snprintf(a->m[i].host, sizeof(a->m[i].host), "%s",
                 cfg.servers[i].host);
        a->m[i].port = cfg.servers[i].port;
    }
    a->n = cfg.n_servers;
    return 0;
}

static void print_stats(const struct store_server_stats *s)
{
    char used[32], total[32];
    kvp_fmt_bytes(s->used_bytes, used, sizeof(used));
    kvp_fmt_bytes(s->pool_size, total, sizeof(total));
    printf("  pool         %s of %s used (%.1f%%)\n", used, total,
           s->pool_size ? 100.0 * (double)s->used_bytes / (double)s->pool_size
                        : 0.0);
    printf("  objects      %llu (pending %llu, retired %llu)\n",
           (unsigned long long)s->objects, (unsigned long long)s->pending,
           (unsigned long long)s->retired);
    printf("  leases       %llu held, %llu expired\n",
           (unsigned long long)s->leases,
           (unsigned long long)s->lease_expiries);
    printf("  evictions    %llu\n", (unsigned long long)s->evictions);
    printf("  connections  %llu\n", (unsigned long long)s->connections);
}

static void print_key(void *user, const char *key, uint16_t key_len,
                      uint64_t len)
{
    (void)user;
    char sz[32];
    printf("%s\t%.*s\n", kvp_fmt_bytes(len, sz, sizeof(sz)), (int)key_len,
           key);
}

/* The command on one server. */
static int32_t on_server(struct admin *a, const struct kvp_disc_member *m)
{
    struct store_conn_params p = {
        .host = m->host,
        .port = m->port,
        .auth_token = a->token,
        .timeout_ms = a->timeout_ms,
        .log = &a->log,
    };
    struct store_conn *c = NULL;
    double t0 = now_ms();
    int32_t st = store_conn_open(&p, &c);
    struct store_server_stats s;
    int more = 0;
    if (st == KVP_OK && strcmp(a->cmd, "keys") == 0) {
        printf("# %s:%u\n", m->host, m->port);
        st = store_keys(c, a->prefix, a->limit, print_key, NULL, &more);
        if (st == KVP_OK && more)
            printf("# more keys than --limit %u\n", a->limit);
    } else if (st == KVP_OK && strcmp(a->cmd, "remove-prefix") == 0) {
        uint64_t removed = 0;
        st = store_remove_prefix(c, a->remove, &removed);
        if (st == KVP_OK) {
            printf("%s:%u: removed %llu\n", m->host, m->port,
                   (unsigned long long)removed);
            a->removed += removed;
        }
    } else if (st == KVP_OK) {
        st = store_server_stats(c, &s);
    }
    double ms = now_ms() - t0;
    if (c != NULL)
        store_conn_close(c);
    if (st != KVP_OK) {
        printf("%s:%u: %s\n", m->host, m->port, kvp_status_name(st));
        return st;
    }
    if (strcmp(a->cmd, "ping") == 0)
        printf("%s:%u: ok (%.2f ms)\n", m->host, m->port, ms);
    else if (strcmp(a->cmd, "stats") == 0) {
        printf("%s:%u\n", m->host, m->port);
        print_stats(&s);
    }
    return KVP_OK;
}

static int parse_args(int argc, char **argv, struct admin *a)
{
    const char *token_file = NULL;
    int level = KVP_LOG_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(s, "--auth-token-file") == 0 && v) {
            token_file = v;
            i++;
        } else if (strcmp(s, "--prefix") == 0 && v) {
            a->prefix = v;
            i++;
        } else if ((strcmp(s, "--limit") == 0 ||
                    strcmp(s, "--timeout-ms") == 0) && v) {
            errno = 0;
            unsigned long n = strtoul(v, &end, 10);
            int lim = s[2] == 'l';
            if (errno || *end || n == 0 || n > (lim ? 16384ul : 3600000ul)) {
                fprintf(stderr, "kvplug-admin: %s '%s': expected 1..%s\n", s,
                        v, lim ? "16384" : "3600000");
                return -1;
            }
            *(lim ? &a->limit : &a->timeout_ms) = (uint32_t)n;
            i++;
        } else if (strcmp(s, "--log-level") == 0 && v) {
            if ((level = kvp_log_level_parse(v)) < 0) {
                fprintf(stderr, "kvplug-admin: --log-level '%s': expected "
                                "error, warn, info or debug\n", v);
                return -1;
            }
            i++;
        } else if (s[0] == '-') {
            fprintf(stderr, "kvplug-admin: unknown option or missing value: "
                            "'%s' (see --help)\n", s);
            return -1;
        } else if (a->cmd == NULL) {
            a->cmd = s;
        } else if (a->target == NULL) {
            a->target = s;
        } else if (a->remove == NULL && strcmp(a->cmd, "remove-prefix") == 0) {
            a->remove = s;
        } else {
            fprintf(stderr, "kvplug-admin: unexpected argument '%s'\n", s);
            return -1;
        }
    }
    kvp_logger_init_stderr(&a->log, level);
    if (a->cmd == NULL || a->target == NULL) {
        fprintf(stderr, "kvplug-admin: need a COMMAND and a TARGET (see "
                        "--help)\n");
        return -1;
    }
    if (strcmp(a->cmd, "ping") != 0 && strcmp(a->cmd, "stats") != 0 &&
        strcmp(a->cmd, "keys") != 0 &&
        strcmp(a->cmd, "remove-prefix") != 0) {
        fprintf(stderr, "kvplug-admin: unknown command '%s' (ping, stats, "
                        "keys, remove-prefix; see --help)\n", a->cmd);
        return -1;
    }
    if (strcmp(a->cmd, "remove-prefix") == 0 && a->remove == NULL) {
        fprintf(stderr, "kvplug-admin: remove-prefix needs the prefix P "
                        "after TARGET (\"\" removes every key)\n");
        return -1;
    }
    if (a->remove != NULL && strlen(a->remove) > 1024) {
        fprintf(stderr, "kvplug-admin: remove-prefix: P is %zu bytes; a "
                        "prefix is at most 1024 (a key's limit)\n",
                strlen(a->remove));
        return -1;
    }
    if (token_file != NULL) {
        int loose = 0;
        char err[512];
        a->token = kvp_token_read(token_file, "--auth-token-file", &loose,
                                  err, sizeof(err));
        if (a->token == NULL) {
            fprintf(stderr, "kvplug-admin: %s\n", err);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct admin a = {.limit = 100, .timeout_ms = 5000};
    if (parse_args(argc, argv, &a) != 0)
        return 2;
    int rc = 0;
    if (resolve(&a) != 0) {
        rc = 1;
    } else {
        for (uint32_t i = 0; i < a.n; i++)
            if (on_server(&a, &a.m[i]) != KVP_OK)
                rc = 1;
        if (strcmp(a.cmd, "remove-prefix") == 0)
            printf("total: removed %llu%s\n", (unsigned long long)a.removed,
                   rc ? " (a server failed: its keys are not counted)"
                      : "");
    }
    free(a.m);
    if (a.token != NULL) {
        memset(a.token, 0, strlen(a.token));
        free(a.token);
    }
    return rc;
}
