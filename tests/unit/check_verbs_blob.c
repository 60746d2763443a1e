/*
 * check_verbs_blob.c - the verbs connect/rkey blob codec
 * (transports/verbs/verbs_blob.c): these bytes arrive from the network,
 * so every malformed form must be refused with a reason and never read
 * out of bounds (run under ASan in the sanitizer build). Compiled in from
 * its source: the module exports nothing but its entry point.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../transports/verbs/verbs_blob.c"

static struct verbs_conn_info conn_sample(void)
{
    struct verbs_conn_info c = {.qpn = 0x123456,
                                .psn = 0xABCDEF,
                                .lid = 0x1234,
                                .mtu = 5,
                                .link_layer = VERBS_LINK_ETH,
                                .rd_atom = 16,
                                .flags = 1};
    for (int i = 0; i < 16; i++)
        c.gid[i] = (uint8_t)(0xF0 + i);
    return c;
}

START_TEST(test_conn_roundtrip)
{
    struct verbs_conn_info c = conn_sample(), d;
    uint8_t b[64];
    uint32_t len = 0;
    const char *why = NULL;
    ck_assert_int_eq(verbs_conn_encode(&c, b, sizeof(b), &len), 0);
    ck_assert_uint_eq(len, VERBS_CONN_BLOB_LEN);
    /* Layout pinned: magic "KVPV", qpn little-endian at 8, gid at 24. */
    ck_assert_int_eq(memcmp(b, "KVPV", 4), 0);
    ck_assert_uint_eq(b[8], 0x56);
    ck_assert_uint_eq(b[10], 0x12);
    ck_assert_uint_eq(b[24], 0xF0);
    ck_assert_int_eq(verbs_conn_decode(b, len, &d, &why), 0);
    ck_assert_uint_eq(d.qpn, c.qpn);
    ck_assert_uint_eq(d.psn, c.psn);
    ck_assert_uint_eq(d.lid, c.lid);
    ck_assert_uint_eq(d.mtu, c.mtu);
    ck_assert_uint_eq(d.link_layer, c.link_layer);
    ck_assert_uint_eq(d.rd_atom, c.rd_atom);
    ck_assert_uint_eq(d.flags, c.flags);
    ck_assert_int_eq(memcmp(d.gid, c.gid, 16), 0);
}
END_TEST

START_TEST(test_conn_encode_short_cap)
{
    struct verbs_conn_info c = conn_sample();
    uint8_t b[64];
    uint32_t len = 99;
    ck_assert_int_eq(verbs_conn_encode(&c, b, VERBS_CONN_BLOB_LEN - 1, &len),
                     -1);
    ck_assert_uint_eq(len, 99);
}
END_TEST

START_TEST(test_conn_truncated)
{
    struct verbs_conn_info c = conn_sample(), d;
    uint32_t len;
    uint8_t full[VERBS_CONN_BLOB_LEN];
    ck_assert_int_eq(verbs_conn_encode(&c, full, sizeof(full), &len), 0);
    /* Every prefix, copied to an exact-size heap block so ASan sees any
     * read past it. */
    for (uint32_t n = 0; n < VERBS_CONN_BLOB_LEN; n++) {
        uint8_t *p = malloc(n > 0 ? n : 1);
        memcpy(p, full, n);
        const char *why = NULL;
        ck_assert_int_eq(verbs_conn_decode(p, n, &d, &why), -1);
        ck_assert_ptr_nonnull(why);
        free(p);
    }
    const char *why = NULL;
    ck_assert_int_eq(verbs_conn_decode(NULL, 40, &d, &why), -1);
}
END_TEST

/* Corrupts one byte at off to val and expects a refusal naming what. */
static void conn_expect_bad(uint32_t off, uint8_t val, const char *what)
{
    struct verbs_conn_info c = conn_sample(), d;
    uint8_t b[VERBS_CONN_BLOB_LEN];
    uint32_t len;
    verbs_conn_encode(&c, b, sizeof(b), &len);
    b[off] = val;
    const char *why = NULL;
    ck_assert_int_eq(verbs_conn_decode(b, len, &d, &why), -1);
    ck_assert_msg(why != NULL && strstr(why, what) != NULL,
                  "off %u: reason '%s' lacks '%s'", off, why ? why : "-", what);
}

START_TEST(test_conn_bad_fields)
{
    conn_expect_bad(0, 'X', "magic");
    conn_expect_bad(4, 2, "version");
    conn_expect_bad(6, 39, "length field smaller");
    conn_expect_bad(6, 41, "length field larger");
    conn_expect_bad(11, 1, "qpn"); /* qpn > 24 bits */
    conn_expect_bad(15, 1, "psn"); /* psn > 24 bits */
    conn_expect_bad(18, 0, "mtu");
    conn_expect_bad(18, 6, "mtu");
    conn_expect_bad(19, 3, "link_layer");
    struct verbs_conn_info c = conn_sample(), d;
    c.qpn = 0;
    uint8_t b[VERBS_CONN_BLOB_LEN];
    uint32_t len;
    verbs_conn_encode(&c, b, sizeof(b), &len);
    const char *why = NULL;
    ck_assert_int_eq(verbs_conn_decode(b, len, &d, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "qpn"));
}
END_TEST

