/* stest_server_process.c - the kvplug-server binary as a real process:
 * readiness line, bad flags (exit 2), store_client over UCX with auth,
 * garbage bytes that must not hurt other clients, clean SIGTERM exit.
 * usage: stest_server_process PATH_TO_KVPLUG_SERVER HAVE_UCX(0|1) */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <stdatomic.h>

#include "status_name.h"
#include "store_client.h"
#include "kvp_transport.h"

#define TMO      5000
#define START_MS 30000

static const char *server_bin;
static int have_ucx;
static char token_path[64];

struct proc {
    pid_t pid;
    uint16_t port;
    int out_fd, err_fd;
};

/* Reads one line from fd within ms; returns its length or -1. */
static int read_line(int fd, char *buf, size_t cap, int ms)
{
    size_t n = 0;
    while (n + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0)
            return -1;
        if (read(fd, buf + n, 1) != 1)
            return -1;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return (int)n;
}

static pid_t spawn(char *const argv[], int *out_fd, int *err_fd)
{
    int o[2], e[2];
    ck_assert_int_eq(pipe(o), 0);
    ck_assert_int_eq(pipe(e), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(e[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    *out_fd = o[0];
    *err_fd = e[0];
    return pid;
}

/* Waits for pid to exit within ms; returns its status or -1 (then kills). */
static int wait_exit(pid_t pid, int ms)
{
    int st;
    for (int i = 0; i < ms / 10; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static struct proc start_server(const char *transports, int with_token)
{
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)server_bin;
    argv[n++] = (char *)"--listen";
    argv[n++] = (char *)"127.0.0.1:0";
    argv[n++] = (char *)"--pool-size";
    argv[n++] = (char *)"16MiB";
    argv[n++] = (char *)"--transports";
    argv[n++] = (char *)transports;
    argv[n++] = (char *)"--log-level";
    argv[n++] = (char *)"info";
    if (with_token) {
        argv[n++] = (char *)"--auth-token-file";
        argv[n++] = token_path;
    }
    argv[n] = NULL;
    struct proc p;
    p.pid = spawn(argv, &p.out_fd, &p.err_fd);
    char line[256];
    ck_assert_msg(read_line(p.out_fd, line, sizeof(line), START_MS) > 0,
                  "no readiness line from %s", server_bin);
    unsigned port = 0;
    char tps[64] = "";
    ck_assert_msg(sscanf(line,
                         "kvplug-server listening on 127.0.0.1:%u "
                         "transports=%63s",
                         &port, tps) == 2,
                  "unexpected line '%s'", line);
    ck_assert_uint_ne(port, 0);
    ck_assert_str_eq(tps, transports);
    p.port = (uint16_t)port;
    return p;
}

static void stop_server_with(struct proc *p, int sig)
{
    ck_assert_int_eq(kill(p->pid, sig), 0);
    int st = wait_exit(p->pid, 20000);
    ck_assert_msg(st != -1, "server did not exit after signal %d", sig);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    close(p->out_fd);
    close(p->err_fd);
}

static void stop_server(struct proc *p)
{
    stop_server_with(p, SIGTERM);
}

static int32_t open_conn(const struct proc *p, const char *token,
                         const struct kvp_transport_ops *ops,
                         struct kvp_xport_ctx *ctx, struct store_conn **c)
{
    struct store_conn_params cp = {.host = "127.0.0.1",
                                   .port = p->port,
                                   .tops = ops,
                                   .tctx = ctx,
                                   .auth_token = token,
                                   .timeout_ms = TMO};
    static struct kvp_logger lg = {NULL, NULL, KVP_LOG_ERROR};
    cp.log = &lg;
    return store_conn_open(&cp, c);
}

START_TEST(bad_flags_exit_2_naming_the_flag)
{
    const char *cases[][3] = {{"--pool-size", "12 apples", "--pool-size"},
                              {"--listen", "nohost:99999", "--listen"},
                              {"--log-level", "shout", "--log-level"},
                              {"--nope", "1", "--nope"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[] = {(char *)server_bin, (char *)cases[i][0],
                        (char *)cases[i][1], NULL};
        int o, e;
        pid_t pid = spawn(argv, &o, &e);
        char line[512] = "";
        read_line(e, line, sizeof(line), TMO);
        int st = wait_exit(pid, TMO);
        ck_assert(st != -1 && WIFEXITED(st));
        ck_assert_int_eq(WEXITSTATUS(st), 2);
        ck_assert_msg(strstr(line, cases[i][2]) != NULL,
                      "stderr '%s' does not name %s", line, cases[i][2]);
        close(o);
        close(e);
    }
}
END_TEST

static int raw_garbage(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    uint8_t junk[4096];
    srand(42);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)rand();
    send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
    /* the server must close it */
    char buf[256];
    int closed = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, TMO) <= 0)
            break;
        if (recv(fd, buf, sizeof(buf), 0) <= 0) {
            closed = 1;
            break;
        }
    }
    close(fd);
    return closed;
}

START_TEST(control_only_server_survives_garbage)
{
    struct proc p = start_server("none", 1);
    struct store_conn *c = NULL;
    ck_assert_int_eq(open_conn(&p, "test-token-1", NULL, NULL, &c), KVP_OK);
    for (int i = 0; i < 5; i++)
        ck_assert(raw_garbage(p.port));
    ck_assert_int_eq(waitpid(p.pid, NULL, WNOHANG), 0); /* still running */
    struct store_alloc_item it = {.key = "k", .len = 10};
    ck_assert_int_eq(store_alloc(c, 1, &it, 0), KVP_OK);
    ck_assert_int_eq(it.status, KVP_OK);
    struct store_conn *bad = NULL;
    ck_assert_int_eq(open_conn(&p, "wrong", NULL, NULL, &bad), KVP_ERR_AUTH);
    ck_assert_int_eq(open_conn(&p, NULL, NULL, NULL, &bad), KVP_ERR_AUTH);
    store_conn_close(c);
    stop_server_with(&p, SIGINT); /* Ctrl-C stops as cleanly as SIGTERM */
}
END_TEST

START_TEST(ucx_data_path_against_the_process)
{
    if (!have_ucx) {
        fprintf(stderr, "SKIP: built without the UCX module\n");
        return;
    }
    const struct kvp_transport_ops *ops;
    ck_assert_int_eq(xport_module_load("ucx", NULL, &ops), KVP_OK);
    struct proc p = start_server("ucx", 1);
    struct kvp_logger lg;
    kvp_logger_init_stderr(&lg, KVP_LOG_WARN);
    struct kvp_xport_params tp = {.struct_size = sizeof(tp),
                               .role = KVP_XPORT_ROLE_CLIENT,
                               .timeout_ms = TMO,
                               .log_level = KVP_LOG_WARN,
                               .log = lg.fn};
    struct kvp_xport_ctx *ctx = NULL;
    ck_assert_int_eq(ops->ctx_create(&tp, &ctx), KVP_OK);
    enum { LEN = 1 << 20 };
    uint8_t *buf = malloc(2 * LEN);
    struct kvp_xport_mem *mem;
    ck_assert_int_eq(ops->mem_reg(ctx, buf, 2 * LEN, &mem), KVP_OK);
    struct store_conn *c = NULL;
    ck_assert_int_eq(open_conn(&p, "test-token-1", ops, ctx, &c), KVP_OK);

    /* put 4 objects in one batch (one ALLOC, one COMMIT frame) */
    struct store_alloc_item a[4];
    char keys[4][16];
    for (int i = 0; i < 4; i++) {
        snprintf(keys[i], sizeof(keys[i]), "obj%d", i);
        a[i] = (struct store_alloc_item){.key = keys[i], .len = LEN / 4};
    }
    for (int i = 0; i < LEN; i++)
        buf[i] = (uint8_t)(i ^ (i >> 9));
    ck_assert_int_eq(store_alloc(c, 4, a, 0), KVP_OK);
    uint64_t ids[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(a[i].status, KVP_OK);
        struct kvp_xport_iov iov = {buf + i * (LEN / 4), LEN / 4};
        ck_assert_int_eq(ops->write(store_conn_ep(c), &iov, 1, mem, a[i].raddr,
                                    store_conn_rkey(c)),
                         KVP_OK);
        ids[i] = a[i].alloc_id;
    }
    ck_assert_int_eq(ops->flush(store_conn_ep(c), TMO), KVP_OK);
    int32_t st[4];
    ck_assert_int_eq(store_commit(c, 4, ids, st), KVP_OK);

    /* garbage from another socket while this client holds its conn */
    ck_assert(raw_garbage(p.port));

    struct store_lookup_item l[4];
    for (int i = 0; i < 4; i++)
        l[i] = (struct store_lookup_item){.key = keys[3 - i]};
    ck_assert_int_eq(store_lookup(c, 4, l, 0), KVP_OK);
    memset(buf + LEN, 0, LEN);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(l[i].status, KVP_OK);
        ck_assert_int_eq(ops->read(store_conn_ep(c),
                                   buf + LEN + (3 - i) * (LEN / 4), l[i].len,
                                   mem, l[i].raddr, store_conn_rkey(c)),
                         KVP_OK);
    }
    ck_assert_int_eq(ops->flush(store_conn_ep(c), TMO), KVP_OK);
    ck_assert_int_eq(memcmp(buf, buf + LEN, LEN), 0);
    uint64_t leases[4];
    for (int i = 0; i < 4; i++)
        leases[i] = l[i].lease_id;
    ck_assert_int_eq(store_release(c, 4, leases), KVP_OK);
    struct store_server_stats s;
    ck_assert_int_eq(store_server_stats(c, &s), KVP_OK);
    ck_assert_uint_eq(s.objects, 4);
    ck_assert_uint_eq(s.leases, 0);

    /* the server going away is seen as a disconnect, not a hang */
    stop_server(&p);
    struct store_lookup_item gone = {.key = "obj0"};
    ck_assert_int_eq(store_lookup(c, 1, &gone, 0), KVP_ERR_DISCONNECTED);
    store_conn_close(c);
    ops->mem_dereg(mem);
    ops->ctx_destroy(ctx);
    free(buf);
}
END_TEST

