/*
 * peer_redis.c - kvp-bench-redis: Redis SET/GET over the same working set,
 * driven the fastest fair way we know: hiredis only connects; every request
 * is a RESP header formatted into a stack buffer and written with the value
 * by one writev() on the raw socket, and every GET reply is parsed straight
 * into the preallocated destination slot. No allocation per call.
 *
 * The program starts its own redis-server (temp dir, free loopback port,
 * unix socket, persistence off) twice: with jemalloc's default purging and
 * with purging off (MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1), and
 * measures each over TCP and over the unix socket. Batches > 1 are
 * pipelined (n requests written, then n replies read).
 */
#include "harness.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_FMT  "kvpbench:%08" PRIu32
#define MAX_PIPE 64

struct redis_server {
    pid_t pid;
    int port;
    char dir[64];
    char sock[128];
};

struct redis_bench {
    int fd;
    char *ws;
    uint64_t slot_bytes;
    int is_put;
};

static int server_start(struct redis_server *rs, int purge_off)
{
    char port[16], log[160];
    strcpy(rs->dir, "/tmp/kvp-bench-redis.XXXXXX");
    if (!mkdtemp(rs->dir))
        return -1;
    snprintf(rs->sock, sizeof(rs->sock), "%s/redis.sock", rs->dir);
    snprintf(log, sizeof(log), "%s/redis.log", rs->dir);
    rs->port = bench_free_port();
    snprintf(port, sizeof(port), "%d", rs->port);
    rs->pid = fork();
    if (rs->pid < 0)
        return -1;
    if (rs->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the bench */
        if (purge_off)
            setenv("MALLOC_CONF", "dirty_decay_ms:-1,muzzy_decay_ms:-1", 1);
        else
            unsetenv("MALLOC_CONF");
        execlp("redis-server", "redis-server", "--port", port, "--bind",
               "127.0.0.1", "--unixsocket", rs->sock, "--unixsocketperm", "700",
               "--save", "", "--appendonly", "no", "--dir", rs->dir,
               "--logfile", log, "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    return 0;
}

static void server_stop(struct redis_server *rs)
{
    char path[160];
    if (rs->pid > 0) {
        kill(rs->pid, SIGTERM);
        for (int i = 0; i < 100; i++) { /* bounded: 10 s, then SIGKILL */
            if (waitpid(rs->pid, NULL, WNOHANG) == rs->pid) {
                rs->pid = 0;
                break;
            }
            usleep(100000);
        }
        if (rs->pid > 0) {
            kill(rs->pid, SIGKILL);
            waitpid(rs->pid, NULL, 0);
        }
    }
    snprintf(path, sizeof(path), "%s/redis.log", rs->dir);
    unlink(path);
    unlink(rs->sock);
    rmdir(rs->dir);
}

/* Connects over TCP (unix_sock NULL) or the unix socket, retrying while
 * the server starts (bounded: 10 s). */
static redisContext *connect_redis(const struct redis_server *rs, int use_unix)
{
    for (int i = 0; i < 200; i++) {
        struct timeval tv = {1, 0};
        redisContext *c =
            use_unix ? redisConnectUnixWithTimeout(rs->sock, tv)
                     : redisConnectWithTimeout("127.0.0.1", rs->port, tv);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            if (ok)
                return c;
        }
        redisFree(c);
        usleep(50000);
    }
    fprintf(stderr, "redis-server (pid %d) did not answer on %s\n",
            (int)rs->pid, use_unix ? rs->sock : "tcp");
    return NULL;
}

/* Does the server's jemalloc run with purging off? */
static int purge_is_off(redisContext *c)
{
    redisReply *r = redisCommand(c, "MEMORY MALLOC-STATS");
    int off = r && r->type == REDIS_REPLY_STRING && r->str &&
              strstr(r->str, "opt.dirty_decay_ms: -1") != NULL;
    freeReplyObject(r);
    return off;
}

static int write_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t w = writev(fd, iov, cnt > IOV_MAX ? IOV_MAX : cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (cnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int read_all(int fd, void *p, size_t len)
{
    char *c = p;
    while (len > 0) {
        ssize_t r = read(fd, c, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        len -= (size_t)r;
    }
    return 0;
}

/* Consumes one reply line ("+OK\r\n", "$123\r\n", "-ERR ...\r\n") into
 * line (NUL-terminated, without CRLF). Peeks so no value byte is taken. */
static int read_line(int fd, char *line, size_t cap)
{
    for (int tries = 0; tries < 1000000; tries++) {
        ssize_t n = recv(fd, line, cap - 1, MSG_PEEK);
        if (n <= 0)
            return -1;
        for (ssize_t i = 0; i + 1 < n; i++) {
            if (line[i] == '\r' && line[i + 1] == '\n') {
                if (read_all(fd, line, (size_t)i + 2))
                    return -1;
                line[i] = '\0';
                return 0;
            }
        }
        if ((size_t)n == cap - 1)
            return -1; /* longer than any reply we expect */
    }
    return -1;
}

static int redis_call(void *ctx, uint32_t first, uint32_t n)
{
    struct redis_bench *b = ctx;
    char hdr[MAX_PIPE][96];
    struct iovec iov[MAX_PIPE * 3];
    static char crlf[2] = {'\r', '\n'};
    int cnt = 0;
    char line[64];

    if (n > MAX_PIPE)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        char key[32];
        int klen = snprintf(key, sizeof(key), KEY_FMT, first + i);
        int h =
            b->is_put
                ? snprintf(hdr[i], sizeof(hdr[i]),
                           "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%" PRIu64 "\r\n",
                           klen, key, b->slot_bytes)
                : snprintf(hdr[i], sizeof(hdr[i]),
                           "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", klen, key);
        iov[cnt++] = (struct iovec){hdr[i], (size_t)h};
        if (b->is_put) {
            iov[cnt++] = (struct iovec){
                b->ws + (uint64_t)(first + i) * b->slot_bytes, b->slot_bytes};
            iov[cnt++] = (struct iovec){crlf, 2};
        }
    }
    if (write_all(b->fd, iov, cnt))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        if (read_line(b->fd, line, sizeof(line)))
            return -1;
        if (b->is_put) {
            if (strcmp(line, "+OK") != 0)
                return -1;
            continue;
        }
        if (line[0] != '$' || strtoull(line + 1, NULL, 10) != b->slot_bytes)
            return -1;
        char tail[2];
        struct iovec rv[2] = {
            {b->ws + (uint64_t)(first + i) * b->slot_bytes, b->slot_bytes},
            {tail, 2}};
        size_t want = b->slot_bytes + 2;
        struct iovec *v = rv;
        int vc = 2;
        while (want > 0) { /* readv until the value and its CRLF are in */
            ssize_t r = readv(b->fd, v, vc);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return -1;
            want -= (size_t)r;
            while (vc > 0 && (size_t)r >= v->iov_len) {
                r -= (ssize_t)v->iov_len;
                v++;
                vc--;
            }
            if (vc > 0) {
                v->iov_base = (char *)v->iov_base + r;
                v->iov_len -= (size_t)r;
            }
        }
    }
    return 0;
}

static int flush_all(redisContext *c)
{
    redisReply *r = redisCommand(c, "FLUSHALL SYNC");
    int ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* SET overwrites the keys of the previous pass: deleting between passes
 * would be unfair to Redis, whose FLUSHALL purges jemalloc (Redis 7) and
 * makes the next pass pay first-touch faults. One untimed pass first
 * creates every key, so timed passes measure the steady state. */
static void run_variant(redisContext *c, struct redis_bench *b,
                        const struct bench_opts *o, FILE *csv,
                        const char *variant, const char *note)
{
    static const struct bench_case_ops ops = {.call = redis_call};
    b->fd = c->fd;
    for (int s = 0; s < o->n_sizes; s++) {
        uint64_t size = o->sizes[s];
        uint32_t nslots = (uint32_t)(o->ws_bytes / size);
        if (nslots == 0)
            continue;
        b->slot_bytes = size;
        b->is_put = 1;
        for (uint32_t i = 0; i < nslots; i++)
            if (redis_call(b, i, 1))
                break;
        for (int op = 0; op < 2; op++) {
            b->is_put = op == 0;
            for (int k = 0; k < o->n_batches; k++) {
                uint32_t batch = o->batches[k];
                if (batch > nslots || batch > MAX_PIPE)
                    continue;
                struct bench_row row = {.system = "redis",
                                        .variant = variant,
                                        .op = op == 0 ? "put" : "get",
                                        .tp = 1,
                                        .split_dim = -1};
                int rc = bench_case_run(o, &ops, b, nslots, batch, size,
                                        "redis", &row);
                row.note = rc ? "failed" : note;
                bench_csv_row(csv, &row);
            }
        }
        flush_all(c);
    }
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    struct redis_bench b = {0};
    int rc = 0;

    bench_opts_defaults(&o);
    for (int i = 1; i < argc; i++) {
        int r = bench_opts_parse(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r == 0) {
            fprintf(stderr, "usage: kvp-bench-redis [options]\n");
            bench_opts_usage(stderr);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    FILE *csv = bench_csv_open(o.csv);
    if (!csv)
        return 1;
    b.ws = bench_map(o.ws_bytes);
    if (!b.ws)
        return 1;
    uint64_t ft = bench_prefault(b.ws, o.ws_bytes, 1);
    bench_csv_first_touch(csv, "redis", "client", o.ws_bytes, ft,
                          "user buffers");

    for (int purge_off = 0; purge_off < 2; purge_off++) {
        struct redis_server rs = {0};
        if (server_start(&rs, purge_off)) {
            fprintf(stderr, "cannot start redis-server\n");
            rc = 1;
            break;
        }
        for (int use_unix = 0; use_unix < 2; use_unix++) {
            redisContext *c = connect_redis(&rs, use_unix);
            if (!c) {
                rc = 1;
                break;
            }
            int off = purge_is_off(c);
            char variant[32];
            snprintf(variant, sizeof(variant), "%s/%s",
                     use_unix ? "unix" : "tcp",
                     purge_off ? "purge-off" : "purge-default");
            const char *note =
                off == purge_off ? "" : "jemalloc purge setting NOT as asked";
            run_variant(c, &b, &o, csv, variant, note);
            redisFree(c);
        }
        server_stop(&rs);
    }
    bench_progress_end();
    bench_unmap(b.ws, o.ws_bytes);
    if (csv != stdout)
        fclose(csv);
    return rc;
}
