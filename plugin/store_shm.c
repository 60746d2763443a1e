/* store_shm.c - client side of the same-host carrier (see store_shm.h). */
#include "store_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvplug/status.h"
#include "shm_ring.h"

#define SHM_SLICE_MS   20 /* how often a sleeping client looks at TCP */
#define SHM_END_CLOSED (-20)
#define SHM_END_TIME   (-21)

struct store_shm {
    void *seg;
    size_t seg_len;
    void *idx, *idx_rw; /* the shared index: read-only, and its writable part */
    size_t idx_len, idx_rw_len;
    struct shidx ix;
    struct shm_pipe req, rep;
    uint32_t spin_ns;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Maps the shared index the ring segment names (docs/protocol.md, "Gets
 * without a round trip"): its header and slots read-only, its reader
 * words and reference bytes writable. Any failure leaves sh without one:
 * gets take the round trip. */
static void index_attach(struct store_shm *sh, uint32_t pid)
{
    struct shidx_desc desc;
    uint32_t reader = shidx_desc_get(sh->seg, &desc);
    if (reader >= SHIDX_READERS)
        return; /* the server had no reader word left for us */
    if (desc.slots == 0 || desc.bytes > (UINT64_C(1) << 32) ||
        desc.slots > (UINT32_C(1) << 22) ||
        desc.bytes != shidx_seg_size(desc.slots))
        return;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%u/fd/%u", pid, desc.fd);
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != desc.bytes) {
        close(fd);
        return;
    }
    size_t rw_len = shidx_slot_off(desc.slots) - shidx_rw_off();
    void *m = mmap(NULL, desc.bytes, PROT_READ, MAP_SHARED | MAP_POPULATE,
                   fd, 0);
    void *r = mmap(NULL, rw_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                   (off_t)shidx_rw_off());
    close(fd);
    const char *why;
    if (m != MAP_FAILED && r != MAP_FAILED &&
        shidx_view(&sh->ix, m, desc.bytes, desc.cookie, r,
                   (const uint8_t *)m + shidx_slot_off(desc.slots),
                   &why) == 0) {
        sh->ix.me = &sh->ix.reader[reader];
        sh->idx = m;
        sh->idx_len = desc.bytes;
        sh->idx_rw = r;
        sh->idx_rw_len = rw_len;
        return;
    }
    if (m != MAP_FAILED)
        munmap(m, desc.bytes);
    if (r != MAP_FAILED)
        munmap(r, rw_len);
}

const struct shidx *store_shm_index(const struct store_shm *sh)
{
    return sh != NULL && sh->idx != NULL ? &sh->ix : NULL;
}

int store_shm_attach(const struct proto_msg *rep, struct store_shm **sh_p,
                     const char **why)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%u/fd/%u", rep->shm_pid, rep->shm_fd);
    /* O_NONBLOCK|O_NOCTTY: whatever that path is on a host where it is not
     * our server's segment, opening it must not block or adopt a tty */
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        *why = "cannot open the server's segment through /proc (another "
               "host, user or pid namespace)";
        return -1;
    }
    struct stat st;
    size_t want = shm_seg_size(rep->shm_pipe_cap);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size != want) {
        close(fd);
        *why = "the server's segment is not a file of the announced size";
        return -1;
    }
    void *seg = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd); /* the mapping keeps the segment */
    if (seg == MAP_FAILED) {
        *why = "cannot map the server's segment";
        return -1;
    }
    struct store_shm *sh = calloc(1, sizeof(*sh));
    if (sh == NULL) {
        munmap(seg, want);
        *why = "out of memory";
        return -1;
    }
    sh->seg = seg;
    sh->seg_len = want;
    if (shm_seg_attach(seg, want, rep->shm_pipe_cap, rep->shm_cookie, &sh->req,
                       &sh->rep, why) != 0) {
        store_shm_close(sh);
        return -1;
    }
    index_attach(sh, rep->shm_pid);
    const char *s = getenv("KVPLUG_SHM_SPIN_US");
    long us = s != NULL ? strtol(s, NULL, 10) : SHM_SPIN_US_DEFAULT;
    sh->spin_ns =
        (uint32_t)(us >= 0 && us <= 100000 ? us : SHM_SPIN_US_DEFAULT) * 1000u;
    *sh_p = sh;
    return 0;
}

void store_shm_close(struct store_shm *sh)
{
    if (sh == NULL)
        return;
    shm_pipe_wake_all(&sh->req);
    if (sh->idx != NULL) {
        munmap(sh->idx, sh->idx_len);
        munmap(sh->idx_rw, sh->idx_rw_len);
    }
    munmap(sh->seg, sh->seg_len);
    free(sh);
}

struct shm_watch {
    int tcp_fd;
    uint64_t deadline_ms;
};

/* While asleep: the server closing the socket (or dying) ends the wait,
 * as does the caller's timeout. */
static int shm_check(void *arg)
{
    struct shm_watch *sw = arg;
    struct pollfd p = {sw->tcp_fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0)
        return SHM_END_CLOSED;
    if (now_ms() >= sw->deadline_ms)
        return SHM_END_TIME;
    return 0;
}

static int32_t shm_status(int r)
{
    switch (r) {
    case SHM_OK:
        return KVP_OK;
    case SHM_END_TIME:
        return KVP_ERR_TIMEOUT;
    case SHM_NO_MEMORY:
        return KVP_ERR_NO_MEMORY;
    case SHM_END_CLOSED:
        return KVP_ERR_DISCONNECTED;
    default:
        return KVP_ERR_TRANSPORT;
    }
}

int32_t store_shm_send(struct store_shm *sh, const uint8_t *frame, size_t len,
                       int tcp_fd, uint32_t timeout_ms)
{
    struct shm_watch sw = {tcp_fd, now_ms() + timeout_ms};
    struct shm_wait w = {sh->spin_ns, SHM_SLICE_MS, shm_check, &sw};
    return shm_status(shm_pipe_write(&sh->req, frame, len, &w));
}

int32_t store_shm_recv(struct store_shm *sh, int tcp_fd, uint32_t timeout_ms,
                       struct proto_hdr *h, struct proto_buf *body,
                       const char **why)
{
    struct shm_watch sw = {tcp_fd, now_ms() + timeout_ms};
    /* spins (the ring's adaptive budget) even when the request woke the
     * server: see shm_chan_serve */
    struct shm_wait w = {sh->spin_ns, SHM_SLICE_MS, shm_check, &sw};
    int r = shm_recv_frame(&sh->rep, PROTO_MAX_BODY, &w, h, body, why);
    if (r == SHM_CORRUPT)
        *why = shm_result_str(r);
    return shm_status(r);
}
