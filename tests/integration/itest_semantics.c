/*
 * itest_semantics.c - DESIGN §3 end to end: loader + real libkvplug.so +
 * embedded kvplug server + a real transport (UCX by default; the ctest
 * variants force ucx.ucx_tls=shm / tcp through KVPLUG_CONFIG, which merges
 * over our config string; qualified, so a case that picks verbs is not
 * handed a UCX key). One TCase per rule; ★ marks kvplug's rules.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>

#include "itest_util.h"

#define BUF_SIZE (16u << 20)

static struct kvp_plugin plugin;
static const struct kvp_ops *ops;
static struct kvp_engine *eng;
static unsigned char *buf; /* registered */

static const char *config(void)
{
    const char *c = getenv("ITEST_CONFIG");
    return c != NULL ? c : "pool_size=64MiB;log_level=debug";
}

static void setup(void)
{
    itest_log_clear();
    ck_assert_int_eq(ops->engine_create(config(), &itest_host, &eng), KVP_OK);
    buf = aligned_alloc(4096, BUF_SIZE);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 0, BUF_SIZE);
    ck_assert_int_eq(ops->register_buffer(eng, buf, BUF_SIZE), KVP_OK);
}

static void teardown(void)
{
    ck_assert_int_eq(ops->engine_destroy(eng), KVP_OK);
    free(buf);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 8));
}

/* ---- registration ------------------------------------------------------- */

START_TEST(register_rules)
{
    static char other[8192];
    ck_assert_int_eq(ops->register_buffer(eng, NULL, 10), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->register_buffer(eng, other, 0), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->register_buffer(eng, buf + 100, 10), KVP_ERR_EXISTS);
    ck_assert_int_eq(ops->register_buffer(eng, other, 4096), KVP_OK);
    ck_assert_int_eq(ops->register_buffer(eng, other + 4095, 100),
                     KVP_ERR_EXISTS);
    ck_assert_int_eq(ops->unregister_buffer(eng, other + 1), KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(ops->unregister_buffer(eng, other), KVP_OK);
    ck_assert_int_eq(ops->unregister_buffer(eng, other), KVP_ERR_NOT_FOUND);
    ck_assert(itest_log_has("register_buffer"));
}
END_TEST

/* ★ every data op on an unregistered range fails NOT_REGISTERED */
START_TEST(not_registered)
{
    static unsigned char loose[4096];
    fill(buf, 4096, 1);
    ck_assert_int_eq(ops->put_from(eng, "nr", loose, 100, NULL),
                     KVP_ERR_NOT_REGISTERED);
    ck_assert(itest_log_has("'nr'"));
    /* straddles the end of the registration */
    ck_assert_int_eq(ops->put_from(eng, "nr", buf + BUF_SIZE - 10, 20, NULL),
                     KVP_ERR_NOT_REGISTERED);
    ck_assert_int_eq(ops->put_from(eng, "nr", buf, 100, NULL), KVP_OK);
    ck_assert_int_eq(ops->get_into(eng, "nr", loose, sizeof(loose)),
                     KVP_ERR_NOT_REGISTERED);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "nrt", loose, 400, 0, 2, 0, NULL),
        KVP_ERR_NOT_REGISTERED);
    ck_assert_int_eq(ops->get_tensor_with_tp_into(eng, "nrt", loose, 400, 0, 2),
                     KVP_ERR_NOT_REGISTERED);
    const char *keys[2] = {"nb0", "nb1"};
    const void *ptrs[2] = {buf, loose};
    uint64_t lens[2] = {10, 10};
    int32_t res[2];
    ck_assert_int_eq(ops->batch_put_from(eng, 2, keys, ptrs, lens, NULL, res),
                     KVP_PARTIAL);
    ck_assert_int_eq(res[0], KVP_OK);
    ck_assert_int_eq(res[1], KVP_ERR_NOT_REGISTERED);
}
END_TEST

/* ---- keys --------------------------------------------------------------- */

