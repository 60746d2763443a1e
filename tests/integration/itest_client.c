/*
 * itest_client.c - a one-shot host process for the multi-process tests
 * (run by itest_server.sh against a kvplug-server process):
 *   itest_client CONFIG put KEY SIZE SEED     store a pattern
 *   itest_client CONFIG get KEY SIZE SEED     read it back and check it
 *   itest_client CONFIG tpput KEY TP          TP put of a bf16 tensor
 *   itest_client CONFIG tpget KEY TP          check every rank's shard
 *   itest_client CONFIG reconnect KEY FLAG    put; wait for FLAG (server
 *       restarted meanwhile); put again: the engine reconnects
 *   itest_client CONFIG session -         a long-lived host (the cluster
 *       test): prints "ready", then per stdin line "put KEY SIZE SEED" or
 *       "get KEY SIZE SEED" one answer line: "ok", "miss" (NOT_FOUND),
 *       "bad" (wrong bytes) or "err STATUS"; "quit" ends it
 *   itest_client CONFIG hammer PREFIX         batch puts+gets until the
 *       first error; prints "first error <code> after <ms> ms" and exits 3
 * Exit 0 on success, 1 on a failed check, 2 on usage, 3 on a store error.
 */
#include <time.h>
#include <unistd.h>

#include "itest_util.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void pattern(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

static const int64_t SHAPE[4] = {4, 8, 16, 64}; /* layers, heads, tok, dim */

static int hammer(const struct kvp_ops *o, struct kvp_engine *e,
                  unsigned char *buf, const char *prefix)
{
    enum { N = 16, SZ = 64 * 1024 };
    char keys[N][64];
    const char *kp[N];
    const void *ptrs[N];
    void *outs[N];
    uint64_t lens[N], caps[N];
    int32_t res[N];
    int64_t gres[N];
    struct kvp_put_opts ow = {sizeof(ow), KVP_PUT_OVERWRITE};
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s_%d", prefix, i);
        kp[i] = keys[i];
        ptrs[i] = buf + (size_t)i * SZ;
        outs[i] = buf + (size_t)(N + i) * SZ;
        lens[i] = caps[i] = SZ;
    }
    printf("hammering\n");
    fflush(stdout);
    for (long round = 0;; round++) {
        double t0 = now_ms();
        int32_t st = o->batch_put_from(e, N, kp, ptrs, lens, &ow, res);
        int32_t code = st == KVP_OK ? KVP_OK : (st < 0 ? st : res[0]);
        if (st == KVP_OK) {
            st = o->batch_get_into(e, N, kp, outs, caps, gres);
            code = st == KVP_OK ? KVP_OK : (st < 0 ? st : (int32_t)gres[0]);
            for (int i = 0; st == KVP_PARTIAL && i < N; i++)
                if (gres[i] < 0)
                    code = (int32_t)gres[i];
        } else {
            for (int i = 0; st == KVP_PARTIAL && i < N; i++)
                if (res[i] != KVP_OK)
                    code = res[i];
        }
        if (code != KVP_OK) {
            printf("first error %s after %.0f ms, round %ld\n",
                   o->status_str(code), now_ms() - t0, round);
            /* the next op fails fast too (server gone), never hangs */
            t0 = now_ms();
            int32_t again = o->put_from(e, "after", buf, 16, NULL);
            printf("next op %d after %.0f ms\n", again, now_ms() - t0);
            return 3;
        }
    }
}

