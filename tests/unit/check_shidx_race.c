/* check_shidx_race.c - gets without a round trip (proto/shidx.c with the
 * store, server/kvstore.c, keeping it in step): a reader that copies an
 * object while it is overwritten, removed, or evicted always copies the
 * whole object it found - its memory is not reused until the reader's
 * epoch ends (server/grace.c) - so it returns that object, never torn
 * bytes, and never writes a buffer it then reports as TOO_SMALL or
 * NOT_FOUND. A reader revoked past the lease timeout falls back to the
 * per-slot check and the lookup. A reader word cleared (its connection
 * gone) holds nothing back. Reference bytes keep read objects from
 * eviction. The pool is a heap block; "clients" write it byte by byte.
 *
 * The interleavings are forced, not hoped for: the reader's copy runs a
 * hook half-way that performs the racing operation, so each case is
 * deterministic. The same source is built a second time with
 * SHIDX_MUTANT_NO_GRACE (check_shidx_race_mutant, tests/CMakeLists.txt):
 * the store then reuses memory regardless of readers, and every race case
 * must see torn bytes - the proof that these tests catch a missing grace
 * period. A last case races real threads (writer overwriting, removing
 * and reusing memory; readers checking every byte) until the readers made
 * 400 whole copies between them (a reader descheduled mid-copy holds the
 * writer's frees back meanwhile, so a count of tries could pass with no
 * copy made under load). */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "kvstore.h"
#include "shidx.h"

#define S (64u << 10) /* object size */

#ifdef SHIDX_MUTANT_NO_GRACE
#define MUTANT 1
#else
#define MUTANT 0
#endif

struct rig {
    uint8_t *pool;
    void *seg;
    struct shidx ix;
    struct kvs *kvs;
    /* the racing operation, run once half-way through the next copy */
    void (*hook)(struct rig *r);
    int retries;
    int32_t hook_st; /* the status of the hook's last racing put */
};

static void rig_init(struct rig *r, uint64_t pool_bytes)
{
    memset(r, 0, sizeof(*r));
    r->pool = aligned_alloc(64, pool_bytes);
    ck_assert_ptr_nonnull(r->pool);
    uint32_t slots = shidx_slots_for(0);
    size_t len = shidx_seg_size(slots);
    r->seg = aligned_alloc(4096, len);
    ck_assert_ptr_nonnull(r->seg);
    memset(r->seg, 0, len);
    uint8_t seed[SHIDX_SEED_LEN] = {9, 8, 7};
    uint8_t cookie[SHIDX_COOKIE_LEN] = {1, 2, 3};
    shidx_init(r->seg, slots, pool_bytes, seed, cookie);
    const char *why = NULL;
    uint8_t *b = r->seg;
    ck_assert_int_eq(shidx_view(&r->ix, b, len, cookie, b + shidx_rw_off(),
                                b + shidx_slot_off(slots), &why),
                     0);
    r->ix.n_readers = 1; /* the server's scan covers reader word 0 */
    r->ix.me = &r->ix.reader[0];
    struct kvs_params p = {.size = pool_bytes,
                           .base_addr = (uint64_t)(uintptr_t)r->pool,
                           .shidx = &r->ix};
    ck_assert_int_eq(kvs_create(&p, &r->kvs), KVP_OK);
}

static void rig_fini(struct rig *r)
{
    kvs_destroy(r->kvs);
    free(r->seg);
    free(r->pool);
}

/* The pool's bytes are read and written racily on purpose - the check
 * after the copy is what is tested - so the copy and the fill are done
 * by hand with volatile accesses, which ThreadSanitizer is told not to
 * instrument (a memcpy would be intercepted); the slots and the store
 * stay checked in the tsan lane. */
#define RACY __attribute__((noinline, no_sanitize("thread")))

void shidx_race_copy(void *dst, const void *src, size_t n);
void shidx_race_fill(void *dst, uint8_t pat, size_t n);

RACY void shidx_race_copy(void *dst, const void *src, size_t n)
{
    volatile uint8_t *d = dst;
    const volatile uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}

RACY void shidx_race_fill(void *dst, uint8_t pat, size_t n)
{
    volatile uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = pat;
}

/* A client's put: alloc, write the pattern byte into every byte, commit. */
static int32_t put(struct rig *r, const char *key, uint8_t pat, uint32_t fl)
{
    uint64_t raddr, id;
    int32_t st = kvs_alloc(r->kvs, 1, key, (uint16_t)strlen(key), S, fl,
                           &raddr, &id);
    if (st != KVP_OK)
        return st;
    shidx_race_fill((void *)(uintptr_t)raddr, pat, S);
    return kvs_commit(r->kvs, 1, id);
}

