/* check_le.c - common/le.h byte order (least significant byte first, at
 * any alignment) and common/clock.h (monotonic, ms agrees with ns). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "le.h"

START_TEST(byte_order_and_widths)
{
    uint8_t b[12];
    memset(b, 0xEE, sizeof(b));
    kvp_le_put64(b + 1, UINT64_C(0x0807060504030201)); /* unaligned */
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(b[1 + i], (unsigned)(i + 1));
    ck_assert_uint_eq(b[0], 0xEE);
    ck_assert_uint_eq(b[9], 0xEE);
    ck_assert(kvp_le_get64(b + 1) == UINT64_C(0x0807060504030201));
    ck_assert_uint_eq(kvp_le_get32(b + 1), 0x04030201u);
    ck_assert_uint_eq(kvp_le_get16(b + 1), 0x0201u);
    kvp_le_put32(b, 0xA1B2C3D4u);
    ck_assert_uint_eq(b[0], 0xD4);
    ck_assert_uint_eq(b[3], 0xA1);
    ck_assert_uint_eq(b[4], 0x04); /* untouched */
    kvp_le_put16(b, 0xBEEF);
    ck_assert_uint_eq(b[0], 0xEF);
    ck_assert_uint_eq(b[1], 0xBE);
    /* n-byte forms: 3 bytes written, read back, the rest untouched */
    kvp_le_put(b, UINT64_C(0x112233445566), 3);
    ck_assert(kvp_le_get(b, 3) == 0x445566u);
    ck_assert_uint_eq(b[3], 0xA1);
    ck_assert(kvp_le_get(b, 0) == 0);
}
END_TEST

START_TEST(clock_is_monotonic)
{
    uint64_t prev = kvp_now_ns();
    for (int i = 0; i < 100000; i++) {
        uint64_t t = kvp_now_ns();
        ck_assert(t >= prev);
        prev = t;
    }
    uint64_t ms = kvp_now_ms(), ns = kvp_now_ns();
    ck_assert(ms <= ns / 1000000u);
    ck_assert(ns / 1000000u - ms < 1000); /* same clock, not another */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("le_clock");
    TCase *tc = tcase_create("common");
    tcase_add_test(tc, byte_order_and_widths);
    tcase_add_test(tc, clock_is_monotonic);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
