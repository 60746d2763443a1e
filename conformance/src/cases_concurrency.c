/* cases_concurrency.c - KVP_CAP_THREAD_SAFE (DESIGN.md §2 "Threads", §3
 * "put"/"get"): concurrent puts of one key have exactly one winner, mixed
 * ops never return torn or foreign bytes, overwrite readers see the old or
 * the new object, never a mix. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define NT 8

struct shared {
    struct conf_ctx *ctx;
    pthread_barrier_t start;
    pthread_mutex_t lock;
    volatile int stop;
    long hits; /* reads that found an object (atomic) */
};

static void thread_fail(struct shared *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void thread_fail(struct shared *s, const char *fmt, ...)
{
    char msg[CONF_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->lock);
    if (!conf_failed(s->ctx))
        conf_fail(s->ctx, "%s", msg);
    s->stop = 1;
    pthread_mutex_unlock(&s->lock);
}

/* ---- one key, many writers ------------------------------------------- */
struct racer {
    struct shared *s;
    const char *key;
    unsigned char *buf;
    size_t len;
    int32_t result;
};

static void *race_put(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(&r->s->start);
    r->result = r->s->ctx->ops->put_from(r->s->ctx->engine, r->key, r->buf,
                                         r->len, NULL);
    return NULL;
}

static void same_key_one_winner(struct conf_ctx *ctx)
{
    struct shared s = {.ctx = ctx};
    pthread_mutex_init(&s.lock, NULL);
    const size_t len = 64 * 1024;
    struct racer r[NT];
    unsigned char *back = conf_alloc(ctx, len);
    for (int i = 0; i < NT; i++)
        if ((r[i].buf = conf_alloc(ctx, len)) == NULL || back == NULL)
            return;
    for (int round = 0; round < 10; round++) {
        char key[256], name[32];
        snprintf(name, sizeof(name), "race%d", round);
        conf_key(ctx, key, sizeof(key), name);
        pthread_barrier_init(&s.start, NULL, NT);
        pthread_t th[NT];
        for (int i = 0; i < NT; i++) {
            r[i] = (struct racer){&s, key, r[i].buf, len, 12345};
            conf_pattern_fill(r[i].buf, len, (uint32_t)(round * NT + i));
            pthread_create(&th[i], NULL, race_put, &r[i]);
        }
        for (int i = 0; i < NT; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&s.start);
        int winners = 0, winner = -1;
        for (int i = 0; i < NT; i++) {
            if (r[i].result == KVP_OK) {
                winners++;
                winner = i;
            } else if (r[i].result != KVP_ERR_EXISTS) {
                conf_fail(ctx,
                          "observed a concurrent put_from of one key = "
                          "%s, expected KVP_OK or KVP_ERR_EXISTS",
                          conf_st(r[i].result));
                return;
            }
        }
        CONF_EXPECT(ctx,
                    "number of KVP_OK among 8 concurrent puts of one "
                    "key",
                    winners, 1);
        CONF_EXPECT(ctx, "get_into(raced key)",
                    ctx->ops->get_into(ctx->engine, key, back, len),
                    (int64_t)len);
        CONF_EXPECT(ctx,
                    "first byte of the raced key differing from the "
                    "winner's",
                    conf_memdiff(back, r[winner].buf, len), -1);
    }
}

/* ---- mixed ops with checksummed payloads ------------------------------ */
#define ITERS 40

struct worker {
    struct shared *s;
    int id;
    unsigned char *put_buf, *get_buf, *want;
};

static size_t obj_len(int t, int j)
{
    return 1 + (size_t)((t * 7919 + j * 104729) % (48 * 1024));
}

static uint32_t obj_seed(int t, int j)
{
    return (uint32_t)(t * 1000 + j + 1);
}

static int verify_obj(struct worker *w, int t, int j, int64_t got,
                      const char *what)
{
    size_t len = obj_len(t, j);
    if (got != (int64_t)len) {
        thread_fail(w->s,
                    "observed %s = %s (thread %d), expected the "
                    "object size %zu",
                    what, conf_st(got), w->id, len);
        return -1;
    }
    conf_pattern_fill(w->want, len, obj_seed(t, j));
    int64_t d = conf_memdiff(w->get_buf, w->want, len);
    if (d >= 0) {
        thread_fail(w->s,
                    "observed %s torn or foreign at byte %lld (thread "
                    "%lld), expected exactly the bytes put",
                    what, (long long)d, (long long)w->id);
        return -1;
    }
    return 0;
}

static void *mixed_worker(void *arg)
{
    struct worker *w = arg;
    struct conf_ctx *ctx = w->s->ctx;
    unsigned rnd = (unsigned)w->id * 2654435761u + 1;
    pthread_barrier_wait(&w->s->start);
    for (int j = 0; j < ITERS && !w->s->stop; j++) {
        char key[256], name[48];
        snprintf(name, sizeof(name), "m%d-%d", w->id, j);
        conf_key(ctx, key, sizeof(key), name);
        size_t len = obj_len(w->id, j);
        conf_pattern_fill(w->put_buf, len, obj_seed(w->id, j));
        int32_t st =
            ctx->ops->put_from(ctx->engine, key, w->put_buf, len, NULL);
        if (st != KVP_OK) {
            thread_fail(w->s, "observed put_from(%s) = %s, expected KVP_OK",
                        key, conf_st(st));
            break;
        }
        memset(w->put_buf, 0xEE, len); /* reusable once put returned */
        int64_t got =
            ctx->ops->get_into(ctx->engine, key, w->get_buf, 64 * 1024);
        if (verify_obj(w, w->id, j, got, "get_into(own key)") != 0)
            break;
        /* read another thread's object: absent or exactly right */
        rnd = rnd * 1103515245u + 12345u;
        int t = (int)((rnd >> 8) % NT), jj = (int)((rnd >> 16) % (j + 1));
        snprintf(name, sizeof(name), "m%d-%d", t, jj);
        conf_key(ctx, key, sizeof(key), name);
        got = ctx->ops->get_into(ctx->engine, key, w->get_buf, 64 * 1024);
        if (got != KVP_ERR_NOT_FOUND &&
            verify_obj(w, t, jj, got, "get_into(another thread's key)") != 0)
            break;
        int64_t sz = ctx->ops->stat(ctx->engine, key);
        if (sz != KVP_ERR_NOT_FOUND && sz != (int64_t)obj_len(t, jj)) {
            thread_fail(w->s, "observed stat(%s) = %lld, expected %lld", key,
                        (long long)sz, (long long)obj_len(t, jj));
            break;
        }
    }
    return NULL;
}

static void mixed_ops(struct conf_ctx *ctx)
{
    struct shared s = {.ctx = ctx};
    pthread_mutex_init(&s.lock, NULL);
    pthread_barrier_init(&s.start, NULL, NT);
    struct worker w[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (struct worker){&s, i, conf_alloc(ctx, 64 * 1024),
                               conf_alloc(ctx, 64 * 1024), malloc(64 * 1024)};
        if (w[i].put_buf == NULL || w[i].get_buf == NULL || !w[i].want)
            return;
    }
    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, mixed_worker, &w[i]);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&s.start);
}

