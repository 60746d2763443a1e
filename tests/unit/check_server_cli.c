/* check_server_cli.c - kvplug-server flag parsing: sizes with units,
 * listen addresses, errors that name the flag, the auth token file. */
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "kvplug/abi.h"
#include "token.h"

/* The one size parser (common/options.h), with the server's old shape. */
static int cli_parse_size(const char *s, uint64_t *out, char *err, size_t cap)
{
    const char *why = NULL;
    int rc = kvp_parse_size(s, out, &why);
    if (rc != 0)
        snprintf(err, cap, "%s", why);
    return rc;
}

/* The one token reader (common/token.h), as kvplug-server calls it. */
static char *cli_read_token(const char *path, int *loose, char *err,
                            size_t cap)
{
    return kvp_token_read(path, "--auth-token-file", loose, err, cap);
}

START_TEST(sizes)
{
    char err[256];
    uint64_t v;
    struct {
        const char *s;
        uint64_t want;
    } ok[] = {{"4096", 4096},
              {"4GiB", 4ull << 30},
              {"512MiB", 512ull << 20},
              {"1GB", 1000000000ull},
              {"64kib", 64ull << 10},
              {"10B", 10},
              {"3KB", 3000},
              {"2MB", 2000000},
              {"1TiB", 1ull << 40},
              {"16G", 16ull << 30},
              /* the plugin's forms too (one parser): a space, any case */
              {"4 GiB", 4ull << 30},
              {"64 mib", 64ull << 20},
              {"3 KiB", 3072}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(cli_parse_size(ok[i].s, &v, err, sizeof(err)) == 0,
                      "%s: %s", ok[i].s, err);
        ck_assert_uint_eq(v, ok[i].want);
    }
    const char *bad[] = {"",
                         "GiB",
                         "-1",
                         " 4GiB",
                         "4XB",
                         "1.5GiB",
                         "99999999999999999999",
                         "20000000TiB"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cli_parse_size(bad[i], &v, err, sizeof(err)) == -1,
                      "%s accepted", bad[i]);
}
END_TEST

START_TEST(listen_addresses)
{
    char host[64] = "127.0.0.1", err[256];
    uint16_t port = 0;
    ck_assert_int_eq(cli_parse_listen("0.0.0.0:9000", host, sizeof(host), &port,
                                      err, sizeof(err)),
                     0);
    ck_assert_str_eq(host, "0.0.0.0");
    ck_assert_uint_eq(port, 9000);
    ck_assert_int_eq(cli_parse_listen("[::1]:7", host, sizeof(host), &port, err,
                                      sizeof(err)),
                     0);
    ck_assert_str_eq(host, "::1");
    ck_assert_uint_eq(port, 7);
    ck_assert_int_eq(
        cli_parse_listen("8080", host, sizeof(host), &port, err, sizeof(err)),
        0);
    ck_assert_str_eq(host, "::1"); /* unchanged */
    ck_assert_uint_eq(port, 8080);
    ck_assert_int_eq(cli_parse_listen("h:65536", host, sizeof(host), &port, err,
                                      sizeof(err)),
                     -1);
    ck_assert_int_eq(
        cli_parse_listen("h:", host, sizeof(host), &port, err, sizeof(err)),
        -1);
    ck_assert_int_eq(
        cli_parse_listen("[::1]9", host, sizeof(host), &port, err, sizeof(err)),
        -1);
}
END_TEST

static int parse(char *err, size_t cap, struct cli_opts *o, ...)
{
    char *argv[32] = {(char *)"kvplug-server"};
    int argc = 1;
    va_list ap;
    va_start(ap, o);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL)
        argv[argc++] = (char *)a;
    va_end(ap);
    return cli_parse(argc, argv, o, err, cap);
}

