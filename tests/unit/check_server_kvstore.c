/* check_server_kvstore.c - the store's semantics without the network:
 * visibility at commit, EXISTS/overwrite, abort, owners, leases, LRU
 * eviction (leased objects never evicted), lease expiry, remove, puts
 * from an arena (kvs_put_at). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvstore.h"

#define BASE 0x100000ull
#define MS   1000000ull

static struct kvs *mk(uint64_t size, uint32_t lease_ms)
{
    struct kvs_params p = {
        .size = size, .base_addr = BASE, .lease_timeout_ms = lease_ms};
    struct kvs *k = NULL;
    ck_assert_int_eq(kvs_create(&p, &k), KVP_OK);
    return k;
}

/* alloc + commit; returns the remote address */
static uint64_t put(struct kvs *k, const char *key, uint64_t len,
                    uint32_t flags)
{
    uint64_t addr, id;
    ck_assert_int_eq(
        kvs_alloc(k, 1, key, (uint16_t)strlen(key), len, flags, &addr, &id),
        KVP_OK);
    ck_assert_int_eq(kvs_commit(k, 1, id), KVP_OK);
    return addr;
}

static int32_t look(struct kvs *k, const char *key, uint32_t flags,
                    uint64_t now, uint64_t *lease)
{
    uint64_t a, l, le = 0;
    int32_t st =
        kvs_lookup(k, 1, key, (uint16_t)strlen(key), flags, now, &a, &l, &le);
    if (lease != NULL)
        *lease = le;
    return st;
}

START_TEST(visible_only_after_commit)
{
    struct kvs *k = mk(1 << 20, 0);
    uint64_t addr, id;
    ck_assert_int_eq(kvs_alloc(k, 1, "a", 1, 100, 0, &addr, &id), KVP_OK);
    ck_assert_uint_ge(addr, BASE);
    ck_assert_uint_eq((addr - BASE) % 64, 0);
    ck_assert_int_eq(look(k, "a", KVS_LOOKUP_NO_LEASE, 0, NULL),
                     KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(kvs_remove(k, "a", 1), KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(kvs_commit(k, 1, id), KVP_OK);
    uint64_t a2, len, lease;
    ck_assert_int_eq(
        kvs_lookup(k, 1, "a", 1, KVS_LOOKUP_NO_LEASE, 0, &a2, &len, &lease),
        KVP_OK);
    ck_assert_uint_eq(a2, addr);
    ck_assert_uint_eq(len, 100);
    ck_assert_uint_eq(lease, 0);
    ck_assert_int_eq(kvs_commit(k, 1, id), KVP_ERR_NOT_FOUND); /* once */
    kvs_destroy(k);
}
END_TEST

START_TEST(exists_unless_overwrite)
{
    struct kvs *k = mk(1 << 20, 0);
    uint64_t addr, id, id2;
    /* pending counts as existing: concurrent puts, one winner */
    ck_assert_int_eq(kvs_alloc(k, 1, "k", 1, 10, 0, &addr, &id), KVP_OK);
    ck_assert_int_eq(kvs_alloc(k, 2, "k", 1, 10, 0, &addr, &id2),
                     KVP_ERR_EXISTS);
    ck_assert_int_eq(kvs_commit(k, 1, id), KVP_OK);
    ck_assert_int_eq(kvs_alloc(k, 2, "k", 1, 10, 0, &addr, &id2),
                     KVP_ERR_EXISTS);
    uint64_t old = 0, olen, le;
    kvs_lookup(k, 1, "k", 1, KVS_LOOKUP_NO_LEASE, 0, &old, &olen, &le);
    /* overwrite: the old object stays visible until the commit */
    ck_assert_int_eq(
        kvs_alloc(k, 2, "k", 1, 20, KVS_ALLOC_OVERWRITE, &addr, &id2), KVP_OK);
    ck_assert_uint_ne(addr, old);
    uint64_t a, len;
    ck_assert_int_eq(
        kvs_lookup(k, 1, "k", 1, KVS_LOOKUP_NO_LEASE, 0, &a, &len, &le),
        KVP_OK);
    ck_assert_uint_eq(a, old);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(kvs_commit(k, 2, id2), KVP_OK);
    ck_assert_int_eq(
        kvs_lookup(k, 1, "k", 1, KVS_LOOKUP_NO_LEASE, 0, &a, &len, &le),
        KVP_OK);
    ck_assert_uint_eq(a, addr);
    ck_assert_uint_eq(len, 20);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.objects, 1);
    ck_assert_uint_eq(st.used_bytes, 64); /* old object freed */
    kvs_destroy(k);
}
END_TEST

START_TEST(plain_commit_loses_to_overwrite)
{
    struct kvs *k = mk(1 << 20, 0);
    uint64_t addr, id_plain, id_over;
    ck_assert_int_eq(kvs_alloc(k, 1, "k", 1, 10, 0, &addr, &id_plain), KVP_OK);
    ck_assert_int_eq(
        kvs_alloc(k, 2, "k", 1, 10, KVS_ALLOC_OVERWRITE, &addr, &id_over),
        KVP_OK);
    ck_assert_int_eq(kvs_commit(k, 2, id_over), KVP_OK);
    ck_assert_int_eq(kvs_commit(k, 1, id_plain), KVP_ERR_EXISTS);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.objects, 1);
    ck_assert_uint_eq(st.pending, 0);
    ck_assert_uint_eq(st.used_bytes, 64);
    kvs_destroy(k);
}
END_TEST