/* A get as plugin/fastget.c does it: announce, find, copy, end (and the
 * slot check only when revoked); a miss asks the store (LOOKUP with a
 * lease, copy, release). Returns the size or a status. */
static int64_t get(struct rig *r, const char *key, uint8_t *dst)
{
    uint16_t kl = (uint16_t)strlen(key);
    for (int t = 0; t < 4; t++) {
        struct shidx_hit h;
        uint64_t ticket = shidx_read_begin(&r->ix);
        if (shidx_find(&r->ix, key, kl, &h) != SHIDX_HIT) {
            shidx_read_end(&r->ix, ticket);
            break;
        }
        ck_assert_uint_le(h.len, S);
        const uint8_t *src = (const uint8_t *)(uintptr_t)h.raddr;
        size_t half = h.len / 2;
        shidx_race_copy(dst, src, half);
        if (r->hook != NULL) {
            void (*hook)(struct rig *) = r->hook;
            r->hook = NULL;
            hook(r);
        }
        shidx_race_copy(dst + half, src + half, h.len - half);
        int whole = shidx_read_end(&r->ix, ticket);
        if (whole || shidx_still(&r->ix, &h)) {
            shidx_touch(&r->ix, h.slot);
            return (int64_t)h.len;
        }
        r->retries++;
    }
    uint64_t raddr, len, lease;
    int32_t st = kvs_lookup(r->kvs, 2, key, kl, 0, 0, &raddr, &len, &lease);
    if (st != KVP_OK)
        return st;
    shidx_race_copy(dst, (const void *)(uintptr_t)raddr, len);
    kvs_release(r->kvs, 2, lease);
    return (int64_t)len;
}

/* 1 when all n bytes are pat. */
static int all_are(const uint8_t *b, size_t n, uint8_t pat)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat)
            return 0;
    return 1;
}

/* The first half is old, the second half of the reused memory's new
 * object: what a get without the check returns. */
static int torn(const uint8_t *b, uint8_t old, uint8_t reuse)
{
    return all_are(b, S / 2, old) && all_are(b + S / 2, S / 2, reuse);
}

static uint8_t buf[S];

/* A get whose object was overwritten, removed or evicted half-way
 * through its copy and whose block another object (0xC3, the hook's last
 * put) wanted: the reader's epoch kept the block from it (that put found
 * no space), so the get returns the whole object it found (old: the
 * value when it looked) at once; afterwards the block is free again.
 * The mutant lets the put take the block and returns the torn bytes. */
static void expect_whole_old(struct rig *r, int64_t n, uint8_t old)
{
    ck_assert_int_eq(n, S);
    if (MUTANT) {
        ck_assert_int_eq(r->hook_st, KVP_OK);
        ck_assert_msg(torn(buf, old, 0xC3), "the mutant must return torn");
        return;
    }
    ck_assert_int_eq(r->hook_st, KVP_ERR_NO_SPACE);
    ck_assert_msg(all_are(buf, S, old), "not the whole object found");
    ck_assert_int_eq(r->retries, 0);
    /* the reader is done: the memory it held is given back */
    ck_assert_int_eq(put(r, "K2", 0xC3, 0), KVP_OK);
}

/* overwrite: K gets a new object in the other block; K2 wants K's old
 * block (the store evicts the new K first: two blocks, one held) */
static void overwrite_then_reuse(struct rig *r)
{
    ck_assert_int_eq(put(r, "K", 0xB2, KVS_ALLOC_OVERWRITE), KVP_OK);
    r->hook_st = put(r, "K2", 0xC3, 0);
}

START_TEST(copy_during_overwrite_and_reuse)
{
    struct rig r;
    rig_init(&r, 2 * S);
    ck_assert_int_eq(put(&r, "K", 0xA1, 0), KVP_OK);
    r.hook = overwrite_then_reuse;
    memset(buf, 0, S);
    int64_t n = get(&r, "K", buf);
    expect_whole_old(&r, n, 0xA1);
    rig_fini(&r);
}
END_TEST

static void remove_then_reuse(struct rig *r)
{
    ck_assert_int_eq(kvs_remove(r->kvs, "K", 1), KVP_OK);
    r->hook_st = put(r, "K2", 0xC3, 0);
}

