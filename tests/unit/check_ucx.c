/*
 * check_ucx.c - the UCX transport module (libkvplug_ucx.so) end to end over
 * UCX's real shared-memory and TCP transports: a SERVER ctx and a CLIENT ctx
 * (two UCP contexts) in one process, connected by the blob exchange the
 * plugin and the store server use.
 *
 * Every wait is bounded: flush() takes a timeout and the suite sets Check
 * timeouts; ctest has its own TIMEOUT.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kvp_transport.h"
#include "status_name.h"
#include "ucx_params.h"

#define POOL_LEN   (8u << 20)
#define BUF_LEN    (8u << 20)
#define FLUSH_MS   10000u
#define PACK_BELOW 4096u

static const struct kvp_transport_ops *ops;

/* LeakSanitizer (KVP_SANITIZE=address): UCX 1.13's libuct leaks ~100 bytes
 * when an ep with operations still pending is force-closed (flush_timeout).
 * That is UCX's memory, not ours; everything of kvplug stays checked. */
const char *__lsan_default_suppressions(void);
__attribute__((visibility("default"))) const char *
__lsan_default_suppressions(void)
{
    return "leak:libuct.so\n";
}

/* ThreadSanitizer (KVP_SANITIZE=thread): the RMA payload is written into the
 * pool by UCX on the server's progress thread and read by the test after
 * flush(); the ordering goes through UCX's (uninstrumented) shared-memory
 * queues, which TSan cannot see. Ignore memory accesses made from inside
 * UCX's libraries; the module's own locking stays checked. */
const char *__tsan_default_suppressions(void);
__attribute__((visibility("default"))) const char *
__tsan_default_suppressions(void)
{
    return "called_from_lib:libucp.so\ncalled_from_lib:libuct.so\n"
           "called_from_lib:libucs.so\n"
           "mutex:_dl_call_fini\n"; /* libucs: init/fini global lock */
}
static char last_error[1024];

static void test_log(void *user, int32_t level, const char *msg)
{
    (void)user;
    if (level == KVP_LOG_ERROR)
        snprintf(last_error, sizeof(last_error), "%s", msg);
    if (level <= KVP_LOG_WARN)
        fprintf(stderr, "[ucx %d] %s\n", level, msg);
}

static void load_module(void)
{
    struct kvp_logger lg = {NULL, NULL, KVP_LOG_WARN};
    ck_assert_int_eq(xport_module_load("ucx", &lg, &ops), KVP_OK);
    ck_assert_str_eq(ops->name, "ucx");
}

static struct kvp_xport_params params_for(uint32_t role, const char *tls,
                                  uint64_t pack_below)
{
    return ucx_params(role, tls, pack_below, FLUSH_MS, test_log);
}

/* A connected server/client pair: the server exposes `pool`, the client
 * works from `buf`. */
struct pair {
    struct kvp_xport_ctx *sctx, *cctx;
    uint8_t *pool, *buf;
    struct kvp_xport_mem *pool_mem, *buf_mem;
    struct kvp_xport_ep *sep, *cep;
    struct kvp_xport_rkey *rkey;
};

static void pair_connect(struct pair *p, struct kvp_xport_ep **cep_p,
                         struct kvp_xport_ep **sep_p, struct kvp_xport_rkey **rk_p)
{
    uint8_t cblob[KVP_XPORT_BLOB_MAX], sblob[KVP_XPORT_BLOB_MAX];
    uint8_t rblob[KVP_XPORT_BLOB_MAX];
    uint32_t clen = 0, slen = 0, rlen = 0;
    ck_assert_int_eq(
        ops->ep_create(p->cctx, cblob, sizeof(cblob), &clen, cep_p), KVP_OK);
    ck_assert_uint_gt(clen, 0);
    ck_assert_int_eq(ops->ep_accept(p->sctx, cblob, clen, sblob, sizeof(sblob),
                                    &slen, sep_p),
                     KVP_OK);
    ck_assert_int_eq(ops->ep_connect(*cep_p, sblob, slen), KVP_OK);
    ck_assert_int_eq(
        ops->mem_rkey_pack(p->pool_mem, rblob, sizeof(rblob), &rlen), KVP_OK);
    ck_assert_int_eq(ops->rkey_unpack(*cep_p, rblob, rlen, rk_p), KVP_OK);
}

static void pair_open(struct pair *p, const char *tls, uint64_t pack_below)
{
    memset(p, 0, sizeof(*p));
    load_module();
    struct kvp_xport_params sp = params_for(KVP_XPORT_ROLE_SERVER, tls, 0);
    struct kvp_xport_params cp = params_for(KVP_XPORT_ROLE_CLIENT, tls, pack_below);
    ck_assert_int_eq(ops->ctx_create(&sp, &p->sctx), KVP_OK);
    ck_assert_int_eq(ops->ctx_create(&cp, &p->cctx), KVP_OK);
    p->pool = calloc(1, POOL_LEN);
    p->buf = calloc(1, BUF_LEN);
    ck_assert_ptr_nonnull(p->pool);
    ck_assert_ptr_nonnull(p->buf);
    ck_assert_int_eq(ops->mem_reg(p->sctx, p->pool, POOL_LEN, &p->pool_mem),
                     KVP_OK);
    ck_assert_int_eq(ops->mem_reg(p->cctx, p->buf, BUF_LEN, &p->buf_mem),
                     KVP_OK);
    pair_connect(p, &p->cep, &p->sep, &p->rkey);
}

