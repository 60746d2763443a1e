/* shm_chan.c - server side of the same-host carrier (see shm_chan.h). */
#include "shm_chan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "auth.h"
#include "kvplug/status.h"
#include "shm_index.h"
#include "shm_ring.h"

_Static_assert(SHM_COOKIE_LEN == PROTO_NONCE_LEN &&
                   PROTO_SHM_COOKIE_LEN == SHM_COOKIE_LEN,
               "the cookie is one nonce");

#define CHAN_SLICE_MS 100 /* how often a sleeping server looks at TCP */
#define CHAN_END_TCP  (-20)
#define CHAN_END_STOP (-21)
#define CHAN_END_CALL (-22)

struct shm_chan {
    int fd; /* the memfd until the client attached */
    void *seg;
    size_t seg_len;
    struct shm_pipe req, rep;
    struct shm_index *idx; /* NULL: none named */
    uint32_t reader;       /* its reader word there */
};

/* Same host: the peer's address is the local address of the connection
 * (loopback, or a client dialling one of this host's own addresses). */
int shm_chan_offerable(int fd)
{
    struct sockaddr_storage a, b;
    socklen_t la = sizeof(a), lb = sizeof(b);
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&a, &la) != 0 ||
        getpeername(fd, (struct sockaddr *)&b, &lb) != 0 ||
        a.ss_family != b.ss_family)
        return 0;
    if (a.ss_family == AF_INET)
        return ((struct sockaddr_in *)&a)->sin_addr.s_addr ==
               ((struct sockaddr_in *)&b)->sin_addr.s_addr;
    if (a.ss_family == AF_INET6)
        return memcmp(&((struct sockaddr_in6 *)&a)->sin6_addr,
                      &((struct sockaddr_in6 *)&b)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return 0;
}

int32_t shm_chan_create(struct shm_chan **ch_p, struct proto_msg *r,
                        struct shm_index *idx)
{
    struct shm_chan *ch = calloc(1, sizeof(*ch));
    if (ch == NULL)
        return KVP_ERR_NO_MEMORY;
    uint32_t cap = SHM_PIPE_DEFAULT;
    ch->seg_len = shm_seg_size(cap);
    ch->seg = MAP_FAILED;
    ch->fd = memfd_create("kvplug-ctl", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    /* sealed: a client cannot shrink the file under the server's mapping
     * (which would turn the server's next access into SIGBUS) */
    if (ch->fd < 0 || ftruncate(ch->fd, (off_t)ch->seg_len) != 0 ||
        fcntl(ch->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) !=
            0 ||
        proto_auth_nonce(r->shm_cookie) != 0)
        goto fail;
    ch->seg =
        mmap(NULL, ch->seg_len, PROT_READ | PROT_WRITE, MAP_SHARED, ch->fd, 0);
    if (ch->seg == MAP_FAILED)
        goto fail;
    shm_seg_init(ch->seg, cap, r->shm_cookie);
    if (idx != NULL) {
        ch->idx = idx;
        ch->reader = shm_index_reader_take(idx);
        shidx_desc_put(ch->seg, &idx->desc, ch->reader);
    }
    const char *why;
    if (shm_seg_attach(ch->seg, ch->seg_len, cap, r->shm_cookie, &ch->req,
                       &ch->rep, &why) != 0)
        goto fail;
    r->shm_pid = (uint32_t)getpid();
    r->shm_fd = (uint32_t)ch->fd;
    r->shm_pipe_cap = cap;
    *ch_p = ch;
    return KVP_OK;
fail:
    shm_chan_destroy(ch);
    return KVP_ERR_NO_MEMORY;
}

void shm_chan_attached(struct shm_chan *ch)
{
    if (ch->fd >= 0)
        close(ch->fd);
    ch->fd = -1;
}

void shm_chan_destroy(struct shm_chan *ch)
{
    if (ch == NULL)
        return;
    if (ch->seg != MAP_FAILED)
        munmap(ch->seg, ch->seg_len);
    if (ch->fd >= 0)
        close(ch->fd);
    if (ch->idx != NULL)
        shm_index_reader_give(ch->idx, ch->reader);
    free(ch);
}

/* ---- serving ---- */

struct chan_watch {
    int tcp_fd;
    atomic_int *stopping;
};

/* While asleep: the connection ends when the client's socket closes (a
 * client killed with -9 included) or says anything, or at shutdown. */
static int chan_check(void *arg)
{
    struct chan_watch *cw = arg;
    if (atomic_load(cw->stopping))
        return CHAN_END_STOP;
    struct pollfd p = {cw->tcp_fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0)
        return CHAN_END_TCP;
    return 0;
}

static uint32_t spin_ns(void)
{
    const char *s = getenv("KVPLUG_SHM_SPIN_US");
    long us = s != NULL ? strtol(s, NULL, 10) : SHM_SPIN_US_DEFAULT;
    if (us < 0 || us > 100000)
        us = SHM_SPIN_US_DEFAULT;
    return (uint32_t)us * 1000u;
}

void shm_chan_serve(struct shm_chan *ch, int tcp_fd, atomic_int *stopping,
                    shm_chan_call_fn call, void *conn, uint64_t conn_id,
                    const struct kvp_logger *log)
{
    struct chan_watch cw = {tcp_fd, stopping};
    struct shm_wait w = {spin_ns(), CHAN_SLICE_MS, chan_check, &cw};
    struct proto_buf frame = {0}, reply = {0};
    const char *why = NULL;
    int r;
    for (;;) {
        uint8_t hdr[PROTO_HDR_LEN];
        struct proto_hdr h;
        /* spins for the next request (the ring's adaptive budget) even
         * when the reply had to wake the client: skipping the spin then
         * locked both sides into sleeping on a quiet machine, each request
         * paying two wake-ups (docs/performance.md, "Spinning") */
        if ((r = shm_pipe_read(&ch->req, hdr, sizeof(hdr), &w)) != SHM_OK)
            break;
        if (proto_hdr_parse(hdr, PROTO_MAX_BODY, &h, &why) != PROTO_OK) {
            r = SHM_MALFORMED;
            break;
        }
        size_t len = PROTO_HDR_LEN + (size_t)h.body_len;
        if (frame.cap < len) {
            uint8_t *d = realloc(frame.data, len);
            if (d == NULL) {
                r = SHM_NO_MEMORY;
                break;
            }
            frame.data = d;
            frame.cap = len;
        }
        memcpy(frame.data, hdr, PROTO_HDR_LEN);
        r = shm_pipe_read(&ch->req, frame.data + PROTO_HDR_LEN, h.body_len, &w);
        if (r != SHM_OK)
            break;
        int32_t st = call(conn, frame.data, len, &reply);
        if (reply.len > 0 &&
            (r = shm_pipe_write(&ch->rep, reply.data, reply.len, &w)) != SHM_OK)
            break;
        if (st != KVP_OK) {
            r = CHAN_END_CALL; /* logged by the caller */
            break;
        }
    }
    if (r == SHM_MALFORMED || r == SHM_CORRUPT)
        KVP_LOG_W(log, "server: conn %llu (same-host rings): %s%s%s; closing",
                  (unsigned long long)conn_id, shm_result_str(r),
                  why ? ": " : "", why ? why : "");
    else
        KVP_LOG_D(log, "server: conn %llu (same-host rings): %s",
                  (unsigned long long)conn_id,
                  r == CHAN_END_STOP   ? "server stopping"
                  : r == CHAN_END_TCP  ? "client closed its socket"
                  : r == CHAN_END_CALL ? "connection closed"
                                       : shm_result_str(r));
    proto_buf_free(&frame);
    proto_buf_free(&reply);
}
