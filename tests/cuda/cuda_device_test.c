/*
 * cuda_device_test.c - device memory through the REAL plugin on a REAL GPU
 * (ctest -L cuda). Exits 77 (ctest: Skipped) with the reason when no CUDA
 * runtime loads or it reports no device: it has NOT yet run on a GPU
 * (docs/cuda.md). Not Check: CUDA does not survive Check's fork().
 *
 * Checks: KVP_CAP_CUDA once this process uses CUDA; device registration;
 * put/get of plain objects from and into device memory (one chunk, many
 * chunks, a batch); TOO_SMALL leaves the device buffer untouched; TP put
 * from a device tensor split along a middle and the last dim, every rank
 * read back into device memory and compared with a reference slice; the
 * staged put's speed next to cudaMemcpy D2H (the limit), printed.
 *
 * Usage: cuda_device_test PLUGIN
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include <kvplug/kvp_loader.h>
#include "kvplug/abi.h"
#include "kvplug/tensor.h"
#include "tensor_hdr.h"
#include "tensor_test_util.h"

static struct {
    __typeof__(cudaGetDeviceCount) *get_device_count;
    __typeof__(cudaMalloc) *malloc_dev;
    __typeof__(cudaFree) *free_dev;
    __typeof__(cudaMemcpy) *memcpy_sync;
    __typeof__(cudaGetErrorString) *error_string;
} cu;

static int failures;
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                        \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)

static int skip(const char *why)
{
    printf("SKIPPED: %s; the CUDA device path is not exercised here "
           "(docs/cuda.md)\n",
           why);
    return 77;
}

static int load_cuda(char *why, size_t cap)
{
    const char *names[] = {getenv("KVPLUG_CUDART"), "libcudart.so.13",
                           "libcudart.so.12", "libcudart.so"};
    void *h = NULL;
    for (size_t i = 0; h == NULL && i < 4; i++)
        if (names[i] != NULL)
            h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (h == NULL) {
        snprintf(why, cap, "no CUDA runtime loads (libcudart.so.13/12)");
        return -1;
    }
    void **slots[] = {(void **)&cu.get_device_count, (void **)&cu.malloc_dev,
                      (void **)&cu.free_dev, (void **)&cu.memcpy_sync,
                      (void **)&cu.error_string};
    const char *syms[] = {"cudaGetDeviceCount", "cudaMalloc", "cudaFree",
                          "cudaMemcpy", "cudaGetErrorString"};
    for (int i = 0; i < 5; i++) {
        void *s = dlsym(h, syms[i]);
        if (s == NULL) {
            snprintf(why, cap, "the CUDA runtime lacks %s", syms[i]);
            return -1;
        }
        memcpy(slots[i], &s, sizeof(s));
    }
    int n = 0;
    cudaError_t err = cu.get_device_count(&n);
    if (err != cudaSuccess || n < 1) {
        snprintf(why, cap, "no CUDA device (%s)",
                 err != cudaSuccess ? cu.error_string(err) : "0 devices");
        return -1;
    }
    return 0;
}

static void h2d(void *d, const void *h, size_t n)
{
    cudaError_t err = cu.memcpy_sync(d, h, n, cudaMemcpyHostToDevice);
    CHECK(err == cudaSuccess, "cudaMemcpy H2D: %s", cu.error_string(err));
}

static void d2h(void *h, const void *d, size_t n)
{
    cudaError_t err = cu.memcpy_sync(h, d, n, cudaMemcpyDeviceToHost);
    CHECK(err == cudaSuccess, "cudaMemcpy D2H: %s", cu.error_string(err));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 131u + seed * 17u + (i >> 12));
}

#define DEV_BYTES (256u << 20)
#define SRC       0u
#define DST       (128u << 20)

static const struct kvp_ops *ops;
static struct kvp_engine *eng;
static unsigned char *dev, *host_a, *host_b;

static void plain_roundtrip(const char *key, size_t n)
{
    fill(host_a, n, (unsigned)n);
    h2d(dev + SRC, host_a, n);
    int32_t st = ops->put_from(eng, key, dev + SRC, n, NULL);
    CHECK(st == KVP_OK, "put_from %zu B from device: %s", n,
          ops->status_str(st));
    int64_t got = ops->get_into(eng, key, dev + DST, n);
    CHECK(got == (int64_t)n, "get_into %zu B into device: %lld (%s)", n,
          (long long)got, got < 0 ? ops->status_str((int32_t)got) : "size");
    memset(host_b, 0, n);
    d2h(host_b, dev + DST, n);
    CHECK(memcmp(host_a, host_b, n) == 0, "%zu B read back differ", n);
}

static void too_small_untouched(void)
{
    size_t n = 3u << 20;
    memset(host_a, 0x5A, n);
    h2d(dev + DST, host_a, n);
    int64_t got = ops->get_into(eng, "cuda/plain/9M", dev + DST, n);
    CHECK(got == KVP_ERR_TOO_SMALL, "get_into with a small cap: %lld",
          (long long)got);
    d2h(host_b, dev + DST, n);
    CHECK(memcmp(host_a, host_b, n) == 0, "TOO_SMALL touched the buffer");
}

static void batch(void)
{
    enum { N = 8 };
    size_t n = 1u << 20;
    const char *keys[N];
    const void *srcs[N];
    void *dsts[N];
    uint64_t lens[N];
    char names[N][32];
    int32_t pres[N];
    int64_t gres[N];
    fill(host_a, N * n, 99);
    h2d(dev + SRC, host_a, N * n);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "cuda/batch/%d", i);
        keys[i] = names[i];
        srcs[i] = dev + SRC + i * n;
        dsts[i] = dev + DST + i * n;
        lens[i] = n;
    }
    int32_t st = ops->batch_put_from(eng, N, keys, srcs, lens, NULL, pres);
    CHECK(st == KVP_OK, "batch_put_from: %s", ops->status_str(st));
    st = ops->batch_get_into(eng, N, keys, dsts, lens, gres);
    CHECK(st == KVP_OK, "batch_get_into: %s", ops->status_str(st));
    d2h(host_b, dev + DST, N * n);
    CHECK(memcmp(host_a, host_b, N * n) == 0, "batch read back differs");
}

/* u8 tensor [64, 16, 8192] (tensor_test_util.h) */
#define D0 64
#define D1 16
#define D2 8192

