/*
 * suite_tp.c - tensor-parallel puts and gets, and the copy-then-put way
 * they are compared with.
 *
 * The tensor is a KV-cache block [T, 32 heads, 128] in bf16, T = payload /
 * 8 KiB, stored as a 304-byte header + payload in each working-set slot.
 * split_dim 0 shards whole token ranges (one extent per shard); split_dim
 * 1 (heads, the way TP shards attention) makes each shard T strided
 * extents of 32/tp * 256 bytes.
 *
 *  - kvplug zero-copy: put_tensor_with_tp_from on the full tensor;
 *  - copy-then-put (what Mooncake Store does): the host gathers each shard
 *    into a contiguous, registered staging buffer with its SHARD header
 *    (narrow().contiguous()), then batch_put_from of the tp shards;
 *  - per-rank gets: get_tensor_with_tp_into for every rank of every tensor.
 */
#include "suites.h"

#include <inttypes.h>
#include <string.h>

#define HEADS    32
#define HEAD_DIM 128
#define ELEM     2 /* bf16 */
#define KEY_LEN  48
#define MAX_TP   8

struct tp_case {
    struct kvp_target *t;
    uint64_t payload; /* tensor payload bytes */
    uint64_t stride;  /* slot stride: header + payload, page aligned */
    uint32_t nslots;
    int32_t tp, split_dim;
    int32_t last_err;
    int copy_then_put;
};

static int64_t tokens_of(uint64_t payload)
{
    return (int64_t)(payload / (HEADS * HEAD_DIM * ELEM));
}

static void hdr_fill(struct kvp_tensor_hdr *h, uint64_t payload)
{
    memset(h, 0, sizeof(*h));
    h->magic = KVP_TENSOR_MAGIC;
    h->version = KVP_TENSOR_VERSION;
    h->header_size = KVP_TENSOR_HDR_SIZE;
    h->dtype = KVP_DTYPE_BF16;
    h->ndim = 3;
    h->layout_kind = KVP_LAYOUT_FULL;
    h->data_offset = KVP_TENSOR_HDR_SIZE;
    h->data_bytes = payload;
    for (int d = 0; d < KVP_TENSOR_MAX_DIMS; d++)
        h->global_shape[d] = h->local_shape[d] = -1;
    h->global_shape[0] = h->local_shape[0] = tokens_of(payload);
    h->global_shape[1] = h->local_shape[1] = HEADS;
    h->global_shape[2] = h->local_shape[2] = HEAD_DIM;
}

static char *slot_of(const struct tp_case *c, uint32_t i)
{
    return c->t->ws->base + (uint64_t)i * c->stride;
}

/* Writes the FULL header at the start of every slot (the gets of an
 * earlier case overwrite them). */
static void tp_prepare(struct tp_case *c)
{
    struct kvp_tensor_hdr h;
    hdr_fill(&h, c->payload);
    for (uint32_t i = 0; i < c->nslots; i++)
        memcpy(slot_of(c, i), &h, sizeof(h));
}

static void shard_key(char *buf, uint32_t slot, int32_t rank, int32_t tp)
{
    if (tp <= 1)
        snprintf(buf, KEY_LEN, "kvptp:%08" PRIu32, slot);
    else
        snprintf(buf, KEY_LEN, "kvptp:%08" PRIu32 "_tp_%d", slot, rank);
}

static uint64_t shard_obj_len(const struct tp_case *c)
{
    return KVP_TENSOR_HDR_SIZE + c->payload / (uint64_t)c->tp;
}

/* narrow(split_dim, r*D/tp, D/tp).contiguous() of the tensor at src, with
 * its SHARD header, into dst. */
