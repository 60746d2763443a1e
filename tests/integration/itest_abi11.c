/*
 * itest_abi11.c - ABI 1.1 end to end (DESIGN §2.1, §3 "TP group"): every
 * new slot called by name through the loader against the real plugin and
 * a real server (embedded, or a kvplug-server process with ITEST_CONFIG),
 * TP groups, and batches of any size.
 *
 * The "finding" cases use only 1.0 slots, so the same binary run against a
 * 1.0 plugin (KVPLUG_PLUGIN=<old libkvplug.so>) shows them failing there:
 * batches over 16,384 items, stale shards after an overwrite with another
 * tp_size, eviction splitting a TP group.
 */
#include <check.h>
#include <unistd.h>

#include "itest_util.h"

#define BUF_SIZE (96u << 20)
#define BUF2_SIZE (1u << 20)
#define BIG_N 100000u

static struct kvp_plugin plugin;
static const struct kvp_ops *ops;
static struct kvp_engine *eng;
static unsigned char *buf;  /* registered */
static unsigned char *buf2; /* a second registration */
static char prefix[32];     /* unique per case: works on a shared server */

static const struct kvp_put_opts ow = {sizeof(struct kvp_put_opts),
                                       KVP_PUT_OVERWRITE};

static void open_engine(const char *fallback)
{
    itest_log_clear();
    const char *c = getenv("ITEST_CONFIG");
    ck_assert_int_eq(ops->engine_create(c ? c : fallback, &itest_host, &eng),
                     KVP_OK);
    buf = aligned_alloc(4096, BUF_SIZE);
    buf2 = aligned_alloc(4096, BUF2_SIZE);
    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_nonnull(buf2);
    ck_assert_int_eq(ops->register_buffer(eng, buf, BUF_SIZE), KVP_OK);
    ck_assert_int_eq(ops->register_buffer(eng, buf2, BUF2_SIZE), KVP_OK);
    static unsigned seq;
    snprintf(prefix, sizeof prefix, "a11-%d-%u-", (int)getpid(), seq++);
}

static void setup(void)
{
    open_engine("pool_size=256MiB;log_level=debug");
}

static void teardown(void)
{
    ck_assert_int_eq(ops->engine_destroy(eng), KVP_OK);
    free(buf);
    free(buf2);
}

static const char *key(char *out, size_t cap, const char *name)
{
    size_t p = strlen(prefix), n = strlen(name);
    ck_assert_uint_lt(p + n, cap);
    memcpy(out, prefix, p);
    memcpy(out + p, name, n + 1);
    return out;
}

static int need_v1_1(void)
{
    return plugin.abi_minor >= 1 && KVP_HAS_OP(ops, get_stats);
}

#define REQUIRE_V1_1()                                                         \
    do {                                                                       \
        if (!need_v1_1()) {                                                    \
            fprintf(stderr, "skipped: plugin negotiated 1.0\n");               \
            return;                                                            \
        }                                                                      \
    } while (0)

/* ---- batch_exists / batch_remove --------------------------------------- */

