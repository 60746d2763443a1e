/*
 * verbs_transport_test.c - libkvplug_verbs.so against a real RDMA device
 * (rdma_rxe soft-RoCE in the VM lane, or any HCA). Not a ctest: the host
 * has no device; tests/vm/guest-tests.sh runs it inside the VM.
 *
 * Loads the module through the real loader, creates a SERVER ctx and a
 * CLIENT ctx (one device: loopback; two devices: e.g. rxe1/rxe2 over a veth
 * pair), connects eps by blob exchange, and checks: contiguous, inline and
 * strided (many iov > max_sge, > send-queue depth) RDMA WRITE, RDMA READ,
 * WR splitting past the message limit, argument errors, a wrong rkey and a
 * vanished peer (errors, never hangs), concurrent eps, stats, teardown.
 *
 * Usage: verbs_transport_test [-s SERVER_DEV] [-c CLIENT_DEV] [-g GID_INDEX]
 *                             [-v]
 * Last line: "N passed, N failed"; exit 0 iff none failed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvp_transport.h"

#define POOL_SIZE (16u << 20)
#define BUF_SIZE  (16u << 20)
#define BIG       (4u << 20)

static int passed, failed;
static const struct kvp_transport_ops *ops;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
            printf("PASS: ");                                                  \
        } else {                                                               \
            failed++;                                                          \
            printf("FAIL: ");                                                  \
        }                                                                      \
        printf(__VA_ARGS__);                                                   \
        printf("\n");                                                          \
    } while (0)

/* ---- logging: echo to stderr, remember the text for assertions ------- */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];
static int verbose;

static void test_log(void *user, int32_t level, const char *msg)
{
    (void)user;
    pthread_mutex_lock(&log_lock);
    size_t used = strlen(log_text);
    if (used + strlen(msg) + 2 >= sizeof(log_text))
        used = 0; /* keep the newest text */
    snprintf(log_text + used, sizeof(log_text) - used, "%s\n", msg);
    pthread_mutex_unlock(&log_lock);
    if (verbose || level <= KVP_LOG_INFO)
        fprintf(stderr, "  [module] %s\n", msg);
}

static void log_clear(void)
{
    pthread_mutex_lock(&log_lock);
    log_text[0] = '\0';
    pthread_mutex_unlock(&log_lock);
}

static int log_has(const char *s)
{
    pthread_mutex_lock(&log_lock);
    int r = strstr(log_text, s) != NULL;
    pthread_mutex_unlock(&log_lock);
    return r;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 12)) & 0xff);
}

/* ---- fixtures ---------------------------------------------------------- */
struct side {
    struct kvp_xport_ctx *ctx;
    struct kvp_xport_mem *mem;
    uint8_t *buf;
    size_t size;
};

struct conn {
    struct kvp_xport_ep *cep; /* client */
    struct kvp_xport_ep *sep; /* server */
    struct kvp_xport_rkey *rkey;
};

static const char *server_dev, *client_dev;
static int gid_index = -1;

static int32_t ctx_open(uint32_t role, const char *dev, struct kvp_xport_ctx **ctx)
{
    /* The module's own options, as the core hands them over. */
    char dev_kv[96], gid_kv[32];
    snprintf(dev_kv, sizeof(dev_kv), "device=%s", dev != NULL ? dev : "");
    snprintf(gid_kv, sizeof(gid_kv), "gid_index=%d", gid_index);
    const char *kv[] = {dev_kv, "port=0", gid_kv};
    struct kvp_xport_params p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.role = role;
    p.opts = kv;
    p.n_opts = 3;
    p.timeout_ms = 10000;
    p.log_level = KVP_LOG_DEBUG;
    p.log = test_log;
    return ops->ctx_create(&p, ctx);
}

static int side_open(struct side *s, uint32_t role, const char *dev,
                     size_t size)
{
    memset(s, 0, sizeof(*s));
    s->size = size;
    if (posix_memalign((void **)&s->buf, 4096, size) != 0)
        return -1;
    memset(s->buf, 0, size);
    if (ctx_open(role, dev, &s->ctx) != KVP_OK)
        return -1;
    return ops->mem_reg(s->ctx, s->buf, size, &s->mem) == KVP_OK ? 0 : -1;
}

static void side_close(struct side *s)
{
    ops->mem_dereg(s->mem);
    ops->ctx_destroy(s->ctx);
    free(s->buf);
}

/* Client ep_create -> server ep_accept -> client ep_connect, as the control
 * channel would carry the blobs; then the client unpacks the server rkey. */
