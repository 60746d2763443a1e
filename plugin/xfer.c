/* xfer.c - the batch engine behind every put and get (see xfer.h). */
#include "xfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Jobs (or get jobs) grouped by server: order[start[s] .. start[s+1]). */
struct groups {
    uint8_t *used;
    struct eng_server **held; /* the slot taken per used server */
    uint32_t *order;
    uint32_t *start;
};

static int32_t groups_make(struct kvp_engine *e, const uint32_t *server,
                           uint32_t n, struct groups *g)
{
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

static void put_alloc(struct kvp_engine *e, struct eng_server *sv,
                      struct put_job *jobs, const uint32_t *idx, uint32_t cnt,
                      int32_t *item_status, uint32_t flags)
{
    struct store_conn *c;
    struct store_alloc_item *it = calloc(cnt, sizeof(*it));
    int32_t st = it == NULL ? KVP_ERR_NO_MEMORY : KVP_OK;
    if (st == KVP_OK) {
        for (uint32_t i = 0; i < cnt; i++) {
            it[i].key = jobs[idx[i]].key;
            it[i].len = put_job_len(&jobs[idx[i]]);
        }
        struct batch_req r = {cnt, it, flags};
        st = eng_request(e, sv, req_alloc, &r, &c);
    }
    char note[300] = "";
    for (uint32_t i = 0; i < cnt; i++) {
        struct put_job *j = &jobs[idx[i]];
        j->status = st == KVP_OK ? it[i].status : st;
        if (j->status == KVP_ERR_NO_SPACE && note[0] == '\0')
            space_note(st == KVP_OK ? c : NULL, note, sizeof(note));
        if (j->status == KVP_OK) {
            j->allocated = 1;
            j->raddr = it[i].raddr;
            j->alloc_id = it[i].alloc_id;
        } else {
            /* EXISTS is an expected answer in a cache: debug, not error */
            kvp_logf(&e->log,
                     j->status == KVP_ERR_EXISTS ? KVP_LOG_DEBUG
                                                 : KVP_LOG_ERROR,
                     "put: key '%.128s' (%llu bytes): alloc on %s:%u: %s%s",
                     j->key, (unsigned long long)put_job_len(j), sv->addr.host,
                     sv->addr.port, kvp_op_status_str(j->status),
                     j->status == KVP_ERR_NO_SPACE ? note : "");
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
    } else if (n_data > 0) {
        iov[0] = (struct kvp_xport_iov){j->data, j->data_len};
    }
    *n_data_p = n_data;
    return st;
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

static void put_failed(struct kvp_engine *e, struct put_job *j,
                       int32_t *item_status, int32_t st)
{
    KVP_LOG_E(&e->log, "put: key '%.128s': write: %s", j->key,
              kvp_op_status_str(st));
    j->status = st;
    fail_item(item_status, j->item, st);
}

static void put_write(struct kvp_engine *e, struct eng_server *sv,
                      struct put_job *jobs, const uint32_t *idx, uint32_t cnt,
                      int32_t *item_status)
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
        else if (st == KVP_OK && j->plan == NULL && n_data > 0)
            st = put_extents(e, ep, rkey, j, 0, n_data);
        else if (st == KVP_OK)
            pending += (left[i] = n_data) > 0;
        if (st != KVP_OK)
            put_failed(e, j, item_status, st);
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
                put_failed(e, j, item_status, st);
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

static void put_finish(struct kvp_engine *e, struct eng_server *sv,
                       struct put_job *jobs, const uint32_t *idx, uint32_t cnt,
                       int32_t *item_status)
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
    /* abort every allocation of a failed item */
    uint32_t n = 0;
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
    for (uint32_t i = 0; i < n; i++) {
        struct put_job *j = &jobs[cj[i]];
        int32_t r = st == KVP_OK ? cst[i] : st;
        if (r == KVP_OK) {
            j->committed = 1;
            continue;
        }
        KVP_LOG_E(&e->log, "put: key '%.128s': commit on %s:%u: %s", j->key,
                  sv->addr.host, sv->addr.port, kvp_op_status_str(r));
        j->status = r;
        fail_item(item_status, j->item, r);
    }
out_free:
    free(ids);
    free(cst);
    free(cj);
}

/* An item failed after some of its objects were committed (a commit on
 * another server failed): remove them, leaving nothing behind. */
static void put_rollback(struct kvp_engine *e, struct eng_server **held,
                         struct put_job *jobs, uint32_t n_jobs,
                         const int32_t *item_status)
{
    for (uint32_t i = 0; i < n_jobs; i++) {
        struct put_job *j = &jobs[i];
        if (!j->committed || item_status[j->item] == KVP_OK)
            continue;
        struct store_conn *c;
        int32_t rst = KVP_ERR_DISCONNECTED,
                st = eng_conn(e, held[j->server], &c);
        if (st == KVP_OK)
            st = store_remove(c, j->key, &rst);
        if (st != KVP_OK || (rst != KVP_OK && rst != KVP_ERR_NOT_FOUND))
            KVP_LOG_E(&e->log,
                      "put: rollback: could not remove '%.128s' "
                      "(%s)",
                      j->key, kvp_op_status_str(st != KVP_OK ? st : rst));
        j->committed = 0;
    }
}

void xfer_put(struct kvp_engine *e, struct put_job *jobs, uint32_t n_jobs,
              int32_t *item_status, uint32_t flags)
{
    if (n_jobs == 0)
        return;
    struct groups g = {0};
    uint32_t *server = malloc((size_t)n_jobs * sizeof(uint32_t));
    int32_t st = server == NULL ? KVP_ERR_NO_MEMORY : KVP_OK;
    for (uint32_t j = 0; st == KVP_OK && j < n_jobs; j++) {
        jobs[j].server = server[j] = eng_server_of(e, jobs[j].key);
        jobs[j].status = KVP_OK;
        jobs[j].allocated = jobs[j].committed = 0;
        jobs[j].iovs = NULL;
    }
    if (st == KVP_OK)
        st = groups_make(e, server, n_jobs, &g);
    if (st != KVP_OK) {
        for (uint32_t j = 0; j < n_jobs; j++)
            fail_item(item_status, jobs[j].item, st);
        goto out_free;
    }
    eng_acquire_servers(e, g.used, g.held);
    for (uint32_t s = 0; s < e->n_servers; s++)
        if (g.start[s + 1] > g.start[s])
            put_alloc(e, g.held[s], jobs, g.order + g.start[s],
                      g.start[s + 1] - g.start[s], item_status, flags);
    for (uint32_t s = 0; s < e->n_servers; s++)
        if (g.start[s + 1] > g.start[s])
            put_write(e, g.held[s], jobs, g.order + g.start[s],
                      g.start[s + 1] - g.start[s], item_status);
    for (uint32_t s = 0; s < e->n_servers; s++)
        if (g.start[s + 1] > g.start[s])
            put_finish(e, g.held[s], jobs, g.order + g.start[s],
                       g.start[s + 1] - g.start[s], item_status);
    put_rollback(e, g.held, jobs, n_jobs, item_status);
    eng_release_servers(e, g.used, g.held);
out_free:
    groups_free(&g);
    free(server);
}

/* ---- get ---------------------------------------------------------------- */

struct get_state {
    uint64_t raddr, len, lease;
    int posted;
};

static void get_server(struct kvp_engine *e, struct eng_server *sv,
                       struct get_job *jobs, const uint32_t *idx, uint32_t cnt)
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
            KVP_LOG_E(&e->log, "get: key '%.128s': lookup on %s:%u: %s",
                      jobs[idx[i]].key, sv->addr.host, sv->addr.port,
                      kvp_op_status_str(st));
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
            if (it[i].status == KVP_ERR_NOT_FOUND)
                KVP_LOG_D(&e->log, "get: key '%.128s' not found", j->key);
            else
                KVP_LOG_E(&e->log, "get: key '%.128s': %s", j->key,
                          kvp_op_status_str(it[i].status));
            continue;
        }
        if (it[i].len > j->cap) {
            /* checked before any byte moves: the buffer stays untouched */
            KVP_LOG_E(&e->log,
                      "get: key '%.128s' is %llu bytes, buffer "
                      "cap %llu",
                      j->key, (unsigned long long)it[i].len,
                      (unsigned long long)j->cap);
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
        int32_t wst =
            e->tops->read(ep, j->dst, it[i].len, j->mem, it[i].raddr, rkey);
        posted++;
        if (wst != KVP_OK) {
            KVP_LOG_E(&e->log, "get: key '%.128s': read: %s", j->key,
                      kvp_op_status_str(wst));
            j->result = wst;
        }
    }
    if (posted > 0) {
        st = e->tops->flush(ep, e->cfg.timeout_ms);
        if (st != KVP_OK) {
            KVP_LOG_E(&e->log, "get: flush from %s:%u: %s", sv->addr.host,
                      sv->addr.port, kvp_op_status_str(st));
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
    uint32_t *server = malloc((size_t)n_jobs * sizeof(uint32_t));
    int32_t st = server == NULL ? KVP_ERR_NO_MEMORY : KVP_OK;
    for (uint32_t j = 0; st == KVP_OK && j < n_jobs; j++)
        jobs[j].server = server[j] = eng_server_of(e, jobs[j].key);
    if (st == KVP_OK)
        st = groups_make(e, server, n_jobs, &g);
    if (st != KVP_OK) {
        for (uint32_t j = 0; j < n_jobs; j++)
            jobs[j].result = st;
        goto out_free;
    }
    eng_acquire_servers(e, g.used, g.held);
    for (uint32_t s = 0; s < e->n_servers; s++)
        if (g.start[s + 1] > g.start[s])
            get_server(e, g.held[s], jobs, g.order + g.start[s],
                       g.start[s + 1] - g.start[s]);
    eng_release_servers(e, g.used, g.held);
out_free:
    groups_free(&g);
    free(server);
}
