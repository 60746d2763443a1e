/*
 * server.c - kvp_server: accept thread + one thread per connection, the
 * handshake (HELLO, auth, CONNECT) and dispatch of batched requests onto
 * the store (kvstore.c). Used by kvplug-server and embedded in the plugin.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "alloc.h"
#include "auth.h"
#include "clock.h"
#include "index.h"
#include "kvstore.h"
#include "metrics.h"
#include "net.h"
#include "pool.h"
#include "proto.h"
#include "units.h"
#include "status_name.h"
#include "shm_chan.h"
#include "shm_index.h"

/* The wire flags are the store's flags, bit for bit. */
_Static_assert(PROTO_ALLOC_OVERWRITE == KVS_ALLOC_OVERWRITE,
               "ALLOC overwrite flag differs between client and store");
_Static_assert(PROTO_LOOKUP_NO_LEASE == KVS_LOOKUP_NO_LEASE,
               "LOOKUP no-lease flag differs between client and store");
_Static_assert(PROTO_BLOB_MAX == KVP_XPORT_BLOB_MAX,
               "protocol blob limit differs from the transport's");
_Static_assert(PROTO_KEY_MAX == INDEX_KEY_MAX, "key limits differ");

#define SRV_MAX_CONNS     1024 /* connections past the handshake */
/* Connections still in the handshake (not yet authenticated) have their
 * own, smaller room, per peer address and in total: when it is full the
 * oldest is closed to make room for the new one, so idle or slow
 * connections can never keep an authenticated client out. */
#define SRV_MAX_PREAUTH      64
#define SRV_MAX_PREAUTH_PEER 8
/* each handshake frame: this long for its first byte, then as long from
 * its first byte to its last */
#define SRV_HANDSHAKE_MS  10000
#define SRV_FRAME_REST_MS 30000 /* rest of a request frame once it started */
#define SRV_SEND_MS       30000
#define SRV_SUMMARY_MS    60000 /* the info summary line, by default */

/* Where a connection is in its life: HELLO, then CONNECT, then requests. */
enum conn_state { CONN_HELLO, CONN_CONNECT, CONN_READY, CONN_CLOSED };

struct srv_conn {
    struct kvp_server *srv;
    int fd; /* -1: an in-process link (kvp_server_local_open) */
    uint64_t id;
    char peer[64];
    char peer_ip[INET6_ADDRSTRLEN]; /* the per-address handshake limit */
    int preauth; /* in the handshake room (srv->lock) */
    int counted; /* holds one of the SRV_MAX_CONNS slots (srv->lock) */
    pthread_t thread;
    atomic_int done;
    enum conn_state state;
    uint8_t nonce[PROTO_NONCE_LEN]; /* HELLO_R's challenge */
    uint8_t blob[KVP_XPORT_BLOB_MAX];  /* CONNECT_R's ep blob until encoded */
    struct pool_xport *xport;          /* NULL: control-only connection */
    struct kvp_xport_ep *ep;
    struct proto_buf in, out;
    void *reply_block; /* KEYS_R's key bytes, until the next frame */
    struct shm_chan *shm; /* same-host rings, once asked for */
    int shm_on;           /* frames come from the rings (after SHM_SWITCH) */
    /* the connection's arena (PUT_AT): [arena_addr, + arena_len), filled
     * by its client up to arena_cur; arena_len 0: none */
    uint64_t arena_addr, arena_len, arena_cur;
    struct srv_conn *next;
};

struct kvp_server {
    struct kvp_logger log;
    char *host;
    char *auth_token;
    size_t auth_len;
    uint32_t lease_timeout_ms;
    struct pool pool;
    struct shm_index *shm_index; /* NULL: none */
    struct kvs *kvs;
    int listen_fd;
    uint16_t port;
    int wake[2]; /* written once at stop; never drained */
    pthread_t acceptor;
    atomic_int stopping;
    pthread_mutex_t lock; /* conns, n_*, the conns' preauth/counted */
    struct srv_conn *conns;
    uint32_t n_conns;   /* every open connection (STATS) */
    uint32_t n_ready;   /* past the handshake, local links included */
    uint32_t n_preauth; /* in the handshake room */
    uint64_t n_evicted; /* handshakes closed to make room */
    uint64_t next_conn_id;
    struct srv_metrics metrics;
    uint32_t summary_ms;
    uint64_t next_summary_ns;
    uint32_t caps; /* PROTO_SERVER_CAP_* offered (all but the withheld) */
};

/* ---- replies ----------------------------------------------------------- */

static int conn_send(struct srv_conn *c, const struct proto_msg *m)
{
    if (proto_encode(m, &c->out) != 0) {
        KVP_LOG_E(&c->srv->log, "server: conn %llu: cannot encode %s reply",
                  (unsigned long long)c->id, proto_type_name(m->type));
        return -1;
    }
    int r = net_send_all(c->fd, c->out.data, c->out.len, SRV_SEND_MS);
    if (r != NET_OK) {
        KVP_LOG_I(&c->srv->log, "server: conn %llu (%s): send: %s",
                  (unsigned long long)c->id, c->peer, net_result_str(r));
        return -1;
    }
    return 0;
}

/* Reads and decodes one frame; logs and returns -1 on anything but OK. */
static int conn_recv(struct srv_conn *c, uint32_t max_body, int first_ms,
                     int rest_ms, struct proto_msg *m)
{
    struct kvp_server *srv = c->srv;
    struct proto_hdr h;
    const char *why = NULL;
    int r = net_recv_frame(c->fd, max_body, first_ms, rest_ms, srv->wake[0], &h,
                           &c->in, &why);
    if (r == NET_MALFORMED) {
        KVP_LOG_W(&srv->log,
                  "server: conn %llu (%s): malformed frame "
                  "header: %s; closing the connection",
                  (unsigned long long)c->id, c->peer, why);
        return -1;
    }
    if (r != NET_OK) {
        int lvl =
            r == NET_CLOSED || r == NET_WOKEN ? KVP_LOG_DEBUG : KVP_LOG_INFO;
        kvp_logf(&srv->log, lvl, "server: conn %llu (%s): %s",
                 (unsigned long long)c->id, c->peer, net_result_str(r));
        return -1;
    }
    int st = proto_decode(&h, c->in.data, m, &why);
    if (st != PROTO_OK) {
        KVP_LOG_W(&srv->log,
                  "server: conn %llu (%s): malformed %s frame "
                  "(%u body bytes): %s; closing the connection",
                  (unsigned long long)c->id, c->peer, proto_type_name(h.type),
                  h.body_len, why);
        return -1;
    }
    return 0;
}

