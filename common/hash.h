/*
 * hash.h - the hashes of kvplug, one place for each kind:
 *
 *  - kvp_hash_bytes: FIXED forever. The rendezvous placement of keys on
 *    servers (plugin/router.c) is built on it, and every version must put
 *    a key where the previous one did (tests/unit/check_router.c pins it).
 *  - kvp_hash_keyed: SipHash-2-4 under a secret 128-bit key, for tables
 *    whose keys a client chooses (the server's index): without the key a
 *    client cannot make its keys collide into one bucket.
 *  - kvp_hash_fmix64 / kvp_hash_mix64: integer mixers, for tables keyed by
 *    ids the process assigns itself (sequential ids over all buckets).
 */
#ifndef KVP_COMMON_HASH_H
#define KVP_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define KVP_HASH_KEY_LEN 16

/* The splitmix64 finaliser: every input bit affects every output bit. */
uint64_t kvp_hash_fmix64(uint64_t x);
/* splitmix64: the finaliser of z + the golden-ratio increment. */
uint64_t kvp_hash_mix64(uint64_t z);
/* 64-bit FNV-1a of len bytes, finished with kvp_hash_mix64. Stable. */
uint64_t kvp_hash_bytes(const void *data, size_t len);
/* SipHash-2-4 (Aumasson, Bernstein 2012) of len bytes under key. */
uint64_t kvp_hash_keyed(const uint8_t key[KVP_HASH_KEY_LEN], const void *data,
                        size_t len);

#endif /* KVP_COMMON_HASH_H */
