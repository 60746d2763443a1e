/*
 * check_verbs_plan.c - the verbs WR planner (transports/verbs/verbs_plan.c):
 * how a write()'s gather list becomes RDMA WRITE work requests within
 * max_sge and the per-WR message limit. Pure arithmetic, so it is tested
 * here exhaustively on the host; the VM lane runs the same code on rxe.
 * The planner is compiled into this test from its source (it lives inside
 * the transport module, which exports nothing else).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../transports/verbs/verbs_plan.c"

#define MAX_PIECES 64

struct wr_out {
    uint32_t n;
    uint64_t roff, len;
    struct verbs_piece p[MAX_PIECES];
};

/* Plans everything; returns the WR count (at most cap). */
static uint32_t plan_all(const struct kvp_xport_iov *iov, uint32_t n_iov,
                         uint32_t max_sge, uint32_t max_msg, struct wr_out *out,
                         uint32_t cap)
{
    struct verbs_plan plan;
    verbs_plan_init(&plan, iov, n_iov, max_sge, max_msg);
    uint32_t k = 0;
    while (k < cap) {
        out[k].n = verbs_plan_next(&plan, out[k].p, &out[k].roff, &out[k].len);
        if (out[k].n == 0)
            break;
        k++;
    }
    ck_assert(verbs_plan_done(&plan));
    return k;
}

static char buf[1 << 16];

START_TEST(test_empty)
{
    struct wr_out w[2];
    ck_assert_uint_eq(plan_all(NULL, 0, 4, 100, w, 2), 0);
    struct kvp_xport_iov z[3] = {{buf, 0}, {buf + 5, 0}, {buf + 9, 0}};
    ck_assert_uint_eq(plan_all(z, 3, 4, 100, w, 2), 0);
}
END_TEST

START_TEST(test_single_contiguous)
{
    struct kvp_xport_iov v = {buf + 3, 1000};
    struct wr_out w[2];
    ck_assert_uint_eq(plan_all(&v, 1, 4, 4096, w, 2), 1);
    ck_assert_uint_eq(w[0].n, 1);
    ck_assert_uint_eq(w[0].p[0].addr, (uintptr_t)(buf + 3));
    ck_assert_uint_eq(w[0].p[0].len, 1000);
    ck_assert_uint_eq(w[0].roff, 0);
    ck_assert_uint_eq(w[0].len, 1000);
}
END_TEST

START_TEST(test_adjacent_merged)
{
    /* Three back-to-back ranges are one SGE, not three. */
    struct kvp_xport_iov v[3] = {{buf, 100}, {buf + 100, 50}, {buf + 150, 7}};
    struct wr_out w[2];
    ck_assert_uint_eq(plan_all(v, 3, 4, 4096, w, 2), 1);
    ck_assert_uint_eq(w[0].n, 1);
    ck_assert_uint_eq(w[0].p[0].len, 157);
}
END_TEST

START_TEST(test_strided_past_max_sge)
{
    /* 100 chunks of 64 B every 128 B: 32 SGEs per WR -> 32,32,32,4. */
    struct kvp_xport_iov v[100];
    for (int i = 0; i < 100; i++) {
        v[i].ptr = buf + 128 * i;
        v[i].len = 64;
    }
    struct wr_out w[8];
    ck_assert_uint_eq(plan_all(v, 100, 32, 1u << 31, w, 8), 4);
    uint32_t want[4] = {32, 32, 32, 4};
    for (int k = 0; k < 4; k++) {
        ck_assert_uint_eq(w[k].n, want[k]);
        ck_assert_uint_eq(w[k].roff, (uint64_t)k * 32 * 64);
        ck_assert_uint_eq(w[k].len, (uint64_t)want[k] * 64);
        ck_assert_uint_eq(w[k].p[0].addr, (uintptr_t)(buf + 128 * 32 * k));
    }
}
END_TEST

START_TEST(test_split_by_max_msg)
{
    struct kvp_xport_iov v = {buf, 10000};
    struct wr_out w[4];
    ck_assert_uint_eq(plan_all(&v, 1, 4, 4096, w, 4), 3);
    ck_assert_uint_eq(w[0].len, 4096);
    ck_assert_uint_eq(w[1].len, 4096);
    ck_assert_uint_eq(w[2].len, 1808);
    ck_assert_uint_eq(w[1].roff, 4096);
    ck_assert_uint_eq(w[2].p[0].addr, (uintptr_t)(buf + 8192));
}
END_TEST

