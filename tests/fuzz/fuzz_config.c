/*
 * fuzz_config.c - libFuzzer target for the engine config string parser
 * (plugin/config.h, docs/config.md). The string comes from the host and
 * from the KVPLUG_CONFIG environment variable, so it is untrusted.
 *
 * The input bytes, NUL-terminated in their own heap block (ASan sees any
 * read past the terminator), are parsed over the defaults. Besides "never
 * crashes", docs/config.md promises:
 *   - success or KVP_ERR_INVALID, nothing else;
 *   - an error logs exactly one line and changes nothing;
 *   - on success no error is logged and every field is within its
 *     documented range (table "Keys"), strings NUL-terminated in place;
 *     every key the core does not own is kept, once, for the transport
 *     module (whose table checks it when the module loads);
 *   - servers= is a host:port list or one etcd:// registry, never both;
 *     cfg_describe() of the result is one terminated line;
 *   - parsing the same string again over the result changes nothing (every
 *     key sets its value outright; none accumulates).
 * A broken promise traps, so libFuzzer saves the input as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_check.h"
#include "kvplug/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct log_count {
    unsigned errors; /* lines at KVP_LOG_ERROR */
    unsigned other;
};

/* Counts the lines and reads each one whole, so a message built from a
 * bad pointer or without its terminator shows up under ASan. */
static void count_log(void *user, int32_t level, const char *msg)
{
    struct log_count *c = user;
    CHECK(strlen(msg) < 1024);
    if (level == KVP_LOG_ERROR)
        c->errors++;
    else
        c->other++;
}

static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* Field by field, not memcmp: the struct has padding, which a struct copy
 * need not preserve. Arrays are compared whole (bytes past a string's
 * terminator included): a parse that changes nothing changes none. */
static int cfg_same(const struct kvp_config *a, const struct kvp_config *b)
{
    return memcmp(a->transport, b->transport, sizeof(a->transport)) == 0 &&
           a->n_servers == b->n_servers &&
           memcmp(a->servers, b->servers, sizeof(a->servers)) == 0 &&
           memcmp(a->discovery, b->discovery, sizeof(a->discovery)) == 0 &&
           a->pool_size == b->pool_size &&
           memcmp(a->auth_token_file, b->auth_token_file,
                  sizeof(a->auth_token_file)) == 0 &&
           a->timeout_ms == b->timeout_ms && a->log_level == b->log_level &&
           a->lease_timeout_ms == b->lease_timeout_ms &&
           a->xport_opts.n == b->xport_opts.n &&
           a->xport_opts.used == b->xport_opts.used &&
           memcmp(a->xport_opts.buf, b->xport_opts.buf,
                  sizeof(a->xport_opts.buf)) == 0;
}

/* The transport module's keys: well-formed "key=value" entries packed
 * from the start of buf (the rest zero), keys the core does not own,
 * each once, readable back with kvp_kvlist_get. */
static void check_xport_opts(const struct kvp_kvlist *l)
{
    CHECK(l->n <= KVP_KVLIST_MAX && l->used <= KVP_KVLIST_CAP);
    const char *kv[KVP_KVLIST_MAX];
    CHECK(kvp_kvlist_ptrs(l, kv) == l->n);
    size_t used = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        const char *eq = strchr(kv[i], '=');
        CHECK(eq != NULL);
        char key[64];
        size_t klen = (size_t)(eq - kv[i]);
        CHECK(klen > 0 && klen < sizeof(key));
        memcpy(key, kv[i], klen);
        key[klen] = '\0';
        CHECK(kvp_key_valid(key));
        CHECK(kvp_opt_find(cfg_table, cfg_table_len, key) == NULL);
        CHECK(kvp_kvlist_get(l, key) == eq + 1); /* the first: no twin */
        used += strlen(kv[i]) + 1;
    }
    CHECK(used == l->used);
    for (size_t i = used; i < sizeof(l->buf); i++)
        CHECK(l->buf[i] == '\0');
}

static void check_ranges(const struct kvp_config *c)
{
    CHECK(terminated(c->transport, CFG_NAME_MAX));
    CHECK(c->transport[0] != '\0');
    CHECK(strspn(c->transport, "abcdefghijklmnopqrstuvwxyz0123456789_") ==
          strlen(c->transport));
    CHECK(c->n_servers <= CFG_MAX_SERVERS);
    for (uint32_t i = 0; i < c->n_servers; i++) {
        CHECK(terminated(c->servers[i].host, CFG_HOST_MAX));
        CHECK(c->servers[i].host[0] != '\0');
        CHECK(c->servers[i].port >= 1); /* <= 65535 by its type */
    }
    CHECK(terminated(c->discovery, CFG_STR_MAX));
    /* a registry or a list, never both */
    CHECK(c->discovery[0] == '\0' ||
          (c->n_servers == 0 && strncmp(c->discovery, "etcd://", 7) == 0));
    CHECK(c->pool_size >= 4096);
    CHECK(terminated(c->auth_token_file, CFG_STR_MAX));
    CHECK(c->timeout_ms >= 1 && c->timeout_ms <= 3600000);
    CHECK(c->log_level >= KVP_LOG_ERROR && c->log_level <= KVP_LOG_DEBUG);
    CHECK(c->lease_timeout_ms >= 1 && c->lease_timeout_ms <= 86400000);
    check_xport_opts(&c->xport_opts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *str = malloc(size + 1);
    struct kvp_config *cfg = malloc(sizeof(*cfg));
    struct kvp_config *before = malloc(sizeof(*before));
    if (str == NULL || cfg == NULL || before == NULL)
        goto out;
    memcpy(str, data, size);
    str[size] = '\0';

    struct log_count count = {0, 0};
    struct kvp_logger lg = {count_log, &count, KVP_LOG_DEBUG};
    cfg_defaults(cfg);
    *before = *cfg;

    int32_t st = cfg_parse(str, cfg, &lg);
    CHECK(st == KVP_OK || st == KVP_ERR_INVALID);
    if (st != KVP_OK) {
        CHECK(count.errors == 1);
        CHECK(cfg_same(cfg, before));
        goto out;
    }
    CHECK(count.errors == 0);
    check_ranges(cfg);
    /* the effective config: every core key, terminated within its buffer */
    char eff[1024];
    cfg_describe(cfg, eff, sizeof(eff));
    CHECK(terminated(eff, sizeof(eff)));
    CHECK(strncmp(eff, "transport=", 10) == 0);

    *before = *cfg;
    CHECK(cfg_parse(str, cfg, &lg) == KVP_OK);
    CHECK(count.errors == 0);
    CHECK(cfg_same(cfg, before));
out:
    free(before);
    free(cfg);
    free(str);
    return 0;
}
