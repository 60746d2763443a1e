/*
 * itest_tp.c - TP put/get end to end (DESIGN §3 "TP put", "Zero-copy TP
 * split", "TP get"): every rank's shard checked against a naive reference
 * slicing, ★ all-or-nothing, ★ negative split_dim, ★ rank range,
 * ★ TP_MISMATCH, and the zero-copy proof from the plugin's stats line.
 */
#include <check.h>

#include "itest_util.h"

#define BUF_SIZE (32u << 20)

static struct kvp_plugin plugin;
static const struct kvp_ops *ops;
static struct kvp_engine *eng;
static unsigned char *buf; /* registered: [0,16M) inputs, [16M,32M) outputs */
#define OUT (buf + (16u << 20))

static void setup(void)
{
    itest_log_clear();
    const char *c = getenv("ITEST_CONFIG");
    ck_assert_int_eq(ops->engine_create(c ? c
                                          : "pool_size=128MiB;"
                                            "log_level=debug",
                                        &itest_host, &eng),
                     KVP_OK);
    buf = aligned_alloc(4096, BUF_SIZE);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(ops->register_buffer(eng, buf, BUF_SIZE), KVP_OK);
}

static void teardown(void)
{
    ck_assert_int_eq(ops->engine_destroy(eng), KVP_OK);
    free(buf);
}

/* Checks the shard object at out against the header rules and the naive
 * reference slice of the full object. */
static void check_shard(const unsigned char *full, int32_t dtype, int ndim,
                        const int64_t *shape, int d, int tp, int rank,
                        const unsigned char *out, int64_t got)
{
    static unsigned char ref[1 << 22];
    uint64_t bytes =
        itest_ref_shard(full, dtype, ndim, shape, d, tp, rank, ref);
    ck_assert_int_eq(got, (int64_t)(KVP_TENSOR_HDR_SIZE + bytes));
    ck_assert_uint_eq(get_le(out, 4), KVP_TENSOR_MAGIC);
    ck_assert_uint_eq(get_le(out + 16, 4), KVP_LAYOUT_SHARD);
    ck_assert_uint_eq(get_le(out + 32, 8), bytes);
    for (int i = 0; i < ndim; i++) {
        ck_assert_int_eq((int64_t)get_le(out + 40 + 8 * i, 8), shape[i]);
        int64_t local = i == d ? shape[i] / tp : shape[i];
        ck_assert_int_eq((int64_t)get_le(out + 104 + 8 * i, 8), local);
    }
    ck_assert_uint_eq(get_le(out + 168, 4), 1);           /* axis_count */
    ck_assert_uint_eq(get_le(out + 176, 4), KVP_AXIS_TP); /* kind */
    ck_assert_uint_eq(get_le(out + 184, 4), (uint32_t)rank);
    ck_assert_uint_eq(get_le(out + 188, 4), (uint32_t)tp);
    ck_assert_uint_eq(get_le(out + 192, 4), (uint32_t)d);
    ck_assert_int_eq((int64_t)get_le(out + 200, 8), shape[d] / tp);
    ck_assert_msg(memcmp(out + KVP_TENSOR_HDR_SIZE, ref, bytes) == 0,
                  "rank %d of %d along dim %d: payload differs", rank, tp, d);
}

START_TEST(round_trip_all_ranks)
{
    const int64_t shape[5] = {8, 2, 8, 16, 32}; /* layers,2,heads,tok,dim */
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_BF16, 5, shape, 1);
    const int tps[4] = {1, 2, 4, 8};
    const int dims[4] = {0, -3, 2, -1};
    char key[64];
    for (int ti = 0; ti < 4; ti++) {
        for (int di = 0; di < 4; di++) {
            int tp = tps[ti], sd = dims[di], d = sd < 0 ? sd + 5 : sd;
            snprintf(key, sizeof(key), "rt_%d_%d", tp, sd);
            ck_assert_int_eq(ops->put_tensor_with_tp_from(eng, key, buf, len, 3,
                                                          tp, sd, NULL),
                             KVP_OK);
            for (int r = 0; r < (tp > 1 ? tp : 1); r++) {
                memset(OUT, 0xEE, len);
                int64_t got =
                    ops->get_tensor_with_tp_into(eng, key, OUT, len, r, tp);
                if (tp == 1) { /* stored unchanged */
                    ck_assert_int_eq(got, (int64_t)len);
                    ck_assert_mem_eq(OUT, buf, len);
                } else {
                    check_shard(buf, KVP_DTYPE_BF16, 5, shape, d, tp, r, OUT,
                                got);
                }
            }
        }
    }
    /* tp 1 stores under key itself, tp > 1 only under <key>_tp_<r> */
    ck_assert_int_eq(ops->exists(eng, "rt_1_0"), 1);
    ck_assert_int_eq(ops->exists(eng, "rt_4_0"), 0);
    ck_assert_int_eq(ops->exists(eng, "rt_4_0_tp_3"), 1);
    ck_assert_int_eq(ops->exists(eng, "rt_4_0_tp_4"), 0);
}
END_TEST

