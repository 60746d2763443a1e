/* xfer.c - the batch engine behind every put and get (see xfer.h). */
#include "xfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "fastget.h"
#include "ops.h"
#include "store_client.h"
#include "units.h"

uint64_t put_job_len(const struct put_job *j)
{
    uint64_t n = j->hdr != NULL ? KVP_TENSOR_HDR_SIZE : 0;
    return n + (j->plan != NULL ? j->plan->shard_bytes : j->data_len);
}

static void fail_item(int32_t *item_status, uint32_t item, int32_t st)
{
    if (item_status[item] == KVP_OK)
        item_status[item] = st;
}

/* Jobs (or get jobs, or keys) grouped by server: order[start[s] ..
 * start[s+1]); server[j] = the server of item j. */
struct groups {
    uint8_t *used;
    struct eng_server **held; /* the slot taken per used server */
    uint32_t *order;
    uint32_t *start;
    uint32_t *server;
};

/* Groups n items by the server of their key: key j is the const char *
 * at (const char *)key0 + j * stride (a key array, or the key field of a
 * job array). */
static int32_t groups_make(struct kvp_engine *e, uint32_t n,
                           const char *const *key0, size_t stride,
                           struct groups *g)
{
    g->server = malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    if (g->server == NULL)
        return KVP_ERR_NO_MEMORY;
    const uint32_t *server = g->server;
    for (uint32_t j = 0; j < n; j++)
        g->server[j] = eng_server_of(
            e, *(const char *const *)((const char *)key0 + j * stride));
    g->used = calloc(e->n_servers, 1);
    g->held = calloc(e->n_servers, sizeof(*g->held));
    g->order = malloc((size_t)n * sizeof(uint32_t));
    g->start = calloc((size_t)e->n_servers + 1, sizeof(uint32_t));
    if (g->used == NULL || g->held == NULL || g->order == NULL ||
        g->start == NULL)
        return KVP_ERR_NO_MEMORY;
    for (uint32_t j = 0; j < n; j++) {
        g->used[server[j]] = 1;
        g->start[server[j] + 1]++;
    }
    for (uint32_t s = 0; s < e->n_servers; s++)
        g->start[s + 1] += g->start[s];
    uint32_t *fill = calloc(e->n_servers, sizeof(uint32_t));
    if (fill == NULL)
        return KVP_ERR_NO_MEMORY;
    for (uint32_t j = 0; j < n; j++) /* stable: input order per server */
        g->order[g->start[server[j]] + fill[server[j]]++] = j;
    free(fill);
    return KVP_OK;
}

static void groups_free(struct groups *g)
{
    free(g->server);
    free(g->used);
    free(g->held);
    free(g->order);
    free(g->start);
}

/* ---- put ---------------------------------------------------------------- */

struct batch_req {
    uint32_t n;
    void *items;
    uint32_t flags;
};

static int32_t req_alloc(struct store_conn *c, void *arg)
{
    struct batch_req *r = arg;
    return store_alloc(c, r->n, r->items, r->flags);
}

static int32_t req_lookup(struct store_conn *c, void *arg)
{
    struct batch_req *r = arg;
    return store_lookup(c, r->n, r->items, r->flags);
}

/* Why a server had no space, for the message: its pool's size and use. */
static void space_note(struct store_conn *c, char *buf, size_t cap)
{
    struct store_server_stats s;
    char used[32], total[32];
    if (c == NULL || store_server_stats(c, &s) != KVP_OK) {
        snprintf(buf, cap, "; see kvplug-admin stats for its pool");
        return;
    }
    snprintf(buf, cap,
             "; its pool has %s of %s in use (%llu objects, %llu leased, "
             "%llu pending): leased and pending space cannot be evicted, "
             "so give it a bigger --pool-size or read less at once",
             kvp_fmt_bytes(s.used_bytes, used, sizeof(used)),
             kvp_fmt_bytes(s.pool_size, total, sizeof(total)),
             (unsigned long long)s.objects, (unsigned long long)s.leases,
             (unsigned long long)s.pending);
}

/* The arena a connection asks for: local_arena, at most 1/8 of the
 * server's pool (the server's own bound). */
static uint64_t arena_want(const struct kvp_engine *e, struct store_conn *c)
{
    uint64_t cap = store_conn_pool_size(c) / 8;
    return e->cfg.local_arena < cap ? e->cfg.local_arena : cap;
}

