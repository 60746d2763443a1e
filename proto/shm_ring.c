/* shm_ring.c - SPSC byte pipes in a shared segment (see shm_ring.h). */
#include "shm_ring.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SPIN_PROBE_MIN_NS 1000u /* the shortest probing spin */
/* A wait this long was the peer idle, not descheduled: the next wait
 * spins its whole budget again (a scheduler slice is a few ms). */
#define SPIN_IDLE_NS 10000000u

/* One direction's shared state. Each side also keeps its own position
 * privately (it never trusts the copy the peer can write). */
struct shm_pipe_ctl {
    _Alignas(64) _Atomic uint64_t tail; /* written by the producer */
    _Atomic uint32_t data_seq;          /* futex word: bytes arrived */
    _Atomic uint32_t reader_sleeps;
    _Alignas(64) _Atomic uint64_t head; /* written by the consumer */
    _Atomic uint32_t room_seq;          /* futex word: room freed */
    _Atomic uint32_t writer_sleeps;
};

/* The header page. */
struct shm_seg_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t pipe_cap;
    uint8_t cookie[SHM_COOKIE_LEN];
    _Alignas(128) struct shm_pipe_ctl req;
    _Alignas(128) struct shm_pipe_ctl rep;
};

_Static_assert(offsetof(struct shm_seg_hdr, req) == SHM_REQ_CTL_OFF &&
                   offsetof(struct shm_seg_hdr, rep) == SHM_REP_CTL_OFF &&
                   offsetof(struct shm_pipe_ctl, tail) == SHM_CTL_TAIL_OFF &&
                   offsetof(struct shm_pipe_ctl, head) == SHM_CTL_HEAD_OFF,
               "shm segment layout differs from docs/protocol.md");
_Static_assert(sizeof(struct shm_seg_hdr) <= SHM_HDR_BYTES,
               "shm header does not fit its page");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "the shared pipes need lock-free 32/64-bit atomics");

size_t shm_seg_size(uint32_t pipe_cap)
{
    return SHM_HDR_BYTES + 2 * (size_t)pipe_cap;
}

void shm_seg_init(void *seg, uint32_t pipe_cap,
                  const uint8_t cookie[SHM_COOKIE_LEN])
{
    struct shm_seg_hdr *h = seg;
    h->magic = SHM_MAGIC;
    h->version = SHM_VERSION;
    h->pipe_cap = pipe_cap;
    memcpy(h->cookie, cookie, SHM_COOKIE_LEN);
}

int shm_seg_attach(void *seg, size_t seg_len, uint32_t pipe_cap,
                   const uint8_t cookie[SHM_COOKIE_LEN], struct shm_pipe *req,
                   struct shm_pipe *rep, const char **why)
{
    struct shm_seg_hdr *h = seg;
    if (pipe_cap < 4096 || (pipe_cap & (pipe_cap - 1)) != 0)
        *why = "pipe capacity not a power of two >= 4096";
    else if (seg_len != shm_seg_size(pipe_cap))
        *why = "segment size differs from what the server announced";
    else if (h->magic != SHM_MAGIC || h->version != SHM_VERSION)
        *why = "bad segment magic or version";
    else if (h->pipe_cap != pipe_cap)
        *why = "segment pipe capacity differs from the server's reply";
    else if (memcmp(h->cookie, cookie, SHM_COOKIE_LEN) != 0)
        *why = "segment cookie differs (another host or process)";
    else
        *why = NULL;
    if (*why != NULL)
        return -1;
    uint8_t *base = seg;
    *req = (struct shm_pipe){.ctl = &h->req,
                             .data = base + SHM_HDR_BYTES,
                             .cap = pipe_cap,
                             .spin_cur = UINT32_MAX};
    *rep = (struct shm_pipe){.ctl = &h->rep,
                             .data = base + SHM_HDR_BYTES + pipe_cap,
                             .cap = pipe_cap,
                             .spin_cur = UINT32_MAX};
    return 0;
}

/* ---- waiting ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *word, uint32_t val, uint32_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    /* shared futex (no FUTEX_PRIVATE_FLAG): the word is in a mapping two
     * processes share. EAGAIN/EINTR/ETIMEDOUT all mean "look again". */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Bytes readable (reader) or room to write (writer), checked against the
 * ring's invariant; -1: the peer's position is impossible. */
static int64_t level(const struct shm_pipe *p, int reader)
{
    uint64_t used;
    if (reader)
        used = atomic_load(&p->ctl->tail) - p->pos;
    else
        used = p->pos - atomic_load(&p->ctl->head);
    if (used > p->cap)
        return -1;
    return (int64_t)(reader ? used : p->cap - used);
}

/* Waits until level() > 0: spins up to w->spin_ns, then sleeps on the
 * futex in slices, calling w->check between them. */
