/* check_config.c - the configuration parser: every key, every error; the
 * transport module's keys reaching the module (real modules, loaded from
 * the build tree) and its errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kvp_transport.h"

static char last_msg[1024];

static void capture(void *user, int32_t level, const char *msg)
{
    (void)user;
    (void)level;
    snprintf(last_msg, sizeof(last_msg), "%s", msg);
}

static struct kvp_logger lg = {capture, NULL, KVP_LOG_DEBUG};

/* Parses over defaults; returns the status. */
static int32_t parse(const char *s, struct kvp_config *cfg)
{
    last_msg[0] = '\0';
    cfg_defaults(cfg);
    return cfg_parse(s, cfg, &lg);
}

/* What engine_create does with a string: parse it over the defaults,
 * then load the module transport= names and hand it its keys. */
static const char *xopts[KVP_KVLIST_MAX];
static uint32_t n_xopts;
static int32_t parse_load(const char *s, struct kvp_config *cfg)
{
    int32_t st = parse(s, cfg);
    if (st != KVP_OK)
        return st;
    const struct kvp_transport_ops *ops = NULL;
    n_xopts = 0;
    return cfg_xport_load(cfg, &ops, xopts, &n_xopts, &lg);
}

/* Asserts s is refused with a message that names `key`. */
static void expect_invalid(const char *s, const char *key)
{
    struct kvp_config cfg;
    ck_assert_int_eq(parse_load(s, &cfg), KVP_ERR_INVALID);
    ck_assert_msg(strstr(last_msg, key) != NULL,
                  "message '%s' for '%s' does not name '%s'", last_msg, s, key);
}

START_TEST(defaults)
{
    struct kvp_config cfg;
    ck_assert_int_eq(parse(NULL, &cfg), KVP_OK);
    ck_assert_str_eq(cfg.transport, "ucx");
    ck_assert_uint_eq(cfg.n_servers, 0);
    ck_assert_uint_eq(cfg.pool_size, UINT64_C(1) << 30);
    ck_assert_uint_eq(cfg.timeout_ms, 5000);
    ck_assert_int_eq(cfg.log_level, KVP_LOG_WARN);
    /* gid_index, port, device: unset, the module's defaults apply */
    ck_assert_ptr_null(kvp_kvlist_get(&cfg.xport_opts, "gid_index"));
    ck_assert_ptr_null(kvp_kvlist_get(&cfg.xport_opts, "port"));
    ck_assert_uint_eq(cfg.lease_timeout_ms, 30000);
    ck_assert_ptr_null(kvp_kvlist_get(&cfg.xport_opts, "device"));
    ck_assert_uint_eq(cfg.xport_opts.n, 0);
    ck_assert_int_eq(parse("", &cfg), KVP_OK);
    ck_assert_int_eq(parse(" ; ;", &cfg), KVP_OK);
}
END_TEST