START_TEST(test_trailing_empty_is_done)
{
    /* The last WR must be recognisable as last (it gets signalled). */
    struct kvp_xport_iov v[3] = {{buf, 10}, {buf + 20, 0}, {buf + 30, 0}};
    struct verbs_plan plan;
    struct verbs_piece p[4];
    uint64_t roff, len;
    verbs_plan_init(&plan, v, 3, 4, 100);
    ck_assert(!verbs_plan_done(&plan));
    ck_assert_uint_eq(verbs_plan_next(&plan, p, &roff, &len), 1);
    ck_assert(verbs_plan_done(&plan));
}
END_TEST

START_TEST(test_limits_clamped)
{
    /* max_sge 0 / max_msg 0 would loop forever: clamped to 1. */
    struct kvp_xport_iov v[2] = {{buf, 3}, {buf + 10, 2}};
    struct wr_out w[8];
    ck_assert_uint_eq(plan_all(v, 2, 0, 0, w, 8), 5);
    for (int k = 0; k < 5; k++)
        ck_assert_uint_eq(w[k].len, 1);
}
END_TEST

START_TEST(test_iov_total_overflow)
{
    struct kvp_xport_iov v[2] = {{buf, UINT64_MAX}, {buf, 1}};
    uint64_t t = 7;
    ck_assert_int_eq(verbs_iov_total(v, 2, &t), -1);
    ck_assert_uint_eq(t, 7);
    v[0].len = 5;
    ck_assert_int_eq(verbs_iov_total(v, 2, &t), 0);
    ck_assert_uint_eq(t, 6);
}
END_TEST

/* Random lists (gaps, adjacency, empties) against every limit pair: the
 * WRs must replay the exact byte sequence, respect both limits, be
 * remote-contiguous, and pack greedily (a WR ends only when full). */
START_TEST(test_random_property)
{
    unsigned seed = 12345;
    struct kvp_xport_iov v[40];
    static struct wr_out w[4096];
    for (int round = 0; round < 300; round++) {
        uint32_t n = (uint32_t)(rand_r(&seed) % 40);
        size_t pos = (size_t)(rand_r(&seed) % 16);
        for (uint32_t i = 0; i < n; i++) {
            int kind = rand_r(&seed) % 4;
            v[i].len = kind == 0 ? 0 : (uint64_t)(rand_r(&seed) % 90 + 1);
            if (kind != 1)
                pos += (size_t)(rand_r(&seed) % 20 + 1); /* a gap */
            v[i].ptr = buf + pos;
            pos += v[i].len;
        }
        uint32_t max_sge = (uint32_t)(rand_r(&seed) % 5 + 1);
        uint32_t max_msg = (uint32_t)(rand_r(&seed) % 120 + 1);
        uint32_t k = plan_all(v, n, max_sge, max_msg, w, 4096);

        uint32_t vi = 0;
        uint64_t voff = 0, roff = 0;
        for (uint32_t j = 0; j < k; j++) {
            ck_assert_uint_ge(w[j].n, 1);
            ck_assert_uint_le(w[j].n, max_sge);
            ck_assert_uint_le(w[j].len, max_msg);
            ck_assert_uint_eq(w[j].roff, roff);
            uint64_t sum = 0;
            for (uint32_t q = 0; q < w[j].n; q++) {
                ck_assert_uint_gt(w[j].p[q].len, 0);
                sum += w[j].p[q].len;
                /* Walk the same bytes in the iov list. */
                uint64_t left = w[j].p[q].len;
                uint64_t addr = w[j].p[q].addr;
                while (left > 0) {
                    while (vi < n && voff == v[vi].len) {
                        vi++;
                        voff = 0;
                    }
                    ck_assert_uint_lt(vi, n);
                    ck_assert_uint_eq(addr, (uintptr_t)v[vi].ptr + voff);
                    uint64_t t = v[vi].len - voff;
                    if (t > left)
                        t = left;
                    voff += t;
                    addr += t;
                    left -= t;
                }
            }
            ck_assert_uint_eq(sum, w[j].len);
            roff += w[j].len;
            if (j + 1 < k) /* greedy: full by bytes or by SGEs */
                ck_assert(w[j].len == max_msg || w[j].n == max_sge);
        }
        uint64_t total = 0;
        ck_assert_int_eq(verbs_iov_total(v, n, &total), 0);
        ck_assert_uint_eq(roff, total);
    }
}
END_TEST

static Suite *verbs_plan_suite(void)
{
    Suite *s = suite_create("verbs_plan");
    TCase *tc = tcase_create("shapes");
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_single_contiguous);
    tcase_add_test(tc, test_adjacent_merged);
    tcase_add_test(tc, test_strided_past_max_sge);
    tcase_add_test(tc, test_split_by_max_msg);
    tcase_add_test(tc, test_trailing_empty_is_done);
    tcase_add_test(tc, test_limits_clamped);
    tcase_add_test(tc, test_iov_total_overflow);
    suite_add_tcase(s, tc);
    tc = tcase_create("property");
    tcase_add_test(tc, test_random_property);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(verbs_plan_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