/* ---- handshake --------------------------------------------------------- */

/* HELLO: the transport the client wants and, with auth, a fresh nonce.
 * Fills reply r; -1 closes the connection once r is sent. */
static int on_hello(struct srv_conn *c, struct proto_msg *m,
                    struct proto_msg *r)
{
    struct kvp_server *srv = c->srv;
    if (m->type != PROTO_HELLO) {
        KVP_LOG_W(&srv->log,
                  "server: conn %llu (%s): expected HELLO, got "
                  "%s; closing",
                  (unsigned long long)c->id, c->peer, proto_type_name(m->type));
        return -1;
    }
    r->type = PROTO_HELLO_R;
    r->req_id = m->req_id;
    if (m->name_len > 0) {
        c->xport = pool_find_xport(&srv->pool, m->name, m->name_len);
        if (c->xport == NULL) {
            KVP_LOG_W(&srv->log,
                      "server: conn %llu (%s): transport '%.*s' "
                      "is not served here",
                      (unsigned long long)c->id, c->peer, (int)m->name_len,
                      (const char *)m->name);
            r->status = KVP_ERR_NOT_SUPPORTED;
            return -1;
        }
    }
    if (srv->auth_token != NULL) {
        r->flags = PROTO_SERVER_AUTH_REQUIRED;
        if (proto_auth_nonce(c->nonce) != 0) {
            char why[256];
            KVP_LOG_E(&srv->log,
                      "server: conn %llu (%s): no random nonce for the "
                      "auth challenge (RAND_bytes: %s); closing",
                      (unsigned long long)c->id, c->peer,
                      proto_auth_error(why, sizeof(why)));
            r->status = KVP_ERR_INTERNAL;
            return -1;
        }
        memcpy(r->nonce, c->nonce, PROTO_NONCE_LEN);
    }
    if (shm_chan_offerable(c->fd))
        r->flags |= PROTO_SERVER_SHM_OFFERED;
    r->flags |= srv->caps;
    c->state = CONN_CONNECT;
    return 0;
}

/* Moves a socket connection from the handshake room to the connection
 * slots once its client proved the token. -1: evicted meanwhile, or all
 * SRV_MAX_CONNS slots taken. */
static int conn_promote(struct srv_conn *c)
{
    struct kvp_server *srv = c->srv;
    if (c->fd < 0)
        return 0; /* a local link holds its slot from local_open */
    int ok = 0;
    pthread_mutex_lock(&srv->lock);
    if (c->preauth && srv->n_ready < SRV_MAX_CONNS) {
        c->preauth = 0;
        srv->n_preauth--;
        c->counted = 1;
        srv->n_ready++;
        ok = 1;
    }
    int evicted = !c->preauth && !c->counted;
    pthread_mutex_unlock(&srv->lock);
    if (!ok && !evicted)
        KVP_LOG_W(&srv->log,
                  "server: conn %llu (%s): refused: %d connections open "
                  "(KVP_ERR_NO_SPACE)",
                  (unsigned long long)c->id, c->peer, SRV_MAX_CONNS);
    return ok ? 0 : -1;
}

/* CONNECT: the auth proof, then the transport ep exchange. */
static int on_connect(struct srv_conn *c, struct proto_msg *m,
                      struct proto_msg *r)
{
    struct kvp_server *srv = c->srv;
    if (m->type != PROTO_CONNECT) {
        KVP_LOG_W(&srv->log,
                  "server: conn %llu (%s): expected CONNECT, got "
                  "%s; closing",
                  (unsigned long long)c->id, c->peer, proto_type_name(m->type));
        return -1;
    }
    r->type = PROTO_CONNECT_R;
    r->req_id = m->req_id;
    if (srv->auth_token != NULL) {
        if (!proto_auth_verify(srv->auth_token, srv->auth_len, c->nonce, m->mac,
                               m->mac_len)) {
            KVP_LOG_W(&srv->log,
                      "server: conn %llu (%s): authentication "
                      "failed (%s proof); closing",
                      (unsigned long long)c->id, c->peer,
                      m->mac_len ? "wrong" : "missing");
            r->status = KVP_ERR_AUTH;
            return -1;
        }
    }
    if (conn_promote(c) != 0) {
        r->status = KVP_ERR_NO_SPACE;
        return -1;
    }
    if (c->xport != NULL) {
        uint32_t blob_len = 0;
        int32_t st =
            c->xport->ops->ep_accept(c->xport->ctx, m->blob, m->blob_len, c->blob,
                                  sizeof(c->blob), &blob_len, &c->ep);
        if (st != KVP_OK) {
            KVP_LOG_W(&srv->log,
                      "server: conn %llu (%s): %s ep_accept "
                      "failed: %s",
                      (unsigned long long)c->id, c->peer, c->xport->name,
                      kvp_status_name(st));
            r->status = st;
            return -1;
        }
        r->blob = c->blob;
        r->blob_len = blob_len;
        r->rkey = c->xport->rkey;
        r->rkey_len = c->xport->rkey_len;
    }
    r->pool_base = (uint64_t)(uintptr_t)srv->pool.base;
    r->pool_size = srv->pool.size;
    c->state = CONN_READY;
    KVP_LOG_I(&srv->log, "server: conn %llu (%s) connected, transport %s",
              (unsigned long long)c->id, c->peer,
              c->xport != NULL ? c->xport->name : "none (control only)");
    return 0;
}

