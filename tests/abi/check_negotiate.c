/*
 * check_negotiate.c - kvp_plugin_negotiate_v1 of the REAL libkvplug.so
 * ($KVPLUG_PLUGIN), called directly through dlsym as any host would, without
 * the loader: version arithmetic, mismatch reporting, struct_size rules.
 */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvplug/abi.h"

static void *handle;
static kvp_negotiate_v1_fn negotiate;

static void setup(void)
{
    const char *path = getenv("KVPLUG_PLUGIN");
    ck_assert_msg(path != NULL, "KVPLUG_PLUGIN must point at libkvplug.so");
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(handle != NULL, "dlopen %s: %s", path, dlerror());
    void *sym = dlsym(handle, "kvp_plugin_negotiate_v1");
    ck_assert_msg(sym != NULL, "dlsym: %s", dlerror());
    memcpy(&negotiate, &sym, sizeof negotiate);
}

static void teardown(void)
{
    dlclose(handle);
}

struct captured {
    int calls;
    int32_t level;
    char msg[1024];
};

static void capture_log(void *user, int32_t level, const char *msg)
{
    struct captured *c = user;
    c->calls++;
    c->level = level;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
}

/* An io with every out field poisoned, to see what the plugin writes. */
static struct kvp_negotiate poisoned(uint16_t major, uint16_t minor)
{
    struct kvp_negotiate io;
    memset(&io, 0xA5, sizeof io);
    io.struct_size = sizeof io;
    io.host_abi_major = major;
    io.host_abi_minor = minor;
    io.host = NULL;
    return io;
}

static const struct kvp_ops *const POISON_OPS =
    (const struct kvp_ops *)(uintptr_t)0xA5A5A5A5A5A5A5A5u;

START_TEST(test_same_version)
{
    struct kvp_negotiate io = poisoned(KVP_ABI_MAJOR, KVP_ABI_MINOR);
    ck_assert_int_eq(negotiate(&io), KVP_OK);
    ck_assert_uint_eq(io.plugin_abi_major, KVP_ABI_MAJOR);
    ck_assert_uint_eq(io.plugin_abi_minor, KVP_ABI_MINOR);
    ck_assert_uint_eq(io.abi_minor, KVP_ABI_MINOR);
    ck_assert_uint_eq(io.reserved, 0);
    const struct kvp_ops *ops = io.ops;
    ck_assert_ptr_nonnull(ops);
    ck_assert_uint_ge(ops->struct_size, KVP_OPS_SIZE_V1_0);
    ck_assert_uint_eq(ops->abi_major, KVP_ABI_MAJOR);
    ck_assert_uint_eq(ops->abi_minor, KVP_ABI_MINOR);
    ck_assert_str_eq(ops->name, "kvplug");
    ck_assert_ptr_nonnull(ops->version);
    /* The table is the plugin's static one: same pointer every time. */
    struct kvp_negotiate again = poisoned(KVP_ABI_MAJOR, KVP_ABI_MINOR);
    ck_assert_int_eq(negotiate(&again), KVP_OK);
    ck_assert_ptr_eq(again.ops, ops);
}
END_TEST