START_TEST(abort_and_owner_rules)
{
    struct kvs *k = mk(1 << 20, 0);
    uint64_t addr, id;
    ck_assert_int_eq(kvs_alloc(k, 1, "x", 1, 1000, 0, &addr, &id), KVP_OK);
    ck_assert_int_eq(kvs_commit(k, 2, id), KVP_ERR_NOT_FOUND); /* not 2's */
    ck_assert_int_eq(kvs_abort(k, 2, id), KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(kvs_abort(k, 1, id), KVP_OK);
    ck_assert_int_eq(kvs_commit(k, 1, id), KVP_ERR_NOT_FOUND);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.used_bytes, 0);
    ck_assert_uint_eq(st.pending, 0);
    /* the key is free again */
    ck_assert_int_eq(kvs_alloc(k, 3, "x", 1, 1, 0, &addr, &id), KVP_OK);
    kvs_owner_gone(k, 3); /* connection closed: pending aborted */
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.pending, 0);
    ck_assert_uint_eq(st.used_bytes, 0);
    ck_assert_int_eq(kvs_commit(k, 3, id), KVP_ERR_NOT_FOUND);
    kvs_destroy(k);
}
END_TEST

START_TEST(bad_arguments)
{
    struct kvs *k = mk(1 << 20, 0);
    uint64_t addr, id;
    char big[1025];
    memset(big, 'b', sizeof(big));
    ck_assert_int_eq(kvs_alloc(k, 1, "", 0, 1, 0, &addr, &id), KVP_ERR_INVALID);
    ck_assert_int_eq(kvs_alloc(k, 1, big, 1025, 1, 0, &addr, &id),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(kvs_alloc(k, 1, big, 1024, 1, 0, &addr, &id), KVP_OK);
    ck_assert_int_eq(kvs_alloc(k, 1, NULL, 3, 1, 0, &addr, &id),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(kvs_alloc(k, 1, "huge", 4, (1 << 20) + 1, 0, &addr, &id),
                     KVP_ERR_NO_SPACE);
    ck_assert_int_eq(kvs_alloc(k, 1, "huge", 4, UINT64_MAX, 0, &addr, &id),
                     KVP_ERR_NO_SPACE);
    kvs_destroy(k);
}
END_TEST

START_TEST(zero_length_objects)
{
    struct kvs *k = mk(4096, 0);
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof(key), "z%d", i);
        put(k, key, 0, 0);
    }
    uint64_t a, len, le;
    ck_assert_int_eq(kvs_lookup(k, 1, "z7", 2, 0, 0, &a, &len, &le), KVP_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_ne(le, 0);
    ck_assert_int_eq(kvs_release(k, 1, le), KVP_OK);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.objects, 100);
    ck_assert_uint_eq(st.used_bytes, 0);
    kvs_destroy(k);
}
END_TEST