/* ---- handshake room (issue 13) ------------------------------------------ */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* A TCP connection to 127.0.0.1:port from source address src (NULL: any)
 * that has sent one byte of a frame header and then says nothing. */
static int one_byte_conn(uint16_t port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (src != NULL) {
        struct sockaddr_in s = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &s.sin_addr);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&s, sizeof(s)), 0);
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0,
                  "connect: %s", strerror(errno));
    uint8_t b = 0x10;
    ck_assert_int_eq(send(fd, &b, 1, MSG_NOSIGNAL), 1);
    return fd;
}

static void raise_fd_limit(rlim_t want)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ck_assert_msg(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= want,
                  "need %lu descriptors, the hard limit is lower",
                  (unsigned long)want);
}

/* Connects with the token (store_conn_open: HELLO, auth, CONNECT) and
 * allocates one object: the whole path of a real client. */
static void token_client_gets_in(const struct proc *p, const char *what)
{
    double t0 = now_ms();
    struct store_conn *c = NULL;
    int32_t st = open_conn(p, "test-token-1", NULL, NULL, &c);
    double ms = now_ms() - t0;
    fprintf(stderr, "%s: a client with the token connected in %.0f ms\n", what,
            ms);
    ck_assert_msg(st == KVP_OK, "%s: connect with the token: %s", what,
                  kvp_status_name(st));
    struct store_alloc_item it = {.key = "in", .len = 10};
    ck_assert_int_eq(store_alloc(c, 1, &it, STORE_ALLOC_OVERWRITE), KVP_OK);
    ck_assert_int_eq(it.status, KVP_OK);
    store_conn_close(c);
}

