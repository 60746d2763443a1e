/* check_staged_engine.c - the staged device path through the real engine
 * (embedded server, real UCX module): registration of device memory, plain
 * put/get, batches, TOO_SMALL, TP put from and TP get into device memory.
 *
 * The CUDA side is a STAND-IN (no GPU here): this file defines every
 * function of plugin/cuda_rt.h, so the linker takes these instead of
 * cuda_rt.c from kvp_plugin_core. Its "device memory" is a PROT_NONE
 * mapping the stand-in opens only while it copies, so any direct CPU
 * access by the plugin to device memory crashes the test, as it would
 * fault on a GPU. The real CUDA path is tests/cuda (ctest -L cuda). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cuda_rt.h"
#include "ops.h"
#include "stage.h"
#include "tensor_hdr.h"
#include "tensor_test_util.h"

/* ---- the stand-in CUDA ----------------------------------------------------
 */

#define DEV_LEN (64u << 20)
static unsigned char *fake_dev;
static unsigned header_copies, chunk_copies;

static void dev_open(void)
{
    ck_assert_int_eq(mprotect(fake_dev, DEV_LEN, PROT_READ | PROT_WRITE), 0);
}

static void dev_close(void)
{
    ck_assert_int_eq(mprotect(fake_dev, DEV_LEN, PROT_NONE), 0);
}

static int in_dev(const void *p)
{
    return (const unsigned char *)p >= fake_dev &&
           (const unsigned char *)p < fake_dev + DEV_LEN;
}

enum kvp_mem_kind kvp_cuda_mem_kind(const void *ptr, int *device_p)
{
    if (!in_dev(ptr))
        return KVP_MEM_HOST;
    *device_p = 0;
    return KVP_MEM_DEVICE;
}

int kvp_cuda_usable(char *why, size_t why_cap)
{
    (void)why;
    (void)why_cap;
    return 1;
}

int32_t kvp_cuda_host_alloc(uint64_t len, void **p, const struct kvp_logger *lg)
{
    (void)lg;
    *p = malloc(len);
    return *p != NULL ? KVP_OK : KVP_ERR_NO_MEMORY;
}

void kvp_cuda_host_free(void *p)
{
    free(p);
}

static int32_t sd_copy(void *ctx, uint32_t slot, int to_host, void *host,
                       uintptr_t dev, uint64_t dpitch, uint64_t width,
                       uint64_t height)
{
    (void)ctx;
    (void)slot;
    ck_assert(in_dev((void *)dev) && !in_dev(host));
    ck_assert(in_dev((void *)(dev + (height - 1) * dpitch + width - 1)));
    dev_open();
    for (uint64_t r = 0; r < height; r++) {
        unsigned char *d = (unsigned char *)dev + r * dpitch;
        unsigned char *h = (unsigned char *)host + r * width;
        memcpy(to_host ? h : d, to_host ? d : h, width);
    }
    dev_close();
    chunk_copies++;
    return KVP_OK;
}

static int32_t sd_wait(void *ctx, uint32_t slot)
{
    (void)ctx;
    (void)slot;
    return KVP_OK;
}

int32_t kvp_cuda_copier_create(int dev, const struct kvp_logger *lg,
                               struct stage_copier *cp)
{
    (void)lg;
    ck_assert_int_eq(dev, 0);
    *cp = (struct stage_copier){&header_copies, sd_copy, sd_wait};
    return KVP_OK;
}

void kvp_cuda_copier_destroy(struct stage_copier *cp)
{
    cp->ctx = NULL;
}

int32_t kvp_cuda_copy_sync(int dev, void *dst, const void *src, uint64_t len,
                           int to_host, const struct kvp_logger *lg)
{
    (void)dev;
    (void)lg;
    ck_assert(to_host && in_dev(src) && !in_dev(dst));
    dev_open();
    memcpy(dst, src, len);
    dev_close();
    header_copies++;
    return KVP_OK;
}

/* ---- the engine ------------------------------------------------------- */

static struct kvp_engine *e;
static unsigned char *host;
#define HOST_LEN (16u << 20)

static void quiet(void *u, int32_t l, const char *m)
{
    (void)u;
    if (l <= KVP_LOG_WARN)
        fprintf(stderr, "kvplug: %s\n", m);
}

static void setup(void)
{
    fake_dev =
        mmap(NULL, DEV_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(fake_dev != MAP_FAILED);
    host = malloc(HOST_LEN);
    ck_assert_ptr_nonnull(host);
    struct kvp_host_api api = {sizeof(api), 0, quiet, NULL};
    ck_assert_int_eq(kvp_op_engine_create("pool_size=256MiB", &api, &e),
                     KVP_OK);
    ck_assert_int_eq(kvp_op_register_buffer(e, fake_dev, DEV_LEN), KVP_OK);
    ck_assert_int_eq(kvp_op_register_buffer(e, host, HOST_LEN), KVP_OK);
    header_copies = chunk_copies = 0;
}

static void teardown(void)
{
    kvp_op_engine_destroy(e);
    munmap(fake_dev, DEV_LEN);
    free(host);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 131u + seed * 17u + (i >> 12));
}