static int32_t conn_open(struct side *cli, struct side *srv, struct conn *c)
{
    uint8_t cblob[KVP_XPORT_BLOB_MAX], sblob[KVP_XPORT_BLOB_MAX];
    uint8_t kblob[KVP_XPORT_BLOB_MAX];
    uint32_t clen = 0, slen = 0, klen = 0;
    memset(c, 0, sizeof(*c));
    int32_t st = ops->ep_create(cli->ctx, cblob, sizeof(cblob), &clen, &c->cep);
    if (st != KVP_OK)
        return st;
    st = ops->ep_accept(srv->ctx, cblob, clen, sblob, sizeof(sblob), &slen,
                        &c->sep);
    if (st != KVP_OK)
        return st;
    st = ops->ep_connect(c->cep, sblob, slen);
    if (st != KVP_OK)
        return st;
    st = ops->mem_rkey_pack(srv->mem, kblob, sizeof(kblob), &klen);
    if (st != KVP_OK)
        return st;
    return ops->rkey_unpack(c->cep, kblob, klen, &c->rkey);
}

static void conn_close(struct conn *c)
{
    ops->rkey_destroy(c->rkey);
    ops->ep_destroy(c->cep);
    ops->ep_destroy(c->sep);
    memset(c, 0, sizeof(*c));
}

static uint64_t raddr_of(struct side *srv, size_t off)
{
    return (uint64_t)(uintptr_t)(srv->buf + off);
}

/* ---- the checks -------------------------------------------------------- */
static void check_contiguous_write(struct side *cli, struct side *srv,
                                   struct conn *c)
{
    fill(cli->buf, BIG, 1);
    memset(srv->buf, 0, BIG);
    struct kvp_xport_iov v = {cli->buf, BIG};
    double t0 = now_s();
    int32_t st = ops->write(c->cep, &v, 1, cli->mem, raddr_of(srv, 0), c->rkey);
    int32_t fs = ops->flush(c->cep, 0);
    double t1 = now_s();
    CHECK(st == KVP_OK && fs == KVP_OK && !memcmp(cli->buf, srv->buf, BIG),
          "RDMA WRITE contiguous %u B (write %d, flush %d, %.1f MB/s)", BIG, st,
          fs, BIG / (t1 - t0) / 1e6);
}

static void check_small_write(struct side *cli, struct side *srv,
                              struct conn *c)
{
    /* Small enough for inline data where the device offers it. */
    fill(cli->buf + 100, 64, 2);
    memset(srv->buf + 5000, 0xEE, 80);
    struct kvp_xport_iov v = {cli->buf + 100, 64};
    int32_t st =
        ops->write(c->cep, &v, 1, cli->mem, raddr_of(srv, 5008), c->rkey);
    int32_t fs = ops->flush(c->cep, 0);
    int around = srv->buf[5007] == 0xEE && srv->buf[5008 + 64] == 0xEE;
    CHECK(st == KVP_OK && fs == KVP_OK &&
              !memcmp(cli->buf + 100, srv->buf + 5008, 64) && around,
          "RDMA WRITE 64 B (inline-sized), neighbours untouched");
}

/* n chunks of `chunk` bytes every `stride` bytes -> one remote range. */
static void check_strided_write(struct side *cli, struct side *srv,
                                struct conn *c, uint32_t n, uint32_t chunk,
                                uint32_t stride, const char *what)
{
    struct kvp_xport_iov *v = calloc(n, sizeof(*v));
    size_t span = (size_t)n * stride;
    size_t total = (size_t)n * chunk;
    fill(cli->buf, span, 3 + n);
    memset(srv->buf, 0, total + 64);
    for (uint32_t i = 0; i < n; i++) {
        v[i].ptr = cli->buf + (size_t)i * stride;
        v[i].len = chunk;
    }
    struct kvp_xport_stats before = {.struct_size = sizeof(before)};
    struct kvp_xport_stats after = {.struct_size = sizeof(after)};
    ops->stats(cli->ctx, &before);
    double t0 = now_s();
    int32_t st = ops->write(c->cep, v, n, cli->mem, raddr_of(srv, 0), c->rkey);
    int32_t fs = ops->flush(c->cep, 0);
    double t1 = now_s();
    ops->stats(cli->ctx, &after);
    int ok = st == KVP_OK && fs == KVP_OK;
    size_t bad_at = (size_t)-1;
    for (uint32_t i = 0; ok && i < n; i++) {
        if (memcmp(srv->buf + (size_t)i * chunk, v[i].ptr, chunk) != 0) {
            bad_at = i;
            ok = 0;
        }
    }
    uint64_t wrs = after.ops_posted - before.ops_posted;
    /* Gathered with SGEs: far fewer WRs than chunks, no bounce copies. */
    ok = ok && wrs < n && after.bytes_packed == before.bytes_packed &&
         after.bytes_written - before.bytes_written == total &&
         srv->buf[total] == 0;
    CHECK(ok,
          "RDMA WRITE strided %s: %u x %u B every %u B -> %zu B in %llu WRs "
          "(write %d, flush %d, first bad chunk %zd, %.2f s)",
          what, n, chunk, stride, total, (unsigned long long)wrs, st, fs,
          (ssize_t)bad_at, t1 - t0);
    free(v);
}

