/*
 * kvplug_demo.c - a minimal host engine: loads a kvplug plugin through the
 * loader, stores full bf16 KV tensors [layers, 2, heads, tokens, dim] with
 * batch_put_tensor_with_tp_from at tp 1/2/4/8, split along layers (dim 0)
 * and heads (dim -3), reads every rank's shard back with
 * get_tensor_with_tp_into and checks each against its own reference slice
 * (a naive element walk, independent of the plugin's planner).
 *
 * Usage: kvplug-demo [--config STR] [--plugin PATH | PATH]
 * Plugin: PATH, else $KVPLUG_PLUGIN, else libkvplug.so next to this binary
 * (../lib/ or the same directory). Exit status 0 only if every check passed.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvp_loader.h"
#include "kvplug/abi.h"
#include "kvplug/tensor.h"

#define N_TENSORS 4
#define NDIM      5
static const int64_t SHAPE[NDIM] = {8, 2, 8, 64, 128}; /* L,2,H,T,D */
#define ESZ 2                                          /* bf16 */

static int32_t log_level = KVP_LOG_WARN;

static void host_log(void *user, int32_t level, const char *msg)
{
    (void)user;
    if (level <= log_level)
        fprintf(stderr, "[kvplug %d] %s\n", level, msg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t numel(const int64_t *shape)
{
    uint64_t n = 1;
    for (int i = 0; i < NDIM; i++)
        n *= (uint64_t)shape[i];
    return n;
}

/* A FULL tensor object v1: 304-byte header, then the payload. */
static uint64_t make_tensor(unsigned char *obj, uint32_t seed)
{
    uint64_t bytes = numel(SHAPE) * ESZ;
    memset(obj, 0, KVP_TENSOR_HDR_SIZE);
    put_le(obj + 0, KVP_TENSOR_MAGIC, 4);
    put_le(obj + 4, KVP_TENSOR_VERSION, 2);
    put_le(obj + 6, KVP_TENSOR_HDR_SIZE, 2);
    put_le(obj + 8, KVP_DTYPE_BF16, 4);
    put_le(obj + 12, NDIM, 4);
    put_le(obj + 16, KVP_LAYOUT_FULL, 4);
    put_le(obj + 24, KVP_TENSOR_HDR_SIZE, 8);
    put_le(obj + 32, bytes, 8);
    for (int i = 0; i < KVP_TENSOR_MAX_DIMS; i++) {
        int64_t d = i < NDIM ? SHAPE[i] : -1;
        put_le(obj + 40 + 8 * i, (uint64_t)d, 8);
        put_le(obj + 104 + 8 * i, (uint64_t)d, 8);
    }
    uint32_t x = seed * 2654435761u + 7;
    for (uint64_t i = 0; i < bytes; i++) {
        x = x * 1664525u + 1013904223u;
        obj[KVP_TENSOR_HDR_SIZE + i] = (unsigned char)(x >> 24);
    }
    return KVP_TENSOR_HDR_SIZE + bytes;
}

/* Reference: shard `rank` of tp along dim d, element by element. */
static uint64_t ref_shard(const unsigned char *full, int d, int tp, int rank,
                          unsigned char *out)
{
    int64_t local[NDIM];
    memcpy(local, SHAPE, sizeof(local));
    local[d] = SHAPE[d] / tp;
    uint64_t n = numel(local);
    const unsigned char *src = full + KVP_TENSOR_HDR_SIZE;
    for (uint64_t e = 0; e < n; e++) {
        int64_t idx[NDIM];
        uint64_t rem = e;
        for (int i = NDIM - 1; i >= 0; i--) {
            idx[i] = (int64_t)(rem % (uint64_t)local[i]);
            rem /= (uint64_t)local[i];
        }
        uint64_t lin = 0;
        for (int i = 0; i < NDIM; i++)
            lin = lin * (uint64_t)SHAPE[i] +
                  (uint64_t)(idx[i] + (i == d ? rank * local[d] : 0));
        memcpy(out + e * ESZ, src + lin * ESZ, ESZ);
    }
    return n * ESZ;
}

/* The shard object must carry the right SHARD header and payload. */
static int shard_ok(const unsigned char *full, int d, int tp, int rank,
                    const unsigned char *got, int64_t got_len,
                    unsigned char *scratch)
{
    uint64_t bytes = ref_shard(full, d, tp, rank, scratch);
    if (got_len != (int64_t)(KVP_TENSOR_HDR_SIZE + bytes) ||
        get_le(got, 4) != KVP_TENSOR_MAGIC ||
        get_le(got + 16, 4) != KVP_LAYOUT_SHARD ||
        get_le(got + 184, 4) != (uint64_t)rank ||
        get_le(got + 188, 4) != (uint64_t)tp ||
        get_le(got + 192, 4) != (uint64_t)d)
        return 0;
    for (int i = 0; i < NDIM; i++) {
        int64_t local = i == d ? SHAPE[i] / tp : SHAPE[i];
        if ((int64_t)get_le(got + 104 + 8 * i, 8) != local)
            return 0;
    }
    return memcmp(got + KVP_TENSOR_HDR_SIZE, scratch, bytes) == 0;
}

/* Default plugin: libkvplug.so in ../lib or next to this executable. */
static const char *default_plugin(char *buf, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    snprintf(buf, cap, "%s/../lib/libkvplug.so", exe);
    if (access(buf, R_OK) == 0)
        return buf;
    snprintf(buf, cap, "%s/libkvplug.so", exe);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

struct demo {
    const struct kvp_ops *ops;
    struct kvp_engine *eng;
    unsigned char *in, *out, *scratch;
    uint64_t obj_len;
    int failures;
    int v1_1; /* negotiated ABI 1.1: the TP group and batch slots */
};

static void row(const char *op, int tp, int sd, uint64_t bytes, double secs,
                int ok)
{
    printf("%-26s %3d %9d %12llu %8.2f  %s\n", op, tp, sd,
           (unsigned long long)bytes,
           secs > 0 ? (double)bytes / secs / 1e9 : 0.0, ok ? "ok" : "FAIL");
}

/* One (tp, split_dim): batch put N tensors, read back every rank. */
static void run_case(struct demo *dm, int tp, int sd)
{
    const struct kvp_ops *o = dm->ops;
    int d = sd < 0 ? sd + NDIM : sd;
    char keys[N_TENSORS][64];
    const char *kp[N_TENSORS];
    const void *ptrs[N_TENSORS];
    uint64_t lens[N_TENSORS];
    int32_t res[N_TENSORS];
    for (int i = 0; i < N_TENSORS; i++) {
        snprintf(keys[i], sizeof(keys[i]), "demo/kv/tp%d/sd%d/%d", tp, sd, i);
        kp[i] = keys[i];
        ptrs[i] = dm->in + (size_t)i * dm->obj_len;
        lens[i] = dm->obj_len;
    }
    double t0 = now_s();
    int32_t st = o->batch_put_tensor_with_tp_from(dm->eng, N_TENSORS, kp, ptrs,
                                                  lens, 0, tp, sd, NULL, res);
    double t1 = now_s();
    int ok = st == KVP_OK;
    for (int i = 0; i < N_TENSORS && !ok; i++)
        if (res[i] != KVP_OK)
            fprintf(stderr, "put %s: %s\n", kp[i], o->status_str(res[i]));
    row("batch_put_tensor_with_tp", tp, sd, N_TENSORS * dm->obj_len, t1 - t0,
        ok);
    dm->failures += !ok;

    int ranks = tp > 1 ? tp : 1;
    uint64_t got_bytes = 0;
    int get_ok = 1;
    double tg = 0;
    for (int i = 0; i < N_TENSORS; i++) {
        for (int r = 0; r < ranks; r++) {
            t0 = now_s();
            int64_t got = o->get_tensor_with_tp_into(dm->eng, kp[i], dm->out,
                                                     dm->obj_len, r, tp);
            tg += now_s() - t0;
            int good;
            if (got < 0) {
                fprintf(stderr, "get %s rank %d/%d: %s\n", kp[i], r, tp,
                        o->status_str((int32_t)got));
                good = 0;
            } else if (tp <= 1) {
                good = got == (int64_t)dm->obj_len &&
                       memcmp(dm->out, ptrs[i], dm->obj_len) == 0;
            } else {
                good = shard_ok(ptrs[i], d, tp, r, dm->out, got, dm->scratch);
            }
            if (!good)
                fprintf(stderr, "check %s rank %d/%d: mismatch\n", kp[i], r,
                        tp);
            get_ok &= good;
            got_bytes += got > 0 ? (uint64_t)got : 0;
        }
    }
    row("get_tensor_with_tp_into", tp, sd, got_bytes, tg, get_ok);
    dm->failures += !get_ok;
    /* free the pool for the next case: with 1.1 every tensor is a TP
     * group, so checking and removing one shard key per tensor covers all
     * of its ranks (one batch_exists, one batch_remove request) */
    char shard[N_TENSORS][96];
    const char *sk[N_TENSORS];
    for (int i = 0; i < N_TENSORS; i++) {
        if (tp <= 1)
            snprintf(shard[i], sizeof(shard[i]), "%s", kp[i]);
        else
            snprintf(shard[i], sizeof(shard[i]), "%s_tp_%d", kp[i], tp - 1);
        sk[i] = shard[i];
    }
    if (dm->v1_1) {
        int32_t ex[N_TENSORS], rm[N_TENSORS];
        int all = o->batch_exists(dm->eng, N_TENSORS, sk, ex) == KVP_OK;
        for (int i = 0; i < N_TENSORS; i++)
            all &= ex[i] == 1;
        int rm_ok = o->batch_remove(dm->eng, N_TENSORS, sk, rm) == KVP_OK;
        for (int i = 0; i < N_TENSORS; i++)
            rm_ok &= o->exists(dm->eng, kp[i]) == 0 &&
                     (tp <= 1 || o->stat(dm->eng, sk[0]) == KVP_ERR_NOT_FOUND);
        row("batch_exists+batch_remove", tp, sd, 0, 1, all && rm_ok);
        dm->failures += !(all && rm_ok);
        return;
    }
    for (int i = 0; i < N_TENSORS; i++) {
        if (tp <= 1) {
            o->remove(dm->eng, kp[i]);
            continue;
        }
        for (int r = 0; r < tp; r++) {
            char one[96];
            snprintf(one, sizeof(one), "%s_tp_%d", kp[i], r);
            o->remove(dm->eng, one);
        }
    }
}

int main(int argc, char **argv)
{
    const char *config = "pool_size=256MiB";
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "-v") == 0) {
            log_level = KVP_LOG_INFO;
        } else if (argv[i][0] != '-') {
            path = argv[i];
        } else {
            fprintf(stderr,
                    "usage: %s [--config STR] [--plugin PATH | PATH] "
                    "[-v]\n",
                    argv[0]);
            return 2;
        }
    }
    char def[PATH_MAX + 32];
    if (path == NULL && getenv("KVPLUG_PLUGIN") == NULL)
        path = default_plugin(def, sizeof(def));

    struct kvp_host_api host = {sizeof(host), 0, host_log, NULL};
    struct kvp_plugin plugin;
    char err[1024];
    int32_t st = kvp_loader_open(path, &host, &plugin, err, sizeof(err));
    if (st != KVP_OK) {
        fprintf(stderr, "kvplug-demo: %s\n", err);
        return 1;
    }
    const struct kvp_ops *o = plugin.ops;
    printf("plugin %s %s (ABI %u.%u) from %s\n", o->name, o->version,
           plugin.abi_major, plugin.abi_minor, plugin.path);
    if (!KVP_HAS_OP(o, batch_put_tensor_with_tp_from) ||
        !KVP_HAS_OP(o, get_tensor_with_tp_into)) {
        fprintf(stderr, "kvplug-demo: plugin lacks the TP ops\n");
        return 1;
    }
    struct demo dm = {.ops = o,
                      .v1_1 = plugin.abi_minor >= 1 &&
                              KVP_HAS_OP(o, batch_remove) &&
                              KVP_HAS_OP(o, get_stats)};
    st = o->engine_create(config, &host, &dm.eng);
    if (st != KVP_OK) {
        fprintf(stderr, "kvplug-demo: engine_create(\"%s\"): %s\n", config,
                o->status_str(st));
        return 1;
    }
    dm.obj_len = KVP_TENSOR_HDR_SIZE + numel(SHAPE) * ESZ;
    size_t region = (size_t)(N_TENSORS + 1) * dm.obj_len;
    unsigned char *mem = aligned_alloc(4096, (region + 4095) / 4096 * 4096);
    dm.scratch = malloc(dm.obj_len);
    if (mem == NULL || dm.scratch == NULL) {
        fprintf(stderr, "kvplug-demo: out of memory\n");
        return 1;
    }
    dm.in = mem;
    dm.out = mem + (size_t)N_TENSORS * dm.obj_len;
    for (int i = 0; i < N_TENSORS; i++)
        make_tensor(dm.in + (size_t)i * dm.obj_len, (uint32_t)i + 1);
    st = o->register_buffer(dm.eng, mem, region);
    if (st != KVP_OK) {
        fprintf(stderr, "kvplug-demo: register_buffer: %s\n",
                o->status_str(st));
        return 1;
    }
    printf("%d tensors bf16 [%lld, %lld, %lld, %lld, %lld], %llu bytes "
           "each; config \"%s\"\n",
           N_TENSORS, (long long)SHAPE[0], (long long)SHAPE[1],
           (long long)SHAPE[2], (long long)SHAPE[3], (long long)SHAPE[4],
           (unsigned long long)dm.obj_len, config);
    printf("%-26s %3s %9s %12s %8s  %s\n", "op", "tp", "split_dim", "bytes",
           "GB/s", "ok");
    const int tps[4] = {1, 2, 4, 8};
    const int sds[2] = {0, -3};
    for (int t = 0; t < 4; t++)
        for (int s = 0; s < 2; s++)
            run_case(&dm, tps[t], sds[s]);
    if (dm.v1_1) {
        struct kvp_stats ks = {.struct_size = sizeof ks};
        if (o->get_stats(dm.eng, &ks) == KVP_OK)
            printf("stats: %llu puts (%llu bytes), %llu gets (%llu bytes), "
                   "%llu misses, %llu errors, %llu removed\n",
                   (unsigned long long)ks.puts,
                   (unsigned long long)ks.put_bytes,
                   (unsigned long long)ks.gets,
                   (unsigned long long)ks.get_bytes,
                   (unsigned long long)ks.get_misses,
                   (unsigned long long)ks.errors,
                   (unsigned long long)ks.removes);
        dm.failures += ks.errors != 0;
    }
    o->unregister_buffer(dm.eng, mem);
    o->engine_destroy(dm.eng);
    free(mem);
    free(dm.scratch);
    printf("%s: %d failure(s)\n", dm.failures ? "FAILED" : "PASSED",
           dm.failures);
    return dm.failures ? 1 : 0;
}