static void pair_close_client(struct pair *p)
{
    ops->rkey_destroy(p->rkey);
    ops->ep_destroy(p->cep);
    ops->mem_dereg(p->buf_mem);
    ops->ctx_destroy(p->cctx);
    free(p->buf);
}

static void pair_close_server(struct pair *p)
{
    ops->ep_destroy(p->sep);
    ops->mem_dereg(p->pool_mem);
    ops->ctx_destroy(p->sctx);
    free(p->pool);
}

static void pair_close(struct pair *p)
{
    pair_close_client(p);
    pair_close_server(p);
}

static void fill_pattern(uint8_t *b, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 9)) & 0xff);
}

static struct kvp_xport_stats stats_of(struct kvp_xport_ctx *ctx)
{
    struct kvp_xport_stats s = {.struct_size = sizeof(s)};
    ck_assert_int_eq(ops->stats(ctx, &s), KVP_OK);
    return s;
}

static void strided_write(struct pair *p, uint32_t n, uint32_t ext,
                          uint64_t roff, uint32_t seed);

/* Writes one contiguous range, reads it back elsewhere, checks both. */
static void roundtrip(struct pair *p, uint64_t len, uint32_t seed)
{
    uint64_t roff = 4096;
    fill_pattern(p->buf, len, seed);
    struct kvp_xport_iov iov = {p->buf, len};
    uint64_t raddr = (uintptr_t)p->pool + roff;
    ck_assert_int_eq(ops->write(p->cep, &iov, 1, p->buf_mem, raddr, p->rkey),
                     KVP_OK);
    ck_assert_int_eq(ops->flush(p->cep, FLUSH_MS), KVP_OK);
    ck_assert_int_eq(memcmp(p->pool + roff, p->buf, len), 0);

    uint8_t *back = p->buf + BUF_LEN / 2;
    memset(back, 0, len);
    ck_assert_int_eq(ops->read(p->cep, back, len, p->buf_mem, raddr, p->rkey),
                     KVP_OK);
    ck_assert_int_eq(ops->flush(p->cep, FLUSH_MS), KVP_OK);
    ck_assert_int_eq(memcmp(back, p->buf, len), 0);
}

START_TEST(test_write_read_default_tls)
{
    struct pair p;
    pair_open(&p, NULL, PACK_BELOW);
    roundtrip(&p, 1u << 20, 1);
    roundtrip(&p, 1, 2);
    struct kvp_xport_stats s = stats_of(p.cctx);
    ck_assert_uint_eq(s.bytes_written, (1u << 20) + 1);
    ck_assert_uint_eq(s.bytes_read, (1u << 20) + 1);
    ck_assert_uint_ge(s.ops_posted, 4);
    pair_close(&p);
}
END_TEST

START_TEST(test_write_read_shm)
{
    struct pair p;
    pair_open(&p, "posix,sysv", PACK_BELOW);
    roundtrip(&p, 3u << 20, 3);
    pair_close(&p);
    pair_open(&p, "sm", PACK_BELOW); /* UCX's alias for all of shared mem */
    roundtrip(&p, 1u << 20, 31);
    strided_write(&p, 512, 64, 0, 32);
    pair_close(&p);
}
END_TEST

START_TEST(test_write_read_tcp)
{
    struct pair p;
    pair_open(&p, "tcp", PACK_BELOW);
    roundtrip(&p, 3u << 20, 4);
    pair_close(&p);
}
END_TEST

/* n extents of ext bytes, every other `ext` of buf (a strided source, like
 * a TP shard with split_dim > 0), must land back to back at raddr. */
static void strided_write(struct pair *p, uint32_t n, uint32_t ext,
                          uint64_t roff, uint32_t seed)
{
    ck_assert_uint_le((uint64_t)n * ext * 2, BUF_LEN);
    fill_pattern(p->buf, (uint64_t)n * ext * 2, seed);
    struct kvp_xport_iov *iov = calloc(n, sizeof(*iov));
    ck_assert_ptr_nonnull(iov);
    for (uint32_t i = 0; i < n; i++) {
        iov[i].ptr = p->buf + (uint64_t)i * ext * 2;
        iov[i].len = ext;
    }
    memset(p->pool + roff, 0xEE, (uint64_t)n * ext);
    ck_assert_int_eq(ops->write(p->cep, iov, n, p->buf_mem,
                                (uintptr_t)p->pool + roff, p->rkey),
                     KVP_OK);
    ck_assert_int_eq(ops->flush(p->cep, FLUSH_MS), KVP_OK);
    for (uint32_t i = 0; i < n; i++)
        ck_assert_msg(
            memcmp(p->pool + roff + (uint64_t)i * ext, iov[i].ptr, ext) == 0,
            "extent %u of %u B differs", i, ext);
    free(iov);
}