/* The accepted (server) ep has a small send queue and one SGE per WR:
 * it can still write, here 200 strided chunks into the client's region
 * (200 WRs through a 16-deep queue). */
static void check_passive_ep_writes(struct side *cli, struct side *srv,
                                    struct conn *c)
{
    uint8_t kblob[64];
    uint32_t klen = 0;
    struct kvp_xport_rkey *crkey = NULL;
    int32_t st = ops->mem_rkey_pack(cli->mem, kblob, sizeof(kblob), &klen);
    if (st == KVP_OK)
        st = ops->rkey_unpack(c->sep, kblob, klen, &crkey);
    enum { N = 200, CHUNK = 32, STRIDE = 64 };
    static struct kvp_xport_iov v[N];
    fill(srv->buf, N * STRIDE, 21);
    memset(cli->buf, 0, N * CHUNK + 64);
    for (int i = 0; i < N; i++) {
        v[i].ptr = srv->buf + i * STRIDE;
        v[i].len = CHUNK;
    }
    int32_t ws = st == KVP_OK ? ops->write(c->sep, v, N, srv->mem,
                                           raddr_of(cli, 0), crkey)
                              : st;
    int32_t fs = ops->flush(c->sep, 0);
    int ok = ws == KVP_OK && fs == KVP_OK && cli->buf[N * CHUNK] == 0;
    for (int i = 0; ok && i < N; i++)
        ok = !memcmp(cli->buf + i * CHUNK, v[i].ptr, CHUNK);
    CHECK(ok,
          "accepted ep writes back: %d strided chunks, 1 SGE per WR "
          "through a short send queue (write %d, flush %d)",
          N, ws, fs);
    ops->rkey_destroy(crkey);
}

static void check_read(struct side *cli, struct side *srv, struct conn *c)
{
    fill(srv->buf, BIG, 9);
    memset(cli->buf, 0, BIG + 4096);
    double t0 = now_s();
    int32_t st = ops->read(c->cep, cli->buf + 4096, BIG, cli->mem,
                           raddr_of(srv, 0), c->rkey);
    int32_t fs = ops->flush(c->cep, 0);
    double t1 = now_s();
    CHECK(st == KVP_OK && fs == KVP_OK &&
              !memcmp(cli->buf + 4096, srv->buf, BIG) && cli->buf[0] == 0,
          "RDMA READ %u B (read %d, flush %d, %.1f MB/s)", BIG, st, fs,
          BIG / (t1 - t0) / 1e6);

    /* Unaligned small read from the middle of the region. */
    memset(cli->buf, 0, 4096);
    st = ops->read(c->cep, cli->buf + 1, 777, cli->mem, raddr_of(srv, 12345),
                   c->rkey);
    fs = ops->flush(c->cep, 0);
    CHECK(st == KVP_OK && fs == KVP_OK &&
              !memcmp(cli->buf + 1, srv->buf + 12345, 777) &&
              cli->buf[0] == 0 && cli->buf[778] == 0,
          "RDMA READ 777 B unaligned");
}

static void check_zero_and_args(struct side *cli, struct side *srv,
                                struct conn *c)
{
    struct kvp_xport_stats a = {.struct_size = sizeof(a)};
    struct kvp_xport_stats b = {.struct_size = sizeof(b)};
    ops->stats(cli->ctx, &a);
    struct kvp_xport_iov z = {cli->buf, 0};
    int32_t st1 =
        ops->write(c->cep, &z, 1, cli->mem, raddr_of(srv, 0), c->rkey);
    int32_t st2 =
        ops->write(c->cep, NULL, 0, cli->mem, raddr_of(srv, 0), c->rkey);
    int32_t fs = ops->flush(c->cep, 0);
    ops->stats(cli->ctx, &b);
    CHECK(st1 == KVP_OK && st2 == KVP_OK && fs == KVP_OK &&
              a.ops_posted == b.ops_posted,
          "zero-length write posts nothing");

