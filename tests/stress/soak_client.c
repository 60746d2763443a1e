/*
 * soak_client.c - one process of the stress lane's soak: THREADS threads
 * of mixed overwrite-put / get / remove over KEYS keys that every soak
 * process shares, for SECONDS. Every object carries its length, a seed
 * and a checksum of its bytes, so a get that returns a torn, mixed or
 * foreign object is counted as wrong. Prints
 *   soak: reads verified V wrong W not_found N errors E max_call_ms M
 * and exits 0 only with wrong = 0, errors = 0 and every call back within
 * 5 x timeout_ms.
 * usage: soak_client CONFIG PREFIX SECONDS THREADS KEYS TIMEOUT_MS
 */
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "itest_util.h"

enum { MAX_OBJ = 64 * 1024, HDR = 32 };
#define SOAK_MAGIC UINT64_C(0x6b76706c75676f6b)

static const struct kvp_ops *o;
static struct kvp_engine *e;
static const char *prefix;
static unsigned n_keys;
static double deadline_ms, call_bound_ms;
static unsigned char *arena;
static atomic_long verified, wrong, not_found, errors, max_call_us;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t fill(unsigned char *p, uint64_t n, uint64_t seed)
{
    uint64_t s = seed | 1, sum = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) {
        p[i] = (unsigned char)next(&s);
        sum = (sum ^ p[i]) * 1099511628211ull;
    }
    return sum;
}

static void note_call(double t0)
{
    long us = (long)((now_ms() - t0) * 1e3);
    long cur = atomic_load(&max_call_us);
    while (us > cur && !atomic_compare_exchange_weak(&max_call_us, &cur, us))
        ;
}

/* 1 if obj[0..len) is a whole object as some put wrote it. */
static int intact(unsigned char *obj, uint64_t len, unsigned char *scratch)
{
    if (len < HDR)
        return 0;
    uint64_t h[4];
    memcpy(h, obj, HDR);
    if (h[0] != SOAK_MAGIC || h[1] != len)
        return 0;
    uint64_t sum = fill(scratch, len - HDR, h[2]);
    return sum == h[3] && memcmp(scratch, obj + HDR, len - HDR) == 0;
}

static void *worker(void *arg)
{
    long t = (long)arg;
    unsigned char *out = arena + (size_t)t * 3 * MAX_OBJ;
    unsigned char *in = out + MAX_OBJ, *scratch = in + MAX_OBJ;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1) ^
                   (uint64_t)getpid() << 20;
    struct kvp_put_opts ow = {sizeof(ow), KVP_PUT_OVERWRITE};
    char key[128];
    while (now_ms() < deadline_ms) {
        snprintf(key, sizeof(key), "%s_%u", prefix,
                 (unsigned)(next(&rng) % n_keys));
        unsigned op = (unsigned)(next(&rng) % 10);
        double t0 = now_ms();
        if (op < 4) {
            uint64_t len = HDR + next(&rng) % (MAX_OBJ - HDR);
            uint64_t seed = next(&rng);
            uint64_t h[4] = {SOAK_MAGIC, len, seed, 0};
            h[3] = fill(out + HDR, len - HDR, seed);
            memcpy(out, h, HDR);
            int32_t st = o->put_from(e, key, out, len, &ow);
            note_call(t0);
            if (st != KVP_OK) {
                fprintf(stderr, "put %s: %s\n", key, o->status_str(st));
                atomic_fetch_add(&errors, 1);
            }
        } else if (op < 9) {
            int64_t r = o->get_into(e, key, in, MAX_OBJ);
            note_call(t0);
            if (r == KVP_ERR_NOT_FOUND) {
                atomic_fetch_add(&not_found, 1);
            } else if (r < 0) {
                fprintf(stderr, "get %s: %s\n", key,
                        o->status_str((int32_t)r));
                atomic_fetch_add(&errors, 1);
            } else if (intact(in, (uint64_t)r, scratch)) {
                atomic_fetch_add(&verified, 1);
            } else {
                fprintf(stderr, "get %s: %lld bytes, NOT the object a put "
                                "wrote\n",
                        key, (long long)r);
                atomic_fetch_add(&wrong, 1);
            }
        } else {
            int32_t st = o->remove(e, key);
            note_call(t0);
            if (st != KVP_OK && st != KVP_ERR_NOT_FOUND) {
                fprintf(stderr, "remove %s: %s\n", key, o->status_str(st));
                atomic_fetch_add(&errors, 1);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s CONFIG PREFIX SECONDS THREADS KEYS "
                        "TIMEOUT_MS\n",
                argv[0]);
        return 2;
    }
    prefix = argv[2];
    int threads = atoi(argv[4]);
    n_keys = (unsigned)atoi(argv[5]);
    call_bound_ms = 5.0 * atof(argv[6]);
    struct kvp_plugin pl;
    o = itest_load(&pl);
    if (o == NULL || threads < 1 || threads > 64 || n_keys < 1)
        return 2;
    int32_t st = o->engine_create(argv[1], &itest_host, &e);
    if (st != KVP_OK) {
        printf("engine_create: %s\n%s", o->status_str(st), itest_log_buf);
        return 3;
    }
    size_t cap = (size_t)threads * 3 * MAX_OBJ;
    arena = aligned_alloc(4096, cap);
    if (arena == NULL || o->register_buffer(e, arena, cap) != KVP_OK)
        return 1;
    deadline_ms = now_ms() + 1e3 * atof(argv[3]);
    printf("soaking\n");
    fflush(stdout);
    pthread_t th[64];
    for (long t = 0; t < threads; t++)
        pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    double max_ms = (double)atomic_load(&max_call_us) / 1e3;
    printf("soak: reads verified %ld wrong %ld not_found %ld errors %ld "
           "max_call_ms %.0f\n",
           atomic_load(&verified), atomic_load(&wrong),
           atomic_load(&not_found), atomic_load(&errors), max_ms);
    o->unregister_buffer(e, arena);
    o->engine_destroy(e);
    free(arena);
    return atomic_load(&wrong) == 0 && atomic_load(&errors) == 0 &&
                   max_ms <= call_bound_ms
               ? 0
               : 1;
}