START_TEST(lru_evicts_oldest_unleased)
{
    struct kvs *k = mk(64 * 4, 0);
    put(k, "a", 64, 0);
    put(k, "b", 64, 0);
    put(k, "c", 64, 0);
    put(k, "d", 64, 0);
    /* touch a (stat counts as use); lease b: neither may go */
    ck_assert_int_eq(look(k, "a", KVS_LOOKUP_NO_LEASE, 0, NULL), KVP_OK);
    uint64_t lease_b;
    ck_assert_int_eq(look(k, "b", 0, 0, &lease_b), KVP_OK);
    put(k, "e", 64, 0); /* evicts c, the least recently used */
    ck_assert_int_eq(look(k, "c", KVS_LOOKUP_NO_LEASE, 0, NULL),
                     KVP_ERR_NOT_FOUND);
    /* 128 contiguous bytes: layout is a@0 b@64 e@128 d@192, b leased.
     * LRU order from the tail: d, a, e. Evicting d and a leaves two
     * separate holes, so e goes too and f lands at 128. */
    uint64_t f = put(k, "f", 128, 0);
    ck_assert_uint_eq(f, BASE + 128);
    ck_assert_int_eq(look(k, "d", KVS_LOOKUP_NO_LEASE, 0, NULL),
                     KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(look(k, "a", KVS_LOOKUP_NO_LEASE, 0, NULL),
                     KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(look(k, "e", KVS_LOOKUP_NO_LEASE, 0, NULL),
                     KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(look(k, "b", KVS_LOOKUP_NO_LEASE, 0, NULL), KVP_OK);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.evictions, 4);
    kvs_destroy(k);
}
END_TEST

START_TEST(leased_objects_never_evicted)
{
    struct kvs *k = mk(64 * 2, 0);
    put(k, "a", 64, 0);
    put(k, "b", 64, 0);
    uint64_t la, lb;
    ck_assert_int_eq(look(k, "a", 0, 0, &la), KVP_OK);
    ck_assert_int_eq(look(k, "b", 0, 0, &lb), KVP_OK);
    uint64_t addr, id;
    ck_assert_int_eq(kvs_alloc(k, 1, "c", 1, 1, 0, &addr, &id),
                     KVP_ERR_NO_SPACE);
    ck_assert_int_eq(look(k, "a", KVS_LOOKUP_NO_LEASE, 0, NULL), KVP_OK);
    ck_assert_int_eq(look(k, "b", KVS_LOOKUP_NO_LEASE, 0, NULL), KVP_OK);
    ck_assert_int_eq(kvs_release(k, 1, la), KVP_OK);
    ck_assert_int_eq(kvs_release(k, 1, la), KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(kvs_alloc(k, 1, "c", 1, 1, 0, &addr, &id), KVP_OK);
    ck_assert_int_eq(look(k, "a", KVS_LOOKUP_NO_LEASE, 0, NULL),
                     KVP_ERR_NOT_FOUND);
    /* pending objects are never evicted either */
    uint64_t id2;
    ck_assert_int_eq(kvs_alloc(k, 1, "d", 1, 1, 0, &addr, &id2),
                     KVP_ERR_NO_SPACE);
    kvs_destroy(k);
}
END_TEST

START_TEST(memory_under_lease_not_reused)
{
    struct kvs *k = mk(64 * 2, 0);
    uint64_t a_addr = put(k, "a", 64, 0);
    uint64_t lease;
    ck_assert_int_eq(look(k, "a", 0, 0, &lease), KVP_OK);
    /* replace and remove while leased: memory stays taken */
    uint64_t addr, id;
    ck_assert_int_eq(
        kvs_alloc(k, 1, "a", 1, 64, KVS_ALLOC_OVERWRITE, &addr, &id), KVP_OK);
    ck_assert_uint_ne(addr, a_addr);
    ck_assert_int_eq(kvs_commit(k, 1, id), KVP_OK);
    ck_assert_int_eq(kvs_remove(k, "a", 1), KVP_OK);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.retired, 1);
    ck_assert_uint_eq(st.used_bytes, 64);
    /* the only free block is not the leased one */
    ck_assert_int_eq(kvs_alloc(k, 1, "n", 1, 64, 0, &addr, &id), KVP_OK);
    ck_assert_uint_ne(addr, a_addr);
    ck_assert_int_eq(kvs_alloc(k, 1, "m", 1, 64, 0, &addr, &id),
                     KVP_ERR_NO_SPACE);
    ck_assert_int_eq(kvs_release(k, 1, lease), KVP_OK);
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.retired, 0);
    ck_assert_int_eq(kvs_alloc(k, 1, "m", 1, 64, 0, &addr, &id), KVP_OK);
    ck_assert_uint_eq(addr, a_addr);
    kvs_destroy(k);
}
END_TEST

START_TEST(lease_timeout_frees)
{
    struct kvs *k = mk(64, 50);
    put(k, "a", 64, 0);
    uint64_t lease;
    ck_assert_int_eq(look(k, "a", 0, 1000 * MS, &lease), KVP_OK);
    ck_assert_int_eq(kvs_remove(k, "a", 1), KVP_OK);
    ck_assert_uint_eq(kvs_expire(k, 1049 * MS), 0);
    uint64_t addr, id;
    ck_assert_int_eq(kvs_alloc(k, 1, "b", 1, 64, 0, &addr, &id),
                     KVP_ERR_NO_SPACE);
    ck_assert_uint_eq(kvs_expire(k, 1050 * MS), 1);
    ck_assert_int_eq(kvs_release(k, 1, lease), KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(kvs_alloc(k, 1, "b", 1, 64, 0, &addr, &id), KVP_OK);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.lease_expiries, 1);
    kvs_destroy(k);
}
END_TEST

START_TEST(owner_gone_releases_leases)
{
    struct kvs *k = mk(64, 0);
    put(k, "a", 64, 0);
    uint64_t a, len, lease;
    ck_assert_int_eq(kvs_lookup(k, 9, "a", 1, 0, 0, &a, &len, &lease), KVP_OK);
    ck_assert_int_eq(kvs_release(k, 1, lease), KVP_ERR_NOT_FOUND);
    kvs_owner_gone(k, 9);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.leases, 0);
    uint64_t addr, id; /* a is evictable again */
    ck_assert_int_eq(kvs_alloc(k, 1, "b", 1, 64, 0, &addr, &id), KVP_OK);
    kvs_destroy(k);
}
END_TEST

