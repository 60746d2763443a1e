/* check_server_conn.c - the store server and store_client in one process
 * over real TCP (and the real UCX module when it is built): the protocol
 * end to end, auth, malformed frames closing only their connection,
 * pending allocations of a dead connection, timeouts and disconnects.
 * The loop tests run over each carrier: TCP (_i 0, local_fastpath off),
 * the in-process link the embedded server uses (_i 1) and the same-host
 * rings (_i 2, what a TCP client on the server's host switches to). */
#include <check.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"
#include "server.h"
#include "shm_ring.h"
#include "store_client.h"
#include "store_shm.h"
#include "kvp_transport.h"

#define TMO 5000

static int n_warnings;
static int n_upgrade_lines; /* "upgrade kvplug-server" errors */

static void quiet_log(void *user, int32_t level, const char *msg)
{
    (void)user;
    if (level <= KVP_LOG_WARN)
        __atomic_add_fetch(&n_warnings, 1, __ATOMIC_RELAXED);
    if (level == KVP_LOG_ERROR && strstr(msg, "upgrade kvplug-server"))
        __atomic_add_fetch(&n_upgrade_lines, 1, __ATOMIC_RELAXED);
    if (getenv("KVP_TEST_VERBOSE") != NULL)
        fprintf(stderr, "[%d] %s\n", level, msg);
}

static struct kvp_logger test_logger = {quiet_log, NULL, KVP_LOG_DEBUG};

static int carrier_local; /* set from _i by the loop tests: 0 TCP, 1 local
                           * link, 2 same-host rings */
static const char *const carrier_name[] = {"tcp", "local", "shm"};

/* caps_withheld: the server's test hook, an older kvplug-server */
static struct kvp_server *start_caps(const char *transports,
                                     const char *token, uint64_t pool,
                                     uint32_t lease_ms, uint32_t withheld)
{
    struct kvp_server_params p = {0};
    p.caps_withheld = withheld;
    p.listen_port = 0;
    p.pool_size = pool;
    p.transports = transports;
    p.xport.struct_size = sizeof(p.xport);
    p.xport.timeout_ms = TMO;
    p.auth_token = token;
    p.lease_timeout_ms = lease_ms;
    p.log = test_logger;
    struct kvp_server *srv = NULL;
    ck_assert_int_eq(kvp_server_start(&p, &srv), KVP_OK);
    ck_assert_uint_ne(kvp_server_port(srv), 0);
    return srv;
}

static struct kvp_server *start(const char *transports, const char *token,
                                uint64_t pool, uint32_t lease_ms)
{
    return start_caps(transports, token, pool, lease_ms, 0);
}

/* The in-process carrier of srv, when the suite runs over it. */
static const struct proto_local_link *local_link(struct kvp_server *srv)
{
    static _Thread_local struct proto_local_link link; /* racing threads */
    kvp_server_local_link(srv, &link);
    return &link;
}

static int32_t open_ctl(struct kvp_server *srv, const char *token,
                        struct store_conn **c)
{
    struct store_conn_params cp = {.host = "127.0.0.1",
                                   .port = kvp_server_port(srv),
                                   .auth_token = token,
                                   .timeout_ms = TMO,
                                   .log = &test_logger,
                                   .local = carrier_local == 1
                                                ? local_link(srv)
                                                : NULL,
                                   .local_fastpath_off = carrier_local == 0};
    return store_conn_open(&cp, c);
}

static struct store_conn *ctl(struct kvp_server *srv)
{
    struct store_conn *c = NULL;
    ck_assert_int_eq(open_ctl(srv, NULL, &c), KVP_OK);
    ck_assert(store_conn_alive(c));
    ck_assert_str_eq(store_conn_carrier(c), carrier_name[carrier_local]);
    return c;
}

static int32_t put1(struct store_conn *c, const char *key, uint64_t len,
                    uint32_t flags)
{
    struct store_alloc_item it = {.key = key, .len = len};
    ck_assert_int_eq(store_alloc(c, 1, &it, flags), KVP_OK);
    if (it.status != KVP_OK)
        return it.status;
    int32_t st = 99;
    ck_assert_int_eq(store_commit(c, 1, &it.alloc_id, &st), KVP_OK);
    return st;
}

/* The committed object `key` is visible through c with `len` bytes. */
static void assert_stored(struct store_conn *c, const char *key, uint64_t len)
{
    struct store_lookup_item l = {.key = key};
    ck_assert_int_eq(store_lookup(c, 1, &l, STORE_LOOKUP_NO_LEASE), KVP_OK);
    ck_assert_int_eq(l.status, KVP_OK);
    ck_assert_uint_eq(l.len, len);
}

/* ---- control protocol end to end ---------------------------------------- */