START_TEST(test_strided_above_threshold_is_zero_copy)
{
    struct pair p;
    pair_open(&p, NULL, PACK_BELOW);
    struct kvp_xport_stats s0 = stats_of(p.cctx);
    strided_write(&p, 64, PACK_BELOW * 2, 0, 5);
    strided_write(&p, 17, PACK_BELOW, 12345, 6); /* exactly at threshold */
    strided_write(&p, 1, 304, 777, 7); /* one small extent: nothing to gain */
    struct kvp_xport_stats s1 = stats_of(p.cctx);
    ck_assert_uint_eq(s1.bytes_packed, 0);
    ck_assert_uint_eq(s1.bytes_written - s0.bytes_written,
                      64ull * PACK_BELOW * 2 + 17ull * PACK_BELOW + 304);
    ck_assert_uint_ge(s1.ops_posted - s0.ops_posted, 64 + 17 + 1);
    pair_close(&p);
}
END_TEST

START_TEST(test_strided_below_threshold_is_packed)
{
    struct pair p;
    pair_open(&p, NULL, PACK_BELOW);
    struct kvp_xport_stats s0 = stats_of(p.cctx);
    strided_write(&p, 1000, 64, 100, 7);
    struct kvp_xport_stats s1 = stats_of(p.cctx);
    ck_assert_uint_eq(s1.bytes_packed - s0.bytes_packed, 64000);
    /* Packed: one put for the 64 000 bytes, not one per extent. */
    ck_assert_uint_lt(s1.ops_posted - s0.ops_posted, 10);
    /* More than one bounce chunk (1 MiB) in one write. */
    strided_write(&p, 30000, 96, 1u << 20, 8);
    struct kvp_xport_stats s2 = stats_of(p.cctx);
    ck_assert_uint_eq(s2.bytes_packed - s1.bytes_packed, 30000ull * 96);
    pair_close(&p);
}
END_TEST

/* Several writes (packed and zero-copy) before one flush: the bounce buffer
 * must not be reused while its data is in flight. */
START_TEST(test_many_writes_one_flush)
{
    struct pair p;
    pair_open(&p, NULL, PACK_BELOW);
    const uint32_t n = 4000, ext = 128; /* 512 000 B per write, packed */
    fill_pattern(p.buf, BUF_LEN, 9);
    struct kvp_xport_iov *iov = calloc(n, sizeof(*iov));
    ck_assert_ptr_nonnull(iov);
    for (int w = 0; w < 5; w++) {
        for (uint32_t i = 0; i < n; i++) {
            iov[i].ptr = p.buf + (uint64_t)w * 1000 + (uint64_t)i * ext;
            iov[i].len = ext;
        }
        ck_assert_int_eq(ops->write(p.cep, iov, n, p.buf_mem,
                                    (uintptr_t)p.pool + (uint64_t)w * n * ext,
                                    p.rkey),
                         KVP_OK);
    }
    struct kvp_xport_iov big = {p.buf + (2u << 20), 1u << 20};
    ck_assert_int_eq(ops->write(p.cep, &big, 1, p.buf_mem,
                                (uintptr_t)p.pool + (4u << 20), p.rkey),
                     KVP_OK);
    ck_assert_int_eq(ops->flush(p.cep, FLUSH_MS), KVP_OK);
    for (int w = 0; w < 5; w++)
        ck_assert_int_eq(memcmp(p.pool + (uint64_t)w * n * ext,
                                p.buf + (uint64_t)w * 1000, (uint64_t)n * ext),
                         0);
    ck_assert_int_eq(memcmp(p.pool + (4u << 20), big.ptr, big.len), 0);
    free(iov);
    pair_close(&p);
}
END_TEST

START_TEST(test_env_overrides_pack_threshold)
{
    setenv("KVPLUG_UCX_PACK_BELOW", "0", 1); /* never pack */
    struct pair p;
    pair_open(&p, NULL, PACK_BELOW);
    strided_write(&p, 100, 64, 0, 10);
    ck_assert_uint_eq(stats_of(p.cctx).bytes_packed, 0);
    pair_close(&p);

    setenv("KVPLUG_UCX_PACK_BELOW", "12k", 1);
    struct kvp_xport_params cp = params_for(KVP_XPORT_ROLE_CLIENT, NULL, 0);
    struct kvp_xport_ctx *ctx = NULL;
    last_error[0] = '\0';
    ck_assert_int_eq(ops->ctx_create(&cp, &ctx), KVP_ERR_INVALID);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(last_error, "KVPLUG_UCX_PACK_BELOW"));
    unsetenv("KVPLUG_UCX_PACK_BELOW");
}
END_TEST

/* The "server main thread" is busy (never calls into the module) and the
 * server has been idle long enough for its progress thread to sleep: puts
 * still complete, and the idle server does not burn a core. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void idle_then_write(const char *tls)
{
    struct pair p;
    pair_open(&p, tls, PACK_BELOW);
    roundtrip(&p, 4096, 11); /* wire-up done */
    double c0 = cpu_seconds();
    sleep_ms(500);
    double used = cpu_seconds() - c0;
    /* A busy-polling thread would use ~0.5 s here. */
    ck_assert_msg(used < 0.25, "idle server used %.3f s CPU in 0.5 s", used);
    roundtrip(&p, 2u << 20, 12);
    sleep_ms(300);
    strided_write(&p, 256, 8192, 0, 13);
    pair_close(&p);
}

