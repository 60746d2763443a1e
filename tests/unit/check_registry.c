/* check_registry.c - registration table: validation, overlap refusal,
 * containment lookup, exact-start removal, concurrent use. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "kvplug/status.h"
#include "registry.h"

static char arena[1 << 16];

START_TEST(invalid_args)
{
    struct registry r;
    ck_assert_int_eq(registry_init(&r), KVP_OK);
    ck_assert_int_eq(registry_add(&r, NULL, 10, NULL), KVP_ERR_INVALID);
    ck_assert_int_eq(registry_add(&r, arena, 0, NULL), KVP_ERR_INVALID);
    ck_assert_int_eq(registry_add(&r, (void *)(UINTPTR_MAX - 4), 10, NULL),
                     KVP_ERR_INVALID);
    ck_assert_uint_eq(r.n, 0);
    registry_fini(&r);
}
END_TEST

START_TEST(overlap_refused)
{
    struct registry r;
    registry_init(&r);
    int h1, h2;
    ck_assert_int_eq(registry_add(&r, arena + 100, 100, &h1), KVP_OK);
    /* tail, head, inside, around, same start */
    ck_assert_int_eq(registry_add(&r, arena + 150, 100, NULL), KVP_ERR_EXISTS);
    ck_assert_int_eq(registry_add(&r, arena + 50, 51, NULL), KVP_ERR_EXISTS);
    ck_assert_int_eq(registry_add(&r, arena + 120, 10, NULL), KVP_ERR_EXISTS);
    ck_assert_int_eq(registry_add(&r, arena + 10, 1000, NULL), KVP_ERR_EXISTS);
    ck_assert_int_eq(registry_add(&r, arena + 100, 1, NULL), KVP_ERR_EXISTS);
    /* adjacent on both sides is fine */
    ck_assert_int_eq(registry_add(&r, arena + 200, 100, &h2), KVP_OK);
    ck_assert_int_eq(registry_add(&r, arena + 50, 50, NULL), KVP_OK);
    ck_assert_uint_eq(r.n, 3);
    registry_fini(&r);
}
END_TEST

START_TEST(find_needs_one_registration)
{
    struct registry r;
    registry_init(&r);
    int h1, h2;
    void *h = NULL;
    registry_add(&r, arena + 100, 100, &h1);
    registry_add(&r, arena + 200, 100, &h2);
    ck_assert_int_eq(registry_find(&r, arena + 100, 100, &h), KVP_OK);
    ck_assert_ptr_eq(h, &h1);
    ck_assert_int_eq(registry_find(&r, arena + 250, 50, &h), KVP_OK);
    ck_assert_ptr_eq(h, &h2);
    ck_assert_int_eq(registry_find(&r, arena + 199, 1, &h), KVP_OK);
    ck_assert_ptr_eq(h, &h1);
    /* straddles two adjacent registrations: not inside ONE */
    ck_assert_int_eq(registry_find(&r, arena + 150, 100, &h),
                     KVP_ERR_NOT_REGISTERED);
    ck_assert_int_eq(registry_find(&r, arena + 250, 51, &h),
                     KVP_ERR_NOT_REGISTERED);
    ck_assert_int_eq(registry_find(&r, arena + 99, 2, &h),
                     KVP_ERR_NOT_REGISTERED);
    ck_assert_int_eq(registry_find(&r, arena + 300, 1, &h),
                     KVP_ERR_NOT_REGISTERED);
    ck_assert_int_eq(registry_find(&r, arena + 150, UINT64_MAX, &h),
                     KVP_ERR_NOT_REGISTERED);
    registry_fini(&r);
}
END_TEST