/* 1,100 connections that each sent one byte (more than the old limit of
 * 1024 open connections) do not keep a client with the token out. */
START_TEST(idle_handshakes_do_not_lock_out)
{
    enum { N = 1100 };
    raise_fd_limit(N + 64);
    struct proc p = start_server("none", 1);
    static int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = one_byte_conn(p.port, NULL);
    token_client_gets_in(&p, "1100 idle handshakes from the same address");
    ck_assert_int_eq(waitpid(p.pid, NULL, WNOHANG), 0); /* still running */
    for (int i = 0; i < N; i++)
        close(fds[i]);
    stop_server(&p);
}
END_TEST

struct churn {
    uint16_t port;
    atomic_int stop;
    atomic_int opened;
};

/* Keeps opening one-byte connections from 127.0.0.2 (at most 256 held). */
static void *churn_main(void *arg)
{
    struct churn *ch = arg;
    enum { HOLD = 256 };
    int fds[HOLD];
    int n = 0;
    while (!atomic_load(&ch->stop)) {
        if (n == HOLD) {
            for (int i = 0; i < HOLD; i++)
                close(fds[i]);
            n = 0;
        }
        fds[n++] = one_byte_conn(ch->port, "127.0.0.2");
        atomic_fetch_add(&ch->opened, 1);
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return NULL;
}

/* Another address opening idle handshakes as fast as it can only pushes
 * out its own: a client from 127.0.0.1 gets through meanwhile. */
START_TEST(handshake_flood_of_one_address_spares_others)
{
    raise_fd_limit(512);
    struct proc p = start_server("none", 1);
    struct churn ch = {.port = p.port};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, churn_main, &ch), 0);
    while (atomic_load(&ch.opened) < 200)
        usleep(1000); /* bounded by the test timeout */
    for (int i = 0; i < 5; i++)
        token_client_gets_in(&p, "during a flood from 127.0.0.2");
    atomic_store(&ch.stop, 1);
    pthread_join(t, NULL);
    fprintf(stderr, "flood: %d connections from 127.0.0.2\n",
            atomic_load(&ch.opened));
    stop_server(&p);
}
END_TEST