/* ★ negative split_dim counts from the end: same shards as positive */
START_TEST(negative_split_dim)
{
    const int64_t shape[3] = {4, 6, 10};
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_F32, 3, shape, 2);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "neg", buf, len, 0, 2, -2, NULL),
        KVP_OK);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "pos", buf, len, 0, 2, 1, NULL),
        KVP_OK);
    for (int r = 0; r < 2; r++) {
        int64_t a =
            ops->get_tensor_with_tp_into(eng, "neg", OUT, 1 << 20, r, 2);
        int64_t b = ops->get_tensor_with_tp_into(eng, "pos", OUT + (1 << 20),
                                                 1 << 20, r, 2);
        ck_assert_int_gt(a, 0);
        ck_assert_int_eq(a, b);
        ck_assert_mem_eq(OUT, OUT + (1 << 20), (size_t)a);
        check_shard(buf, KVP_DTYPE_F32, 3, shape, 1, 2, r, OUT, a);
    }
}
END_TEST

/* ★ all-or-nothing: one shard key exists -> nothing new left behind */
START_TEST(all_or_nothing)
{
    const int64_t shape[2] = {8, 100};
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_U8, 2, shape, 3);
    memset(buf + (8 << 20), 0x5A, 64);
    ck_assert_int_eq(ops->put_from(eng, "aon_tp_2", buf + (8 << 20), 64, NULL),
                     KVP_OK);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "aon", buf, len, 0, 4, 0, NULL),
        KVP_ERR_EXISTS);
    ck_assert_int_eq(ops->exists(eng, "aon_tp_0"), 0);
    ck_assert_int_eq(ops->exists(eng, "aon_tp_1"), 0);
    ck_assert_int_eq(ops->exists(eng, "aon_tp_3"), 0);
    ck_assert_int_eq(ops->get_into(eng, "aon_tp_2", OUT, 64), 64);
    ck_assert_mem_eq(OUT, buf + (8 << 20), 64);
    /* with overwrite the put succeeds and replaces the stray object */
    struct kvp_put_opts ow = {sizeof(ow), KVP_PUT_OVERWRITE};
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "aon", buf, len, 0, 4, 0, &ow),
        KVP_OK);
    for (int r = 0; r < 4; r++) {
        int64_t got =
            ops->get_tensor_with_tp_into(eng, "aon", OUT, 1 << 20, r, 4);
        check_shard(buf, KVP_DTYPE_U8, 2, shape, 0, 4, r, OUT, got);
    }
    /* pool too small for the whole tensor: NO_SPACE, no shard left */
    struct kvp_engine *small = NULL;
    ck_assert_int_eq(ops->engine_create("pool_size=1MiB", &itest_host, &small),
                     KVP_OK);
    ck_assert_int_eq(ops->register_buffer(small, buf, BUF_SIZE), KVP_OK);
    const int64_t big[2] = {4, 1 << 19}; /* 2 MiB: fits no pool of 1 MiB */
    uint64_t blen = itest_make_tensor(buf, KVP_DTYPE_U8, 2, big, 4);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(small, "big", buf, blen, 0, 4, 0, NULL),
        KVP_ERR_NO_SPACE);
    for (int r = 0; r < 4; r++) {
        char k[32];
        snprintf(k, sizeof(k), "big_tp_%d", r);
        ck_assert_int_eq(ops->exists(small, k), 0);
    }
    ck_assert_int_eq(ops->engine_destroy(small), KVP_OK);
}
END_TEST

