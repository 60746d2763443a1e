/* shidx.c - the shared index's layout, writer and reader (see shidx.h and
 * docs/protocol.md, "Gets without a round trip"). */
#include "shidx.h"

#include <stdatomic.h>
#include <string.h>

#include "hash.h"
#include "shm_ring.h"

#define PAGE 4096u

static size_t round_page(size_t n)
{
    return (n + PAGE - 1) / PAGE * PAGE;
}

uint32_t shidx_slots_for(uint64_t want)
{
    uint32_t n = 1024;
    while (n < want && n < (UINT32_C(1) << 22))
        n <<= 1;
    return n;
}

_Static_assert(sizeof(struct shidx_hdr) <= SHIDX_HDR_BYTES, "header page");
_Static_assert(sizeof(struct shidx_reader) == SHIDX_READER_BYTES, "a line");

#define READERS_BYTES ((size_t)SHIDX_READERS * SHIDX_READER_BYTES)

size_t shidx_rw_off(void)
{
    return SHIDX_HDR_BYTES;
}

size_t shidx_slot_off(uint32_t slots)
{
    return SHIDX_HDR_BYTES + READERS_BYTES + round_page(slots);
}

size_t shidx_seg_size(uint32_t slots)
{
    return shidx_slot_off(slots) + (size_t)slots * SHIDX_SLOT_BYTES;
}

void shidx_init(void *seg, uint32_t slots, uint64_t pool_bytes,
                const uint8_t seed[SHIDX_SEED_LEN],
                const uint8_t cookie[SHIDX_COOKIE_LEN])
{
    struct shidx_hdr *h = seg;
    h->magic = SHIDX_MAGIC;
    h->version = SHIDX_VERSION;
    h->slots = slots;
    h->pool_bytes = pool_bytes;
    memcpy(h->seed, seed, SHIDX_SEED_LEN);
    memcpy(h->cookie, cookie, SHIDX_COOKIE_LEN);
    h->epoch = 1; /* a reader word of 0 means "not reading" */
}

int shidx_view(struct shidx *ix, const void *hdr, size_t bytes,
               const uint8_t cookie[SHIDX_COOKIE_LEN], void *rw,
               const void *slots, const char **why)
{
    const struct shidx_hdr *h = hdr;
    if (bytes < SHIDX_HDR_BYTES || h->magic != SHIDX_MAGIC ||
        h->version != SHIDX_VERSION) {
        *why = "the index segment has another magic or version";
        return -1;
    }
    if (h->slots < 1024 || (h->slots & (h->slots - 1)) != 0 ||
        shidx_seg_size(h->slots) != bytes) {
        *why = "the index segment's slot count does not match its size";
        return -1;
    }
    if (memcmp(h->cookie, cookie, SHIDX_COOKIE_LEN) != 0) {
        *why = "the index segment's cookie does not match";
        return -1;
    }
    ix->slot = (struct shidx_slot *)slots;
    ix->reader = rw;
    ix->ref = (uint8_t *)rw + READERS_BYTES;
    ix->epoch = (uint64_t *)&h->epoch; /* written only by the server */
    ix->mask = h->slots - 1;
    ix->n_readers = 0;
    ix->me = NULL;
    memcpy(ix->seed, h->seed, SHIDX_SEED_LEN);
    return 0;
}

void shidx_desc_put(void *seg, const struct shidx_desc *d, uint32_t reader)
{
    uint8_t *p = (uint8_t *)seg + SHIDX_DESC_OFF;
    memcpy(p, &d->fd, 4);
    memcpy(p + 4, &d->slots, 4);
    memcpy(p + 8, &d->bytes, 8);
    memcpy(p + 16, d->cookie, SHIDX_COOKIE_LEN);
    memcpy(p + 16 + SHIDX_COOKIE_LEN, &reader, 4);
}

