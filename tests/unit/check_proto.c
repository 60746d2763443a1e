/* check_proto.c - control frame codec: every frame type round-trips, and a
 * table of malformed frames is rejected (run under ASan to prove no
 * out-of-bounds read: each body is copied into an exact-size heap block). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvplug/status.h"
#include "proto.h"

/* Encodes m, parses + decodes the frame from an exact-size copy. */
static int roundtrip(const struct proto_msg *m, struct proto_msg *out,
                     uint8_t **body_p)
{
    struct proto_buf b = {0};
    ck_assert_int_eq(proto_encode(m, &b), 0);
    struct proto_hdr h;
    const char *why = NULL;
    ck_assert_int_eq(proto_hdr_parse(b.data, PROTO_MAX_BODY, &h, &why),
                     PROTO_OK);
    ck_assert_uint_eq(h.body_len, b.len - PROTO_HDR_LEN);
    ck_assert_uint_eq(h.type, m->type);
    ck_assert_uint_eq(h.req_id, m->req_id);
    uint8_t *body = malloc(h.body_len ? h.body_len : 1);
    memcpy(body, b.data + PROTO_HDR_LEN, h.body_len);
    proto_buf_free(&b);
    *body_p = body;
    return proto_decode(&h, body, out, &why);
}

START_TEST(roundtrip_handshake)
{
    struct proto_msg m = {.type = PROTO_HELLO,
                          .req_id = 7,
                          .flags = 3,
                          .name = (const uint8_t *)"ucx",
                          .name_len = 3};
    struct proto_msg o;
    uint8_t *body;
    ck_assert_int_eq(roundtrip(&m, &o, &body), PROTO_OK);
    ck_assert_uint_eq(o.flags, 3);
    ck_assert_uint_eq(o.name_len, 3);
    ck_assert_mem_eq(o.name, "ucx", 3);
    proto_msg_free(&o);
    free(body);

    struct proto_msg r = {.type = PROTO_HELLO_R,
                          .status = -14,
                          .flags = PROTO_SERVER_AUTH_REQUIRED};
    for (int i = 0; i < PROTO_NONCE_LEN; i++)
        r.nonce[i] = (uint8_t)(i * 7);
    ck_assert_int_eq(roundtrip(&r, &o, &body), PROTO_OK);
    ck_assert_int_eq(o.status, -14);
    ck_assert_uint_eq(o.flags, PROTO_SERVER_AUTH_REQUIRED);
    ck_assert_mem_eq(o.nonce, r.nonce, PROTO_NONCE_LEN);
    free(body);

    uint8_t blob[100];
    memset(blob, 0xab, sizeof(blob));
    struct proto_msg c = {.type = PROTO_CONNECT,
                          .mac_len = PROTO_MAC_LEN,
                          .blob = blob,
                          .blob_len = 100};
    memset(c.mac, 0x5a, PROTO_MAC_LEN);
    ck_assert_int_eq(roundtrip(&c, &o, &body), PROTO_OK);
    ck_assert_uint_eq(o.mac_len, PROTO_MAC_LEN);
    ck_assert_mem_eq(o.mac, c.mac, PROTO_MAC_LEN);
    ck_assert_uint_eq(o.blob_len, 100);
    ck_assert_mem_eq(o.blob, blob, 100);
    free(body);

    struct proto_msg cr = {.type = PROTO_CONNECT_R,
                           .pool_base = 1ull << 46,
                           .pool_size = 1ull << 33,
                           .blob = blob,
                           .blob_len = 5,
                           .rkey = blob + 5,
                           .rkey_len = 9};
    ck_assert_int_eq(roundtrip(&cr, &o, &body), PROTO_OK);
    ck_assert_uint_eq(o.pool_base, 1ull << 46);
    ck_assert_uint_eq(o.pool_size, 1ull << 33);
    ck_assert_uint_eq(o.blob_len, 5);
    ck_assert_uint_eq(o.rkey_len, 9);
    ck_assert_ptr_eq(o.rkey, o.blob + 5 + 4);
    free(body);
}
END_TEST

