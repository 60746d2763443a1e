/* auth.c - the handshake's cryptography, from libcrypto (auth.h). */
#include "auth.h"

#include <limits.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

_Static_assert(PROTO_MAC_LEN == PROTO_AUTH_HMAC_LEN,
               "CONNECT carries exactly one HMAC-SHA256");

int proto_auth_nonce(uint8_t nonce[PROTO_NONCE_LEN])
{
    return RAND_bytes(nonce, PROTO_NONCE_LEN) == 1 ? 0 : -1;
}

int proto_hmac_sha256(const void *key, size_t key_len, const void *msg,
                      size_t msg_len, uint8_t out[PROTO_AUTH_HMAC_LEN])
{
    static const uint8_t none; /* HMAC() wants a non-NULL key and data */
    if (key_len > INT_MAX)
        return -1;
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), key_len ? key : &none, (int)key_len,
             msg_len ? msg : &none, msg_len, out, &len) == NULL ||
        len != PROTO_AUTH_HMAC_LEN)
        return -1;
    return 0;
}

int proto_auth_mac(const void *token, size_t token_len,
                   const uint8_t nonce[PROTO_NONCE_LEN],
                   uint8_t mac[PROTO_MAC_LEN])
{
    return proto_hmac_sha256(token, token_len, nonce, PROTO_NONCE_LEN, mac);
}

int proto_auth_verify(const void *token, size_t token_len,
                      const uint8_t nonce[PROTO_NONCE_LEN], const uint8_t *mac,
                      size_t mac_len)
{
    uint8_t want[PROTO_MAC_LEN];
    if (mac == NULL || mac_len != PROTO_MAC_LEN ||
        proto_auth_mac(token, token_len, nonce, want) != 0)
        return 0;
    int ok = proto_auth_equal(want, mac, PROTO_MAC_LEN);
    OPENSSL_cleanse(want, sizeof(want));
    return ok;
}

int proto_auth_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

const char *proto_auth_error(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        return "no libcrypto error recorded";
    ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}