START_TEST(exists_mix)
{
    REQUIRE_V1_1();
    char a[64], b[64], m[64];
    key(a, sizeof a, "a");
    key(b, sizeof b, "b");
    key(m, sizeof m, "missing");
    memset(buf, 1, 16);
    ck_assert_int_eq(ops->put_from(eng, a, buf, 16, NULL), KVP_OK);
    ck_assert_int_eq(ops->put_from(eng, b, buf, 0, NULL), KVP_OK);
    char long_key[KVP_KEY_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    const char *keys[7] = {a, m, "", b, a, NULL, long_key};
    int32_t res[7];
    ck_assert_int_eq(ops->batch_exists(eng, 7, keys, res), KVP_PARTIAL);
    ck_assert_int_eq(res[0], 1);
    ck_assert_int_eq(res[1], 0);
    ck_assert_int_eq(res[2], KVP_ERR_INVALID);
    ck_assert_int_eq(res[3], 1); /* empty object is stored */
    ck_assert_int_eq(res[4], 1); /* duplicate answers again */
    ck_assert_int_eq(res[5], KVP_ERR_INVALID);
    ck_assert_int_eq(res[6], KVP_ERR_INVALID);
    /* no bad item: OK even with misses */
    ck_assert_int_eq(ops->batch_exists(eng, 2, keys, res), KVP_OK);
    /* ill-formed: every result holds the code */
    ck_assert_int_eq(ops->batch_exists(eng, 2, NULL, res), KVP_ERR_INVALID);
    ck_assert_int_eq(res[0], KVP_ERR_INVALID);
    ck_assert_int_eq(res[1], KVP_ERR_INVALID);
    ck_assert_int_eq(ops->batch_exists(eng, 0, NULL, NULL), KVP_OK);
}
END_TEST

START_TEST(remove_mix)
{
    REQUIRE_V1_1();
    char a[64], b[64], m[64];
    key(a, sizeof a, "a");
    key(b, sizeof b, "b");
    key(m, sizeof m, "missing");
    ck_assert_int_eq(ops->put_from(eng, a, buf, 8, NULL), KVP_OK);
    ck_assert_int_eq(ops->put_from(eng, b, buf, 8, NULL), KVP_OK);
    const char *keys[5] = {a, m, a, "", b};
    int32_t res[5];
    ck_assert_int_eq(ops->batch_remove(eng, 5, keys, res), KVP_PARTIAL);
    ck_assert_int_eq(res[0], KVP_OK);
    ck_assert_int_eq(res[1], KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(res[2], KVP_ERR_NOT_FOUND); /* in input order */
    ck_assert_int_eq(res[3], KVP_ERR_INVALID);
    ck_assert_int_eq(res[4], KVP_OK);
    ck_assert_int_eq(ops->exists(eng, a), 0);
    ck_assert_int_eq(ops->exists(eng, b), 0);
    ck_assert_int_eq(ops->put_from(eng, a, buf, 8, NULL), KVP_OK);
    ck_assert_int_eq(ops->batch_remove(eng, 1, keys, res), KVP_OK);
}
END_TEST

/* ---- gather / scatter -------------------------------------------------- */

START_TEST(iov_gather_scatter)
{
    REQUIRE_V1_1();
    char k[64], k2[64];
    key(k, sizeof k, "paged");
    key(k2, sizeof k2, "empty");
    /* one page object = K and V of two layers, in two registrations */
    for (int i = 0; i < 4096; i++) {
        buf[i] = (unsigned char)(i * 7 + 1);
        buf2[i] = (unsigned char)(i * 13 + 5);
    }
    struct kvp_iov in[4] = {
        {buf, 1000}, {buf2, 3000}, {buf + 2048, 0}, {buf + 1000, 96}};
    const struct kvp_iov *iovs[2] = {in, NULL};
    uint32_t counts[2] = {4, 0};
    const char *keys[2] = {k, k2};
    int32_t pr[2];
    ck_assert_int_eq(ops->batch_put_from_iov(eng, 2, keys, iovs, counts, NULL,
                                             pr),
                     KVP_OK);
    ck_assert_int_eq(pr[0], KVP_OK);
    ck_assert_int_eq(pr[1], KVP_OK);
    ck_assert_int_eq(ops->stat(eng, k), 4096);
    ck_assert_int_eq(ops->stat(eng, k2), 0);
    /* the object is the concatenation, in order */
    unsigned char *flat = buf + (8u << 20);
    ck_assert_int_eq(ops->get_into(eng, k, flat, 4096), 4096);
    ck_assert_mem_eq(flat, buf, 1000);
    ck_assert_mem_eq(flat + 1000, buf2, 3000);
    ck_assert_mem_eq(flat + 4000, buf + 1000, 96);
    /* same put rules: EXISTS, then overwrite */
    ck_assert_int_eq(ops->batch_put_from_iov(eng, 1, keys, iovs, counts, NULL,
                                             pr),
                     KVP_PARTIAL);
    ck_assert_int_eq(pr[0], KVP_ERR_EXISTS);
    ck_assert_int_eq(ops->batch_put_from_iov(eng, 1, keys, iovs, counts, &ow,
                                             pr),
                     KVP_OK);
    /* scatter into three pieces across both registrations */
    unsigned char *o1 = buf + (9u << 20), *o2 = buf2 + (512u << 10);
    unsigned char *o3 = buf + (10u << 20);
    memset(o1, 0xEE, 8192);
    memset(o2, 0xEE, 8192);
    memset(o3, 0xEE, 8192);
    struct kvp_iov out[3] = {{o1, 100}, {o2, 2000}, {o3, 4096}};
    const struct kvp_iov *oiovs[1] = {out};
    uint32_t ocounts[1] = {3};
    int64_t gr[1];
    ck_assert_int_eq(ops->batch_get_into_iov(eng, 1, keys, oiovs, ocounts, gr),
                     KVP_OK);
    ck_assert_int_eq(gr[0], 4096);
    ck_assert_mem_eq(o1, flat, 100);
    ck_assert_mem_eq(o2, flat + 100, 2000);
    ck_assert_mem_eq(o3, flat + 2100, 1996);
    ck_assert_uint_eq(o3[1996], 0xEE); /* past the object: untouched */
    /* TOO_SMALL: every piece untouched */
    memset(o1, 0xEE, 8192);
    memset(o2, 0xEE, 8192);
    struct kvp_iov small[2] = {{o1, 100}, {o2, 3995}};
    const struct kvp_iov *siovs[1] = {small};
    uint32_t scounts[1] = {2};
    ck_assert_int_eq(ops->batch_get_into_iov(eng, 1, keys, siovs, scounts, gr),
                     KVP_PARTIAL);
    ck_assert_int_eq(gr[0], KVP_ERR_TOO_SMALL);
    for (int i = 0; i < 8192; i++) {
        ck_assert_uint_eq(o1[i], 0xEE);
        ck_assert_uint_eq(o2[i], 0xEE);
    }
    /* a piece outside every registration fails only its item */
    static unsigned char loose[64];
    struct kvp_iov bad[1] = {{loose, 64}};
    const struct kvp_iov *biovs[2] = {bad, in};
    uint32_t bcounts[2] = {1, 4};
    char k3[64];
    const char *bkeys[2] = {key(k3, sizeof k3, "bad"), k};
    ck_assert_int_eq(ops->batch_put_from_iov(eng, 2, bkeys, biovs, bcounts,
                                             &ow, pr),
                     KVP_PARTIAL);
    ck_assert_int_eq(pr[0], KVP_ERR_NOT_REGISTERED);
    ck_assert_int_eq(pr[1], KVP_OK);
    ck_assert_int_eq(ops->exists(eng, k3), 0);
    /* zero-copy: not one payload byte went through a bounce buffer (the
     * stats line comes with a TP put at log_level=debug) */
    const int64_t shape[1] = {8};
    uint64_t tl = itest_make_tensor(flat, KVP_DTYPE_U8, 1, shape, 1);
    ck_assert_int_eq(ops->put_tensor_with_tp_from(eng, k3, flat, tl, 0, 2, 0,
                                                  NULL),
                     KVP_OK);
    ck_assert_int_eq(itest_stat("host_copy_bytes"), 0);
}
END_TEST

/* ---- remove_prefix and get_stats ---------------------------------------- */

START_TEST(remove_prefix_counts)
{
    REQUIRE_V1_1();
    char k[64];
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s%d", i < 6 ? "x/" : "y/", i);
        ck_assert_int_eq(ops->put_from(eng, key(k, sizeof k, name), buf, 64,
                                       NULL),
                         KVP_OK);
    }
    char p[64];
    uint64_t removed = 99;
    ck_assert_int_eq(ops->remove_prefix(eng, key(p, sizeof p, "x/"), &removed),
                     KVP_OK);
    ck_assert_uint_eq(removed, 6);
    ck_assert_int_eq(ops->exists(eng, key(k, sizeof k, "x/0")), 0);
    ck_assert_int_eq(ops->exists(eng, key(k, sizeof k, "y/7")), 1);
    ck_assert_int_eq(ops->remove_prefix(eng, key(p, sizeof p, "x/"), &removed),
                     KVP_OK);
    ck_assert_uint_eq(removed, 0);
    ck_assert_int_eq(ops->remove_prefix(eng, prefix, NULL), KVP_OK);
    ck_assert_int_eq(ops->exists(eng, key(k, sizeof k, "y/7")), 0);
    ck_assert_int_eq(ops->remove_prefix(eng, NULL, &removed), KVP_ERR_INVALID);
}
END_TEST

START_TEST(stats_count)
{
    REQUIRE_V1_1();
    char k[64], m[64];
    key(k, sizeof k, "s");
    key(m, sizeof m, "missing");
    struct kvp_stats s0 = {.struct_size = sizeof s0}, s1 = s0;
    ck_assert_int_eq(ops->get_stats(eng, &s0), KVP_OK);
    ck_assert_int_eq(ops->put_from(eng, k, buf, 1000, NULL), KVP_OK);
    ck_assert_int_eq(ops->get_into(eng, k, buf + 4096, 4096), 1000);
    ck_assert_int_eq(ops->get_into(eng, m, buf + 4096, 4096),
                     KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(ops->remove(eng, k), KVP_OK);
    ck_assert_int_eq(ops->get_stats(eng, &s1), KVP_OK);
    ck_assert_uint_eq(s1.struct_size, sizeof s1);
    ck_assert_uint_eq(s1.puts - s0.puts, 1);
    ck_assert_uint_eq(s1.put_bytes - s0.put_bytes, 1000);
    ck_assert_uint_eq(s1.gets - s0.gets, 1);
    ck_assert_uint_eq(s1.get_bytes - s0.get_bytes, 1000);
    ck_assert_uint_eq(s1.get_hits - s0.get_hits, 1);
    ck_assert_uint_eq(s1.get_misses - s0.get_misses, 1);
    ck_assert_uint_eq(s1.removes - s0.removes, 1);
    ck_assert_uint_eq(s1.errors, s0.errors);
    /* an older, shorter host struct: the plugin writes only what it covers */
    struct {
        struct kvp_stats s;
        uint64_t canary;
    } shortst;
    memset(&shortst, 0xAB, sizeof shortst);
    shortst.s.struct_size = 24; /* up to puts, put_bytes */
    ck_assert_int_eq(ops->get_stats(eng, &shortst.s), KVP_OK);
    ck_assert_uint_eq(shortst.s.puts, s1.puts);
    ck_assert_uint_eq(shortst.s.gets, 0xABABABABABABABABull);
    struct kvp_stats tiny = {.struct_size = 4};
    ck_assert_int_eq(ops->get_stats(eng, &tiny), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->get_stats(eng, NULL), KVP_ERR_INVALID);
}
END_TEST

/* ---- TP groups ------------------------------------------------------------ */

/* Finding 2: put with tp 4, overwrite with tp 2: no `_tp_2`/`_tp_3` may
 * stay, and a tp-4 reader of rank 2 must not get the old shard. */
START_TEST(finding_overwrite_other_tp_leaves_no_shard)
{
    const int64_t shape[2] = {8, 16};
    char k[64], s[80];
    key(k, sizeof k, "ow");
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_F32, 2, shape, 3);
    ck_assert_int_eq(ops->put_tensor_with_tp_from(eng, k, buf, len, 0, 4, 0,
                                                  NULL),
                     KVP_OK);
    ck_assert_int_eq(ops->put_tensor_with_tp_from(eng, k, buf, len, 0, 2, 0,
                                                  &ow),
                     KVP_OK);
    for (int r = 0; r < 4; r++) {
        snprintf(s, sizeof s, "%s_tp_%d", k, r);
        ck_assert_msg(ops->exists(eng, s) == (r < 2),
                      "%s: exists = %d after the tp 2 overwrite", s,
                      ops->exists(eng, s));
    }
    unsigned char *out = buf + (16u << 20);
    ck_assert_int_eq(ops->get_tensor_with_tp_into(eng, k, out, 1 << 20, 2, 4),
                     KVP_ERR_NOT_FOUND);
    /* tp 2 -> tp 1 (stored under the key itself) drops the shards too */
    ck_assert_int_eq(ops->put_tensor_with_tp_from(eng, k, buf, len, 0, 1, 0,
                                                  &ow),
                     KVP_OK);
    snprintf(s, sizeof s, "%s_tp_0", k);
    ck_assert_int_eq(ops->exists(eng, s), 0);
    ck_assert_int_eq(ops->exists(eng, k), 1);
    /* and a plain (no overwrite) tp 4 put over it: EXISTS, nothing added */
    ck_assert_int_eq(ops->put_tensor_with_tp_from(eng, k, buf, len, 0, 4, 0,
                                                  NULL),
                     KVP_ERR_EXISTS);
    snprintf(s, sizeof s, "%s_tp_3", k);
    ck_assert_int_eq(ops->exists(eng, s), 0);
}
END_TEST

/* remove of any shard key removes the group; exists of a shard answers for
 * every rank. */
START_TEST(remove_shard_removes_group)
{
    const int64_t shape[1] = {64};
    char k[64], s[80];
    key(k, sizeof k, "rm");
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_U8, 1, shape, 5);
    ck_assert_int_eq(ops->put_tensor_with_tp_from(eng, k, buf, len, 0, 4, -1,
                                                  NULL),
                     KVP_OK);
    snprintf(s, sizeof s, "%s_tp_2", k);
    ck_assert_int_eq(ops->stat(eng, s), KVP_TENSOR_HDR_SIZE + 16);
    ck_assert_int_eq(ops->remove(eng, s), KVP_OK);
    for (int r = 0; r < 4; r++) {
        snprintf(s, sizeof s, "%s_tp_%d", k, r);
        ck_assert_int_eq(ops->exists(eng, s), 0);
    }
}
END_TEST

