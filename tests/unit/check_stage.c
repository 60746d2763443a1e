/* check_stage.c - the staged device-memory pipeline (plugin/stage.c),
 * driven by a STAND-IN copy engine: host memcpy in place of CUDA copies
 * (no GPU on the machines that run this), and a stand-in transport that
 * moves bytes between the bounce slots and a host "remote" array.
 *
 * Both stand-ins can run eagerly (the bytes move when the op starts) or
 * deferred (when it is waited/flushed): a pipeline that reused a bounce
 * slot too early gets wrong bytes in one of the two schedules. They also
 * assert the double-buffer invariants directly: no copy into a slot whose
 * transfer is in flight, no transfer into a slot whose copy is pending.
 * The real CUDA copy engine is tested by the `cuda`-labelled tests. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kvplug/status.h"
#include "stage.h"

#define MAX_OPS 64

struct op {
    int to_host;
    unsigned char *host;
    uintptr_t dev;
    uint64_t dpitch, width, height;
    unsigned char *dst, *src; /* sink op: plain bytes */
    uint64_t len;
};

/* stand-in state for one run */
static struct {
    int eager_copy, eager_sink;
    struct op copies[2][MAX_OPS];
    int n_copies[2];
    struct op posted[MAX_OPS];
    int n_posted;
    unsigned char *slot[2];
    int sink_busy[2]; /* slot used by a posted, unflushed transfer */
    int get;          /* the run is a get */
    int fail_post_at; /* post number that fails, -1 none */
    int fail_flush_at;
    int posts, flushes;
    char order[4096]; /* "C<slot>" copy start, "P<slot>" post, "F" flush */
} sd;

static int slot_of(const unsigned char *p)
{
    for (int s = 0; s < 2; s++)
        if (p >= sd.slot[s] && p < sd.slot[s] + 4096)
            return s;
    return -1;
}

static void run_copy(const struct op *o)
{
    for (uint64_t r = 0; r < o->height; r++) {
        unsigned char *d = (unsigned char *)(o->dev + r * o->dpitch);
        if (o->to_host)
            memcpy(o->host + r * o->width, d, o->width);
        else
            memcpy(d, o->host + r * o->width, o->width);
    }
}

static int32_t sd_copy(void *ctx, uint32_t slot, int to_host, void *host,
                       uintptr_t dev, uint64_t dpitch, uint64_t width,
                       uint64_t height)
{
    (void)ctx;
    ck_assert_int_eq(slot_of(host), (int)slot);
    /* put: a copy into a slot whose write is in flight corrupts it */
    ck_assert_msg(!sd.sink_busy[slot],
                  "copy into slot %u while its transfer is in flight", slot);
    struct op o = {to_host, host, dev, dpitch, width, height, 0, 0, 0};
    strcat(sd.order, slot ? "C1" : "C0");
    if (sd.eager_copy) {
        run_copy(&o);
        return KVP_OK;
    }
    ck_assert_int_lt(sd.n_copies[slot], MAX_OPS);
    sd.copies[slot][sd.n_copies[slot]++] = o;
    return KVP_OK;
}

static int32_t sd_wait(void *ctx, uint32_t slot)
{
    (void)ctx;
    for (int i = 0; i < sd.n_copies[slot]; i++)
        run_copy(&sd.copies[slot][i]);
    sd.n_copies[slot] = 0;
    return KVP_OK;
}

/* user = the remote object (host bytes) */
static int32_t sd_post(void *ctx, void *user, void *bounce, uint64_t len,
                       uint64_t off)
{
    (void)ctx;
    int s = slot_of(bounce);
    ck_assert_int_ge(s, 0);
    ck_assert_msg(sd.n_copies[s] == 0,
                  "transfer on slot %d while a copy on it is pending", s);
    ck_assert_uint_le(len, 4096);
    if (sd.posts++ == sd.fail_post_at)
        return KVP_ERR_DISCONNECTED;
    unsigned char *remote = (unsigned char *)user + off;
    struct op o = {0};
    o.dst = sd.get ? (unsigned char *)bounce : remote;
    o.src = sd.get ? remote : (unsigned char *)bounce;
    o.len = len;
    strcat(sd.order, s ? "P1" : "P0");
    sd.sink_busy[s] = 1;
    if (sd.eager_sink)
        memcpy(o.dst, o.src, len);
    else
        sd.posted[sd.n_posted++] = o;
    return KVP_OK;
}

static int32_t sd_flush(void *ctx)
{
    (void)ctx;
    strcat(sd.order, "F");
    if (sd.flushes++ == sd.fail_flush_at)
        return KVP_ERR_TIMEOUT;
    for (int i = 0; i < sd.n_posted; i++)
        memcpy(sd.posted[i].dst, sd.posted[i].src, sd.posted[i].len);
    sd.n_posted = 0;
    sd.sink_busy[0] = sd.sink_busy[1] = 0;
    return KVP_OK;
}

static const struct stage_copier copier = {NULL, sd_copy, sd_wait};
static const struct stage_sink sink = {NULL, sd_post, sd_flush};
static unsigned char slots[2][4096];

