/* check_router.c - rendezvous hashing: deterministic, balanced, and
 * minimal movement when a server leaves. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Placement must not move between versions: a cluster of mixed versions (or
 * a restart onto a new build) must still find every key where it was put.
 * These values were computed by the rendezvous hash of kvplug 1.0 before
 * the hashes moved to common/; a change here moves every key. */
START_TEST(placement_is_pinned)
{
    static const struct {
        const char *s;
        uint64_t h;
    } hashes[] = {
        {"", UINT64_C(0xc3817c016ba4ff30)},
        {"a", UINT64_C(0x5f29c2aadd9b8527)},
        {"layer0_blk0", UINT64_C(0x2ee62eb9a9e6a5e2)},
        {"model/llama/7b/blk/12345", UINT64_C(0x8486d16779b72b6d)},
        {"k99", UINT64_C(0xf282d07239d3605d)},
    };
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
        ck_assert_msg(router_hash(hashes[i].s, strlen(hashes[i].s)) ==
                          hashes[i].h,
                      "hash of '%s' moved", hashes[i].s);
    static const uint64_t want_seed[4] = {
        UINT64_C(0xc060321bc8526c97), UINT64_C(0x637981e54f1addec),
        UINT64_C(0xa9a8e054f89f701d), UINT64_C(0x44d8dc625797cf2b)};
    uint64_t seeds[4];
    for (int i = 0; i < 4; i++) {
        seeds[i] = router_server_seed("10.0.0.1", (uint16_t)(7000 + i));
        ck_assert_msg(seeds[i] == want_seed[i], "seed of 10.0.0.1:%d moved",
                      7000 + i);
    }
    static const struct {
        const char *key;
        uint32_t server;
    } picks[] = {
        {"a", 0},
        {"layer0_blk0", 1},
        {"layer3_blk77", 2},
        {"model/llama/7b/blk/12345", 3},
        {"k99", 0},
        {"k100", 3},
        {"k101", 3},
        {"k102", 3},
    };
    for (size_t i = 0; i < sizeof(picks) / sizeof(picks[0]); i++)
        ck_assert_msg(router_pick(seeds, 4, picks[i].key) == picks[i].server,
                      "key '%s' moved off server %u", picks[i].key,
                      picks[i].server);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("rendezvous");
    tcase_add_test(tc, deterministic_and_balanced);
    tcase_add_test(tc, minimal_movement);
    tcase_add_test(tc, placement_is_pinned);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