/* Finding 3: a 1 MiB pool and 12 TP tensors: whatever LRU evicted, every
 * tensor has all of its shards or none. */
START_TEST(finding_eviction_keeps_groups_whole)
{
    teardown();
    open_engine("pool_size=1MiB;log_level=info");
    const int64_t shape[2] = {4, 32768}; /* 128 KiB u8, shards 32 KiB */
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_U8, 2, shape, 9);
    char k[64], s[80];
    int whole = 0;
    for (int t = 0; t < 12; t++) {
        char name[16];
        snprintf(name, sizeof name, "ev%d", t);
        ck_assert_int_eq(ops->put_tensor_with_tp_from(
                             eng, key(k, sizeof k, name), buf, len, 0, 4, 0,
                             NULL),
                         KVP_OK);
        /* read some ranks of older tensors so LRU order interleaves */
        if (t >= 3) {
            snprintf(name, sizeof name, "ev%d", t - 3);
            ops->get_tensor_with_tp_into(eng, key(k, sizeof k, name),
                                         buf + (32u << 20), 1 << 20, t % 4, 4);
        }
    }
    for (int t = 0; t < 12; t++) {
        char name[16];
        snprintf(name, sizeof name, "ev%d", t);
        key(k, sizeof k, name);
        int n = 0;
        for (int r = 0; r < 4; r++) {
            snprintf(s, sizeof s, "%s_tp_%d", k, r);
            n += ops->exists(eng, s) == 1;
        }
        ck_assert_msg(n == 0 || n == 4, "tensor %d has %d of 4 shards", t, n);
        whole += n == 4;
    }
    ck_assert_int_gt(whole, 0);
    ck_assert_int_lt(whole, 12); /* the pool did evict */
}
END_TEST