START_TEST(remove_exact_start)
{
    struct registry r;
    registry_init(&r);
    int h1;
    void *h = NULL;
    registry_add(&r, arena + 100, 100, &h1);
    ck_assert_int_eq(registry_remove(&r, arena + 101, 0, &h),
                     KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(registry_remove(&r, arena, 0, &h), KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(registry_remove(&r, arena + 100, 0, &h), KVP_OK);
    ck_assert_ptr_eq(h, &h1);
    ck_assert_int_eq(registry_remove(&r, arena + 100, 0, &h),
                     KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(registry_find(&r, arena + 100, 1, &h),
                     KVP_ERR_NOT_REGISTERED);
    ck_assert_int_eq(registry_add(&r, arena + 100, 100, &h1), KVP_OK);
    ck_assert_int_eq(registry_pop(&r, &h), 1);
    ck_assert_int_eq(registry_pop(&r, &h), 0);
    registry_fini(&r);
}
END_TEST

/* Many ranges in random order stay sorted and findable. */
START_TEST(many_ranges)
{
    struct registry r;
    registry_init(&r);
    enum { N = 512 };
    unsigned seed = 7;
    int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(rand_r(&seed) % (unsigned)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(
            registry_add(&r, arena + order[i] * 64, 64, arena + order[i]),
            KVP_OK);
    for (uint32_t i = 1; i < r.n; i++)
        ck_assert(r.entries[i - 1]->start < r.entries[i]->start);
    for (int i = 0; i < N; i++) {
        void *h = NULL;
        ck_assert_int_eq(registry_find(&r, arena + i * 64 + 3, 61, &h), KVP_OK);
        ck_assert_ptr_eq(h, arena + i);
    }
    registry_fini(&r);
}
END_TEST

static struct registry shared;

static void *adder(void *arg)
{
    long t = (long)arg;
    for (int i = 0; i < 200; i++) {
        char *p = arena + (t * 200 + i) * 32;
        if (registry_add(&shared, p, 32, p) != KVP_OK)
            return (void *)1;
        void *h = NULL;
        if (registry_find(&shared, p, 32, &h) != KVP_OK || h != p)
            return (void *)1;
        if (i % 2 == 0 && registry_remove(&shared, p, 0, &h) != KVP_OK)
            return (void *)1;
    }
    return NULL;
}

START_TEST(concurrent)
{
    registry_init(&shared);
    pthread_t th[4];
    for (long t = 0; t < 4; t++)
        pthread_create(&th[t], NULL, adder, (void *)t);
    for (int t = 0; t < 4; t++) {
        void *rv;
        pthread_join(th[t], &rv);
        ck_assert_ptr_null(rv);
    }
    ck_assert_uint_eq(shared.n, 400);
    registry_fini(&shared);
}
END_TEST

struct holder {
    struct registry *r;
    struct reg_entry *ref;
    atomic_int released;
};

static void *release_later(void *arg)
{
    struct holder *h = arg;
    usleep(200 * 1000); /* the remover must be waiting by now or soon */
    atomic_store(&h->released, 1);
    registry_release(h->r, h->ref);
    return NULL;
}

/* A referenced entry: remove waits for the release, lookups fail while it
 * waits; with too short a timeout: KVP_ERR_TIMEOUT and the entry stays. */
START_TEST(remove_waits_for_references)
{
    struct registry r;
    registry_init(&r);
    int h1;
    void *h = NULL;
    struct reg_entry *ref = NULL;
    registry_add(&r, arena + 100, 100, &h1);
    ck_assert_int_eq(registry_acquire(&r, arena + 120, 10, &h, &ref), KVP_OK);
    ck_assert_ptr_eq(h, &h1);
    ck_assert_int_eq(registry_remove(&r, arena + 100, 50, &h), KVP_ERR_TIMEOUT);
    ck_assert_int_eq(registry_find(&r, arena + 100, 1, &h), KVP_OK);
    struct reg_entry *ref2 = NULL;
    ck_assert_int_eq(registry_acquire(&r, arena + 100, 1, &h, &ref2), KVP_OK);
    registry_release(&r, ref2);
    struct holder ho = {.r = &r, .ref = ref};
    pthread_t t;
    pthread_create(&t, NULL, release_later, &ho);
    ck_assert_int_eq(registry_remove(&r, arena + 100, 20000, &h), KVP_OK);
    ck_assert_int_eq(atomic_load(&ho.released), 1);
    ck_assert_ptr_eq(h, &h1);
    pthread_join(t, NULL);
    ck_assert_int_eq(registry_acquire(&r, arena + 100, 1, &h, &ref),
                     KVP_ERR_NOT_REGISTERED);
    ck_assert_ptr_null(ref);
    registry_fini(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("registry");
    const TTest *tests[] = {invalid_args,
                            overlap_refused,
                            find_needs_one_registration,
                            remove_exact_start,
                            many_ranges,
                            concurrent,
                            remove_waits_for_references};
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        TCase *tc = tcase_create(tests[i]->name);
        tcase_add_test(tc, tests[i]);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