START_TEST(key_limits)
{
    char *k = malloc(KVP_KEY_MAX + 2);
    memset(k, 'k', KVP_KEY_MAX + 1);
    k[KVP_KEY_MAX + 1] = '\0';
    ck_assert_int_eq(ops->put_from(eng, k, buf, 8, NULL), KVP_ERR_INVALID);
    k[KVP_KEY_MAX] = '\0'; /* exactly 1024 bytes */
    ck_assert_int_eq(ops->put_from(eng, k, buf, 8, NULL), KVP_OK);
    ck_assert_int_eq(ops->get_into(eng, k, buf + 4096, 8), 8);
    ck_assert_int_eq(ops->put_from(eng, "", buf, 8, NULL), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->put_from(eng, NULL, buf, 8, NULL), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->get_into(eng, "", buf, 8), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->exists(eng, NULL), KVP_ERR_INVALID);
    free(k);
}
END_TEST

/* ---- put ---------------------------------------------------------------- */

/* ★ put of an existing key: EXISTS and the old value stays; overwrite
 * replaces it */
START_TEST(put_exists_and_overwrite)
{
    fill(buf, 1000, 1);
    fill(buf + 1000, 1000, 2);
    ck_assert_int_eq(ops->put_from(eng, "k", buf, 1000, NULL), KVP_OK);
    ck_assert_int_eq(ops->put_from(eng, "k", buf + 1000, 1000, NULL),
                     KVP_ERR_EXISTS);
    unsigned char *out = buf + (1 << 20);
    ck_assert_int_eq(ops->get_into(eng, "k", out, 4096), 1000);
    ck_assert_mem_eq(out, buf, 1000);
    struct kvp_put_opts ow = {sizeof(ow), KVP_PUT_OVERWRITE};
    ck_assert_int_eq(ops->put_from(eng, "k", buf + 1000, 500, &ow), KVP_OK);
    ck_assert_int_eq(ops->get_into(eng, "k", out, 4096), 500);
    ck_assert_mem_eq(out, buf + 1000, 500);
    struct kvp_put_opts bad = {sizeof(bad), 0x80};
    ck_assert_int_eq(ops->put_from(eng, "k2", buf, 10, &bad), KVP_ERR_INVALID);
}
END_TEST

/* ★ length 0 stores an empty object */
START_TEST(empty_object)
{
    ck_assert_int_eq(ops->put_from(eng, "empty", buf, 0, NULL), KVP_OK);
    ck_assert_int_eq(ops->exists(eng, "empty"), 1);
    ck_assert_int_eq(ops->stat(eng, "empty"), 0);
    ck_assert_int_eq(ops->get_into(eng, "empty", buf, 0), 0);
    ck_assert_int_eq(ops->get_into(eng, "empty", buf, 100), 0);
    ck_assert_int_eq(ops->put_from(eng, "empty", buf, 0, NULL), KVP_ERR_EXISTS);
}
END_TEST

/* ---- get ---------------------------------------------------------------- */