/* Calls that ALLOC after the server could not grant an arena (its pool
 * is held by leases or pending puts), before it is asked again. */
#define ARENA_BACKOFF_CALLS 64
#define ARENA_MIN_BYTES     (64u << 10) /* the server's smallest arena */

/* Pieces of the connection's arena for every job (docs/protocol.md,
 * "Puts with one round trip"), refilled first when they do not fit: 1
 * when all jobs have one; 0 leaves them to ALLOC (TP groups, a batch
 * larger than half an arena, a pool too small for one, no arena). */
static int put_arena_alloc(struct kvp_engine *e, struct eng_server *sv,
                           struct put_job *jobs, const uint32_t *idx,
                           uint32_t cnt, uint32_t flags)
{
    struct store_conn *c = sv->conn;
    if (c == NULL || e->cfg.local_arena == 0 ||
        (flags & ~STORE_ALLOC_OVERWRITE) != 0 || !store_arena_usable(c))
        return 0;
    if (sv->arena_skip > 0) {
        sv->arena_skip--;
        return 0;
    }
    uint64_t want = arena_want(e, c), total = 0;
    if (want < ARENA_MIN_BYTES)
        return 0;
    for (uint32_t i = 0; i < cnt && total <= want; i++) {
        if (jobs[idx[i]].group != 0)
            return 0; /* one publication per group: the ALLOC path's */
        uint64_t piece = store_arena_piece(put_job_len(&jobs[idx[i]]));
        if (piece > want)
            return 0;
        total += piece;
    }
    if (total > want / 2)
        return 0; /* big objects: two round trips are noise next to them */
    /* the server grants at least total or nothing */
    if (store_arena_room(c) < total &&
        (store_put_at(c, 0, NULL, flags, want, total) != KVP_OK ||
         store_arena_room(c) < total)) {
        sv->arena_skip = ARENA_BACKOFF_CALLS;
        return 0;
    }
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        j->raddr = store_arena_take(c, put_job_len(j));
        j->allocated = j->arena = 1;
    }
    return 1;
}

static void put_alloc(struct kvp_engine *e, struct eng_server *sv,
                      struct put_job *jobs, const uint32_t *idx, uint32_t cnt,
                      int32_t *item_status, uint32_t flags,
                      struct cause_log *cl)
{
    if (put_arena_alloc(e, sv, jobs, idx, cnt, flags))
        return;
    struct store_conn *c;
    struct store_alloc_item *it = calloc(cnt, sizeof(*it));
    int32_t st = it == NULL ? KVP_ERR_NO_MEMORY : KVP_OK;
    if (st == KVP_OK) {
        for (uint32_t i = 0; i < cnt; i++) {
            it[i].key = jobs[idx[i]].key;
            it[i].len = put_job_len(&jobs[idx[i]]);
            it[i].group = jobs[idx[i]].group;
            it[i].base_len = jobs[idx[i]].base_len;
        }
        struct batch_req r = {cnt, it, flags};
        st = eng_request(e, sv, req_alloc, &r, &c);
    }
    int noted = 0; /* why this server had no space: said once */
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        j->status = st == KVP_OK ? it[i].status : st;
        if (j->status == KVP_OK) {
            j->allocated = 1;
            j->raddr = it[i].raddr;
            j->alloc_id = it[i].alloc_id;
        } else {
            if (j->status == KVP_ERR_NO_SPACE && !noted) {
                char note[300];
                space_note(st == KVP_OK ? c : NULL, note, sizeof(note));
                KVP_LOG_E(&e->log, "put: %s:%u has no space for '%.128s' "
                          "(%llu bytes)%s", sv->addr.host, sv->addr.port,
                          j->key, (unsigned long long)put_job_len(j), note);
                noted = 1;
            }
            /* EXISTS is an expected answer in a cache: debug, not error;
             * one line per cause for the rest (cause_flush) */
            cause_note(cl,
                       j->status == KVP_ERR_EXISTS ? KVP_LOG_DEBUG
                                                   : KVP_LOG_ERROR,
                       "put", "alloc", j->server, j->status, j->key);
            fail_item(item_status, j->item, j->status);
        }
    }
    free(it);
}

/* TP shards are written in blocks of about this many bytes, round robin
 * over the shards of a server: every rank's extents of a block of rows are
 * copied while those rows are in cache, so the full tensor is read once,
 * row by row, instead of once per rank at a stride (16.4 vs 14.4 GB/s for
 * tp 4 of 2 KiB extents here; docs/performance.md). */
