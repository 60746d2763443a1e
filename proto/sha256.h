/*
 * sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), used only by
 * the store's challenge-response authentication. Small and dependency-free.
 */
#ifndef KVP_PROTO_SHA256_H
#define KVP_PROTO_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN  64

struct sha256_ctx {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t buf[SHA256_BLOCK_LEN];
    uint32_t buf_len;
};

void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_LEN]);
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN]);

void hmac_sha256(const void *key, size_t key_len, const void *msg,
                 size_t msg_len, uint8_t out[SHA256_DIGEST_LEN]);

/* Constant-time comparison: 1 when equal. */
int sha256_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif /* KVP_PROTO_SHA256_H */