START_TEST(test_progress_thread_idle_shm)
{
    idle_then_write("posix,sysv");
}
END_TEST

START_TEST(test_progress_thread_idle_tcp)
{
    idle_then_write("tcp");
}
END_TEST

/* The target never progresses (a CLIENT-role ctx has no progress thread):
 * flush must give up after its timeout, and the ep is unusable after. */
START_TEST(test_flush_timeout)
{
    struct pair p;
    memset(&p, 0, sizeof(p));
    load_module();
    struct kvp_xport_params sp = params_for(KVP_XPORT_ROLE_CLIENT, NULL, 0);
    struct kvp_xport_params cp = params_for(KVP_XPORT_ROLE_CLIENT, NULL, PACK_BELOW);
    ck_assert_int_eq(ops->ctx_create(&sp, &p.sctx), KVP_OK);
    ck_assert_int_eq(ops->ctx_create(&cp, &p.cctx), KVP_OK);
    p.pool = calloc(1, POOL_LEN);
    p.buf = calloc(1, BUF_LEN);
    ck_assert_int_eq(ops->mem_reg(p.sctx, p.pool, POOL_LEN, &p.pool_mem),
                     KVP_OK);
    ck_assert_int_eq(ops->mem_reg(p.cctx, p.buf, BUF_LEN, &p.buf_mem), KVP_OK);
    pair_connect(&p, &p.cep, &p.sep, &p.rkey);
    struct kvp_xport_iov iov = {p.buf, 1u << 20};
    ck_assert_int_eq(
        ops->write(p.cep, &iov, 1, p.buf_mem, (uintptr_t)p.pool, p.rkey),
        KVP_OK);
    ck_assert_int_eq(ops->flush(p.cep, 300), KVP_ERR_TIMEOUT);
    ck_assert_int_eq(ops->flush(p.cep, 300), KVP_ERR_TRANSPORT);
    ck_assert_int_eq(
        ops->write(p.cep, &iov, 1, p.buf_mem, (uintptr_t)p.pool, p.rkey),
        KVP_ERR_TRANSPORT);
    pair_close(&p);
}
END_TEST

/* The server goes away under a connected client: flush ends with TRANSPORT
 * or TIMEOUT, never hangs. */
static void peer_gone(const char *tls)
{
    struct pair p;
    pair_open(&p, tls, PACK_BELOW);
    roundtrip(&p, 65536, 14);
    pair_close_server(&p);
    struct kvp_xport_iov iov = {p.buf, 1u << 20};
    time_t t0 = time(NULL);
    int32_t st =
        ops->write(p.cep, &iov, 1, p.buf_mem, (uintptr_t)p.pool, p.rkey);
    if (st == KVP_OK)
        st = ops->flush(p.cep, 2000);
    ck_assert_msg(st == KVP_ERR_TRANSPORT || st == KVP_ERR_TIMEOUT,
                  "flush after the server died: %s",
                  kvp_status_name(st));
    ck_assert_int_le(time(NULL) - t0, 10);
    pair_close_client(&p);
}

START_TEST(test_peer_gone_shm)
{
    peer_gone("posix,sysv");
}
END_TEST

START_TEST(test_peer_gone_tcp)
{
    peer_gone("tcp");
}
END_TEST

/* The server is another process that dies (SIGKILL): over TCP the client
 * learns it from the connection, flush says TRANSPORT (or TIMEOUT). */