START_TEST(roundtrip_batches)
{
    struct proto_item it[3] = {
        {.key = (const uint8_t *)"alpha", .key_len = 5, .len = 0},
        {.key = (const uint8_t *)"b", .key_len = 1, .len = UINT64_MAX},
        {.key = (const uint8_t *)"gamma", .key_len = 5, .len = 4096}};
    uint16_t types[] = {PROTO_ALLOC, PROTO_LOOKUP, PROTO_REMOVE};
    for (int t = 0; t < 3; t++) {
        struct proto_msg m = {
            .type = types[t], .flags = 1, .n = 3, .items = it, .req_id = 99};
        struct proto_msg o;
        uint8_t *body;
        ck_assert_int_eq(roundtrip(&m, &o, &body), PROTO_OK);
        ck_assert_uint_eq(o.n, 3);
        for (int i = 0; i < 3; i++) {
            ck_assert_uint_eq(o.items[i].key_len, it[i].key_len);
            ck_assert_mem_eq(o.items[i].key, it[i].key, it[i].key_len);
            if (types[t] == PROTO_ALLOC)
                ck_assert_uint_eq(o.items[i].len, it[i].len);
        }
        if (types[t] != PROTO_REMOVE)
            ck_assert_uint_eq(o.flags, 1);
        proto_msg_free(&o);
        free(body);
    }
    struct proto_item ids[2] = {{.id = 1}, {.id = UINT64_MAX}};
    uint16_t idt[] = {PROTO_COMMIT, PROTO_ABORT, PROTO_RELEASE,
                      PROTO_RELEASE_NOREPLY};
    for (int t = 0; t < 4; t++) {
        struct proto_msg m = {.type = idt[t], .n = 2, .items = ids};
        struct proto_msg o;
        uint8_t *body;
        ck_assert_int_eq(roundtrip(&m, &o, &body), PROTO_OK);
        ck_assert_uint_eq(o.items[0].id, 1);
        ck_assert_uint_eq(o.items[1].id, UINT64_MAX);
        proto_msg_free(&o);
        free(body);
    }
    struct proto_item rep[2] = {{.status = -3, .addr = 11, .len = 22, .id = 33},
                                {.status = 0, .addr = 44, .len = 55, .id = 66}};
    uint16_t rt[] = {PROTO_ALLOC_R, PROTO_LOOKUP_R,  PROTO_COMMIT_R,
                     PROTO_ABORT_R, PROTO_RELEASE_R, PROTO_REMOVE_R};
    for (int t = 0; t < 6; t++) {
        struct proto_msg m = {.type = rt[t], .status = 0, .n = 2, .items = rep};
        struct proto_msg o;
        uint8_t *body;
        ck_assert_int_eq(roundtrip(&m, &o, &body), PROTO_OK);
        ck_assert_int_eq(o.items[0].status, -3);
        ck_assert_int_eq(o.items[1].status, 0);
        if (rt[t] == PROTO_ALLOC_R || rt[t] == PROTO_LOOKUP_R) {
            ck_assert_uint_eq(o.items[1].addr, 44);
            ck_assert_uint_eq(o.items[1].id, 66);
        }
        if (rt[t] == PROTO_LOOKUP_R)
            ck_assert_uint_eq(o.items[1].len, 55);
        proto_msg_free(&o);
        free(body);
    }
    struct proto_msg s = {
        .type = PROTO_STATS_R, .n_stats = 3, .stats = {1, 2, 3}};
    struct proto_msg o;
    uint8_t *body;
    ck_assert_int_eq(roundtrip(&s, &o, &body), PROTO_OK);
    ck_assert_uint_eq(o.n_stats, 3);
    ck_assert_uint_eq(o.stats[2], 3);
    free(body);
    /* KEYS: an empty prefix is all keys; the reply carries keys + sizes */
    struct proto_msg kq = {.type = PROTO_KEYS,
                           .prefix = (const uint8_t *)"pre",
                           .prefix_len = 3,
                           .limit = 7};
    ck_assert_int_eq(roundtrip(&kq, &o, &body), PROTO_OK);
    ck_assert_uint_eq(o.limit, 7);
    ck_assert_uint_eq(o.prefix_len, 3);
    ck_assert_mem_eq(o.prefix, "pre", 3);
    free(body);
    struct proto_item kit[2] = {
        {.key = (const uint8_t *)"a", .key_len = 1, .len = 5},
        {.key = (const uint8_t *)"bb", .key_len = 2, .len = UINT64_MAX}};
    struct proto_msg kr = {.type = PROTO_KEYS_R, .flags = PROTO_KEYS_MORE,
                           .n = 2, .items = kit};
    ck_assert_int_eq(roundtrip(&kr, &o, &body), PROTO_OK);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_uint_eq(o.flags, PROTO_KEYS_MORE);
    ck_assert_mem_eq(o.items[1].key, "bb", 2);
    ck_assert_uint_eq(o.items[1].len, UINT64_MAX);
    proto_msg_free(&o);
    free(body);
    /* PUT_AT: pieces with their addresses and a refill; the reply says
     * where the arena stands */
    struct proto_item pit[2] = {
        {.key = (const uint8_t *)"a", .key_len = 1, .len = 100, .addr = 64},
        {.key = (const uint8_t *)"bb", .key_len = 2, .len = 0,
         .addr = UINT64_MAX}};
    struct proto_msg pq = {.type = PROTO_PUT_AT,
                           .flags = PROTO_ALLOC_OVERWRITE,
                           .want = 4 << 20,
                           .need = 65536,
                           .n = 2,
                           .items = pit};
    ck_assert_int_eq(roundtrip(&pq, &o, &body), PROTO_OK);
    ck_assert_uint_eq(o.flags, PROTO_ALLOC_OVERWRITE);
    ck_assert_uint_eq(o.want, 4 << 20);
    ck_assert_uint_eq(o.need, 65536);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_mem_eq(o.items[1].key, "bb", 2);
    ck_assert_uint_eq(o.items[0].len, 100);
    ck_assert_uint_eq(o.items[0].addr, 64);
    ck_assert_uint_eq(o.items[1].addr, UINT64_MAX);
    proto_msg_free(&o);
    free(body);
    pit[0].status = KVP_ERR_EXISTS;
    struct proto_msg pr = {.type = PROTO_PUT_AT_R,
                           .arena_addr = 1 << 20,
                           .arena_len = 4 << 20,
                           .arena_cursor = (1 << 20) + 128,
                           .n = 2,
                           .items = pit};
    ck_assert_int_eq(roundtrip(&pr, &o, &body), PROTO_OK);
    ck_assert_uint_eq(o.arena_addr, 1 << 20);
    ck_assert_uint_eq(o.arena_len, 4 << 20);
    ck_assert_uint_eq(o.arena_cursor, (1 << 20) + 128);
    ck_assert_int_eq(o.items[0].status, KVP_ERR_EXISTS);
    proto_msg_free(&o);
    free(body);
}
END_TEST