START_TEST(copy_during_remove_and_reuse)
{
    struct rig r;
    rig_init(&r, S); /* the pool holds one object */
    ck_assert_int_eq(put(&r, "K", 0xA1, 0), KVP_OK);
    r.hook = remove_then_reuse;
    int64_t n = get(&r, "K", buf);
    expect_whole_old(&r, n, 0xA1);
    rig_fini(&r);
}
END_TEST

/* the pool holds one object: K2 evicts K and wants its block */
static void evict_by_reuse(struct rig *r)
{
    r->hook_st = put(r, "K2", 0xC3, 0);
}

START_TEST(copy_during_eviction_and_reuse)
{
    struct rig r;
    rig_init(&r, S);
    ck_assert_int_eq(put(&r, "K", 0xA1, 0), KVP_OK);
    r.hook = evict_by_reuse;
    int64_t n = get(&r, "K", buf);
    struct kvs_stats st;
    kvs_stats(r.kvs, &st);
    ck_assert_uint_eq(st.evictions, 1);
    expect_whole_old(&r, n, 0xA1);
    rig_fini(&r);
}
END_TEST

/* An overwrite in place (same slot) without reuse: the reader returns the
 * old object whole (the value when it looked), with no retry. */
static void overwrite_only(struct rig *r)
{
    ck_assert_int_eq(put(r, "K", 0xB2, KVS_ALLOC_OVERWRITE), KVP_OK);
}

START_TEST(copy_during_overwrite_without_reuse)
{
    struct rig r;
    rig_init(&r, 2 * S);
    ck_assert_int_eq(put(&r, "K", 0xA1, 0), KVP_OK);
    r.hook = overwrite_only;
    int64_t n = get(&r, "K", buf);
    ck_assert_int_eq(n, S);
    ck_assert(all_are(buf, S, 0xA1));
    ck_assert_int_eq(r.retries, 0);
    rig_fini(&r);
}
END_TEST

/* A reader stalled past the lease timeout is revoked: the store gives its
 * memory back anyway (here to K2), and the reader, told so by
 * shidx_read_end, trusts only copies whose slot did not move: it refuses
 * this one and the lookup says NOT_FOUND. The mutant never waited, so it
 * never revokes and returns the torn bytes. */
static void remove_expire_reuse(struct rig *r)
{
    ck_assert_int_eq(kvs_remove(r->kvs, "K", 1), KVP_OK);
    uint64_t later = kvp_now_ns() + 2ull * KVS_DEFAULT_LEASE_TIMEOUT_MS *
                                        1000000ull;
    kvs_expire(r->kvs, later);
    r->hook_st = put(r, "K2", 0xC3, 0);
}

START_TEST(revoked_reader_checks_its_copy)
{
    struct rig r;
    rig_init(&r, S);
    ck_assert_int_eq(put(&r, "K", 0xA1, 0), KVP_OK);
    r.hook = remove_expire_reuse;
    int64_t n = get(&r, "K", buf);
    ck_assert_int_eq(r.hook_st, KVP_OK);
    if (MUTANT) {
        ck_assert_int_eq(n, S);
        ck_assert_msg(torn(buf, 0xA1, 0xC3), "the mutant must return torn");
    } else {
        ck_assert_int_eq(n, KVP_ERR_NOT_FOUND);
        ck_assert_int_eq(r.retries, 1);
    }
    rig_fini(&r);
}
END_TEST

/* A reader word cleared by the server (its connection went away, e.g. a
 * client killed with -9 mid-read) holds no memory back. */
START_TEST(cleared_reader_holds_nothing)
{
    struct rig r;
    rig_init(&r, S);
    ck_assert_int_eq(put(&r, "K", 0xA1, 0), KVP_OK);
    (void)shidx_read_begin(&r.ix); /* ... and never ends */
    ck_assert_int_eq(kvs_remove(r.kvs, "K", 1), KVP_OK);
    ck_assert_int_eq(put(&r, "K2", 0xC3, 0),
                     MUTANT ? KVP_OK : KVP_ERR_NO_SPACE);
    shidx_reader_reset(&r.ix, 0);
    if (!MUTANT)
        ck_assert_int_eq(put(&r, "K2", 0xC3, 0), KVP_OK);
    struct shidx_hit h;
    ck_assert_int_eq(shidx_find(&r.ix, "K2", 2, &h), SHIDX_HIT);
    rig_fini(&r);
}
END_TEST