    uint8_t outside[64];
    struct kvp_xport_iov v = {outside, sizeof(outside)};
    log_clear();
    int32_t st = ops->write(c->cep, &v, 1, cli->mem, raddr_of(srv, 0), c->rkey);
    CHECK(st == KVP_ERR_NOT_REGISTERED && log_has("not inside the local"),
          "write from unregistered memory -> KVP_ERR_NOT_REGISTERED (%d)", st);
    v.ptr = cli->buf;
    st = ops->write(c->cep, &v, 1, cli->mem, raddr_of(srv, srv->size - 8),
                    c->rkey);
    int32_t rs = ops->read(c->cep, cli->buf, 64, cli->mem,
                           raddr_of(srv, 0) - 4096, c->rkey);
    CHECK(st == KVP_ERR_INVALID && rs == KVP_ERR_INVALID &&
              log_has("outside the peer region"),
          "remote range past the region -> KVP_ERR_INVALID (%d, %d)", st, rs);
    fs = ops->flush(c->cep, 0);
    CHECK(fs == KVP_OK, "ep still healthy after refused args (flush %d)", fs);
}

static void check_bad_blobs(struct side *cli, struct side *srv)
{
    uint8_t junk[40], out[KVP_XPORT_BLOB_MAX];
    memset(junk, 0x5A, sizeof(junk));
    uint32_t len = 0;
    struct kvp_xport_ep *ep = NULL;
    log_clear();
    int32_t st = ops->ep_accept(srv->ctx, junk, sizeof(junk), out, sizeof(out),
                                &len, &ep);
    CHECK(st == KVP_ERR_INVALID && ep == NULL &&
              log_has("malformed peer connect blob"),
          "ep_accept(garbage) -> KVP_ERR_INVALID (%d)", st);
    st = ops->ep_create(cli->ctx, out, sizeof(out), &len, &ep);
    int32_t cs = st == KVP_OK ? ops->ep_connect(ep, junk, 7) : st;
    CHECK(st == KVP_OK && cs == KVP_ERR_INVALID,
          "ep_connect(truncated) -> KVP_ERR_INVALID (%d)", cs);
    ops->ep_destroy(ep);
    struct kvp_xport_rkey *rk = NULL;
    st = ops->ep_create(cli->ctx, out, sizeof(out), &len, &ep);
    int32_t rs = ops->rkey_unpack(ep, junk, sizeof(junk), &rk);
    CHECK(rs == KVP_ERR_INVALID && rk == NULL,
          "rkey_unpack(garbage) -> KVP_ERR_INVALID (%d)", rs);
    ops->ep_destroy(ep);
}

static void check_wrong_rkey(struct side *cli, struct side *srv)
{
    struct conn c;
    int32_t st = conn_open(cli, srv, &c);
    if (st != KVP_OK) {
        CHECK(0, "wrong rkey: connect failed (%d)", st);
        return;
    }
    uint8_t kblob[64];
    uint32_t klen = 0;
    ops->mem_rkey_pack(srv->mem, kblob, sizeof(kblob), &klen);
    kblob[9] ^= 0x5A; /* rkey at offset 8: same region, wrong key */
    kblob[10] ^= 0x5A;
    struct kvp_xport_rkey *bad = NULL;
    ops->rkey_unpack(c.cep, kblob, klen, &bad);
    memset(srv->buf, 0, 64);
    fill(cli->buf, 64, 4);
    struct kvp_xport_iov v = {cli->buf, 64};
    log_clear();
    double t0 = now_s();
    int32_t ws = ops->write(c.cep, &v, 1, cli->mem, raddr_of(srv, 0), bad);
    int32_t fs = ops->flush(c.cep, 5000);
    double dt = now_s() - t0;
    static const uint8_t zero[64];
    CHECK(ws == KVP_OK && fs == KVP_ERR_TRANSPORT &&
              log_has("remote access error") && !memcmp(srv->buf, zero, 64),
          "wrong rkey -> KVP_ERR_TRANSPORT in %.2f s, not a hang (write %d, "
          "flush %d)",
          dt, ws, fs);
    ws = ops->write(c.cep, &v, 1, cli->mem, raddr_of(srv, 0), c.rkey);
    fs = ops->flush(c.cep, 1000);
    CHECK(ws == KVP_ERR_TRANSPORT && fs == KVP_ERR_TRANSPORT,
          "failed ep refuses further writes (write %d, flush %d)", ws, fs);
    ops->rkey_destroy(bad);
    conn_close(&c);
}