START_TEST(test_peer_process_killed_tcp)
{
    int to_parent[2], to_child[2];
    ck_assert_int_eq(pipe(to_parent), 0);
    ck_assert_int_eq(pipe(to_child), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Server process: exposes a pool, answers one connect, waits. */
        load_module();
        struct kvp_xport_params sp = params_for(KVP_XPORT_ROLE_SERVER, "tcp", 0);
        struct kvp_xport_ctx *sctx = NULL;
        struct kvp_xport_mem *mem = NULL;
        struct kvp_xport_ep *sep = NULL;
        uint8_t *pool = calloc(1, POOL_LEN);
        uint8_t cblob[KVP_XPORT_BLOB_MAX], out[2 * KVP_XPORT_BLOB_MAX + 8];
        uint32_t clen = 0, slen = 0, rlen = 0;
        if (ops->ctx_create(&sp, &sctx) != KVP_OK ||
            ops->mem_reg(sctx, pool, POOL_LEN, &mem) != KVP_OK ||
            read(to_child[0], &clen, 4) != 4 || clen > sizeof(cblob) ||
            read(to_child[0], cblob, clen) != (ssize_t)clen ||
            ops->ep_accept(sctx, cblob, clen, out + 8, KVP_XPORT_BLOB_MAX, &slen,
                           &sep) != KVP_OK ||
            ops->mem_rkey_pack(mem, out + 8 + slen, KVP_XPORT_BLOB_MAX, &rlen) !=
                KVP_OK)
            _exit(1);
        memcpy(out, &slen, 4);
        memcpy(out + 4, &rlen, 4);
        uint64_t base = (uintptr_t)pool;
        if (write(to_parent[1], out, 8 + slen + rlen) < 0 ||
            write(to_parent[1], &base, 8) != 8)
            _exit(1);
        for (;;)
            pause();
    }
    load_module();
    struct kvp_xport_params cp = params_for(KVP_XPORT_ROLE_CLIENT, "tcp", 0);
    struct kvp_xport_ctx *cctx = NULL;
    struct kvp_xport_mem *mem = NULL;
    struct kvp_xport_ep *ep = NULL;
    struct kvp_xport_rkey *rk = NULL;
    uint8_t *buf = calloc(1, BUF_LEN);
    uint8_t cblob[KVP_XPORT_BLOB_MAX], in[2 * KVP_XPORT_BLOB_MAX];
    uint32_t clen = 0, slen = 0, rlen = 0;
    uint64_t base = 0;
    ck_assert_int_eq(ops->ctx_create(&cp, &cctx), KVP_OK);
    ck_assert_int_eq(ops->mem_reg(cctx, buf, BUF_LEN, &mem), KVP_OK);
    ck_assert_int_eq(ops->ep_create(cctx, cblob, sizeof(cblob), &clen, &ep),
                     KVP_OK);
    ck_assert_int_eq(write(to_child[1], &clen, 4), 4);
    ck_assert_int_eq(write(to_child[1], cblob, clen), (ssize_t)clen);
    ck_assert_int_eq(read(to_parent[0], &slen, 4), 4);
    ck_assert_int_eq(read(to_parent[0], &rlen, 4), 4);
    ck_assert_uint_le(slen + rlen, sizeof(in));
    ck_assert_int_eq(read(to_parent[0], in, slen + rlen),
                     (ssize_t)(slen + rlen));
    ck_assert_int_eq(read(to_parent[0], &base, 8), 8);
    ck_assert_int_eq(ops->ep_connect(ep, in, slen), KVP_OK);
    ck_assert_int_eq(ops->rkey_unpack(ep, in + slen, rlen, &rk), KVP_OK);
    struct kvp_xport_iov iov = {buf, 1u << 20};
    fill_pattern(buf, iov.len, 15);
    ck_assert_int_eq(ops->write(ep, &iov, 1, mem, base, rk), KVP_OK);
    ck_assert_int_eq(ops->flush(ep, FLUSH_MS), KVP_OK);
    /* Read it back from the other process: the bytes really moved. */
    memset(buf + (2u << 20), 0, iov.len);
    ck_assert_int_eq(ops->read(ep, buf + (2u << 20), iov.len, mem, base, rk),
                     KVP_OK);
    ck_assert_int_eq(ops->flush(ep, FLUSH_MS), KVP_OK);
    ck_assert_int_eq(memcmp(buf + (2u << 20), buf, iov.len), 0);

    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    time_t t0 = time(NULL);
    int32_t st = ops->write(ep, &iov, 1, mem, base, rk);
    if (st == KVP_OK)
        st = ops->flush(ep, 5000);
    ck_assert_msg(st == KVP_ERR_TRANSPORT || st == KVP_ERR_TIMEOUT,
                  "flush after the server process died: %s",
                  kvp_status_name(st));
    ck_assert_int_le(time(NULL) - t0, 10);
    ops->rkey_destroy(rk);
    ops->ep_destroy(ep);
    ops->mem_dereg(mem);
    ops->ctx_destroy(cctx);
    free(buf);
}
END_TEST

/* Two eps of one client ctx used from two threads at once (the header's
 * thread rule), while a third thread registers memory on the same ctx. */
struct worker_arg {
    struct pair *p;
    struct kvp_xport_ep *ep;
    struct kvp_xport_rkey *rk;
    uint64_t off;
    int ok;
};

static void *ep_worker(void *arg)
{
    struct worker_arg *w = arg;
    struct kvp_xport_iov iov[16];
    w->ok = 1;
    for (int round = 0; round < 50 && w->ok; round++) {
        for (int i = 0; i < 16; i++) {
            iov[i].ptr = w->p->buf + w->off + (uint64_t)i * 16384;
            iov[i].len = 8192;
        }
        uint64_t raddr = (uintptr_t)w->p->pool + w->off;
        if (ops->write(w->ep, iov, 16, w->p->buf_mem, raddr, w->rk) != KVP_OK ||
            ops->flush(w->ep, FLUSH_MS) != KVP_OK)
            w->ok = 0;
        for (int i = 0; i < 16 && w->ok; i++)
            if (memcmp(w->p->pool + w->off + (uint64_t)i * 8192, iov[i].ptr,
                       8192) != 0)
                w->ok = 0;
    }
    return NULL;
}

static void *reg_worker(void *arg)
{
    struct pair *p = arg;
    static uint8_t scratch[65536];
    for (int i = 0; i < 200; i++) {
        struct kvp_xport_mem *m = NULL;
        if (ops->mem_reg(p->cctx, scratch, sizeof(scratch), &m) == KVP_OK)
            ops->mem_dereg(m);
    }
    return NULL;
}

