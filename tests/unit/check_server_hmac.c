/* check_server_hmac.c - the handshake's crypto (proto/auth.h, libcrypto):
 * HMAC-SHA256 against the RFC 4231 test cases, SHA-256 (its base, the
 * libcrypto we link) against the FIPS 180-4 examples, the constant-time
 * compare, and the challenge-response built on them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check_sha(const void *msg, size_t len, const char *want)
{
    uint8_t d[32];
    char h[65];
    ck_assert_int_eq(EVP_Digest(msg, len, d, NULL, EVP_sha256(), NULL), 1);
    hex(d, 32, h);
    ck_assert_str_eq(h, want);
}

START_TEST(sha_fips_vectors)
{
    check_sha("abc", 3,
              "ba7816bf8f01cfea414140de5dae2223"
              "b00361a396177a9cb410ff61f20015ad");
    check_sha("", 0,
              "e3b0c44298fc1c149afbf4c8996fb924"
              "27ae41e4649b934ca495991b7852b855");
    const char *m448 =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha(m448, strlen(m448),
              "248d6a61d20638b8e5c026930c3e6039"
              "a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
        "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_sha(m896, strlen(m896),
              "cf5b16a778af8380036ce59e7b049237"
              "0b249b11e8f07a51afac45037afee9d1");
}
END_TEST

START_TEST(sha_million_a_incremental)
{
    /* one million 'a', fed in odd-sized pieces to cross block edges */
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
    char chunk[997];
    memset(chunk, 'a', sizeof(chunk));
    size_t left = 1000000;
    while (left > 0) {
        size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
        ck_assert_int_eq(EVP_DigestUpdate(c, chunk, n), 1);
        left -= n;
    }
    uint8_t d[32];
    char h[65];
    ck_assert_int_eq(EVP_DigestFinal_ex(c, d, NULL), 1);
    EVP_MD_CTX_free(c);
    hex(d, 32, h);
    ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67"
                        "f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

static void check_hmac(const void *key, size_t klen, const void *msg,
                       size_t mlen, const char *want, size_t want_bytes)
{
    uint8_t d[32];
    char h[65];
    ck_assert_int_eq(proto_hmac_sha256(key, klen, msg, mlen, d), 0);
    hex(d, want_bytes, h);
    ck_assert_str_eq(h, want);
}

START_TEST(hmac_rfc4231)
{
    uint8_t k[131];
    /* case 1 */
    memset(k, 0x0b, 20);
    check_hmac(k, 20, "Hi There", 8,
               "b0344c61d8db38535ca8afceaf0bf12b"
               "881dc200c9833da726e9376c2e32cff7",
               32);
    /* case 2 */
    check_hmac("Jefe", 4, "what do ya want for nothing?", 28,
               "5bdcc146bf60754e6a042426089575c7"
               "5a003f089d2739839dec58b964ec3843",
               32);
    /* case 3 */
    uint8_t m[50];
    memset(k, 0xaa, 20);
    memset(m, 0xdd, 50);
    check_hmac(k, 20, m, 50,
               "773ea91e36800e46854db8ebd09181a7"
               "2959098b3ef8c122d9635514ced565fe",
               32);
    /* case 4 */
    for (int i = 0; i < 25; i++)
        k[i] = (uint8_t)(i + 1);
    memset(m, 0xcd, 50);
    check_hmac(k, 25, m, 50,
               "82558a389a443c0ea4cc819899f2083a"
               "85f0faa3e578f8077a2e3ff46729665b",
               32);
    /* case 5: truncated to 128 bits */
    memset(k, 0x0c, 20);
    check_hmac(k, 20, "Test With Truncation", 20,
               "a3b6167473100ee06e0c796c2955552b", 16);
    /* case 6: key longer than a block */
    memset(k, 0xaa, 131);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    check_hmac(k, 131, m6, strlen(m6),
               "60e431591ee0b67f0d8a26aacbf5b77f"
               "8e0bc6213728c5140546040f0ee37f54",
               32);
    /* case 7 */
    const char *m7 = "This is a test using a larger than block-size key and a "
                     "larger than block-size data. The key needs to be hashed "
                     "before being used by the HMAC algorithm.";
    check_hmac(k, 131, m7, strlen(m7),
               "9b09ffa71b942fcb27635fbcd5b0e944"
               "bfdc63644f0713938a7f51535c3a35e2",
               32);
}
END_TEST