static int session(const struct kvp_ops *o, struct kvp_engine *e,
                   unsigned char *buf, size_t cap)
{
    printf("ready\n");
    fflush(stdout);
    char line[1200], cmd[16], key[1100];
    unsigned long long n;
    unsigned seed;
    while (fgets(line, sizeof(line), stdin) != NULL) {
        if (strncmp(line, "quit", 4) == 0)
            break;
        if (sscanf(line, "%15s %1099s %llu %u", cmd, key, &n, &seed) != 4 ||
            n > cap / 2) {
            printf("err usage\n");
            fflush(stdout);
            continue;
        }
        pattern(buf, n, seed);
        if (strcmp(cmd, "put") == 0) {
            int32_t st = o->put_from(e, key, buf, n, NULL);
            if (st == KVP_OK)
                printf("ok\n");
            else
                printf("err %s\n", o->status_str(st));
        } else {
            int64_t got = o->get_into(e, key, buf + cap / 2, cap / 2);
            if (got == KVP_ERR_NOT_FOUND)
                printf("miss\n");
            else if (got < 0)
                printf("err %s\n", o->status_str((int32_t)got));
            else if (got != (int64_t)n ||
                     memcmp(buf, buf + cap / 2, n) != 0)
                printf("bad\n");
            else
                printf("ok\n");
        }
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    struct kvp_plugin pl;
    const struct kvp_ops *o = itest_load(&pl);
    if (o == NULL)
        return 1;
    struct kvp_engine *e = NULL;
    int32_t st = o->engine_create(argv[1], &itest_host, &e);
    if (st != KVP_OK) {
        printf("engine_create: %s\n", o->status_str(st));
        fputs(itest_log_buf, stdout);
        return 3;
    }
    size_t cap = 16u << 20;
    unsigned char *buf = aligned_alloc(4096, cap);
    if (buf == NULL || o->register_buffer(e, buf, cap) != KVP_OK)
        return 1;
    const char *cmd = argv[2], *key = argv[3];
    int rc = 0;
    if (strcmp(cmd, "session") == 0) {
        rc = session(o, e, buf, cap);
        o->engine_destroy(e);
        return rc;
    }
    if ((strcmp(cmd, "put") == 0 || strcmp(cmd, "get") == 0) && argc == 6) {
        size_t n = strtoull(argv[4], NULL, 10);
        unsigned seed = (unsigned)atoi(argv[5]);
        if (n > cap / 2)
            return 2;
        pattern(buf, n, seed);
        if (cmd[0] == 'p') {
            st = o->put_from(e, key, buf, n, NULL);
            rc = st == KVP_OK ? 0 : 3;
        } else {
            int64_t got = o->get_into(e, key, buf + cap / 2, cap / 2);
            st = got < 0 ? (int32_t)got : KVP_OK;
            rc = got < 0 ? 3
                 : (got == (int64_t)n && memcmp(buf, buf + cap / 2, n) == 0)
                     ? 0
                     : 1;
        }
        printf("%s %s: %s%s\n", cmd, key, o->status_str(st),
               rc == 1 ? " DATA MISMATCH" : "");
    } else if (strcmp(cmd, "tpput") == 0 && argc == 5) {
        int tp = atoi(argv[4]);
        uint64_t len = itest_make_tensor(buf, KVP_DTYPE_BF16, 4, SHAPE, 42);
        st = o->put_tensor_with_tp_from(e, key, buf, len, 0, tp, -3, NULL);
        rc = st == KVP_OK ? 0 : 3;
        printf("tpput %s: %s\n", key, o->status_str(st));
    } else if (strcmp(cmd, "tpget") == 0 && argc == 5) {
        int tp = atoi(argv[4]);
        itest_make_tensor(buf, KVP_DTYPE_BF16, 4, SHAPE, 42);
        unsigned char *out = buf + (4u << 20), *ref = buf + (8u << 20);
        for (int r = 0; r < tp && rc == 0; r++) {
            int64_t got =
                o->get_tensor_with_tp_into(e, key, out, 4u << 20, r, tp);
            uint64_t n =
                itest_ref_shard(buf, KVP_DTYPE_BF16, 4, SHAPE, 1, tp, r, ref);
            if (got != (int64_t)(KVP_TENSOR_HDR_SIZE + n) ||
                memcmp(out + KVP_TENSOR_HDR_SIZE, ref, n) != 0) {
                printf("tpget %s rank %d: %lld, mismatch\n", key, r,
                       (long long)got);
                rc = got < 0 ? 3 : 1;
            }
        }
        if (rc == 0)
            printf("tpget %s: all %d ranks ok\n", key, tp);
    } else if (strcmp(cmd, "reconnect") == 0 && argc == 5) {
        /* put, wait for the server to be replaced, put again: the engine
         * must reconnect by itself; the old key died with the server */
        const char *flag = argv[4];
        char key2[256];
        snprintf(key2, sizeof(key2), "%s_after", key);
        pattern(buf, 4096, 1);
        st = o->put_from(e, key, buf, 4096, NULL);
        printf("first put %s\nwaiting\n", o->status_str(st));
        fflush(stdout);
        int waited = 0;
        while (access(flag, F_OK) != 0 && waited++ < 300)
            usleep(100 * 1000);
        /* the first op after the restart succeeds: the stale connection
         * is replaced transparently */
        int32_t st2 = o->put_from(e, key2, buf, 4096, NULL);
        int64_t old = o->get_into(e, key, buf + 8192, 4096);
        int64_t now = o->get_into(e, key2, buf + 8192, 4096);
        printf("put after restart %d, old key %lld, new key %lld\n", st2,
               (long long)old, (long long)now);
        rc = (st == KVP_OK && st2 == KVP_OK && old == KVP_ERR_NOT_FOUND &&
              now == 4096 && memcmp(buf, buf + 8192, 4096) == 0)
                 ? 0
                 : 1;
    } else if (strcmp(cmd, "hammer") == 0) {
        rc = hammer(o, e, buf, key);
    } else {
        return 2;
    }
    o->engine_destroy(e);
    free(buf);
    return rc;
}