START_TEST(flags_and_defaults)
{
    char err[256];
    struct cli_opts o;
    ck_assert_int_eq(parse(err, sizeof(err), &o, NULL), 0);
    ck_assert_str_eq(o.host, CLI_DEFAULT_HOST);
    ck_assert_uint_eq(o.port, CLI_DEFAULT_PORT);
    ck_assert_str_eq(o.transports, "ucx");
    /* no transport flag: each module's defaults (gid_index auto) */
    ck_assert_ptr_null(kvp_kvlist_get(&o.xport_opts, "gid_index"));
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--listen", "0.0.0.0:0",
                           "--pool-size=2GiB", "--transports", "ucx,verbs",
                           "--lease-timeout-ms", "500", "--log-level", "debug",
                           "--device", "rxe0", "--gid-index", "1", "--ucx-tls",
                           "tcp", "--auth-token-file", "/t", NULL),
                     0);
    ck_assert_str_eq(o.host, "0.0.0.0");
    ck_assert_uint_eq(o.port, 0);
    ck_assert_uint_eq(o.pool_size, 2ull << 30);
    ck_assert_str_eq(o.transports, "ucx,verbs");
    ck_assert_uint_eq(o.lease_timeout_ms, 500);
    ck_assert_int_eq(o.log_level, KVP_LOG_DEBUG);
    /* the modules' flags, checked against ucx and verbs, kept as keys */
    ck_assert_str_eq(kvp_kvlist_get(&o.xport_opts, "device"), "rxe0");
    ck_assert_str_eq(kvp_kvlist_get(&o.xport_opts, "gid_index"), "1");
    ck_assert_str_eq(kvp_kvlist_get(&o.xport_opts, "ucx_tls"), "tcp");
    ck_assert_str_eq(o.auth_token_file, "/t");
}
END_TEST

START_TEST(errors_name_the_flag)
{
    char err[256];
    struct cli_opts o;
    struct {
        const char *a, *b, *flag;
    } bad[] = {{"--pool-size", "lots", "--pool-size"},
               {"--pool-size", "0", "--pool-size"},
               {"--listen", "x:y", "--listen"},
               {"--lease-timeout-ms", "0", "--lease-timeout-ms"},
               {"--lease-timeout-ms", "12ms", "--lease-timeout-ms"},
               {"--log-level", "loud", "--log-level"},
               {"--gid-index", "300", "--gid-index"},
               {"--transports", "tcp", "--ucx-tls tcp"},
               {"--transports", "ucx,rdma", "'rdma' is not a transport"},
               {"--transports", "ucx,", "empty name"},
               {"--listen", "nohost", "is not HOST:PORT"},
               {"--metrics", "nohost", "--metrics"},
               {"--etcd-ttl", "1", "--etcd-ttl"},
               {"--advertise", "h:1", "needs --etcd"},
               /* merged into the table: ranges, forms, module lookup */
               {"--summary-ms", "99", "--summary-ms '99'"},
               {"--etcd-ttl", "3601", "2..3600"},
               {"--advertise", "nohost", "--advertise 'nohost'"},
               {"--metrics", "h:70000", "--metrics"},
               {"--etcd-prefix", "/p", "needs --etcd"},
               {"--transports", "shm", "--ucx-tls self,sysv,posix"},
               {"--transports", "nosuchmod", "libkvplug_nosuchmod.so"},
               {"--transports", "UCX", "--transports 'UCX'"},
               {"--frobnicate", "1", "--frobnicate"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_int_eq(parse(err, sizeof(err), &o, bad[i].a, bad[i].b, NULL),
                         -1);
        ck_assert_msg(strstr(err, bad[i].flag) != NULL, "'%s' lacks %s", err,
                      bad[i].flag);
    }
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--pool-size", NULL), -1);
    ck_assert_ptr_nonnull(strstr(err, "needs a value"));
    /* the cluster flags */
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--etcd", "http://e:2379",
                           "--advertise", "10.0.0.1:7460", "--metrics",
                           "127.0.0.1:0", "--transports", "none", NULL),
                     0);
    ck_assert_str_eq(o.etcd, "http://e:2379");
    ck_assert_str_eq(o.advertise, "10.0.0.1:7460");
    ck_assert_uint_eq(o.etcd_ttl_s, 10);
    ck_assert_str_eq(o.metrics_host, "127.0.0.1");
    ck_assert_int_eq(parse(err, sizeof(err), &o, NULL), 0);
    ck_assert_str_eq(o.metrics_host, ""); /* no --metrics: no endpoint */
}
END_TEST

/* The cluster flags are entries of the table: their forms and defaults
 * (their errors: errors_name_the_flag). */