/* docs/protocol.md: at most 10 s per handshake frame, first byte to last.
 * A client that trickles a HELLO header one byte every 3 s is closed
 * within that bound (the old server gave it 30 s after the first byte). */
START_TEST(handshake_frame_bounded)
{
    struct proc p = start_server("none", 1);
    int fd = one_byte_conn(p.port, NULL);
    double t0 = now_ms();
    int closed = 0;
    while (!closed && now_ms() - t0 < 40000) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 3000) > 0) {
            char b[64];
            closed = recv(fd, b, sizeof(b), 0) <= 0;
        } else {
            uint8_t z = 0;
            send(fd, &z, 1, MSG_NOSIGNAL);
        }
    }
    double ms = now_ms() - t0;
    fprintf(stderr, "trickled handshake frame closed after %.0f ms\n", ms);
    ck_assert_msg(closed, "a trickled handshake frame was open after %.0f ms",
                  ms);
    /* 10 s + a generous margin for a loaded machine; the old bound was 30 */
    ck_assert_msg(ms < 20000, "closed after %.0f ms, documented 10 s", ms);
    close(fd);
    stop_server(&p);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s KVPLUG_SERVER HAVE_UCX\n", argv[0]);
        return 2;
    }
    server_bin = argv[1];
    have_ucx = atoi(argv[2]);
    signal(SIGPIPE, SIG_IGN);
    snprintf(token_path, sizeof(token_path), "/tmp/kvp_stestXXXXXX");
    int fd = mkstemp(token_path);
    if (fd < 0 || write(fd, "test-token-1\n", 13) != 13)
        return 2;
    close(fd);

    Suite *s = suite_create("server_process");
    TCase *tc = tcase_create("process");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_flags_exit_2_naming_the_flag);
    tcase_add_test(tc, control_only_server_survives_garbage);
    tcase_add_test(tc, ucx_data_path_against_the_process);
    suite_add_tcase(s, tc);
    TCase *hs = tcase_create("handshake");
    tcase_set_timeout(hs, 120);
    tcase_add_test(hs, idle_handshakes_do_not_lock_out);
    tcase_add_test(hs, handshake_flood_of_one_address_spares_others);
    tcase_add_test(hs, handshake_frame_bounded);
    suite_add_tcase(s, hs);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    unlink(token_path);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