/* ---- requests ---------------------------------------------------------- */

static void do_stats(struct srv_conn *c, struct proto_msg *r)
{
    struct kvp_server *srv = c->srv;
    struct kvs_stats st;
    kvs_stats(srv->kvs, &st);
    pthread_mutex_lock(&srv->lock);
    uint32_t n_conns = srv->n_conns;
    pthread_mutex_unlock(&srv->lock);
    r->n_stats = PROTO_STAT_COUNT;
    r->stats[PROTO_STAT_OBJECTS] = st.objects;
    r->stats[PROTO_STAT_PENDING] = st.pending;
    r->stats[PROTO_STAT_LEASES] = st.leases;
    r->stats[PROTO_STAT_RETIRED] = st.retired;
    r->stats[PROTO_STAT_USED_BYTES] = st.used_bytes;
    r->stats[PROTO_STAT_EVICTIONS] = st.evictions;
    r->stats[PROTO_STAT_LEASE_EXPIRIES] = st.lease_expiries;
    r->stats[PROTO_STAT_POOL_SIZE] = srv->pool.size;
    r->stats[PROTO_STAT_CONNECTIONS] = n_conns;
    uint64_t offered = 0;
    for (uint32_t i = 0; i < srv->pool.n_xport; i++) {
        offered |= strcmp(srv->pool.xport[i].name, "ucx") == 0 ? 1u : 0u;
        offered |= strcmp(srv->pool.xport[i].name, "verbs") == 0 ? 2u : 0u;
    }
    r->stats[PROTO_STAT_TRANSPORTS] = offered;
}

/* KEYS: the reply's items point into one block (*keys_p, freed by the
 * caller after the reply is encoded). */
static void do_keys(struct srv_conn *c, struct proto_msg *m,
                    struct proto_msg *r, struct kvs_key **keys_p)
{
    uint32_t n = 0;
    int more = 0;
    r->n = 0;
    r->items = NULL;
    r->status = kvs_keys(c->srv->kvs, m->prefix, m->prefix_len, m->limit,
                         keys_p, &n, &more);
    if (r->status != KVP_OK || n == 0)
        return;
    r->items = calloc(n, sizeof(*r->items));
    if (r->items == NULL) {
        r->status = KVP_ERR_NO_MEMORY;
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        r->items[i].key = (const uint8_t *)(*keys_p)[i].key;
        r->items[i].key_len = (*keys_p)[i].key_len;
        r->items[i].len = (*keys_p)[i].len;
    }
    r->n = n;
    r->flags = more ? PROTO_KEYS_MORE : 0;
}

/* SHM_ATTACH: a segment for a same-host client that has authenticated
 * (this runs only in CONN_READY). */
static void on_shm_attach(struct srv_conn *c, struct proto_msg *r)
{
    r->status = KVP_ERR_NOT_SUPPORTED;
    if (c->shm == NULL && shm_chan_offerable(c->fd))
        r->status = shm_chan_create(
            &c->shm, r,
            c->srv->shm_index);
    if (r->status != KVP_OK)
        KVP_LOG_I(&c->srv->log,
                  "server: conn %llu (%s): no same-host rings (%s)",
                  (unsigned long long)c->id, c->peer,
                  c->shm != NULL ? "asked twice" : "not offered or no memory");
}

/* SHM_SWITCH: the client moved onto the rings, or could not attach. */
static int on_shm_switch(struct srv_conn *c, struct proto_msg *m)
{
    if (c->shm == NULL || c->shm_on)
        return -1;
    if (m->flags & PROTO_SHM_SWITCH_ATTACHED) {
        shm_chan_attached(c->shm);
        c->shm_on = 1;
        KVP_LOG_I(&c->srv->log, "server: conn %llu (%s) on same-host rings",
                  (unsigned long long)c->id, c->peer);
    } else {
        shm_chan_destroy(c->shm);
        c->shm = NULL;
    }
    return 0;
}

/* ALLOC items; with PROTO_ALLOC_GROUPS a run of consecutive items with the
 * same non-zero group number is one TP group (base key = the first
 * base_len bytes of the run's first key). */
static void do_alloc(struct srv_conn *c, struct proto_msg *m)
{
    struct kvs *kvs = c->srv->kvs;
    uint32_t flags = m->flags & PROTO_ALLOC_OVERWRITE;
    struct kvs_group *g = NULL;
    int run_failed = 0; /* the group of this run could not be opened */
    for (uint32_t i = 0; i < m->n; i++) {
        struct proto_item *it = &m->items[i];
        uint32_t gno = (m->flags & PROTO_ALLOC_GROUPS) ? it->group : 0;
        int starts = i == 0 || gno == 0 || gno != m->items[i - 1].group;
        if (starts) {
            kvs_group_close(kvs, g);
            g = NULL;
            run_failed = 0;
        }
        it->addr = it->id = 0;
        if (gno != 0 && starts)
            g = kvs_group_open(kvs, c->id, it->key, it->base_len, flags);
        if (gno != 0 && (g == NULL || run_failed)) {
            run_failed = 1;
            it->status = KVP_ERR_NO_MEMORY;
            continue;
        }
        it->status = kvs_alloc_in(kvs, g, c->id, it->key, it->key_len,
                                  it->len, flags, &it->addr, &it->id);
    }
    kvs_group_close(kvs, g);
}

/* ---- arenas (docs/protocol.md, "Puts with one round trip") ------------ */

#define ARENA_MIN (64u << 10)
_Static_assert(ALLOC_ALIGN == PROTO_ARENA_ALIGN, "the client rounds too");

