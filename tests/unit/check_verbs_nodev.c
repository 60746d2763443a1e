/*
 * check_verbs_nodev.c - the verbs transport module on a host without any
 * RDMA device (the plain build host and CI): it must load through the
 * real module loader, export only its entry point, validate arguments, and
 * refuse ctx_create with KVP_ERR_NO_DEVICE and a message that says what
 * was found. Everything that needs a device runs in the soft-RoCE VM lane
 * (tests/vm).
 *
 * SYSFS_PATH points libibverbs at an empty directory, so "no device at
 * all" holds even on a machine that has one.
 */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvp_transport.h"
#include "status_name.h"

static char log_text[8192];

static void capture_log(void *user, int32_t level, const char *msg)
{
    (void)user;
    (void)level;
    size_t used = strlen(log_text);
    snprintf(log_text + used, sizeof(log_text) - used, "%s\n", msg);
}

static const struct kvp_transport_ops *ops;
static char empty_sysfs[] = "/tmp/kvp-nosysfs-XXXXXX";

static void setup(void)
{
    log_text[0] = '\0';
    ck_assert_ptr_nonnull(mkdtemp(empty_sysfs));
    setenv("SYSFS_PATH", empty_sysfs, 1);
    struct kvp_logger lg = {
        .fn = capture_log, .user = NULL, .level = KVP_LOG_DEBUG};
    int32_t st = xport_module_load("verbs", &lg, &ops);
    ck_assert_msg(st == KVP_OK, "xport_module_load(verbs) = %s: %s",
                  kvp_status_name(st), log_text);
    log_text[0] = '\0';
}

static void teardown(void)
{
    rmdir(empty_sysfs);
    strcpy(empty_sysfs, "/tmp/kvp-nosysfs-XXXXXX");
}

static struct kvp_xport_params params_default(void)
{
    struct kvp_xport_params p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.role = KVP_XPORT_ROLE_CLIENT;
    p.opts = NULL; /* the module's defaults: first device, port, auto GID */
    p.n_opts = 0;
    p.timeout_ms = 1000;
    p.log_level = KVP_LOG_DEBUG;
    p.log = capture_log;
    return p;
}

START_TEST(test_ops_table)
{
    ck_assert_str_eq(ops->name, "verbs");
    ck_assert_uint_eq(ops->version, KVP_TRANSPORT_OPS_VERSION);
    ck_assert_uint_ge(ops->struct_size, sizeof(struct kvp_transport_ops));
    /* Every slot is implemented: callers never test for NULL. */
    const void *slots[] = {
        (const void *)ops->ctx_create,    (const void *)ops->ctx_destroy,
        (const void *)ops->mem_reg,       (const void *)ops->mem_dereg,
        (const void *)ops->mem_rkey_pack, (const void *)ops->ep_create,
        (const void *)ops->ep_accept,     (const void *)ops->ep_connect,
        (const void *)ops->ep_destroy,    (const void *)ops->rkey_unpack,
        (const void *)ops->rkey_destroy,  (const void *)ops->write,
        (const void *)ops->read,          (const void *)ops->flush,
        (const void *)ops->stats,         (const void *)ops->opt_table};
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
        ck_assert_msg(slots[i] != NULL, "ops slot %zu is NULL", i);
}
END_TEST

START_TEST(test_exports_only_entry)
{
    Dl_info info;
    ck_assert_int_ne(dladdr((const void *)ops, &info), 0);
    void *h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    ck_assert_msg(h != NULL, "%s not loaded: %s", info.dli_fname, dlerror());
    ck_assert_ptr_nonnull(dlsym(h, KVP_TRANSPORT_ENTRY_SYMBOL));
    /* Internal functions stay hidden (version script + visibility). */
    const char *internal[] = {"verbs_dev_open",  "verbs_post_write",
                              "verbs_plan_next", "verbs_conn_decode",
                              "kvp_logf",        "xport_module_load"};
    for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++)
        ck_assert_msg(dlsym(h, internal[i]) == NULL, "%s is exported",
                      internal[i]);
    dlclose(h); /* drops only the NOLOAD reference */
}
END_TEST

START_TEST(test_no_device_at_all)
{
    struct kvp_xport_params p = params_default();
    struct kvp_xport_ctx *ctx = (struct kvp_xport_ctx *)&p; /* sentinel */
    int32_t st = ops->ctx_create(&p, &ctx);
    ck_assert_int_eq(st, KVP_ERR_NO_DEVICE);
    ck_assert_ptr_eq(ctx, (struct kvp_xport_ctx *)&p); /* untouched */
    ck_assert_msg(strstr(log_text, "found 0 devices") != NULL, "log: %s",
                  log_text);
    ck_assert_msg(strstr(log_text, "rdma link add") != NULL,
                  "no hint in log: %s", log_text);
}
END_TEST