START_TEST(test_concurrent_eps)
{
    struct pair p;
    pair_open(&p, NULL, PACK_BELOW);
    struct kvp_xport_ep *cep2 = NULL, *sep2 = NULL;
    struct kvp_xport_rkey *rk2 = NULL;
    pair_connect(&p, &cep2, &sep2, &rk2);
    fill_pattern(p.buf, BUF_LEN, 16);
    struct worker_arg a = {&p, p.cep, p.rkey, 0, 0};
    struct worker_arg b = {&p, cep2, rk2, 4u << 20, 0};
    pthread_t ta, tb, tr;
    pthread_create(&ta, NULL, ep_worker, &a);
    pthread_create(&tb, NULL, ep_worker, &b);
    pthread_create(&tr, NULL, reg_worker, &p);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_join(tr, NULL);
    ck_assert(a.ok);
    ck_assert(b.ok);
    ops->rkey_destroy(rk2);
    ops->ep_destroy(cep2);
    ops->ep_destroy(sep2);
    pair_close(&p);
}
END_TEST

/* Malformed blobs and out-of-range requests are refused with a status and a
 * message naming the problem; nothing is sent. */
START_TEST(test_bad_arguments)
{
    struct pair p;
    pair_open(&p, NULL, PACK_BELOW);
    uint8_t blob[KVP_XPORT_BLOB_MAX], out[KVP_XPORT_BLOB_MAX];
    uint32_t len = 0, olen = 0;
    struct kvp_xport_ep *ep = NULL;
    struct kvp_xport_rkey *rk = NULL;
    ck_assert_int_eq(ops->mem_rkey_pack(p.pool_mem, blob, sizeof(blob), &len),
                     KVP_OK);
    /* An rkey blob is not an address blob. */
    ck_assert_int_eq(
        ops->ep_accept(p.sctx, blob, len, out, sizeof(out), &olen, &ep),
        KVP_ERR_INVALID);
    ck_assert_ptr_null(ep);
    ck_assert_ptr_nonnull(strstr(last_error, "kind"));
    ck_assert_int_eq(ops->mem_rkey_pack(p.pool_mem, blob, sizeof(blob), &len),
                     KVP_OK);
    ck_assert_int_eq(ops->rkey_unpack(p.cep, blob, len - 1, &rk),
                     KVP_ERR_INVALID); /* truncated */
    ck_assert_int_eq(ops->rkey_unpack(p.cep, blob, 5, &rk), KVP_ERR_INVALID);
    blob[0] ^= 0xff;
    ck_assert_int_eq(ops->rkey_unpack(p.cep, blob, len, &rk), KVP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(last_error, "magic"));
    ck_assert_ptr_null(rk);
    ck_assert_int_eq(ops->mem_rkey_pack(p.pool_mem, blob, 8, &len),
                     KVP_ERR_TOO_SMALL);
    /* Registration. */
    struct kvp_xport_mem *m = NULL;
    ck_assert_int_eq(ops->mem_reg(p.cctx, NULL, 10, &m), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->mem_reg(p.cctx, p.buf, 0, &m), KVP_ERR_INVALID);
    ck_assert_ptr_null(m);
    /* Local extent outside lmem. */
    static uint8_t outside[64];
    struct kvp_xport_iov iov[2] = {{p.buf, 64}, {outside, 64}};
    ck_assert_int_eq(
        ops->write(p.cep, iov, 2, p.buf_mem, (uintptr_t)p.pool, p.rkey),
        KVP_ERR_NOT_REGISTERED);
    ck_assert_ptr_nonnull(strstr(last_error, "iov[1]"));
    ck_assert_int_eq(ops->read(p.cep, p.buf + BUF_LEN - 8, 64, p.buf_mem,
                               (uintptr_t)p.pool, p.rkey),
                     KVP_ERR_NOT_REGISTERED);
    /* Remote range outside the server's region. */
    ck_assert_int_eq(ops->write(p.cep, iov, 1, p.buf_mem,
                                (uintptr_t)p.pool + POOL_LEN - 32, p.rkey),
                     KVP_ERR_INVALID);
    ck_assert_int_eq(
        ops->read(p.cep, p.buf, 64, p.buf_mem, (uintptr_t)p.pool - 64, p.rkey),
        KVP_ERR_INVALID);
    /* lmem of the other ctx. */
    ck_assert_int_eq(
        ops->write(p.cep, iov, 1, p.pool_mem, (uintptr_t)p.pool, p.rkey),
        KVP_ERR_INVALID);
    /* Nothing was posted by the refused calls; the ep still works. */
    ck_assert_uint_eq(stats_of(p.cctx).ops_posted, 0);
    roundtrip(&p, 1000, 17);
    /* Connect twice. */
    ck_assert_int_eq(ops->ep_connect(p.cep, blob, len), KVP_ERR_INVALID);
    /* Bad params. */
    struct kvp_xport_params bad = params_for(7, NULL, 0);
    struct kvp_xport_ctx *ctx = NULL;
    ck_assert_int_eq(ops->ctx_create(&bad, &ctx), KVP_ERR_INVALID);
    ck_assert_ptr_null(ctx);
    pair_close(&p);
}
END_TEST

START_TEST(test_unknown_tls_is_no_device)
{
    load_module();
    struct kvp_xport_params cp =
        params_for(KVP_XPORT_ROLE_CLIENT, "no_such_transport", 0);
    struct kvp_xport_ctx *ctx = NULL;
    last_error[0] = '\0';
    int32_t st = ops->ctx_create(&cp, &ctx);
    ck_assert_msg(st == KVP_ERR_NO_DEVICE || st == KVP_ERR_INVALID,
                  "ctx_create with a bogus UCX_TLS: %s",
                  kvp_status_name(st));
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(last_error, "no_such_transport"));
}
END_TEST