START_TEST(get_too_small_untouched)
{
    fill(buf, 5000, 3);
    ck_assert_int_eq(ops->put_from(eng, "big", buf, 5000, NULL), KVP_OK);
    unsigned char *out = buf + (1 << 20);
    memset(out, 0xAB, 8192);
    ck_assert_int_eq(ops->get_into(eng, "big", out, 4999), KVP_ERR_TOO_SMALL);
    for (int i = 0; i < 8192; i++)
        ck_assert_uint_eq(out[i], 0xAB);
    ck_assert_int_eq(ops->stat(eng, "big"), 5000);
    ck_assert_int_eq(ops->get_into(eng, "big", out, 5000), 5000);
    ck_assert_mem_eq(out, buf, 5000);
    ck_assert_int_eq(ops->get_into(eng, "missing", out, 10), KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(ops->stat(eng, "missing"), KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(ops->exists(eng, "missing"), 0);
}
END_TEST

START_TEST(remove_rules)
{
    ck_assert_int_eq(ops->put_from(eng, "r", buf, 10, NULL), KVP_OK);
    ck_assert_int_eq(ops->remove(eng, "r"), KVP_OK);
    ck_assert_int_eq(ops->exists(eng, "r"), 0);
    ck_assert_int_eq(ops->remove(eng, "r"), KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(ops->put_from(eng, "r", buf, 10, NULL), KVP_OK);
}
END_TEST

/* ---- batches ------------------------------------------------------------ */

/* results in input order; ★ a bad item fails only itself */
START_TEST(batch_partial_in_order)
{
    enum { N = 6 };
    const char *keys[N] = {"b0", "b1", "", "b3", "b4", "b5"};
    const void *ptrs[N];
    uint64_t lens[N];
    for (int i = 0; i < N; i++) {
        ptrs[i] = buf + i * 4096;
        lens[i] = 100 + (uint64_t)i;
        fill(buf + i * 4096, 4096, (unsigned)i);
    }
    ck_assert_int_eq(ops->put_from(eng, "b3", buf, 1, NULL), KVP_OK);
    int32_t res[N];
    ck_assert_int_eq(ops->batch_put_from(eng, N, keys, ptrs, lens, NULL, res),
                     KVP_PARTIAL);
    ck_assert_int_eq(res[0], KVP_OK);
    ck_assert_int_eq(res[1], KVP_OK);
    ck_assert_int_eq(res[2], KVP_ERR_INVALID);
    ck_assert_int_eq(res[3], KVP_ERR_EXISTS);
    ck_assert_int_eq(res[4], KVP_OK);
    ck_assert_int_eq(res[5], KVP_OK);
    void *outs[N];
    uint64_t caps[N];
    int64_t gres[N];
    for (int i = 0; i < N; i++) {
        outs[i] = buf + (1 << 20) + i * 4096;
        caps[i] = 4096;
    }
    caps[4] = 10; /* too small */
    ck_assert_int_eq(ops->batch_get_into(eng, N, keys, outs, caps, gres),
                     KVP_PARTIAL);
    ck_assert_int_eq(gres[0], 100);
    ck_assert_int_eq(gres[1], 101);
    ck_assert_int_eq(gres[2], KVP_ERR_INVALID);
    ck_assert_int_eq(gres[3], 1);
    ck_assert_int_eq(gres[4], KVP_ERR_TOO_SMALL);
    ck_assert_int_eq(gres[5], 105);
    ck_assert_mem_eq(outs[0], ptrs[0], 100);
    ck_assert_mem_eq(outs[5], ptrs[5], 105);
    /* all good */
    const char *k2[2] = {"b0", "b1"};
    ck_assert_int_eq(ops->batch_get_into(eng, 2, k2, outs, caps, gres), KVP_OK);
}
END_TEST

/* NULL arrays: negative return, every result holds it */
START_TEST(batch_ill_formed)
{
    const char *keys[3] = {"x", "y", "z"};
    const void *ptrs[3] = {buf, buf, buf};
    uint64_t lens[3] = {1, 1, 1};
    int32_t res[3] = {7, 7, 7};
    ck_assert_int_eq(ops->batch_put_from(eng, 3, NULL, ptrs, lens, NULL, res),
                     KVP_ERR_INVALID);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(res[i], KVP_ERR_INVALID);
    ck_assert_int_eq(ops->batch_put_from(eng, 3, keys, ptrs, NULL, NULL, res),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(ops->batch_put_from(eng, 3, keys, ptrs, lens, NULL, NULL),
                     KVP_ERR_INVALID);
    int64_t gres[3] = {7, 7, 7};
    void *outs[3] = {buf, buf, buf};
    ck_assert_int_eq(ops->batch_get_into(eng, 3, keys, outs, NULL, gres),
                     KVP_ERR_INVALID);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(gres[i], KVP_ERR_INVALID);
    ck_assert_int_eq(ops->batch_put_from(eng, 0, NULL, NULL, NULL, NULL, res),
                     KVP_OK);
    ck_assert_int_eq(ops->exists(eng, "x"), 0); /* nothing was stored */
}
END_TEST

/* ★ duplicate keys in one batch are processed in input order */
START_TEST(batch_duplicates)
{
    fill(buf, 100, 1);
    fill(buf + 100, 100, 2);
    const char *keys[2] = {"dup", "dup"};
    const void *ptrs[2] = {buf, buf + 100};
    uint64_t lens[2] = {100, 100};
    int32_t res[2];
    ck_assert_int_eq(ops->batch_put_from(eng, 2, keys, ptrs, lens, NULL, res),
                     KVP_PARTIAL);
    ck_assert_int_eq(res[0], KVP_OK);
    ck_assert_int_eq(res[1], KVP_ERR_EXISTS);
    unsigned char *out = buf + (1 << 20);
    ck_assert_int_eq(ops->get_into(eng, "dup", out, 100), 100);
    ck_assert_mem_eq(out, buf, 100);
    /* with overwrite: the later item wins */
    struct kvp_put_opts ow = {sizeof(ow), KVP_PUT_OVERWRITE};
    const char *k2[2] = {"dup2", "dup2"};
    ck_assert_int_eq(ops->batch_put_from(eng, 2, k2, ptrs, lens, &ow, res),
                     KVP_OK);
    ck_assert_int_eq(ops->get_into(eng, "dup2", out, 100), 100);
    ck_assert_mem_eq(out, buf + 100, 100);
    /* every get occurrence fills its own buffer */
    void *outs[3] = {out + 4096, out + 8192, out + 12288};
    uint64_t caps[3] = {100, 100, 100};
    const char *k3[3] = {"dup", "dup", "dup"};
    int64_t gres[3];
    ck_assert_int_eq(ops->batch_get_into(eng, 3, k3, outs, caps, gres), KVP_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gres[i], 100);
        ck_assert_mem_eq(outs[i], buf, 100);
    }
}
END_TEST

/* ---- concurrency -------------------------------------------------------- */

struct racer {
    int id;
    int32_t st;
};

static pthread_barrier_t race_barrier;

static void *race_put(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(&race_barrier);
    r->st = ops->put_from(eng, "race", buf + r->id * 4096, 4096, NULL);
    return NULL;
}

/* concurrent puts of one key: exactly one wins */
START_TEST(concurrent_one_winner)
{
    enum { T = 8 };
    for (int round = 0; round < 5; round++) {
        ops->remove(eng, "race");
        for (int i = 0; i < T; i++)
            fill(buf + i * 4096, 4096, (unsigned)(i + 10));
        pthread_barrier_init(&race_barrier, NULL, T);
        pthread_t th[T];
        struct racer rs[T];
        for (int i = 0; i < T; i++) {
            rs[i].id = i;
            pthread_create(&th[i], NULL, race_put, &rs[i]);
        }
        int winner = -1, wins = 0;
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            if (rs[i].st == KVP_OK) {
                wins++;
                winner = i;
            } else {
                ck_assert_int_eq(rs[i].st, KVP_ERR_EXISTS);
            }
        }
        pthread_barrier_destroy(&race_barrier);
        ck_assert_int_eq(wins, 1);
        unsigned char *out = buf + (8 << 20);
        ck_assert_int_eq(ops->get_into(eng, "race", out, 4096), 4096);
        ck_assert_mem_eq(out, buf + winner * 4096, 4096);
    }
}
END_TEST

/* many threads doing distinct puts/gets and registrations at once */
static void *worker(void *arg)
{
    long id = (long)arg;
    unsigned char *mine = buf + (size_t)(2 + id) * (1 << 20);
    char key[32];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "w%ld_%d", id, i);
        fill(mine, 2048, (unsigned)(id * 100 + i));
        if (ops->put_from(eng, key, mine, 2048, NULL) != KVP_OK)
            return (void *)1;
        if (ops->get_into(eng, key, mine + 4096, 4096) != 2048 ||
            memcmp(mine, mine + 4096, 2048) != 0)
            return (void *)1;
        unsigned char *extra = malloc(4096);
        if (ops->register_buffer(eng, extra, 4096) != KVP_OK ||
            ops->unregister_buffer(eng, extra) != KVP_OK)
            return (void *)1;
        free(extra);
    }
    return NULL;
}