/* A TP get finds the TP axis by its kind, not at axes[0]. */
START_TEST(tp_axis_found_by_kind)
{
    const int64_t shape[1] = {8};
    char k[64], s[80];
    key(k, sizeof k, "axis");
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_U8, 1, shape, 2);
    put_le(buf + 16, KVP_LAYOUT_SHARD, 4);
    put_le(buf + 168, 2, 4);  /* axis_count */
    put_le(buf + 176, 0, 4);  /* axes[0]: DP */
    put_le(buf + 188, 1, 4);  /* shard_count 1 */
    put_le(buf + 192, (uint64_t)-1, 4);
    put_le(buf + 208, KVP_AXIS_TP, 4); /* axes[1]: TP rank 1 of 2 */
    put_le(buf + 212, 1, 4);
    put_le(buf + 216, 1, 4);
    put_le(buf + 220, 2, 4);
    put_le(buf + 224, 0, 4);
    snprintf(s, sizeof s, "%s_tp_1", k);
    ck_assert_int_eq(ops->put_from(eng, s, buf, len, NULL), KVP_OK);
    ck_assert_int_eq(ops->get_tensor_with_tp_into(eng, k, buf + (1u << 20),
                                                  4096, 1, 2),
                     (int64_t)len);
    ck_assert_int_eq(ops->get_tensor_with_tp_into(eng, k, buf + (1u << 20),
                                                  4096, 1, 4),
                     KVP_ERR_TP_MISMATCH);
}
END_TEST