/* mem_alloc: UCX allocates the target (shared memory with posix/sysv), the
 * memory is writable over its whole length, a client's write/read into it
 * round-trips, and mem_dereg frees it (ASan/valgrind see no leak; the
 * address range is unmapped). */
static void alloc_roundtrip(const char *tls, int mapped)
{
    struct pair p;
    memset(&p, 0, sizeof(p));
    load_module();
    ck_assert_ptr_nonnull(ops->mem_alloc);
    struct kvp_xport_params sp = params_for(KVP_XPORT_ROLE_SERVER, tls, 0);
    struct kvp_xport_params cp = params_for(KVP_XPORT_ROLE_CLIENT, tls, PACK_BELOW);
    ck_assert_int_eq(ops->ctx_create(&sp, &p.sctx), KVP_OK);
    ck_assert_int_eq(ops->ctx_create(&cp, &p.cctx), KVP_OK);
    void *base = NULL;
    ck_assert_int_eq(ops->mem_alloc(p.sctx, POOL_LEN, &base, &p.pool_mem),
                     KVP_OK);
    ck_assert_ptr_nonnull(base);
    ck_assert_ptr_nonnull(p.pool_mem);
    p.pool = base;
    memset(p.pool, 0x5a, POOL_LEN); /* every byte writable */
    ck_assert_uint_eq(p.pool[POOL_LEN - 1], 0x5a);
    p.buf = calloc(1, BUF_LEN);
    ck_assert_ptr_nonnull(p.buf);
    ck_assert_int_eq(ops->mem_reg(p.cctx, p.buf, BUF_LEN, &p.buf_mem), KVP_OK);
    pair_connect(&p, &p.cep, &p.sep, &p.rkey);
    uint64_t copies = stats_of(p.cctx).mapped_copies;
    roundtrip(&p, 1u << 20, 41);
    roundtrip(&p, 3, 42);
    /* shared memory on one host: the pool is mapped here and the writes
     * and reads are copies into it (4 of them), unless turned off */
    ck_assert_uint_eq(stats_of(p.cctx).mapped_copies - copies, mapped ? 4 : 0);
    /* the rkey covers the whole allocation: the last byte is reachable */
    uint8_t *one = p.buf;
    one[0] = 0xa7;
    struct kvp_xport_iov iov = {one, 1};
    ck_assert_int_eq(ops->write(p.cep, &iov, 1, p.buf_mem,
                                (uintptr_t)p.pool + POOL_LEN - 1, p.rkey),
                     KVP_OK);
    ck_assert_int_eq(ops->flush(p.cep, FLUSH_MS), KVP_OK);
    ck_assert_uint_eq(p.pool[POOL_LEN - 1], 0xa7);
    pair_close_client(&p);
    ops->ep_destroy(p.sep);
    ops->mem_dereg(p.pool_mem); /* frees base */
    /* freed: the range is no longer mapped (mincore fails with ENOMEM) */
    unsigned char vec;
    long pg = sysconf(_SC_PAGESIZE);
    void *page = (void *)((uintptr_t)base & ~((uintptr_t)pg - 1));
    int mc = mincore(page, (size_t)pg, &vec);
    int mc_errno = errno;
    ops->ctx_destroy(p.sctx);
    ck_assert_int_eq(mc, -1);
    ck_assert_int_eq(mc_errno, ENOMEM);
}

START_TEST(test_mem_alloc_shm)
{
    alloc_roundtrip("posix,sysv", 1);
}
END_TEST

START_TEST(test_mem_alloc_default_tls)
{
    alloc_roundtrip(NULL, 1);
}
END_TEST

/* KVPLUG_UCX_MAPPED=0: UCP's own shm RMA moves the same bytes; a value
 * other than 0/1 is refused at ctx_create, naming the variable. */
START_TEST(test_mem_alloc_shm_unmapped)
{
    setenv("KVPLUG_UCX_MAPPED", "0", 1);
    alloc_roundtrip("posix,sysv", 0);
    setenv("KVPLUG_UCX_MAPPED", "yes", 1);
    struct kvp_xport_params cp = params_for(KVP_XPORT_ROLE_CLIENT, NULL, 0);
    struct kvp_xport_ctx *ctx = NULL;
    ck_assert_int_eq(ops->ctx_create(&cp, &ctx), KVP_ERR_INVALID);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(last_error, "KVPLUG_UCX_MAPPED"));
    unsetenv("KVPLUG_UCX_MAPPED");
}
END_TEST

/* The client's mapping of a UCX-allocated pool is warmed page by page on a
 * thread of its own (KVPLUG_UCX_WARM_SYNC=0: all of it in the background)
 * while the client writes: the warm touch must never change a byte. One
 * pass of writes over 128 MiB, faster than the warm thread walks it, so
 * the thread touches pages that already hold the client's bytes. */