/* Every 1.0 slot is there and status_str names every code. */
START_TEST(test_ops_table_complete)
{
    struct kvp_negotiate io = poisoned(KVP_ABI_MAJOR, 0);
    ck_assert_int_eq(negotiate(&io), KVP_OK);
    const struct kvp_ops *ops = io.ops;
    ck_assert(KVP_HAS_OP(ops, status_str));
    ck_assert(KVP_HAS_OP(ops, engine_create));
    ck_assert(KVP_HAS_OP(ops, engine_destroy));
    ck_assert(KVP_HAS_OP(ops, register_buffer));
    ck_assert(KVP_HAS_OP(ops, unregister_buffer));
    ck_assert(KVP_HAS_OP(ops, put_from));
    ck_assert(KVP_HAS_OP(ops, batch_put_from));
    ck_assert(KVP_HAS_OP(ops, get_into));
    ck_assert(KVP_HAS_OP(ops, batch_get_into));
    ck_assert(KVP_HAS_OP(ops, put_tensor_with_tp_from));
    ck_assert(KVP_HAS_OP(ops, batch_put_tensor_with_tp_from));
    ck_assert(KVP_HAS_OP(ops, get_tensor_with_tp_into));
    ck_assert(KVP_HAS_OP(ops, batch_get_tensor_with_tp_into));
    ck_assert(KVP_HAS_OP(ops, exists));
    ck_assert(KVP_HAS_OP(ops, stat));
    ck_assert(KVP_HAS_OP(ops, remove));
    ck_assert(ops->caps & KVP_CAP_THREAD_SAFE);
#define CHECK_TEXT(name, value, text)                                          \
    ck_assert_msg(strstr(ops->status_str(value), text) != NULL,                \
                  "status_str(%d) = \"%s\" lacks \"%s\"", value,               \
                  ops->status_str(value), text);
    KVP_STATUS_LIST(CHECK_TEXT)
#undef CHECK_TEXT
    ck_assert_ptr_nonnull(ops->status_str(-9999));
    ck_assert_ptr_nonnull(ops->status_str(INT32_MAX));
}
END_TEST

/* ABI 1.1: the six slots of DESIGN §2.1, for a 1.1 host; a 1.0 host
 * negotiates minor 0 and gets the same table (it must not call them). */
START_TEST(test_ops_table_v1_1)
{
    struct kvp_negotiate io = poisoned(KVP_ABI_MAJOR, 1);
    ck_assert_int_eq(negotiate(&io), KVP_OK);
    ck_assert_uint_eq(io.abi_minor, 1);
    const struct kvp_ops *ops = io.ops;
    ck_assert_uint_ge(ops->struct_size, KVP_OPS_SIZE_V1_1);
    ck_assert_uint_ge(ops->abi_minor, 1);
    ck_assert(KVP_HAS_OP(ops, batch_exists));
    ck_assert(KVP_HAS_OP(ops, batch_remove));
    ck_assert(KVP_HAS_OP(ops, batch_put_from_iov));
    ck_assert(KVP_HAS_OP(ops, batch_get_into_iov));
    ck_assert(KVP_HAS_OP(ops, remove_prefix));
    ck_assert(KVP_HAS_OP(ops, get_stats));
    struct kvp_negotiate old = poisoned(KVP_ABI_MAJOR, 0);
    ck_assert_int_eq(negotiate(&old), KVP_OK);
    ck_assert_uint_eq(old.abi_minor, 0);
    ck_assert_uint_eq(old.plugin_abi_minor, KVP_ABI_MINOR);
    ck_assert_ptr_eq(old.ops, ops);
    ck_assert_uint_ge(old.ops->struct_size, KVP_OPS_SIZE_V1_0);
}
END_TEST

/* Host newer and (for a future plugin) older: the lower minor wins. */
START_TEST(test_minor_is_min)
{
    for (uint16_t host_minor = 0; host_minor < 12; host_minor++) {
        struct kvp_negotiate io = poisoned(KVP_ABI_MAJOR, host_minor);
        ck_assert_int_eq(negotiate(&io), KVP_OK);
        ck_assert_uint_eq(io.plugin_abi_minor, KVP_ABI_MINOR);
        uint16_t plugin_minor = io.plugin_abi_minor;
        uint16_t want = host_minor < plugin_minor ? host_minor : plugin_minor;
        ck_assert_uint_eq(io.abi_minor, want);
    }
    struct kvp_negotiate io = poisoned(KVP_ABI_MAJOR, UINT16_MAX);
    ck_assert_int_eq(negotiate(&io), KVP_OK);
    ck_assert_uint_eq(io.abi_minor, KVP_ABI_MINOR);
}
END_TEST

/* Wrong major: mismatch, both versions reported, abi_minor/ops untouched,
 * and the host logger hears both versions. */
