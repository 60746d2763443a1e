/* check_server_index.c - the store's key index: each index draws its own
 * secret bucket seed (RAND_bytes), so keys a client crafted to share one
 * bucket of one server spread over the buckets of another; lookups work
 * whatever the seed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "index.h"

static const uint8_t zero_seed[KVP_HASH_KEY_LEN];

START_TEST(seed_per_index)
{
    struct index a, b;
    ck_assert_int_eq(index_init(&a), 0);
    ck_assert_int_eq(index_init(&b), 0);
    ck_assert(memcmp(a.seed, zero_seed, sizeof(zero_seed)) != 0);
    ck_assert(memcmp(a.seed, b.seed, sizeof(a.seed)) != 0);
    index_fini(&a);
    index_fini(&b);
}
END_TEST

/* A fresh process (a server restart) draws another seed too. */
START_TEST(seed_per_process)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct index c;
        int ok = index_init(&c) == 0 && write(fd[1], c.seed, sizeof(c.seed)) ==
                                            (ssize_t)sizeof(c.seed);
        _exit(ok ? 0 : 1);
    }
    close(fd[1]);
    uint8_t child[KVP_HASH_KEY_LEN];
    ck_assert_int_eq(read(fd[0], child, sizeof(child)), (ssize_t)sizeof(child));
    close(fd[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct index mine;
    ck_assert_int_eq(index_init(&mine), 0);
    ck_assert(memcmp(mine.seed, child, sizeof(child)) != 0);
    index_fini(&mine);
}
END_TEST

/* What an attacker who learned one index's placement could do: 64 keys
 * all in bucket 0 of index a. In index b they must spread (64 keys over
 * 256 buckets: a random hash puts at most a handful in one bucket). */
START_TEST(crafted_collisions_do_not_carry_over)
{
    struct index a, b;
    ck_assert_int_eq(index_init(&a), 0);
    ck_assert_int_eq(index_init(&b), 0);
    ck_assert_uint_eq(a.n_buckets, 256);
    enum { N = 64 };
    static char keys[N][24];
    int found = 0;
    char key[24];
    for (int i = 0; found < N && i < 1000000; i++) {
        int n = snprintf(key, sizeof(key), "attack%d", i);
        struct index_entry *e = index_insert(&a, key, (uint16_t)n);
        ck_assert_ptr_nonnull(e);
        if ((e->hash & 255) == 0)
            memcpy(keys[found++], key, (size_t)n + 1);
        index_remove(&a, e);
    }
    ck_assert_int_eq(found, N);

    int per_bucket[256] = {0}, worst = 0;
    for (int i = 0; i < N; i++) {
        struct index_entry *e =
            index_insert(&b, keys[i], (uint16_t)strlen(keys[i]));
        ck_assert_ptr_nonnull(e);
        int c = ++per_bucket[e->hash & 255];
        if (c > worst)
            worst = c;
    }
    ck_assert_msg(worst <= 8,
                  "%d crafted keys share a bucket of another "
                  "index",
                  worst);
    /* and every key is still found, by its bytes */
    for (int i = 0; i < N; i++) {
        struct index_entry *e =
            index_find(&b, keys[i], (uint16_t)strlen(keys[i]));
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(e->key, keys[i]);
    }
    ck_assert_ptr_null(index_find(&b, "attack-none", 11));
    index_fini(&a);
    index_fini(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_index");
    TCase *tc = tcase_create("seed");
    tcase_add_test(tc, seed_per_index);
    tcase_add_test(tc, seed_per_process);
    tcase_add_test(tc, crafted_collisions_do_not_carry_over);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