START_TEST(test_warm_keeps_concurrent_writes)
{
    enum { LEN = 128u << 20, CHUNK = 4u << 20 };
    setenv("KVPLUG_UCX_WARM_SYNC", "0", 1);
    struct pair p;
    memset(&p, 0, sizeof(p));
    load_module();
    struct kvp_xport_params sp = params_for(KVP_XPORT_ROLE_SERVER, "posix,sysv", 0);
    struct kvp_xport_params cp =
        params_for(KVP_XPORT_ROLE_CLIENT, "posix,sysv", PACK_BELOW);
    ck_assert_int_eq(ops->ctx_create(&sp, &p.sctx), KVP_OK);
    ck_assert_int_eq(ops->ctx_create(&cp, &p.cctx), KVP_OK);
    void *base = NULL;
    ck_assert_int_eq(ops->mem_alloc(p.sctx, LEN, &base, &p.pool_mem), KVP_OK);
    p.pool = base;
    memset(p.pool, 0, LEN);
    p.buf = malloc(CHUNK);
    ck_assert_ptr_nonnull(p.buf);
    ck_assert_int_eq(ops->mem_reg(p.cctx, p.buf, CHUNK, &p.buf_mem), KVP_OK);
    pair_connect(&p, &p.cep, &p.sep, &p.rkey); /* starts the warm thread */
    for (uint32_t i = 0; i < CHUNK; i++)
        p.buf[i] = (uint8_t)(i * 7 + 13);
    for (uint64_t off = 0; off < LEN; off += CHUNK) {
        struct kvp_xport_iov iov = {p.buf, CHUNK};
        ck_assert_int_eq(ops->write(p.cep, &iov, 1, p.buf_mem,
                                    (uintptr_t)p.pool + off, p.rkey),
                         KVP_OK);
    }
    ck_assert_int_eq(ops->flush(p.cep, FLUSH_MS), KVP_OK);
    ops->rkey_destroy(p.rkey); /* joins the warm thread */
    p.rkey = NULL;
    for (uint64_t off = 0; off < LEN; off += CHUNK)
        ck_assert_int_eq(memcmp(p.pool + off, p.buf, CHUNK), 0);
    ops->ep_destroy(p.cep);
    ops->mem_dereg(p.buf_mem);
    ops->ctx_destroy(p.cctx);
    ops->ep_destroy(p.sep);
    ops->mem_dereg(p.pool_mem);
    ops->ctx_destroy(p.sctx);
    free(p.buf);
    unsetenv("KVPLUG_UCX_WARM_SYNC");
}
END_TEST

START_TEST(test_mem_alloc_bad_arguments)
{
    load_module();
    struct kvp_xport_params sp = params_for(KVP_XPORT_ROLE_SERVER, NULL, 0);
    struct kvp_xport_ctx *ctx = NULL;
    ck_assert_int_eq(ops->ctx_create(&sp, &ctx), KVP_OK);
    void *base = NULL;
    struct kvp_xport_mem *mem = NULL;
    ck_assert_int_eq(ops->mem_alloc(ctx, 0, &base, &mem), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->mem_alloc(NULL, 4096, &base, &mem), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->mem_alloc(ctx, 4096, NULL, &mem), KVP_ERR_INVALID);
    ck_assert_int_eq(ops->mem_alloc(ctx, 4096, &base, NULL), KVP_ERR_INVALID);
    ck_assert_ptr_null(base);
    ck_assert_ptr_null(mem);
    ops->ctx_destroy(ctx);
}
END_TEST

static Suite *ucx_suite(void)
{
    Suite *s = suite_create("ucx");
    struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"write_read_default_tls", test_write_read_default_tls},
        {"write_read_shm", test_write_read_shm},
        {"write_read_tcp", test_write_read_tcp},
        {"strided_zero_copy", test_strided_above_threshold_is_zero_copy},
        {"strided_packed", test_strided_below_threshold_is_packed},
        {"many_writes_one_flush", test_many_writes_one_flush},
        {"env_pack_threshold", test_env_overrides_pack_threshold},
        {"progress_idle_shm", test_progress_thread_idle_shm},
        {"progress_idle_tcp", test_progress_thread_idle_tcp},
        {"flush_timeout", test_flush_timeout},
        {"peer_gone_shm", test_peer_gone_shm},
        {"peer_gone_tcp", test_peer_gone_tcp},
        {"peer_process_killed_tcp", test_peer_process_killed_tcp},
        {"concurrent_eps", test_concurrent_eps},
        {"bad_arguments", test_bad_arguments},
        {"unknown_tls", test_unknown_tls_is_no_device},
        {"mem_alloc_shm", test_mem_alloc_shm},
        {"mem_alloc_default_tls", test_mem_alloc_default_tls},
        {"mem_alloc_shm_unmapped", test_mem_alloc_shm_unmapped},
        {"mem_alloc_bad_arguments", test_mem_alloc_bad_arguments},
        {"warm_keeps_concurrent_writes", test_warm_keeps_concurrent_writes},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, cases[i].fn);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
#if defined(__SANITIZE_THREAD__)
    /* UCX patches mmap/munmap and malloc to learn about freed registered
     * memory; under TSan's interceptors that crashes. Tests register only
     * memory they keep until deregistration, so the hooks are not needed. */
    setenv("UCX_MEM_EVENTS", "no", 0);
    setenv("UCX_MEM_MALLOC_HOOKS", "no", 0);
#endif
    SRunner *sr = srunner_create(ucx_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