uint32_t shidx_desc_get(const void *seg, struct shidx_desc *d)
{
    const uint8_t *p = (const uint8_t *)seg + SHIDX_DESC_OFF;
    uint32_t reader;
    memcpy(&d->fd, p, 4);
    memcpy(&d->slots, p + 4, 4);
    memcpy(&d->bytes, p + 8, 8);
    memcpy(d->cookie, p + 16, SHIDX_COOKIE_LEN);
    memcpy(&reader, p + 16 + SHIDX_COOKIE_LEN, 4);
    return reader;
}

/* ---- writer ------------------------------------------------------------ */

static uint64_t key_hash(const struct shidx *ix, const void *key,
                         uint16_t len)
{
    return kvp_hash_keyed(ix->seed, key, len);
}

static void write_begin(struct shidx_slot *s)
{
    uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
    atomic_thread_fence(memory_order_release);
}

static void write_end(struct shidx_slot *s)
{
    uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
}

int64_t shidx_publish(struct shidx *ix, int64_t slot, const void *key,
                      uint16_t key_len, uint64_t raddr, uint64_t len)
{
    if (key_len == 0 || key_len > SHIDX_KEY_MAX)
        return -1;
    uint64_t h = key_hash(ix, key, key_len);
    if (slot < 0) {
        for (uint32_t i = 0; i < SHIDX_WINDOW && slot < 0; i++) {
            uint32_t j = (uint32_t)(h + i) & ix->mask;
            if (ix->slot[j].key_len == 0)
                slot = j;
        }
        if (slot < 0)
            return -1;
    }
    struct shidx_slot *s = &ix->slot[slot];
    write_begin(s);
    __atomic_store_n(&s->hash, h, __ATOMIC_RELAXED);
    __atomic_store_n(&s->raddr, raddr, __ATOMIC_RELAXED);
    __atomic_store_n(&s->len, len, __ATOMIC_RELAXED);
    __atomic_store_n(&s->key_len, key_len, __ATOMIC_RELAXED);
    /* byte by byte, atomically: readers load these while they may change
     * (their seq check discards what they saw then) */
    for (uint16_t b = 0; b < key_len; b++)
        __atomic_store_n(&s->key[b], ((const char *)key)[b],
                         __ATOMIC_RELAXED);
    write_end(s);
    __atomic_store_n(&ix->ref[slot], 0, __ATOMIC_RELAXED);
    return slot;
}

void shidx_clear(struct shidx *ix, int64_t slot)
{
    if (slot < 0)
        return;
    struct shidx_slot *s = &ix->slot[slot];
    write_begin(s);
    __atomic_store_n(&s->key_len, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->hash, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->len, 0, __ATOMIC_RELAXED);
    write_end(s);
}

int shidx_take_ref(struct shidx *ix, int64_t slot)
{
    if (slot < 0 || __atomic_load_n(&ix->ref[slot], __ATOMIC_RELAXED) == 0)
        return 0;
    __atomic_store_n(&ix->ref[slot], 0, __ATOMIC_RELAXED);
    return 1;
}

/* ---- reclamation (the writer's side) -------------------------------------
 * Both sides order their announcement against the other's with a seq_cst
 * fence (Dekker): either the server's scan sees a reader's epoch, or the
 * reader's lookup sees the slot the server cleared before its scan. */

uint64_t shidx_retire_tag(struct shidx *ix)
{
    return __atomic_fetch_add(ix->epoch, 1, __ATOMIC_SEQ_CST);
}

uint64_t shidx_oldest_read(const struct shidx *ix)
{
#ifdef SHIDX_MUTANT_NO_GRACE
    /* the mutant the race tests must catch (tests/CMakeLists.txt) */
    (void)ix;
    return UINT64_MAX;
#else
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t oldest = UINT64_MAX;
    uint32_t n = __atomic_load_n(&ix->n_readers, __ATOMIC_ACQUIRE);
    for (uint32_t r = 0; r < n; r++) {
        uint64_t e = __atomic_load_n(&ix->reader[r].epoch, __ATOMIC_RELAXED);
        if (e != 0 && e < oldest)
            oldest = e;
    }
    return oldest;
#endif
}

