/*
 * shidx.h - the shared index (docs/protocol.md, "Gets without a round
 * trip"): a table of the server's committed objects in a segment that
 * same-host clients map, so a get is a lookup, one copy and a check.
 *
 * The server is the only writer (its store's lock serialises it); every
 * slot is a seqlock: `seq` odd while the server writes the slot, and it
 * moves before the server gives the slot's memory back to its allocator.
 * A reader copies a slot's fields between two loads of `seq`, copies the
 * object, and returns the copy only when shidx_still() says `seq` did not
 * move. The table is a cache of the store's index: a miss means "ask the
 * server", never "not found".
 */
#ifndef KVP_PROTO_SHIDX_H
#define KVP_PROTO_SHIDX_H

#include <stddef.h>
#include <stdint.h>

#define SHIDX_MAGIC      UINT64_C(0x313058444950564b) /* "KVPIDX01" LE */
#define SHIDX_VERSION    1
#define SHIDX_HDR_BYTES  4096
#define SHIDX_SLOT_BYTES 256
#define SHIDX_KEY_MAX    216
#define SHIDX_WINDOW     8 /* slots probed from hash mod slots */
#define SHIDX_SEED_LEN   16
#define SHIDX_COOKIE_LEN 32
/* Where the per-connection ring segment (shm_ring.h) names the index:
 * fd u32 @512, slots u32 @516, bytes u64 @520, cookie[32] @528. */
#define SHIDX_DESC_OFF 512

struct shidx_slot {
    uint64_t seq; /* odd: being written */
    uint64_t hash;
    uint64_t raddr;
    uint64_t len;
    uint16_t key_len; /* 0: free */
    uint8_t pad[6];
    char key[SHIDX_KEY_MAX];
};

struct shidx_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t slots;
    uint64_t pool_bytes;
    uint8_t seed[SHIDX_SEED_LEN];
    uint8_t cookie[SHIDX_COOKIE_LEN];
};

/* What the ring segment says about the index. */
struct shidx_desc {
    uint32_t fd, slots;
    uint64_t bytes;
    uint8_t cookie[SHIDX_COOKIE_LEN];
};

/* A view of a mapped index (server: all writable; client: the slots
 * read-only, the reference bytes writable). */
struct shidx {
    struct shidx_slot *slot;
    uint8_t *ref; /* one byte per slot, set by readers */
    uint32_t mask;
    uint8_t seed[SHIDX_SEED_LEN];
};

#define SHIDX_HIT  0
#define SHIDX_MISS 1 /* not published (or a key too long to be) */
#define SHIDX_BUSY 2 /* a slot kept changing under the reader */

/* A table of at least want slots (power of two, 1024 ..  1 << 22). */
uint32_t shidx_slots_for(uint64_t want);
size_t shidx_ref_off(void);
size_t shidx_slot_off(uint32_t slots);
size_t shidx_seg_size(uint32_t slots);

/* Writes the header of a fresh zeroed segment. */
void shidx_init(void *seg, uint32_t slots, uint64_t pool_bytes,
                const uint8_t seed[SHIDX_SEED_LEN],
                const uint8_t cookie[SHIDX_COOKIE_LEN]);
/* Checks the header at hdr (bytes long in all) against cookie and fills
 * ix from the two mappings. -1 with *why on a mismatch. */
int shidx_view(struct shidx *ix, const void *hdr, size_t bytes,
               const uint8_t cookie[SHIDX_COOKIE_LEN], void *ref,
               const void *slots, const char **why);

/* ---- writer (the server; the caller serialises) ---------------------- */

/* Publishes key -> (raddr, len): in place into slot when slot >= 0 (an
 * overwrite: the same slot, a new seq), else into a free slot of its
 * window. Returns the slot, or -1 when it is not published (key too long,
 * window full). Clears the slot's reference byte. */
int64_t shidx_publish(struct shidx *ix, int64_t slot, const void *key,
                      uint16_t key_len, uint64_t raddr, uint64_t len);
/* Empties slot (its seq moves): call before the memory it named is
 * given back. */
void shidx_clear(struct shidx *ix, int64_t slot);
/* 1 when a reader touched slot since the last call (and clears it). */
int shidx_take_ref(struct shidx *ix, int64_t slot);

/* ---- reader (a client) ------------------------------------------------ */

struct shidx_hit {
    uint32_t slot;
    uint64_t seq, raddr, len;
};

/* SHIDX_HIT with *hit (a consistent snapshot of the key's slot),
 * SHIDX_MISS or SHIDX_BUSY. */
int shidx_find(const struct shidx *ix, const void *key, uint16_t key_len,
               struct shidx_hit *hit);
/* 1 when hit's slot still holds what shidx_find saw: call after copying
 * the object; 0 means the copy may be torn or of reused memory. */
int shidx_still(const struct shidx *ix, const struct shidx_hit *hit);
/* Tells the server's LRU the object was read. */
void shidx_touch(const struct shidx *ix, uint32_t slot);

#endif /* KVP_PROTO_SHIDX_H */
