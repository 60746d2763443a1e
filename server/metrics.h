/*
 * metrics.h - the server's counters for operators: items and bytes by
 * request and status, and a latency histogram per request type, kept with
 * relaxed atomics on the request path; rendered in the Prometheus text
 * format (docs/operations.md lists the series). Pure: no I/O.
 */
#ifndef KVP_SERVER_METRICS_H
#define KVP_SERVER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MET_OPS      9  /* alloc commit abort lookup release remove stats
                            * put_at keys */
#define MET_STATUSES 17 /* KVP_OK .. KVP_ERR_INTERNAL, by -status */
#define MET_BUCKETS  12

struct proto_msg;

struct srv_metrics {
    atomic_uint_fast64_t items[MET_OPS][MET_STATUSES];
    atomic_uint_fast64_t bytes[MET_OPS][MET_STATUSES];
    atomic_uint_fast64_t frames[MET_OPS];
    atomic_uint_fast64_t lat[MET_OPS][MET_BUCKETS]; /* per bucket, not cum. */
    atomic_uint_fast64_t lat_sum_ns[MET_OPS];
};

/* The values of the gauges, read when rendered. */
struct metrics_gauges {
    uint64_t pool_size, used_bytes, objects, pending, leases, retired;
    uint64_t evictions, lease_expiries, connections;
};

void metrics_init(struct srv_metrics *m);
/* One handled request frame m (items with their statuses), ns long. */
void metrics_frame(struct srv_metrics *m, const struct proto_msg *req,
                   uint64_t ns);
/* The exposition text (malloc'd, NUL-terminated; *len_p its length), or
 * NULL without memory. */
char *metrics_render(const struct srv_metrics *m,
                     const struct metrics_gauges *g, size_t *len_p);

#endif /* KVP_SERVER_METRICS_H */