START_TEST(owner_gone_aborts_only_its_pending)
{
    struct kvs *k = mk(1 << 24, 0);
    char key[32];
    uint64_t addr, id;
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "p%d", i);
        ck_assert_int_eq(kvs_alloc(k, (uint64_t)(5 + (i % 500 == 0)), key,
                                   (uint16_t)strlen(key), 64, 0, &addr, &id),
                         KVP_OK);
    }
    kvs_owner_gone(k, 5);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.pending, 10); /* owner 6 keeps its 10 */
    ck_assert_uint_eq(st.used_bytes, 10 * 64);
    ck_assert_int_eq(kvs_alloc(k, 7, "p1", 2, 1, 0, &addr, &id), KVP_OK);
    ck_assert_int_eq(kvs_alloc(k, 7, "p0", 2, 1, 0, &addr, &id),
                     KVP_ERR_EXISTS); /* owner 6's */
    kvs_destroy(k);
}
END_TEST

START_TEST(destroy_with_everything_live)
{
    /* ASan/valgrind: no leak with pending, leased and retired objects */
    struct kvs *k = mk(1 << 16, 0);
    put(k, "a", 100, 0);
    uint64_t lease, addr, id;
    ck_assert_int_eq(look(k, "a", 0, 0, &lease), KVP_OK);
    put(k, "a", 10, KVS_ALLOC_OVERWRITE);
    ck_assert_int_eq(kvs_alloc(k, 1, "p", 1, 5, 0, &addr, &id), KVP_OK);
    kvs_destroy(k);
}
END_TEST

/* ---- TP groups ----------------------------------------------------------- */

/* Allocates a group of base with n members "<base>_tp_<r>" of len bytes
 * each for owner 1; ids[] get the alloc ids. */
