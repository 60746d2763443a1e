/* check_config.c - the configuration parser: every key, every error. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

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

/* Asserts s is refused with a message that names `key`. */
static void expect_invalid(const char *s, const char *key)
{
    struct kvp_config cfg;
    ck_assert_int_eq(parse(s, &cfg), KVP_ERR_INVALID);
    ck_assert_msg(strstr(last_msg, key) != NULL,
                  "message '%s' for '%s' does not name '%s'", last_msg, s, key);
}

START_TEST(defaults)
{
    struct kvp_config cfg;
    ck_assert_int_eq(parse(NULL, &cfg), KVP_OK);
    ck_assert_int_eq(cfg.transport, CFG_TRANSPORT_UCX);
    ck_assert_uint_eq(cfg.n_servers, 0);
    ck_assert_uint_eq(cfg.pool_size, UINT64_C(1) << 30);
    ck_assert_uint_eq(cfg.timeout_ms, 5000);
    ck_assert_int_eq(cfg.log_level, KVP_LOG_WARN);
    ck_assert_int_eq(cfg.gid_index, -1);
    ck_assert_int_eq(cfg.port, 0);
    ck_assert_uint_eq(cfg.lease_timeout_ms, 30000);
    ck_assert_str_eq(cfg.device, "");
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
    ck_assert_int_eq(cfg.transport, CFG_TRANSPORT_VERBS);
    ck_assert_uint_eq(cfg.n_servers, 2);
    ck_assert_str_eq(cfg.servers[0].host, "10.0.0.1");
    ck_assert_uint_eq(cfg.servers[0].port, 7000);
    ck_assert_str_eq(cfg.servers[1].host, "hostb");
    ck_assert_uint_eq(cfg.servers[1].port, 7001);
    ck_assert_uint_eq(cfg.pool_size, UINT64_C(512) << 20);
    ck_assert_str_eq(cfg.device, "mlx5_0");
    ck_assert_int_eq(cfg.port, 1);
    ck_assert_int_eq(cfg.gid_index, 3);
    ck_assert_str_eq(cfg.ucx_tls, "shm,self");
    ck_assert_str_eq(cfg.auth_token_file, "/etc/kvplug.token");
    ck_assert_uint_eq(cfg.timeout_ms, 250);
    ck_assert_int_eq(cfg.log_level, KVP_LOG_DEBUG);
    ck_assert_uint_eq(cfg.lease_timeout_ms, 900);
    ck_assert_uint_eq(cfg.ucx_pack_below, 8192);
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
    ck_assert_int_eq(cfg.transport, CFG_TRANSPORT_VERBS);
    ck_assert_str_eq(cfg.device, "mlx5_0");
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
    ck_assert_int_eq(cfg_parse("timeout_ms=7;bogus=1", &cfg, &lg),
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
    ck_assert_int_eq(cfg_load("", &cfg, &lg), KVP_ERR_INVALID);
    unsetenv("KVPLUG_CONFIG");
    ck_assert_int_eq(cfg_load("timeout_ms=10", &cfg, &lg), KVP_OK);
    ck_assert_uint_eq(cfg.timeout_ms, 10);
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
        {"sizes", sizes},
        {"bad_values_name_the_key", bad_values_name_the_key},
        {"structure_errors", structure_errors},
        {"env_merges_key_by_key", env_merges_key_by_key},
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