/* ---- overwrite under readers ------------------------------------------ */
#define OW_LEN        (256 * 1024)
#define OW_WRITES     150
#define OW_MAX_WRITES 20000

struct ow {
    struct shared *s;
    const char *key;
    unsigned char *buf, *a, *b;
    long reads;
};

static void *ow_writer(void *arg)
{
    struct ow *o = arg;
    struct conf_ctx *ctx = o->s->ctx;
    pthread_barrier_wait(&o->s->start);
    /* on until the readers ran too (see vis_writer) */
    for (int i = 1; !o->s->stop &&
                    (i <= OW_WRITES ||
                     (i <= OW_MAX_WRITES &&
                      __atomic_load_n(&o->s->hits, __ATOMIC_RELAXED) < 100));
         i++) {
        memcpy(o->buf, (i & 1) ? o->b : o->a, OW_LEN);
        int32_t st = ctx->ops->put_from(ctx->engine, o->key, o->buf, OW_LEN,
                                        &conf_opts_overwrite);
        if (st != KVP_OK) {
            thread_fail(o->s,
                        "observed overwrite put_from(%s) = %s, "
                        "expected KVP_OK",
                        o->key, conf_st(st));
            break;
        }
    }
    o->s->stop = 1;
    return NULL;
}

static void *ow_reader(void *arg)
{
    struct ow *o = arg;
    struct conf_ctx *ctx = o->s->ctx;
    pthread_barrier_wait(&o->s->start);
    while (!o->s->stop) {
        int64_t got = ctx->ops->get_into(ctx->engine, o->key, o->buf, OW_LEN);
        if (got != OW_LEN) {
            thread_fail(o->s,
                        "observed get_into(%s) during overwrites = "
                        "%s, expected the object size",
                        o->key, conf_st(got));
            break;
        }
        o->reads++;
        __atomic_add_fetch(&o->s->hits, 1, __ATOMIC_RELAXED);
        if (memcmp(o->buf, o->a, OW_LEN) != 0 &&
            memcmp(o->buf, o->b, OW_LEN) != 0) {
            long long da = conf_memdiff(o->buf, o->a, OW_LEN);
            long long db = conf_memdiff(o->buf, o->b, OW_LEN);
            thread_fail(o->s,
                        "observed %s read during overwrites matching "
                        "neither the old nor the new object (first "
                        "difference %lld vs old, %lld vs new), "
                        "expected one of them whole",
                        o->key, da, db);
            break;
        }
    }
    return NULL;
}