static void group_alloc(struct kvs *k, const char *base, int n, uint64_t len,
                        uint32_t flags, uint64_t *ids, int32_t want)
{
    struct kvs_group *g =
        kvs_group_open(k, 1, base, (uint16_t)strlen(base), flags);
    ck_assert_ptr_nonnull(g);
    for (int r = 0; r < n; r++) {
        char key[64];
        snprintf(key, sizeof key, "%s_tp_%d", base, r);
        uint64_t addr;
        ck_assert_int_eq(kvs_alloc_in(k, g, 1, key, (uint16_t)strlen(key),
                                      len, flags, &addr, &ids[r]),
                         want);
    }
    kvs_group_close(k, g);
}

static int shards_stored(struct kvs *k, const char *base, int n)
{
    int got = 0;
    for (int r = 0; r < n; r++) {
        char key[64];
        snprintf(key, sizeof key, "%s_tp_%d", base, r);
        got += look(k, key, KVS_LOOKUP_NO_LEASE, 0, NULL) == KVP_OK;
    }
    return got;
}

START_TEST(group_visible_only_whole)
{
    struct kvs *k = mk(1 << 20, 0);
    uint64_t ids[4];
    group_alloc(k, "g", 4, 100, 0, ids, KVP_OK);
    for (int r = 0; r < 3; r++) {
        ck_assert_int_eq(kvs_commit(k, 1, ids[r]), KVP_OK);
        ck_assert_int_eq(shards_stored(k, "g", 4), 0); /* not yet */
    }
    ck_assert_int_eq(kvs_commit(k, 1, ids[3]), KVP_OK);
    ck_assert_int_eq(shards_stored(k, "g", 4), 4);
    kvs_destroy(k);
}
END_TEST

START_TEST(group_abort_drops_ready_members)
{
    struct kvs *k = mk(1 << 20, 0);
    uint64_t ids[3];
    group_alloc(k, "g", 3, 100, 0, ids, KVP_OK);
    ck_assert_int_eq(kvs_commit(k, 1, ids[0]), KVP_OK);
    ck_assert_int_eq(kvs_abort(k, 1, ids[1]), KVP_OK);
    /* the rest can never become visible */
    ck_assert_int_ne(kvs_commit(k, 1, ids[2]), KVP_OK);
    ck_assert_int_eq(shards_stored(k, "g", 3), 0);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.pending, 0);
    ck_assert_uint_eq(st.used_bytes, 0);
    kvs_destroy(k);
}
END_TEST

START_TEST(group_overwrite_other_size)
{
    struct kvs *k = mk(1 << 20, 0);
    uint64_t ids[4];
    group_alloc(k, "g", 4, 100, 0, ids, KVP_OK);
    for (int r = 0; r < 4; r++)
        ck_assert_int_eq(kvs_commit(k, 1, ids[r]), KVP_OK);
    /* plain: EXISTS from the base, though _tp_0.._tp_1 would be new keys
     * for tp 8 too: checked at open */
    group_alloc(k, "g", 2, 50, 0, ids, KVP_ERR_EXISTS);
    ck_assert_int_eq(shards_stored(k, "g", 4), 4);
    group_alloc(k, "g", 2, 50, KVS_ALLOC_OVERWRITE, ids, KVP_OK);
    ck_assert_int_eq(kvs_commit(k, 1, ids[0]), KVP_OK);
    ck_assert_int_eq(shards_stored(k, "g", 4), 4); /* old group still */
    ck_assert_int_eq(kvs_commit(k, 1, ids[1]), KVP_OK);
    ck_assert_int_eq(shards_stored(k, "g", 2), 2);
    ck_assert_int_eq(shards_stored(k, "g", 4), 2); /* _tp_2, _tp_3 gone */
    kvs_destroy(k);
}
END_TEST