START_TEST(cluster_flags_from_the_table)
{
    char err[1024];
    struct cli_opts o;
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--metrics=9100",
                           "--summary-ms", "100", "--etcd", "http://e:1",
                           "--etcd-ttl=2", "--etcd-prefix", "/x",
                           "--transports", "none", NULL),
                     0);
    ck_assert_str_eq(o.metrics_host, CLI_DEFAULT_HOST);
    ck_assert_uint_eq(o.metrics_port, 9100);
    ck_assert_uint_eq(o.summary_ms, 100);
    ck_assert_uint_eq(o.etcd_ttl_s, 2);
    ck_assert_str_eq(o.etcd_prefix, "/x");
    ck_assert_str_eq(o.advertise, "");
}
END_TEST

START_TEST(token_file)
{
    char path[] = "/tmp/kvp_tokXXXXXX", err[256];
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "s3cret\n\n", 8), 8);
    close(fd);
    chmod(path, 0600);
    int loose = -1;
    char *t = cli_read_token(path, &loose, err, sizeof(err));
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, "s3cret");
    ck_assert_int_eq(loose, 0);
    free(t);
    chmod(path, 0644);
    t = cli_read_token(path, &loose, err, sizeof(err));
    ck_assert_int_eq(loose, 1);
    free(t);
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, " \n", 2), 2);
    close(fd);
    ck_assert_ptr_null(cli_read_token(path, &loose, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "--auth-token-file"));
    unlink(path);
    ck_assert_ptr_null(cli_read_token(path, &loose, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, path));
}
END_TEST

START_TEST(size_forms_like_the_config)
{
    char err[256];
    struct cli_opts o;
    const char *forms[] = {"64mib", "64 MiB", "64MiB", "67108864"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        ck_assert_msg(parse(err, sizeof(err), &o, "--pool-size", forms[i],
                            NULL) == 0,
                      "%s: %s", forms[i], err);
        ck_assert_uint_eq(o.pool_size, 64ull << 20);
    }
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--pool-size=64 MiB", NULL),
                     0);
    ck_assert_uint_eq(o.pool_size, 64ull << 20);
}
END_TEST

START_TEST(unknown_flag_lists_valid_flags)
{
    char err[1024];
    struct cli_opts o;
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--frobnicate", "1", NULL),
                     -1);
    const char *want[] = {"--frobnicate", "--listen", "--pool-size",
                          "--transports", "--ucx-tls", "--ucx-pack-below"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(err, want[i]) != NULL, "'%s' lacks %s", err,
                      want[i]);
    ck_assert_int_eq(parse(err, sizeof(err), &o, "-x", NULL), -1);
    ck_assert_ptr_nonnull(strstr(err, "'-x'"));
}
END_TEST

START_TEST(module_flag_errors)
{
    char err[1024];
    struct cli_opts o;
    /* a bad value: the module, the flag, the value, what is accepted */
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--transports", "verbs",
                           "--gid-index", "300", NULL),
                     -1);
    ck_assert_msg(strstr(err, "transport 'verbs'") != NULL &&
                      strstr(err, "--gid-index '300'") != NULL &&
                      strstr(err, "-1..255") != NULL,
                  "%s", err);
    /* a flag of a module not in --transports */
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--transports", "ucx",
                           "--device", "rxe0", NULL),
                     -1);
    ck_assert_msg(strstr(err, "--device") != NULL &&
                      strstr(err, "transport 'ucx' takes: --ucx-tls") != NULL,
                  "%s", err);
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--transports", "none",
                           "--ucx-tls", "tcp", NULL),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "no transport is in use"));
    /* --<module>.<key>: applies only when that module is in use */
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--transports", "ucx",
                           "--verbs.device", "rxe0", "--ucx.ucx-tls", "tcp",
                           NULL),
                     0);
    ck_assert_str_eq(kvp_kvlist_get(&o.xport_opts, "verbs.device"), "rxe0");
    ck_assert_int_eq(parse(err, sizeof(err), &o, "--transports", "ucx",
                           "--ucx.ucx-pack-below", "lots", NULL),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "--ucx-pack-below 'lots'"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_cli");
    TCase *tc = tcase_create("cli");
    tcase_add_test(tc, sizes);
    tcase_add_test(tc, listen_addresses);
    tcase_add_test(tc, flags_and_defaults);
    tcase_add_test(tc, errors_name_the_flag);
    tcase_add_test(tc, cluster_flags_from_the_table);
    tcase_add_test(tc, token_file);
    tcase_add_test(tc, size_forms_like_the_config);
    tcase_add_test(tc, unknown_flag_lists_valid_flags);
    tcase_add_test(tc, module_flag_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
