/* router.c - rendezvous hashing of keys onto servers. */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "hash.h"

uint64_t router_hash(const void *data, size_t len)
{
    return kvp_hash_bytes(data, len);
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

size_t router_place_len(const char *key)
{
    size_t len = strlen(key), d = len;
    while (d > 0 && key[d - 1] >= '0' && key[d - 1] <= '9')
        d--;
    size_t digits = len - d;
    if (digits == 0 || digits > 10 || (digits > 1 && key[d] == '0') ||
        d < 5 || memcmp(key + d - 4, "_tp_", 4) != 0)
        return len;
    return d - 4;
}

uint32_t router_pick(const uint64_t *seeds, uint32_t n, const char *key)
{
    uint64_t kh = router_hash(key, router_place_len(key));
    uint32_t best = 0;
    uint64_t best_score = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t score = kvp_hash_mix64(kh ^ seeds[i]);
        if (i == 0 || score > best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}