START_TEST(group_removed_and_evicted_whole)
{
    struct kvs *k = mk(4096, 0);
    uint64_t ids[4];
    group_alloc(k, "a", 4, 512, 0, ids, KVP_OK);
    for (int r = 0; r < 4; r++)
        ck_assert_int_eq(kvs_commit(k, 1, ids[r]), KVP_OK);
    ck_assert_int_eq(kvs_remove(k, "a_tp_2", 6), KVP_OK);
    ck_assert_int_eq(shards_stored(k, "a", 4), 0);
    group_alloc(k, "b", 4, 512, 0, ids, KVP_OK);
    for (int r = 0; r < 4; r++)
        ck_assert_int_eq(kvs_commit(k, 1, ids[r]), KVP_OK);
    /* c fits beside b: nothing evicted */
    ck_assert_int_eq(look(k, "b_tp_3", KVS_LOOKUP_NO_LEASE, 0, NULL), KVP_OK);
    put(k, "c", 1024, 0);
    ck_assert_int_eq(shards_stored(k, "b", 4), 4);
    /* d needs b's room: all four shards go, never some */
    put(k, "d", 3000, 0);
    ck_assert_int_eq(shards_stored(k, "b", 4), 0);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_ge(st.evictions, 4);
    kvs_destroy(k);
}
END_TEST