/* The unfilled rest of the arena goes back to the pool. */
static void arena_drop(struct srv_conn *c)
{
    uint64_t end = c->arena_addr + c->arena_len;
    if (c->arena_len > 0 && end > c->arena_cur)
        kvs_arena_give(c->srv->kvs, c->arena_cur, end - c->arena_cur);
    c->arena_addr = c->arena_len = c->arena_cur = 0;
}

/* A fresh arena in place of the current one: up to want bytes (at most
 * 1/8 of the pool) of free space, at least need (at least ARENA_MIN);
 * none when the pool cannot give that. */
static void arena_refill(struct srv_conn *c, uint64_t want, uint64_t need)
{
    uint64_t cap = c->srv->pool.size / 8;
    want = (want < cap ? want : cap) & ~(uint64_t)(ALLOC_ALIGN - 1);
    need = need > ARENA_MIN ? alloc_rounded(need) : ARENA_MIN;
    arena_drop(c);
    if (need > want)
        return;
    uint64_t addr, len;
    int32_t st = kvs_arena_take(c->srv->kvs, need, want, &addr, &len);
    if (st != KVP_OK) {
        KVP_LOG_D(&c->srv->log,
                  "server: conn %llu: no arena of %llu..%llu bytes: %s",
                  (unsigned long long)c->id, (unsigned long long)need,
                  (unsigned long long)want, kvp_status_name(st));
        return;
    }
    c->arena_addr = c->arena_cur = addr;
    c->arena_len = len;
}

/* PUT_AT: each item is the client's next piece of the arena (a gap before
 * it - a put the client dropped - goes back to the pool); then a fresh
 * arena when the client asks. The reply says where the arena stands. */
static void do_put_at(struct srv_conn *c, struct proto_msg *m,
                      struct proto_msg *r)
{
    uint32_t flags = m->flags & PROTO_ALLOC_OVERWRITE;
    for (uint32_t i = 0; i < m->n; i++) {
        struct proto_item *it = &m->items[i];
        if (it->len == 0) { /* takes no space: no piece of anything */
            it->status = kvs_put_at(c->srv->kvs, c->id, it->key, it->key_len,
                                    (uint64_t)(uintptr_t)c->srv->pool.base,
                                    0, flags);
            continue;
        }
        uint64_t need = alloc_rounded(it->len);
        uint64_t end = c->arena_addr + c->arena_len;
        if (c->arena_len == 0 || it->addr < c->arena_cur || it->addr > end ||
            (it->addr - c->arena_cur) % ALLOC_ALIGN != 0 ||
            need > end - it->addr) {
            KVP_LOG_W(&c->srv->log,
                      "server: conn %llu: PUT_AT of '%.*s' (%llu bytes at "
                      "0x%llx) is not the next piece of its arena; refused",
                      (unsigned long long)c->id, (int)it->key_len, it->key,
                      (unsigned long long)it->len,
                      (unsigned long long)it->addr);
            it->status = KVP_ERR_INVALID;
            continue;
        }
        if (it->addr > c->arena_cur)
            kvs_arena_give(c->srv->kvs, c->arena_cur, it->addr - c->arena_cur);
        c->arena_cur = it->addr + need;
        it->status = kvs_put_at(c->srv->kvs, c->id, it->key, it->key_len,
                                it->addr, it->len, flags);
    }
    if (m->want > 0)
        arena_refill(c, m->want, m->need);
    r->arena_addr = c->arena_addr;
    r->arena_len = c->arena_len;
    r->arena_cursor = c->arena_cur;
}

/* The capability frame m needs (0: none). */
static uint32_t frame_cap(const struct proto_msg *m)
{
    if (m->type == PROTO_ALLOC && (m->flags & PROTO_ALLOC_GROUPS))
        return PROTO_SERVER_CAP_GROUPS;
    if (m->type == PROTO_REMOVE_PREFIX)
        return PROTO_SERVER_CAP_REMOVE_PREFIX;
    if (m->type == PROTO_PUT_AT)
        return PROTO_SERVER_CAP_ARENA;
    return m->type == PROTO_KEYS ? PROTO_SERVER_CAP_KEYS : 0;
}

/* Executes request m; fills its items in place and reply r. -1: protocol
 * violation (a frame that is not a request, or one that needs a
 * capability this server withholds: what an older server does). */
static int dispatch(struct srv_conn *c, struct proto_msg *m,
                    struct proto_msg *r)
{
    uint32_t cap = frame_cap(m);
    if (cap != 0 && !(c->srv->caps & cap))
        return -1;
    struct kvs *kvs = c->srv->kvs;
    uint64_t now = kvp_now_ns();
    r->type = (uint16_t)(m->type + 1);
    r->req_id = m->req_id;
    r->n = m->n;
    r->items = m->items;
    for (uint32_t i = 0; i < m->n; i++) {
        struct proto_item *it = &m->items[i];
        switch (m->type) {
        case PROTO_COMMIT:
            it->status = kvs_commit(kvs, c->id, it->id);
            break;
        case PROTO_ABORT:
            it->status = kvs_abort(kvs, c->id, it->id);
            break;
        case PROTO_LOOKUP:
            it->addr = it->len = it->id = 0;
            it->status = kvs_lookup(kvs, c->id, it->key, it->key_len, m->flags,
                                    now, &it->addr, &it->len, &it->id);
            break;
        case PROTO_RELEASE:
        case PROTO_RELEASE_NOREPLY:
            it->status = kvs_release(kvs, c->id, it->id);
            break;
        case PROTO_REMOVE:
            it->status = kvs_remove(kvs, it->key, it->key_len);
            break;
        default:
            break;
        }
    }
    switch (m->type) {
    case PROTO_ALLOC:
        do_alloc(c, m);
        return 0;
    case PROTO_PUT_AT:
        do_put_at(c, m, r);
        return 0;
    case PROTO_REMOVE_PREFIX:
        r->n = 0;
        r->items = NULL;
        r->status = kvs_remove_prefix(kvs, m->prefix, m->prefix_len,
                                      &r->count);
        return 0;
    case PROTO_COMMIT:
    case PROTO_ABORT:
    case PROTO_LOOKUP:
    case PROTO_RELEASE:
    case PROTO_REMOVE:
        return 0;
    case PROTO_RELEASE_NOREPLY:
        for (uint32_t i = 0; i < m->n; i++)
            if (m->items[i].status != KVP_OK)
                KVP_LOG_D(&c->srv->log,
                          "server: conn %llu: release of lease %llu: %d",
                          (unsigned long long)c->id,
                          (unsigned long long)m->items[i].id,
                          m->items[i].status);
        r->type = 0; /* nothing to send */
        return 0;
    case PROTO_STATS:
        do_stats(c, r);
        return 0;
    case PROTO_KEYS: {
        struct kvs_key *keys = NULL;
        do_keys(c, m, r, &keys);
        m->items = r->items; /* freed with m, after the reply is sent */
        c->reply_block = keys;
        return 0;
    }
    case PROTO_SHM_ATTACH:
        on_shm_attach(c, r);
        return 0;
    case PROTO_SHM_SWITCH:
        r->type = 0; /* nothing to send */
        return on_shm_switch(c, m);
    default:
        return -1;
    }
}