static int wait_level(struct shm_pipe *p, int reader, const struct shm_wait *w,
                      uint64_t *n)
{
    int64_t l = level(p, reader);
    if (l != 0)
        goto done;
    /* Adaptive spin (pause only, no syscall): a wait that the spin
     * satisfied restores this side's whole budget (w->spin_ns: the peer
     * runs), one that had to sleep halves it, down to nothing; at nothing
     * every 32nd wait probes with a quarter of the budget - long enough
     * to catch a peer that answers within a copy of a page (~10 us), or
     * a side that lost its budget once would never spin again. Where
     * both sides run on cores of their own the answer comes within the
     * spin; on a loaded machine the peer is descheduled, a spin only
     * keeps a vCPU from it (measured: a failed spin cost 3 us of p50 at
     * 64 KiB, docs/performance.md), and the budget falls away. But a wait
     * that lasted longer than
     * SPIN_IDLE_NS found the peer idle (a client between bursts, a server
     * while the client's gets need no round trip), not descheduled: the
     * budget comes back whole, or an idle spell would leave both sides
     * sleeping - and paying a wake-up each - for good. The clock is read
     * every 8 pauses (a pause is ~40 ns on recent x86). */
    uint32_t budget = p->spin_cur < w->spin_ns ? p->spin_cur : w->spin_ns;
    if (budget == 0 && w->spin_ns != 0 && (++p->probe & 31) == 0)
        budget = w->spin_ns / 4 > SPIN_PROBE_MIN_NS ? w->spin_ns / 4
                                                    : SPIN_PROBE_MIN_NS;
    uint64_t t0 = now_ns();
    for (unsigned i = 1; budget != 0; i++) {
        shm_cpu_relax();
        if ((l = level(p, reader)) != 0) {
            p->spin_cur = w->spin_ns;
            goto done;
        }
        if ((i & 7) == 0 && now_ns() - t0 >= budget)
            break;
    }
    if (budget != 0)
        p->spin_cur /= 2;
    _Atomic uint32_t *seq = reader ? &p->ctl->data_seq : &p->ctl->room_seq;
    _Atomic uint32_t *flag =
        reader ? &p->ctl->reader_sleeps : &p->ctl->writer_sleeps;
    for (;;) {
        if (w->check != NULL) {
            int c = w->check(w->arg);
            if (c != 0)
                return c;
        }
        uint32_t v = atomic_load(seq);
        atomic_store(flag, 1); /* seq_cst: pairs with the peer's publish */
        if ((l = level(p, reader)) == 0)
            futex_wait(seq, v, w->slice_ms ? w->slice_ms : 100);
        atomic_store(flag, 0);
        if (l != 0 || (l = level(p, reader)) != 0)
            break;
    }
    if (now_ns() - t0 > SPIN_IDLE_NS)
        p->spin_cur = w->spin_ns;
done:
    if (l < 0)
        return SHM_CORRUPT;
    *n = (uint64_t)l;
    return SHM_OK;
}

/* After moving a position: wake the peer if it sleeps on the other word
 * (a syscall only then). */
static void wake_peer(struct shm_pipe *p, int reader)
{
    _Atomic uint32_t *flag =
        reader ? &p->ctl->writer_sleeps : &p->ctl->reader_sleeps;
    _Atomic uint32_t *seq = reader ? &p->ctl->room_seq : &p->ctl->data_seq;
    if (atomic_load(flag) == 0)
        return;
    atomic_fetch_add(seq, 1);
    futex_wake(seq);
}

void shm_pipe_wake_all(struct shm_pipe *p)
{
    atomic_fetch_add(&p->ctl->data_seq, 1);
    futex_wake(&p->ctl->data_seq);
    atomic_fetch_add(&p->ctl->room_seq, 1);
    futex_wake(&p->ctl->room_seq);
}

/* ---- bytes ---- */

/* Moves len bytes between buf and the ring at this side's position (the
 * writer into it, the reader out of it), waiting for room or bytes as
 * needed, publishing the position and waking the peer after each piece. */
static int pipe_move(struct shm_pipe *p, uint8_t *buf, size_t len,
                     const struct shm_wait *w, int reader)
{
    while (len > 0) {
        uint64_t lvl;
        int r = wait_level(p, reader, w, &lvl);
        if (r != SHM_OK)
            return r;
        size_t n = len < lvl ? len : (size_t)lvl;
        size_t off = (size_t)(p->pos & (p->cap - 1));
        size_t first = n < p->cap - off ? n : (size_t)(p->cap - off);
        uint8_t *ring = p->data + off;
        memcpy(reader ? buf : ring, reader ? ring : buf, first);
        memcpy(reader ? buf + first : p->data, reader ? p->data : buf + first,
               n - first);
        p->pos += n;
        /* seq_cst: pairs with the peer's sleeper flag (see wait_level) */
        atomic_store(reader ? &p->ctl->head : &p->ctl->tail, p->pos);
        wake_peer(p, reader);
        buf += n;
        len -= n;
    }
    return SHM_OK;
}

int shm_pipe_write(struct shm_pipe *p, const void *buf, size_t len,
                   const struct shm_wait *w)
{
    /* the bytes are only read: pipe_move copies out of buf for a writer */
    return pipe_move(p, (uint8_t *)(uintptr_t)buf, len, w, 0);
}

int shm_pipe_read(struct shm_pipe *p, void *buf, size_t len,
                  const struct shm_wait *w)
{
    return pipe_move(p, buf, len, w, 1);
}

int shm_recv_frame(struct shm_pipe *p, uint32_t max_body,
                   const struct shm_wait *w, struct proto_hdr *h,
                   struct proto_buf *body, const char **why)
{
    uint8_t hdr[PROTO_HDR_LEN];
    int r = shm_pipe_read(p, hdr, sizeof(hdr), w);
    if (r != SHM_OK)
        return r;
    if (proto_hdr_parse(hdr, max_body, h, why) != PROTO_OK)
        return SHM_MALFORMED;
    if (body->cap < h->body_len) {
        uint8_t *d = realloc(body->data, h->body_len);
        if (d == NULL)
            return SHM_NO_MEMORY;
        body->data = d;
        body->cap = h->body_len;
    }
    body->len = h->body_len;
    return shm_pipe_read(p, body->data, h->body_len, w);
}

const char *shm_result_str(int r)
{
    switch (r) {
    case SHM_OK:
        return "ok";
    case SHM_CORRUPT:
        return "shared ring corrupted by the peer";
    case SHM_MALFORMED:
        return "malformed frame";
    case SHM_NO_MEMORY:
        return "out of memory";
    default:
        return "wait ended";
    }
}
