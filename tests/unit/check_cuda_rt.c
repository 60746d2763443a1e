/* check_cuda_rt.c - CUDA never breaks loading, never over-claims
 * (docs/cuda.md). In a process that has not loaded the CUDA driver (this
 * one: it never touches CUDA), on any machine, GPU or not:
 *   - host memory is host memory, and nothing initialises the driver;
 *   - kvp_cuda_usable() says no, and why;
 *   - the REAL libkvplug.so ($KVPLUG_PLUGIN) negotiates without
 *     KVP_CAP_CUDA.
 * That libkvplug.so has no NEEDED libcudart is abi.no_cuda_needed. */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_rt.h"
#include "kvplug/abi.h"

static int driver_in_process(void)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (h != NULL)
        dlclose(h);
    return h != NULL;
}

START_TEST(test_host_memory_is_host)
{
    static char stat_buf[64];
    char *heap = malloc(4096);
    ck_assert_ptr_nonnull(heap);
    int dev = 12345;
    ck_assert_int_eq(kvp_cuda_mem_kind(heap, &dev), KVP_MEM_HOST);
    ck_assert_int_eq(kvp_cuda_mem_kind(stat_buf, &dev), KVP_MEM_HOST);
    ck_assert_int_eq(dev, 12345); /* untouched for host memory */
    free(heap);
    ck_assert_msg(!driver_in_process(),
                  "asking about host memory loaded the CUDA driver");
}
END_TEST

START_TEST(test_not_usable_without_driver)
{
    char why[256] = "";
    ck_assert_int_eq(kvp_cuda_usable(why, sizeof(why)), 0);
    ck_assert_msg(strstr(why, "libcuda.so.1") != NULL ||
                      strstr(why, "built without CUDA") != NULL,
                  "reason names neither the driver nor the build: '%s'", why);
    ck_assert(!driver_in_process());
}
END_TEST

START_TEST(test_plugin_caps_exclude_cuda)
{
    const char *path = getenv("KVPLUG_PLUGIN");
    ck_assert_msg(path != NULL, "KVPLUG_PLUGIN must point at libkvplug.so");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen %s: %s", path, dlerror());
    void *sym = dlsym(h, "kvp_plugin_negotiate_v1");
    ck_assert_ptr_nonnull(sym);
    kvp_negotiate_v1_fn negotiate;
    memcpy(&negotiate, &sym, sizeof(negotiate));
    struct kvp_negotiate io;
    memset(&io, 0, sizeof(io));
    io.struct_size = sizeof(io);
    io.host_abi_major = KVP_ABI_MAJOR;
    io.host_abi_minor = KVP_ABI_MINOR;
    ck_assert_int_eq(negotiate(&io), KVP_OK);
    ck_assert_msg(!(io.ops->caps & KVP_CAP_CUDA),
                  "caps 0x%llx claim KVP_CAP_CUDA in a process without "
                  "the CUDA driver",
                  (unsigned long long)io.ops->caps);
    ck_assert(io.ops->caps & KVP_CAP_TP);
    ck_assert(!driver_in_process());
    dlclose(h);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("cuda_rt");
    TCase *tc = tcase_create("no_driver");
    tcase_add_test(tc, test_host_memory_is_host);
    tcase_add_test(tc, test_not_usable_without_driver);
    tcase_add_test(tc, test_plugin_caps_exclude_cuda);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
