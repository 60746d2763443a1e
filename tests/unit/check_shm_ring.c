/* check_shm_ring.c - the same-host carrier's byte pipes (proto/shm_ring.c):
 * bytes arrive in order through wrap-around and sleeps, frames larger than
 * the ring stream through, a peer that corrupts the positions gets
 * SHM_CORRUPT (never an out-of-bounds access: the segment is an exact-size
 * heap block, so ASan would see one), a wait ends when check() says so,
 * and attach refuses segments that are not what the server described. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shm_ring.h"

#define CAP 4096u

static uint8_t cookie[SHM_COOKIE_LEN] = {1, 2, 3};

static void *new_seg(struct shm_pipe *req, struct shm_pipe *rep)
{
    size_t len = shm_seg_size(CAP);
    void *seg = calloc(1, len);
    ck_assert_ptr_nonnull(seg);
    shm_seg_init(seg, CAP, cookie);
    const char *why = NULL;
    ck_assert_int_eq(shm_seg_attach(seg, len, CAP, cookie, req, rep, &why), 0);
    return seg;
}

static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i * 2654435761u >> 13);
}

enum { TOTAL = 3 << 20 };

struct writer {
    struct shm_pipe p;
    uint32_t spin_ns;
};

static void *write_main(void *arg)
{
    struct writer *w = arg;
    struct shm_wait wt = {w->spin_ns, 10, NULL, NULL};
    uint8_t buf[9000];
    uint64_t done = 0;
    unsigned seed = 7;
    while (done < TOTAL) {
        size_t n = (size_t)(rand_r(&seed) % sizeof(buf)) + 1;
        if (n > TOTAL - done)
            n = TOTAL - done;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(done + i);
        ck_assert_int_eq(shm_pipe_write(&w->p, buf, n, &wt), SHM_OK);
        done += n;
    }
    return NULL;
}

/* _i 0: no spinning (every wait sleeps on the futex); 1: spinning. */
START_TEST(bytes_in_order_through_wrap_and_sleep)
{
    struct shm_pipe req, rep;
    void *seg = new_seg(&req, &rep);
    struct writer w = {req, _i ? 20000 : 0};
    struct shm_pipe reader = req; /* each side keeps its own position */
    pthread_t t;
    pthread_create(&t, NULL, write_main, &w);
    struct shm_wait wt = {w.spin_ns, 10, NULL, NULL};
    uint8_t buf[7001];
    uint64_t done = 0;
    unsigned seed = 11;
    while (done < TOTAL) {
        size_t n = (size_t)(rand_r(&seed) % sizeof(buf)) + 1;
        if (n > TOTAL - done)
            n = TOTAL - done;
        ck_assert_int_eq(shm_pipe_read(&reader, buf, n, &wt), SHM_OK);
        for (size_t i = 0; i < n; i++)
            if (buf[i] != pattern(done + i))
                ck_abort_msg("byte %llu differs",
                             (unsigned long long)(done + i));
        done += n;
    }
    pthread_join(t, NULL);
    free(seg);
}
END_TEST

static int stop_now(void *arg)
{
    return ++*(int *)arg >= 3 ? -42 : 0;
}

START_TEST(check_ends_a_wait)
{
    struct shm_pipe req, rep;
    void *seg = new_seg(&req, &rep);
    int calls = 0;
    struct shm_wait wt = {1000, 1, stop_now, &calls};
    uint8_t b;
    ck_assert_int_eq(shm_pipe_read(&rep, &b, 1, &wt), -42);
    ck_assert_int_eq(calls, 3);
    /* a full pipe: the writer waits for room, and check ends that too */
    uint8_t big[CAP];
    memset(big, 1, sizeof(big));
    calls = 0;
    ck_assert_int_eq(shm_pipe_write(&req, big, sizeof(big), &wt), SHM_OK);
    ck_assert_int_eq(shm_pipe_write(&req, big, 1, &wt), -42);
    free(seg);
}
END_TEST

