/*
 * stage.h - the staged path for device memory: objects move between
 * device memory and a transport in chunks through two pinned host bounce
 * slots, double-buffered so the device copy of chunk i+1 overlaps the
 * transfer of chunk i, and the pipeline runs across the transfers of a
 * batch without draining between them (docs/cuda.md "Staged path").
 *
 * Pure logic, no CUDA: the copy engine and the transport are callbacks.
 * plugin/cuda_copy.c is the CUDA copy engine; tests/unit/check_stage.c
 * drives this with a host-memory STAND-IN copy engine.
 *
 * The device side of a transfer is a 2-D region: `height` rows of `width`
 * bytes, row r at base + r * pitch; its bytes in order are the object (a
 * plain object is one row; a TP shard is its strided extents). A chunk is
 * gathered (or scattered) with at most three copies: the rest of a row,
 * whole rows (one 2-D copy), the start of a row.
 */
#ifndef KVP_STAGE_H
#define KVP_STAGE_H

#include <stdint.h>

struct stage_region {
    uintptr_t base;
    uint64_t width;  /* bytes per row */
    uint64_t pitch;  /* bytes between row starts (>= width) */
    uint64_t height; /* rows */
};

/* The copy engine: one stream (or queue) per bounce slot. */
struct stage_copier {
    void *ctx;
    /* Starts a copy of `height` rows of `width` bytes between the device
     * side (row r at dev + r * dpitch) and the host side (contiguous, row
     * r at host + r * width); to_host: device -> host. Asynchronous:
     * complete only after wait(slot). */
    int32_t (*copy)(void *ctx, uint32_t slot, int to_host, void *host,
                    uintptr_t dev, uint64_t dpitch, uint64_t width,
                    uint64_t height);
    /* Every copy started on slot is complete. */
    int32_t (*wait)(void *ctx, uint32_t slot);
};

/* The transport: post() starts a write (put) of [bounce, +len) to byte
 * `off` of transfer `user`'s remote object, or a read (get) of its bytes
 * [off, +len) into bounce; flush() completes every one posted. */
struct stage_sink {
    void *ctx;
    int32_t (*post)(void *ctx, void *user, void *bounce, uint64_t len,
                    uint64_t off);
    int32_t (*flush)(void *ctx);
};

/* Two bounce slots of `chunk` bytes each, registered with the transport. */
struct stage_bounce {
    unsigned char *slot[2];
    uint64_t chunk;
};

struct stage_xfer {
    struct stage_region dev;
    void *user;     /* handed to sink->post */
    int32_t status; /* KVP_OK on entry; the first failure on return */
};

/* Counters of one run, for tests and stats. */
struct stage_stats {
    uint64_t chunks;
    uint64_t copies;     /* copy() calls */
    uint64_t overlapped; /* chunks whose copy was started while the previous
                          * chunk's transfer was still in flight */
};

/* Device -> remote: every transfer's region is copied to a slot and
 * posted; returns with everything flushed. A transfer whose copy or post
 * fails gets that status (its later chunks are skipped); a failed flush
 * fails every transfer still in flight or to come. stats may be NULL. */
void stage_put(const struct stage_copier *cp, const struct stage_sink *sk,
               const struct stage_bounce *b, struct stage_xfer *x, uint32_t n,
               struct stage_stats *stats);

/* Remote -> device: chunks are read into a slot, then copied to the
 * region; returns with every copy complete (the bytes are visible). */
void stage_get(const struct stage_copier *cp, const struct stage_sink *sk,
               const struct stage_bounce *b, struct stage_xfer *x, uint32_t n,
               struct stage_stats *stats);

/* Bytes of a region (width * height; 0 if either is 0). */
static inline uint64_t stage_region_bytes(const struct stage_region *r)
{
    return r->width * r->height;
}

#endif /* KVP_STAGE_H */
