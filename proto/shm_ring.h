/*
 * shm_ring.h - the same-host control carrier (docs/protocol.md, "The
 * same-host carrier"): two single-producer single-consumer byte pipes in
 * a shared segment, one per direction, carrying the protocol's frames
 * unchanged.
 *
 * Waiting: a side that needs bytes (or room) first spins for a bounded
 * time, then sleeps on a futex word in the segment; the other side makes a
 * futex_wake syscall only when it sees a sleeper flag. So while both sides
 * are busy an op costs no syscall, and an idle side burns no core.
 *
 * The peer writes the same memory, so nothing in it is trusted: positions
 * are checked on every read (head <= tail <= head + cap) and data is only
 * ever copied out of the ring (into the caller's buffer) before it is
 * parsed; indices are masked into the ring. A peer that breaks the rules
 * gets SHM_CORRUPT, never an out-of-bounds access.
 */
#ifndef KVP_PROTO_SHM_RING_H
#define KVP_PROTO_SHM_RING_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define SHM_MAGIC      UINT64_C(0x314d48535056574b) /* "KWVPSHM1" LE */
#define SHM_VERSION    1
#define SHM_HDR_BYTES  4096
#define SHM_COOKIE_LEN 32
/* The segment's layout (docs/protocol.md): magic u64 @0, version u32 @8,
 * pipe_cap u32 @12, cookie[32] @16; the request pipe's control block @128,
 * the reply pipe's @256, each {tail u64 @0, data_seq u32 @8, reader_sleeps
 * u32 @12, head u64 @64, room_seq u32 @72, writer_sleeps u32 @76}; data
 * @4096 (request) and @4096 + pipe_cap (reply). */
#define SHM_REQ_CTL_OFF  128
#define SHM_REP_CTL_OFF  256
#define SHM_CTL_TAIL_OFF 0
#define SHM_CTL_HEAD_OFF 64
#define SHM_PIPE_DEFAULT (UINT32_C(1) << 18) /* 256 KiB per direction */
/* Most a side spins before it sleeps; KVPLUG_SHM_SPIN_US overrides it
 * (0..100000; both sides read it at connect). */
#define SHM_SPIN_US_DEFAULT 250

/* Results (not kvplug status codes). */
#define SHM_OK        0
#define SHM_CORRUPT   (-1) /* the peer broke the ring's invariants */
#define SHM_MALFORMED (-2) /* a frame header failed proto checks */
#define SHM_NO_MEMORY (-3)
/* anything else: what shm_wait.check returned (< -16 by convention) */

/* How long to spin and what to check while sleeping. check(arg) is called
 * about every slice_ms while asleep (and once when the spin ends); a
 * non-zero return ends the wait with that value. */
struct shm_wait {
    uint32_t spin_ns;
    uint32_t slice_ms;
    int (*check)(void *arg);
    void *arg;
};

/* One direction. The pointers are into the caller's mapping. */
struct shm_pipe {
    struct shm_pipe_ctl *ctl;
    uint8_t *data;
    uint64_t cap;      /* power of two */
    uint64_t pos;      /* this side's position (head or tail), kept privately */
    uint32_t spin_cur; /* adaptive spin budget, ns (see wait_level) */
    uint32_t probe;    /* waits since the budget fell to 0 */
};

/* The segment: header page, then the request pipe's data (client ->
 * server), then the reply pipe's (server -> client). */
size_t shm_seg_size(uint32_t pipe_cap);
/* Writes the header of a fresh (zeroed) segment. */
void shm_seg_init(void *seg, uint32_t pipe_cap,
                  const uint8_t cookie[SHM_COOKIE_LEN]);
/* Checks a mapped segment of seg_len bytes against what the server said
 * (pipe_cap, cookie) and fills the two pipes. -1 with *why on mismatch. */
int shm_seg_attach(void *seg, size_t seg_len, uint32_t pipe_cap,
                   const uint8_t cookie[SHM_COOKIE_LEN], struct shm_pipe *req,
                   struct shm_pipe *rep, const char **why);

/* Writes all len bytes (waiting for room as needed) and wakes a sleeping
 * reader. */
int shm_pipe_write(struct shm_pipe *p, const void *buf, size_t len,
                   const struct shm_wait *w);
/* Reads exactly len bytes, waiting as needed; wakes a writer that waits
 * for room. */
int shm_pipe_read(struct shm_pipe *p, void *buf, size_t len,
                  const struct shm_wait *w);
/* Reads one frame: header (checked with proto_hdr_parse against max_body;
 * SHM_MALFORMED with *why, the body is not read), then the body into
 * *body (grown as needed; caller frees). */
int shm_recv_frame(struct shm_pipe *p, uint32_t max_body,
                   const struct shm_wait *w, struct proto_hdr *h,
                   struct proto_buf *body, const char **why);
/* Wakes anyone asleep on the pipe (either side), e.g. at shutdown. */
void shm_pipe_wake_all(struct shm_pipe *p);

const char *shm_result_str(int r);

/* One pause of a spin loop (the ring's waits, the shared index's reader). */
static inline void shm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* KVP_PROTO_SHM_RING_H */