/* "device" bytes [off, +n) set from / read into host memory */
static void dev_write(size_t off, const void *src, size_t n)
{
    dev_open();
    memcpy(fake_dev + off, src, n);
    dev_close();
}

static void dev_read(void *dst, size_t off, size_t n)
{
    dev_open();
    memcpy(dst, fake_dev + off, n);
    dev_close();
}

#define DST_OFF (32u << 20)

START_TEST(test_register_device_overlap)
{
    ck_assert_int_eq(kvp_op_register_buffer(e, fake_dev + 4096, 4096),
                     KVP_ERR_EXISTS);
    ck_assert_int_eq(kvp_op_unregister_buffer(e, fake_dev), KVP_OK);
    ck_assert_int_eq(kvp_op_put_from(e, "k", fake_dev, 10, NULL),
                     KVP_ERR_NOT_REGISTERED);
    ck_assert_int_eq(kvp_op_register_buffer(e, fake_dev, DEV_LEN), KVP_OK);
}
END_TEST

static void roundtrip(const char *key, size_t n)
{
    unsigned char *want = malloc(n + 1), *got = malloc(n + 1);
    fill(want, n, (unsigned)n);
    dev_write(0, want, n);
    ck_assert_int_eq(kvp_op_put_from(e, key, fake_dev, n, NULL), KVP_OK);
    ck_assert_int_eq(kvp_op_get_into(e, key, fake_dev + DST_OFF, n),
                     (int64_t)n);
    dev_read(got, DST_OFF, n);
    ck_assert(memcmp(want, got, n) == 0);
    /* the stored bytes are the object: a host get sees the same */
    memset(host, 0, n);
    ck_assert_int_eq(kvp_op_get_into(e, key, host, n), (int64_t)n);
    ck_assert(memcmp(want, host, n) == 0);
    free(want);
    free(got);
}

START_TEST(test_plain_roundtrip)
{
    roundtrip("one-chunk", 1u << 20);
    roundtrip("many-chunks", (9u << 20) + 13); /* 3 chunks of 4 MiB */
    roundtrip("one-byte", 1);
    ck_assert_int_eq(kvp_op_put_from(e, "empty", fake_dev, 0, NULL), KVP_OK);
    ck_assert_int_eq(kvp_op_get_into(e, "empty", fake_dev, 0), 0);
    ck_assert_uint_eq(header_copies, 0);
}
END_TEST

START_TEST(test_too_small_untouched)
{
    size_t n = 5u << 20;
    fill(host, n, 3);
    ck_assert_int_eq(kvp_op_put_from(e, "big", host, n, NULL), KVP_OK);
    unsigned char *pat = malloc(n), *got = malloc(n);
    memset(pat, 0x5A, n);
    dev_write(DST_OFF, pat, n);
    ck_assert_int_eq(kvp_op_get_into(e, "big", fake_dev + DST_OFF, n - 1),
                     KVP_ERR_TOO_SMALL);
    dev_read(got, DST_OFF, n);
    ck_assert(memcmp(pat, got, n) == 0);
    /* and a get of a host-stored object into device memory works */
    ck_assert_int_eq(kvp_op_get_into(e, "big", fake_dev + DST_OFF, n),
                     (int64_t)n);
    dev_read(got, DST_OFF, n);
    ck_assert(memcmp(host, got, n) == 0);
    free(pat);
    free(got);
}
END_TEST

START_TEST(test_batch_mixed)
{
    enum { N = 8 };
    size_t n = (1u << 20) + 7;
    const char *keys[N] = {"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"};
    const void *src[N];
    void *dst[N];
    uint64_t lens[N];
    int32_t pr[N];
    int64_t gr[N];
    unsigned char *want = malloc(N * n), *got = malloc(N * n);
    fill(want, N * n, 9);
    dev_write(0, want, N * n);
    memcpy(host, want, N * n); /* odd items from host memory */
    for (int i = 0; i < N; i++) {
        src[i] = i % 2 ? (void *)(host + i * n) : (void *)(fake_dev + i * n);
        dst[i] = i % 3 ? (void *)(fake_dev + DST_OFF + i * n)
                       : (void *)(host + (8u << 20) + i * n);
        lens[i] = n;
    }
    ck_assert_int_eq(kvp_op_batch_put_from(e, N, keys, src, lens, NULL, pr),
                     KVP_OK);
    ck_assert_int_eq(kvp_op_batch_put_from(e, N, keys, src, lens, NULL, pr),
                     KVP_PARTIAL); /* every item EXISTS */
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(pr[i], KVP_ERR_EXISTS);
    ck_assert_int_eq(kvp_op_batch_get_into(e, N, keys, dst, lens, gr), KVP_OK);
    dev_read(got, DST_OFF, N * n);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(gr[i], (int64_t)n);
        const unsigned char *g =
            i % 3 ? got + i * n : host + (8u << 20) + i * n;
        ck_assert_msg(memcmp(g, want + i * n, n) == 0, "item %d differs", i);
    }
    free(want);
    free(got);
}
END_TEST