START_TEST(test_conn_longer_accepted)
{
    /* A later version-1 peer may append fields: accepted, extra ignored. */
    struct verbs_conn_info c = conn_sample(), d;
    uint8_t b[64] = {0};
    uint32_t len;
    verbs_conn_encode(&c, b, sizeof(b), &len);
    b[6] = 48;
    const char *why = NULL;
    ck_assert_int_eq(verbs_conn_decode(b, 48, &d, &why), 0);
    ck_assert_uint_eq(d.qpn, c.qpn);
}
END_TEST

START_TEST(test_rkey_roundtrip_and_bad)
{
    struct verbs_rkey_info r = {.rkey = 0xDEADBEEF,
                                .addr = 0x00007F0012345000ull,
                                .len = 1ull << 33},
                           d;
    uint8_t b[VERBS_RKEY_BLOB_LEN];
    uint32_t len;
    const char *why = NULL;
    ck_assert_int_eq(verbs_rkey_encode(&r, b, sizeof(b), &len), 0);
    ck_assert_int_eq(memcmp(b, "KVPR", 4), 0);
    ck_assert_int_eq(verbs_rkey_decode(b, len, &d, &why), 0);
    ck_assert_uint_eq(d.rkey, r.rkey);
    ck_assert_uint_eq(d.addr, r.addr);
    ck_assert_uint_eq(d.len, r.len);
    ck_assert_int_eq(verbs_rkey_encode(&r, b, len - 1, &len), -1);

    /* A connect blob is not an rkey blob. */
    struct verbs_conn_info c = conn_sample();
    uint8_t cb[VERBS_CONN_BLOB_LEN];
    verbs_conn_encode(&c, cb, sizeof(cb), &len);
    ck_assert_int_eq(verbs_rkey_decode(cb, len, &d, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "magic"));

    r.len = 0;
    verbs_rkey_encode(&r, b, sizeof(b), &len);
    ck_assert_int_eq(verbs_rkey_decode(b, len, &d, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "length is 0"));
    r.len = 16;
    r.addr = UINT64_MAX - 8;
    verbs_rkey_encode(&r, b, sizeof(b), &len);
    ck_assert_int_eq(verbs_rkey_decode(b, len, &d, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "overflows"));
    for (uint32_t n = 0; n < VERBS_RKEY_BLOB_LEN; n++)
        ck_assert_int_eq(verbs_rkey_decode(b, n, &d, &why), -1);
}
END_TEST

START_TEST(test_random_bytes)
{
    /* Random bytes with a valid magic/version: decode either refuses or
     * yields fields inside their documented ranges. */
    unsigned seed = 777;
    for (int i = 0; i < 20000; i++) {
        uint32_t n = (uint32_t)(rand_r(&seed) % 64);
        uint8_t *p = malloc(n > 0 ? n : 1);
        for (uint32_t j = 0; j < n; j++)
            p[j] = (uint8_t)rand_r(&seed);
        if (n >= 8 && (i & 1)) {
            memcpy(p, (i & 2) ? "KVPV" : "KVPR", 4);
            p[4] = 1;
            p[5] = 0;
        }
        struct verbs_conn_info c;
        struct verbs_rkey_info r;
        const char *why = NULL;
        if (verbs_conn_decode(p, n, &c, &why) == 0) {
            ck_assert(c.qpn > 0 && c.qpn <= 0xFFFFFF);
            ck_assert(c.mtu >= 1 && c.mtu <= 5);
        }
        if (verbs_rkey_decode(p, n, &r, &why) == 0)
            ck_assert(r.len > 0 && r.addr <= UINT64_MAX - r.len);
        free(p);
    }
}
END_TEST

static Suite *verbs_blob_suite(void)
{
    Suite *s = suite_create("verbs_blob");
    TCase *tc = tcase_create("conn");
    tcase_add_test(tc, test_conn_roundtrip);
    tcase_add_test(tc, test_conn_encode_short_cap);
    tcase_add_test(tc, test_conn_truncated);
    tcase_add_test(tc, test_conn_bad_fields);
    tcase_add_test(tc, test_conn_longer_accepted);
    suite_add_tcase(s, tc);
    tc = tcase_create("rkey");
    tcase_add_test(tc, test_rkey_roundtrip_and_bad);
    tcase_add_test(tc, test_random_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(verbs_blob_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
