/* metrics.c - counting requests and rendering Prometheus text
 * (metrics.h). */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "status_name.h"

/* Upper bounds of the latency buckets, in seconds (then +Inf). */
static const double bucket_s[MET_BUCKETS - 1] = {
    5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6,
    500e-6, 1e-3, 5e-3, 25e-3, 100e-3};

static const struct {
    uint16_t type;
    const char *name;
} op_names[MET_OPS] = {
    {PROTO_ALLOC, "alloc"},     {PROTO_COMMIT, "commit"},
    {PROTO_ABORT, "abort"},     {PROTO_LOOKUP, "lookup"},
    {PROTO_RELEASE, "release"}, {PROTO_REMOVE, "remove"},
    {PROTO_STATS, "stats"},     {PROTO_PUT_AT, "put_at"},
    {0, "keys"},
};

static int op_index(uint16_t type)
{
    if (type == PROTO_RELEASE_NOREPLY)
        type = PROTO_RELEASE;
#ifdef PROTO_KEYS
    if (type == PROTO_KEYS)
        return MET_OPS - 1;
#endif
    for (int i = 0; i < MET_OPS - 1; i++)
        if (op_names[i].type == type)
            return i;
    return -1;
}

void metrics_init(struct srv_metrics *m)
{
    memset(m, 0, sizeof(*m));
}

void metrics_frame(struct srv_metrics *m, const struct proto_msg *req,
                   uint64_t ns)
{
    int op = op_index(req->type);
    if (op < 0)
        return;
    const memory_order rx = memory_order_relaxed;
    atomic_fetch_add_explicit(&m->frames[op], 1, rx);
    atomic_fetch_add_explicit(&m->lat_sum_ns[op], ns, rx);
    int b = 0;
    while (b < MET_BUCKETS - 1 && (double)ns * 1e-9 > bucket_s[b])
        b++;
    atomic_fetch_add_explicit(&m->lat[op][b], 1, rx);
    for (uint32_t i = 0; i < req->n; i++) {
        int32_t st = req->items[i].status;
        int s = (st <= 0 && st > -MET_STATUSES) ? -st : MET_STATUSES - 1;
        atomic_fetch_add_explicit(&m->items[op][s], 1, rx);
        /* bytes an item asked for (alloc), stored (put_at) or found
         * (lookup) */
        if (req->type == PROTO_ALLOC || req->type == PROTO_LOOKUP ||
            req->type == PROTO_PUT_AT)
            atomic_fetch_add_explicit(&m->bytes[op][s], req->items[i].len,
                                      rx);
    }
}

struct out {
    char *buf;
    size_t len, cap;
    int failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o,
                                                      const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !o->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *b = realloc(o->buf, cap);
        if (b == NULL) {
            o->failed = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
}

static void gauge(struct out *o, const char *name, const char *type,
                  const char *help, uint64_t v)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type,
        name, (unsigned long long)v);
}

static void by_op_status(struct out *o, const char *name, const char *help,
                         const atomic_uint_fast64_t (*v)[MET_STATUSES])
{
    put(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int op = 0; op < MET_OPS; op++)
        for (int s = 0; s < MET_STATUSES; s++) {
            uint64_t n = atomic_load_explicit(&v[op][s],
                                              memory_order_relaxed);
            if (n != 0 || s == 0) /* every op shows at least its OK row */
                put(o, "%s{op=\"%s\",status=\"%s\"} %llu\n", name,
                    op_names[op].name, kvp_status_name(-s),
                    (unsigned long long)n);
        }
}

static void histograms(struct out *o, const struct srv_metrics *m)
{
    const char *name = "kvplug_request_duration_seconds";
    put(o, "# HELP %s time the server took to handle one request frame, "
           "by request type\n# TYPE %s histogram\n",
        name, name);
    const memory_order rx = memory_order_relaxed;
    for (int op = 0; op < MET_OPS; op++) {
        uint64_t cum = 0;
        for (int b = 0; b < MET_BUCKETS; b++) {
            cum += atomic_load_explicit(&m->lat[op][b], rx);
            if (b < MET_BUCKETS - 1)
                put(o, "%s_bucket{op=\"%s\",le=\"%g\"} %llu\n", name,
                    op_names[op].name, bucket_s[b], (unsigned long long)cum);
            else
                put(o, "%s_bucket{op=\"%s\",le=\"+Inf\"} %llu\n", name,
                    op_names[op].name, (unsigned long long)cum);
        }
        put(o, "%s_sum{op=\"%s\"} %.9f\n%s_count{op=\"%s\"} %llu\n", name,
            op_names[op].name,
            (double)atomic_load_explicit(&m->lat_sum_ns[op], rx) * 1e-9,
            name, op_names[op].name, (unsigned long long)cum);
    }
}

char *metrics_render(const struct srv_metrics *m,
                     const struct metrics_gauges *g, size_t *len_p)
{
    struct out o = {malloc(16384), 0, 16384, 0};
    if (o.buf == NULL)
        return NULL;
    gauge(&o, "kvplug_pool_size_bytes", "gauge", "bytes in the pool",
          g->pool_size);
    gauge(&o, "kvplug_pool_used_bytes", "gauge",
          "pool bytes taken by objects and pending allocations",
          g->used_bytes);
    gauge(&o, "kvplug_objects", "gauge", "committed (visible) objects",
          g->objects);
    gauge(&o, "kvplug_pending_allocations", "gauge",
          "allocations not yet committed or aborted", g->pending);
    gauge(&o, "kvplug_leases", "gauge", "read leases held by clients",
          g->leases);
    gauge(&o, "kvplug_retired_objects", "gauge",
          "replaced or removed objects still pinned by a lease", g->retired);
    gauge(&o, "kvplug_evictions_total", "counter",
          "objects evicted (LRU) to make room", g->evictions);
    gauge(&o, "kvplug_lease_expiries_total", "counter",
          "leases that expired without a release", g->lease_expiries);
    gauge(&o, "kvplug_connections", "gauge", "open client connections",
          g->connections);
    by_op_status(&o, "kvplug_request_items_total",
                 "request items handled, by request type and status",
                 m->items);
    by_op_status(&o, "kvplug_request_bytes_total",
                 "bytes asked for (alloc) or found (lookup), by status",
                 m->bytes);
    histograms(&o, m);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len_p = o.len;
    return o.buf;
}