static void check_peer_gone(struct side *cli, struct side *srv)
{
    struct conn c;
    int32_t st = conn_open(cli, srv, &c);
    if (st != KVP_OK) {
        CHECK(0, "peer gone: connect failed (%d)", st);
        return;
    }
    ops->ep_destroy(c.sep); /* the peer QP vanishes: no ACK ever comes */
    c.sep = NULL;
    fill(cli->buf, 4096, 5);
    struct kvp_xport_iov v = {cli->buf, 4096};
    double t0 = now_s();
    int32_t ws = ops->write(c.cep, &v, 1, cli->mem, raddr_of(srv, 0), c.rkey);
    int32_t fs = ops->flush(c.cep, 300);
    double dt = now_s() - t0;
    CHECK(ws == KVP_OK && fs == KVP_ERR_TIMEOUT && dt < 5.0,
          "peer gone: flush(300 ms) -> KVP_ERR_TIMEOUT in %.2f s (%d)", dt, fs);
    conn_close(&c);

    /* Same, with time for the retries to run out: a transport error. */
    st = conn_open(cli, srv, &c);
    if (st != KVP_OK) {
        CHECK(0, "peer gone (2): connect failed (%d)", st);
        return;
    }
    ops->ep_destroy(c.sep);
    c.sep = NULL;
    log_clear();
    t0 = now_s();
    ws = ops->write(c.cep, &v, 1, cli->mem, raddr_of(srv, 0), c.rkey);
    fs = ops->flush(c.cep, 30000);
    dt = now_s() - t0;
    CHECK(ws == KVP_OK && fs == KVP_ERR_TRANSPORT &&
              log_has("retry counter exceeded"),
          "peer gone: retries exhausted -> KVP_ERR_TRANSPORT in %.2f s (%d)",
          dt, fs);
    conn_close(&c);
}

static void check_max_msg_split(struct side *srv)
{
    /* A ctx with a 64 KiB per-WR limit (test knob): a 1 MiB write and read
     * need >= 16 WRs each and must still land byte for byte. */
    setenv("KVPLUG_VERBS_MAX_MSG", "65536", 1);
    struct side cli;
    int rc = side_open(&cli, KVP_XPORT_ROLE_CLIENT, client_dev, 2u << 20);
    unsetenv("KVPLUG_VERBS_MAX_MSG");
    struct conn c;
    if (rc != 0 || conn_open(&cli, srv, &c) != KVP_OK) {
        CHECK(0, "max_msg split: setup failed");
        if (rc == 0)
            side_close(&cli);
        return;
    }
    const uint32_t n = 1u << 20;
    fill(cli.buf, n, 11);
    memset(srv->buf, 0, n);
    struct kvp_xport_iov v[3] = {{cli.buf, 300000},
                              {cli.buf + 300000, 100},
                              {cli.buf + 300100, n - 300100}};
    struct kvp_xport_stats s0 = {.struct_size = sizeof(s0)};
    struct kvp_xport_stats s1 = {.struct_size = sizeof(s1)};
    ops->stats(cli.ctx, &s0);
    int32_t ws = ops->write(c.cep, v, 3, cli.mem, raddr_of(srv, 0), c.rkey);
    int32_t fs = ops->flush(c.cep, 0);
    ops->stats(cli.ctx, &s1);
    CHECK(ws == KVP_OK && fs == KVP_OK && !memcmp(cli.buf, srv->buf, n) &&
              s1.ops_posted - s0.ops_posted == 16,
          "WRITE 1 MiB split at 64 KiB per WR: %llu WRs",
          (unsigned long long)(s1.ops_posted - s0.ops_posted));
    fill(srv->buf, n, 12);
    memset(cli.buf, 0, n);
    int32_t rs =
        ops->read(c.cep, cli.buf, n, cli.mem, raddr_of(srv, 0), c.rkey);
    fs = ops->flush(c.cep, 0);
    ops->stats(cli.ctx, &s0);
    CHECK(rs == KVP_OK && fs == KVP_OK && !memcmp(cli.buf, srv->buf, n) &&
              s0.ops_posted - s1.ops_posted == 16 && s0.bytes_read == n &&
              s0.bytes_written == n,
          "READ 1 MiB split at 64 KiB per WR; stats bytes_read %llu "
          "bytes_written %llu",
          (unsigned long long)s0.bytes_read,
          (unsigned long long)s0.bytes_written);
    conn_close(&c);
    side_close(&cli);
}