/* One frame in, at most one reply out (r->type 0: none): the connection's
 * state machine, shared by the TCP carrier (serve) and the in-process one
 * (kvp_server_local_call). -1: close the connection once r is sent. */
static int conn_on_frame(struct srv_conn *c, struct proto_msg *m,
                         struct proto_msg *r)
{
    memset(r, 0, sizeof(*r));
    free(c->reply_block); /* the previous reply went out */
    c->reply_block = NULL;
    int go;
    switch (c->state) {
    case CONN_HELLO:
        go = on_hello(c, m, r);
        break;
    case CONN_CONNECT:
        go = on_connect(c, m, r);
        break;
    case CONN_READY: {
        uint64_t t0 = kvp_now_ns();
        go = dispatch(c, m, r);
        if (go == 0)
            metrics_frame(&c->srv->metrics, m, kvp_now_ns() - t0);
        if (go != 0) {
            memset(r, 0, sizeof(*r)); /* not a request: nothing to answer */
            KVP_LOG_W(&c->srv->log,
                      "server: conn %llu (%s): unexpected %s "
                      "frame after the handshake; closing",
                      (unsigned long long)c->id, c->peer,
                      proto_type_name(m->type));
        }
        break;
    }
    default:
        go = -1;
        break;
    }
    if (go != 0)
        c->state = CONN_CLOSED;
    return go;
}

static int32_t conn_call(struct srv_conn *c, const uint8_t *frame, size_t len,
                         struct proto_buf *reply);

static int32_t shm_call(void *conn, const uint8_t *frame, size_t len,
                        struct proto_buf *reply)
{
    struct srv_conn *c = conn;
    int32_t st = conn_call(c, frame, len, reply);
    return st == KVP_OK && c->state == CONN_CLOSED ? KVP_ERR_DISCONNECTED : st;
}

static void serve(struct srv_conn *c)
{
    while (c->state != CONN_CLOSED && !atomic_load(&c->srv->stopping)) {
        if (c->shm_on) {
            shm_chan_serve(c->shm, c->fd, &c->srv->stopping, shm_call, c,
                           c->id, &c->srv->log);
            return;
        }
        /* a client must say HELLO and CONNECT promptly and briefly */
        int ready = c->state == CONN_READY;
        struct proto_msg m, r;
        if (conn_recv(c, ready ? PROTO_MAX_BODY : PROTO_HANDSHAKE_MAX_BODY,
                      ready ? -1 : SRV_HANDSHAKE_MS,
                      ready ? SRV_FRAME_REST_MS : SRV_HANDSHAKE_MS, &m) != 0)
            return;
        int go = conn_on_frame(c, &m, &r);
        /* r's items point into m: encode before freeing m */
        int sent = r.type != 0 ? conn_send(c, &r) : 0;
        proto_msg_free(&m);
        if (go != 0 || sent != 0)
            return;
    }
}

static void *conn_main(void *arg)
{
    struct srv_conn *c = arg;
    serve(c);
    struct kvp_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock); /* leave the room before fd closes */
    if (c->preauth)
        srv->n_preauth--;
    if (c->counted)
        srv->n_ready--;
    c->preauth = c->counted = 0;
    pthread_mutex_unlock(&srv->lock);
    kvs_owner_gone(c->srv->kvs, c->id);
    arena_drop(c);
    if (c->ep != NULL)
        c->xport->ops->ep_destroy(c->ep);
    c->ep = NULL;
    shm_chan_destroy(c->shm);
    c->shm = NULL;
    close(c->fd);
    c->fd = -1;
    proto_buf_free(&c->in);
    proto_buf_free(&c->out);
    free(c->reply_block);
    c->reply_block = NULL;
    KVP_LOG_D(&c->srv->log, "server: conn %llu (%s) closed",
              (unsigned long long)c->id, c->peer);
    atomic_store(&c->done, 1);
    return NULL;
}

/* ---- accept loop -------------------------------------------------------- */

static void peer_name(int fd, char *buf, size_t cap, char *ip, size_t ip_cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(buf, cap, "%s:%u", host, port);
    snprintf(ip, ip_cap, "%s", host);
}

/* Joins and frees connections whose thread finished (all with `all`). */
static void reap(struct kvp_server *srv, int all)
{
    pthread_mutex_lock(&srv->lock);
    struct srv_conn **link = &srv->conns;
    while (*link != NULL) {
        struct srv_conn *c = *link;
        if (all || atomic_load(&c->done)) {
            *link = c->next;
            srv->n_conns--;
            pthread_mutex_unlock(&srv->lock);
            pthread_join(c->thread, NULL);
            free(c);
            pthread_mutex_lock(&srv->lock);
            link = &srv->conns; /* list may have changed: rescan */
        } else {
            link = &c->next;
        }
    }
    pthread_mutex_unlock(&srv->lock);
}