uint32_t shidx_revoke(struct shidx *ix, uint64_t tag)
{
    uint32_t n = __atomic_load_n(&ix->n_readers, __ATOMIC_ACQUIRE), hit = 0;
    for (uint32_t r = 0; r < n; r++) {
        uint64_t e = __atomic_load_n(&ix->reader[r].epoch, __ATOMIC_RELAXED);
        if (e != 0 && e <= tag) {
            __atomic_fetch_add(&ix->reader[r].revoked, 1, __ATOMIC_SEQ_CST);
            hit++;
        }
    }
    return hit;
}

void shidx_reader_reset(struct shidx *ix, uint32_t r)
{
    if (r < SHIDX_READERS)
        __atomic_store_n(&ix->reader[r].epoch, 0, __ATOMIC_RELEASE);
}

/* ---- reader ------------------------------------------------------------ */

uint64_t shidx_read_begin(const struct shidx *ix)
{
    struct shidx_reader *me = ix->me;
    uint64_t ticket = __atomic_load_n(&me->revoked, __ATOMIC_ACQUIRE);
    uint64_t e = __atomic_load_n(ix->epoch, __ATOMIC_ACQUIRE);
    __atomic_store_n(&me->epoch, e, __ATOMIC_SEQ_CST);
    atomic_thread_fence(memory_order_seq_cst);
    return ticket;
}

int shidx_read_end(const struct shidx *ix, uint64_t ticket)
{
    struct shidx_reader *me = ix->me;
    /* the copies (loads) are done before the revocation is looked at */
    atomic_thread_fence(memory_order_acquire);
    uint64_t now = __atomic_load_n(&me->revoked, __ATOMIC_RELAXED);
    __atomic_store_n(&me->epoch, 0, __ATOMIC_RELEASE);
    return now == ticket;
}

#define FIND_TRIES 64

int shidx_find(const struct shidx *ix, const void *key, uint16_t key_len,
               struct shidx_hit *hit)
{
    if (key_len == 0 || key_len > SHIDX_KEY_MAX)
        return SHIDX_MISS;
    uint64_t h = key_hash(ix, key, key_len);
    char k[SHIDX_KEY_MAX];
    for (int t = 0; t < FIND_TRIES; t++) {
        int busy = 0;
        for (uint32_t i = 0; i < SHIDX_WINDOW; i++) {
            uint32_t j = (uint32_t)(h + i) & ix->mask;
            const struct shidx_slot *s = &ix->slot[j];
            uint64_t s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
            if (s1 & 1) {
                busy = 1;
                continue;
            }
            uint64_t sh = __atomic_load_n(&s->hash, __ATOMIC_RELAXED);
            uint16_t kl = __atomic_load_n(&s->key_len, __ATOMIC_RELAXED);
            uint64_t ra = __atomic_load_n(&s->raddr, __ATOMIC_RELAXED);
            uint64_t ln = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
            int cand = sh == h && kl == key_len;
            if (cand)
                for (uint16_t b = 0; b < kl; b++)
                    k[b] = __atomic_load_n(&s->key[b], __ATOMIC_RELAXED);
            atomic_thread_fence(memory_order_acquire);
            if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != s1) {
                busy = 1; /* torn: the server wrote it meanwhile */
                continue;
            }
            if (!cand || memcmp(k, key, key_len) != 0)
                continue;
            *hit = (struct shidx_hit){j, s1, ra, ln};
            return SHIDX_HIT;
        }
        if (!busy)
            return SHIDX_MISS;
        shm_cpu_relax();
    }
    return SHIDX_BUSY;
}

int shidx_still(const struct shidx *ix, const struct shidx_hit *hit)
{
    atomic_thread_fence(memory_order_acquire);
    return __atomic_load_n(&ix->slot[hit->slot].seq, __ATOMIC_RELAXED) ==
           hit->seq;
}

void shidx_touch(const struct shidx *ix, uint32_t slot)
{
    if (__atomic_load_n(&ix->ref[slot], __ATOMIC_RELAXED) == 0)
        __atomic_store_n(&ix->ref[slot], 1, __ATOMIC_RELAXED);
}
