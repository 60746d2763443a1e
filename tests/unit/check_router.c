/* check_router.c - rendezvous hashing: deterministic, balanced, and
 * minimal movement when a server leaves. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "router.h"

START_TEST(deterministic_and_balanced)
{
    uint64_t seeds[4];
    for (int i = 0; i < 4; i++)
        seeds[i] = router_server_seed("10.0.0.1", (uint16_t)(7000 + i));
    int count[4] = {0};
    char key[32];
    for (int k = 0; k < 8000; k++) {
        snprintf(key, sizeof(key), "layer%d_blk%d", k % 61, k);
        uint32_t a = router_pick(seeds, 4, key);
        ck_assert_uint_eq(a, router_pick(seeds, 4, key));
        ck_assert_uint_lt(a, 4);
        count[a]++;
    }
    for (int i = 0; i < 4; i++) /* 2000 expected; allow wide margin */
        ck_assert_msg(count[i] > 1600 && count[i] < 2400, "server %d: %d", i,
                      count[i]);
    ck_assert_uint_eq(router_pick(seeds, 1, "anything"), 0);
}
END_TEST

START_TEST(minimal_movement)
{
    uint64_t seeds[4];
    for (int i = 0; i < 4; i++)
        seeds[i] = router_server_seed("h", (uint16_t)(1 + i));
    /* drop server 3: only keys that were on it move */
    char key[32];
    int moved_wrongly = 0, moved = 0;
    for (int k = 0; k < 4000; k++) {
        snprintf(key, sizeof(key), "k%d", k);
        uint32_t before = router_pick(seeds, 4, key);
        uint32_t after = router_pick(seeds, 3, key);
        if (before != 3 && before != after)
            moved_wrongly++;
        if (before == 3)
            moved++;
    }
    ck_assert_int_eq(moved_wrongly, 0);
    ck_assert_int_gt(moved, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("rendezvous");
    tcase_add_test(tc, deterministic_and_balanced);
    tcase_add_test(tc, minimal_movement);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
