/* hash.c - the fixed, the mixing and the keyed hashes (hash.h). */
#include "hash.h"

#include "le.h"

uint64_t kvp_hash_fmix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 27;
    x *= UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

uint64_t kvp_hash_mix64(uint64_t z)
{
    return kvp_hash_fmix64(z + UINT64_C(0x9E3779B97F4A7C15));
}

uint64_t kvp_hash_bytes(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = UINT64_C(0xCBF29CE484222325);
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001B3);
    }
    return kvp_hash_mix64(h);
}

/* ---- SipHash-2-4 --------------------------------------------------------
 * Written here rather than taken from libcrypto: OpenSSL offers SipHash only
 * as an EVP_MAC (a heap context per call), too heavy for one hash per index
 * lookup. tests/unit/check_hash.c checks it against OpenSSL's and against
 * the reference vectors of the paper. */

static uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static void sip_rounds(uint64_t v[4], int n)
{
    for (int i = 0; i < n; i++) {
        v[0] += v[1];
        v[1] = rotl(v[1], 13);
        v[1] ^= v[0];
        v[0] = rotl(v[0], 32);
        v[2] += v[3];
        v[3] = rotl(v[3], 16);
        v[3] ^= v[2];
        v[0] += v[3];
        v[3] = rotl(v[3], 21);
        v[3] ^= v[0];
        v[2] += v[1];
        v[1] = rotl(v[1], 17);
        v[1] ^= v[2];
        v[2] = rotl(v[2], 32);
    }
}

static void sip_absorb(uint64_t v[4], uint64_t m)
{
    v[3] ^= m;
    sip_rounds(v, 2);
    v[0] ^= m;
}

uint64_t kvp_hash_keyed(const uint8_t key[KVP_HASH_KEY_LEN], const void *data,
                        size_t len)
{
    const uint8_t *p = data;
    uint64_t k0 = kvp_le_get64(key), k1 = kvp_le_get64(key + 8);
    uint64_t v[4] = {
        k0 ^ UINT64_C(0x736F6D6570736575),
        k1 ^ UINT64_C(0x646F72616E646F6D),
        k0 ^ UINT64_C(0x6C7967656E657261),
        k1 ^ UINT64_C(0x7465646279746573),
    };
    size_t full = len - len % 8;
    for (size_t i = 0; i < full; i += 8)
        sip_absorb(v, kvp_le_get64(p + i));
    uint64_t last = (uint64_t)len << 56;
    if (len > full)
        last |= kvp_le_get(p + full, (unsigned)(len - full));
    sip_absorb(v, last);
    v[2] ^= 0xFF;
    sip_rounds(v, 4);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}