START_TEST(batched_cycle)
{
    carrier_local = _i;
    struct kvp_server *srv = start("", NULL, 1 << 20, 0);
    struct store_conn *c = ctl(srv);
    ck_assert_ptr_null(store_conn_ep(c));
    char big[1100];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct store_alloc_item a[4] = {{.key = "a", .len = 10},
                                    {.key = "b", .len = 0},
                                    {.key = big, .len = 1},
                                    {.key = "a", .len = 5}};
    ck_assert_int_eq(store_alloc(c, 4, a, 0), KVP_OK);
    ck_assert_int_eq(a[0].status, KVP_OK);
    ck_assert_int_eq(a[1].status, KVP_OK);
    ck_assert_int_eq(a[2].status, KVP_ERR_INVALID); /* fails only itself */
    ck_assert_int_eq(a[3].status, KVP_ERR_EXISTS);  /* duplicate, in order */
    uint64_t ids[2] = {a[0].alloc_id, a[1].alloc_id};
    struct store_lookup_item l[3] = {{.key = "a"}, {.key = "b"}, {.key = "zz"}};
    ck_assert_int_eq(store_lookup(c, 3, l, STORE_LOOKUP_NO_LEASE), KVP_OK);
    ck_assert_int_eq(l[0].status, KVP_ERR_NOT_FOUND); /* not committed */
    int32_t st[2] = {9, 9};
    ck_assert_int_eq(store_commit(c, 2, ids, st), KVP_OK);
    ck_assert_int_eq(st[0], KVP_OK);
    ck_assert_int_eq(st[1], KVP_OK);
    ck_assert_int_eq(store_lookup(c, 3, l, 0), KVP_OK);
    ck_assert_int_eq(l[0].status, KVP_OK);
    ck_assert_uint_eq(l[0].raddr, a[0].raddr);
    ck_assert_uint_eq(l[0].len, 10);
    ck_assert_uint_ne(l[0].lease_id, 0);
    ck_assert_int_eq(l[1].status, KVP_OK);
    ck_assert_uint_eq(l[1].len, 0);
    ck_assert_int_eq(l[2].status, KVP_ERR_NOT_FOUND);
    struct store_server_stats s;
    ck_assert_int_eq(store_server_stats(c, &s), KVP_OK);
    ck_assert_uint_eq(s.objects, 2);
    ck_assert_uint_eq(s.leases, 2);
    ck_assert_uint_eq(s.connections, 1);
    ck_assert_uint_ge(s.pool_size, 1 << 20);
    uint64_t leases[2] = {l[0].lease_id, l[1].lease_id};
    ck_assert_int_eq(store_release(c, 2, leases), KVP_OK);
    ck_assert_int_eq(store_remove(c, "a", &st[0]), KVP_OK);
    ck_assert_int_eq(st[0], KVP_OK);
    ck_assert_int_eq(store_remove(c, "a", &st[0]), KVP_OK);
    ck_assert_int_eq(st[0], KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(store_server_stats(c, &s), KVP_OK);
    ck_assert_uint_eq(s.objects, 1);
    ck_assert_uint_eq(s.leases, 0);
    /* a release is not answered: an unknown lease is the server's log
     * line, and the connection's next request still gets its own reply */
    uint64_t bogus = leases[0] + 1000;
    ck_assert_int_eq(store_release(c, 1, &bogus), KVP_OK);
    ck_assert_int_eq(store_server_stats(c, &s), KVP_OK);
    ck_assert_uint_eq(s.connections, 1);
    /* abort frees */
    struct store_alloc_item x = {.key = "x", .len = 4096};
    ck_assert_int_eq(store_alloc(c, 1, &x, 0), KVP_OK);
    ck_assert_int_eq(store_abort(c, 1, &x.alloc_id), KVP_OK);
    ck_assert_int_eq(store_server_stats(c, &s), KVP_OK);
    ck_assert_uint_eq(s.used_bytes, 0);
    ck_assert_uint_eq(s.pending, 0);
    /* overwrite */
    ck_assert_int_eq(put1(c, "b", 7, 0), KVP_ERR_EXISTS);
    ck_assert_int_eq(put1(c, "b", 7, STORE_ALLOC_OVERWRITE), KVP_OK);
    ck_assert_int_eq(store_lookup(c, 1, &l[1], STORE_LOOKUP_NO_LEASE), KVP_OK);
    ck_assert_uint_eq(l[1].len, 7);
    /* bad arguments are refused locally, the connection stays up */
    ck_assert_int_eq(store_alloc(c, 1, NULL, 0), KVP_ERR_INVALID);
    ck_assert_int_eq(store_alloc(NULL, 1, a, 0), KVP_ERR_INVALID);
    ck_assert_int_eq(store_remove(c, "", &st[0]), KVP_ERR_INVALID);
    ck_assert(store_conn_alive(c));
    store_conn_close(c);
    kvp_server_stop(srv);
}
END_TEST

/* ---- concurrency --------------------------------------------------------- */

struct racer {
    struct kvp_server *srv;
    pthread_barrier_t *bar;
    int32_t status;
};

static void *race_put(void *arg)
{
    struct racer *r = arg;
    struct store_conn *c = NULL;
    if (open_ctl(r->srv, NULL, &c) != KVP_OK) {
        r->status = -1000;
        pthread_barrier_wait(r->bar);
        return NULL;
    }
    pthread_barrier_wait(r->bar);
    struct store_alloc_item it = {.key = "contended", .len = 128};
    r->status = -1001;
    if (store_alloc(c, 1, &it, 0) == KVP_OK) {
        r->status = it.status;
        if (it.status == KVP_OK &&
            store_commit(c, 1, &it.alloc_id, &r->status) != KVP_OK)
            r->status = -1002;
    }
    store_conn_close(c);
    return NULL;
}

START_TEST(concurrent_puts_one_wins)
{
    carrier_local = _i;
    struct kvp_server *srv = start("", NULL, 1 << 20, 0);
    enum { N = 8 };
    pthread_t t[N];
    struct racer r[N];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){srv, &bar, 0};
        pthread_create(&t[i], NULL, race_put, &r[i]);
    }
    int ok = 0, exists = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ok += r[i].status == KVP_OK;
        exists += r[i].status == KVP_ERR_EXISTS;
    }
    pthread_barrier_destroy(&bar);
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(exists, N - 1);
    kvp_server_stop(srv);
}
END_TEST

/* ---- auth ---------------------------------------------------------------- */

START_TEST(auth_challenge_response)
{
    carrier_local = _i;
    struct kvp_server *srv = start("", "sesame", 1 << 20, 0);
    struct store_conn *c = NULL;
    ck_assert_int_eq(open_ctl(srv, "sesame", &c), KVP_OK);
    ck_assert_int_eq(put1(c, "k", 1, 0), KVP_OK);
    store_conn_close(c);
    c = NULL;
    ck_assert_int_eq(open_ctl(srv, "sesam", &c), KVP_ERR_AUTH);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(open_ctl(srv, NULL, &c), KVP_ERR_AUTH);
    ck_assert_ptr_null(c);
    kvp_server_stop(srv);
}
END_TEST

/* ---- raw sockets: malformed frames --------------------------------------- */

static int raw_connect(struct kvp_server *srv)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(kvp_server_port(srv))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* 1 when the server closed fd within TMO (reads until EOF). */
static int closed_by_server(int fd)
{
    char buf[256];
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, TMO) <= 0)
            return 0;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            return 1;
    }
}

