/*
 * auth.h - the store's challenge-response handshake (docs/protocol.md):
 * the server sends a fresh random nonce in HELLO_R; the client proves it
 * holds the shared token with HMAC-SHA256(token, nonce) in CONNECT; the
 * server recomputes it and compares in constant time. The token never
 * crosses the wire and a recorded proof is useless on the next nonce.
 *
 * All cryptography is libcrypto's (OpenSSL): HMAC(), CRYPTO_memcmp(),
 * RAND_bytes(). Used by both ends: plugin/store_client.c and server.c.
 */
#ifndef KVP_PROTO_AUTH_H
#define KVP_PROTO_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define PROTO_AUTH_HMAC_LEN 32 /* HMAC-SHA256 output = PROTO_MAC_LEN */

/* Fills nonce with PROTO_NONCE_LEN bytes from the CSPRNG. 0, or -1 when
 * libcrypto has no randomness to give (proto_auth_error says why). */
int proto_auth_nonce(uint8_t nonce[PROTO_NONCE_LEN]);

/* The client's proof: mac = HMAC-SHA256(token, nonce). 0 or -1. */
int proto_auth_mac(const void *token, size_t token_len,
                   const uint8_t nonce[PROTO_NONCE_LEN],
                   uint8_t mac[PROTO_MAC_LEN]);

/* 1 when mac (mac_len bytes as received) is the proof of token over
 * nonce, 0 otherwise (wrong, missing, wrong length, or HMAC failed).
 * Constant time in the bytes of mac. */
int proto_auth_verify(const void *token, size_t token_len,
                      const uint8_t nonce[PROTO_NONCE_LEN], const uint8_t *mac,
                      size_t mac_len);

/* HMAC-SHA256 (RFC 2104) of msg under key, any lengths. 0 or -1. */
int proto_hmac_sha256(const void *key, size_t key_len, const void *msg,
                      size_t msg_len, uint8_t out[PROTO_AUTH_HMAC_LEN]);

/* Constant-time comparison of n bytes: 1 when equal. */
int proto_auth_equal(const void *a, const void *b, size_t n);

/* The reason of this thread's last libcrypto failure, for a log line;
 * "no libcrypto error recorded" when there is none. Clears it. */
const char *proto_auth_error(char *buf, size_t cap);

#endif /* KVP_PROTO_AUTH_H */