#define PUT_BLOCK_BYTES (64u << 10)

/* Posts the header of one job from the scratch area and lays out its
 * payload extents in j->iovs[1..]; *n_data_p = extents to write. */
static int32_t put_prepare(struct kvp_engine *e, struct kvp_xport_ep *ep,
                           struct kvp_xport_rkey *rkey, struct put_job *j,
                           uint64_t *n_data_p)
{
    uint64_t n_data = 0;
    if (j->plan != NULL)
        n_data = j->plan->extent_len > 0 ? j->plan->n_extents : 0;
    else if (j->iov != NULL)
        n_data = j->n_iov;
    else
        n_data = j->data_len > 0 ? 1 : 0;
    if (n_data > UINT32_MAX)
        return KVP_ERR_INVALID;
    j->iovs = malloc((size_t)(1 + n_data) * sizeof(*j->iovs));
    if (j->iovs == NULL)
        return KVP_ERR_NO_MEMORY;
    int32_t st = KVP_OK;
    if (j->hdr != NULL) {
        j->iovs[0] = (struct kvp_xport_iov){j->hdr, KVP_TENSOR_HDR_SIZE};
        /* A write of its own because the header lives in another
         * registration than the payload (write() takes one lmem). */
        st = e->tops->write(ep, &j->iovs[0], 1, j->hdr_mem, j->raddr, rkey);
        if (st == KVP_OK)
            atomic_fetch_add(&e->header_bytes, KVP_TENSOR_HDR_SIZE);
    }
    struct kvp_xport_iov *iov = &j->iovs[1];
    if (j->plan != NULL) {
        for (uint64_t i = 0; i < n_data; i++) {
            struct tp_extent x = tp_plan_extent(j->plan, j->rank, i);
            iov[i] = (struct kvp_xport_iov){j->payload + x.off, x.len};
        }
    } else if (j->iov != NULL) {
        for (uint32_t i = 0; i < j->n_iov; i++)
            iov[i] = (struct kvp_xport_iov){j->iov[i].ptr, j->iov[i].len};
    } else if (n_data > 0) {
        iov[0] = (struct kvp_xport_iov){j->data, j->data_len};
    }
    *n_data_p = n_data;
    return st;
}

/* Writes the pieces of a gathered job straight from the host's buffers:
 * one write (verbs: one SGE list; UCX: one put per piece) per run of
 * consecutive pieces in one registration, to consecutive remote addresses;
 * empty pieces are skipped. Completed by the server's one flush. */
static int32_t put_pieces(struct kvp_engine *e, struct kvp_xport_ep *ep,
                          struct kvp_xport_rkey *rkey, struct put_job *j)
{
    const struct kvp_xport_iov *iov = &j->iovs[1];
    uint64_t raddr = j->raddr;
    uint32_t i = 0;
    while (i < j->n_iov) {
        if (iov[i].len == 0) {
            i++;
            continue;
        }
        uint32_t k = i + 1;
        uint64_t run = iov[i].len;
        while (k < j->n_iov &&
               (iov[k].len == 0 || j->iov_mem[k] == j->iov_mem[i])) {
            run += iov[k].len;
            k++;
        }
        /* empty pieces inside the run are harmless zero-length SGEs; skip
         * them anyway so no transport sees one */
        uint32_t n = 0;
        for (uint32_t x = i; x < k; x++)
            n += iov[x].len > 0;
        int32_t st;
        if (n == k - i) {
            st = e->tops->write(ep, &iov[i], k - i, j->iov_mem[i], raddr,
                                rkey);
        } else {
            st = KVP_OK;
            uint64_t ra = raddr;
            for (uint32_t x = i; x < k && st == KVP_OK; x++) {
                if (iov[x].len == 0)
                    continue;
                st = e->tops->write(ep, &iov[x], 1, j->iov_mem[i], ra, rkey);
                ra += iov[x].len;
            }
        }
        if (st != KVP_OK)
            return st;
        raddr += run;
        i = k;
    }
    return KVP_OK;
}