START_TEST(encoder_refuses_out_of_range)
{
    struct proto_buf b = {0};
    struct proto_item bad = {.key = (const uint8_t *)"", .key_len = 0};
    struct proto_msg m = {.type = PROTO_LOOKUP, .n = 1, .items = &bad};
    ck_assert_int_eq(proto_encode(&m, &b), -1);
    struct proto_msg big = {
        .type = PROTO_COMMIT, .n = PROTO_MAX_ITEMS + 1, .items = &bad};
    ck_assert_int_eq(proto_encode(&big, &b), -1);
    struct proto_msg c = {
        .type = PROTO_CONNECT, .blob_len = 4097, .blob = (const uint8_t *)"x"};
    ck_assert_int_eq(proto_encode(&c, &b), -1);
    struct proto_msg t = {.type = 99};
    ck_assert_int_eq(proto_encode(&t, &b), -1);
    struct proto_msg k0 = {.type = PROTO_KEYS, .limit = 0};
    ck_assert_int_eq(proto_encode(&k0, &b), -1);
    proto_buf_free(&b);
}
END_TEST

/* ---- malformed frames -------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

START_TEST(bad_headers)
{
    uint8_t h[PROTO_HDR_LEN];
    struct proto_hdr hd;
    const char *why = NULL;
    /* version 2 */
    put_le(h, 0, 4);
    put_le(h + 4, 2, 2);
    put_le(h + 6, PROTO_ALLOC, 2);
    put_le(h + 8, 0, 4);
    ck_assert_int_eq(proto_hdr_parse(h, PROTO_MAX_BODY, &hd, &why),
                     PROTO_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(why, "version"));
    /* type 0 and type beyond the last */
    put_le(h + 4, PROTO_VERSION, 2);
    put_le(h + 6, 0, 2);
    ck_assert_int_eq(proto_hdr_parse(h, PROTO_MAX_BODY, &hd, &why),
                     PROTO_ERR_MALFORMED);
    put_le(h + 6, PROTO_TYPE_MAX + 1, 2);
    ck_assert_int_eq(proto_hdr_parse(h, PROTO_MAX_BODY, &hd, &why),
                     PROTO_ERR_MALFORMED);
    /* length beyond the limit */
    put_le(h + 6, PROTO_ALLOC, 2);
    put_le(h, PROTO_HANDSHAKE_MAX_BODY + 1, 4);
    ck_assert_int_eq(proto_hdr_parse(h, PROTO_HANDSHAKE_MAX_BODY, &hd, &why),
                     PROTO_ERR_MALFORMED);
    put_le(h, 0xffffffffu, 4);
    ck_assert_int_eq(proto_hdr_parse(h, PROTO_MAX_BODY, &hd, &why),
                     PROTO_ERR_MALFORMED);
    put_le(h, 16, 4);
    ck_assert_int_eq(proto_hdr_parse(h, PROTO_MAX_BODY, &hd, &why), PROTO_OK);
}
END_TEST

