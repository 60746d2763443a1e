/*
 * kvstore.h - the store's semantics (DESIGN §3/§4) over one pool: objects
 * become visible at commit, EXISTS unless overwrite, atomic replacement,
 * leases that pin memory, LRU eviction of committed unleased objects.
 *
 * Pure bookkeeping on offsets: no I/O, no transport. Thread-safe (one mutex).
 * `owner` identifies a connection: only the owner may commit/abort its
 * allocations or release its leases, and kvs_owner_gone() aborts/releases
 * everything it left. Time is passed in (CLOCK_MONOTONIC ns).
 */
#ifndef KVP_SERVER_KVSTORE_H
#define KVP_SERVER_KVSTORE_H

#include <stdint.h>

#include "log.h"
#include "shidx.h"

#define KVS_ALLOC_OVERWRITE          (UINT32_C(1) << 0)
#define KVS_LOOKUP_NO_LEASE          (UINT32_C(1) << 0)
#define KVS_DEFAULT_LEASE_TIMEOUT_MS 30000

struct kvs;

struct kvs_params {
    uint64_t size;                /* bytes managed (offsets [0, size)) */
    uint64_t base_addr;           /* added to offsets to form remote addrs */
    uint32_t lease_timeout_ms;    /* 0 = KVS_DEFAULT_LEASE_TIMEOUT_MS */
    const struct kvp_logger *log; /* borrowed; may be NULL */
    /* The shared index same-host clients read (proto/shidx.h), kept in
     * step with every commit, overwrite, removal and eviction; borrowed;
     * NULL = none. */
    struct shidx *shidx;
};

struct kvs_stats {
    uint64_t objects; /* committed, visible */
    uint64_t pending; /* allocations not committed/aborted */
    uint64_t leases;
    uint64_t retired;    /* replaced/removed but still leased */
    uint64_t used_bytes; /* pool bytes taken (rounded) */
    uint64_t evictions;
    uint64_t lease_expiries;
};

/* A TP group in the making (DESIGN §3): the objects of one TP put, placed
 * by their base key, committed, evicted, overwritten and removed as one. */
struct kvs_group;

int32_t kvs_create(const struct kvs_params *p, struct kvs **kvs_p);
void kvs_destroy(struct kvs *kvs);

/* key: key_len bytes (1..1024), no NUL needed. On OK: *raddr_p, *id_p.
 * KVP_ERR_EXISTS, KVP_ERR_NO_SPACE (after evicting all it could),
 * KVP_ERR_INVALID (bad key), KVP_ERR_NO_MEMORY. */
int32_t kvs_alloc(struct kvs *kvs, uint64_t owner, const void *key,
                  uint16_t key_len, uint64_t len, uint32_t flags,
                  uint64_t *raddr_p, uint64_t *id_p);
/* Opens a group for base key (1..1024 bytes); members are added with
 * kvs_alloc_in() and the group closed with kvs_group_close() once the
 * frame's members are allocated. A plain (non-overwrite) group of a base
 * that already has a committed group fails every member with EXISTS. NULL:
 * no memory. The group commits (becomes visible, replacing the base's old
 * group and every object under its member keys) when its last member is
 * committed; if any member's alloc fails or a member is aborted, no member
 * ever becomes visible. */
struct kvs_group *kvs_group_open(struct kvs *kvs, uint64_t owner,
                                 const void *base, uint16_t base_len,
                                 uint32_t flags);
int32_t kvs_alloc_in(struct kvs *kvs, struct kvs_group *g, uint64_t owner,
                     const void *key, uint16_t key_len, uint64_t len,
                     uint32_t flags, uint64_t *raddr_p, uint64_t *id_p);
void kvs_group_close(struct kvs *kvs, struct kvs_group *g);
/* KVP_OK; KVP_ERR_NOT_FOUND (no such pending alloc of owner);
 * KVP_ERR_EXISTS (a plain alloc whose key got committed meanwhile by an
 * overwrite: the allocation is dropped). */
int32_t kvs_commit(struct kvs *kvs, uint64_t owner, uint64_t id);

/* Arenas (docs/protocol.md, "Puts with one round trip"): a connection's
 * block of pool space that its client fills itself. kvs_arena_take takes
 * max bytes of free space where an ALLOC would (first fit), else the
 * largest free block if it holds min, else min bytes evicting as an ALLOC
 * does (so a full pool never loses more objects to an arena than to a put
 * of min bytes); *len_p says how much. kvs_arena_give returns a
 * piece of one (64-byte aligned, rounded length) never handed to
 * kvs_put_at. */
int32_t kvs_arena_take(struct kvs *kvs, uint64_t min, uint64_t max,
                       uint64_t *raddr_p, uint64_t *len_p);
void kvs_arena_give(struct kvs *kvs, uint64_t raddr, uint64_t len);
/* ALLOC + COMMIT in one step for an object its client already wrote at
 * [raddr, raddr + len), a piece of its arena: the same rules (EXISTS,
 * overwrite replaces atomically, a group member's overwrite replaces the
 * group). The piece is the store's either way: on failure it goes back to
 * the pool. */
int32_t kvs_put_at(struct kvs *kvs, uint64_t owner, const void *key,
                   uint16_t key_len, uint64_t raddr, uint64_t len,
                   uint32_t flags);
int32_t kvs_abort(struct kvs *kvs, uint64_t owner, uint64_t id);
/* KVP_OK with (*raddr_p, *len_p, *lease_p: 0 with KVS_LOOKUP_NO_LEASE),
 * KVP_ERR_NOT_FOUND, KVP_ERR_NO_MEMORY. */
int32_t kvs_lookup(struct kvs *kvs, uint64_t owner, const void *key,
                   uint16_t key_len, uint32_t flags, uint64_t now_ns,
                   uint64_t *raddr_p, uint64_t *len_p, uint64_t *lease_p);
int32_t kvs_release(struct kvs *kvs, uint64_t owner, uint64_t lease_id);
/* Removing a member of a group removes the whole group. */
int32_t kvs_remove(struct kvs *kvs, const void *key, uint16_t key_len);
/* Removes every committed key starting with prefix (len 0: every key) and
 * the rest of the groups they belong to; *removed_p = objects removed. */
int32_t kvs_remove_prefix(struct kvs *kvs, const void *prefix,
                          uint16_t prefix_len, uint64_t *removed_p);
/* Drops leases that expired by now_ns; returns how many. */
uint64_t kvs_expire(struct kvs *kvs, uint64_t now_ns);
/* The owner's connection closed: abort its pending allocs, drop its leases. */
void kvs_owner_gone(struct kvs *kvs, uint64_t owner);
void kvs_stats(struct kvs *kvs, struct kvs_stats *st);

/* One committed key (kvs_keys). */
struct kvs_key {
    const char *key; /* key_len bytes inside the block kvs_keys returned */
    uint16_t key_len;
    uint64_t len; /* object bytes */
};
/* Up to limit committed keys that start with prefix (plen 0: all), in no
 * particular order: *keys_p is one malloc'd block (free() it) holding *n_p
 * entries and their bytes; *more_p = 1 when more keys matched. Scans the
 * whole index under the store's lock: an operator's tool, not a data
 * path. KVP_ERR_NO_MEMORY. */
int32_t kvs_keys(struct kvs *kvs, const void *prefix, uint16_t plen,
                 uint32_t limit, struct kvs_key **keys_p, uint32_t *n_p,
                 int *more_p);

#endif /* KVP_SERVER_KVSTORE_H */
