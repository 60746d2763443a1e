/* check_server_alloc.c - the pool's offset allocator: alignment, zero
 * length, exhaustion, fragmentation and coalescing. */
#include <check.h>
#include <stdlib.h>

#include "alloc.h"

START_TEST(aligned_and_disjoint)
{
    struct alloc a;
    ck_assert_int_eq(alloc_init(&a, 4096), 0);
    uint64_t o1, o2, o3;
    ck_assert_int_eq(alloc_get(&a, 1, &o1), 0);
    ck_assert_int_eq(alloc_get(&a, 65, &o2), 0);
    ck_assert_int_eq(alloc_get(&a, 64, &o3), 0);
    ck_assert_uint_eq(o1 % ALLOC_ALIGN, 0);
    ck_assert_uint_eq(o2 % ALLOC_ALIGN, 0);
    ck_assert_uint_eq(o3 % ALLOC_ALIGN, 0);
    ck_assert_uint_ge(o2, o1 + 64);  /* 1 byte takes a full 64 */
    ck_assert_uint_ge(o3, o2 + 128); /* 65 bytes take 128 */
    ck_assert_uint_eq(a.free_bytes, 4096 - 64 - 128 - 64);
    alloc_fini(&a);
}
END_TEST

START_TEST(zero_length_takes_nothing)
{
    struct alloc a;
    ck_assert_int_eq(alloc_init(&a, 128), 0);
    uint64_t o;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(alloc_get(&a, 0, &o), 0);
    ck_assert_uint_eq(a.free_bytes, 128);
    alloc_put(&a, 0, 0);
    ck_assert_uint_eq(a.free_bytes, 128);
    alloc_fini(&a);
}
END_TEST

START_TEST(exhaustion)
{
    struct alloc a;
    ck_assert_int_eq(alloc_init(&a, 64 * 8), 0);
    uint64_t o[8], x = 12345;
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(alloc_get(&a, 64, &o[i]), 0);
    ck_assert_int_eq(alloc_get(&a, 1, &x), -1);
    ck_assert_uint_eq(x, 12345); /* out-param untouched on failure */
    ck_assert_int_eq(alloc_get(&a, UINT64_MAX, &x), -1);
    ck_assert_int_eq(alloc_get(&a, UINT64_MAX - 10, &x), -1);
    alloc_put(&a, o[3], 64);
    ck_assert_int_eq(alloc_get(&a, 64, &x), 0);
    ck_assert_uint_eq(x, o[3]);
    alloc_fini(&a);
}
END_TEST

START_TEST(fragmentation_then_coalescing)
{
    struct alloc a;
    ck_assert_int_eq(alloc_init(&a, 64 * 16), 0);
    uint64_t o[16];
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(alloc_get(&a, 64, &o[i]), 0);
    /* free every other block: 8 holes of 64, none of 128 */
    for (int i = 0; i < 16; i += 2)
        alloc_put(&a, o[i], 64);
    ck_assert_uint_eq(a.free_bytes, 64 * 8);
    ck_assert_uint_eq(a.n_free_blocks, 8);
    uint64_t x;
    ck_assert_int_eq(alloc_get(&a, 128, &x), -1); /* fragmented */
    /* freeing the odd ones must merge everything into one block */
    for (int i = 15; i >= 1; i -= 2)
        alloc_put(&a, o[i], 64);
    ck_assert_uint_eq(a.n_free_blocks, 1);
    ck_assert_uint_eq(alloc_largest_free(&a), 64 * 16);
    ck_assert_int_eq(alloc_get(&a, 64 * 16, &x), 0);
    ck_assert_uint_eq(x, 0);
    alloc_fini(&a);
}
END_TEST

START_TEST(coalesce_prev_next_both)
{
    struct alloc a;
    ck_assert_int_eq(alloc_init(&a, 64 * 5), 0);
    uint64_t o[5];
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(alloc_get(&a, 64, &o[i]), 0);
    alloc_put(&a, o[1], 64);
    alloc_put(&a, o[3], 64);
    ck_assert_uint_eq(a.n_free_blocks, 2);
    alloc_put(&a, o[2], 64); /* joins both neighbours */
    ck_assert_uint_eq(a.n_free_blocks, 1);
    ck_assert_uint_eq(alloc_largest_free(&a), 192);
    alloc_put(&a, o[0], 64); /* joins next */
    alloc_put(&a, o[4], 64); /* joins prev */
    ck_assert_uint_eq(a.n_free_blocks, 1);
    ck_assert_uint_eq(alloc_largest_free(&a), 320);
    alloc_fini(&a);
}
END_TEST

START_TEST(random_churn_keeps_accounting)
{
    struct alloc a;
    const uint64_t size = 1 << 20;
    ck_assert_int_eq(alloc_init(&a, size), 0);
    enum { N = 500 };
    uint64_t off[N], len[N];
    int live[N] = {0};
    srand(7);
    uint64_t used = 0;
    for (int round = 0; round < 20000; round++) {
        int i = rand() % N;
        if (live[i]) {
            alloc_put(&a, off[i], len[i]);
            used -= alloc_rounded(len[i]);
            live[i] = 0;
        } else {
            len[i] = (uint64_t)(rand() % 8192);
            if (alloc_get(&a, len[i], &off[i]) == 0) {
                ck_assert_uint_le(off[i] + len[i], size);
                used += alloc_rounded(len[i]);
                live[i] = 1;
            }
        }
        ck_assert_uint_eq(a.free_bytes, size - used);
    }
    /* no two live ranges overlap */
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (live[i] && live[j] && len[i] && len[j])
                ck_assert(off[i] + len[i] <= off[j] ||
                          off[j] + len[j] <= off[i]);
    for (int i = 0; i < N; i++)
        if (live[i])
            alloc_put(&a, off[i], len[i]);
    ck_assert_uint_eq(a.n_free_blocks, 1);
    ck_assert_uint_eq(a.free_bytes, size);
    alloc_fini(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_alloc");
    TCase *tc = tcase_create("alloc");
    tcase_add_test(tc, aligned_and_disjoint);
    tcase_add_test(tc, zero_length_takes_nothing);
    tcase_add_test(tc, exhaustion);
    tcase_add_test(tc, fragmentation_then_coalescing);
    tcase_add_test(tc, coalesce_prev_next_both);
    tcase_add_test(tc, random_churn_keeps_accounting);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