struct bad_case {
    const char *name;
    uint16_t type;
    size_t len;
    uint8_t bytes[64];
    const char *why_contains;
};

#define U32(v)                                                                 \
    (uint8_t)(v), (uint8_t)((v) >> 8), (uint8_t)((v) >> 16),                   \
        (uint8_t)((v) >> 24)
#define U16(v) (uint8_t)(v), (uint8_t)((v) >> 8)

static const struct bad_case bad_cases[] = {
    {"alloc empty body", PROTO_ALLOC, 0, {0}, "flags"},
    {"alloc n truncated", PROTO_ALLOC, 6, {U32(0), U16(1)}, "count"},
    {"alloc n huge", PROTO_ALLOC, 8, {U32(0), U32(0xffffffffu)}, "count"},
    {"alloc n > frame",
     PROTO_ALLOC,
     19,
     {U32(0), U32(2), U16(1), 'a', 0, 0, 0, 0, 0, 0, 0, 0},
     "larger"},
    {"alloc key length 0",
     PROTO_ALLOC,
     19,
     {U32(0), U32(1), U16(0), 'a', 0, 0, 0, 0, 0, 0, 0, 0},
     "key length 0"},
    {"alloc key length 1025",
     PROTO_ALLOC,
     19,
     {U32(0), U32(1), U16(1025), 'a', 0, 0, 0, 0, 0, 0, 0, 0},
     "1024"},
    {"alloc key past end",
     PROTO_ALLOC,
     19,
     {U32(0), U32(1), U16(20), 'a', 0, 0, 0, 0, 0, 0, 0, 0},
     "truncated"},
    {"alloc length truncated",
     PROTO_ALLOC,
     18,
     {U32(0), U32(1), U16(1), 'a', 0, 0, 0, 0, 0, 0, 0},
     "larger"},
    {"alloc trailing byte",
     PROTO_ALLOC,
     20,
     {U32(0), U32(1), U16(1), 'a', 0, 0, 0, 0, 0, 0, 0, 0, 9},
     "trailing"},
    {"lookup second item truncated",
     PROTO_LOOKUP,
     15,
     {U32(0), U32(2), U16(1), 'a', U16(3), 'b', 'c'},
     "truncated"},
    {"remove key len 0", PROTO_REMOVE, 7, {U32(1), U16(0), 'x'}, "length 0"},
    {"commit id truncated",
     PROTO_COMMIT,
     11,
     {U32(1), 1, 2, 3, 4, 5, 6, 7},
     "larger"},
    {"release n > frame",
     PROTO_RELEASE,
     12,
     {U32(3), 0, 0, 0, 0, 0, 0, 0, 0},
     "larger"},
    {"release-noreply n > frame",
     PROTO_RELEASE_NOREPLY,
     12,
     {U32(3), 0, 0, 0, 0, 0, 0, 0, 0},
     "larger"},
    {"hello name too long", PROTO_HELLO, 5, {U32(0), 33}, "32"},
    {"hello name truncated", PROTO_HELLO, 7, {U32(0), 3, 'u', 'c'}, "name"},
    {"connect bad mac len", PROTO_CONNECT, 1, {16}, "mac"},
    {"connect mac truncated", PROTO_CONNECT, 10, {32, 1, 2, 3}, "mac"},
    {"connect blob too long", PROTO_CONNECT, 5, {0, U32(4097)}, "4096"},
    {"connect blob past end",
     PROTO_CONNECT,
     9,
     {0, U32(100), 1, 2, 3, 4},
     "blob"},
    {"connect_r truncated", PROTO_CONNECT_R, 10, {U32(0), 1, 2}, "pool"},
    {"alloc_r n > frame",
     PROTO_ALLOC_R,
     12,
     {U32(0), U32(1), U32(0)},
     "larger"},
    {"stats_r count huge", PROTO_STATS_R, 8, {U32(0), U32(1000)}, "limit"},
    {"stats trailing", PROTO_STATS, 1, {0}, "trailing"},
    {"hello_r nonce truncated",
     PROTO_HELLO_R,
     12,
     {U32(0), U32(1), 1, 2},
     "nonce"},
};