static void gather_shard(const struct tp_case *c, const char *src, int32_t r,
                         char *dst)
{
    int64_t shape[3] = {tokens_of(c->payload), HEADS, HEAD_DIM};
    int d = c->split_dim;
    uint64_t outer = 1, inner = ELEM;
    for (int i = 0; i < d; i++)
        outer *= (uint64_t)shape[i];
    for (int i = d + 1; i < 3; i++)
        inner *= (uint64_t)shape[i];
    uint64_t ext = (uint64_t)shape[d] / (uint64_t)c->tp;
    uint64_t chunk = ext * inner, row = (uint64_t)shape[d] * inner;

    struct kvp_tensor_hdr h;
    hdr_fill(&h, c->payload);
    h.layout_kind = KVP_LAYOUT_SHARD;
    h.local_shape[d] = (int64_t)ext;
    h.data_bytes = c->payload / (uint64_t)c->tp;
    h.axis_count = 1;
    h.axes[0] =
        (struct kvp_tensor_axis){KVP_AXIS_TP, 0, r, c->tp, d, 0, (int64_t)ext};
    memcpy(dst, &h, sizeof(h));
    const char *p = src + KVP_TENSOR_HDR_SIZE + (uint64_t)r * chunk;
    char *q = dst + KVP_TENSOR_HDR_SIZE;
    for (uint64_t j = 0; j < outer; j++, p += row, q += chunk)
        memcpy(q, p, chunk);
}

static int copy_then_put(struct tp_case *c, uint32_t slot)
{
    char keys[MAX_TP][KEY_LEN];
    const char *keyp[MAX_TP];
    const void *ptrs[MAX_TP];
    uint64_t lens[MAX_TP];
    int32_t res[MAX_TP];
    uint64_t olen = shard_obj_len(c);
    for (int32_t r = 0; r < c->tp; r++) {
        char *dst = c->t->staging + (uint64_t)r * olen;
        gather_shard(c, slot_of(c, slot), r, dst);
        shard_key(keys[r], slot, r, c->tp);
        keyp[r] = keys[r];
        ptrs[r] = dst;
        lens[r] = olen;
    }
    return c->t->ops->batch_put_from(c->t->eng, (uint32_t)c->tp, keyp, ptrs,
                                     lens, NULL, res);
}

static int tp_put_call(void *ctx, uint32_t first, uint32_t n)
{
    struct tp_case *c = ctx;
    char key[KEY_LEN];
    for (uint32_t i = first; i < first + n; i++) {
        if (c->copy_then_put) {
            c->last_err = copy_then_put(c, i);
        } else {
            shard_key(key, i, 0, 1);
            c->last_err = c->t->ops->put_tensor_with_tp_from(
                c->t->eng, key, slot_of(c, i), KVP_TENSOR_HDR_SIZE + c->payload,
                0, c->tp, c->split_dim, NULL);
        }
        if (c->last_err != KVP_OK)
            return c->last_err;
    }
    return 0;
}

/* Call i reads rank i % tp of tensor i / tp into its place in that slot. */
static int tp_get_call(void *ctx, uint32_t first, uint32_t n)
{
    struct tp_case *c = ctx;
    char key[KEY_LEN];
    uint64_t olen = shard_obj_len(c);
    for (uint32_t i = first; i < first + n; i++) {
        uint32_t slot = i / (uint32_t)c->tp;
        int32_t r = (int32_t)(i % (uint32_t)c->tp);
        shard_key(key, slot, 0, 1);
        int64_t got = c->t->ops->get_tensor_with_tp_into(
            c->t->eng, key, slot_of(c, slot) + (uint64_t)r * olen, olen, r,
            c->tp);
        if (got != (int64_t)olen) {
            c->last_err = got < 0 ? (int32_t)got : KVP_ERR_INTERNAL;
            return -1;
        }
    }
    return 0;
}

static int tp_remove_all(void *ctx)
{
    struct tp_case *c = ctx;
    char key[KEY_LEN];
    for (uint32_t i = 0; i < c->nslots; i++)
        for (int32_t r = 0; r < (c->tp > 1 ? c->tp : 1); r++) {
            shard_key(key, i, r, c->tp);
            int32_t rc = c->t->ops->remove(c->t->eng, key);
            if (rc != KVP_OK && rc != KVP_ERR_NOT_FOUND) {
                c->last_err = rc;
                return rc;
            }
        }
    return 0;
}

/* A shard read back equals the host's own gather of it (untimed; run
 * right after the objects were put, while slot 0 still holds them). */