static void overwrite_old_or_new(struct conf_ctx *ctx)
{
    enum { READERS = 3 };
    struct shared s = {.ctx = ctx};
    pthread_mutex_init(&s.lock, NULL);
    pthread_barrier_init(&s.start, NULL, READERS + 1);
    char key[256];
    conf_key(ctx, key, sizeof(key), "ow");
    unsigned char *a = conf_alloc(ctx, OW_LEN), *b = conf_alloc(ctx, OW_LEN);
    if (a == NULL || b == NULL)
        return;
    conf_pattern_fill(a, OW_LEN, 1);
    conf_pattern_fill(b, OW_LEN, 2);
    CONF_EXPECT(ctx, "put_from(initial object)",
                ctx->ops->put_from(ctx->engine, key, a, OW_LEN, NULL), KVP_OK);
    struct ow o[READERS + 1];
    for (int i = 0; i <= READERS; i++) {
        o[i] = (struct ow){&s, key, conf_alloc(ctx, OW_LEN), a, b, 0};
        if (o[i].buf == NULL)
            return;
    }
    pthread_t th[READERS + 1];
    pthread_create(&th[0], NULL, ow_writer, &o[0]);
    for (int i = 1; i <= READERS; i++)
        pthread_create(&th[i], NULL, ow_reader, &o[i]);
    for (int i = 0; i <= READERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&s.start);
    long reads = 0;
    for (int i = 1; i <= READERS; i++)
        reads += o[i].reads;
    if (!conf_failed(ctx) && reads == 0)
        conf_fail(ctx, "observed no read during the overwrites, expected "
                       "some (nothing was exercised)");
}