/* Closes the oldest connection still in the handshake: of peer_ip when
 * it has SRV_MAX_PREAUTH_PEER of them, else of anyone when the room holds
 * SRV_MAX_PREAUTH (caller holds srv->lock). Its thread sees the socket
 * shut and exits; the fd stays open until then, so this cannot hit a
 * reused descriptor. */
static void make_room(struct kvp_server *srv, const char *peer_ip)
{
    struct srv_conn *oldest_peer = NULL, *oldest = NULL;
    uint32_t n_peer = 0;
    for (struct srv_conn *c = srv->conns; c != NULL; c = c->next) {
        if (!c->preauth)
            continue;
        if (strcmp(c->peer_ip, peer_ip) == 0) {
            n_peer++;
            if (oldest_peer == NULL || c->id < oldest_peer->id)
                oldest_peer = c;
        }
        if (oldest == NULL || c->id < oldest->id)
            oldest = c;
    }
    struct srv_conn *victim = NULL;
    if (n_peer >= SRV_MAX_PREAUTH_PEER)
        victim = oldest_peer;
    else if (srv->n_preauth >= SRV_MAX_PREAUTH)
        victim = oldest;
    if (victim == NULL)
        return;
    victim->preauth = 0;
    srv->n_preauth--;
    shutdown(victim->fd, SHUT_RDWR);
    /* a flood would fill the log: the first eviction and every 1024th */
    if (srv->n_evicted++ % 1024 == 0)
        KVP_LOG_W(&srv->log,
                  "server: closed conn %llu (%s) in its handshake to make "
                  "room for a new connection from %s (at most %d "
                  "handshakes%s); %llu so far",
                  (unsigned long long)victim->id, victim->peer, peer_ip,
                  n_peer >= SRV_MAX_PREAUTH_PEER ? SRV_MAX_PREAUTH_PEER
                                                 : SRV_MAX_PREAUTH,
                  n_peer >= SRV_MAX_PREAUTH_PEER ? " per address" : "",
                  (unsigned long long)srv->n_evicted);
}

static void accept_one(struct kvp_server *srv)
{
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            KVP_LOG_W(&srv->log, "server: accept: %s", strerror(errno));
        if (errno == EMFILE || errno == ENFILE)
            usleep(10000); /* do not spin while out of descriptors */
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct srv_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        KVP_LOG_E(&srv->log, "server: out of memory accepting a client");
        close(fd);
        return;
    }
    c->srv = srv;
    c->fd = fd;
    peer_name(fd, c->peer, sizeof(c->peer), c->peer_ip, sizeof(c->peer_ip));
    pthread_mutex_lock(&srv->lock);
    make_room(srv, c->peer_ip);
    c->preauth = 1;
    srv->n_preauth++;
    c->id = ++srv->next_conn_id;
    int rc = pthread_create(&c->thread, NULL, conn_main, c);
    if (rc != 0) {
        pthread_mutex_unlock(&srv->lock);
        KVP_LOG_E(&srv->log, "server: cannot start a thread for %s: %s",
                  c->peer, strerror(rc));
        pthread_mutex_lock(&srv->lock);
        srv->n_preauth--;
        pthread_mutex_unlock(&srv->lock);
        close(fd);
        free(c);
        return;
    }
    c->next = srv->conns;
    srv->conns = c;
    srv->n_conns++;
    pthread_mutex_unlock(&srv->lock);
    KVP_LOG_D(&srv->log, "server: conn %llu from %s", (unsigned long long)c->id,
              c->peer);
}

static void gauges_read(struct kvp_server *srv, struct metrics_gauges *g)
{
    struct kvs_stats st;
    kvs_stats(srv->kvs, &st);
    pthread_mutex_lock(&srv->lock);
    g->connections = srv->n_conns;
    pthread_mutex_unlock(&srv->lock);
    g->pool_size = srv->pool.size;
    g->used_bytes = st.used_bytes;
    g->objects = st.objects;
    g->pending = st.pending;
    g->leases = st.leases;
    g->retired = st.retired;
    g->evictions = st.evictions;
    g->lease_expiries = st.lease_expiries;
}

char *kvp_server_metrics_text(struct kvp_server *srv, size_t *len_p)
{
    struct metrics_gauges g;
    gauges_read(srv, &g);
    return metrics_render(&srv->metrics, &g, len_p);
}

/* Every summary_ms: one line at info that says how the server is. */
static void summary_maybe(struct kvp_server *srv)
{
    uint64_t now = kvp_now_ns();
    if (now < srv->next_summary_ns || srv->log.level < KVP_LOG_INFO)
        return;
    srv->next_summary_ns = now + (uint64_t)srv->summary_ms * 1000000u;
    struct metrics_gauges g;
    gauges_read(srv, &g);
    uint64_t reqs = 0;
    for (int op = 0; op < MET_OPS; op++)
        reqs += atomic_load(&srv->metrics.frames[op]);
    char used[32], total[32];
    kvp_fmt_bytes(g.used_bytes, used, sizeof(used));
    kvp_fmt_bytes(g.pool_size, total, sizeof(total));
    KVP_LOG_I(&srv->log,
              "server: summary: pool %s of %s used (%.1f%%), %llu objects, "
              "%llu pending, %llu leases, %llu evictions, %llu connections, "
              "%llu requests",
              used, total,
              g.pool_size ? 100.0 * (double)g.used_bytes / (double)g.pool_size
                          : 0.0,
              (unsigned long long)g.objects, (unsigned long long)g.pending,
              (unsigned long long)g.leases, (unsigned long long)g.evictions,
              (unsigned long long)g.connections, (unsigned long long)reqs);
}

