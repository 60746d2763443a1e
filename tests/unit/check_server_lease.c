/* check_server_lease.c - lease table (expiry order, owners) and the id
 * map / key index it rests on. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "index.h"
#include "lease.h"

START_TEST(expiry_in_creation_order)
{
    struct lease_table lt;
    ck_assert_int_eq(lease_init(&lt, 1000), 0);
    int objs[3];
    uint64_t a = lease_add(&lt, &objs[0], 1, 0);
    uint64_t b = lease_add(&lt, &objs[1], 1, 10);
    uint64_t c = lease_add(&lt, &objs[2], 2, 20);
    ck_assert(a && b && c && a != b && b != c);
    uint64_t id;
    ck_assert_ptr_null(lease_expire_one(&lt, 999, &id)); /* none yet */
    ck_assert_ptr_eq(lease_expire_one(&lt, 1000, &id), &objs[0]);
    ck_assert_uint_eq(id, a);
    ck_assert_ptr_null(lease_expire_one(&lt, 1009, &id));
    ck_assert_ptr_eq(lease_expire_one(&lt, 5000, &id), &objs[1]);
    ck_assert_ptr_eq(lease_expire_one(&lt, 5000, &id), &objs[2]);
    ck_assert_ptr_null(lease_expire_one(&lt, 5000, &id));
    ck_assert_uint_eq(lease_count(&lt), 0);
    lease_fini(&lt);
}
END_TEST

START_TEST(take_checks_owner_and_id)
{
    struct lease_table lt;
    ck_assert_int_eq(lease_init(&lt, 1000), 0);
    int obj;
    uint64_t a = lease_add(&lt, &obj, 7, 0);
    ck_assert_ptr_null(lease_take(&lt, a, 8));     /* other owner */
    ck_assert_ptr_null(lease_take(&lt, a + 1, 7)); /* no such lease */
    ck_assert_ptr_eq(lease_take(&lt, a, 7), &obj);
    ck_assert_ptr_null(lease_take(&lt, a, 7)); /* only once */
    ck_assert_ptr_null(lease_expire_one(&lt, UINT64_MAX, NULL));
    lease_fini(&lt);
}
END_TEST

static void count_cb(void *obj, void *arg)
{
    (void)obj;
    (*(int *)arg)++;
}

START_TEST(drop_owner_only_drops_its_leases)
{
    struct lease_table lt;
    ck_assert_int_eq(lease_init(&lt, 1000), 0);
    int obj, n = 0;
    for (int i = 0; i < 10; i++)
        lease_add(&lt, &obj, (uint64_t)(i % 2), 0);
    ck_assert_uint_eq(lease_drop_owner(&lt, 1, count_cb, &n), 5);
    ck_assert_int_eq(n, 5);
    ck_assert_uint_eq(lease_count(&lt), 5);
    lease_fini(&lt); /* frees the rest */
}
END_TEST

START_TEST(idmap_many)
{
    struct idmap m;
    ck_assert_int_eq(idmap_init(&m), 0);
    static int vals[5000];
    for (uint64_t i = 1; i <= 5000; i++)
        ck_assert_int_eq(idmap_put(&m, i * 3, &vals[i - 1]), 0);
    for (uint64_t i = 1; i <= 5000; i++) {
        ck_assert_ptr_eq(idmap_get(&m, i * 3), &vals[i - 1]);
        ck_assert_ptr_null(idmap_get(&m, i * 3 + 1));
    }
    for (uint64_t i = 1; i <= 5000; i += 2)
        ck_assert_ptr_eq(idmap_del(&m, i * 3), &vals[i - 1]);
    ck_assert_uint_eq(m.count, 2500);
    ck_assert_ptr_null(idmap_get(&m, 3));
    ck_assert_ptr_eq(idmap_get(&m, 6), &vals[1]);
    idmap_fini(&m);
}
END_TEST

START_TEST(index_binary_keys)
{
    struct index ix;
    ck_assert_int_eq(index_init(&ix), 0);
    char key[32];
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        ck_assert_ptr_null(index_find(&ix, key, (uint16_t)n));
        ck_assert_ptr_nonnull(index_insert(&ix, key, (uint16_t)n));
    }
    ck_assert_uint_eq(ix.count, 3000);
    /* a key is its bytes, not a C string: "k1" != "k1\0" */
    ck_assert_ptr_nonnull(index_find(&ix, "k1", 2));
    ck_assert_ptr_null(index_find(&ix, "k1\0", 3));
    struct index_entry *e = index_find(&ix, "k42", 3);
    ck_assert_str_eq(e->key, "k42");
    index_remove(&ix, e);
    ck_assert_ptr_null(index_find(&ix, "k42", 3));
    ck_assert_ptr_nonnull(index_find(&ix, "k43", 3));
    ck_assert_uint_eq(ix.count, 2999);
    index_fini(&ix);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_lease");
    TCase *tc = tcase_create("lease");
    tcase_add_test(tc, expiry_in_creation_order);
    tcase_add_test(tc, take_checks_owner_and_id);
    tcase_add_test(tc, drop_owner_only_drops_its_leases);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("maps");
    tcase_add_test(tm, idmap_many);
    tcase_add_test(tm, index_binary_keys);
    suite_add_tcase(s, tm);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