START_TEST(test_wrong_major)
{
    static const uint16_t majors[3] = {0, KVP_ABI_MAJOR + 1, UINT16_MAX};
    for (int i = 0; i < 3; i++) {
        struct captured cap = {0};
        struct kvp_host_api host = {sizeof host, 0, capture_log, &cap};
        struct kvp_negotiate io = poisoned(majors[i], 4);
        io.host = &host;
        ck_assert_int_eq(negotiate(&io), KVP_ERR_ABI_MISMATCH);
        ck_assert_uint_eq(io.plugin_abi_major, KVP_ABI_MAJOR);
        ck_assert_uint_eq(io.plugin_abi_minor, KVP_ABI_MINOR);
        ck_assert_uint_eq(io.abi_minor, 0xA5A5);
        ck_assert_ptr_eq(io.ops, POISON_OPS);
        ck_assert_int_ge(cap.calls, 1);
        ck_assert_int_eq(cap.level, KVP_LOG_ERROR);
        char host_v[32], plugin_v[32];
        snprintf(host_v, sizeof host_v, "%u.4", majors[i]);
        snprintf(plugin_v, sizeof plugin_v, "%u.%u", KVP_ABI_MAJOR,
                 KVP_ABI_MINOR);
        ck_assert_msg(strstr(cap.msg, host_v) && strstr(cap.msg, plugin_v),
                      "log \"%s\" lacks %s or %s", cap.msg, host_v, plugin_v);
    }
}
END_TEST

START_TEST(test_struct_too_small)
{
    /* Up to ops is 32 bytes in 1.0; anything shorter is refused and no out
     * field past struct_size is written. */
    for (uint32_t size = 0; size < 32; size += 4) {
        struct kvp_negotiate io = poisoned(KVP_ABI_MAJOR, KVP_ABI_MINOR);
        io.struct_size = size;
        ck_assert_int_eq(negotiate(&io), KVP_ERR_INVALID);
        ck_assert_ptr_eq(io.ops, POISON_OPS);
        ck_assert_uint_eq(io.abi_minor, 0xA5A5);
        if (size >= 20) /* versions are covered: reported anyway */
            ck_assert_uint_eq(io.plugin_abi_major, KVP_ABI_MAJOR);
        else
            ck_assert_uint_eq(io.plugin_abi_major, 0xA5A5);
    }
    struct kvp_negotiate io = poisoned(KVP_ABI_MAJOR, KVP_ABI_MINOR);
    io.struct_size = sizeof io - 1;
    ck_assert_int_eq(negotiate(&io), KVP_ERR_INVALID);
}
END_TEST

/* A host from the future passes a bigger struct: fine. */
START_TEST(test_struct_bigger)
{
    struct {
        struct kvp_negotiate io;
        uint64_t future_field;
    } big;
    memset(&big, 0, sizeof big);
    big.io.struct_size = sizeof big;
    big.io.host_abi_major = KVP_ABI_MAJOR;
    big.io.host_abi_minor = 9;
    big.future_field = 0x1234;
    ck_assert_int_eq(negotiate(&big.io), KVP_OK);
    ck_assert_ptr_nonnull(big.io.ops);
    ck_assert_uint_eq(big.future_field, 0x1234);
}
END_TEST

START_TEST(test_null_io)
{
    ck_assert_int_eq(negotiate(NULL), KVP_ERR_INVALID);
}
END_TEST

/* A host_api too short to hold log is ignored (no crash, still works). */
START_TEST(test_short_host_api)
{
    struct captured cap = {0};
    struct kvp_host_api host = {8, 0, capture_log, &cap};
    struct kvp_negotiate io = poisoned(KVP_ABI_MAJOR + 1, 0);
    io.host = &host;
    ck_assert_int_eq(negotiate(&io), KVP_ERR_ABI_MISMATCH);
    ck_assert_int_eq(cap.calls, 0);
}
END_TEST

static Suite *negotiate_suite(void)
{
    Suite *s = suite_create("negotiate");
    struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"same_version", test_same_version},
        {"ops_table_complete", test_ops_table_complete},
        {"ops_table_v1_1", test_ops_table_v1_1},
        {"minor_is_min", test_minor_is_min},
        {"wrong_major", test_wrong_major},
        {"struct_too_small", test_struct_too_small},
        {"struct_bigger", test_struct_bigger},
        {"null_io", test_null_io},
        {"short_host_api", test_short_host_api},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, cases[i].fn);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(negotiate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