static void send_frame(int fd, uint16_t type, const void *body, uint32_t len,
                       uint16_t version)
{
    uint8_t h[PROTO_HDR_LEN] = {(uint8_t)len,
                                (uint8_t)(len >> 8),
                                (uint8_t)(len >> 16),
                                (uint8_t)(len >> 24),
                                (uint8_t)version,
                                (uint8_t)(version >> 8),
                                (uint8_t)type,
                                (uint8_t)(type >> 8),
                                1,
                                0,
                                0,
                                0};
    ck_assert_int_eq(send(fd, h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
    if (len > 0)
        send(fd, body, len, MSG_NOSIGNAL);
}

/* Raw handshake (no auth, control only); leaves fd ready for requests.
 * Returns HELLO_R's flags. */
static uint32_t raw_handshake(int fd)
{
    uint8_t hello[5] = {0, 0, 0, 0, 0};
    send_frame(fd, PROTO_HELLO, hello, sizeof(hello), PROTO_VERSION);
    uint8_t rep[PROTO_HDR_LEN + 40];
    ck_assert_int_eq(recv(fd, rep, sizeof(rep), MSG_WAITALL), sizeof(rep));
    uint8_t conn[5] = {0, 0, 0, 0, 0};
    send_frame(fd, PROTO_CONNECT, conn, sizeof(conn), PROTO_VERSION);
    uint8_t crep[PROTO_HDR_LEN + 28];
    ck_assert_int_eq(recv(fd, crep, sizeof(crep), MSG_WAITALL), sizeof(crep));
    ck_assert_int_eq(crep[PROTO_HDR_LEN], 0); /* status OK */
    const uint8_t *f = rep + PROTO_HDR_LEN + 4;
    return (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 |
           (uint32_t)f[3] << 24;
}

START_TEST(garbage_closes_only_that_connection)
{
    carrier_local = 0;
    struct kvp_server *srv = start("", NULL, 1 << 20, 0);
    struct store_conn *good = ctl(srv);
    ck_assert_int_eq(put1(good, "before", 8, 0), KVP_OK);

    int fd = raw_connect(srv);
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
    ck_assert(closed_by_server(fd));
    close(fd);

    /* a table of bad frames after a valid handshake */
    struct {
        uint16_t type, version;
        uint32_t len;
        uint8_t body[16];
    } bad[] = {
        {PROTO_ALLOC, 2, 0, {0}},             /* bad version */
        {PROTO_ALLOC, PROTO_VERSION, 0, {0}}, /* truncated */
        {PROTO_ALLOC,
         PROTO_VERSION,
         11,
         {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 'a'}}, /* key length 0 */
        {PROTO_LOOKUP,
         PROTO_VERSION,
         8,
         {0, 0, 0, 0, 0xff, 0xff, 0, 0}},                  /* n too big */
        {PROTO_COMMIT, PROTO_VERSION, 5, {1, 0, 0, 0, 7}}, /* short id */
        {PROTO_HELLO, PROTO_VERSION, 5, {0}},              /* HELLO again */
        {PROTO_ALLOC_R, PROTO_VERSION, 8, {0}},            /* a reply */
        {77, PROTO_VERSION, 0, {0}},                       /* unknown type */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fd = raw_connect(srv);
        raw_handshake(fd);
        send_frame(fd, bad[i].type, bad[i].body, bad[i].len, bad[i].version);
        ck_assert_msg(closed_by_server(fd), "bad frame %zu not closed", i);
        close(fd);
    }
    /* length beyond the limit: closed without reading the body */
    fd = raw_connect(srv);
    raw_handshake(fd);
    send_frame(fd, PROTO_ALLOC, NULL, 0xfffffff0u, PROTO_VERSION);
    ck_assert(closed_by_server(fd));
    close(fd);

    /* the good client never noticed */
    ck_assert(store_conn_alive(good));
    ck_assert_int_eq(put1(good, "after", 8, 0), KVP_OK);
    struct store_server_stats s;
    ck_assert_int_eq(store_server_stats(good, &s), KVP_OK);
    ck_assert_uint_eq(s.objects, 2);
    store_conn_close(good);
    kvp_server_stop(srv);
}
END_TEST

/* ---- capabilities (HELLO_R flags) -------------------------------------- */

/* The hook is faithful: a server withholding REMOVE_PREFIX does not offer
 * it and closes a connection that sends the frame anyway (as an old
 * server does); a current server offers every capability. */
START_TEST(server_offers_its_capabilities)
{
    struct kvp_server *srv = start("", NULL, 1 << 20, 0);
    int fd = raw_connect(srv);
    ck_assert_uint_eq(raw_handshake(fd) & PROTO_SERVER_CAPS,
                      PROTO_SERVER_CAPS);
    close(fd);
    kvp_server_stop(srv);

    srv = start_caps("", NULL, 1 << 20, 0, PROTO_SERVER_CAP_REMOVE_PREFIX);
    fd = raw_connect(srv);
    ck_assert_uint_eq(raw_handshake(fd) & PROTO_SERVER_CAPS,
                      PROTO_SERVER_CAPS & ~PROTO_SERVER_CAP_REMOVE_PREFIX);
    uint8_t body[3] = {1, 0, 'p'}; /* REMOVE_PREFIX "p" */
    send_frame(fd, PROTO_REMOVE_PREFIX, body, sizeof(body), PROTO_VERSION);
    ck_assert(closed_by_server(fd));
    close(fd);
    kvp_server_stop(srv);
}
END_TEST

static void count_key(void *user, const char *key, uint16_t key_len,
                      uint64_t len)
{
    (void)key, (void)key_len, (void)len;
    (*(int *)user)++;
}

/* A server without a capability (the hook: an older kvplug-server) gets
 * no frame that needs it: the client refuses the op with NOT_SUPPORTED,
 * logs one line per capability, and the connection stays usable. */
START_TEST(missing_capability_refused_by_client)
{
    carrier_local = _i;
    struct kvp_server *srv =
        start_caps("", NULL, 1 << 20, 0, PROTO_SERVER_CAPS);
    struct store_conn *c = ctl(srv);
    int lines0 = __atomic_load_n(&n_upgrade_lines, __ATOMIC_RELAXED);
    ck_assert_int_eq(put1(c, "pfx/a", 64, 0), KVP_OK);

    /* a TP group and a plain item in one batch: the group fails alone */
    for (int round = 0; round < 2; round++) {
        struct store_alloc_item it[3] = {
            {.key = "tpk_tp_0", .len = 64, .group = 1, .base_len = 3},
            {.key = "tpk_tp_1", .len = 64, .group = 1, .base_len = 3},
            {.key = round ? "plain2" : "plain", .len = 32},
        };
        ck_assert_int_eq(store_alloc(c, 3, it, 0), KVP_OK);
        ck_assert_int_eq(it[0].status, KVP_ERR_NOT_SUPPORTED);
        ck_assert_int_eq(it[1].status, KVP_ERR_NOT_SUPPORTED);
        ck_assert_int_eq(it[2].status, KVP_OK);
        int32_t st = 99;
        ck_assert_int_eq(store_commit(c, 1, &it[2].alloc_id, &st), KVP_OK);
        ck_assert_int_eq(st, KVP_OK);

        uint64_t removed = 77;
        ck_assert_int_eq(store_remove_prefix(c, "pfx/", &removed),
                         KVP_ERR_NOT_SUPPORTED);
        ck_assert_uint_eq(removed, 77);
        int seen = 0, more = 0;
        ck_assert_int_eq(store_keys(c, "", 10, count_key, &seen, &more),
                         KVP_ERR_NOT_SUPPORTED);
        ck_assert_int_eq(seen, 0);
    }
    /* one line per capability, not per call */
    ck_assert_int_eq(__atomic_load_n(&n_upgrade_lines, __ATOMIC_RELAXED) -
                         lines0, 3);

    /* nothing was sent that closed the connection */
    ck_assert(store_conn_alive(c));
    ck_assert_str_eq(store_conn_carrier(c), carrier_name[carrier_local]);
    assert_stored(c, "pfx/a", 64);
    assert_stored(c, "plain", 32);
    struct store_server_stats s;
    ck_assert_int_eq(store_server_stats(c, &s), KVP_OK);
    ck_assert_uint_eq(s.objects, 3);
    ck_assert_uint_eq(s.pending, 0);
    store_conn_close(c);
    kvp_server_stop(srv);
}
END_TEST

static int wait_pending_zero(struct store_conn *c)
{
    struct store_server_stats s;
    for (int i = 0; i < 500; i++) {
        ck_assert_int_eq(store_server_stats(c, &s), KVP_OK);
        if (s.pending == 0 && s.connections == 1)
            return 1;
        usleep(10000);
    }
    return 0;
}

START_TEST(closed_connection_aborts_pending)
{
    carrier_local = _i;
    struct kvp_server *srv = start("", NULL, 1 << 20, 0);
    struct store_conn *watcher = ctl(srv);
    struct store_conn *c = ctl(srv);
    struct store_alloc_item it = {.key = "orphan", .len = 1000};
    ck_assert_int_eq(store_alloc(c, 1, &it, 0), KVP_OK);
    struct store_lookup_item l = {.key = "orphan"};
    struct store_alloc_item other = {.key = "orphan", .len = 1};
    ck_assert_int_eq(store_alloc(watcher, 1, &other, 0), KVP_OK);
    ck_assert_int_eq(other.status, KVP_ERR_EXISTS); /* pending counts */
    store_conn_close(c);
    ck_assert(wait_pending_zero(watcher));
    /* the key is free for someone else now */
    ck_assert_int_eq(put1(watcher, "orphan", 3, 0), KVP_OK);
    ck_assert_int_eq(store_lookup(watcher, 1, &l, STORE_LOOKUP_NO_LEASE),
                     KVP_OK);
    ck_assert_uint_eq(l.len, 3);
    store_conn_close(watcher);
    kvp_server_stop(srv);
}
END_TEST

/* ---- the in-process link: malformed frames --------------------------------
 */

static size_t frame_of(uint8_t *out, uint16_t type, const void *body,
                       uint32_t len)
{
    uint8_t h[PROTO_HDR_LEN] = {(uint8_t)len,
                                (uint8_t)(len >> 8),
                                (uint8_t)(len >> 16),
                                (uint8_t)(len >> 24),
                                PROTO_VERSION,
                                0,
                                (uint8_t)type,
                                (uint8_t)(type >> 8),
                                1,
                                0,
                                0,
                                0};
    memcpy(out, h, sizeof(h));
    if (len > 0)
        memcpy(out + PROTO_HDR_LEN, body, len);
    return PROTO_HDR_LEN + len;
}

/* Handshakes a control-only link with raw frames; the link is READY. */
static struct kvp_server_local *raw_local(struct kvp_server *srv,
                                          struct proto_buf *rep)
{
    struct kvp_server_local *lc = NULL;
    ck_assert_int_eq(kvp_server_local_open(srv, &lc), KVP_OK);
    uint8_t f[64], zero[5] = {0};
    size_t n = frame_of(f, PROTO_HELLO, zero, sizeof(zero));
    ck_assert_int_eq(kvp_server_local_call(lc, f, n, rep), KVP_OK);
    ck_assert_uint_gt(rep->len, PROTO_HDR_LEN);
    n = frame_of(f, PROTO_CONNECT, zero, sizeof(zero));
    ck_assert_int_eq(kvp_server_local_call(lc, f, n, rep), KVP_OK);
    ck_assert_uint_gt(rep->len, PROTO_HDR_LEN);
    ck_assert_int_eq(rep->data[PROTO_HDR_LEN], 0); /* status OK */
    return lc;
}

START_TEST(local_link_refuses_malformed_frames)
{
    struct kvp_server *srv = start("", NULL, 1 << 20, 0);
    carrier_local = 1;
    struct store_conn *good = ctl(srv);
    ck_assert_int_eq(put1(good, "kept", 5, 0), KVP_OK);
    struct proto_buf rep = {0};
    uint8_t f[64], body[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int before = n_warnings;

    /* a frame shorter than its header */
    struct kvp_server_local *lc = raw_local(srv, &rep);
    ck_assert_int_eq(kvp_server_local_call(lc, f, 5, &rep), KVP_ERR_TRANSPORT);
    ck_assert_uint_eq(rep.len, 0);
    /* the link is closed now: later frames are refused */
    size_t n = frame_of(f, PROTO_STATS, NULL, 0);
    ck_assert_int_eq(kvp_server_local_call(lc, f, n, &rep),
                     KVP_ERR_DISCONNECTED);
    kvp_server_local_close(lc);

    /* bytes past the body the header announces */
    lc = raw_local(srv, &rep);
    n = frame_of(f, PROTO_STATS, NULL, 0);
    ck_assert_int_eq(kvp_server_local_call(lc, f, n + 3, &rep),
                     KVP_ERR_TRANSPORT);
    kvp_server_local_close(lc);

    /* a body the decoder cannot consume exactly */
    lc = raw_local(srv, &rep);
    n = frame_of(f, PROTO_LOOKUP, body, sizeof(body));
    ck_assert_int_eq(kvp_server_local_call(lc, f, n, &rep), KVP_ERR_TRANSPORT);
    kvp_server_local_close(lc);

    /* a well-formed HELLO after the handshake: a protocol violation, no
     * reply */
    lc = raw_local(srv, &rep);
    uint8_t zero[5] = {0};
    n = frame_of(f, PROTO_HELLO, zero, sizeof(zero));
    ck_assert_int_eq(kvp_server_local_call(lc, f, n, &rep), KVP_OK);
    ck_assert_uint_eq(rep.len, 0);
    n = frame_of(f, PROTO_STATS, NULL, 0);
    ck_assert_int_eq(kvp_server_local_call(lc, f, n, &rep),
                     KVP_ERR_DISCONNECTED);
    kvp_server_local_close(lc);

    /* a request before the handshake */
    lc = NULL;
    ck_assert_int_eq(kvp_server_local_open(srv, &lc), KVP_OK);
    n = frame_of(f, PROTO_STATS, NULL, 0);
    ck_assert_int_eq(kvp_server_local_call(lc, f, n, &rep), KVP_OK);
    ck_assert_uint_eq(rep.len, 0);
    ck_assert_int_eq(kvp_server_local_call(lc, f, n, &rep),
                     KVP_ERR_DISCONNECTED);
    kvp_server_local_close(lc);

    ck_assert_int_eq(kvp_server_local_call(NULL, f, n, &rep), KVP_ERR_INVALID);
    ck_assert_int_eq(kvp_server_local_open(NULL, &lc), KVP_ERR_INVALID);
    ck_assert_int_gt(n_warnings, before); /* each one was logged */

    /* none of that touched the other link or the store */
    assert_stored(good, "kept", 5);
    struct store_server_stats s;
    ck_assert_int_eq(store_server_stats(good, &s), KVP_OK);
    ck_assert_uint_eq(s.connections, 1); /* the closed links are gone */
    proto_buf_free(&rep);
    store_conn_close(good);
    kvp_server_stop(srv);
}
END_TEST

/* A local link and a TCP client see the same store. */
START_TEST(local_and_tcp_share_the_store)
{
    struct kvp_server *srv = start("", NULL, 1 << 20, 0);
    carrier_local = 1;
    struct store_conn *lc = ctl(srv);
    carrier_local = 0;
    struct store_conn *tc = ctl(srv);
    ck_assert_int_eq(put1(lc, "from-local", 11, 0), KVP_OK);
    ck_assert_int_eq(put1(tc, "from-local", 11, 0), KVP_ERR_EXISTS);
    assert_stored(tc, "from-local", 11);
    struct store_server_stats s;
    ck_assert_int_eq(store_server_stats(lc, &s), KVP_OK);
    ck_assert_uint_eq(s.connections, 2);
    store_conn_close(lc);
    ck_assert_int_eq(store_server_stats(tc, &s), KVP_OK);
    ck_assert_uint_eq(s.connections, 1);
    store_conn_close(tc);
    kvp_server_stop(srv);
}
END_TEST

/* ---- the same-host rings ------------------------------------------------- */

/* A raw client on the rings: handshake over fd, SHM_ATTACH, attach,
 * SHM_SWITCH. Returns the mapping (the test writes into it directly). */
static struct store_shm *raw_shm(int fd, void **seg_p)
{
    raw_handshake(fd);
    uint8_t flags[4] = {0};
    send_frame(fd, PROTO_SHM_ATTACH, flags, sizeof(flags), PROTO_VERSION);
    uint8_t rep[PROTO_HDR_LEN + 48];
    ck_assert_int_eq(recv(fd, rep, sizeof(rep), MSG_WAITALL), sizeof(rep));
    struct proto_hdr h;
    struct proto_msg m;
    ck_assert_int_eq(proto_hdr_parse(rep, PROTO_MAX_BODY, &h, NULL), PROTO_OK);
    ck_assert_int_eq(proto_decode(&h, rep + PROTO_HDR_LEN, &m, NULL),
                     PROTO_OK);
    ck_assert_int_eq(m.status, KVP_OK);
    struct store_shm *sh = NULL;
    const char *why = NULL;
    ck_assert_int_eq(store_shm_attach(&m, &sh, &why), 0);
    /* a second mapping, for writing garbage where the protocol would not */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%u/fd/%u", m.shm_pid, m.shm_fd);
    int sfd = open(path, O_RDWR);
    ck_assert_int_ge(sfd, 0);
    *seg_p = mmap(NULL, shm_seg_size(m.shm_pipe_cap), PROT_READ | PROT_WRITE,
                  MAP_SHARED, sfd, 0);
    close(sfd);
    ck_assert_ptr_ne(*seg_p, MAP_FAILED);
    uint8_t on[4] = {PROTO_SHM_SWITCH_ATTACHED, 0, 0, 0};
    send_frame(fd, PROTO_SHM_SWITCH, on, sizeof(on), PROTO_VERSION);
    return sh;
}

/* Malformed bytes in the ring close that connection only: the server
 * closes its TCP socket, the other clients go on. */
START_TEST(shm_garbage_closes_only_that_connection)
{
    struct kvp_server *srv = start("", NULL, 1 << 20, 0);
    carrier_local = 2;
    struct store_conn *good = ctl(srv);
    ck_assert_int_eq(put1(good, "before", 8, 0), KVP_OK);
    static const uint8_t bad[][PROTO_HDR_LEN + 4] = {
        {4, 0, 0, 0, 2, 0, PROTO_ALLOC, 0, 1, 0, 0, 0},    /* version */
        {0, 0, 0, 0, 1, 0, 77, 0, 1, 0, 0, 0},             /* type */
        {0, 0, 0, 0, 1, 0, 25, 0, 1, 0, 0, 0},             /* a gap type */
        {0xf0, 0xff, 0xff, 0xff, 1, 0, PROTO_ALLOC, 0},    /* length */
        {4, 0, 0, 0, 1, 0, PROTO_ALLOC, 0, 1, 0, 0, 0, 0}, /* truncated */
        {0, 0, 0, 0, 1, 0, PROTO_ALLOC_R, 0, 1, 0, 0, 0},  /* a reply */
        {4, 0, 0, 0, 1, 0, PROTO_SHM_SWITCH, 0, 1, 0, 0, 0, 1}, /* again */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + 2; i++) {
        int fd = raw_connect(srv);
        void *seg = NULL;
        struct store_shm *sh = raw_shm(fd, &seg);
        if (i < sizeof(bad) / sizeof(bad[0])) {
            ck_assert_int_eq(store_shm_send(sh, bad[i], sizeof(bad[i]), fd,
                                            TMO),
                             KVP_OK);
        } else {
            /* positions the server cannot believe: the request pipe's
             * tail beyond its capacity, or far behind its head */
            uint64_t t = i == sizeof(bad) / sizeof(bad[0])
                             ? SHM_PIPE_DEFAULT + 1
                             : UINT64_MAX - 5;
            volatile uint64_t *tail =
                (volatile uint64_t *)((uint8_t *)seg + SHM_REQ_CTL_OFF +
                                      SHM_CTL_TAIL_OFF);
            *tail = t;
            /* wake the server if it sleeps on the pipe */
            struct shm_pipe req, rep;
            const char *why;
            uint8_t ck[SHM_COOKIE_LEN];
            memcpy(ck, (uint8_t *)seg + 16, sizeof(ck));
            ck_assert_int_eq(shm_seg_attach(seg, shm_seg_size(SHM_PIPE_DEFAULT),
                                            SHM_PIPE_DEFAULT, ck, &req, &rep,
                                            &why),
                             0);
            shm_pipe_wake_all(&req);
        }
        ck_assert_msg(closed_by_server(fd), "bad ring input %zu not closed",
                      i);
        store_shm_close(sh);
        munmap(seg, shm_seg_size(SHM_PIPE_DEFAULT));
        close(fd);
    }
    ck_assert(store_conn_alive(good));
    ck_assert_int_eq(put1(good, "after", 8, 0), KVP_OK);
    struct store_server_stats st;
    ck_assert_int_eq(store_server_stats(good, &st), KVP_OK);
    ck_assert_uint_eq(st.objects, 2);
    ck_assert(wait_pending_zero(good)); /* every bad connection is gone */
    store_conn_close(good);
    kvp_server_stop(srv);
}
END_TEST

/* Frames larger than a ring stream through it (a batch of 600 keys of
 * 1000 bytes is a ~600 KiB ALLOC frame against 256 KiB pipes). */
START_TEST(big_frames_stream_through_the_rings)
{
    carrier_local = _i;
    struct kvp_server *srv = start("", NULL, 4 << 20, 0);
    struct store_conn *c = ctl(srv);
    enum { N = 600 };
    static char keys[N][1001];
    static struct store_alloc_item a[N];
    static struct store_lookup_item l[N];
    static uint64_t ids[N];
    static int32_t st[N];
    for (int i = 0; i < N; i++) {
        memset(keys[i], 'a' + i % 26, 1000);
        snprintf(keys[i], 12, "%010d", i);
        keys[i][10] = 'x';
        a[i] = (struct store_alloc_item){.key = keys[i], .len = 64};
        l[i] = (struct store_lookup_item){.key = keys[i]};
    }
    ck_assert_int_eq(store_alloc(c, N, a, 0), KVP_OK);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(a[i].status, KVP_OK);
        ids[i] = a[i].alloc_id;
    }
    ck_assert_int_eq(store_commit(c, N, ids, st), KVP_OK);
    ck_assert_int_eq(store_lookup(c, N, l, STORE_LOOKUP_NO_LEASE), KVP_OK);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(l[i].status, KVP_OK);
        ck_assert_uint_eq(l[i].len, 64);
    }
    store_conn_close(c);
    kvp_server_stop(srv);
}
END_TEST

/* Forks a client on the rings that runs hold(c) (which says whether it
 * holds what it should), reports it and waits to be killed with -9.
 * Returns its pid once it reported success. */
static pid_t fork_holder(struct kvp_server *srv,
                         int (*hold)(struct store_conn *c))
{
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct store_conn *c = NULL;
        int ok = open_ctl(srv, NULL, &c) == KVP_OK &&
                 strcmp(store_conn_carrier(c), "shm") == 0 && hold(c);
        char b = ok ? 'y' : 'n';
        if (write(ready[1], &b, 1) != 1)
            _exit(2);
        for (;;)
            pause();
    }
    char b = 0;
    ck_assert_int_eq(read(ready[0], &b, 1), 1);
    close(ready[0]);
    close(ready[1]);
    ck_assert_int_eq(b, 'y');
    return pid;
}

static int hold_allocation(struct store_conn *c)
{
    struct store_alloc_item it = {.key = "held", .len = 1000};
    return store_alloc(c, 1, &it, 0) == KVP_OK && it.status == KVP_OK;
}

/* A client on the rings killed with -9 while it holds an allocation: its
 * socket closes, the server ends the connection and aborts the pending
 * allocation, so the key is free again. */
START_TEST(shm_client_killed_aborts_pending)
{
    struct kvp_server *srv = start("", NULL, 1 << 20, 0);
    carrier_local = 2;
    struct store_conn *watcher = ctl(srv);
    pid_t pid = fork_holder(srv, hold_allocation);
    struct store_alloc_item other = {.key = "held", .len = 1};
    ck_assert_int_eq(store_alloc(watcher, 1, &other, 0), KVP_OK);
    ck_assert_int_eq(other.status, KVP_ERR_EXISTS); /* pending counts */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert(wait_pending_zero(watcher));
    ck_assert_int_eq(put1(watcher, "held", 3, 0), KVP_OK);
    store_conn_close(watcher);
    kvp_server_stop(srv);
}
END_TEST

/* ---- puts from an arena (PUT_AT) ---------------------------------------- */

/* Waits (bounded) until the server's pool holds exactly `used` bytes. */
static int wait_used(struct store_conn *c, uint64_t used)
{
    struct store_server_stats s;
    for (int i = 0; i < 500; i++) {
        ck_assert_int_eq(store_server_stats(c, &s), KVP_OK);
        if (s.used_bytes == used)
            return 1;
        usleep(10000);
    }
    return 0;
}

/* One PUT_AT stores what the client wrote into its arena, under the
 * store's rules; a piece that is not the next one is refused, a piece
 * skipped goes back to the pool, and so does the arena's rest when the
 * connection ends. */
START_TEST(arena_puts_one_frame)
{
    struct kvp_server *srv = start("", NULL, 4 << 20, 0);
    carrier_local = 2;
    struct store_conn *c = ctl(srv), *watcher = ctl(srv);
    ck_assert(store_arena_usable(c));
    ck_assert_uint_eq(store_arena_room(c), 0);
    ck_assert_int_eq(store_put_at(c, 0, NULL, 0, 256 << 10, 1), KVP_OK);
    ck_assert_uint_eq(store_arena_room(c), 256 << 10);
    ck_assert(wait_used(watcher, 256 << 10));
    struct store_put_item it[3] = {{"a", 100, 0, 99}, {"b", 1000, 0, 99}};
    it[0].raddr = store_arena_take(c, 100);
    it[1].raddr = store_arena_take(c, 1000);
    ck_assert_uint_eq(it[1].raddr - it[0].raddr, 128); /* 64-rounded */
    ck_assert_int_eq(store_put_at(c, 2, it, 0, 0, 0), KVP_OK);
    ck_assert_int_eq(it[0].status, KVP_OK);
    ck_assert_int_eq(it[1].status, KVP_OK);
    struct store_lookup_item l = {.key = "a"};
    ck_assert_int_eq(store_lookup(watcher, 1, &l, STORE_LOOKUP_NO_LEASE),
                     KVP_OK);
    ck_assert_int_eq(l.status, KVP_OK);
    ck_assert_uint_eq(l.raddr, it[0].raddr);
    ck_assert_uint_eq(l.len, 100);
    /* a plain put of a stored key: EXISTS; its piece goes back */
    it[0] = (struct store_put_item){"a", 10, store_arena_take(c, 10), 99};
    ck_assert_int_eq(store_put_at(c, 1, it, 0, 0, 0), KVP_OK);
    ck_assert_int_eq(it[0].status, KVP_ERR_EXISTS);
    /* a piece before the server's cursor is not the next one */
    it[0] = (struct store_put_item){"z", 10, l.raddr, 99};
    ck_assert_int_eq(store_put_at(c, 1, it, 0, 0, 0), KVP_OK);
    ck_assert_int_eq(it[0].status, KVP_ERR_INVALID);
    assert_stored(watcher, "a", 100); /* untouched */
    /* a piece taken and never sent, then the next one: the gap is freed */
    (void)store_arena_take(c, 5000);
    it[0] = (struct store_put_item){"d", 64, store_arena_take(c, 64), 99};
    ck_assert_int_eq(store_put_at(c, 1, it, 0, 0, 0), KVP_OK);
    ck_assert_int_eq(it[0].status, KVP_OK);
    uint64_t objects = 128 + 1024 + 64;
    ck_assert(wait_used(watcher, objects + store_arena_room(c)));
    /* the connection ends: only the objects stay */
    store_conn_close(c);
    ck_assert(wait_used(watcher, objects));
    assert_stored(watcher, "b", 1000);
    assert_stored(watcher, "d", 64);
    store_conn_close(watcher);
    kvp_server_stop(srv);
}
END_TEST

static int hold_arena(struct store_conn *c)
{
    return store_put_at(c, 0, NULL, 0, 512 << 10, 1) == KVP_OK &&
           store_arena_room(c) == 512 << 10;
}

/* A client on the rings killed with -9 while it holds an arena: the
 * server gives the whole arena back. */
START_TEST(shm_client_killed_gives_arena_back)
{
    struct kvp_server *srv = start("", NULL, 4 << 20, 0);
    carrier_local = 2;
    struct store_conn *watcher = ctl(srv);
    pid_t pid = fork_holder(srv, hold_arena);
    ck_assert(wait_used(watcher, 512 << 10));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert(wait_used(watcher, 0));
    store_conn_close(watcher);
    kvp_server_stop(srv);
}
END_TEST

/* ---- timeouts and disconnects -------------------------------------------- */

START_TEST(silent_server_times_out)
{
    /* a listener that accepts (kernel backlog) but never answers */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    socklen_t sl = sizeof(a);
    getsockname(lfd, (struct sockaddr *)&a, &sl);
    struct store_conn_params cp = {.host = "127.0.0.1",
                                   .port = ntohs(a.sin_port),
                                   .timeout_ms = 200,
                                   .log = &test_logger};
    struct store_conn *c = NULL;
    ck_assert_int_eq(store_conn_open(&cp, &c), KVP_ERR_TIMEOUT);
    ck_assert_ptr_null(c);
    close(lfd);
    /* nobody listening: refused */
    ck_assert_int_eq(store_conn_open(&cp, &c), KVP_ERR_DISCONNECTED);
}
END_TEST

START_TEST(server_gone_disconnects)
{
    if (_i == 1)
        return; /* a local link must be closed before kvp_server_stop */
    carrier_local = _i;
    struct kvp_server *srv = start("", NULL, 1 << 20, 0);
    struct store_conn *c = ctl(srv);
    kvp_server_stop(srv);
    struct store_lookup_item l = {.key = "k"};
    int32_t st = store_lookup(c, 1, &l, 0);
    ck_assert_int_eq(st, KVP_ERR_DISCONNECTED);
    ck_assert(!store_conn_alive(c));
    ck_assert_int_eq(store_lookup(c, 1, &l, 0), KVP_ERR_DISCONNECTED);
    store_conn_close(c);
}
END_TEST

START_TEST(lease_timeout_on_server)
{
    carrier_local = 0;
    struct kvp_server *srv = start("", NULL, 4096, 100);
    struct store_conn *c = ctl(srv);
    ck_assert_int_eq(put1(c, "a", 4096, 0), KVP_OK);
    struct store_lookup_item l = {.key = "a"};
    ck_assert_int_eq(store_lookup(c, 1, &l, 0), KVP_OK);
    int32_t st;
    ck_assert_int_eq(store_remove(c, "a", &st), KVP_OK);
    /* leased memory is not reused ... */
    struct store_alloc_item it = {.key = "b", .len = 4096};
    ck_assert_int_eq(store_alloc(c, 1, &it, 0), KVP_OK);
    ck_assert_int_eq(it.status, KVP_ERR_NO_SPACE);
    /* ... until the lease expires on the server */
    struct store_server_stats s = {0};
    for (int i = 0; i < 300 && s.lease_expiries == 0; i++) {
        usleep(10000);
        ck_assert_int_eq(store_server_stats(c, &s), KVP_OK);
    }
    ck_assert_uint_eq(s.lease_expiries, 1);
    ck_assert_int_eq(store_alloc(c, 1, &it, 0), KVP_OK);
    ck_assert_int_eq(it.status, KVP_OK);
    store_conn_close(c);
    kvp_server_stop(srv);
}
END_TEST

START_TEST(start_refuses_bad_params)
{
    struct kvp_server *srv = NULL;
    struct kvp_server_params p = {
        .pool_size = 0, .transports = "", .log = test_logger};
    ck_assert_int_eq(kvp_server_start(&p, &srv), KVP_ERR_INVALID);
    p.pool_size = 4096;
    p.transports = "nosuchtransport";
    ck_assert_int_eq(kvp_server_start(&p, &srv), KVP_ERR_NOT_SUPPORTED);
    p.transports = ",";
    ck_assert_int_eq(kvp_server_start(&p, &srv), KVP_ERR_INVALID);
    p.transports = "";
    p.auth_token = "";
    ck_assert_int_eq(kvp_server_start(&p, &srv), KVP_ERR_INVALID);
    ck_assert_ptr_null(srv);
    ck_assert_int_eq(kvp_server_start(NULL, &srv), KVP_ERR_INVALID);
}
END_TEST

/* ---- real UCX data path ----------------------------------------------------
 */

static void xport_log(void *user, int32_t level, const char *msg)
{
    quiet_log(user, level, msg);
}

START_TEST(ucx_put_get_through_the_pool)
{
    carrier_local = _i;
    const struct kvp_transport_ops *ops = NULL;
    struct kvp_logger lg = {quiet_log, NULL, KVP_LOG_WARN};
    if (xport_module_load("ucx", &lg, &ops) != KVP_OK) {
        fprintf(stderr, "SKIP ucx_put_get_through_the_pool: no ucx module\n");
        return;
    }
    struct kvp_server *srv = start("ucx", "tok", 1 << 20, 0);
    struct kvp_xport_params tp = {.struct_size = sizeof(tp),
                               .role = KVP_XPORT_ROLE_CLIENT,
                               .timeout_ms = TMO,
                               .log_level = KVP_LOG_WARN,
                               .log = xport_log};
    struct kvp_xport_ctx *ctx = NULL;
    ck_assert_int_eq(ops->ctx_create(&tp, &ctx), KVP_OK);
    enum { LEN = 100000 };
    uint8_t *buf = malloc(2 * LEN);
    struct kvp_xport_mem *mem = NULL;
    ck_assert_int_eq(ops->mem_reg(ctx, buf, 2 * LEN, &mem), KVP_OK);
    struct store_conn_params cp = {.host = "127.0.0.1",
                                   .port = kvp_server_port(srv),
                                   .tops = ops,
                                   .tctx = ctx,
                                   .auth_token = "tok",
                                   .timeout_ms = TMO,
                                   .log = &test_logger,
                                   .local = carrier_local == 1
                                                ? local_link(srv)
                                                : NULL,
                                   .local_fastpath_off = carrier_local == 0};
    struct store_conn *c = NULL;
    ck_assert_int_eq(store_conn_open(&cp, &c), KVP_OK);
    ck_assert_str_eq(store_conn_carrier(c), carrier_name[carrier_local]);
    ck_assert_ptr_nonnull(store_conn_ep(c));
    ck_assert_ptr_nonnull(store_conn_rkey(c));

    for (int i = 0; i < LEN; i++)
        buf[i] = (uint8_t)(i * 31 + 7);
    struct store_alloc_item it = {.key = "tensor", .len = LEN};
    ck_assert_int_eq(store_alloc(c, 1, &it, 0), KVP_OK);
    ck_assert_int_eq(it.status, KVP_OK);
    struct kvp_xport_iov iov = {buf, LEN};
    ck_assert_int_eq(ops->write(store_conn_ep(c), &iov, 1, mem, it.raddr,
                                store_conn_rkey(c)),
                     KVP_OK);
    ck_assert_int_eq(ops->flush(store_conn_ep(c), TMO), KVP_OK);
    int32_t st;
    ck_assert_int_eq(store_commit(c, 1, &it.alloc_id, &st), KVP_OK);
    ck_assert_int_eq(st, KVP_OK);

    struct store_lookup_item l = {.key = "tensor"};
    ck_assert_int_eq(store_lookup(c, 1, &l, 0), KVP_OK);
    ck_assert_int_eq(l.status, KVP_OK);
    ck_assert_uint_eq(l.len, LEN);
    memset(buf + LEN, 0, LEN);
    ck_assert_int_eq(ops->read(store_conn_ep(c), buf + LEN, l.len, mem, l.raddr,
                               store_conn_rkey(c)),
                     KVP_OK);
    ck_assert_int_eq(ops->flush(store_conn_ep(c), TMO), KVP_OK);
    ck_assert_int_eq(memcmp(buf, buf + LEN, LEN), 0);

    /* overwrite while the old object is leased: the old bytes stay intact
     * under the lease even when the pool is filled up, new readers get
     * the new bytes */
    for (int i = 0; i < LEN; i++)
        buf[i] = (uint8_t)~buf[i];
    struct store_alloc_item ow = {.key = "tensor", .len = LEN};
    ck_assert_int_eq(store_alloc(c, 1, &ow, STORE_ALLOC_OVERWRITE), KVP_OK);
    ck_assert_int_eq(ow.status, KVP_OK);
    ck_assert_uint_ne(ow.raddr, l.raddr);
    ck_assert_int_eq(ops->write(store_conn_ep(c), &iov, 1, mem, ow.raddr,
                                store_conn_rkey(c)),
                     KVP_OK);
    ck_assert_int_eq(ops->flush(store_conn_ep(c), TMO), KVP_OK);
    ck_assert_int_eq(store_commit(c, 1, &ow.alloc_id, &st), KVP_OK);
    ck_assert_int_eq(st, KVP_OK);
    struct store_lookup_item l2 = {.key = "tensor"};
    ck_assert_int_eq(store_lookup(c, 1, &l2, STORE_LOOKUP_NO_LEASE), KVP_OK);
    ck_assert_uint_eq(l2.raddr, ow.raddr);
    ck_assert_int_eq(l2.status, KVP_OK);
    ck_assert_uint_eq(l2.len, LEN);
    for (int i = 0;; i++) { /* take every free byte (evicting what it can) */
        char k[16];
        snprintf(k, sizeof(k), "fill%d", i);
        struct store_alloc_item f = {.key = k, .len = 4096};
        ck_assert_int_eq(store_alloc(c, 1, &f, 0), KVP_OK);
        if (f.status != KVP_OK) {
            ck_assert_int_eq(f.status, KVP_ERR_NO_SPACE);
            break;
        }
        ck_assert(f.raddr + 4096 <= l.raddr || f.raddr >= l.raddr + LEN);
        memset(buf + LEN, 0xee, 4096);
        struct kvp_xport_iov fi = {buf + LEN, 4096};
        ck_assert_int_eq(ops->write(store_conn_ep(c), &fi, 1, mem, f.raddr,
                                    store_conn_rkey(c)),
                         KVP_OK);
        ck_assert_int_eq(ops->flush(store_conn_ep(c), TMO), KVP_OK);
    }
    memset(buf + LEN, 0, LEN);
    ck_assert_int_eq(ops->read(store_conn_ep(c), buf + LEN, LEN, mem, l.raddr,
                               store_conn_rkey(c)),
                     KVP_OK);
    ck_assert_int_eq(ops->flush(store_conn_ep(c), TMO), KVP_OK);
    for (int i = 0; i < LEN; i++) /* still the OLD bytes */
        ck_assert_uint_eq(buf[LEN + i], (uint8_t)~buf[i]);
    ck_assert_int_eq(store_release(c, 1, &l.lease_id), KVP_OK);

    store_conn_close(c);
    kvp_server_stop(srv);
    ops->mem_dereg(mem);
    ops->ctx_destroy(ctx);
    free(buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_conn");
    TCase *tp = tcase_create("protocol");
    tcase_set_timeout(tp, 60);
    tcase_add_loop_test(tp, batched_cycle, 0, 3);
    tcase_add_loop_test(tp, concurrent_puts_one_wins, 0, 3);
    tcase_add_loop_test(tp, auth_challenge_response, 0, 3);
    tcase_add_test(tp, garbage_closes_only_that_connection);
    tcase_add_test(tp, server_offers_its_capabilities);
    tcase_add_loop_test(tp, missing_capability_refused_by_client, 0, 3);
    tcase_add_loop_test(tp, closed_connection_aborts_pending, 0, 3);
    tcase_add_test(tp, silent_server_times_out);
    tcase_add_loop_test(tp, server_gone_disconnects, 0, 3);
    tcase_add_test(tp, lease_timeout_on_server);
    tcase_add_test(tp, start_refuses_bad_params);
    tcase_add_test(tp, local_link_refuses_malformed_frames);
    tcase_add_test(tp, local_and_tcp_share_the_store);
    tcase_add_test(tp, shm_garbage_closes_only_that_connection);
    tcase_add_loop_test(tp, big_frames_stream_through_the_rings, 0, 3);
    tcase_add_test(tp, shm_client_killed_aborts_pending);
    tcase_add_test(tp, arena_puts_one_frame);
    tcase_add_test(tp, shm_client_killed_gives_arena_back);
    suite_add_tcase(s, tp);
    TCase *tu = tcase_create("ucx");
    tcase_set_timeout(tu, 60);
    tcase_add_loop_test(tu, ucx_put_get_through_the_pool, 0, 3);
    suite_add_tcase(s, tu);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