/* Writes payload extents [first, first + n) of a prepared job. */
static int32_t put_extents(struct kvp_engine *e, struct kvp_xport_ep *ep,
                           struct kvp_xport_rkey *rkey, struct put_job *j,
                           uint64_t first, uint64_t n)
{
    uint64_t raddr = j->raddr + (j->hdr != NULL ? KVP_TENSOR_HDR_SIZE : 0);
    uint64_t ext = j->plan != NULL ? j->plan->extent_len : j->data_len;
    return e->tops->write(ep, &j->iovs[1 + first], (uint32_t)n, j->data_mem,
                          raddr + first * ext, rkey);
}

static void put_failed(struct put_job *j, int32_t *item_status, int32_t st,
                       struct cause_log *cl)
{
    cause_note(cl, KVP_LOG_ERROR, "put", "write", j->server, st, j->key);
    j->status = st;
    fail_item(item_status, j->item, st);
}

static void put_write(struct kvp_engine *e, struct eng_server *sv,
                      struct put_job *jobs, const uint32_t *idx, uint32_t cnt,
                      int32_t *item_status, struct cause_log *cl)
{
    if (sv->conn == NULL)
        return;
    struct kvp_xport_ep *ep = store_conn_ep(sv->conn);
    struct kvp_xport_rkey *rkey = store_conn_rkey(sv->conn);
    /* per job: next extent to write, extents left; staged jobs */
    uint64_t *next = calloc(2 * (size_t)(cnt ? cnt : 1), sizeof(*next));
    uint64_t *left = next != NULL ? next + cnt : NULL;
    uint32_t *staged = calloc(cnt ? cnt : 1, sizeof(*staged));
    uint32_t posted = 0, pending = 0, n_staged = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        if (!j->allocated || item_status[j->item] != KVP_OK)
            continue;
        posted++;
        uint64_t n_data = 0;
        int32_t st = next == NULL || staged == NULL
                         ? KVP_ERR_NO_MEMORY
                         : put_prepare(e, ep, rkey, j, &n_data);
        if (st == KVP_OK && j->staged)
            staged[n_staged++] = idx[i]; /* payload: xfer_dev_put below */
        else if (st == KVP_OK && j->iov != NULL)
            st = put_pieces(e, ep, rkey, j);
        else if (st == KVP_OK && j->plan == NULL && n_data > 0)
            st = put_extents(e, ep, rkey, j, 0, n_data);
        else if (st == KVP_OK)
            pending += (left[i] = n_data) > 0;
        if (st != KVP_OK)
            put_failed(j, item_status, st, cl);
    }
    /* the TP shards, a block of each in turn */
    while (pending > 0) {
        pending = 0;
        for (uint32_t i = 0; i < cnt; i++) {
            struct put_job *j = &jobs[idx[i]];
            if (left[i] == 0)
                continue;
            uint64_t block = PUT_BLOCK_BYTES / j->plan->extent_len;
            uint64_t n = block == 0 ? 1 : block < left[i] ? block : left[i];
            int32_t st = put_extents(e, ep, rkey, j, next[i], n);
            next[i] += n;
            left[i] -= n;
            if (st != KVP_OK) {
                put_failed(j, item_status, st, cl);
                left[i] = 0;
            }
            pending += left[i] > 0;
        }
    }
    free(next);
    xfer_dev_put(e, ep, rkey, jobs, staged, n_staged, item_status);
    free(staged);
    if (posted == 0)
        return;
    int32_t st = e->tops->flush(ep, e->cfg.timeout_ms);
    if (st != KVP_OK) {
        KVP_LOG_E(&e->log, "put: flush to %s:%u: %s; %u object(s) failed",
                  sv->addr.host, sv->addr.port, kvp_op_status_str(st), posted);
        sv->reset = 1; /* the ep may be unusable: reconnect next time */
    }
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        if (j->iovs == NULL)
            continue;
        free(j->iovs);
        j->iovs = NULL;
        if (st != KVP_OK && j->status == KVP_OK) {
            j->status = st;
            fail_item(item_status, j->item, st);
        }
    }
}

/* Jobs of a failed item: its whole group fails (the server never shows
 * part of a group; the client must not commit part of one either). */
static void put_fail_groups(struct put_job *jobs, const uint32_t *idx,
                            uint32_t cnt, int32_t *item_status)
{
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        if (item_status[j->item] != KVP_OK && j->status == KVP_OK)
            j->status = item_status[j->item];
    }
}