static const char *tp_verify(struct tp_case *c)
{
    char key[KEY_LEN];
    uint64_t olen =
        c->tp > 1 ? shard_obj_len(c) : KVP_TENSOR_HDR_SIZE + c->payload;
    int32_t r = c->tp - 1;
    char *want = c->t->staging, *got = c->t->staging + c->t->staging_len / 2;
    if (!want)
        return "";
    if (c->tp > 1)
        gather_shard(c, slot_of(c, 0), r, want);
    else
        memcpy(want, slot_of(c, 0), olen);
    shard_key(key, 0, 0, 1);
    int64_t n =
        c->t->ops->get_tensor_with_tp_into(c->t->eng, key, got, olen, r, c->tp);
    if (n != (int64_t)olen || memcmp(want, got, olen) != 0)
        return "VERIFY FAILED: shard differs from the host gather";
    return "";
}

static void emit(FILE *csv, struct bench_row *row, const struct tp_case *c,
                 int rc, const char *ok_note)
{
    static char note[128];
    row->value_bytes = c->payload;
    row->tp = c->tp;
    row->split_dim = c->tp > 1 ? c->split_dim : -1;
    if (rc != 0) {
        snprintf(note, sizeof(note), "failed: %s",
                 c->t->ops->status_str(c->last_err ? c->last_err : rc));
        for (char *p = note; *p; p++)
            if (*p == ',')
                *p = ';';
        row->note = note;
    } else {
        row->note = ok_note;
    }
    bench_csv_row(csv, row);
}

static void tp_one(const struct bench_opts *o, struct tp_case *c, FILE *csv)
{
    static const struct bench_case_ops put_ops = {.call = tp_put_call,
                                                  .between = tp_remove_all};
    static const struct bench_case_ops get_ops = {.call = tp_get_call};
    struct bench_row row = {.variant = c->t->variant};
    uint64_t obj = KVP_TENSOR_HDR_SIZE + c->payload;
    int rc;

    /* copy-then-put first, then zero-copy (whose objects the gets read) */
    for (int copy = (c->tp > 1 && c->t->staging) ? 1 : 0; copy >= 0; copy--) {
        c->copy_then_put = copy;
        tp_prepare(c);
        row.system = copy ? "copy-then-put" : "kvplug";
        row.op = "tp_put";
        c->last_err = 0;
        rc = bench_case_run(o, &put_ops, c, c->nslots, 1, obj, "tp", &row);
        emit(csv, &row, c, rc, "");
        if (rc != 0)
            tp_remove_all(c);
        if (rc != 0 && copy == 0)
            return;
    }
    c->copy_then_put = 0;
    tp_prepare(c);
    c->last_err = 0;
    rc = tp_put_call(c, 0, c->nslots); /* the objects the gets read */
    const char *verdict = rc == 0 ? tp_verify(c) : "";
    if (rc == 0) {
        row.system = "kvplug";
        row.op = "tp_get";
        rc = bench_case_run(o, &get_ops, c, c->nslots * (uint32_t)c->tp, 1,
                            shard_obj_len(c), "tp", &row);
        row.batch = 1;
        emit(csv, &row, c, rc, verdict);
    }
    tp_remove_all(c);
}

void bench_tp_run(const struct bench_opts *o, struct kvp_target *t, FILE *csv)
{
    struct tp_case c = {.t = t};
    for (int s = 0; s < o->n_sizes; s++) {
        c.payload = o->sizes[s];
        if (c.payload % (HEADS * HEAD_DIM * ELEM * MAX_TP) != 0)
            continue; /* tokens must split 8 ways */
        c.stride = (KVP_TENSOR_HDR_SIZE + c.payload + BENCH_PAGE - 1) /
                   BENCH_PAGE * BENCH_PAGE;
        c.nslots = (uint32_t)(o->ws_bytes / c.payload);
        if (c.nslots == 0 || (uint64_t)c.nslots * c.stride > t->ws->len ||
            2 * (c.payload + MAX_TP * KVP_TENSOR_HDR_SIZE) > t->staging_len)
            continue;
        for (int k = 0; k < t->n_tps; k++) {
            c.tp = t->tps[k];
            if (c.tp < 1 || c.tp > MAX_TP)
                continue;
            for (int32_t d = 0; d < (c.tp > 1 ? 2 : 1); d++) {
                c.split_dim = d;
                bench_progress("tp", "%s tp %d split_dim %d", t->variant, c.tp,
                               d);
                tp_one(o, &c, csv);
            }
        }
    }
}