/* tp up to KVP_TP_SIZE_MAX works as one group; beyond it one log line. */
START_TEST(tp_size_limit)
{
    const int64_t shape[1] = {KVP_TP_SIZE_MAX};
    char k[64];
    key(k, sizeof k, "wide");
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_U8, 1, shape, 4);
    ck_assert_int_eq(ops->put_tensor_with_tp_from(eng, k, buf, len, 0,
                                                  KVP_TP_SIZE_MAX, 0, NULL),
                     KVP_OK);
    unsigned char *out = buf + (16u << 20);
    ck_assert_int_eq(ops->get_tensor_with_tp_into(eng, k, out, 4096,
                                                  KVP_TP_SIZE_MAX - 1,
                                                  KVP_TP_SIZE_MAX),
                     KVP_TENSOR_HDR_SIZE + 1);
    ck_assert_uint_eq(out[KVP_TENSOR_HDR_SIZE], buf[len - 1]);
    const int64_t big[1] = {65536};
    len = itest_make_tensor(buf, KVP_DTYPE_U8, 1, big, 4);
    itest_log_clear();
    ck_assert_int_eq(ops->put_tensor_with_tp_from(eng, k, buf, len, 0, 65536,
                                                  0, &ow),
                     KVP_ERR_INVALID);
    pthread_mutex_lock(&itest_log_lock);
    int lines = 0;
    for (const char *p = itest_log_buf; (p = strstr(p, "[0] ")) != NULL; p++)
        lines++;
    pthread_mutex_unlock(&itest_log_lock);
    ck_assert_int_eq(lines, 1);
    ck_assert(itest_log_has("tp_size 65536 is over the limit"));
}
END_TEST

