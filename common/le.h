/*
 * le.h - little-endian loads and stores of unsigned integers, the byte order
 * of every kvplug wire and blob format (control frames, the tensor header,
 * transport blobs). Byte by byte, so alignment and host order never matter.
 */
#ifndef KVP_COMMON_LE_H
#define KVP_COMMON_LE_H

#include <stdint.h>

/* The n low bytes of v to p[0..n), least significant first (n <= 8). */
static inline void kvp_le_put(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The n-byte little-endian value at p (n <= 8). */
static inline uint64_t kvp_le_get(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void kvp_le_put16(uint8_t *p, uint16_t v)
{
    kvp_le_put(p, v, 2);
}

static inline void kvp_le_put32(uint8_t *p, uint32_t v)
{
    kvp_le_put(p, v, 4);
}

static inline void kvp_le_put64(uint8_t *p, uint64_t v)
{
    kvp_le_put(p, v, 8);
}

static inline uint16_t kvp_le_get16(const uint8_t *p)
{
    return (uint16_t)kvp_le_get(p, 2);
}

static inline uint32_t kvp_le_get32(const uint8_t *p)
{
    return (uint32_t)kvp_le_get(p, 4);
}

static inline uint64_t kvp_le_get64(const uint8_t *p)
{
    return kvp_le_get(p, 8);
}

#endif /* KVP_COMMON_LE_H */