/* Never published before commit; an aborted allocation never at all. */
START_TEST(pending_never_visible)
{
    struct rig r;
    rig_init(&r, 2 * S);
    uint64_t raddr, id;
    ck_assert_int_eq(kvs_alloc(r.kvs, 1, "P", 1, S, 0, &raddr, &id), KVP_OK);
    struct shidx_hit h;
    ck_assert_int_eq(shidx_find(&r.ix, "P", 1, &h), SHIDX_MISS);
    ck_assert_int_eq(kvs_abort(r.kvs, 1, id), KVP_OK);
    ck_assert_int_eq(shidx_find(&r.ix, "P", 1, &h), SHIDX_MISS);
    ck_assert_int_eq(put(&r, "P", 0x11, 0), KVP_OK);
    ck_assert_int_eq(shidx_find(&r.ix, "P", 1, &h), SHIDX_HIT);
    ck_assert_uint_eq(h.len, S);
    rig_fini(&r);
}
END_TEST

/* The LRU learns of reads through the reference bytes: of two objects,
 * the older one read through the index survives the next eviction. */
START_TEST(reads_keep_objects_from_eviction)
{
    for (int touched = 0; touched < 2; touched++) {
        struct rig r;
        rig_init(&r, 2 * S);
        ck_assert_int_eq(put(&r, "old", 0x01, 0), KVP_OK);
        ck_assert_int_eq(put(&r, "new", 0x02, 0), KVP_OK);
        if (touched)
            ck_assert_int_eq(get(&r, "old", buf), S);
        ck_assert_int_eq(put(&r, "third", 0x03, 0), KVP_OK);
        struct shidx_hit h;
        ck_assert_int_eq(shidx_find(&r.ix, "old", 3, &h),
                         touched ? SHIDX_HIT : SHIDX_MISS);
        ck_assert_int_eq(shidx_find(&r.ix, "new", 3, &h),
                         touched ? SHIDX_MISS : SHIDX_HIT);
        rig_fini(&r);
    }
}
END_TEST

/* ---- TP groups (DESIGN §3) -------------------------------------------- */

/* Members of base "T": T_tp_0, T_tp_1, each S bytes of pat. The first
 * member is committed before *mid runs (may be NULL), the second after. */
static void put_group(struct rig *r, uint8_t pat, uint32_t fl,
                      void (*mid)(struct rig *r))
{
    struct kvs_group *g = kvs_group_open(r->kvs, 1, "T", 1, fl);
    ck_assert_ptr_nonnull(g);
    uint64_t raddr[2], id[2];
    const char *key[2] = {"T_tp_0", "T_tp_1"};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(kvs_alloc_in(r->kvs, g, 1, key[i], 6, S, fl,
                                      &raddr[i], &id[i]),
                         KVP_OK);
        shidx_race_fill((void *)(uintptr_t)raddr[i], pat, S);
    }
    kvs_group_close(r->kvs, g);
    ck_assert_int_eq(kvs_commit(r->kvs, 1, id[0]), KVP_OK);
    if (mid != NULL)
        mid(r);
    ck_assert_int_eq(kvs_commit(r->kvs, 1, id[1]), KVP_OK);
}

static void neither_member_visible(struct rig *r)
{
    struct shidx_hit h;
    ck_assert_int_eq(shidx_find(&r->ix, "T_tp_0", 6, &h), SHIDX_MISS);
    ck_assert_int_eq(shidx_find(&r->ix, "T_tp_1", 6, &h), SHIDX_MISS);
}

START_TEST(group_visible_only_whole)
{
    struct rig r;
    rig_init(&r, 4 * S);
    put_group(&r, 0x44, 0, neither_member_visible);
    struct shidx_hit h;
    ck_assert_int_eq(shidx_find(&r.ix, "T_tp_0", 6, &h), SHIDX_HIT);
    ck_assert_int_eq(shidx_find(&r.ix, "T_tp_1", 6, &h), SHIDX_HIT);
    rig_fini(&r);
}
END_TEST

/* Removing the other member removes the group; its blocks are wanted. */
static void remove_other_member_then_reuse(struct rig *r)
{
    ck_assert_int_eq(kvs_remove(r->kvs, "T_tp_1", 6), KVP_OK);
    r->hook_st = put(r, "K2", 0xC3, 0);
}

START_TEST(copy_during_group_removal_and_reuse)
{
    struct rig r;
    rig_init(&r, 2 * S);
    put_group(&r, 0x44, 0, NULL);
    r.hook = remove_other_member_then_reuse;
    int64_t n = get(&r, "T_tp_0", buf);
    expect_whole_old(&r, n, 0x44);
    struct shidx_hit h;
    ck_assert_int_eq(shidx_find(&r.ix, "T_tp_1", 6, &h), SHIDX_MISS);
    rig_fini(&r);
}
END_TEST

