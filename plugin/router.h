/*
 * router.h - picks the server of a key by rendezvous (highest random
 * weight) hashing: every server gets score mix(hash(key) ^ seed(server));
 * the highest wins. Adding or losing a server moves only the keys that
 * scored highest on it.
 */
#ifndef KVP_ROUTER_H
#define KVP_ROUTER_H

#include <stddef.h>
#include <stdint.h>

/* kvp_hash_bytes (common/hash.h): fixed, placement depends on it. */
uint64_t router_hash(const void *data, size_t len);
/* Seed of a server from its "host:port" identity. */
uint64_t router_server_seed(const char *host, uint16_t port);
/* Bytes of key that place it: a TP shard key "<base>_tp_<rank>" (rank in
 * canonical decimal) is placed by its base, so every shard of a TP group
 * lives on its base key's server (DESIGN §3); any other key by itself. */
size_t router_place_len(const char *key);
/* Index in [0, n) of the server for key (n >= 1), by router_place_len. */
uint32_t router_pick(const uint64_t *seeds, uint32_t n, const char *key);

#endif /* KVP_ROUTER_H */