static void *accept_main(void *arg)
{
    struct kvp_server *srv = arg;
    /* Expired leases are swept a few times per lease period. */
    int sweep_ms = (int)(srv->lease_timeout_ms / 4);
    if (sweep_ms < 10)
        sweep_ms = 10;
    if (sweep_ms > 1000)
        sweep_ms = 1000;
    while (!atomic_load(&srv->stopping)) {
        struct pollfd p[2] = {{srv->listen_fd, POLLIN, 0},
                              {srv->wake[0], POLLIN, 0}};
        int n = poll(p, 2, sweep_ms);
        kvs_expire(srv->kvs, kvp_now_ns());
        reap(srv, 0);
        summary_maybe(srv);
        if (n > 0 && (p[1].revents & POLLIN))
            break;
        if (n > 0 && (p[0].revents & POLLIN))
            accept_one(srv);
    }
    return NULL;
}

/* ---- in-process link ----------------------------------------------------- */

/* The embedded server's clients live in the same process: their frames
 * are handed over in the caller's thread instead of through a socket and
 * two thread wake-ups. Same frames, same checks, same state machine. */
struct kvp_server_local {
    struct srv_conn c;
};

int32_t kvp_server_local_open(struct kvp_server *srv,
                              struct kvp_server_local **lc_p)
{
    if (srv == NULL || lc_p == NULL) {
        KVP_LOG_E(srv != NULL ? &srv->log : NULL,
                  "server: local_open: srv and lc_p must not be NULL");
        return KVP_ERR_INVALID;
    }
    if (atomic_load(&srv->stopping))
        return KVP_ERR_DISCONNECTED;
    struct kvp_server_local *lc = calloc(1, sizeof(*lc));
    if (lc == NULL)
        return KVP_ERR_NO_MEMORY;
    struct srv_conn *c = &lc->c;
    c->srv = srv;
    c->fd = -1;
    c->state = CONN_HELLO;
    pthread_mutex_lock(&srv->lock);
    if (srv->n_ready >= SRV_MAX_CONNS) {
        pthread_mutex_unlock(&srv->lock);
        KVP_LOG_W(&srv->log,
                  "server: refusing a local link: %d connections "
                  "open (KVP_ERR_NO_SPACE)",
                  SRV_MAX_CONNS);
        free(lc);
        return KVP_ERR_NO_SPACE;
    }
    c->id = ++srv->next_conn_id;
    c->counted = 1;
    srv->n_ready++;
    srv->n_conns++;
    pthread_mutex_unlock(&srv->lock);
    snprintf(c->peer, sizeof(c->peer), "local");
    *lc_p = lc;
    return KVP_OK;
}

int32_t kvp_server_local_call(struct kvp_server_local *lc, const uint8_t *frame,
                              size_t len, struct proto_buf *reply)
{
    if (lc == NULL || frame == NULL || reply == NULL)
        return KVP_ERR_INVALID;
    return conn_call(&lc->c, frame, len, reply);
}

/* One whole frame by call (the in-process link and the same-host rings):
 * parse, decode, the connection's state machine, encode the reply. */
static int32_t conn_call(struct srv_conn *c, const uint8_t *frame, size_t len,
                         struct proto_buf *reply)
{
    reply->len = 0;
    if (c->state == CONN_CLOSED || atomic_load(&c->srv->stopping))
        return KVP_ERR_DISCONNECTED;
    struct proto_hdr h;
    const char *why = "frame shorter than its header";
    uint32_t max_body =
        c->state == CONN_READY ? PROTO_MAX_BODY : PROTO_HANDSHAKE_MAX_BODY;
    int ok = len >= PROTO_HDR_LEN &&
             proto_hdr_parse(frame, max_body, &h, &why) == PROTO_OK;
    if (ok && len - PROTO_HDR_LEN != h.body_len) {
        why = "frame length differs from its header's body_len";
        ok = 0;
    }
    struct proto_msg m, r;
    if (ok && proto_decode(&h, frame + PROTO_HDR_LEN, &m, &why) != PROTO_OK)
        ok = 0;
    if (!ok) {
        KVP_LOG_W(&c->srv->log,
                  "server: conn %llu (%s): malformed frame: %s; closing",
                  (unsigned long long)c->id, c->peer, why);
        c->state = CONN_CLOSED;
        return KVP_ERR_TRANSPORT;
    }
    conn_on_frame(c, &m, &r); /* a closing state still delivers r */
    int32_t st = KVP_OK;
    if (r.type != 0 && proto_encode(&r, reply) != 0) {
        KVP_LOG_E(&c->srv->log, "server: conn %llu: cannot encode %s reply",
                  (unsigned long long)c->id, proto_type_name(r.type));
        c->state = CONN_CLOSED;
        st = KVP_ERR_NO_MEMORY;
    }
    proto_msg_free(&m);
    return st;
}

void kvp_server_local_close(struct kvp_server_local *lc)
{
    if (lc == NULL)
        return;
    struct srv_conn *c = &lc->c;
    struct kvp_server *srv = c->srv;
    kvs_owner_gone(srv->kvs, c->id);
    arena_drop(c);
    if (c->ep != NULL)
        c->xport->ops->ep_destroy(c->ep);
    pthread_mutex_lock(&srv->lock);
    srv->n_conns--;
    srv->n_ready--;
    pthread_mutex_unlock(&srv->lock);
    KVP_LOG_D(&srv->log, "server: conn %llu (local) closed",
              (unsigned long long)c->id);
    free(c->reply_block);
    free(lc);
}

/* ---- public ------------------------------------------------------------- */