/* The outcome r of job j's commit (COMMIT or PUT_AT). */
static void put_committed(struct put_job *j, int32_t r, int32_t *item_status,
                          struct cause_log *cl)
{
    if (r == KVP_OK) {
        j->committed = 1;
        return;
    }
    cause_note(cl, r == KVP_ERR_EXISTS ? KVP_LOG_DEBUG : KVP_LOG_ERROR, "put",
               "commit", j->server, r, j->key);
    j->status = r;
    fail_item(item_status, j->item, r);
}

/* Arena jobs: one PUT_AT of those written whole (a failed one is a piece
 * the server takes back), refilling the arena ahead of need: when a call
 * like this one would not fit in what is left (so the rest given back is
 * small, and the pool does not fill with arena tails). Returns the jobs
 * sent in cj[0..). */
static uint32_t put_at_finish(struct kvp_engine *e, struct eng_server *sv,
                              struct put_job *jobs, const uint32_t *idx,
                              uint32_t cnt, int32_t *item_status,
                              uint32_t flags, uint32_t *cj,
                              struct cause_log *cl)
{
    struct store_put_item *it = calloc(cnt ? cnt : 1, sizeof(*it));
    if (it == NULL) {
        for (uint32_t i = 0; i < cnt; i++)
            fail_item(item_status, jobs[idx[i]].item, KVP_ERR_NO_MEMORY);
        return 0;
    }
    uint32_t n = 0;
    uint64_t total = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        total += store_arena_piece(put_job_len(j));
        if (item_status[j->item] != KVP_OK)
            continue;
        it[n] = (struct store_put_item){j->key, put_job_len(j), j->raddr, 0};
        cj[n++] = idx[i];
    }
    uint64_t want = arena_want(e, sv->conn);
    if (store_arena_room(sv->conn) >= total)
        want = 0; /* the next such call fits: keep this arena */
    int32_t st = n > 0 || want > 0
                     ? store_put_at(sv->conn, n, it, flags, want, total)
                     : KVP_OK;
    for (uint32_t i = 0; i < n; i++)
        put_committed(&jobs[cj[i]], st == KVP_OK ? it[i].status : st,
                      item_status, cl);
    free(it);
    return n;
}

static void put_finish(struct kvp_engine *e, struct eng_server *sv,
                       struct put_job *jobs, const uint32_t *idx, uint32_t cnt,
                       int32_t *item_status, uint32_t flags,
                       struct cause_log *cl)
{
    if (sv->conn == NULL)
        return;
    uint64_t *ids = malloc((size_t)cnt * sizeof(uint64_t));
    int32_t *cst = malloc((size_t)cnt * sizeof(int32_t));
    uint32_t *cj = malloc((size_t)cnt * sizeof(uint32_t));
    if (ids == NULL || cst == NULL || cj == NULL) {
        for (uint32_t i = 0; i < cnt; i++)
            fail_item(item_status, jobs[idx[i]].item, KVP_ERR_NO_MEMORY);
        goto out_free; /* server reclaims pending allocations itself */
    }
    uint32_t n = 0;
    if (cnt > 0 && jobs[idx[0]].arena) {
        n = put_at_finish(e, sv, jobs, idx, cnt, item_status, flags, cj, cl);
        goto count;
    }
    /* abort every allocation of a failed item */
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        if (j->allocated && item_status[j->item] != KVP_OK)
            ids[n++] = j->alloc_id;
    }
    if (n > 0 && store_abort(sv->conn, n, ids) != KVP_OK)
        KVP_LOG_W(&e->log, "put: abort of %u allocation(s) on %s:%u failed", n,
                  sv->addr.host, sv->addr.port);
    n = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        if (j->allocated && item_status[j->item] == KVP_OK) {
            cj[n] = idx[i];
            ids[n++] = j->alloc_id;
        }
    }
    if (n == 0)
        goto out_free;
    int32_t st = store_commit(sv->conn, n, ids, cst);
    for (uint32_t i = 0; i < n; i++)
        put_committed(&jobs[cj[i]], st == KVP_OK ? cst[i] : st, item_status,
                      cl);
count:
    /* counted once every item's outcome is known (a group fails whole) */
    for (uint32_t i = 0; i < n; i++) {
        struct put_job *j = &jobs[cj[i]];
        if (item_status[j->item] == KVP_OK) {
            ENG_COUNT(e, puts, 1);
            ENG_COUNT(e, put_bytes, put_job_len(j));
        }
    }
out_free:
    free(ids);
    free(cst);
    free(cj);
}