static void tp_case(int split_dim, int tp)
{
    const int64_t shape[3] = {16, 8, 2048};
    unsigned char *obj = malloc(KVP_TENSOR_HDR_SIZE + 16 * 8 * 2048);
    size_t len = test_u8_tensor3(obj, shape);
    dev_write(0, obj, len);
    char key[32];
    snprintf(key, sizeof(key), "t%d_%d", split_dim, tp);
    unsigned before = header_copies;
    ck_assert_int_eq(kvp_op_put_tensor_with_tp_from(e, key, fake_dev, len, 0,
                                                    tp, split_dim, NULL),
                     KVP_OK);
    ck_assert_uint_eq(header_copies - before, 1); /* one small copy */
    int d = split_dim < 0 ? split_dim + 3 : split_dim;
    size_t want = KVP_TENSOR_HDR_SIZE + (len - KVP_TENSOR_HDR_SIZE) / tp;
    unsigned char *got = malloc(want);
    for (int r = 0; r < tp; r++) {
        ck_assert_int_eq(kvp_op_get_tensor_with_tp_into(
                             e, key, fake_dev + DST_OFF, want, r, tp),
                         (int64_t)want);
        dev_read(got, DST_OFF, want);
        struct kvp_tensor_hdr sh;
        ck_assert_int_eq(tensor_hdr_parse(got, want, &sh), TH_OK);
        ck_assert_int_eq(sh.layout_kind, KVP_LAYOUT_SHARD);
        ck_assert_int_eq(sh.axes[0].shard_rank, r);
        int64_t lo[3] = {0, 0, 0}, hi[3] = {shape[0], shape[1], shape[2]};
        lo[d] = shape[d] / tp * r;
        hi[d] = shape[d] / tp * (r + 1);
        const unsigned char *q = got + KVP_TENSOR_HDR_SIZE;
        for (int64_t a = lo[0]; a < hi[0]; a++)
            for (int64_t b = lo[1]; b < hi[1]; b++)
                for (int64_t c = lo[2]; c < hi[2]; c++)
                    ck_assert_msg(*q++ == test_u8_val(a, b, c),
                                  "rank %d (%lld,%lld,%lld)", r, (long long)a,
                                  (long long)b, (long long)c);
    }
    /* another tp_size: rank 0's shard exists but says tp; the header
     * check reads a copy of it, not the device */
    before = header_copies;
    ck_assert_int_eq(kvp_op_get_tensor_with_tp_into(e, key, fake_dev + DST_OFF,
                                                    want, 0, tp * 2),
                     KVP_ERR_TP_MISMATCH);
    ck_assert_uint_eq(header_copies - before, 1);
    free(obj);
    free(got);
}

START_TEST(test_tp_from_device)
{
    tp_case(1, 4);  /* strided: 16 extents of 2 x 2048 bytes per rank */
    tp_case(-1, 8); /* last dim: 128 extents of 256 bytes */
    tp_case(0, 2);  /* contiguous shards */
}
END_TEST

START_TEST(test_tp_mismatch_on_device)
{
    const int64_t shape[3] = {16, 8, 2048};
    unsigned char *obj = malloc(KVP_TENSOR_HDR_SIZE + 16 * 8 * 2048);
    size_t len = test_u8_tensor3(obj, shape);
    dev_write(0, obj, len);
    /* a FULL object stored under a shard key: a TP get must refuse it */
    ck_assert_int_eq(kvp_op_put_from(e, "m_tp_1", fake_dev, len, NULL), KVP_OK);
    unsigned before = header_copies;
    ck_assert_int_eq(
        kvp_op_get_tensor_with_tp_into(e, "m", fake_dev + DST_OFF, len, 1, 2),
        KVP_ERR_TP_MISMATCH);
    ck_assert_uint_eq(header_copies - before, 1);
    free(obj);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("staged engine (stand-in CUDA)");
    TCase *tc = tcase_create("staged");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_register_device_overlap);
    tcase_add_test(tc, test_plain_roundtrip);
    tcase_add_test(tc, test_too_small_untouched);
    tcase_add_test(tc, test_batch_mixed);
    tcase_add_test(tc, test_tp_from_device);
    tcase_add_test(tc, test_tp_mismatch_on_device);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
