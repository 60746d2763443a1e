/*
 * suite_plain.c - plain put_from/get_into and their batch forms on one
 * engine, rotating over the registered working set. Put passes are
 * followed (untimed) by removing what they stored, so every timed put
 * stores a new key into a pool that holds the working set; get passes read
 * objects stored once before them.
 */
#include "suites.h"

#include <inttypes.h>
#include <string.h>

#define KEY_LEN   32
#define MAX_BATCH 1024

struct kv_case {
    struct kvp_target *t;
    uint64_t slot_bytes;
    uint32_t nslots;
    int is_put;
    int32_t last_err;
    /* per-call arrays, allocated once per case */
    char keys[MAX_BATCH][KEY_LEN];
    const char *keyp[MAX_BATCH];
    const void *src[MAX_BATCH];
    void *dst[MAX_BATCH];
    uint64_t lens[MAX_BATCH];
    int32_t pres[MAX_BATCH];
    int64_t gres[MAX_BATCH];
};

static void key_of(char *buf, uint32_t slot)
{
    snprintf(buf, KEY_LEN, "kvpbench:%08" PRIu32, slot);
}

static int kv_call(void *ctx, uint32_t first, uint32_t n)
{
    struct kv_case *c = ctx;
    const struct kvp_ops *ops = c->t->ops;
    struct kvp_engine *e = c->t->eng;
    char *base = c->t->ws->base;

    if (n == 1) {
        char key[KEY_LEN];
        void *p = base + (uint64_t)first * c->slot_bytes;
        key_of(key, first);
        if (c->is_put) {
            c->last_err = ops->put_from(e, key, p, c->slot_bytes, NULL);
            return c->last_err;
        }
        int64_t r = ops->get_into(e, key, p, c->slot_bytes);
        c->last_err = r < 0 ? (int32_t)r : 0;
        return r == (int64_t)c->slot_bytes ? 0 : -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        key_of(c->keys[i], first + i);
        c->dst[i] = base + (uint64_t)(first + i) * c->slot_bytes;
        c->src[i] = c->dst[i];
    }
    int32_t rc =
        c->is_put
            ? ops->batch_put_from(e, n, c->keyp, c->src, c->lens, NULL, c->pres)
            : ops->batch_get_into(e, n, c->keyp, c->dst, c->lens, c->gres);
    c->last_err = rc;
    if (rc == KVP_PARTIAL) /* report the first item's reason */
        for (uint32_t i = 0; i < n; i++)
            if (c->is_put ? c->pres[i] != 0 : c->gres[i] < 0) {
                c->last_err = c->is_put ? c->pres[i] : (int32_t)c->gres[i];
                break;
            }
    return rc;
}

static int kv_remove_all(void *ctx)
{
    struct kv_case *c = ctx;
    char key[KEY_LEN];
    for (uint32_t i = 0; i < c->nslots; i++) {
        key_of(key, i);
        int32_t rc = c->t->ops->remove(c->t->eng, key);
        if (rc != KVP_OK && rc != KVP_ERR_NOT_FOUND) {
            c->last_err = rc;
            return rc;
        }
    }
    return 0;
}

/* Stores every slot once (untimed), for the get passes. */
static int kv_populate(struct kv_case *c)
{
    int save = c->is_put;
    c->is_put = 1;
    int rc = 0;
    for (uint32_t i = 0; i < c->nslots && rc == 0; i++)
        rc = kv_call(c, i, 1);
    c->is_put = save;
    return rc;
}

/* Untimed check that a get returns the bytes that were put: slot 0's
 * object read into slot 1 must equal slot 0. */
static const char *kv_verify(struct kv_case *c)
{
    char key[KEY_LEN];
    char *base = c->t->ws->base;
    if (c->nslots < 2)
        return "";
    key_of(key, 0);
    int64_t r = c->t->ops->get_into(c->t->eng, key, base + c->slot_bytes,
                                    c->slot_bytes);
    if (r != (int64_t)c->slot_bytes ||
        memcmp(base, base + c->slot_bytes, c->slot_bytes) != 0)
        return "VERIFY FAILED: get bytes differ from put";
    return "";
}

static void note_err(const struct kvp_ops *ops, int32_t err, char *buf,
                     size_t cap)
{
    char *p = buf;
    snprintf(buf, cap, "failed: %s", ops->status_str(err));
    for (; *p; p++)
        if (*p == ',')
            *p = ';';
}

void bench_kvplug_run(const struct bench_opts *o, struct kvp_target *t,
                      FILE *csv)
{
    static const struct bench_case_ops put_ops = {.call = kv_call,
                                                  .between = kv_remove_all};
    static const struct bench_case_ops get_ops = {.call = kv_call};
    static struct kv_case c; /* large arrays: not on the stack */
    char note[128];

    memset(&c, 0, sizeof(c));
    c.t = t;
    for (int i = 0; i < MAX_BATCH; i++)
        c.keyp[i] = c.keys[i];
    for (int s = 0; s < o->n_sizes; s++) {
        c.slot_bytes = o->sizes[s];
        c.nslots = (uint32_t)(o->ws_bytes / c.slot_bytes);
        if (c.nslots == 0)
            continue;
        for (int i = 0; i < MAX_BATCH; i++)
            c.lens[i] = c.slot_bytes;
        for (int op = 0; op < 2; op++) {
            c.is_put = op == 0;
            int ready = 0;
            if (!c.is_put) {
                ready = kv_populate(&c);
                if (ready != 0) {
                    note_err(t->ops, c.last_err, note, sizeof(note));
                    bench_row_skip(csv, "kvplug", t->variant, "get",
                                   c.slot_bytes, note);
                    kv_remove_all(&c);
                    continue;
                }
            }
            for (int k = 0; k < o->n_batches; k++) {
                uint32_t batch = o->batches[k];
                if (batch > c.nslots || batch > MAX_BATCH)
                    continue;
                struct bench_row row = {.system = "kvplug",
                                        .variant = t->variant,
                                        .op = c.is_put ? "put" : "get",
                                        .tp = 1,
                                        .split_dim = -1};
                c.last_err = 0;
                int rc = bench_case_run(o, c.is_put ? &put_ops : &get_ops, &c,
                                        c.nslots, batch, c.slot_bytes, "kvplug",
                                        &row);
                if (rc != 0) {
                    note_err(t->ops, c.last_err ? c.last_err : rc, note,
                             sizeof(note));
                    row.note = note;
                    if (c.is_put)
                        kv_remove_all(&c);
                } else {
                    row.note = c.is_put ? "" : kv_verify(&c);
                }
                bench_csv_row(csv, &row);
            }
            if (!c.is_put)
                kv_remove_all(&c);
        }
    }
}