/* ---- registration concurrent with I/O ---------------------------------- */
static void *reg_worker(void *arg)
{
    struct worker *w = arg;
    struct conf_ctx *ctx = w->s->ctx;
    pthread_barrier_wait(&w->s->start);
    for (int j = 0; j < 20 && !w->s->stop; j++) {
        char key[256], name[48];
        snprintf(name, sizeof(name), "reg%d-%d", w->id, j);
        conf_key(ctx, key, sizeof(key), name);
        size_t len = obj_len(w->id, j);
        int32_t st = ctx->ops->register_buffer(ctx->engine, w->want, 64 * 1024);
        if (st != KVP_OK) {
            thread_fail(w->s,
                        "observed register_buffer(private buffer) = %s "
                        "while others do I/O, expected KVP_OK",
                        conf_st(st));
            break;
        }
        conf_pattern_fill(w->want, len, obj_seed(w->id, j));
        st = ctx->ops->put_from(ctx->engine, key, w->want, len, NULL);
        int32_t un = ctx->ops->unregister_buffer(ctx->engine, w->want);
        if (st != KVP_OK || un != KVP_OK) {
            thread_fail(w->s,
                        "observed put_from(%s) = %s, then "
                        "unregister_buffer = %s, expected KVP_OK",
                        key, conf_st(st), conf_st(un));
            break;
        }
        int64_t got =
            ctx->ops->get_into(ctx->engine, key, w->get_buf, 64 * 1024);
        if (verify_obj(w, w->id, j, got, "get_into(own key)") != 0)
            break;
    }
    return NULL;
}

static void register_during_io(struct conf_ctx *ctx)
{
    struct shared s = {.ctx = ctx};
    pthread_mutex_init(&s.lock, NULL);
    pthread_barrier_init(&s.start, NULL, NT);
    struct worker w[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (struct worker){&s, i, NULL, conf_alloc(ctx, 64 * 1024),
                               aligned_alloc(4096, 64 * 1024)};
        if (w[i].get_buf == NULL || w[i].want == NULL)
            return;
    }
    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&th[i], NULL, reg_worker, &w[i]);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&s.start);
}

/* ---- visibility and reuse under readers -------------------------------- */
#define VIS_LEN  (1024 * 1024)
#define VIS_KEYS 12

struct vis {
    struct shared *s;
    int id;
    long hits;
    unsigned char *buf, *want[VIS_KEYS];
    const char *keys[VIS_KEYS];
};

/* Gets every key over and over: each read is NOT_FOUND or the whole
 * object, never a prefix of it or bytes of another object. */