START_TEST(test_no_device_server_role)
{
    struct kvp_xport_params p = params_default();
    p.role = KVP_XPORT_ROLE_SERVER;
    struct kvp_xport_ctx *ctx = NULL;
    ck_assert_int_eq(ops->ctx_create(&p, &ctx), KVP_ERR_NO_DEVICE);
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(test_named_device_absent)
{
    struct kvp_xport_params p = params_default();
    const char *kv[] = {"device=kvp_nodev7"};
    p.opts = kv;
    p.n_opts = 1;
    struct kvp_xport_ctx *ctx = NULL;
    ck_assert_int_eq(ops->ctx_create(&p, &ctx), KVP_ERR_NO_DEVICE);
    ck_assert_ptr_null(ctx);
    /* With zero devices the message says so; it never claims success. */
    ck_assert_msg(strstr(log_text, "0 devices") != NULL ||
                      strstr(log_text, "kvp_nodev7") != NULL,
                  "log: %s", log_text);
}
END_TEST

START_TEST(test_invalid_params)
{
    struct kvp_xport_ctx *ctx = NULL;
    ck_assert_int_eq(ops->ctx_create(NULL, &ctx), KVP_ERR_INVALID);
    struct kvp_xport_params p = params_default();
    ck_assert_int_eq(ops->ctx_create(&p, NULL), KVP_ERR_INVALID);

    p.struct_size = 8;
    ck_assert_int_eq(ops->ctx_create(&p, &ctx), KVP_ERR_INVALID);

    p = params_default();
    p.role = 7;
    log_text[0] = '\0';
    ck_assert_int_eq(ops->ctx_create(&p, &ctx), KVP_ERR_INVALID);
    ck_assert_msg(strstr(log_text, "role 7") != NULL, "log: %s", log_text);

    /* The module's options: each bad one is refused before any device is
     * looked at, naming the module, the key, the value and what is
     * accepted. */
    p = params_default();
    const char *bad_gid[] = {"gid_index=-5"};
    p.opts = bad_gid;
    p.n_opts = 1;
    log_text[0] = '\0';
    ck_assert_int_eq(ops->ctx_create(&p, &ctx), KVP_ERR_INVALID);
    ck_assert_msg(strstr(log_text, "gid_index '-5'") != NULL, "log: %s",
                  log_text);
    ck_assert_msg(strstr(log_text, "verbs") != NULL &&
                      strstr(log_text, "-1..255") != NULL,
                  "log: %s", log_text);

    p = params_default();
    const char *bad_port[] = {"port=300"};
    p.opts = bad_port;
    p.n_opts = 1;
    log_text[0] = '\0';
    ck_assert_int_eq(ops->ctx_create(&p, &ctx), KVP_ERR_INVALID);
    ck_assert_msg(strstr(log_text, "port '300'") != NULL, "log: %s", log_text);

    /* An option of another module: refused, naming the valid ones. */
    p = params_default();
    const char *foreign[] = {"ucx_tls=tcp"};
    p.opts = foreign;
    p.n_opts = 1;
    log_text[0] = '\0';
    ck_assert_int_eq(ops->ctx_create(&p, &ctx), KVP_ERR_INVALID);
    ck_assert_msg(strstr(log_text, "ucx_tls") != NULL &&
                      strstr(log_text, "device, port, gid_index") != NULL,
                  "log: %s", log_text);
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(test_null_handles)
{
    /* Destroy ops accept NULL; everything else refuses it. */
    ops->ctx_destroy(NULL);
    ops->mem_dereg(NULL);
    ops->ep_destroy(NULL);
    ops->rkey_destroy(NULL);
    struct kvp_xport_mem *mem = NULL;
    char buf[64];
    uint32_t len = 0;
    struct kvp_xport_ep *ep = NULL;
    struct kvp_xport_rkey *rkey = NULL;
    struct kvp_xport_stats stats = {.struct_size = sizeof(stats)};
    ck_assert_int_eq(ops->mem_reg(NULL, buf, sizeof(buf), &mem),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(ops->mem_rkey_pack(NULL, buf, sizeof(buf), &len),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(ops->ep_create(NULL, buf, sizeof(buf), &len, &ep),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(ops->ep_accept(NULL, buf, 40, buf, sizeof(buf), &len, &ep),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(ops->ep_connect(NULL, buf, 40), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->rkey_unpack(NULL, buf, 32, &rkey), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->write(NULL, NULL, 0, NULL, 0, NULL), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->read(NULL, buf, 1, NULL, 0, NULL), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->flush(NULL, 0), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->stats(NULL, &stats), KVP_ERR_INVALID);
    ck_assert_ptr_null(mem);
    ck_assert_ptr_null(ep);
    ck_assert_ptr_null(rkey);
}
END_TEST

/* Built without libibverbs: no module, and the loader says so. */
START_TEST(test_module_not_built)
{
    const struct kvp_transport_ops *o = NULL;
    struct kvp_logger lg = {
        .fn = capture_log, .user = NULL, .level = KVP_LOG_DEBUG};
    log_text[0] = '\0';
    ck_assert_int_eq(xport_module_load("verbs", &lg, &o), KVP_ERR_NOT_SUPPORTED);
    ck_assert_ptr_null(o);
    ck_assert_msg(strstr(log_text, "libkvplug_verbs.so") != NULL, "log: %s",
                  log_text);
}
END_TEST

#ifndef KVP_VERBS_BUILT
#define KVP_VERBS_BUILT 1
#endif

static Suite *verbs_nodev_suite(void)
{
    Suite *s = suite_create("verbs_nodev");
    if (!KVP_VERBS_BUILT) {
        TCase *nb = tcase_create("not_built");
        tcase_add_test(nb, test_module_not_built);
        suite_add_tcase(s, nb);
        return s;
    }
    TCase *tc = tcase_create("module");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ops_table);
    tcase_add_test(tc, test_exports_only_entry);
    tcase_add_test(tc, test_null_handles);
    suite_add_tcase(s, tc);

    tc = tcase_create("no_device");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_no_device_at_all);
    tcase_add_test(tc, test_no_device_server_role);
    tcase_add_test(tc, test_named_device_absent);
    tcase_add_test(tc, test_invalid_params);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(verbs_nodev_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