void xfer_put(struct kvp_engine *e, struct put_job *jobs, uint32_t n_jobs,
              int32_t *item_status, uint32_t flags)
{
    if (n_jobs == 0)
        return;
    struct groups g = {0};
    int32_t st = groups_make(e, n_jobs, &jobs[0].key, sizeof(jobs[0]), &g);
    for (uint32_t j = 0; st == KVP_OK && j < n_jobs; j++) {
        jobs[j].server = g.server[j];
        jobs[j].status = KVP_OK;
        jobs[j].allocated = jobs[j].committed = jobs[j].arena = 0;
        jobs[j].iovs = NULL;
    }
    if (st != KVP_OK) {
        for (uint32_t j = 0; j < n_jobs; j++)
            fail_item(item_status, jobs[j].item, st);
        goto out_free;
    }
    struct cause_log cl = {0};
    eng_acquire_servers(e, g.used, g.held);
    for (uint32_t s = 0; s < e->n_servers; s++)
        if (g.start[s + 1] > g.start[s])
            put_alloc(e, g.held[s], jobs, g.order + g.start[s],
                      g.start[s + 1] - g.start[s], item_status, flags, &cl);
    for (uint32_t s = 0; s < e->n_servers; s++)
        if (g.start[s + 1] > g.start[s])
            put_write(e, g.held[s], jobs, g.order + g.start[s],
                      g.start[s + 1] - g.start[s], item_status, &cl);
    for (uint32_t s = 0; s < e->n_servers; s++) {
        if (g.start[s + 1] == g.start[s])
            continue;
        put_fail_groups(jobs, g.order + g.start[s],
                        g.start[s + 1] - g.start[s], item_status);
        put_finish(e, g.held[s], jobs, g.order + g.start[s],
                   g.start[s + 1] - g.start[s], item_status, flags, &cl);
    }
    eng_release_servers(e, g.used, g.held);
    for (uint32_t j = 0; j < n_jobs; j++)
        if (jobs[j].status != KVP_OK && jobs[j].status != KVP_ERR_EXISTS)
            ENG_COUNT(e, errors, 1);
    cause_flush(e, &cl);
out_free:
    groups_free(&g);
}

/* ---- get ---------------------------------------------------------------- */

struct get_state {
    uint64_t raddr, len, lease;
    int posted;
};

/* Posts the reads of one found object: straight into dst, or scattered
 * over the pieces in order (one read per piece, to consecutive remote
 * addresses). Bytes past len are not touched. */
static int32_t get_post(struct kvp_engine *e, struct kvp_xport_ep *ep,
                        struct kvp_xport_rkey *rkey, struct get_job *j,
                        uint64_t raddr, uint64_t len)
{
    if (j->iov == NULL)
        return e->tops->read(ep, j->dst, len, j->mem, raddr, rkey);
    uint64_t off = 0;
    for (uint32_t i = 0; i < j->n_iov && off < len; i++) {
        uint64_t n = j->iov[i].len < len - off ? j->iov[i].len : len - off;
        if (n == 0)
            continue;
        int32_t st = e->tops->read(ep, j->iov[i].ptr, n, j->iov_mem[i],
                                   raddr + off, rkey);
        if (st != KVP_OK)
            return st;
        off += n;
    }
    return KVP_OK;
}