/* Two eps of one client ctx driven from two threads at once. */
struct worker {
    struct side *cli, *srv;
    struct conn c;
    size_t off;
    int ok;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    const size_t n = 64 * 1024;
    w->ok = 1;
    for (int i = 0; i < 20 && w->ok; i++) {
        uint8_t *src = w->cli->buf + w->off;
        fill(src, n, (unsigned)(i + w->off));
        struct kvp_xport_iov v = {src, n};
        uint64_t dst = raddr_of(w->srv, w->off);
        if (ops->write(w->c.cep, &v, 1, w->cli->mem, dst, w->c.rkey) !=
                KVP_OK ||
            ops->flush(w->c.cep, 0) != KVP_OK ||
            memcmp(src, w->srv->buf + w->off, n) != 0)
            w->ok = 0;
    }
    return NULL;
}

static void check_threads(struct side *cli, struct side *srv)
{
    struct worker w[2];
    pthread_t t[2];
    int setup_ok = 1;
    for (int i = 0; i < 2; i++) {
        w[i].cli = cli;
        w[i].srv = srv;
        w[i].off = (size_t)(i + 1) * (1u << 20);
        if (conn_open(cli, srv, &w[i].c) != KVP_OK)
            setup_ok = 0;
    }
    for (int i = 0; setup_ok && i < 2; i++)
        pthread_create(&t[i], NULL, worker_run, &w[i]);
    for (int i = 0; setup_ok && i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(setup_ok && w[0].ok && w[1].ok,
          "two eps, two threads, 20 x 64 KiB writes each");
    conn_close(&w[0].c);
    conn_close(&w[1].c);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [-s SERVER_DEV] [-c CLIENT_DEV] [-g GID_INDEX]"
            " [-v]\n",
            argv0);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int opt;
    while ((opt = getopt(argc, argv, "s:c:g:vh")) != -1) {
        switch (opt) {
        case 's':
            server_dev = optarg;
            break;
        case 'c':
            client_dev = optarg;
            break;
        case 'g':
            gid_index = atoi(optarg);
            break;
        case 'v':
            verbose = 1;
            break;
        default:
            usage(argv[0]);
            return 2;
        }
    }
    if (client_dev == NULL)
        client_dev = server_dev;
    struct kvp_logger lg = {.fn = test_log, .level = KVP_LOG_DEBUG};
    int32_t st = xport_module_load("verbs", &lg, &ops);
    CHECK(st == KVP_OK, "load libkvplug_verbs.so (%d)", st);
    if (st != KVP_OK) {
        printf("%d passed, %d failed\n", passed, failed);
        return 1;
    }
    printf("server device %s, client device %s\n",
           server_dev ? server_dev : "(first active)",
           client_dev ? client_dev : "(first active)");
    struct side srv, cli;
    int so = side_open(&srv, KVP_XPORT_ROLE_SERVER, server_dev, POOL_SIZE);
    int co = side_open(&cli, KVP_XPORT_ROLE_CLIENT, client_dev, BUF_SIZE);
    CHECK(so == 0 && co == 0, "server + client ctx, %u MiB regions",
          POOL_SIZE >> 20);
    if (so != 0 || co != 0) {
        printf("%d passed, %d failed\n", passed, failed);
        return 1;
    }
    struct conn c;
    st = conn_open(&cli, &srv, &c);
    CHECK(st == KVP_OK, "connect by blob exchange (%d)", st);
    if (st == KVP_OK) {
        check_contiguous_write(&cli, &srv, &c);
        check_small_write(&cli, &srv, &c);
        check_strided_write(&cli, &srv, &c, 1000, 96, 256,
                            "(> max_sge per WR)");
        check_strided_write(&cli, &srv, &c, 40000, 8, 16,
                            "(> send queue depth)");
        check_read(&cli, &srv, &c);
        check_passive_ep_writes(&cli, &srv, &c);
        check_zero_and_args(&cli, &srv, &c);
        conn_close(&c);
    }
    check_bad_blobs(&cli, &srv);
    check_max_msg_split(&srv);
    check_threads(&cli, &srv);
    check_wrong_rkey(&cli, &srv);
    check_peer_gone(&cli, &srv);

    log_clear();
    side_close(&cli);
    side_close(&srv);
    CHECK(!log_has("still alive") && !log_has("dereg"),
          "teardown released everything");
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
