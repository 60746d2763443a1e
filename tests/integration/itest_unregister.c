/*
 * itest_unregister.c - unregister_buffer while an op on the buffer is in
 * flight (issue 13): it waits for the op (bounded by timeout_ms), or says
 * KVP_ERR_TIMEOUT and leaves the buffer registered. The op is held in
 * flight by a transport that is slow on purpose (slow_xport.c: the real
 * UCX module, each write/read delayed by KVPLUG_SLOW_MS), so the overlap
 * is certain, not a matter of timing luck.
 * Run by ctest with KVPLUG_MODULE_DIR = the slow module's directory.
 */
#include <check.h>
#include <dlfcn.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "itest_util.h"

enum { LEN = 1 << 20 };

static const struct kvp_ops *o;
static atomic_int *in_flight; /* slow_xport.c's kvp_slow_in_flight */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

struct op {
    struct kvp_engine *e;
    unsigned char *buf;
    int get; /* 0: put_from, 1: get_into */
    int64_t result;
    atomic_int done;
};

static void *op_main(void *arg)
{
    struct op *op = arg;
    if (op->get)
        op->result = o->get_into(op->e, "k", op->buf, LEN);
    else
        op->result = o->put_from(op->e, "k", op->buf, LEN, NULL);
    atomic_store(&op->done, 1);
    return NULL;
}

static struct kvp_engine *engine(const char *timeout_ms)
{
    char cfg[128];
    snprintf(cfg, sizeof(cfg), "pool_size=64MiB;timeout_ms=%s", timeout_ms);
    struct kvp_engine *e = NULL;
    ck_assert_int_eq(o->engine_create(cfg, &itest_host, &e), KVP_OK);
    if (in_flight == NULL) {
        void *h = dlopen(getenv("KVPLUG_SLOW_MODULE"), RTLD_NOW | RTLD_NOLOAD);
        ck_assert_msg(h != NULL, "the slow module is not loaded: %s",
                      dlerror());
        in_flight = dlsym(h, "kvp_slow_in_flight");
        ck_assert_ptr_nonnull(in_flight);
    }
    return e;
}

/* Starts op in a thread and returns once it is inside the transport. */
static void start_in_flight(struct op *op, pthread_t *t)
{
    ck_assert_int_eq(pthread_create(t, NULL, op_main, op), 0);
    double t0 = now_ms();
    while (atomic_load(in_flight) == 0) {
        ck_assert_msg(now_ms() - t0 < 30000, "the op never reached the "
                                             "transport");
        ck_assert_msg(!atomic_load(&op->done), "op ended early: %lld",
                      (long long)op->result);
        usleep(1000);
    }
}

/* timeout_ms well above the delay: unregister waits for the put and the
 * get, then succeeds; no byte moved through a torn-down registration. */
START_TEST(unregister_waits_for_ops_in_flight)
{
    struct kvp_engine *e = engine("20000");
    unsigned char *buf = malloc(LEN);
    for (int i = 0; i < LEN; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    for (int get = 0; get <= 1; get++) {
        ck_assert_int_eq(o->register_buffer(e, buf, LEN), KVP_OK);
        struct op op = {.e = e, .buf = buf, .get = get};
        pthread_t t;
        start_in_flight(&op, &t);
        double t0 = now_ms();
        int32_t st = o->unregister_buffer(e, buf);
        int still = atomic_load(in_flight);
        fprintf(stderr, "%s in flight: unregister %s after %.0f ms\n",
                get ? "get" : "put", o->status_str(st), now_ms() - t0);
        ck_assert_int_eq(st, KVP_OK);
        ck_assert_msg(still == 0,
                      "unregister_buffer returned while the %s was still "
                      "inside the transport",
                      get ? "get" : "put");
        pthread_join(t, NULL);
        ck_assert_int_eq(op.result, get ? LEN : KVP_OK);
        ck_assert_int_eq(o->register_buffer(e, buf, LEN), KVP_OK);
        ck_assert_int_eq(o->unregister_buffer(e, buf), KVP_OK);
    }
    ck_assert_int_eq(o->engine_destroy(e), KVP_OK);
    free(buf);
}
END_TEST

/* timeout_ms below the delay: KVP_ERR_TIMEOUT, the buffer stays
 * registered (the op completes, the range cannot be registered twice), and
 * once the op is over unregister succeeds. */
START_TEST(unregister_times_out_and_keeps_the_buffer)
{
    struct kvp_engine *e = engine("300");
    unsigned char *buf = malloc(LEN);
    memset(buf, 5, LEN);
    ck_assert_int_eq(o->register_buffer(e, buf, LEN), KVP_OK);
    struct op op = {.e = e, .buf = buf};
    pthread_t t;
    start_in_flight(&op, &t);
    int32_t st = o->unregister_buffer(e, buf);
    ck_assert_msg(st == KVP_ERR_TIMEOUT, "unregister during use: %s",
                  o->status_str(st));
    ck_assert(itest_log_has("stays registered"));
    pthread_join(t, NULL);
    ck_assert_int_eq(op.result, KVP_OK);
    ck_assert_int_eq(o->register_buffer(e, buf, LEN), KVP_ERR_EXISTS);
    ck_assert_int_eq(o->get_into(e, "k", buf, LEN), LEN);
    ck_assert_int_eq(o->unregister_buffer(e, buf), KVP_OK);
    ck_assert_int_eq(o->engine_destroy(e), KVP_OK);
    free(buf);
}
END_TEST

int main(void)
{
    struct kvp_plugin pl;
    o = itest_load(&pl);
    if (o == NULL)
        return 1;
    Suite *s = suite_create("unregister");
    TCase *tc = tcase_create("in_use");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, unregister_waits_for_ops_in_flight);
    tcase_add_test(tc, unregister_times_out_and_keeps_the_buffer);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