static void get_server(struct kvp_engine *e, struct eng_server *sv,
                       struct get_job *jobs, const uint32_t *idx, uint32_t cnt,
                       struct cause_log *cl)
{
    struct store_conn *c = NULL;
    struct store_lookup_item *it = calloc(cnt, sizeof(*it));
    int32_t st = it == NULL ? KVP_ERR_NO_MEMORY : KVP_OK;
    if (st == KVP_OK) {
        for (uint32_t i = 0; i < cnt; i++)
            it[i].key = jobs[idx[i]].key;
        struct batch_req r = {cnt, it, 0};
        st = eng_request(e, sv, req_lookup, &r, &c);
    }
    if (st != KVP_OK) {
        for (uint32_t i = 0; i < cnt; i++) {
            jobs[idx[i]].result = st;
            cause_note(cl, KVP_LOG_ERROR, "get", "lookup",
                       jobs[idx[i]].server, st, jobs[idx[i]].key);
        }
        free(it);
        return;
    }
    struct kvp_xport_ep *ep = store_conn_ep(c);
    struct kvp_xport_rkey *rkey = store_conn_rkey(c);
    uint32_t posted = 0, n_staged = 0;
    /* staged gets: job index, remote address, length */
    uint32_t *sidx = malloc((size_t)cnt * sizeof(*sidx));
    uint64_t *sraddr = malloc((size_t)cnt * sizeof(*sraddr));
    uint64_t *slen = malloc((size_t)cnt * sizeof(*slen));
    for (uint32_t i = 0; i < cnt; i++) {
        struct get_job *j = &jobs[idx[i]];
        if (it[i].status != KVP_OK) {
            j->result = it[i].status;
            cause_note(cl,
                       it[i].status == KVP_ERR_NOT_FOUND ? KVP_LOG_DEBUG
                                                         : KVP_LOG_ERROR,
                       "get", "lookup", j->server, it[i].status, j->key);
            continue;
        }
        if (it[i].len > j->cap) {
            /* checked before any byte moves: the buffer stays untouched
             * (stat tells the size needed) */
            cause_note(cl, KVP_LOG_ERROR, "get",
                       "object larger than the buffer's cap", j->server,
                       KVP_ERR_TOO_SMALL, j->key);
            j->result = KVP_ERR_TOO_SMALL;
            continue;
        }
        j->result = (int64_t)it[i].len;
        if (it[i].len == 0)
            continue;
        if (j->staged && (sidx == NULL || sraddr == NULL || slen == NULL)) {
            j->result = KVP_ERR_NO_MEMORY;
            continue;
        }
        if (j->staged) { /* read by xfer_dev_get below */
            sidx[n_staged] = idx[i];
            sraddr[n_staged] = it[i].raddr;
            slen[n_staged++] = it[i].len;
            continue;
        }
        int32_t wst = get_post(e, ep, rkey, j, it[i].raddr, it[i].len);
        posted++;
        if (wst != KVP_OK) {
            cause_note(cl, KVP_LOG_ERROR, "get", "read", j->server, wst,
                       j->key);
            j->result = wst;
        }
    }
    if (posted > 0) {
        st = e->tops->flush(ep, e->cfg.timeout_ms);
        if (st != KVP_OK) {
            cause_note(cl, KVP_LOG_ERROR, "get", "flush", jobs[idx[0]].server,
                       st, jobs[idx[0]].key);
            sv->reset = 1;
            for (uint32_t i = 0; i < cnt; i++)
                if (it[i].status == KVP_OK && it[i].len > 0 &&
                    it[i].len <= jobs[idx[i]].cap)
                    jobs[idx[i]].result = st;
        }
    }
    if (st == KVP_OK)
        xfer_dev_get(e, ep, rkey, jobs, sidx, sraddr, slen, n_staged);
    free(sidx);
    free(sraddr);
    free(slen);
    /* release every lease we got, also of objects we did not read */
    uint64_t *leases = malloc((size_t)cnt * sizeof(uint64_t));
    uint32_t nl = 0;
    for (uint32_t i = 0; leases != NULL && i < cnt; i++)
        if (it[i].status == KVP_OK && it[i].lease_id != 0)
            leases[nl++] = it[i].lease_id;
    if (nl > 0 && store_release(c, nl, leases) != KVP_OK)
        KVP_LOG_W(&e->log,
                  "get: release of %u lease(s) on %s:%u failed; "
                  "they expire on the server",
                  nl, sv->addr.host, sv->addr.port);
    free(leases);
    free(it);
}

void xfer_get(struct kvp_engine *e, struct get_job *jobs, uint32_t n_jobs)
{
    if (n_jobs == 0)
        return;
    struct groups g = {0};
    int32_t st = groups_make(e, n_jobs, &jobs[0].key, sizeof(jobs[0]), &g);
    for (uint32_t j = 0; st == KVP_OK && j < n_jobs; j++)
        jobs[j].server = g.server[j];
    if (st != KVP_OK) {
        for (uint32_t j = 0; j < n_jobs; j++)
            jobs[j].result = st;
        goto out_free;
    }
    struct cause_log cl = {0};
    eng_acquire_servers(e, g.used, g.held);
    for (uint32_t s = 0; s < e->n_servers; s++) {
        uint32_t *ord = g.order + g.start[s];
        uint32_t n = g.start[s + 1] - g.start[s];
        if (n > 0)
            n = fastget_try(e, g.held[s], jobs, ord, n);
        if (n > 0)
            get_server(e, g.held[s], jobs, ord, n, &cl);
    }
    eng_release_servers(e, g.used, g.held);
    for (uint32_t j = 0; j < n_jobs; j++) {
        int64_t r = jobs[j].result;
        if (r >= 0) {
            ENG_COUNT(e, gets, 1);
            ENG_COUNT(e, get_bytes, (uint64_t)r);
            ENG_COUNT(e, get_hits, 1);
        } else if (r == KVP_ERR_NOT_FOUND) {
            ENG_COUNT(e, get_misses, 1);
        } else {
            ENG_COUNT(e, errors, 1);
        }
    }
    cause_flush(e, &cl);
out_free:
    groups_free(&g);
}

