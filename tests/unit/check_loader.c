/*
 * check_loader.c - the host-side loader against the real libkvplug.so
 * ($KVPLUG_PLUGIN, set by ctest) and, for cases the real plugin cannot
 * produce, the TEST DOUBLE plugins built by tests/abi next to it
 * (libkvp_testdouble_<case>.so, directory KVP_TESTDOUBLE_DIR).
 */
#include <check.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvp_loader.h"

static char lib_dir[KVP_LOADER_PATH_MAX];

static const char *real_plugin(void)
{
    const char *p = getenv("KVPLUG_PLUGIN");
    ck_assert_msg(p != NULL && p[0] != '\0',
                  "KVPLUG_PLUGIN must point at libkvplug.so");
    return p;
}

/* Path of a test double next to the real plugin. */
static const char *double_path(const char *which, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/libkvp_testdouble_%s.so", lib_dir, which);
    ck_assert_msg(access(buf, R_OK) == 0, "test double %s missing", buf);
    return buf;
}

/* Captures the last message the loader/plugin sent to the host logger. */
struct captured {
    int32_t level;
    int calls;
    char msg[8192];
};

static void capture_log(void *user, int32_t level, const char *msg)
{
    struct captured *c = user;
    c->level = level;
    c->calls++;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
}

static void setup(void)
{
#ifdef KVP_TESTDOUBLE_DIR
    snprintf(lib_dir, sizeof lib_dir, "%s", KVP_TESTDOUBLE_DIR);
#else
    /* Built without tests/abi's help: the doubles sit next to the plugin. */
    const char *p = real_plugin();
    snprintf(lib_dir, sizeof lib_dir, "%s", p);
    char *slash = strrchr(lib_dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        snprintf(lib_dir, sizeof lib_dir, ".");
#endif
}

/* "host 1.M vs plugin 1.M" for this header's minor. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define SAME_VERSIONS                                                          \
    "host 1." STR(KVP_ABI_MINOR) " vs plugin 1." STR(KVP_ABI_MINOR)

#define ASSERT_HAS(hay, needle)                                                \
    ck_assert_msg(strstr((hay), (needle)) != NULL,                             \
                  "message \"%s\" lacks \"%s\"", (hay), (needle))

/* ---- the real plugin --------------------------------------------------- */

START_TEST(test_open_real_plugin)
{
    struct kvp_plugin pl;
    char err[512] = "untouched";
    ck_assert_int_eq(kvp_loader_open(real_plugin(), NULL, &pl, err, sizeof err),
                     KVP_OK);
    ck_assert_str_eq(err, "");
    ck_assert_ptr_nonnull(pl.handle);
    ck_assert_ptr_nonnull(pl.ops);
    ck_assert_str_eq(pl.path, real_plugin());
    ck_assert_uint_eq(pl.abi_major, KVP_ABI_MAJOR);
    ck_assert_uint_eq(pl.abi_minor, KVP_ABI_MINOR);
    ck_assert_uint_ge(pl.ops->struct_size, KVP_OPS_SIZE_V1_0);
    ck_assert_str_eq(pl.ops->name, "kvplug");
    ck_assert(pl.ops->caps & KVP_CAP_THREAD_SAFE);
    ASSERT_HAS(pl.ops->status_str(KVP_ERR_ABI_MISMATCH),
               "ABI major version mismatch");
    kvp_loader_close(&pl);
    ck_assert_ptr_null(pl.handle);
    ck_assert_ptr_null(pl.ops);
    kvp_loader_close(&pl); /* twice is harmless */
    kvp_loader_close(NULL);
}
END_TEST

START_TEST(test_open_from_env)
{
    struct kvp_plugin pl;
    char err[512];
    ck_assert_int_eq(kvp_loader_open(NULL, NULL, &pl, err, sizeof err), KVP_OK);
    ck_assert_str_eq(pl.path, real_plugin());
    kvp_loader_close(&pl);
    ck_assert_int_eq(kvp_loader_open("", NULL, &pl, err, sizeof err), KVP_OK);
    kvp_loader_close(&pl);

    char saved[KVP_LOADER_PATH_MAX];
    snprintf(saved, sizeof saved, "%s", real_plugin());
    unsetenv("KVPLUG_PLUGIN");
    memset(&pl, 0x5A, sizeof pl);
    ck_assert_int_eq(kvp_loader_open(NULL, NULL, &pl, err, sizeof err),
                     KVP_ERR_INVALID);
    ASSERT_HAS(err, "KVPLUG_PLUGIN");
    ck_assert_uint_eq(((unsigned char *)&pl)[0], 0x5A); /* untouched */
    setenv("KVPLUG_PLUGIN", saved, 1);
}
END_TEST

/* Host newer than the plugin: effective minor is the plugin's. */
START_TEST(test_host_newer_minor)
{
    struct kvp_plugin pl;
    char err[512];
    ck_assert_int_eq(kvp_loader_open_as(real_plugin(), KVP_ABI_MAJOR,
                                        KVP_ABI_MINOR + 7, NULL, &pl, err,
                                        sizeof err),
                     KVP_OK);
    ck_assert_uint_eq(pl.abi_minor, KVP_ABI_MINOR);
    ck_assert_uint_eq(pl.plugin_abi_minor, KVP_ABI_MINOR);
    kvp_loader_close(&pl);
}
END_TEST

/* Wrong major both ways: ABI_MISMATCH naming both versions, through the
 * err buffer and through the host logger. */
START_TEST(test_wrong_major)
{
    static const uint16_t majors[2] = {KVP_ABI_MAJOR + 1, KVP_ABI_MAJOR - 1};
    for (int i = 0; i < 2; i++) {
        struct kvp_plugin pl;
        struct captured cap = {0};
        struct kvp_host_api host = {sizeof host, 0, capture_log, &cap};
        char err[1024], want[64];
        ck_assert_int_eq(kvp_loader_open_as(real_plugin(), majors[i], 3, &host,
                                            &pl, err, sizeof err),
                         KVP_ERR_ABI_MISMATCH);
        snprintf(want, sizeof want, "host %u.3 vs plugin %u.%u", majors[i],
                 KVP_ABI_MAJOR, KVP_ABI_MINOR);
        ASSERT_HAS(err, want);
        ASSERT_HAS(err, real_plugin());
        ck_assert_int_ge(cap.calls, 1);
        ck_assert_int_eq(cap.level, KVP_LOG_ERROR);
        ASSERT_HAS(cap.msg, want);
    }
}
END_TEST

/* ---- load failures ------------------------------------------------------ */

START_TEST(test_missing_file)
{
    struct kvp_plugin pl;
    char err[1024];
    const char *path = "/nonexistent/dir/libkvplug-missing.so";
    ck_assert_int_eq(kvp_loader_open(path, NULL, &pl, err, sizeof err),
                     KVP_ERR_NOT_FOUND);
    ASSERT_HAS(err, path);
    /* dlerror() text, e.g. "...: cannot open shared object file: ..." */
    ASSERT_HAS(err, "cannot open shared object file");
}
END_TEST

START_TEST(test_not_an_elf)
{
    char path[] = "/tmp/kvp_loader_garbage_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    char junk[256];
    memset(junk, 'j', sizeof junk); /* long enough to have an "ELF header" */
    ck_assert_int_eq(write(fd, junk, sizeof junk), (int)sizeof junk);
    close(fd);
    struct kvp_plugin pl;
    char err[1024];
    int32_t st = kvp_loader_open(path, NULL, &pl, err, sizeof err);
    unlink(path);
    ck_assert_int_eq(st, KVP_ERR_NOT_FOUND);
    ASSERT_HAS(err, path);
    ASSERT_HAS(err, "header"); /* dlerror: "invalid ELF header" */
}
END_TEST

START_TEST(test_missing_symbol)
{
    char path[KVP_LOADER_PATH_MAX + 64];
    struct kvp_plugin pl;
    char err[2048];
    double_path("nosym", path, sizeof path);
    ck_assert_int_eq(kvp_loader_open(path, NULL, &pl, err, sizeof err),
                     KVP_ERR_NOT_SUPPORTED);
    ASSERT_HAS(err, path);
    ASSERT_HAS(err, "kvp_plugin_negotiate_v1");
    ASSERT_HAS(err, "undefined symbol"); /* the dlerror() text */
}
END_TEST

START_TEST(test_bad_arguments)
{
    char err[256];
    ck_assert_int_eq(
        kvp_loader_open(real_plugin(), NULL, NULL, err, sizeof err),
        KVP_ERR_INVALID);
    ASSERT_HAS(err, "NULL");
    /* An over-long path is refused before dlopen. */
    char *longp = malloc(KVP_LOADER_PATH_MAX + 1);
    memset(longp, 'a', KVP_LOADER_PATH_MAX);
    longp[KVP_LOADER_PATH_MAX] = '\0';
    struct kvp_plugin pl;
    ck_assert_int_eq(kvp_loader_open(longp, NULL, &pl, err, sizeof err),
                     KVP_ERR_INVALID);
    free(longp);
    /* err may be NULL or tiny: still no overflow, still the status. */
    ck_assert_int_eq(kvp_loader_open("/nonexistent.so", NULL, &pl, NULL, 0),
                     KVP_ERR_NOT_FOUND);
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    ck_assert_int_eq(
        kvp_loader_open("/nonexistent.so", NULL, &pl, tiny, sizeof tiny),
        KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(tiny[7], '\0');
}
END_TEST

/* ---- test doubles: what the real plugin cannot do ----------------------- */

/* Host older than the plugin (1.0 host, 1.5 plugin): minor 0 wins. */
START_TEST(test_host_older_minor)
{
    char path[KVP_LOADER_PATH_MAX + 64];
    struct kvp_plugin pl;
    char err[1024];
    double_path("v1_5", path, sizeof path);
    ck_assert_int_eq(kvp_loader_open_as(path, 1, 0, NULL, &pl, err, sizeof err),
                     KVP_OK);
    ck_assert_uint_eq(pl.abi_minor, 0);
    ck_assert_uint_eq(pl.plugin_abi_minor, 5);
    kvp_loader_close(&pl);
    /* A host at 1.3 with the same plugin: 3. */
    ck_assert_int_eq(kvp_loader_open_as(path, 1, 3, NULL, &pl, err, sizeof err),
                     KVP_OK);
    ck_assert_uint_eq(pl.abi_minor, 3);
    kvp_loader_close(&pl);
}
END_TEST

START_TEST(test_ops_too_small)
{
    char path[KVP_LOADER_PATH_MAX + 64];
    struct kvp_plugin pl;
    char err[2048];
    double_path("smallops", path, sizeof path);
    ck_assert_int_eq(kvp_loader_open(path, NULL, &pl, err, sizeof err),
                     KVP_ERR_ABI_MISMATCH);
    ASSERT_HAS(err, path);
    ASSERT_HAS(err, "ops table is");
    ASSERT_HAS(err, SAME_VERSIONS);
}
END_TEST

START_TEST(test_null_ops)
{
    char path[KVP_LOADER_PATH_MAX + 64];
    struct kvp_plugin pl;
    char err[2048];
    double_path("nullops", path, sizeof path);
    ck_assert_int_eq(kvp_loader_open(path, NULL, &pl, err, sizeof err),
                     KVP_ERR_ABI_MISMATCH);
    ASSERT_HAS(err, path);
    ASSERT_HAS(err, "no ops table");
}
END_TEST

START_TEST(test_ops_other_major)
{
    char path[KVP_LOADER_PATH_MAX + 64];
    struct kvp_plugin pl;
    char err[2048];
    double_path("badmajor", path, sizeof path);
    ck_assert_int_eq(kvp_loader_open(path, NULL, &pl, err, sizeof err),
                     KVP_ERR_ABI_MISMATCH);
    ASSERT_HAS(err, path);
    ASSERT_HAS(err, SAME_VERSIONS);
    ASSERT_HAS(err, "ops table says major 2");
}
END_TEST

START_TEST(test_lying_minor)
{
    char path[KVP_LOADER_PATH_MAX + 64];
    struct kvp_plugin pl;
    char err[2048];
    double_path("lieminor", path, sizeof path);
    ck_assert_int_eq(kvp_loader_open(path, NULL, &pl, err, sizeof err),
                     KVP_ERR_ABI_MISMATCH);
    char want[64];
    snprintf(want, sizeof want, "negotiated minor %d", KVP_ABI_MINOR + 1);
    ASSERT_HAS(err, want);
}
END_TEST

/* A 1.0 plugin (table of exactly KVP_OPS_SIZE_V1_0, minor 0) under a 1.1
 * host: loads at minor 0 and KVP_HAS_OP says the 1.1 slots are absent. */
START_TEST(test_plugin_v1_0)
{
    char path[KVP_LOADER_PATH_MAX + 64];
    struct kvp_plugin pl;
    char err[1024];
    double_path("v1_0", path, sizeof path);
    ck_assert_int_eq(kvp_loader_open(path, NULL, &pl, err, sizeof err),
                     KVP_OK);
    ck_assert_uint_eq(pl.abi_minor, 0);
    ck_assert_uint_eq(pl.ops->struct_size, KVP_OPS_SIZE_V1_0);
    ck_assert(!KVP_HAS_OP(pl.ops, batch_exists));
    ck_assert(!KVP_HAS_OP(pl.ops, get_stats));
    kvp_loader_close(&pl);
}
END_TEST

/* A 1.1 negotiation needs the whole 1.1 table: a plugin that claims 1.1
 * with only the 1.0 slots is refused, naming the size it needs. */
START_TEST(test_v1_1_claim_with_v1_0_table)
{
    char path[KVP_LOADER_PATH_MAX + 64];
    struct kvp_plugin pl;
    char err[1024];
    double_path("v1_1_short", path, sizeof path);
    ck_assert_int_eq(kvp_loader_open(path, NULL, &pl, err, sizeof err),
                     KVP_ERR_ABI_MISMATCH);
    char want[64];
    snprintf(want, sizeof want, "needs at least %zu",
             (size_t)KVP_OPS_SIZE_V1_1);
    ASSERT_HAS(err, want);
    /* a 1.0 host asks for less and gets it */
    ck_assert_int_eq(kvp_loader_open_as(path, 1, 0, NULL, &pl, err,
                                        sizeof err),
                     KVP_OK);
    ck_assert_uint_eq(pl.abi_minor, 0);
    kvp_loader_close(&pl);
}
END_TEST

/* A failed open unloads the library again (no engine exists yet). */
START_TEST(test_failure_unloads)
{
    char path[KVP_LOADER_PATH_MAX + 64];
    struct kvp_plugin pl;
    char err[2048];
    double_path("smallops", path, sizeof path);
    ck_assert_int_eq(kvp_loader_open(path, NULL, &pl, err, sizeof err),
                     KVP_ERR_ABI_MISMATCH);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    ck_assert_msg(h == NULL, "%s still loaded after a failed open", path);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"open_real_plugin", test_open_real_plugin},
        {"open_from_env", test_open_from_env},
        {"host_newer_minor", test_host_newer_minor},
        {"wrong_major", test_wrong_major},
        {"missing_file", test_missing_file},
        {"not_an_elf", test_not_an_elf},
        {"missing_symbol", test_missing_symbol},
        {"bad_arguments", test_bad_arguments},
        {"host_older_minor", test_host_older_minor},
        {"ops_too_small", test_ops_too_small},
        {"null_ops", test_null_ops},
        {"ops_other_major", test_ops_other_major},
        {"lying_minor", test_lying_minor},
        {"plugin_v1_0", test_plugin_v1_0},
        {"v1_1_claim_with_v1_0_table", test_v1_1_claim_with_v1_0_table},
        {"failure_unloads", test_failure_unloads},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_unchecked_fixture(tc, setup, NULL);
        tcase_add_test(tc, cases[i].fn);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