START_TEST(every_key)
{
    struct kvp_config cfg;
    ck_assert_int_eq(
        parse("transport=verbs; servers=10.0.0.1:7000,hostb:7001;"
              "pool_size=512MiB;device=mlx5_0;port=1;gid_index=3;"
              "ucx_tls=shm,self;auth_token_file=/etc/kvplug.token;"
              "timeout_ms=250;log_level=debug;lease_timeout_ms=900;"
              "ucx_pack_below=8KiB;",
              &cfg),
        KVP_OK);
    ck_assert_str_eq(cfg.transport, "verbs");
    ck_assert_uint_eq(cfg.n_servers, 2);
    ck_assert_str_eq(cfg.servers[0].host, "10.0.0.1");
    ck_assert_uint_eq(cfg.servers[0].port, 7000);
    ck_assert_str_eq(cfg.servers[1].host, "hostb");
    ck_assert_uint_eq(cfg.servers[1].port, 7001);
    ck_assert_uint_eq(cfg.pool_size, UINT64_C(512) << 20);
    /* the transport keys are kept for the module, as written */
    ck_assert_str_eq(kvp_kvlist_get(&cfg.xport_opts, "device"), "mlx5_0");
    ck_assert_str_eq(kvp_kvlist_get(&cfg.xport_opts, "port"), "1");
    ck_assert_str_eq(kvp_kvlist_get(&cfg.xport_opts, "gid_index"), "3");
    ck_assert_str_eq(kvp_kvlist_get(&cfg.xport_opts, "ucx_tls"), "shm,self");
    ck_assert_str_eq(cfg.auth_token_file, "/etc/kvplug.token");
    ck_assert_uint_eq(cfg.timeout_ms, 250);
    ck_assert_int_eq(cfg.log_level, KVP_LOG_DEBUG);
    ck_assert_uint_eq(cfg.lease_timeout_ms, 900);
    ck_assert_str_eq(kvp_kvlist_get(&cfg.xport_opts, "ucx_pack_below"),
                     "8KiB");
    /* ... and each module takes its own: the UCX ones with transport=ucx */
    ck_assert_int_eq(parse_load("transport=ucx;ucx_tls=shm,self;"
                                "ucx_pack_below=8KiB",
                                &cfg),
                     KVP_OK);
    ck_assert_uint_eq(n_xopts, 2);
    ck_assert_str_eq(xopts[0], "ucx_tls=shm,self");
    ck_assert_str_eq(xopts[1], "ucx_pack_below=8KiB");
    ck_assert_int_eq(parse_load("transport=verbs;device=mlx5_0;port=1;"
                                "gid_index=3",
                                &cfg),
                     KVP_OK);
    ck_assert_uint_eq(n_xopts, 3);
    ck_assert_str_eq(xopts[2], "gid_index=3");
}
END_TEST

START_TEST(registry_servers)
{
    struct kvp_config cfg;
    ck_assert_int_eq(parse("servers=etcd://10.0.0.1:2379/kv;timeout_ms=9",
                           &cfg),
                     KVP_OK);
    ck_assert_str_eq(cfg.discovery, "etcd://10.0.0.1:2379/kv");
    ck_assert_uint_eq(cfg.n_servers, 0); /* not embedded: the registry */
    char eff[2048];
    cfg_describe(&cfg, eff, sizeof(eff));
    ck_assert_ptr_nonnull(strstr(eff, "servers=etcd://10.0.0.1:2379/kv;"));
    ck_assert_ptr_nonnull(strstr(eff, "pool_size=1 GiB;"));
    ck_assert_ptr_nonnull(strstr(eff, "timeout_ms=9;"));
    /* a static list replaces a registry and the other way round */
    ck_assert_int_eq(cfg_parse("servers=h:1", &cfg, &lg), KVP_OK);
    ck_assert_str_eq(cfg.discovery, "");
    ck_assert_uint_eq(cfg.n_servers, 1);
    expect_invalid("servers=consul://h:1", "etcd://");
}
END_TEST

/* cfg_describe: every key of the table (the table drives it), human
 * units, placeholders for empty values, then the module options as given;
 * the registry's host:port is checked when parsed; transport=tcp hints. */
START_TEST(describe_every_key)
{
    struct kvp_config cfg;
    ck_assert_int_eq(parse("servers=[::1]:7,h:8;pool_size=64mib;"
                           "ucx_tls=tcp;verbs.device=rxe0",
                           &cfg),
                     KVP_OK);
    char eff[4096];
    cfg_describe(&cfg, eff, sizeof(eff));
    for (size_t i = 0; i < cfg_table_len; i++) {
        char key[64];
        snprintf(key, sizeof(key), "%s=", cfg_table[i].name);
        ck_assert_msg(strstr(eff, key) != NULL, "'%s' lacks %s", eff, key);
    }
    const char *want[] = {"servers=[::1]:7,h:8;", "pool_size=64 MiB;",
                          "auth_token_file=(none);", "log_level=warn;",
                          "; ucx_tls=tcp; verbs.device=rxe0"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(eff, want[i]) != NULL, "'%s' lacks %s", eff,
                      want[i]);
    ck_assert_int_eq(eff[strlen(eff) - 1], '0'); /* no trailing "; " */
    ck_assert_int_eq(parse(NULL, &cfg), KVP_OK);
    cfg_describe(&cfg, eff, sizeof(eff));
    ck_assert_ptr_nonnull(strstr(eff, "servers=(embedded);"));
    /* truncated, never overrun */
    char small[24];
    cfg_describe(&cfg, small, sizeof(small));
    ck_assert_uint_lt(strlen(small), sizeof(small));
    expect_invalid("servers=etcd://nohost/kv", "etcd://HOST:PORT");
    expect_invalid("servers=etcd://h:0", "servers");
    expect_invalid("transport=tcp", "use ucx_tls=tcp");
}
END_TEST