static void tp_split(int split_dim, int tp)
{
    int64_t shape[3] = {D0, D1, D2};
    size_t len = test_u8_tensor3(host_a, shape);
    size_t payload = len - KVP_TENSOR_HDR_SIZE;
    h2d(dev + SRC, host_a, len);
    char key[64];
    snprintf(key, sizeof(key), "cuda/tp/%d/%d", split_dim, tp);
    int32_t st = ops->put_tensor_with_tp_from(eng, key, dev + SRC, len, 0, tp,
                                              split_dim, NULL);
    CHECK(st == KVP_OK, "TP put from device (split %d, tp %d): %s", split_dim,
          tp, ops->status_str(st));
    int d = split_dim < 0 ? split_dim + 3 : split_dim;
    for (int r = 0; r < tp; r++) {
        int64_t got = ops->get_tensor_with_tp_into(eng, key, dev + DST,
                                                   DEV_BYTES - DST, r, tp);
        size_t want = KVP_TENSOR_HDR_SIZE + payload / (size_t)tp;
        CHECK(got == (int64_t)want, "rank %d: %lld bytes, want %zu", r,
              (long long)got, want);
        if (got != (int64_t)want)
            continue;
        d2h(host_b, dev + DST, want);
        struct kvp_tensor_hdr sh;
        CHECK(tensor_hdr_parse(host_b, want, &sh) == TH_OK &&
                  sh.layout_kind == KVP_LAYOUT_SHARD &&
                  sh.axes[0].shard_rank == r,
              "rank %d: not its SHARD header", r);
        int64_t lo[3] = {0, 0, 0}, hi[3] = {D0, D1, D2};
        lo[d] = shape[d] / tp * r;
        hi[d] = shape[d] / tp * (r + 1);
        const unsigned char *q = host_b + KVP_TENSOR_HDR_SIZE;
        int bad = 0;
        for (int64_t a = lo[0]; a < hi[0]; a++)
            for (int64_t b = lo[1]; b < hi[1]; b++)
                for (int64_t c = lo[2]; c < hi[2]; c++)
                    bad += *q++ != test_u8_val(a, b, c);
        CHECK(bad == 0, "rank %d (split %d): %d bytes differ from the slice", r,
              split_dim, bad);
    }
}

static void speed(void)
{
    size_t n = 64u << 20;
    double t0 = now_s();
    d2h(host_a, dev + SRC, n);
    double t_copy = now_s() - t0;
    t0 = now_s();
    int32_t st = ops->put_from(eng, "cuda/speed", dev + SRC, n, NULL);
    double t_put = now_s() - t0;
    CHECK(st == KVP_OK, "64 MiB put from device: %s", ops->status_str(st));
    t0 = now_s();
    int64_t got = ops->get_into(eng, "cuda/speed", dev + DST, n);
    double t_get = now_s() - t0;
    CHECK(got == (int64_t)n, "64 MiB get into device: %lld", (long long)got);
    printf("speed: cudaMemcpy D2H %.2f GB/s; staged put %.2f GB/s, get %.2f "
           "GB/s (64 MiB)\n",
           n / t_copy / 1e9, n / t_put / 1e9, n / t_get / 1e9);
}

int main(int argc, char **argv)
{
    char why[256];
    if (load_cuda(why, sizeof(why)) != 0)
        return skip(why);
    const char *path = argc > 1 ? argv[1] : getenv("KVPLUG_PLUGIN");
    struct kvp_plugin pl;
    char err[512];
    if (kvp_loader_open(path, NULL, &pl, err, sizeof(err)) != KVP_OK) {
        printf("FAIL: cannot load %s: %s\n", path, err);
        return 1;
    }
    ops = pl.ops;
    CHECK(ops->caps & KVP_CAP_CUDA, "caps lack KVP_CAP_CUDA with a GPU");
    cudaError_t cerr = cu.malloc_dev((void **)&dev, DEV_BYTES);
    if (cerr != cudaSuccess)
        return skip(cu.error_string(cerr));
    host_a = malloc(DEV_BYTES / 2);
    host_b = malloc(DEV_BYTES / 2);
    int32_t st = ops->engine_create("pool_size=1GiB", NULL, &eng);
    CHECK(st == KVP_OK, "engine_create: %s", ops->status_str(st));
    if (st != KVP_OK || host_a == NULL || host_b == NULL)
        return 1;
    st = ops->register_buffer(eng, dev, DEV_BYTES);
    CHECK(st == KVP_OK, "register_buffer(device): %s", ops->status_str(st));
    plain_roundtrip("cuda/plain/1M", 1u << 20);
    plain_roundtrip("cuda/plain/9M", (9u << 20) + 13);
    too_small_untouched();
    batch();
    tp_split(1, 4);
    tp_split(-1, 8);
    speed();
    CHECK(ops->unregister_buffer(eng, dev) == KVP_OK, "unregister_buffer");
    CHECK(ops->engine_destroy(eng) == KVP_OK, "engine_destroy");
    cu.free_dev(dev);
    free(host_a);
    free(host_b);
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