/* ★ rank outside [0, tp) -> INVALID; ★ another layout -> TP_MISMATCH */
START_TEST(get_rank_and_mismatch)
{
    const int64_t shape[2] = {4, 16};
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_I32, 2, shape, 5);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "mm", buf, len, 0, 2, 0, NULL),
        KVP_OK);
    ck_assert_int_eq(
        ops->get_tensor_with_tp_into(eng, "mm", OUT, 1 << 20, 2, 2),
        KVP_ERR_INVALID);
    ck_assert_int_eq(
        ops->get_tensor_with_tp_into(eng, "mm", OUT, 1 << 20, -1, 2),
        KVP_ERR_INVALID);
    /* stored with tp 2, read as tp 4: shards 0/1 exist but say 2 ranks */
    itest_log_clear();
    ck_assert_int_eq(
        ops->get_tensor_with_tp_into(eng, "mm", OUT, 1 << 20, 1, 4),
        KVP_ERR_TP_MISMATCH);
    ck_assert(itest_log_has("mm_tp_1"));
    ck_assert_int_eq(
        ops->get_tensor_with_tp_into(eng, "mm", OUT, 1 << 20, 3, 4),
        KVP_ERR_NOT_FOUND);
    /* a plain object under a shard key is no shard */
    ck_assert_int_eq(ops->put_from(eng, "plain_tp_0", buf, 500, NULL), KVP_OK);
    ck_assert_int_eq(
        ops->get_tensor_with_tp_into(eng, "plain", OUT, 1 << 20, 0, 2),
        KVP_ERR_TP_MISMATCH);
    /* too small for the shard: TOO_SMALL, untouched */
    memset(OUT, 0x11, 400);
    ck_assert_int_eq(ops->get_tensor_with_tp_into(eng, "mm", OUT, 310, 0, 2),
                     KVP_ERR_TOO_SMALL);
    for (int i = 0; i < 400; i++)
        ck_assert_uint_eq(OUT[i], 0x11);
}
END_TEST

START_TEST(put_validation)
{
    const int64_t shape[2] = {6, 10};
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_F16, 2, shape, 6);
    itest_log_clear();
    buf[0] ^= 0xFF; /* magic */
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "v", buf, len, 0, 2, 0, NULL),
        KVP_ERR_INVALID);
    ck_assert(itest_log_has("magic"));
    buf[0] ^= 0xFF;
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "v", buf, len - 1, 0, 2, 0, NULL),
        KVP_ERR_INVALID); /* data_bytes != len - 304 */
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "v", buf, 100, 0, 1, 0, NULL),
        KVP_ERR_INVALID); /* shorter than a header */
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "v", buf, len, 0, 4, 0, NULL),
        KVP_ERR_INVALID); /* 6 % 4 */
    ck_assert(itest_log_has("not divisible"));
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "v", buf, len, 0, 2, 2, NULL),
        KVP_ERR_INVALID);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "v", buf, len, 0, 2, -3, NULL),
        KVP_ERR_INVALID);
    put_le(buf + 16, KVP_LAYOUT_SHARD, 4); /* a shard is no FULL tensor */
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "v", buf, len, 0, 2, 0, NULL),
        KVP_ERR_INVALID);
    put_le(buf + 16, KVP_LAYOUT_FULL, 4);
    ck_assert_int_eq(ops->exists(eng, "v"), 0);
    ck_assert_int_eq(ops->exists(eng, "v_tp_0"), 0);
    /* scalar: fine for tp 1, refused for tp 2 */
    uint64_t slen = itest_make_tensor(buf, KVP_DTYPE_F64, 0, shape, 7);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "s", buf, slen, 0, 1, 0, NULL),
        KVP_OK);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "s2", buf, slen, 0, 2, 0, NULL),
        KVP_ERR_INVALID);
    /* zero-element tensor: valid, shards of 304 bytes */
    const int64_t zero[2] = {0, 4};
    uint64_t zlen = itest_make_tensor(buf, KVP_DTYPE_F32, 2, zero, 8);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "z", buf, zlen, 0, 2, 0, NULL),
        KVP_OK);
    ck_assert_int_eq(ops->get_tensor_with_tp_into(eng, "z", OUT, 4096, 1, 2),
                     KVP_TENSOR_HDR_SIZE);
}
END_TEST

