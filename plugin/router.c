/* router.c - rendezvous hashing of keys onto servers. */
#include "router.h"

#include <stdio.h>
#include <string.h>

static uint64_t mix64(uint64_t z)
{
    /* splitmix64 finaliser: every input bit affects every output bit */
    z += UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t router_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = UINT64_C(0xCBF29CE484222325);
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001B3);
    }
    return mix64(h);
}

uint64_t router_server_seed(const char *host, uint16_t port)
{
    char id[300];
    int n = snprintf(id, sizeof(id), "%s:%u", host, (unsigned)port);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(id))
        n = (int)sizeof(id) - 1;
    return router_hash(id, (size_t)n);
}

uint32_t router_pick(const uint64_t *seeds, uint32_t n, const char *key)
{
    uint64_t kh = router_hash(key, strlen(key));
    uint32_t best = 0;
    uint64_t best_score = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t score = mix64(kh ^ seeds[i]);
        if (i == 0 || score > best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}