START_TEST(malformed_table)
{
    const struct bad_case *c = &bad_cases[_i];
    /* exact-size heap copy: ASan flags any read past the last byte */
    uint8_t *body = malloc(c->len ? c->len : 1);
    memcpy(body, c->bytes, c->len);
    struct proto_hdr h = {.body_len = (uint32_t)c->len,
                          .version = PROTO_VERSION,
                          .type = c->type};
    struct proto_msg m;
    const char *why = NULL;
    int st = proto_decode(&h, c->len ? body : NULL, &m, &why);
    ck_assert_msg(st == PROTO_ERR_MALFORMED, "%s: accepted", c->name);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, c->why_contains) != NULL,
                  "%s: reason '%s' lacks '%s'", c->name, why, c->why_contains);
    ck_assert_ptr_null(m.items); /* nothing left allocated */
    free(body);
}
END_TEST

START_TEST(every_truncation_of_valid_frames)
{
    /* each valid frame cut short at every length must be rejected */
    struct proto_item it[2] = {
        {.key = (const uint8_t *)"key-one",
         .key_len = 7,
         .len = 5,
         .id = 9,
         .status = -2,
         .addr = 3},
        {.key = (const uint8_t *)"k2", .key_len = 2, .len = 6, .id = 8}};
    uint8_t blob[40] = {1, 2, 3};
    struct proto_msg msgs[] = {
        {.type = PROTO_HELLO, .name = (const uint8_t *)"verbs", .name_len = 5},
        {.type = PROTO_HELLO_R},
        {.type = PROTO_CONNECT, .mac_len = 32, .blob = blob, .blob_len = 40},
        {.type = PROTO_CONNECT_R,
         .blob = blob,
         .blob_len = 7,
         .rkey = blob,
         .rkey_len = 40},
        {.type = PROTO_ALLOC, .n = 2, .items = it},
        {.type = PROTO_ALLOC_R, .n = 2, .items = it},
        {.type = PROTO_LOOKUP, .n = 2, .items = it},
        {.type = PROTO_LOOKUP_R, .n = 2, .items = it},
        {.type = PROTO_COMMIT, .n = 2, .items = it},
        {.type = PROTO_COMMIT_R, .n = 2, .items = it},
        {.type = PROTO_REMOVE, .n = 2, .items = it},
        {.type = PROTO_STATS_R, .n_stats = 4},
        {.type = PROTO_KEYS, .prefix = blob, .prefix_len = 3, .limit = 1},
        {.type = PROTO_KEYS_R, .n = 2, .items = it},
        {.type = PROTO_PUT_AT, .want = 1, .n = 2, .items = it},
        {.type = PROTO_PUT_AT, .want = 1},
        {.type = PROTO_PUT_AT_R, .arena_len = 4, .n = 2, .items = it},
    };
    for (size_t k = 0; k < sizeof(msgs) / sizeof(msgs[0]); k++) {
        struct proto_buf b = {0};
        ck_assert_int_eq(proto_encode(&msgs[k], &b), 0);
        size_t full = b.len - PROTO_HDR_LEN;
        for (size_t cut = 0; cut < full; cut++) {
            uint8_t *body = malloc(cut ? cut : 1);
            memcpy(body, b.data + PROTO_HDR_LEN, cut);
            struct proto_hdr h = {.body_len = (uint32_t)cut,
                                  .version = PROTO_VERSION,
                                  .type = msgs[k].type};
            struct proto_msg m;
            const char *why;
            ck_assert_msg(
                proto_decode(&h, body, &m, &why) == PROTO_ERR_MALFORMED,
                "%s cut at %zu accepted", proto_type_name(msgs[k].type), cut);
            free(body);
        }
        proto_buf_free(&b);
    }
}
END_TEST