static int32_t copy_params(struct kvp_server *srv,
                           const struct kvp_server_params *p)
{
    srv->log = p->log;
    srv->host = strdup(p->listen_host != NULL ? p->listen_host : "127.0.0.1");
    if (srv->host == NULL)
        return KVP_ERR_NO_MEMORY;
    if (p->auth_token != NULL) {
        srv->auth_len = strlen(p->auth_token);
        if (srv->auth_len == 0) {
            KVP_LOG_E(&srv->log, "server: auth_token is empty");
            return KVP_ERR_INVALID;
        }
        srv->auth_token = strdup(p->auth_token);
        if (srv->auth_token == NULL)
            return KVP_ERR_NO_MEMORY;
    }
    srv->lease_timeout_ms = p->lease_timeout_ms ? p->lease_timeout_ms
                                                : KVS_DEFAULT_LEASE_TIMEOUT_MS;
    srv->summary_ms = p->summary_ms ? p->summary_ms : SRV_SUMMARY_MS;
    srv->caps = PROTO_SERVER_CAPS & ~p->caps_withheld;
    srv->next_summary_ns = kvp_now_ns() + (uint64_t)srv->summary_ms * 1000000u;
    metrics_init(&srv->metrics);
    return KVP_OK;
}

static void free_params(struct kvp_server *srv)
{
    free(srv->host);
    if (srv->auth_token != NULL)
        memset(srv->auth_token, 0, srv->auth_len);
    free(srv->auth_token);
}

int32_t kvp_server_start(const struct kvp_server_params *params,
                         struct kvp_server **srv_p)
{
    if (params == NULL || srv_p == NULL) {
        KVP_LOG_E(params != NULL ? &params->log : NULL,
                  "server: start: params and srv_p must not be NULL");
        return KVP_ERR_INVALID;
    }
    struct kvp_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return KVP_ERR_NO_MEMORY;
    srv->listen_fd = srv->wake[0] = srv->wake[1] = -1;
    pthread_mutex_init(&srv->lock, NULL);
    int32_t st = copy_params(srv, params);
    if (st != KVP_OK)
        goto err_params;
    /* every listener of the server on the interface of --listen, its
     * transports' included */
    struct kvp_xport_params xp = params->xport;
    xp.struct_size = sizeof(xp);
    xp.bind_host = srv->host;
    st = pool_create(&srv->pool, params->pool_size, params->transports, &xp,
                     &srv->log);
    if (st != KVP_OK)
        goto err_params;
    if (!params->shared_index_off &&
        shm_index_create(&srv->shm_index, srv->pool.size) != KVP_OK)
        KVP_LOG_W(&srv->log, "server: no shared index (no memory for its "
                             "segment): same-host gets take a round trip");
    struct kvs_params kp = {
        .size = srv->pool.size,
        .base_addr = (uint64_t)(uintptr_t)srv->pool.base,
        .lease_timeout_ms = srv->lease_timeout_ms,
        .log = &srv->log,
        .shidx = srv->shm_index != NULL ? &srv->shm_index->ix : NULL,
    };
    st = kvs_create(&kp, &srv->kvs);
    if (st != KVP_OK)
        goto err_pool;
    if (pipe2(srv->wake, O_CLOEXEC) != 0) {
        st = KVP_ERR_INTERNAL;
        goto err_kvs;
    }
    srv->listen_fd = net_listen(srv->host, params->listen_port, &srv->port);
    if (srv->listen_fd < 0) {
        KVP_LOG_E(&srv->log, "server: cannot listen on %s:%u: %s", srv->host,
                  (unsigned)params->listen_port, strerror(errno));
        st = errno == EADDRINUSE ? KVP_ERR_EXISTS : KVP_ERR_INVALID;
        goto err_pipe;
    }
    int rc = pthread_create(&srv->acceptor, NULL, accept_main, srv);
    if (rc != 0) {
        KVP_LOG_E(&srv->log, "server: cannot start the accept thread: %s",
                  strerror(rc));
        st = KVP_ERR_INTERNAL;
        goto err_listen;
    }
    char pool_sz[32];
    KVP_LOG_I(&srv->log,
              "server: listening on %s:%u, pool %s at "
              "%p, %u transport(s), auth %s",
              srv->host, (unsigned)srv->port,
              kvp_fmt_bytes(srv->pool.size, pool_sz, sizeof(pool_sz)),
              srv->pool.base,
              srv->pool.n_xport, srv->auth_token != NULL ? "on" : "off");
    *srv_p = srv;
    return KVP_OK;

err_listen:
    close(srv->listen_fd);
err_pipe:
    close(srv->wake[0]);
    close(srv->wake[1]);
err_kvs:
    kvs_destroy(srv->kvs);
err_pool:
    shm_index_destroy(srv->shm_index);
    pool_destroy(&srv->pool);
err_params:
    free_params(srv);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
    return st;
}

uint16_t kvp_server_port(const struct kvp_server *srv)
{
    return srv != NULL ? srv->port : 0;
}

void kvp_server_stop(struct kvp_server *srv)
{
    if (srv == NULL)
        return;
    atomic_store(&srv->stopping, 1);
    char b = 1;
    while (write(srv->wake[1], &b, 1) < 0 && errno == EINTR)
        ;
    pthread_join(srv->acceptor, NULL);
    close(srv->listen_fd);
    reap(srv, 1); /* every connection thread sees wake[0] and returns */
    kvs_destroy(srv->kvs);
    shm_index_destroy(srv->shm_index);
    pool_destroy(&srv->pool);
    close(srv->wake[0]);
    close(srv->wake[1]);
    KVP_LOG_I(&srv->log, "server: stopped (port %u)", (unsigned)srv->port);
    free_params(srv);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

static int32_t local_link_open(void *server, void **link_p)
{
    return kvp_server_local_open(server, (struct kvp_server_local **)link_p);
}

static int32_t local_link_call(void *link, const uint8_t *frame, size_t len,
                               struct proto_buf *reply)
{
    return kvp_server_local_call(link, frame, len, reply);
}

static void local_link_close(void *link)
{
    kvp_server_local_close(link);
}

void kvp_server_local_link(struct kvp_server *srv,
                           struct proto_local_link *link)
{
    *link = (struct proto_local_link){.server = srv,
                                      .open = local_link_open,
                                      .call = local_link_call,
                                      .close = local_link_close};
}