START_TEST(remove_prefix_counts_and_groups)
{
    struct kvs *k = mk(1 << 20, 0);
    put(k, "x/1", 10, 0);
    put(k, "x/2", 10, 0);
    put(k, "y/1", 10, 0);
    uint64_t ids[2], n = 0;
    group_alloc(k, "x/t", 2, 10, 0, ids, KVP_OK);
    for (int r = 0; r < 2; r++)
        ck_assert_int_eq(kvs_commit(k, 1, ids[r]), KVP_OK);
    ck_assert_int_eq(kvs_remove_prefix(k, "x/", 2, &n), KVP_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(look(k, "y/1", KVS_LOOKUP_NO_LEASE, 0, NULL), KVP_OK);
    ck_assert_int_eq(kvs_remove_prefix(k, "", 0, &n), KVP_OK);
    ck_assert_uint_eq(n, 1);
    struct kvs_stats st;
    kvs_stats(k, &st);
    ck_assert_uint_eq(st.objects, 0);
    kvs_destroy(k);
}
END_TEST

/* ---- arenas (kvs_arena_take / kvs_put_at / kvs_arena_give) ----------- */

static uint64_t used(struct kvs *k)
{
    struct kvs_stats st;
    kvs_stats(k, &st);
    return st.used_bytes;
}

/* A put from an arena follows ALLOC + COMMIT's rules: visible at once,
 * EXISTS for a stored key (its piece goes back to the pool), overwrite
 * replaces; the unused rest given back leaves only the objects in use. */
START_TEST(arena_puts_follow_the_rules)
{
    struct kvs *k = mk(1 << 20, 0);
    uint64_t a, len;
    ck_assert_int_eq(kvs_arena_take(k, 64, 4096, &a, &len), KVP_OK);
    ck_assert_uint_eq(len, 4096);
    ck_assert_uint_eq(used(k), 4096);
    ck_assert_int_eq(kvs_put_at(k, 1, "x", 1, a, 100, 0), KVP_OK);
    uint64_t ra, lease;
    ck_assert_int_eq(kvs_lookup(k, 2, "x", 1, KVS_LOOKUP_NO_LEASE, 0, &ra,
                                &len, &lease),
                     KVP_OK);
    ck_assert_uint_eq(ra, a);
    ck_assert_uint_eq(len, 100);
    /* a second plain put of x: EXISTS, and its piece is not kept */
    ck_assert_int_eq(kvs_put_at(k, 1, "x", 1, a + 128, 64, 0),
                     KVP_ERR_EXISTS);
    /* an overwrite replaces x; the old object's piece is freed */
    ck_assert_int_eq(kvs_put_at(k, 1, "x", 1, a + 192, 200,
                                KVS_ALLOC_OVERWRITE),
                     KVP_OK);
    ck_assert_int_eq(kvs_lookup(k, 2, "x", 1, KVS_LOOKUP_NO_LEASE, 0, &ra,
                                &len, &lease),
                     KVP_OK);
    ck_assert_uint_eq(ra, a + 192);
    ck_assert_uint_eq(len, 200);
    /* a pending ALLOC of y makes a plain put of y EXISTS too */
    uint64_t ya, yid;
    ck_assert_int_eq(kvs_alloc(k, 3, "y", 1, 10, 0, &ya, &yid), KVP_OK);
    ck_assert_int_eq(kvs_put_at(k, 1, "y", 1, a + 448, 10, 0),
                     KVP_ERR_EXISTS);
    ck_assert_int_eq(kvs_abort(k, 3, yid), KVP_OK);
    /* the rest of the arena back: only x (256 rounded bytes) is used */
    kvs_arena_give(k, a + 512, 4096 - 512);
    ck_assert_uint_eq(used(k), 256);
    ck_assert_int_eq(kvs_remove(k, "x", 1), KVP_OK);
    ck_assert_uint_eq(used(k), 0);
    /* and all of it can be taken again: nothing leaked or double-freed */
    ck_assert_int_eq(kvs_arena_take(k, 1 << 20, 1 << 20, &a, &len), KVP_OK);
    kvs_destroy(k);
}
END_TEST

/* An arena takes free space first, up to max: no object is evicted while
 * a block of at least min is free; only when none is does the LRU make
 * room, for min bytes; a pool that cannot hold min says NO_SPACE. */
START_TEST(arena_take_prefers_free_space)
{
    struct kvs *k = mk(16384, 0);
    put(k, "a", 4096, 0);
    put(k, "b", 4096, 0);
    uint64_t a, len;
    /* 8 KiB free: the arena gets them, not the 12 KiB asked for */
    ck_assert_int_eq(kvs_arena_take(k, 1024, 12288, &a, &len), KVP_OK);
    ck_assert_uint_eq(len, 8192);
    ck_assert_int_eq(look(k, "a", KVS_LOOKUP_NO_LEASE, 0, NULL), KVP_OK);
    ck_assert_int_eq(look(k, "b", KVS_LOOKUP_NO_LEASE, 0, NULL), KVP_OK);
    /* nothing free: the oldest object makes room for min, no more */
    ck_assert_int_eq(kvs_arena_take(k, 4096, 12288, &a, &len), KVP_OK);
    ck_assert_uint_eq(len, 4096);
    ck_assert_int_eq(look(k, "a", KVS_LOOKUP_NO_LEASE, 0, NULL),
                     KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(look(k, "b", KVS_LOOKUP_NO_LEASE, 0, NULL), KVP_OK);
    ck_assert_int_eq(kvs_arena_take(k, 32768, 32768, &a, &len),
                     KVP_ERR_NO_SPACE);
    ck_assert_int_eq(kvs_arena_take(k, 0, 64, &a, &len), KVP_ERR_INVALID);
    ck_assert_int_eq(kvs_arena_take(k, 128, 64, &a, &len), KVP_ERR_INVALID);
    kvs_destroy(k);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_kvstore");
    TCase *tc = tcase_create("semantics");
    tcase_add_test(tc, visible_only_after_commit);
    tcase_add_test(tc, exists_unless_overwrite);
    tcase_add_test(tc, plain_commit_loses_to_overwrite);
    tcase_add_test(tc, abort_and_owner_rules);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, zero_length_objects);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("eviction_leases");
    tcase_add_test(te, lru_evicts_oldest_unleased);
    tcase_add_test(te, leased_objects_never_evicted);
    tcase_add_test(te, memory_under_lease_not_reused);
    tcase_add_test(te, lease_timeout_frees);
    tcase_add_test(te, owner_gone_releases_leases);
    tcase_add_test(te, owner_gone_aborts_only_its_pending);
    tcase_add_test(te, destroy_with_everything_live);
    suite_add_tcase(s, te);
    TCase *tg = tcase_create("tp_groups");
    tcase_add_test(tg, group_visible_only_whole);
    tcase_add_test(tg, group_abort_drops_ready_members);
    tcase_add_test(tg, group_overwrite_other_size);
    tcase_add_test(tg, group_removed_and_evicted_whole);
    tcase_add_test(tg, remove_prefix_counts_and_groups);
    tcase_add_test(tg, arena_puts_follow_the_rules);
    tcase_add_test(tg, arena_take_prefers_free_space);
    suite_add_tcase(s, tg);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