/* ---- batches of any size ---------------------------------------------------- */

static const char **big_keys(const char *tag, uint32_t n)
{
    const char **keys = malloc(n * sizeof(*keys));
    char *kb = malloc((size_t)n * 64);
    ck_assert(keys != NULL && kb != NULL);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(kb + (size_t)i * 64, 64, "%s%s%u", prefix, tag, i);
        keys[i] = kb + (size_t)i * 64;
    }
    return keys;
}

static void big_keys_free(const char **keys)
{
    free((void *)keys[0]);
    free(keys);
}

/* Finding 1: 16,385 distinct 8-byte objects (one more than a frame). */
START_TEST(finding_batch_over_one_frame)
{
    const uint32_t n = 16385;
    const char **keys = big_keys("f", n);
    const void **ptrs = malloc(n * sizeof(*ptrs));
    void **outs = malloc(n * sizeof(*outs));
    uint64_t *lens = malloc(n * sizeof(*lens));
    int32_t *res = malloc(n * sizeof(*res));
    int64_t *gres = malloc(n * sizeof(*gres));
    for (uint32_t i = 0; i < n; i++) {
        memcpy(buf + 8 * i, &i, 4);
        memset(buf + 8 * i + 4, 0x5A, 4);
        ptrs[i] = buf + 8 * i;
        outs[i] = buf + (32u << 20) + 8 * i;
        lens[i] = 8;
    }
    itest_log_clear();
    ck_assert_int_eq(ops->batch_put_from(eng, n, keys, ptrs, lens, NULL, res),
                     KVP_OK);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_int_eq(res[i], KVP_OK);
    ck_assert_int_eq(ops->batch_get_into(eng, n, keys, outs, lens, gres),
                     KVP_OK);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_int_eq(gres[i], 8);
    ck_assert_mem_eq(buf + (32u << 20), buf, 8 * (size_t)n);
    /* the second time every item is EXISTS: one line for the cause */
    ck_assert_int_eq(ops->batch_put_from(eng, n, keys, ptrs, lens, NULL, res),
                     KVP_PARTIAL);
    ck_assert_int_eq(res[n - 1], KVP_ERR_EXISTS);
    pthread_mutex_lock(&itest_log_lock);
    int lines = 0;
    for (const char *p = itest_log_buf; (p = strstr(p, "alloc")) != NULL; p++)
        lines++;
    pthread_mutex_unlock(&itest_log_lock);
    ck_assert_int_le(lines, 1);
    big_keys_free(keys);
    free(ptrs);
    free(outs);
    free(lens);
    free(res);
    free(gres);
}
END_TEST

