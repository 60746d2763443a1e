/*
 * netfuzz.c - a network fuzzer for a live kvplug-server (the nightly
 * KVP_LONG=1 mode, tests/stress/long.sh). Each round opens a TCP
 * connection and sends a valid HELLO, CONNECT and a few requests, one
 * frame of them mutated (bit flips, bytes set to edge values, the length
 * field changed, truncation, junk appended); it reads whatever comes back
 * (bounded) and closes. Every 100 rounds, and at the end, a fresh
 * control-only client must still get STATS: the server neither crashed
 * nor stopped serving. Exit 0 when it did not.
 * usage: netfuzz HOST PORT ROUNDS SEED
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "store_client.h"

static uint64_t rng;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int connect_to(const char *host, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Reads what the server says for up to ms (replies are not checked). */
static void drain(int fd, int ms)
{
    char buf[4096];
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, ms) > 0 && recv(fd, buf, sizeof(buf), 0) > 0)
        ;
}

static void mutate(struct proto_buf *b)
{
    int kind = (int)(rnd() % 6);
    size_t n = b->len;
    switch (kind) {
    case 0: /* bit flips */
        for (int i = 0, k = 1 + (int)(rnd() % 8); i < k && n > 0; i++)
            b->data[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
        break;
    case 1: { /* an edge value somewhere */
        static const uint8_t edge[] = {0, 1, 0x7f, 0x80, 0xfe, 0xff};
        if (n > 0)
            b->data[rnd() % n] = edge[rnd() % sizeof(edge)];
        break;
    }
    case 2: { /* body_len lies */
        uint32_t v = rnd() % 3 == 0 ? rnd() : (uint32_t)n + rnd() % 64 - 32;
        memcpy(b->data, &v, 4);
        break;
    }
    case 3: /* truncated */
        b->len = n > 0 ? rnd() % n : 0;
        break;
    case 4: /* junk appended */
        for (int i = 0, k = (int)(rnd() % 64); i < k && b->len < b->cap; i++)
            b->data[b->len++] = (uint8_t)rnd();
        break;
    default: /* a field inside the body */
        if (n > PROTO_HDR_LEN)
            b->data[PROTO_HDR_LEN + rnd() % (n - PROTO_HDR_LEN)] =
                (uint8_t)rnd();
        break;
    }
}

/* One round: frames HELLO, CONNECT, ALLOC, LOOKUP, REMOVE, STATS; frame
 * number `bad` is mutated and nothing after it is sent. */
static void round_once(const char *host, uint16_t port)
{
    int fd = connect_to(host, port);
    if (fd < 0)
        return;
    uint8_t key[16] = "fuzzkey";
    struct proto_item it = {.key = key, .key_len = 7, .len = 100};
    struct proto_msg f[6] = {
        {.type = PROTO_HELLO, .req_id = 1},
        {.type = PROTO_CONNECT, .req_id = 2},
        {.type = PROTO_ALLOC, .req_id = 3, .n = 1, .items = &it},
        {.type = PROTO_LOOKUP, .req_id = 4, .n = 1, .items = &it},
        {.type = PROTO_REMOVE, .req_id = 5, .n = 1, .items = &it},
        {.type = PROTO_STATS, .req_id = 6},
    };
    int bad = (int)(rnd() % 6);
    struct proto_buf b = {0};
    for (int i = 0; i <= bad; i++) {
        if (proto_encode(&f[i], &b) != 0)
            break;
        if (i == bad) {
            if (b.cap < b.len + 64) {
                uint8_t *d = realloc(b.data, b.len + 64);
                if (d == NULL)
                    break;
                b.data = d;
                b.cap = b.len + 64;
            }
            mutate(&b);
        }
        if (send(fd, b.data, b.len, MSG_NOSIGNAL) < 0)
            break;
        drain(fd, i == bad ? 20 : 200);
    }
    proto_buf_free(&b);
    close(fd);
}

static int server_answers(const char *host, uint16_t port)
{
    struct kvp_logger lg;
    kvp_logger_init_stderr(&lg, KVP_LOG_ERROR);
    struct store_conn_params cp = {
        .host = host, .port = port, .timeout_ms = 10000, .log = &lg};
    struct store_conn *c = NULL;
    struct store_server_stats s;
    int ok = store_conn_open(&cp, &c) == KVP_OK &&
             store_server_stats(c, &s) == KVP_OK;
    if (c != NULL)
        store_conn_close(c);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOST PORT ROUNDS SEED\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    uint16_t port = (uint16_t)atoi(argv[2]);
    long rounds = atol(argv[3]);
    rng = strtoull(argv[4], NULL, 10) | 1;
    for (long r = 1; r <= rounds; r++) {
        round_once(host, port);
        if (r % 100 == 0 && !server_answers(host, port)) {
            fprintf(stderr, "netfuzz: the server stopped answering after "
                            "round %ld (seed %s)\n",
                    r, argv[4]);
            return 1;
        }
    }
    if (!server_answers(host, port)) {
        fprintf(stderr, "netfuzz: the server does not answer at the end\n");
        return 1;
    }
    printf("netfuzz: %ld mutated sessions, the server still answers\n",
           rounds);
    return 0;
}