/* The peer owns the other position: whatever it writes there, the reader
 * either gets bytes inside the ring or SHM_CORRUPT. */
START_TEST(corrupt_positions_are_refused)
{
    static const uint64_t bad_tail[] = {CAP + 1, UINT64_MAX, UINT64_MAX / 2,
                                        (uint64_t)CAP << 20};
    for (size_t i = 0; i < sizeof(bad_tail) / sizeof(bad_tail[0]); i++) {
        struct shm_pipe req, rep;
        uint8_t *seg = new_seg(&req, &rep);
        *(volatile uint64_t *)(seg + SHM_REQ_CTL_OFF + SHM_CTL_TAIL_OFF) =
            bad_tail[i];
        struct shm_wait wt = {0, 1, NULL, NULL};
        uint8_t buf[16];
        ck_assert_int_eq(shm_pipe_read(&req, buf, sizeof(buf), &wt),
                         SHM_CORRUPT);
        struct proto_hdr h;
        struct proto_buf body = {0};
        const char *why = NULL;
        ck_assert_int_eq(
            shm_recv_frame(&req, PROTO_MAX_BODY, &wt, &h, &body, &why),
            SHM_CORRUPT);
        /* the writer's view: a head beyond its tail (a head a little
         * behind it is a valid state and just means less room) */
        *(volatile uint64_t *)(seg + SHM_REP_CTL_OFF + SHM_CTL_HEAD_OFF) =
            bad_tail[i];
        if (0 - bad_tail[i] > CAP)
            ck_assert_int_eq(shm_pipe_write(&rep, buf, sizeof(buf), &wt),
                             SHM_CORRUPT);
        free(seg);
    }
}
END_TEST

START_TEST(bad_frame_header_is_not_read_further)
{
    struct shm_pipe req, rep;
    void *seg = new_seg(&req, &rep);
    struct shm_wait wt = {0, 1, NULL, NULL};
    uint8_t hdr[PROTO_HDR_LEN] = {0xff, 0xff, 0xff, 0x7f, 1, 0, 5, 0};
    ck_assert_int_eq(shm_pipe_write(&req, hdr, sizeof(hdr), &wt), SHM_OK);
    struct shm_pipe reader = req;
    reader.pos = 0; /* the other side's private position */
    struct proto_hdr h;
    struct proto_buf body = {0};
    const char *why = NULL;
    ck_assert_int_eq(
        shm_recv_frame(&reader, PROTO_MAX_BODY, &wt, &h, &body, &why),
        SHM_MALFORMED);
    ck_assert_str_eq(why, "frame length beyond limit");
    ck_assert_ptr_null(body.data); /* nothing allocated for it */
    free(seg);
}
END_TEST

START_TEST(attach_checks_the_segment)
{
    size_t len = shm_seg_size(CAP);
    uint8_t *seg = calloc(1, len);
    shm_seg_init(seg, CAP, cookie);
    struct shm_pipe a, b;
    const char *why = NULL;
    uint8_t other[SHM_COOKIE_LEN] = {9};
    ck_assert_int_eq(shm_seg_attach(seg, len, CAP, other, &a, &b, &why), -1);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(shm_seg_attach(seg, len - 1, CAP, cookie, &a, &b, &why),
                     -1);
    ck_assert_int_eq(shm_seg_attach(seg, len, CAP + 1, cookie, &a, &b, &why),
                     -1);
    seg[0] ^= 1; /* magic */
    ck_assert_int_eq(shm_seg_attach(seg, len, CAP, cookie, &a, &b, &why), -1);
    free(seg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shm_ring");
    TCase *tc = tcase_create("ring");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, bytes_in_order_through_wrap_and_sleep, 0, 2);
    tcase_add_test(tc, check_ends_a_wait);
    tcase_add_test(tc, corrupt_positions_are_refused);
    tcase_add_test(tc, bad_frame_header_is_not_read_further);
    tcase_add_test(tc, attach_checks_the_segment);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