/* batch TP put: per-item results, failed items leave nothing behind */
START_TEST(batch_tp)
{
    const int64_t shape[3] = {4, 8, 64};
    enum { N = 4 };
    const void *ptrs[N];
    uint64_t lens[N];
    for (int i = 0; i < N; i++) {
        unsigned char *p = buf + (size_t)i * (1 << 20);
        lens[i] =
            itest_make_tensor(p, KVP_DTYPE_BF16, 3, shape, (uint32_t)(10 + i));
        ptrs[i] = p;
    }
    put_le(buf + (1 << 20), 7, 2); /* item 1: bad version */
    ck_assert_int_eq(ops->put_from(eng, "bt2_tp_1", buf, 10, NULL), KVP_OK);
    const char *keys[N] = {"bt0", "bt1", "bt2", "bt3"};
    int32_t res[N];
    ck_assert_int_eq(ops->batch_put_tensor_with_tp_from(
                         eng, N, keys, ptrs, lens, 0, 4, -2, NULL, res),
                     KVP_PARTIAL);
    ck_assert_int_eq(res[0], KVP_OK);
    ck_assert_int_eq(res[1], KVP_ERR_INVALID);
    ck_assert_int_eq(res[2], KVP_ERR_EXISTS);
    ck_assert_int_eq(res[3], KVP_OK);
    for (int r = 0; r < 4; r++) {
        char k[32];
        snprintf(k, sizeof(k), "bt1_tp_%d", r);
        ck_assert_int_eq(ops->exists(eng, k), 0);
        snprintf(k, sizeof(k), "bt2_tp_%d", r);
        ck_assert_int_eq(ops->exists(eng, k), r == 1);
    }
    /* batch get of one rank across items */
    void *outs[N];
    uint64_t caps[N];
    int64_t gres[N];
    for (int i = 0; i < N; i++) {
        outs[i] = OUT + (size_t)i * (1 << 20);
        caps[i] = 1 << 20;
    }
    for (int r = 0; r < 4; r++) {
        ck_assert_int_eq(ops->batch_get_tensor_with_tp_into(eng, N, keys, outs,
                                                            caps, r, 4, gres),
                         KVP_PARTIAL);
        check_shard(ptrs[0], KVP_DTYPE_BF16, 3, shape, 1, 4, r, outs[0],
                    gres[0]);
        check_shard(ptrs[3], KVP_DTYPE_BF16, 3, shape, 1, 4, r, outs[3],
                    gres[3]);
        ck_assert_int_eq(gres[1], KVP_ERR_NOT_FOUND);
        ck_assert_int_eq(gres[2],
                         r == 1 ? KVP_ERR_TP_MISMATCH : KVP_ERR_NOT_FOUND);
    }
    ck_assert_int_eq(ops->batch_get_tensor_with_tp_into(eng, N, keys, outs,
                                                        caps, 9, 4, gres),
                     KVP_ERR_INVALID);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(gres[i], KVP_ERR_INVALID);
}
END_TEST

/* ★ zero-copy split: big extents go straight from the host buffer (the
 * transport packs no payload byte, the plugin copies none); tiny extents
 * are packed below the transport's crossover, unless the pool is mapped
 * into this process (UCX over shared memory), where each extent is one
 * copy straight into the pool and nothing is packed. integration.tp_ucp
 * turns the mapping off (KVPLUG_UCX_MAPPED=0) to test the packing. */
START_TEST(zero_copy_stats)
{
    /* [layers 2, 2, heads 8, tokens 16, dim 256] bf16, split heads:
     * extent = 2 heads * 16 * 256 * 2 B = 16 KiB, far above 4 KiB */
    const int64_t shape[5] = {2, 2, 8, 16, 256};
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_BF16, 5, shape, 9);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "zc", buf, len, 0, 4, -3, NULL),
        KVP_OK);
    int64_t packed = itest_stat("bytes_packed");
    int64_t hdr = itest_stat("header_bytes");
    int64_t written = itest_stat("bytes_written");
    ck_assert_int_eq(itest_stat("host_copy_bytes"), 0);
    ck_assert_int_eq(hdr, 4 * KVP_TENSOR_HDR_SIZE);
    ck_assert_int_eq(written, (int64_t)len - KVP_TENSOR_HDR_SIZE + hdr);
    /* at most the 304-byte headers may be packed: no payload byte */
    ck_assert_msg(packed >= 0 && packed <= hdr,
                  "bytes_packed %lld > header bytes %lld", (long long)packed,
                  (long long)hdr);
    /* tiny extents: [64, 8, 4] bf16 split dim 1 -> 64 extents of 16 B */
    const int64_t tiny[3] = {64, 8, 4};
    uint64_t tlen = itest_make_tensor(buf, KVP_DTYPE_BF16, 3, tiny, 10);
    ck_assert_int_eq(
        ops->put_tensor_with_tp_from(eng, "tiny", buf, tlen, 0, 4, 1, NULL),
        KVP_OK);
    int64_t packed2 = itest_stat("bytes_packed");
    int64_t hdr2 = itest_stat("header_bytes");
    const char *mapped_env = getenv("KVPLUG_UCX_MAPPED");
    int64_t mapped = itest_stat("mapped_copies");
    if (mapped_env != NULL && strcmp(mapped_env, "0") == 0)
        ck_assert_int_eq(mapped, 0);
    if (mapped > 0)
        ck_assert_int_eq(packed2 - packed, 0);
    else
        ck_assert_int_gt(packed2 - packed, hdr2 - hdr);
    ck_assert_int_eq(itest_stat("host_copy_bytes"), 0);
    for (int r = 0; r < 4; r++) {
        int64_t got =
            ops->get_tensor_with_tp_into(eng, "tiny", OUT, 1 << 20, r, 4);
        check_shard(buf, KVP_DTYPE_BF16, 3, tiny, 1, 4, r, OUT, got);
    }
}
END_TEST

