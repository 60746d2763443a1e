/* check_scratch.c - the registered header slots: pooled slots are
 * distinct and inside the registered area, an op larger than the free pool
 * gets a temporary area, and everything returns to the pool. Uses the real
 * UCX module (a client ctx needs no peer). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scratch.h"
#include "log.h"
#include "kvp_transport.h"

static const struct kvp_transport_ops *tops;
static struct kvp_xport_ctx *tctx;
static struct kvp_logger lg;

static void quiet(void *u, int32_t l, const char *m)
{
    (void)u;
    (void)l;
    (void)m;
}

static void setup(void)
{
    lg = (struct kvp_logger){quiet, NULL, KVP_LOG_ERROR};
    ck_assert_int_eq(xport_module_load("ucx", &lg, &tops), KVP_OK);
    struct kvp_xport_params p = {.struct_size = sizeof(p),
                              .role = KVP_XPORT_ROLE_CLIENT,
                              .timeout_ms = 1000,
                              .log_level = KVP_LOG_ERROR,
                              .log = quiet};
    ck_assert_int_eq(tops->ctx_create(&p, &tctx), KVP_OK);
}

static void teardown(void)
{
    tops->ctx_destroy(tctx);
}

START_TEST(pooled_and_temporary)
{
    struct scratch s;
    ck_assert_int_eq(scratch_init(&s, tops, tctx), KVP_OK);
    ck_assert_uint_eq(s.n_free, SCRATCH_SLOTS);
    struct scratch_lease a, b;
    ck_assert_int_eq(scratch_get(&s, 10, &a), KVP_OK);
    ck_assert_ptr_eq(a.mem, s.mem);
    ck_assert_ptr_null(a.temp);
    for (uint32_t i = 0; i < 10; i++) {
        ck_assert(a.slots[i] >= s.base);
        ck_assert(a.slots[i] + SCRATCH_SLOT_SIZE <=
                  s.base + (size_t)SCRATCH_SLOTS * SCRATCH_SLOT_SIZE);
        for (uint32_t j = 0; j < i; j++)
            ck_assert_ptr_ne(a.slots[i], a.slots[j]);
        memset(a.slots[i], (int)i, SCRATCH_SLOT_SIZE); /* writable */
    }
    ck_assert_uint_eq(s.n_free, SCRATCH_SLOTS - 10);
    /* more than what is free: a temporary registered area */
    ck_assert_int_eq(scratch_get(&s, SCRATCH_SLOTS, &b), KVP_OK);
    ck_assert_ptr_nonnull(b.temp);
    ck_assert_ptr_ne(b.mem, s.mem);
    ck_assert_ptr_eq(b.slots[1], b.slots[0] + SCRATCH_SLOT_SIZE);
    memset(b.slots[SCRATCH_SLOTS - 1], 1, SCRATCH_SLOT_SIZE);
    ck_assert_uint_eq(s.n_free, SCRATCH_SLOTS - 10); /* pool untouched */
    scratch_put(&s, &b);
    scratch_put(&s, &a);
    ck_assert_uint_eq(s.n_free, SCRATCH_SLOTS);
    /* zero slots: nothing to do */
    ck_assert_int_eq(scratch_get(&s, 0, &a), KVP_OK);
    scratch_put(&s, &a);
    ck_assert_uint_eq(s.n_free, SCRATCH_SLOTS);
    scratch_fini(&s);
}
END_TEST

int main(void)
{
    /* a build without the UCX module has no transport to register with */
    struct kvp_logger q = {quiet, NULL, KVP_LOG_ERROR};
    const struct kvp_transport_ops *probe;
    if (xport_module_load("ucx", &q, &probe) != KVP_OK) {
        printf("SKIP: libkvplug_ucx.so not built\n");
        return EXIT_SUCCESS;
    }
    Suite *su = suite_create("scratch");
    TCase *tc = tcase_create("slots");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pooled_and_temporary);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