START_TEST(url_form)
{
    struct kvp_config cfg;
    ck_assert_int_eq(
        parse("kvplug://h1:1,[::1]:2?transport=verbs&device=mlx5_0", &cfg),
        KVP_OK);
    ck_assert_uint_eq(cfg.n_servers, 2);
    ck_assert_str_eq(cfg.servers[0].host, "h1");
    ck_assert_uint_eq(cfg.servers[0].port, 1);
    ck_assert_str_eq(cfg.servers[1].host, "::1");
    ck_assert_uint_eq(cfg.servers[1].port, 2);
    ck_assert_str_eq(cfg.transport, "verbs");
    ck_assert_str_eq(kvp_kvlist_get(&cfg.xport_opts, "device"), "mlx5_0");
    /* empty authority: embedded */
    ck_assert_int_eq(parse("kvplug://?pool_size=64M", &cfg), KVP_OK);
    ck_assert_uint_eq(cfg.n_servers, 0);
    ck_assert_uint_eq(cfg.pool_size, UINT64_C(64) << 20);
    ck_assert_int_eq(parse("kvplug://h:9/", &cfg), KVP_OK);
    ck_assert_uint_eq(cfg.servers[0].port, 9);
    /* authority plus servers= in the query is a duplicate */
    expect_invalid("kvplug://h:1?servers=h:2", "servers");
    expect_invalid("kvplug://nohostport", "servers");
    expect_invalid("kvplug://h:1?bogus=1", "bogus");
}
END_TEST

/* The one size parser (common/options.h), as cfg_parse_size was. */
static int cfg_parse_size(const char *s, uint64_t *v)
{
    return kvp_parse_size(s, v, NULL);
}