/* ---- threads ----------------------------------------------------------- */

#define HITS 400 /* whole copies the readers make between them */

struct race {
    struct rig r;
    pthread_mutex_t lock; /* the store is thread-safe; the rig's fallback
                           * path is too, the hook is unused */
    atomic_int stop;
    atomic_int bad, hits, retried;
};

/* Keeps rewriting K (every byte = a fresh pattern), removing it, and
 * filling the pool with other keys so K's blocks are reused at once. */
static void *writer_main(void *arg)
{
    struct race *x = arg;
    uint8_t pat = 1;
    char key[16];
    for (unsigned i = 0; !atomic_load(&x->stop); i++) {
        pat = (uint8_t)(pat % 250 + 1);
        if (i % 7 == 6)
            kvs_remove(x->r.kvs, "K", 1);
        else
            put(&x->r, "K", pat, KVS_ALLOC_OVERWRITE);
        snprintf(key, sizeof(key), "f%u", i % 5);
        put(&x->r, key, 0xFF, KVS_ALLOC_OVERWRITE);
    }
    return NULL;
}

struct reader_arg {
    struct race *x;
    uint32_t word; /* its own reader word, as each connection has */
};

static void *reader_main(void *arg)
{
    struct reader_arg *ra = arg;
    struct race *x = ra->x;
    struct shidx ix = x->r.ix;
    ix.me = &ix.reader[ra->word];
    uint8_t *b = malloc(S);
    ck_assert_ptr_nonnull(b);
    while (atomic_load(&x->hits) < HITS) {
        struct shidx_hit h;
        uint64_t ticket = shidx_read_begin(&ix);
        if (shidx_find(&ix, "K", 1, &h) != SHIDX_HIT) {
            shidx_read_end(&ix, ticket);
            continue;
        }
        if (h.len != S) {
            shidx_read_end(&ix, ticket);
            atomic_fetch_add(&x->bad, 1);
            continue;
        }
        shidx_race_copy(b, (const void *)(uintptr_t)h.raddr, S);
        if (!shidx_read_end(&ix, ticket) && !shidx_still(&ix, &h)) {
            atomic_fetch_add(&x->retried, 1);
            continue;
        }
        atomic_fetch_add(&x->hits, 1);
        if (b[0] == 0xFF || b[0] == 0 || !all_are(b, S, b[0]))
            atomic_fetch_add(&x->bad, 1);
    }
    free(b);
    return NULL;
}

START_TEST(threads_never_return_torn)
{
    struct race *x = calloc(1, sizeof(*x));
    ck_assert_ptr_nonnull(x);
    rig_init(&x->r, 3 * S); /* K, one filler, one spare: constant reuse */
    put(&x->r, "K", 1, 0);
    x->r.ix.n_readers = 2;
    pthread_t w, rd[2];
    struct reader_arg ra[2] = {{x, 0}, {x, 1}};
    ck_assert_int_eq(pthread_create(&w, NULL, writer_main, x), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&rd[i], NULL, reader_main, &ra[i]),
                         0);
    for (int i = 0; i < 2; i++)
        pthread_join(rd[i], NULL);
    atomic_store(&x->stop, 1);
    pthread_join(w, NULL);
    if (getenv("SHIDX_RACE_VERBOSE") != NULL)
        fprintf(stderr, "threads: %d hits, %d refused, %d bad\n",
                atomic_load(&x->hits), atomic_load(&x->retried),
                atomic_load(&x->bad));
    if (!MUTANT)
        ck_assert_int_eq(atomic_load(&x->bad), 0);
    rig_fini(&x->r);
    free(x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shidx_race");
    TCase *tc = tcase_create("race");
    tcase_add_test(tc, copy_during_overwrite_and_reuse);
    tcase_add_test(tc, copy_during_remove_and_reuse);
    tcase_add_test(tc, copy_during_eviction_and_reuse);
    tcase_add_test(tc, copy_during_overwrite_without_reuse);
    tcase_add_test(tc, revoked_reader_checks_its_copy);
    tcase_add_test(tc, cleared_reader_holds_nothing);
    tcase_add_test(tc, pending_never_visible);
    tcase_add_test(tc, reads_keep_objects_from_eviction);
    tcase_add_test(tc, group_visible_only_whole);
    tcase_add_test(tc, copy_during_group_removal_and_reuse);
    tcase_add_test(tc, threads_never_return_torn);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