static struct stage_bounce reset(int eager_copy, int eager_sink, int get,
                                 uint64_t chunk)
{
    memset(&sd, 0, sizeof(sd));
    sd.eager_copy = eager_copy;
    sd.eager_sink = eager_sink;
    sd.get = get;
    sd.fail_post_at = sd.fail_flush_at = -1;
    sd.slot[0] = slots[0];
    sd.slot[1] = slots[1];
    memset(slots, 0xAB, sizeof(slots));
    return (struct stage_bounce){{slots[0], slots[1]}, chunk};
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131u + seed * 7u + (i >> 8)) & 0xFF);
}

/* The object bytes of a region, gathered by a naive walk. */
static void gather(const struct stage_region *r, unsigned char *out)
{
    for (uint64_t i = 0; i < r->height; i++)
        memcpy(out + i * r->width, (unsigned char *)r->base + i * r->pitch,
               r->width);
}

/* A TP-like region: 37 rows of 48 bytes at a 192-byte pitch (rank 1 of
 * 4), chunks of 100 bytes (rows split across chunks). */
#define ROWS  37
#define WIDTH 48
#define PITCH 192

static void put_cases(int eager_copy, int eager_sink)
{
    static unsigned char dev[ROWS * PITCH], plain[10000];
    static unsigned char remote[3][10000], want[ROWS * WIDTH];
    fill(dev, sizeof(dev), 1);
    fill(plain, sizeof(plain), 2);
    memset(remote, 0, sizeof(remote));
    struct stage_bounce b = reset(eager_copy, eager_sink, 0, 100);
    struct stage_xfer x[4] = {
        {{(uintptr_t)plain, 10000, 10000, 1}, remote[0], KVP_OK},
        {{(uintptr_t)plain, 0, 0, 0}, NULL, KVP_OK}, /* empty: no chunk */
        {{(uintptr_t)(dev + WIDTH), WIDTH, PITCH, ROWS}, remote[1], KVP_OK},
        {{(uintptr_t)plain, 1, 1, 1}, remote[2], KVP_OK},
    };
    struct stage_stats st = {0};
    stage_put(&copier, &sink, &b, x, 4, &st);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(x[i].status, KVP_OK);
    ck_assert(memcmp(remote[0], plain, 10000) == 0);
    gather(&x[2].dev, want);
    ck_assert(memcmp(remote[1], want, ROWS * WIDTH) == 0);
    ck_assert_int_eq(remote[2][0], plain[0]);
    uint64_t chunks = 100 + (ROWS * WIDTH + 99) / 100 + 1;
    ck_assert_uint_eq(st.chunks, chunks);
    /* one pipeline across the transfers: every chunk after the first had
     * its copy started while the one before was on the wire */
    ck_assert_uint_eq(st.overlapped, chunks - 1);
    ck_assert_uint_eq(sd.n_copies[0] + sd.n_copies[1], 0);
    ck_assert_int_eq(sd.n_posted, 0); /* flushed on return */
}

START_TEST(test_put_eager_copy_deferred_sink)
{
    put_cases(1, 0);
}
END_TEST

START_TEST(test_put_deferred_copy_eager_sink)
{
    put_cases(0, 1);
}
END_TEST

START_TEST(test_put_order_double_buffered)
{
    static unsigned char src[400], remote[400];
    fill(src, sizeof(src), 3);
    struct stage_bounce b = reset(0, 0, 0, 100);
    struct stage_xfer x = {{(uintptr_t)src, 400, 400, 1}, remote, KVP_OK};
    stage_put(&copier, &sink, &b, &x, 1, NULL);
    ck_assert_int_eq(x.status, KVP_OK);
    ck_assert(memcmp(src, remote, 400) == 0);
    /* copy 0; post 0, copy 1; flush, post 1, copy 0; ... */
    ck_assert_str_eq(sd.order, "C0P0C1FP1C0FP0C1FP1F");
}
END_TEST

static void get_cases(int eager_copy, int eager_sink)
{
    static unsigned char dev[ROWS * PITCH], remote[2][10000];
    static unsigned char plain[10000], want[ROWS * WIDTH];
    fill(remote[0], 10000, 4);
    fill(remote[1], 10000, 5);
    memset(dev, 0xEE, sizeof(dev));
    memset(plain, 0, sizeof(plain));
    struct stage_bounce b = reset(eager_copy, eager_sink, 1, 100);
    struct stage_xfer x[2] = {
        {{(uintptr_t)plain, 10000, 10000, 1}, remote[0], KVP_OK},
        {{(uintptr_t)(dev + 2 * WIDTH), WIDTH, PITCH, ROWS}, remote[1], KVP_OK},
    };
    struct stage_stats st = {0};
    stage_get(&copier, &sink, &b, x, 2, &st);
    ck_assert_int_eq(x[0].status, KVP_OK);
    ck_assert_int_eq(x[1].status, KVP_OK);
    ck_assert(memcmp(plain, remote[0], 10000) == 0);
    gather(&x[1].dev, want);
    ck_assert(memcmp(want, remote[1], ROWS * WIDTH) == 0);
    /* bytes between the rows are untouched */
    for (uint64_t i = 0; i < sizeof(dev); i++) {
        uint64_t col = i % PITCH;
        if (col < 2 * WIDTH || col >= 3 * WIDTH)
            ck_assert_int_eq(dev[i], 0xEE);
    }
    uint64_t chunks = 100 + (ROWS * WIDTH + 99) / 100;
    ck_assert_uint_eq(st.chunks, chunks);
    ck_assert_uint_eq(st.overlapped, chunks - 1);
    ck_assert_uint_eq(sd.n_copies[0] + sd.n_copies[1], 0); /* all waited */
}

