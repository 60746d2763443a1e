/* stage.c - the staged, double-buffered pipeline (stage.h). */
#include "stage.h"

#include <stddef.h>

#include "kvplug/status.h"

/* One chunk: bytes [off, off + len) of transfer t. */
struct unit {
    uint32_t t;
    uint64_t off, len;
};

/* Walks the chunks of every transfer still KVP_OK, in order. */
struct cursor {
    uint32_t t;
    uint64_t off;
};

static int next_unit(struct stage_xfer *x, uint32_t n, uint64_t chunk,
                     struct cursor *c, struct unit *u)
{
    for (; c->t < n; c->t++, c->off = 0) {
        uint64_t total = stage_region_bytes(&x[c->t].dev);
        if (x[c->t].status != KVP_OK || c->off >= total)
            continue;
        uint64_t left = total - c->off;
        *u = (struct unit){c->t, c->off, left < chunk ? left : chunk};
        c->off += u->len;
        return 1;
    }
    return 0;
}

/* Gathers (to_host) or scatters bytes [off, off + len) of region r from or
 * to the contiguous host buffer: the rest of a row, whole rows, the start
 * of a row. */
static int32_t copy_chunk(const struct stage_copier *cp, uint32_t slot,
                          int to_host, unsigned char *host,
                          const struct stage_region *r, uint64_t off,
                          uint64_t len, struct stage_stats *stats)
{
    uint64_t row = off / r->width, col = off % r->width;
    int32_t st = KVP_OK;
    if (col != 0) {
        uint64_t k = r->width - col < len ? r->width - col : len;
        st = cp->copy(cp->ctx, slot, to_host, host,
                      r->base + row * r->pitch + col, r->pitch, k, 1);
        stats->copies++;
        host += k;
        len -= k;
        row++;
    }
    if (st == KVP_OK && len >= r->width) {
        uint64_t rows = len / r->width;
        st = cp->copy(cp->ctx, slot, to_host, host, r->base + row * r->pitch,
                      r->pitch, r->width, rows);
        stats->copies++;
        host += rows * r->width;
        len -= rows * r->width;
        row += rows;
    }
    if (st == KVP_OK && len > 0) {
        st = cp->copy(cp->ctx, slot, to_host, host, r->base + row * r->pitch,
                      r->pitch, len, 1);
        stats->copies++;
    }
    return st;
}

static void fail(struct stage_xfer *x, uint32_t t, int32_t st)
{
    if (x[t].status == KVP_OK)
        x[t].status = st;
}

/* A flush failed: the transport is gone for t and everything after it. */
static void fail_from(struct stage_xfer *x, uint32_t n, uint32_t t, int32_t st)
{
    for (; t < n; t++)
        fail(x, t, st);
}

void stage_put(const struct stage_copier *cp, const struct stage_sink *sk,
               const struct stage_bounce *b, struct stage_xfer *x, uint32_t n,
               struct stage_stats *stats)
{
    struct stage_stats local = {0};
    if (stats == NULL)
        stats = &local;
    struct cursor c = {0, 0};
    struct unit cur, nxt;
    int have = next_unit(x, n, b->chunk, &c, &cur);
    if (!have)
        return;
    uint32_t s = 0;
    int32_t st = copy_chunk(cp, s, 1, b->slot[s], &x[cur.t].dev, cur.off,
                            cur.len, stats);
    if (st != KVP_OK)
        fail(x, cur.t, st);
    int in_flight = 0;     /* a posted write not yet flushed */
    uint32_t flight_t = 0; /* its transfer */
    while (have) {
        stats->chunks++;
        st = cp->wait(cp->ctx, s); /* chunk cur is in slot s */
        if (st != KVP_OK)
            fail(x, cur.t, st);
        if (in_flight) { /* the previous write frees slot s ^ 1 */
            in_flight = 0;
            if ((st = sk->flush(sk->ctx)) != KVP_OK) {
                fail_from(x, n, flight_t, st);
                return;
            }
        }
        if (x[cur.t].status == KVP_OK) {
            st = sk->post(sk->ctx, x[cur.t].user, b->slot[s], cur.len, cur.off);
            if (st != KVP_OK)
                fail(x, cur.t, st);
            else
                in_flight = 1, flight_t = cur.t;
        }
        have = next_unit(x, n, b->chunk, &c, &nxt);
        if (have) { /* copy chunk i+1 while chunk i is on the wire */
            st = copy_chunk(cp, s ^ 1, 1, b->slot[s ^ 1], &x[nxt.t].dev,
                            nxt.off, nxt.len, stats);
            if (st != KVP_OK)
                fail(x, nxt.t, st);
            stats->overlapped += in_flight;
        }
        cur = nxt;
        s ^= 1;
    }
    if (in_flight && (st = sk->flush(sk->ctx)) != KVP_OK)
        fail_from(x, n, flight_t, st);
}

void stage_get(const struct stage_copier *cp, const struct stage_sink *sk,
               const struct stage_bounce *b, struct stage_xfer *x, uint32_t n,
               struct stage_stats *stats)
{
    struct stage_stats local = {0};
    if (stats == NULL)
        stats = &local;
    struct cursor c = {0, 0};
    struct unit cur, nxt;
    int have = next_unit(x, n, b->chunk, &c, &cur);
    if (!have)
        return;
    uint32_t s = 0;
    int copying[2] = {0, 0};     /* a copy out of the slot not yet waited */
    uint32_t copy_t[2] = {0, 0}; /* its transfer */
    int32_t st = sk->post(sk->ctx, x[cur.t].user, b->slot[s], cur.len, cur.off);
    int posted = st == KVP_OK;
    if (!posted)
        fail(x, cur.t, st);
    while (have) {
        stats->chunks++;
        if (posted && (st = sk->flush(sk->ctx)) != KVP_OK) {
            fail_from(x, n, cur.t, st);
            break;
        }
        if (posted && x[cur.t].status == KVP_OK) { /* slot s -> device */
            st = copy_chunk(cp, s, 0, b->slot[s], &x[cur.t].dev, cur.off,
                            cur.len, stats);
            if (st != KVP_OK)
                fail(x, cur.t, st);
            copying[s] = 1;
            copy_t[s] = cur.t;
        }
        posted = 0;
        have = next_unit(x, n, b->chunk, &c, &nxt);
        if (have) { /* read chunk i+1 while chunk i is copied */
            if (copying[s ^ 1]) {
                copying[s ^ 1] = 0;
                if ((st = cp->wait(cp->ctx, s ^ 1)) != KVP_OK)
                    fail(x, copy_t[s ^ 1], st);
            }
            st = sk->post(sk->ctx, x[nxt.t].user, b->slot[s ^ 1], nxt.len,
                          nxt.off);
            posted = st == KVP_OK;
            if (!posted)
                fail(x, nxt.t, st);
            stats->overlapped += copying[s];
        }
        cur = nxt;
        s ^= 1;
    }
    for (uint32_t k = 0; k < 2; k++)
        if (copying[k] && (st = cp->wait(cp->ctx, k)) != KVP_OK)
            fail(x, copy_t[k], st);
}
