/*
 * xfer.h - the batch engine: moves a list of objects to/from the servers
 * with ONE ALLOC (or LOOKUP) frame and ONE COMMIT (or RELEASE) frame per
 * server, every write posted before one flush per server.
 *
 * Puts are grouped into items: an item (one put, or all shards of one TP
 * put) succeeds only if every one of its objects was written and
 * committed; otherwise every object of it is aborted or removed again, so
 * no part of a failed item is left behind.
 */
#ifndef KVP_XFER_H
#define KVP_XFER_H

#include <stdint.h>

#include "engine.h"
#include "tp_plan.h"

/* One object to store. Its bytes are [hdr (304 B), if hdr != NULL] then
 * either [data, data + data_len), or with plan != NULL the extents of
 * rank `rank` of `plan` taken from the FULL payload at `payload`, or with
 * iov != NULL the pieces iov[0 .. n_iov) (data_len = their total). */
struct put_job {
    const char *key;
    uint32_t group;    /* TP group number (consecutive jobs of one item),
                        * 0 = a plain object */
    uint16_t base_len; /* with group: bytes of key that are the base */
    uint32_t item; /* index into the item status array */
    const void *hdr;
    struct kvp_xport_mem *hdr_mem;
    const void *data;
    uint64_t data_len;
    const struct tp_plan *plan;
    int32_t rank;
    const unsigned char *payload;
    struct kvp_xport_mem *data_mem; /* holds data or payload */
    struct reg_entry *ref;          /* data_mem's reference (eng_put_buf) */
    int staged;      /* data/payload is CUDA memory: through staging */
    int32_t device;  /* its CUDA device, when staged */
    const struct kvp_iov *iov;      /* gathered pieces, or NULL */
    uint32_t n_iov;
    struct kvp_xport_mem *const *iov_mem; /* registration of each piece */
    /* filled by xfer_put */
    uint32_t server;
    int32_t status;
    uint64_t raddr;
    uint64_t alloc_id;
    int allocated; /* ALLOC succeeded (or an arena piece): commit or abort */
    int arena;     /* raddr is a piece of the connection's arena: PUT_AT */
    int committed;
    struct kvp_xport_iov *iovs; /* posted iovs, alive until the flush */
};

/* item_status[j.item] must be KVP_OK on entry for items that take part;
 * on return it holds the item's result. flags: STORE_ALLOC_*. The jobs of
 * one item go to one server (a TP shard key is placed by its base key,
 * router_place_len), where they become visible as one. */
void xfer_put(struct kvp_engine *e, struct put_job *jobs, uint32_t n_jobs,
              int32_t *item_status, uint32_t flags);

/* Object length of a job (header + payload). */
uint64_t put_job_len(const struct put_job *j);

/* One object to read into [dst, dst + cap), or with iov != NULL scattered
 * over iov[0 .. n_iov) (cap = their total). */
struct get_job {
    const char *key;
    void *dst;
    uint64_t cap;
    struct kvp_xport_mem *mem;
    struct reg_entry *ref; /* mem's reference (eng_put_buf) */
    int staged;     /* dst is CUDA memory: through staging */
    int32_t device; /* its CUDA device, when staged */
    const struct kvp_iov *iov;
    uint32_t n_iov;
    struct kvp_xport_mem *const *iov_mem;
    /* filled by xfer_get */
    uint32_t server;
    int64_t result; /* size or negative status */
};

void xfer_get(struct kvp_engine *e, struct get_job *jobs, uint32_t n_jobs);

/* ---- the staged device path (xfer_dev.c, docs/cuda.md) ---------------- */

/* Writes the payloads of the staged jobs jobs[idx[0..cnt)] (allocated,
 * item still KVP_OK; their headers are posted by the caller) through
 * bounce buffers, one pipeline for all; returns with them flushed. */
void xfer_dev_put(struct kvp_engine *e, struct kvp_xport_ep *ep,
                  struct kvp_xport_rkey *rkey, struct put_job *jobs,
                  const uint32_t *idx, uint32_t cnt, int32_t *item_status);

/* Reads staged gets: jobs[idx[i]] gets len[i] bytes from raddr[i]; its
 * result becomes a negative status on failure. Returns with every byte
 * in device memory. */
void xfer_dev_get(struct kvp_engine *e, struct kvp_xport_ep *ep,
                  struct kvp_xport_rkey *rkey, struct get_job *jobs,
                  const uint32_t *idx, const uint64_t *raddr,
                  const uint64_t *len, uint32_t cnt);
/* Control-only batches over valid keys (no bytes move), one request per
 * server (as many frames as n needs): exists -> results[i] 1 / 0 / < 0;
 * remove -> KVP_OK / KVP_ERR_NOT_FOUND / < 0. */
void xfer_exists(struct kvp_engine *e, uint32_t n, const char *const *keys,
                 int32_t *results);
void xfer_remove(struct kvp_engine *e, uint32_t n, const char *const *keys,
                 int32_t *results);

#endif /* KVP_XFER_H */