START_TEST(test_get_eager_copy_deferred_sink)
{
    get_cases(1, 0);
}
END_TEST

START_TEST(test_get_deferred_copy_eager_sink)
{
    get_cases(0, 1);
}
END_TEST

START_TEST(test_put_post_failure_fails_only_its_transfer)
{
    static unsigned char src[3][250], remote[3][250];
    for (int i = 0; i < 3; i++)
        fill(src[i], 250, 10 + (unsigned)i);
    memset(remote, 0, sizeof(remote));
    struct stage_bounce b = reset(0, 0, 0, 100);
    sd.fail_post_at = 4; /* the 2nd chunk of transfer 1 */
    struct stage_xfer x[3];
    for (int i = 0; i < 3; i++)
        x[i] = (struct stage_xfer){
            {(uintptr_t)src[i], 250, 250, 1}, remote[i], KVP_OK};
    stage_put(&copier, &sink, &b, x, 3, NULL);
    ck_assert_int_eq(x[0].status, KVP_OK);
    ck_assert_int_eq(x[1].status, KVP_ERR_DISCONNECTED);
    ck_assert_int_eq(x[2].status, KVP_OK);
    ck_assert(memcmp(src[0], remote[0], 250) == 0);
    ck_assert(memcmp(src[2], remote[2], 250) == 0);
    ck_assert_int_eq(sd.posts, 3 + 2 + 3); /* transfer 1 stopped there */
}
END_TEST

START_TEST(test_put_flush_failure_fails_the_rest)
{
    static unsigned char src[3][200], remote[3][200];
    struct stage_bounce b = reset(0, 0, 0, 100);
    sd.fail_flush_at = 2; /* flush of chunk 2: transfer 1's first */
    struct stage_xfer x[3];
    for (int i = 0; i < 3; i++)
        x[i] = (struct stage_xfer){
            {(uintptr_t)src[i], 200, 200, 1}, remote[i], KVP_OK};
    stage_put(&copier, &sink, &b, x, 3, NULL);
    ck_assert_int_eq(x[0].status, KVP_OK);
    ck_assert_int_eq(x[1].status, KVP_ERR_TIMEOUT);
    ck_assert_int_eq(x[2].status, KVP_ERR_TIMEOUT);
}
END_TEST

START_TEST(test_get_flush_failure_waits_copies)
{
    static unsigned char dst[2][300], remote[2][300];
    struct stage_bounce b = reset(0, 0, 1, 100);
    sd.fail_flush_at = 4;
    struct stage_xfer x[2];
    for (int i = 0; i < 2; i++)
        x[i] = (struct stage_xfer){
            {(uintptr_t)dst[i], 300, 300, 1}, remote[i], KVP_OK};
    stage_get(&copier, &sink, &b, x, 2, NULL);
    ck_assert_int_eq(x[0].status, KVP_OK);
    ck_assert_int_eq(x[1].status, KVP_ERR_TIMEOUT);
    ck_assert_uint_eq(sd.n_copies[0] + sd.n_copies[1], 0);
}
END_TEST

START_TEST(test_nothing_to_move)
{
    struct stage_bounce b = reset(0, 0, 0, 100);
    struct stage_xfer x = {{0, 0, 0, 0}, NULL, KVP_OK};
    stage_put(&copier, &sink, &b, &x, 1, NULL);
    stage_get(&copier, &sink, &b, &x, 1, NULL);
    stage_put(&copier, &sink, &b, NULL, 0, NULL);
    ck_assert_int_eq(x.status, KVP_OK);
    ck_assert_str_eq(sd.order, "");
}
END_TEST

int main(void)
{
    Suite *su = suite_create("stage (stand-in copy engine)");
    TCase *tc = tcase_create("pipeline");
    tcase_add_test(tc, test_put_eager_copy_deferred_sink);
    tcase_add_test(tc, test_put_deferred_copy_eager_sink);
    tcase_add_test(tc, test_put_order_double_buffered);
    tcase_add_test(tc, test_get_eager_copy_deferred_sink);
    tcase_add_test(tc, test_get_deferred_copy_eager_sink);
    tcase_add_test(tc, test_put_post_failure_fails_only_its_transfer);
    tcase_add_test(tc, test_put_flush_failure_fails_the_rest);
    tcase_add_test(tc, test_get_flush_failure_waits_copies);
    tcase_add_test(tc, test_nothing_to_move);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