/* n = 100,000 through every batch op of 1.0 and 1.1. */
START_TEST(batch_100k_every_op)
{
    const uint32_t n = BIG_N;
    const char **keys = big_keys("p", n);
    const char **tkeys = big_keys("t", n);
    const void **ptrs = malloc(n * sizeof(*ptrs));
    void **outs = malloc(n * sizeof(*outs));
    uint64_t *lens = malloc(n * sizeof(*lens));
    uint64_t *caps = malloc(n * sizeof(*caps));
    int32_t *res = malloc(n * sizeof(*res));
    int64_t *gres = malloc(n * sizeof(*gres));
    struct kvp_iov *pieces = malloc(2 * (size_t)n * sizeof(*pieces));
    const struct kvp_iov **iovs = malloc(n * sizeof(*iovs));
    uint32_t *counts = malloc(n * sizeof(*counts));
    ck_assert(ptrs && outs && lens && caps && res && gres && pieces && iovs &&
              counts);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(buf + 8 * i, &i, 4);
        memset(buf + 8 * i + 4, 0xC3, 4);
        ptrs[i] = buf + 8 * i;
        outs[i] = buf + (8u << 20) + 8 * i;
        lens[i] = 8;
    }
    /* 1.0: batch_put_from / batch_get_into */
    ck_assert_int_eq(ops->batch_put_from(eng, n, keys, ptrs, lens, NULL, res),
                     KVP_OK);
    ck_assert_int_eq(ops->batch_get_into(eng, n, keys, outs, lens, gres),
                     KVP_OK);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_int_eq(gres[i], 8);
    ck_assert_mem_eq(buf + (8u << 20), buf, 8 * (size_t)n);
    /* 1.0: the TP batch ops (tp 1: each item one 304+1 byte object) */
    const int64_t shape[1] = {1};
    unsigned char *tobj = buf + (16u << 20);
    uint64_t tlen = itest_make_tensor(tobj, KVP_DTYPE_U8, 1, shape, 1);
    for (uint32_t i = 0; i < n; i++) {
        ptrs[i] = tobj;
        lens[i] = tlen;
        outs[i] = buf + (20u << 20) + 320 * (size_t)i;
        caps[i] = 320;
    }
    ck_assert_int_eq(ops->batch_put_tensor_with_tp_from(eng, n, tkeys, ptrs,
                                                        lens, 0, 1, 0, NULL,
                                                        res),
                     KVP_OK);
    ck_assert_int_eq(ops->batch_get_tensor_with_tp_into(eng, n, tkeys, outs,
                                                        caps, 0, 1, gres),
                     KVP_OK);
    ck_assert_int_eq(gres[n - 1], (int64_t)tlen);
    ck_assert_mem_eq(outs[n - 1], tobj, tlen);
    if (need_v1_1()) {
        /* 1.1: exists, gather, scatter, remove */
        ck_assert_int_eq(ops->batch_exists(eng, n, keys, res), KVP_OK);
        for (uint32_t i = 0; i < n; i++)
            ck_assert_int_eq(res[i], 1);
        ck_assert_int_eq(ops->batch_remove(eng, n, keys, res), KVP_OK);
        ck_assert_int_eq(ops->batch_exists(eng, n, keys, res), KVP_OK);
        for (uint32_t i = 0; i < n; i++)
            ck_assert_int_eq(res[i], 0);
        for (uint32_t i = 0; i < n; i++) {
            pieces[2 * i] = (struct kvp_iov){buf + 8 * i, 4};
            pieces[2 * i + 1] = (struct kvp_iov){buf + 8 * i + 4, 4};
            iovs[i] = &pieces[2 * i];
            counts[i] = 2;
        }
        ck_assert_int_eq(ops->batch_put_from_iov(eng, n, keys, iovs, counts,
                                                 NULL, res),
                         KVP_OK);
        memset(buf + (8u << 20), 0, 8 * (size_t)n);
        for (uint32_t i = 0; i < n; i++) {
            pieces[2 * i] = (struct kvp_iov){buf + (8u << 20) + 8 * i, 5};
            pieces[2 * i + 1] = (struct kvp_iov){buf + (8u << 20) + 8 * i + 5,
                                                 3};
        }
        ck_assert_int_eq(ops->batch_get_into_iov(eng, n, keys, iovs, counts,
                                                 gres),
                         KVP_OK);
        ck_assert_mem_eq(buf + (8u << 20), buf, 8 * (size_t)n);
        ck_assert_int_eq(ops->batch_remove(eng, n, tkeys, res), KVP_OK);
        uint64_t removed = 0;
        ck_assert_int_eq(ops->remove_prefix(eng, prefix, &removed), KVP_OK);
        ck_assert_uint_eq(removed, n);
    }
    big_keys_free(keys);
    big_keys_free(tkeys);
    free(ptrs);
    free(outs);
    free(lens);
    free(caps);
    free(res);
    free(gres);
    free(pieces);
    free(iovs);
    free(counts);
}
END_TEST

int main(void)
{
    ops = itest_load(&plugin);
    if (ops == NULL)
        return 1;
    Suite *s = suite_create("abi11");
    struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"exists_mix", exists_mix},
        {"remove_mix", remove_mix},
        {"iov_gather_scatter", iov_gather_scatter},
        {"remove_prefix_counts", remove_prefix_counts},
        {"stats_count", stats_count},
        {"finding_overwrite_other_tp_leaves_no_shard",
         finding_overwrite_other_tp_leaves_no_shard},
        {"remove_shard_removes_group", remove_shard_removes_group},
        {"finding_eviction_keeps_groups_whole",
         finding_eviction_keeps_groups_whole},
        {"tp_axis_found_by_kind", tp_axis_found_by_kind},
        {"tp_size_limit", tp_size_limit},
        {"finding_batch_over_one_frame", finding_batch_over_one_frame},
        {"batch_100k_every_op", batch_100k_every_op},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, cases[i].fn);
        tcase_set_timeout(tc, 240);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    kvp_loader_close(&plugin);
    return failed == 0 ? 0 : 1;
}