START_TEST(concurrent_ops)
{
    pthread_t th[6];
    for (long i = 0; i < 6; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (int i = 0; i < 6; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        ck_assert_ptr_null(rv);
    }
}
END_TEST

/* overwrite is atomic: a reader sees the old or the new object, never a
 * mix of both */
static atomic_int ow_stop; /* a volatile int raced (found by the tsan lane) */

static void *ow_writer(void *arg)
{
    (void)arg;
    struct kvp_put_opts ow = {sizeof(ow), KVP_PUT_OVERWRITE};
    for (int i = 0; i < 300 && !atomic_load(&ow_stop); i++)
        if (ops->put_from(eng, "ow", buf + (i % 2) * (1 << 20), 1 << 18, &ow) !=
            KVP_OK)
            return (void *)1;
    return NULL;
}

START_TEST(overwrite_atomic)
{
    memset(buf, 'A', 1 << 18);
    memset(buf + (1 << 20), 'B', 1 << 18);
    ck_assert_int_eq(ops->put_from(eng, "ow", buf, 1 << 18, NULL), KVP_OK);
    pthread_t w;
    atomic_store(&ow_stop, 0);
    pthread_create(&w, NULL, ow_writer, NULL);
    unsigned char *out = buf + (4 << 20);
    int reads = 0;
    void *rv = (void *)1;
    for (int i = 0; i < 300; i++) {
        int64_t got = ops->get_into(eng, "ow", out, 1 << 18);
        ck_assert_int_eq(got, 1 << 18);
        unsigned char first = out[0];
        ck_assert(first == 'A' || first == 'B');
        for (int j = 0; j < (1 << 18); j += 512)
            ck_assert_msg(out[j] == first, "mixed object at byte %d", j);
        ck_assert_uint_eq(out[(1 << 18) - 1], first);
        reads++;
    }
    atomic_store(&ow_stop, 1);
    pthread_join(w, &rv);
    ck_assert_ptr_null(rv);
    ck_assert_int_eq(reads, 300);
}
END_TEST

/* ---- pool exhaustion ---------------------------------------------------- */

/* Several engines (one connection each, and on the same-host rings one put
 * arena each) fill three quarters of the store's pool with interleaved
 * 64 KiB puts: every object stays readable. An arena never evicts objects
 * to be bigger than a put needs, and what is left of one does not strand
 * the pool in holes (ITEST_POOL_BYTES: the pool's size, set by
 * scripts/with_server.sh; else this suite's embedded 64 MiB). Each engine
 * reads back its own objects: embedded engines have a store each. */
START_TEST(engines_fill_the_pool)
{
    enum { E = 4, OBJ = 64 << 10, SRC = 64 };
    const char *pb = getenv("ITEST_POOL_BYTES");
    uint64_t pool = pb != NULL ? strtoull(pb, NULL, 10) : 64u << 20;
    struct kvp_engine *e[E] = {eng};
    for (int i = 1; i < E; i++) {
        ck_assert_int_eq(ops->engine_create(config(), &itest_host, &e[i]),
                         KVP_OK);
        ck_assert_int_eq(ops->register_buffer(e[i], buf, BUF_SIZE), KVP_OK);
    }
    uint32_t n = (uint32_t)(pool / 4 * 3 / OBJ / E * E);
    char key[32];
    for (uint32_t i = 0; i < n; i++) {
        unsigned char *src = buf + (uint64_t)(i % SRC) * OBJ;
        memcpy(src, &i, sizeof(i));
        snprintf(key, sizeof(key), "fill-%u", i);
        ck_assert_int_eq(ops->put_from(e[i % E], key, src, OBJ, NULL),
                         KVP_OK);
    }
    unsigned char *out = buf + (uint64_t)SRC * OBJ;
    for (uint32_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "fill-%u", i);
        ck_assert_msg(ops->get_into(e[i % E], key, out, OBJ) == OBJ,
                      "'%s' (%u of %u, %llu-byte pool) was evicted", key, i,
                      n, (unsigned long long)pool);
        uint32_t got;
        memcpy(&got, out, sizeof(got));
        ck_assert_uint_eq(got, i);
    }
    for (int i = 1; i < E; i++)
        ck_assert_int_eq(ops->engine_destroy(e[i]), KVP_OK);
}
END_TEST

