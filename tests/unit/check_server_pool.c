/* check_server_pool.c - the pool mapping (resident before first use, page
 * rounded) and its registration with transport modules. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool.h"
#include "kvp_transport.h"

static struct kvp_logger lg = {NULL, NULL, KVP_LOG_ERROR};

static struct kvp_xport_params xport_params(void)
{
    struct kvp_xport_params p = {
        .struct_size = sizeof(p), .timeout_ms = 5000};
    return p;
}

START_TEST(prefaulted_and_rounded)
{
    struct pool p;
    struct kvp_xport_params xp = xport_params();
    long pg = sysconf(_SC_PAGESIZE);
    ck_assert_int_eq(pool_create(&p, 10 * (uint64_t)pg + 1, "", &xp, &lg),
                     KVP_OK);
    ck_assert_uint_eq(p.size, 11 * (uint64_t)pg);
    ck_assert_uint_eq(p.n_xport, 0);
    ck_assert_uint_eq((uintptr_t)p.base % (uintptr_t)pg, 0);
    /* every page is resident before anyone touched it */
    unsigned char vec[11];
    ck_assert_int_eq(mincore(p.base, p.size, vec), 0);
    for (int i = 0; i < 11; i++)
        ck_assert_msg(vec[i] & 1, "page %d not resident", i);
    memset(p.base, 0x5a, p.size); /* writable end to end */
    pool_destroy(&p);
    ck_assert_ptr_null(p.base);
}
END_TEST

START_TEST(bad_lists_refused)
{
    struct pool p;
    struct kvp_xport_params xp = xport_params();
    ck_assert_int_eq(pool_create(&p, 0, "", &xp, &lg), KVP_ERR_INVALID);
    ck_assert_int_eq(pool_create(&p, 4096, ",ucx", &xp, &lg), KVP_ERR_INVALID);
    ck_assert_int_eq(pool_create(&p, 4096, "no_such_xport", &xp, &lg),
                     KVP_ERR_NOT_SUPPORTED);
    ck_assert_int_eq(pool_create(&p, 4096,
                                 "a_name_longer_than_thirty_two_bytes_x", &xp,
                                 &lg),
                     KVP_ERR_INVALID);
    ck_assert_ptr_null(p.base); /* everything undone */
}
END_TEST

START_TEST(registered_with_ucx)
{
    const struct kvp_transport_ops *ops;
    if (xport_module_load("ucx", &lg, &ops) != KVP_OK) {
        fprintf(stderr, "SKIP registered_with_ucx: no ucx module\n");
        return;
    }
    struct pool p;
    struct kvp_xport_params xp = xport_params();
    ck_assert_int_eq(pool_create(&p, 1 << 20, "ucx", &xp, &lg), KVP_OK);
    ck_assert_uint_eq(p.n_xport, 1);
    ck_assert_uint_gt(p.xport[0].rkey_len, 0);
    ck_assert_ptr_eq(pool_find_xport(&p, "ucx", 3), &p.xport[0]);
    ck_assert_ptr_null(pool_find_xport(&p, "uc", 2));
    ck_assert_ptr_null(pool_find_xport(&p, "verbs", 5));
    pool_destroy(&p);
    ck_assert_int_eq(pool_create(&p, 1 << 20, "ucx,ucx", &xp, &lg),
                     KVP_ERR_INVALID);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, prefaulted_and_rounded);
    tcase_add_test(tc, bad_lists_refused);
    tcase_add_test(tc, registered_with_ucx);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