/* ---- exists / remove ------------------------------------------------------ */

struct meta_req {
    uint32_t n;
    const char **keys;
    struct store_lookup_item *look; /* exists */
    int32_t *st;                    /* remove */
};

static int32_t req_exists(struct store_conn *c, void *arg)
{
    struct meta_req *r = arg;
    return store_lookup(c, r->n, r->look, STORE_LOOKUP_NO_LEASE);
}

static int32_t req_remove_many(struct store_conn *c, void *arg)
{
    struct meta_req *r = arg;
    return store_remove_many(c, r->n, r->keys, r->st);
}

static void meta_server(struct kvp_engine *e, struct eng_server *sv,
                        int remove, const char *const *keys,
                        const uint32_t *idx, uint32_t cnt, int32_t *results,
                        struct cause_log *cl)
{
    struct meta_req r = {.n = cnt};
    r.keys = malloc((size_t)cnt * sizeof(*r.keys));
    r.look = remove ? NULL : calloc(cnt, sizeof(*r.look));
    r.st = remove ? calloc(cnt, sizeof(*r.st)) : NULL;
    int32_t st = r.keys == NULL || (r.look == NULL && r.st == NULL)
                     ? KVP_ERR_NO_MEMORY
                     : KVP_OK;
    struct store_conn *c;
    for (uint32_t i = 0; st == KVP_OK && i < cnt; i++) {
        r.keys[i] = keys[idx[i]];
        if (!remove)
            r.look[i].key = keys[idx[i]];
    }
    if (st == KVP_OK)
        st = eng_request(e, sv, remove ? req_remove_many : req_exists, &r,
                         &c);
    const char *what = remove ? "batch_remove" : "batch_exists";
    for (uint32_t i = 0; i < cnt; i++) {
        int32_t x = st;
        if (st == KVP_OK)
            x = remove ? r.st[i] : r.look[i].status;
        if (!remove && (x == KVP_OK || x == KVP_ERR_NOT_FOUND))
            x = x == KVP_OK ? 1 : 0;
        results[idx[i]] = x;
        if (remove && x == KVP_OK)
            ENG_COUNT(e, removes, 1);
        if (x < 0 && x != KVP_ERR_NOT_FOUND) {
            ENG_COUNT(e, errors, 1);
            cause_note(cl, KVP_LOG_ERROR, what, "request",
                       eng_server_of(e, keys[idx[i]]), x, keys[idx[i]]);
        }
    }
    free(r.keys);
    free(r.look);
    free(r.st);
}

static void xfer_meta(struct kvp_engine *e, int remove, uint32_t n,
                      const char *const *keys, int32_t *results)
{
    if (n == 0)
        return;
    struct groups g = {0};
    int32_t st = groups_make(e, n, keys, sizeof(keys[0]), &g);
    if (st != KVP_OK) {
        for (uint32_t i = 0; i < n; i++)
            results[i] = st;
        goto out_free;
    }
    struct cause_log cl = {0};
    eng_acquire_servers(e, g.used, g.held);
    for (uint32_t s = 0; s < e->n_servers; s++)
        if (g.start[s + 1] > g.start[s])
            meta_server(e, g.held[s], remove, keys, g.order + g.start[s],
                        g.start[s + 1] - g.start[s], results, &cl);
    eng_release_servers(e, g.used, g.held);
    cause_flush(e, &cl);
out_free:
    groups_free(&g);
}

void xfer_exists(struct kvp_engine *e, uint32_t n, const char *const *keys,
                 int32_t *results)
{
    xfer_meta(e, 0, n, keys, results);
}

void xfer_remove(struct kvp_engine *e, uint32_t n, const char *const *keys,
                 int32_t *results)
{
    xfer_meta(e, 1, n, keys, results);
}