START_TEST(equal_is_exact)
{
    uint8_t a[32] = {0}, b[32] = {0};
    ck_assert_int_eq(proto_auth_equal(a, b, 32), 1);
    b[31] = 1;
    ck_assert_int_eq(proto_auth_equal(a, b, 32), 0);
    b[31] = 0;
    b[0] = 0x80;
    ck_assert_int_eq(proto_auth_equal(a, b, 32), 0);
}
END_TEST

/* The proof is HMAC-SHA256(token, nonce) as docs/protocol.md says, the
 * verifier accepts exactly that proof, and nonces are fresh. */
START_TEST(challenge_response)
{
    uint8_t nonce[PROTO_NONCE_LEN], other[PROTO_NONCE_LEN];
    ck_assert_int_eq(proto_auth_nonce(nonce), 0);
    ck_assert_int_eq(proto_auth_nonce(other), 0);
    ck_assert(memcmp(nonce, other, PROTO_NONCE_LEN) != 0);

    const char *tok = "s3cret-token";
    uint8_t mac[PROTO_MAC_LEN], want[PROTO_MAC_LEN];
    ck_assert_int_eq(proto_auth_mac(tok, strlen(tok), nonce, mac), 0);
    ck_assert_int_eq(
        proto_hmac_sha256(tok, strlen(tok), nonce, PROTO_NONCE_LEN, want), 0);
    ck_assert_mem_eq(mac, want, PROTO_MAC_LEN);

    ck_assert_int_eq(
        proto_auth_verify(tok, strlen(tok), nonce, mac, PROTO_MAC_LEN), 1);
    /* another token, another nonce, a flipped bit, a short or no proof */
    ck_assert_int_eq(
        proto_auth_verify("s3cret-tokem", 12, nonce, mac, PROTO_MAC_LEN), 0);
    ck_assert_int_eq(
        proto_auth_verify(tok, strlen(tok), other, mac, PROTO_MAC_LEN), 0);
    mac[PROTO_MAC_LEN - 1] ^= 1;
    ck_assert_int_eq(
        proto_auth_verify(tok, strlen(tok), nonce, mac, PROTO_MAC_LEN), 0);
    mac[PROTO_MAC_LEN - 1] ^= 1;
    ck_assert_int_eq(
        proto_auth_verify(tok, strlen(tok), nonce, mac, PROTO_MAC_LEN - 1), 0);
    ck_assert_int_eq(proto_auth_verify(tok, strlen(tok), nonce, NULL, 0), 0);
    /* an empty token is still a key (RFC 2104 pads it) */
    ck_assert_int_eq(proto_auth_mac("", 0, nonce, mac), 0);
    ck_assert_int_eq(proto_auth_verify("", 0, nonce, mac, PROTO_MAC_LEN), 1);

    char buf[64];
    ck_assert_str_eq(proto_auth_error(buf, sizeof(buf)),
                     "no libcrypto error recorded");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_hmac");
    TCase *tc = tcase_create("vectors");
    tcase_add_test(tc, sha_fips_vectors);
    tcase_add_test(tc, sha_million_a_incremental);
    tcase_add_test(tc, hmac_rfc4231);
    tcase_add_test(tc, equal_is_exact);
    suite_add_tcase(s, tc);
    TCase *hs = tcase_create("handshake");
    tcase_add_test(hs, challenge_response);
    suite_add_tcase(s, hs);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