START_TEST(sizes)
{
    uint64_t v;
    ck_assert_int_eq(cfg_parse_size("4096", &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(cfg_parse_size("1GiB", &v), 0);
    ck_assert_uint_eq(v, UINT64_C(1) << 30);
    ck_assert_int_eq(cfg_parse_size("1G", &v), 0);
    ck_assert_uint_eq(v, UINT64_C(1) << 30);
    ck_assert_int_eq(cfg_parse_size("2GB", &v), 0);
    ck_assert_uint_eq(v, UINT64_C(2000000000));
    ck_assert_int_eq(cfg_parse_size("3 KiB", &v), 0);
    ck_assert_uint_eq(v, 3072);
    ck_assert_int_eq(cfg_parse_size("7kB", &v), 0);
    ck_assert_uint_eq(v, 7000);
    ck_assert_int_eq(cfg_parse_size("1T", &v), 0);
    ck_assert_uint_eq(v, UINT64_C(1) << 40);
    ck_assert_int_eq(cfg_parse_size("100B", &v), 0);
    ck_assert_uint_eq(v, 100);
    ck_assert_int_eq(cfg_parse_size("", &v), -1);
    ck_assert_int_eq(cfg_parse_size("-1", &v), -1);
    ck_assert_int_eq(cfg_parse_size("1X", &v), -1);
    ck_assert_int_eq(cfg_parse_size("G", &v), -1);
    ck_assert_int_eq(cfg_parse_size("99999999999999999999", &v), -1);
    ck_assert_int_eq(cfg_parse_size("20000000TiB", &v), -1); /* overflow */
}
END_TEST

START_TEST(bad_values_name_the_key)
{
    expect_invalid("transport=tcp", "transport");
    expect_invalid("transport=", "transport");
    expect_invalid("servers=host", "servers");
    expect_invalid("servers=host:0", "servers");
    expect_invalid("servers=host:70000", "servers");
    expect_invalid("servers=:80", "servers");
    expect_invalid("servers=h:1,,", "servers");
    expect_invalid("pool_size=lots", "pool_size");
    expect_invalid("pool_size=100", "pool_size"); /* below 4096 */
    expect_invalid("port=256", "port");
    expect_invalid("port=x", "port");
    expect_invalid("gid_index=-2", "gid_index");
    expect_invalid("timeout_ms=0", "timeout_ms");
    expect_invalid("timeout_ms=5s", "timeout_ms");
    expect_invalid("log_level=loud", "log_level");
    expect_invalid("lease_timeout_ms=-5", "lease_timeout_ms");
    expect_invalid("ucx_pack_below=big", "ucx_pack_below");
}
END_TEST

START_TEST(structure_errors)
{
    expect_invalid("colour=blue", "colour");
    expect_invalid("transport", "transport"); /* no '=' */
    expect_invalid("log_level=info;log_level=debug", "log_level");
    struct kvp_config cfg;
    /* a failed parse leaves the config untouched */
    cfg_defaults(&cfg);
    ck_assert_int_eq(cfg_parse("timeout_ms=7;log_level=loud", &cfg, &lg),
                     KVP_ERR_INVALID);
    ck_assert_uint_eq(cfg.timeout_ms, 5000);
    /* servers= empty means embedded */
    ck_assert_int_eq(parse("servers=", &cfg), KVP_OK);
    ck_assert_uint_eq(cfg.n_servers, 0);
    /* spaces around tokens are ignored */
    ck_assert_int_eq(parse("  timeout_ms = 42 ; log_level=1 ", &cfg), KVP_OK);
    ck_assert_uint_eq(cfg.timeout_ms, 42);
    ck_assert_int_eq(cfg.log_level, KVP_LOG_WARN);
    /* oversize input */
    size_t big = 70 * 1024;
    char *s = malloc(big + 1);
    memset(s, ';', big);
    s[big] = '\0';
    ck_assert_int_eq(parse(s, &cfg), KVP_ERR_INVALID);
    free(s);
}
END_TEST

START_TEST(env_merges_key_by_key)
{
    struct kvp_config cfg;
    setenv("KVPLUG_CONFIG", "timeout_ms=77;log_level=debug", 1);
    ck_assert_int_eq(cfg_load("timeout_ms=10;pool_size=8MiB", &cfg, &lg),
                     KVP_OK);
    ck_assert_uint_eq(cfg.timeout_ms, 77);               /* env wins */
    ck_assert_uint_eq(cfg.pool_size, UINT64_C(8) << 20); /* kept */
    ck_assert_int_eq(cfg.log_level, KVP_LOG_DEBUG);
    setenv("KVPLUG_CONFIG", "kvplug://e:5?timeout_ms=1", 1);
    ck_assert_int_eq(cfg_load("servers=a:1,b:2", &cfg, &lg), KVP_OK);
    ck_assert_uint_eq(cfg.n_servers, 1);
    ck_assert_str_eq(cfg.servers[0].host, "e");
    setenv("KVPLUG_CONFIG", "nonsense=1", 1);
    last_msg[0] = '\0';
    const struct kvp_transport_ops *ops;
    ck_assert_int_eq(cfg_load("", &cfg, &lg), KVP_OK); /* a module key */
    ck_assert_int_eq(cfg_xport_load(&cfg, &ops, xopts, &n_xopts, &lg),
                     KVP_ERR_INVALID); /* that no module takes */
    ck_assert_ptr_nonnull(strstr(last_msg, "nonsense"));
    setenv("KVPLUG_CONFIG", "log_level=loud", 1);
    ck_assert_int_eq(cfg_load("", &cfg, &lg), KVP_ERR_INVALID);
    /* module keys merge key by key too */
    setenv("KVPLUG_CONFIG", "ucx_tls=tcp", 1);
    ck_assert_int_eq(cfg_load("ucx_tls=shm;ucx_pack_below=4KiB", &cfg, &lg),
                     KVP_OK);
    ck_assert_uint_eq(cfg.xport_opts.n, 2);
    ck_assert_str_eq(kvp_kvlist_get(&cfg.xport_opts, "ucx_tls"), "tcp");
    ck_assert_str_eq(kvp_kvlist_get(&cfg.xport_opts, "ucx_pack_below"), "4KiB");
    unsetenv("KVPLUG_CONFIG");
    ck_assert_int_eq(cfg_load("timeout_ms=10", &cfg, &lg), KVP_OK);
    ck_assert_uint_eq(cfg.timeout_ms, 10);
}
END_TEST

START_TEST(unknown_key_lists_valid_keys)
{
    struct kvp_config cfg;
    ck_assert_int_eq(parse_load("colour=blue", &cfg), KVP_ERR_INVALID);
    const char *want[] = {"colour",     "transport", "servers", "pool_size",
                          "timeout_ms", "log_level", "ucx_tls",
                          "ucx_pack_below"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(last_msg, want[i]) != NULL, "'%s' lacks %s",
                      last_msg, want[i]);
    /* with verbs the list is verbs' own keys */
    ck_assert_int_eq(parse_load("transport=verbs;colour=blue", &cfg),
                     KVP_ERR_INVALID);
    ck_assert_msg(strstr(last_msg, "transport 'verbs' takes: device, port, "
                                   "gid_index") != NULL,
                  "%s", last_msg);
    /* a key that cannot be a key at all */
    ck_assert_int_eq(parse("Colour=blue", &cfg), KVP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(last_msg, "Colour"));
}
END_TEST

START_TEST(size_forms)
{
    const char *forms[] = {"pool_size=64mib", "pool_size=64 MiB",
                           "pool_size=64MiB", "pool_size=64 m",
                           "pool_size=67108864", "pool_size = 64 MIB "};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct kvp_config cfg;
        ck_assert_msg(parse(forms[i], &cfg) == KVP_OK, "%s: %s", forms[i],
                      last_msg);
        ck_assert_uint_eq(cfg.pool_size, UINT64_C(64) << 20);
    }
    struct kvp_config cfg;
    ck_assert_int_eq(parse("pool_size=64MB", &cfg), KVP_OK); /* SI */
    ck_assert_uint_eq(cfg.pool_size, UINT64_C(64000000));
    ck_assert_int_eq(parse("pool_size=8 kb", &cfg), KVP_OK);
    ck_assert_uint_eq(cfg.pool_size, 8000);
    expect_invalid("pool_size=64 XiB", "pool_size");
    ck_assert_ptr_nonnull(strstr(last_msg, "unknown unit"));
    expect_invalid("pool_size=1.5GiB", "pool_size");
}
END_TEST

START_TEST(module_option_errors)
{
    /* a bad value: the module, the key, the value, what is accepted */
    expect_invalid("transport=verbs;gid_index=-2", "gid_index");
    ck_assert_msg(strstr(last_msg, "transport 'verbs'") != NULL &&
                      strstr(last_msg, "'-2'") != NULL &&
                      strstr(last_msg, "-1..255") != NULL,
                  "%s", last_msg);
    expect_invalid("transport=verbs;port=256", "port");
    ck_assert_ptr_nonnull(strstr(last_msg, "0..255"));
    expect_invalid("ucx_pack_below=big", "ucx_pack_below");
    ck_assert_msg(strstr(last_msg, "transport 'ucx'") != NULL &&
                      strstr(last_msg, "8KiB") != NULL,
                  "%s", last_msg);
    /* a key of another module is unknown to this one, and says so */
    expect_invalid("transport=verbs;ucx_tls=tcp", "ucx_tls");
    ck_assert_ptr_nonnull(strstr(last_msg, "device, port, gid_index"));
    expect_invalid("gid_index=1", "gid_index");
    ck_assert_ptr_nonnull(strstr(last_msg, "ucx_tls, ucx_pack_below"));
    /* "<module>.key": only for that module, skipped when not in use */
    struct kvp_config cfg;
    ck_assert_int_eq(parse_load("verbs.gid_index=3;ucx.ucx_tls=tcp;"
                                "verbs.colour=x",
                                &cfg),
                     KVP_OK);
    ck_assert_uint_eq(n_xopts, 1);
    ck_assert_str_eq(xopts[0], "ucx_tls=tcp");
    expect_invalid("transport=verbs;verbs.gid_index=-7", "gid_index");
    expect_invalid("ucx.gid_index=1", "ucx.gid_index");
    ck_assert_ptr_nonnull(strstr(last_msg, "transport 'ucx' takes"));
    /* transport= is any module name; one that does not load is refused */
    ck_assert_int_eq(parse("transport=my_rdma", &cfg), KVP_OK);
    ck_assert_str_eq(cfg.transport, "my_rdma");
    expect_invalid("transport=my_rdma", "transport");
    ck_assert_ptr_nonnull(strstr(last_msg, "libkvplug_my_rdma.so"));
    expect_invalid("transport=../x", "transport");
}
END_TEST

static char all_log[8192];

static void capture_all(void *user, int32_t level, const char *msg)
{
    (void)user;
    (void)level;
    size_t n = strlen(all_log);
    snprintf(all_log + n, sizeof(all_log) - n, "%s\n", msg);
}

START_TEST(module_key_reaches_the_module)
{
    /* The keys go through the router into the real UCX module, which
     * reports what it applied when its context is ready. */
    struct kvp_config cfg;
    ck_assert_int_eq(parse("ucx_tls=tcp;ucx_pack_below=4KiB;timeout_ms=77",
                           &cfg),
                     KVP_OK);
    const struct kvp_transport_ops *ops = NULL;
    ck_assert_int_eq(cfg_xport_load(&cfg, &ops, xopts, &n_xopts, &lg), KVP_OK);
    struct kvp_xport_params p = {.struct_size = sizeof(p),
                                 .role = KVP_XPORT_ROLE_CLIENT,
                                 .timeout_ms = cfg.timeout_ms,
                                 .log_level = KVP_LOG_DEBUG,
                                 .log = capture_all,
                                 .opts = xopts,
                                 .n_opts = n_xopts};
    struct kvp_xport_ctx *ctx = NULL;
    all_log[0] = '\0';
    ck_assert_int_eq(ops->ctx_create(&p, &ctx), KVP_OK);
    ck_assert_msg(strstr(all_log, "UCX_TLS='tcp'") != NULL, "%s", all_log);
    ck_assert_msg(strstr(all_log, "pack below 4096 B") != NULL, "%s",
                  all_log);
    ops->ctx_destroy(ctx);
    /* The module itself refuses what it does not take, naming itself. */
    const char *bad[] = {"ucx_tls=tcp", "gid_index=2"};
    p.opts = bad;
    p.n_opts = 2;
    all_log[0] = '\0';
    ck_assert_int_eq(ops->ctx_create(&p, &ctx), KVP_ERR_INVALID);
    ck_assert_msg(strstr(all_log, "ucx:") != NULL &&
                      strstr(all_log, "gid_index") != NULL &&
                      strstr(all_log, "ucx_tls, ucx_pack_below") != NULL,
                  "%s", all_log);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"defaults", defaults},
        {"every_key", every_key},
        {"url_form", url_form},
        {"registry_servers", registry_servers},
        {"describe_every_key", describe_every_key},
        {"sizes", sizes},
        {"bad_values_name_the_key", bad_values_name_the_key},
        {"structure_errors", structure_errors},
        {"env_merges_key_by_key", env_merges_key_by_key},
        {"unknown_key_lists_valid_keys", unknown_key_lists_valid_keys},
        {"size_forms", size_forms},
        {"module_option_errors", module_option_errors},
        {"module_key_reaches_the_module", module_key_reaches_the_module},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_test(tc, cases[i].fn);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