START_TEST(max_items_accepted_one_more_refused)
{
    /* COMMIT with exactly PROTO_MAX_ITEMS ids decodes; +1 is refused */
    size_t len = 4 + (size_t)PROTO_MAX_ITEMS * 8;
    uint8_t *body = calloc(1, len + 8);
    put_le(body, PROTO_MAX_ITEMS, 4);
    struct proto_hdr h = {.body_len = (uint32_t)len,
                          .version = PROTO_VERSION,
                          .type = PROTO_COMMIT};
    struct proto_msg m;
    const char *why;
    ck_assert_int_eq(proto_decode(&h, body, &m, &why), PROTO_OK);
    ck_assert_uint_eq(m.n, PROTO_MAX_ITEMS);
    proto_msg_free(&m);
    put_le(body, PROTO_MAX_ITEMS + 1, 4);
    h.body_len = (uint32_t)(len + 8);
    ck_assert_int_eq(proto_decode(&h, body, &m, &why), PROTO_ERR_MALFORMED);
    free(body);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto");
    TCase *tr = tcase_create("roundtrip");
    tcase_add_test(tr, roundtrip_handshake);
    tcase_add_test(tr, roundtrip_batches);
    tcase_add_test(tr, encoder_refuses_out_of_range);
    suite_add_tcase(s, tr);
    TCase *tm = tcase_create("malformed");
    tcase_add_test(tm, bad_headers);
    tcase_add_loop_test(tm, malformed_table, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tm, every_truncation_of_valid_frames);
    tcase_add_test(tm, max_items_accepted_one_more_refused);
    suite_add_tcase(s, tm);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