/* more shard headers than the engine's scratch pool holds (1024): the
 * op takes a temporary registered area and still succeeds */
START_TEST(many_shards_in_one_batch)
{
    enum { N = 136, TP = 8 }; /* 1088 shards */
    const int64_t shape[2] = {8, 16};
    static const char *keys[N];
    static char names[N][16];
    static const void *ptrs[N];
    static uint64_t lens[N];
    static int32_t res[N];
    uint64_t len = itest_make_tensor(buf, KVP_DTYPE_U8, 2, shape, 11);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "many%d", i);
        keys[i] = names[i];
        ptrs[i] = buf;
        lens[i] = len;
    }
    ck_assert_int_eq(ops->batch_put_tensor_with_tp_from(
                         eng, N, keys, ptrs, lens, 0, TP, 0, NULL, res),
                     KVP_OK);
    for (int i = 0; i < N; i += 45) {
        for (int r = 0; r < TP; r++) {
            int64_t got =
                ops->get_tensor_with_tp_into(eng, keys[i], OUT, 4096, r, TP);
            check_shard(buf, KVP_DTYPE_U8, 2, shape, 0, TP, r, OUT, got);
        }
    }
}
END_TEST

/* Shards go out a block (64 KiB) of each in turn: a batch of tensors
 * whose extents need several blocks, or none fits one block, keeps every
 * shard's bytes in place. */
START_TEST(mixed_shapes_in_blocks)
{
    enum { N = 3, TP = 4 };
    static const int64_t shapes[N][3] = {
        {256, 8, 128},  /* 512 B extents, 256 per shard: 2 blocks */
        {64, 4, 1024},  /* 2 KiB extents, 64 per shard: 2 blocks */
        {2, 4, 65536}}; /* 128 KiB extents: one per block */
    const char *keys[N] = {"mix0", "mix1", "mix2"};
    const void *ptrs[N];
    uint64_t lens[N];
    int32_t res[N];
    for (int i = 0; i < N; i++) {
        unsigned char *p = buf + (size_t)i * (2u << 20);
        lens[i] = itest_make_tensor(p, KVP_DTYPE_BF16, 3, shapes[i],
                                    (uint32_t)(40 + i));
        ptrs[i] = p;
    }
    ck_assert_int_eq(ops->batch_put_tensor_with_tp_from(
                         eng, N, keys, ptrs, lens, 0, TP, 1, NULL, res),
                     KVP_OK);
    for (int i = 0; i < N; i++)
        for (int r = 0; r < TP; r++) {
            int64_t got = ops->get_tensor_with_tp_into(eng, keys[i], OUT,
                                                       2u << 20, r, TP);
            check_shard(ptrs[i], KVP_DTYPE_BF16, 3, shapes[i], 1, TP, r, OUT,
                        got);
        }
}
END_TEST

int main(void)
{
    ops = itest_load(&plugin);
    if (ops == NULL)
        return EXIT_FAILURE;
    Suite *s = suite_create("tp");
    const TTest *tests[] = {round_trip_all_ranks,  negative_split_dim,
                            all_or_nothing,        get_rank_and_mismatch,
                            put_validation,        batch_tp,
                            zero_copy_stats,       many_shards_in_one_batch,
                            mixed_shapes_in_blocks};
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        TCase *tc = tcase_create(tests[i]->name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, tests[i]);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
