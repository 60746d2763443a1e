/*
 * shidx.h - the shared index (docs/protocol.md, "Gets without a round
 * trip"): a table of the server's committed objects in a segment that
 * same-host clients map, so a get is a lookup, one copy and a check.
 *
 * The server is the only writer (its store's lock serialises it); every
 * slot is a seqlock: `seq` odd while the server writes the slot. A reader
 * copies a slot's fields between two loads of `seq`.
 *
 * Memory a slot named is not reused while a reader may still copy it:
 * a reader announces the index's epoch in its own reader word before it
 * looks (shidx_read_begin) and clears it after its copies
 * (shidx_read_end); the server tags memory it retires with the epoch and
 * gives it back only once no reader announced an epoch at or before the
 * tag (epoch-based reclamation). So a copy is always of one whole object,
 * the one the reader found: never torn, never reused. A reader stalled
 * past the lease timeout is revoked (its memory reclaimed anyway);
 * shidx_read_end says so, and only then does the per-slot check
 * (shidx_still) decide. The table is a cache of the store's index: a miss
 * means "ask the server", never "not found".
 */
#ifndef KVP_PROTO_SHIDX_H
#define KVP_PROTO_SHIDX_H

#include <stddef.h>
#include <stdint.h>

#define SHIDX_MAGIC      UINT64_C(0x313058444950564b) /* "KVPIDX01" LE */
#define SHIDX_VERSION    2
#define SHIDX_HDR_BYTES  4096
#define SHIDX_SLOT_BYTES 256
#define SHIDX_KEY_MAX    216
#define SHIDX_WINDOW     8 /* slots probed from hash mod slots */
#define SHIDX_SEED_LEN   16
#define SHIDX_COOKIE_LEN 32
#define SHIDX_READERS    1024 /* reader words: one per local connection */
#define SHIDX_READER_BYTES 64
#define SHIDX_NO_READER  UINT32_MAX
/* Where the per-connection ring segment (shm_ring.h) names the index:
 * fd u32 @512, slots u32 @516, bytes u64 @520, cookie[32] @528,
 * reader u32 @560 (the connection's reader word; SHIDX_NO_READER: none,
 * gets take the round trip). */
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
    uint64_t epoch __attribute__((aligned(64))); /* the server's; from 1 */
};

/* One connection's reader word (its own cache line). */
struct shidx_reader {
    uint64_t epoch;   /* 0: not reading; else the epoch it announced */
    uint64_t revoked; /* bumped by the server when it stopped waiting */
    uint8_t pad[SHIDX_READER_BYTES - 16];
};

/* What the ring segment says about the index. */
struct shidx_desc {
    uint32_t fd, slots;
    uint64_t bytes;
    uint8_t cookie[SHIDX_COOKIE_LEN];
};

/* Writes d and a connection's reader word into a ring segment at
 * SHIDX_DESC_OFF (the server); reads them back (the client), returning
 * the reader word. */
void shidx_desc_put(void *seg, const struct shidx_desc *d, uint32_t reader);
uint32_t shidx_desc_get(const void *seg, struct shidx_desc *d);

/* A view of a mapped index (server: all writable; client: the header and
 * slots read-only, the reader words and reference bytes writable). */
struct shidx {
    struct shidx_slot *slot;
    uint8_t *ref; /* one byte per slot, set by readers */
    struct shidx_reader *reader; /* SHIDX_READERS of them */
    uint64_t *epoch;
    uint32_t mask;
    uint8_t seed[SHIDX_SEED_LEN];
    uint32_t n_readers;       /* server: reader words in use are below */
    struct shidx_reader *me;  /* client: its word; NULL: no lookup-free gets */
};

#define SHIDX_HIT  0
#define SHIDX_MISS 1 /* not published (or a key too long to be) */
#define SHIDX_BUSY 2 /* a slot kept changing under the reader */

/* A table of at least want slots (power of two, 1024 ..  1 << 22). */
uint32_t shidx_slots_for(uint64_t want);
/* The writable part starts here: reader words, then reference bytes. */
size_t shidx_rw_off(void);
size_t shidx_slot_off(uint32_t slots);
size_t shidx_seg_size(uint32_t slots);

/* Writes the header of a fresh zeroed segment. */
void shidx_init(void *seg, uint32_t slots, uint64_t pool_bytes,
                const uint8_t seed[SHIDX_SEED_LEN],
                const uint8_t cookie[SHIDX_COOKIE_LEN]);
/* Checks the header at hdr (bytes long in all) against cookie and fills
 * ix from the two mappings (rw: the writable part, shidx_rw_off()).
 * -1 with *why on a mismatch. */
int shidx_view(struct shidx *ix, const void *hdr, size_t bytes,
               const uint8_t cookie[SHIDX_COOKIE_LEN], void *rw,
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

/* Tags memory whose slot was cleared or taken over before this call: it
 * may be given back once shidx_oldest_read() is above the tag. */
uint64_t shidx_retire_tag(struct shidx *ix);
/* The oldest epoch a reader announced; UINT64_MAX when none reads. */
uint64_t shidx_oldest_read(const struct shidx *ix);
/* Stops waiting for readers that announced an epoch <= tag (stalled past
 * the lease timeout): their shidx_read_end returns 0. Returns how many. */
uint32_t shidx_revoke(struct shidx *ix, uint64_t tag);
/* Clears reader word r (its connection is gone). */
void shidx_reader_reset(struct shidx *ix, uint32_t r);

/* ---- reader (a client) ------------------------------------------------ */

struct shidx_hit {
    uint32_t slot;
    uint64_t seq, raddr, len;
};

/* Announces a read through ix->me: until shidx_read_end, memory that any
 * slot names when shidx_find looks is not given back. Returns the ticket
 * for shidx_read_end. One read at a time per reader word. */
uint64_t shidx_read_begin(const struct shidx *ix);
/* Ends it: 1 when every copy since shidx_read_begin is whole (the server
 * waited); 0 when the reader was revoked, and then only the copies that
 * shidx_still() confirms count. */
int shidx_read_end(const struct shidx *ix, uint64_t ticket);

/* SHIDX_HIT with *hit (a consistent snapshot of the key's slot),
 * SHIDX_MISS or SHIDX_BUSY. */
int shidx_find(const struct shidx *ix, const void *key, uint16_t key_len,
               struct shidx_hit *hit);
/* 1 when hit's slot still holds what shidx_find saw: call after copying
 * the object when shidx_read_end said 0; 0 means the copy may be torn or
 * of reused memory. */
int shidx_still(const struct shidx *ix, const struct shidx_hit *hit);
/* Tells the server's LRU the object was read. */
void shidx_touch(const struct shidx *ix, uint32_t slot);

#endif /* KVP_PROTO_SHIDX_H */