static void *vis_reader(void *arg)
{
    struct vis *v = arg;
    struct conf_ctx *ctx = v->s->ctx;
    pthread_barrier_wait(&v->s->start);
    while (!v->s->stop) {
        for (int k = 0; k < VIS_KEYS && !v->s->stop; k++) {
            int64_t got =
                ctx->ops->get_into(ctx->engine, v->keys[k], v->buf, VIS_LEN);
            if (got == KVP_ERR_NOT_FOUND)
                continue;
            if (got != VIS_LEN) {
                thread_fail(v->s,
                            "observed get_into(%s) racing its put/"
                            "remove = %s, expected NOT_FOUND or %d",
                            v->keys[k], conf_st(got), VIS_LEN);
                return NULL;
            }
            int64_t d = conf_memdiff(v->buf, v->want[k], VIS_LEN);
            if (d >= 0) {
                thread_fail(v->s,
                            "observed get_into(%s) racing its put/"
                            "remove returning other bytes from byte "
                            "%lld, expected the whole object",
                            v->keys[k], (long long)d);
                return NULL;
            }
            v->hits++;
            __atomic_add_fetch(&v->s->hits, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

/* Puts, removes and re-puts the keys while churning other objects through
 * the same store, so freed memory is reused while readers are active. At
 * least VIS_ROUNDS rounds, and on until the readers found objects: a fast
 * plugin on few cores can finish six rounds before a reader ran at all. */
#define VIS_ROUNDS     6
#define VIS_MAX_ROUNDS 2000

static void *vis_writer(void *arg)
{
    struct vis *v = arg;
    struct conf_ctx *ctx = v->s->ctx;
    pthread_barrier_wait(&v->s->start);
    for (int round = 0;
         !v->s->stop &&
         (round < VIS_ROUNDS ||
          (round < VIS_MAX_ROUNDS &&
           __atomic_load_n(&v->s->hits, __ATOMIC_RELAXED) < 100));
         round++) {
        for (int k = 0; k < VIS_KEYS && !v->s->stop; k++) {
            int32_t st = ctx->ops->put_from(ctx->engine, v->keys[k], v->want[k],
                                            VIS_LEN, NULL);
            if (st != KVP_OK) {
                thread_fail(v->s,
                            "observed put_from(%s) = %s, expected "
                            "KVP_OK",
                            v->keys[k], conf_st(st));
                break;
            }
            char churn[256], name[48];
            snprintf(name, sizeof(name), "churn%d-%d", round, k);
            conf_key(ctx, churn, sizeof(churn), name);
            memset(v->buf, 0xC3 ^ k, VIS_LEN);
            st = ctx->ops->put_from(ctx->engine, churn, v->buf, VIS_LEN, NULL);
            if (st == KVP_OK)
                ctx->ops->remove(ctx->engine, churn);
            if (k % 2 == round % 2)
                ctx->ops->remove(ctx->engine, v->keys[k]);
        }
        for (int k = 0; k < VIS_KEYS; k++)
            ctx->ops->remove(ctx->engine, v->keys[k]);
    }
    v->s->stop = 1;
    return NULL;
}

static void visible_whole_only(struct conf_ctx *ctx)
{
    enum { READERS = 3 };
    struct shared s = {.ctx = ctx};
    pthread_mutex_init(&s.lock, NULL);
    pthread_barrier_init(&s.start, NULL, READERS + 1);
    static char keybuf[VIS_KEYS][256];
    struct vis v[READERS + 1];
    unsigned char *want[VIS_KEYS];
    for (int k = 0; k < VIS_KEYS; k++) {
        char name[32];
        snprintf(name, sizeof(name), "vis%d", k);
        conf_key(ctx, keybuf[k], sizeof(keybuf[k]), name);
        if ((want[k] = conf_alloc(ctx, VIS_LEN)) == NULL)
            return;
        conf_pattern_fill(want[k], VIS_LEN, 500u + (uint32_t)k);
    }
    for (int i = 0; i <= READERS; i++) {
        v[i].s = &s;
        v[i].id = i;
        v[i].hits = 0;
        if ((v[i].buf = conf_alloc(ctx, VIS_LEN)) == NULL)
            return;
        for (int k = 0; k < VIS_KEYS; k++) {
            v[i].want[k] = want[k];
            v[i].keys[k] = keybuf[k];
        }
    }
    pthread_t th[READERS + 1];
    pthread_create(&th[0], NULL, vis_writer, &v[0]);
    for (int i = 1; i <= READERS; i++)
        pthread_create(&th[i], NULL, vis_reader, &v[i]);
    for (int i = 0; i <= READERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&s.start);
    long hits = 0;
    for (int i = 1; i <= READERS; i++)
        hits += v[i].hits;
    if (!conf_failed(ctx) && hits == 0)
        conf_fail(ctx, "observed no read finding an object while the "
                       "writer ran, expected some (nothing was exercised)");
}

#define TS CONF_NEED_ENGINE, KVP_CAP_THREAD_SAFE
static const struct conf_case cases[] = {
    {"concurrency", "same-key-one-winner",
     "concurrent puts of one key: exactly one KVP_OK, the others "
     "KVP_ERR_EXISTS, the winner's bytes stored",
     TS, same_key_one_winner, NULL},
    {"concurrency", "mixed-ops-checksummed",
     "many threads doing mixed ops never see torn or foreign bytes", TS,
     mixed_ops, NULL},
    {"concurrency", "overwrite-readers-old-or-new",
     "readers during overwrites see the old or the new object, never a mix",
     CONF_NEED_ENGINE, KVP_CAP_THREAD_SAFE | KVP_CAP_OVERWRITE,
     overwrite_old_or_new, NULL},
    {"concurrency", "visible-whole-only",
     "a get never returns a partially written object or reused memory: "
     "objects appear only complete, memory under a read is not reused",
     TS, visible_whole_only, NULL},
    {"concurrency", "register-during-io",
     "registration runs concurrently with data ops on one engine", TS,
     register_during_io, NULL},
};

CONF_GROUP(conf_group_concurrency, cases);