START_TEST(no_space)
{
    /* an object larger than the whole pool can never fit */
    struct kvp_engine *small = NULL;
    ck_assert_int_eq(ops->engine_create("pool_size=4MiB", &itest_host, &small),
                     KVP_OK);
    ck_assert_int_eq(ops->register_buffer(small, buf, BUF_SIZE), KVP_OK);
    itest_log_clear();
    ck_assert_int_eq(ops->put_from(small, "huge", buf, 8u << 20, NULL),
                     KVP_ERR_NO_SPACE);
    ck_assert(itest_log_has("'huge'"));
    ck_assert_int_eq(ops->exists(small, "huge"), 0);
    /* smaller objects still fit */
    ck_assert_int_eq(ops->put_from(small, "fits", buf, 1u << 20, NULL), KVP_OK);
    ck_assert_int_eq(ops->engine_destroy(small), KVP_OK);
}
END_TEST

/* every op validates its engine argument */
START_TEST(null_engine)
{
    const char *k[1] = {"k"};
    const void *cp[1] = {buf};
    void *p[1] = {buf};
    uint64_t l[1] = {1};
    int32_t r32[1] = {7};
    int64_t r64[1] = {7};
    ck_assert_int_eq(ops->engine_destroy(NULL), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->register_buffer(NULL, buf, 1), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->unregister_buffer(NULL, buf), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->put_from(NULL, "k", buf, 1, NULL), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->get_into(NULL, "k", buf, 1), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->batch_put_from(NULL, 1, k, cp, l, NULL, r32),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(r32[0], KVP_ERR_INVALID);
    ck_assert_int_eq(ops->batch_get_into(NULL, 1, k, p, l, r64),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(r64[0], KVP_ERR_INVALID);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(NULL, "k", buf, 1, 0, 2, 0, NULL),
        KVP_ERR_INVALID);
    ck_assert_int_eq(ops->batch_put_tensor_with_tp_from(NULL, 1, k, cp, l, 0, 2,
                                                        0, NULL, r32),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(ops->get_tensor_with_tp_into(NULL, "k", buf, 1, 0, 2),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(
        ops->batch_get_tensor_with_tp_into(NULL, 1, k, p, l, 0, 2, r64),
        KVP_ERR_INVALID);
    ck_assert_int_eq(ops->exists(NULL, "k"), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->stat(NULL, "k"), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->remove(NULL, "k"), KVP_ERR_INVALID);
}
END_TEST

/* ---- engine_create ------------------------------------------------------ */

START_TEST(create_errors)
{
    struct kvp_engine *e2 = NULL;
    itest_log_clear();
    ck_assert_int_eq(ops->engine_create("colour=blue", &itest_host, &e2),
                     KVP_ERR_INVALID);
    ck_assert_ptr_null(e2);
    ck_assert(itest_log_has("colour"));
    ck_assert_int_eq(ops->engine_create("servers=127.0.0.1:1;timeout_ms=500",
                                        &itest_host, &e2),
                     KVP_ERR_DISCONNECTED);
    ck_assert(itest_log_has("127.0.0.1:1"));
    ck_assert_int_eq(
        ops->engine_create("auth_token_file=/nonexistent/t", &itest_host, &e2),
        KVP_ERR_INVALID);
    ck_assert(itest_log_has("/nonexistent/t"));
    ck_assert_int_eq(ops->engine_create(NULL, &itest_host, NULL),
                     KVP_ERR_INVALID);
    /* verbs without an RDMA device (this host): a clean, named error */
    itest_log_clear();
    int32_t st = ops->engine_create("transport=verbs", &itest_host, &e2);
    if (st == KVP_OK) {
        ck_assert_int_eq(ops->engine_destroy(e2), KVP_OK);
    } else {
        ck_assert(st == KVP_ERR_NO_DEVICE || st == KVP_ERR_NOT_SUPPORTED);
        ck_assert(itest_log_has("verbs"));
    }
}
END_TEST

int main(void)
{
    ops = itest_load(&plugin);
    if (ops == NULL)
        return EXIT_FAILURE;
    if (!(ops->caps & KVP_CAP_THREAD_SAFE)) {
        fprintf(stderr, "plugin lacks KVP_CAP_THREAD_SAFE\n");
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("semantics");
    struct {
        const char *name;
        const TTest *t;
        int no_space_pool;
    } cases[] = {
        {"register_rules", register_rules, 0},
        {"not_registered", not_registered, 0},
        {"key_limits", key_limits, 0},
        {"put_exists_and_overwrite", put_exists_and_overwrite, 0},
        {"empty_object", empty_object, 0},
        {"get_too_small_untouched", get_too_small_untouched, 0},
        {"remove_rules", remove_rules, 0},
        {"batch_partial_in_order", batch_partial_in_order, 0},
        {"batch_ill_formed", batch_ill_formed, 0},
        {"batch_duplicates", batch_duplicates, 0},
        {"concurrent_one_winner", concurrent_one_winner, 0},
        {"concurrent_ops", concurrent_ops, 0},
        {"overwrite_atomic", overwrite_atomic, 0},
        {"no_space", no_space, 0},
        {"engines_fill_the_pool", engines_fill_the_pool, 0},
        {"create_errors", create_errors, 0},
        {"null_engine", null_engine, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, cases[i].t);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
