/*
 * store_client.c - client side of the control protocol (store_client.h):
 * handshake with auth and transport blob exchange, then synchronous batched
 * requests. Any I/O failure or protocol violation kills the connection,
 * because the request/reply stream can no longer be trusted.
 */
#include "store_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "net.h"
#include "proto.h"
#include "status_name.h"
#include "store_shm.h"

#define STORE_DEFAULT_TIMEOUT_MS 10000

struct store_conn {
    int fd; /* TCP carrier; -1 once dead or with a local link */
    struct proto_local_link link; /* in-process carrier (link.call) */
    void *lc; /* the open link; NULL once dead or with TCP */
    struct store_shm *shm; /* same-host rings: frames go there, fd stays
                            * open to tell either side the other is gone */
    uint32_t timeout_ms;
    uint32_t next_req;
    char peer[300];
    const struct kvp_logger *log;
    const struct kvp_transport_ops *tops;
    struct kvp_xport_ep *ep;
    struct kvp_xport_rkey *rkey;
    uint64_t pool_base, pool_size;
    uint32_t caps;        /* PROTO_SERVER_CAP_* from HELLO_R */
    uint32_t caps_warned; /* the missing ones already logged */
    /* the put arena (PUT_AT): [arena_addr, + arena_len), taken up to
     * arena_cur; what the server said last, plus pieces taken since */
    uint64_t arena_addr, arena_len, arena_cur;
    struct proto_buf in, out;
};

static void conn_kill(struct store_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    /* after the socket closed: the server's thread, asleep on the ring,
     * wakes, finds the socket gone and ends the connection now instead
     * of at its next look (100 ms) */
    store_shm_close(c->shm);
    c->shm = NULL;
    if (c->lc != NULL)
        c->link.close(c->lc);
    c->lc = NULL;
}

static int conn_up(const struct store_conn *c)
{
    return c->fd >= 0 || c->lc != NULL;
}

static int32_t net_status(int r)
{
    switch (r) {
    case NET_TIMEOUT:
        return KVP_ERR_TIMEOUT;
    case NET_NO_MEMORY:
        return KVP_ERR_NO_MEMORY;
    case NET_MALFORMED:
        return KVP_ERR_TRANSPORT;
    default:
        return KVP_ERR_DISCONNECTED;
    }
}

/* A failed call on the in-process link or the rings: logged here, once,
 * and the connection is closed. Returns st. */
static int32_t carrier_check(struct store_conn *c, const char *what,
                             const char *carrier, int32_t st)
{
    if (st != KVP_OK) {
        KVP_LOG_E(c->log, "store %s: %s: %s: %s; connection closed",
                  c->peer, what, carrier, kvp_status_name(st));
        conn_kill(c);
    }
    return st;
}

/* Numbers, encodes and sends req. Kills the connection if the send fails;
 * the failure is logged here, once. */
static int32_t send_frame(struct store_conn *c, struct proto_msg *req)
{
    if (!conn_up(c))
        return KVP_ERR_DISCONNECTED;
    req->req_id = ++c->next_req;
    const char *what = proto_type_name(req->type);
    if (proto_encode(req, &c->out) != 0) {
        KVP_LOG_E(c->log, "store %s: cannot encode %s request", c->peer, what);
        return KVP_ERR_INVALID; /* nothing sent: the connection is fine */
    }
    if (c->lc != NULL) /* the reply (if any) is in c->in after the call */
        return carrier_check(
            c, what, "in-process call",
            c->link.call(c->lc, c->out.data, c->out.len, &c->in));
    if (c->shm != NULL)
        return carrier_check(c, what, "same-host rings",
                             store_shm_send(c->shm, c->out.data, c->out.len,
                                            c->fd, c->timeout_ms));
    int r = net_send_all(c->fd, c->out.data, c->out.len, (int)c->timeout_ms);
    if (r != NET_OK) {
        KVP_LOG_E(c->log, "store %s: %s: %s; connection closed", c->peer, what,
                  net_result_str(r));
        conn_kill(c);
        return net_status(r);
    }
    return KVP_OK;
}

/* Receives the reply frame: from the socket, or already in c->in from a
 * local call. KVP_ERR_TRANSPORT: malformed, *why says how (the caller logs
 * it); any other failure is logged here and kills the connection. */
static int32_t recv_reply(struct store_conn *c, const char *what,
                          struct proto_hdr *h, const uint8_t **body,
                          const char **why)
{
    if (c->lc != NULL) {
        *why = "no reply frame";
        if (c->in.len < PROTO_HDR_LEN ||
            proto_hdr_parse(c->in.data, PROTO_MAX_BODY, h, why) != PROTO_OK)
            return KVP_ERR_TRANSPORT;
        if (c->in.len - PROTO_HDR_LEN != h->body_len) {
            *why = "reply length differs from its header";
            return KVP_ERR_TRANSPORT;
        }
        *body = c->in.data + PROTO_HDR_LEN;
        return KVP_OK;
    }
    if (c->shm != NULL) {
        int32_t st =
            store_shm_recv(c->shm, c->fd, c->timeout_ms, h, &c->in, why);
        *body = c->in.data;
        /* TRANSPORT: a malformed reply, which the caller logs with *why */
        return st == KVP_ERR_TRANSPORT
                   ? st
                   : carrier_check(c, what, "same-host rings", st);
    }
    int r = net_recv_frame(c->fd, PROTO_MAX_BODY, (int)c->timeout_ms,
                           (int)c->timeout_ms, -1, h, &c->in, why);
    if (r == NET_MALFORMED)
        return KVP_ERR_TRANSPORT;
    if (r != NET_OK) {
        KVP_LOG_E(c->log, "store %s: %s: %s%s%s; connection closed", c->peer,
                  what, net_result_str(r), *why ? ": " : "", *why);
        conn_kill(c);
        return net_status(r);
    }
    *body = c->in.data;
    return KVP_OK;
}

/* Sends req, receives and decodes the reply of type req->type + 1 into rep
 * (items malloc'd; free with proto_msg_free). Kills the connection on any
 * failure; the failure is logged here, once. */
static int32_t rpc(struct store_conn *c, struct proto_msg *req,
                   struct proto_msg *rep)
{
    memset(rep, 0, sizeof(*rep));
    int32_t sent = send_frame(c, req);
    if (sent != KVP_OK)
        return sent;
    const char *what = proto_type_name(req->type);
    struct proto_hdr h;
    const char *why = "";
    const uint8_t *body = NULL;
    int32_t got = recv_reply(c, what, &h, &body, &why);
    if (got != KVP_OK && got != KVP_ERR_TRANSPORT)
        return got; /* logged, connection closed */
    int st =
        got == KVP_OK ? proto_decode(&h, body, rep, &why) : PROTO_ERR_MALFORMED;
    if (st == PROTO_OK && (h.type != req->type + 1 || h.req_id != req->req_id))
        why = "reply of another type or request id";
    else if (st == PROTO_OK && req->type >= PROTO_ALLOC &&
             req->type <= PROTO_REMOVE && rep->status == KVP_OK &&
             rep->n != req->n)
        why = "reply item count differs from the request";
    else if (st == PROTO_OK)
        return KVP_OK;
    KVP_LOG_E(c->log, "store %s: bad %s reply: %s; connection closed", c->peer,
              what, why);
    proto_msg_free(rep);
    conn_kill(c);
    return st == PROTO_ERR_NO_MEMORY ? KVP_ERR_NO_MEMORY : KVP_ERR_TRANSPORT;
}

/* ---- open / close ------------------------------------------------------ */

static int32_t do_hello(struct store_conn *c, const char *tp_name,
                        const char *token, uint8_t mac[PROTO_MAC_LEN],
                        uint8_t *mac_len, uint32_t *srv_flags)
{
    struct proto_msg req = {.type = PROTO_HELLO};
    req.name = (const uint8_t *)tp_name;
    req.name_len = (uint8_t)strlen(tp_name);
    struct proto_msg rep;
    int32_t st = rpc(c, &req, &rep);
    if (st != KVP_OK)
        return st;
    if (rep.status == KVP_ERR_NOT_SUPPORTED)
        return rep.status; /* store_conn_open says what is offered */
    if (rep.status != KVP_OK) {
        KVP_LOG_E(c->log, "store %s: server refused HELLO (transport '%s'): "
                          "%s",
                  c->peer, tp_name, kvp_status_name(rep.status));
        return rep.status;
    }
    *mac_len = 0;
    *srv_flags = rep.flags;
    if (rep.flags & PROTO_SERVER_AUTH_REQUIRED) {
        if (token == NULL) {
            KVP_LOG_E(c->log,
                      "store %s: server requires authentication but "
                      "no auth_token is configured",
                      c->peer);
            return KVP_ERR_AUTH;
        }
        if (proto_auth_mac(token, strlen(token), rep.nonce, mac) != 0) {
            char why[256];
            KVP_LOG_E(c->log,
                      "store %s: cannot compute the auth proof "
                      "(HMAC-SHA256: %s)",
                      c->peer, proto_auth_error(why, sizeof(why)));
            return KVP_ERR_INTERNAL;
        }
        *mac_len = PROTO_MAC_LEN;
    }
    return KVP_OK;
}

static int32_t do_connect(struct store_conn *c,
                          const struct store_conn_params *p, const uint8_t *mac,
                          uint8_t mac_len)
{
    uint8_t blob[KVP_XPORT_BLOB_MAX];
    uint32_t blob_len = 0;
    int32_t st;
    if (c->tops != NULL) {
        st = c->tops->ep_create(p->tctx, blob, sizeof(blob), &blob_len, &c->ep);
        if (st != KVP_OK) {
            KVP_LOG_E(c->log, "store %s: %s ep_create failed: %s", c->peer,
                      c->tops->name, kvp_status_name(st));
            return st;
        }
    }
    struct proto_msg req = {.type = PROTO_CONNECT,
                            .mac_len = mac_len,
                            .blob = blob,
                            .blob_len = blob_len};
    memcpy(req.mac, mac, mac_len);
    struct proto_msg rep;
    st = rpc(c, &req, &rep);
    if (st != KVP_OK)
        return st;
    if (rep.status != KVP_OK) {
        KVP_LOG_E(c->log, "store %s: server refused CONNECT: %s", c->peer,
                  rep.status == KVP_ERR_AUTH ? "authentication failed "
                                               "(wrong auth_token)"
                                             : "transport setup failed");
        return rep.status;
    }
    c->pool_base = rep.pool_base;
    c->pool_size = rep.pool_size;
    if (c->tops == NULL)
        return KVP_OK;
    st = c->tops->ep_connect(c->ep, rep.blob, rep.blob_len);
    if (st != KVP_OK) {
        KVP_LOG_E(c->log, "store %s: %s ep_connect failed: %s", c->peer,
                  c->tops->name, kvp_status_name(st));
        return st;
    }
    st = c->tops->rkey_unpack(c->ep, rep.rkey, rep.rkey_len, &c->rkey);
    if (st != KVP_OK)
        KVP_LOG_E(c->log, "store %s: %s rkey_unpack of the pool failed: %s",
                  c->peer, c->tops->name, kvp_status_name(st));
    return st;
}

/* The same-host rings (after the handshake, so only an authenticated
 * client gets the segment): ask, attach, and tell the server whether the
 * frames move there. Any failure short of a broken connection leaves the
 * connection on TCP. */
static int32_t try_shm(struct store_conn *c)
{
    struct proto_msg req = {.type = PROTO_SHM_ATTACH}, rep;
    int32_t st = rpc(c, &req, &rep);
    if (st != KVP_OK)
        return st;
    const char *why = "the server could not make a segment";
    struct store_shm *sh = NULL;
    int ok = rep.status == KVP_OK && store_shm_attach(&rep, &sh, &why) == 0;
    struct proto_msg sw = {.type = PROTO_SHM_SWITCH,
                           .flags = ok ? PROTO_SHM_SWITCH_ATTACHED : 0};
    st = send_frame(c, &sw);
    if (st != KVP_OK) {
        store_shm_close(sh);
        return st;
    }
    if (!ok) {
        KVP_LOG_I(c->log, "store %s: same-host rings unavailable (%s); "
                          "control over TCP",
                  c->peer, why);
        return KVP_OK;
    }
    c->shm = sh;
    KVP_LOG_D(c->log, "store %s: control over same-host rings", c->peer);
    return KVP_OK;
}

static int32_t check_params(const struct store_conn_params *p,
                            struct store_conn **conn_p)
{
    const struct kvp_logger *lg = p != NULL ? p->log : NULL;
    const char *bad = NULL;
    if (p == NULL || conn_p == NULL)
        bad = "params and conn_p must not be NULL";
    else if (p->host == NULL || p->host[0] == '\0')
        bad = "host is empty";
    else if (p->port == 0)
        bad = "port is 0";
    else if ((p->tops == NULL) != (p->tctx == NULL))
        bad = "tops and tctx must both be set (or both NULL: control only)";
    else if (p->tops != NULL &&
             (p->tops->name == NULL || strlen(p->tops->name) > PROTO_NAME_MAX))
        bad = "transport name missing or longer than 32 bytes";
    else if (p->auth_token != NULL && p->auth_token[0] == '\0')
        bad = "auth_token is empty";
    if (bad != NULL) {
        KVP_LOG_E(lg, "store: open: %s", bad);
        return KVP_ERR_INVALID;
    }
    return KVP_OK;
}

/* A server refused our transport: ask it (control only, quietly) which
 * ones it offers, and say so with the fix. */
static void log_refused(const struct store_conn_params *params)
{
    struct kvp_logger quiet = {NULL, NULL, -1};
    struct store_conn_params q = *params;
    q.tops = NULL;
    q.tctx = NULL;
    q.log = &quiet;
    struct store_conn *c = NULL;
    struct store_server_stats s = {0};
    int known = store_conn_open(&q, &c) == KVP_OK &&
                store_server_stats(c, &s) == KVP_OK;
    if (c != NULL)
        store_conn_close(c);
    const char *offer = !known                 ? "(could not ask it)"
                        : s.transports == 1    ? "ucx"
                        : s.transports == 2    ? "verbs"
                        : s.transports == 3    ? "ucx, verbs"
                                               : "none (control only)";
    KVP_LOG_E(params->log,
              "store %s:%u: server refused HELLO (transport '%s'): "
              "KVP_ERR_NOT_SUPPORTED; it offers: %s. Set transport= to one "
              "of those, or start it with --transports ucx,verbs",
              params->host, (unsigned)params->port, params->tops->name,
              offer);
}

int32_t store_conn_open(const struct store_conn_params *params,
                        struct store_conn **conn_p)
{
    int32_t st = check_params(params, conn_p);
    if (st != KVP_OK)
        return st;
    struct store_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return KVP_ERR_NO_MEMORY;
    c->log = params->log;
    c->tops = params->tops;
    c->timeout_ms =
        params->timeout_ms ? params->timeout_ms : STORE_DEFAULT_TIMEOUT_MS;
    snprintf(c->peer, sizeof(c->peer), "%s:%u", params->host,
             (unsigned)params->port);
    const char *err = NULL;
    int eno = 0;
    c->fd = -1;
    if (params->local != NULL) {
        c->link = *params->local;
        st = c->link.open(c->link.server, &c->lc);
        if (st != KVP_OK) {
            KVP_LOG_E(c->log, "store %s: cannot open an in-process link (%s)",
                      c->peer, kvp_status_name(st));
            goto err;
        }
    } else {
        c->fd =
            net_connect(params->host, params->port, c->timeout_ms, &err, &eno);
    }
    if (c->lc == NULL && c->fd < 0) {
        KVP_LOG_E(c->log, "store %s: %s%s%s", c->peer, err, eno ? ": " : "",
                  eno ? strerror(eno) : "");
        st = eno == ETIMEDOUT ? KVP_ERR_TIMEOUT : KVP_ERR_DISCONNECTED;
        goto err;
    }
    uint8_t mac[PROTO_MAC_LEN];
    uint8_t mac_len = 0;
    uint32_t srv_flags = 0;
    st = do_hello(c, c->tops != NULL ? c->tops->name : "", params->auth_token,
                  mac, &mac_len, &srv_flags);
    c->caps = srv_flags & PROTO_SERVER_CAPS;
    if (st == KVP_ERR_NOT_SUPPORTED && c->tops != NULL)
        log_refused(params);
    else if (st == KVP_OK)
        st = do_connect(c, params, mac, mac_len);
    if (st == KVP_OK && c->fd >= 0 && !params->local_fastpath_off &&
        (srv_flags & PROTO_SERVER_SHM_OFFERED))
        st = try_shm(c);
    if (st != KVP_OK)
        goto err;
    *conn_p = c;
    return KVP_OK;

err:
    store_conn_close(c);
    return st;
}

void store_conn_close(struct store_conn *conn)
{
    if (conn == NULL)
        return;
    if (conn->rkey != NULL)
        conn->tops->rkey_destroy(conn->rkey);
    if (conn->ep != NULL)
        conn->tops->ep_destroy(conn->ep);
    conn_kill(conn);
    proto_buf_free(&conn->in);
    proto_buf_free(&conn->out);
    free(conn);
}

int store_conn_alive(const struct store_conn *conn)
{
    return conn != NULL && conn_up(conn);
}

/* On the rings nothing arrives on the socket: anything readable there
 * means the server closed it (stopped, killed, restarted). Its old index
 * and arena would still point into its old pool, so neither is used once
 * it is gone: the round trip then finds the connection dead (and the
 * engine reconnects). */
static int rings_alive(const struct store_conn *conn)
{
    if (conn == NULL || conn->fd < 0 || conn->shm == NULL)
        return 0;
    struct pollfd p = {conn->fd, POLLIN, 0};
    return poll(&p, 1, 0) == 0;
}

const struct shidx *store_conn_index(const struct store_conn *conn)
{
    return rings_alive(conn) ? store_shm_index(conn->shm) : NULL;
}

const char *store_conn_carrier(const struct store_conn *conn)
{
    if (conn == NULL || !conn_up(conn))
        return "closed";
    return conn->lc != NULL ? "local" : conn->shm != NULL ? "shm" : "tcp";
}

struct kvp_xport_ep *store_conn_ep(struct store_conn *conn)
{
    return conn != NULL ? conn->ep : NULL;
}

struct kvp_xport_rkey *store_conn_rkey(struct store_conn *conn)
{
    return conn != NULL ? conn->rkey : NULL;
}

/* ---- capabilities -------------------------------------------------------- */

static const char *cap_name(uint32_t cap)
{
    switch (cap) {
    case PROTO_SERVER_CAP_GROUPS:
        return "TP groups (ALLOC GROUPS)";
    case PROTO_SERVER_CAP_REMOVE_PREFIX:
        return "REMOVE_PREFIX";
    default:
        return "KEYS";
    }
}

/* KVP_OK when the server said in HELLO_R that it understands cap; else
 * KVP_ERR_NOT_SUPPORTED, logged once per connection and capability: an
 * older server would close the connection on the frame. */
static int32_t need_cap(struct store_conn *c, uint32_t cap, const char *op)
{
    if (c->caps & cap)
        return KVP_OK;
    if (!(c->caps_warned & cap)) {
        c->caps_warned |= cap;
        KVP_LOG_E(c->log,
                  "store %s: %s refused (KVP_ERR_NOT_SUPPORTED): the server "
                  "lacks the %s capability (a kvplug-server older than this "
                  "plugin); upgrade kvplug-server on %s to this plugin's "
                  "version",
                  c->peer, op, cap_name(cap), c->peer);
    }
    return KVP_ERR_NOT_SUPPORTED;
}

/* ---- batched requests --------------------------------------------------- */

static int key_valid(const char *key, uint16_t *len_p)
{
    if (key == NULL)
        return 0;
    size_t n = strnlen(key, PROTO_KEY_MAX + 1);
    if (n == 0 || n > PROTO_KEY_MAX)
        return 0;
    *len_p = (uint16_t)n;
    return 1;
}

static int32_t batch_args(struct store_conn *c, uint32_t n, const void *arr)
{
    if (c == NULL || (n > 0 && arr == NULL)) {
        KVP_LOG_E(c != NULL ? c->log : NULL,
                  "store: batch of %u items: NULL connection or array", n);
        return KVP_ERR_INVALID;
    }
    return conn_up(c) ? KVP_OK : KVP_ERR_DISCONNECTED;
}

/* Items [off, off + *cnt_p) go in the next frame: at most PROTO_MAX_ITEMS,
 * so a batch of any size is as many frames as it needs. */
static uint32_t frame_count(uint32_t n, uint32_t off)
{
    uint32_t left = n - off;
    return left < PROTO_MAX_ITEMS ? left : PROTO_MAX_ITEMS;
}

/* A keyed batch: items with invalid keys fail alone (KVP_ERR_INVALID) and
 * are not sent; map[j] = the caller's index of wire item j. */
struct keyed {
    struct proto_item *wire;
    uint32_t *map;
    uint32_t n;
};

static int32_t keyed_build(struct store_conn *c, uint32_t n,
                           const char *(*key_of)(const void *, uint32_t),
                           const void *arr, int32_t *bad_status,
                           size_t status_stride, struct keyed *k)
{
    k->n = 0;
    k->wire = calloc(n ? n : 1, sizeof(*k->wire));
    k->map = calloc(n ? n : 1, sizeof(*k->map));
    if (k->wire == NULL || k->map == NULL) {
        free(k->wire);
        free(k->map);
        return KVP_ERR_NO_MEMORY;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *key = key_of(arr, i);
        uint16_t len;
        int32_t *st = (int32_t *)((char *)bad_status + i * status_stride);
        if (!key_valid(key, &len)) {
            KVP_LOG_W(c->log,
                      "store: item %u: key is NULL, empty or longer "
                      "than %d bytes",
                      i, PROTO_KEY_MAX);
            *st = KVP_ERR_INVALID;
            continue;
        }
        k->wire[k->n].key = (const uint8_t *)key;
        k->wire[k->n].key_len = len;
        k->map[k->n++] = i;
    }
    return KVP_OK;
}

static void keyed_free(struct keyed *k)
{
    free(k->wire);
    free(k->map);
}

static const char *alloc_key(const void *arr, uint32_t i)
{
    return ((const struct store_alloc_item *)arr)[i].key;
}

static const char *lookup_key(const void *arr, uint32_t i)
{
    return ((const struct store_lookup_item *)arr)[i].key;
}

static int32_t alloc_frame(struct store_conn *conn, uint32_t n,
                           struct store_alloc_item *items, uint32_t flags)
{
    int32_t st;
    struct keyed k;
    st = keyed_build(conn, n, alloc_key, items, &items[0].status,
                     sizeof(items[0]), &k);
    if (st != KVP_OK)
        return st;
    /* TP group members need the server's GROUPS capability: without it
     * they fail alone and the rest of the frame goes as plain items */
    uint32_t kept = 0;
    for (uint32_t j = 0; j < k.n; j++) {
        struct store_alloc_item *it = &items[k.map[j]];
        if (it->group != 0 &&
            need_cap(conn, PROTO_SERVER_CAP_GROUPS, "TP put") != KVP_OK) {
            it->status = KVP_ERR_NOT_SUPPORTED;
            continue;
        }
        k.wire[kept] = k.wire[j];
        k.map[kept++] = k.map[j];
    }
    k.n = kept;
    for (uint32_t j = 0; j < k.n; j++) {
        const struct store_alloc_item *it = &items[k.map[j]];
        k.wire[j].len = it->len;
        k.wire[j].group = it->group;
        k.wire[j].base_len = it->base_len;
        if (it->group != 0)
            flags |= PROTO_ALLOC_GROUPS;
    }
    struct proto_msg req = {
        .type = PROTO_ALLOC, .flags = flags, .n = k.n, .items = k.wire};
    struct proto_msg rep;
    if (k.n > 0 && (st = rpc(conn, &req, &rep)) == KVP_OK) {
        for (uint32_t j = 0; j < k.n; j++) {
            struct store_alloc_item *it = &items[k.map[j]];
            it->status = rep.status;
            if (rep.status != KVP_OK)
                continue; /* frame-level refusal: no items in the reply */
            it->status = rep.items[j].status;
            it->raddr = rep.items[j].addr;
            it->alloc_id = rep.items[j].id;
        }
        proto_msg_free(&rep);
    }
    keyed_free(&k);
    return st;
}

/* A group never spans two frames (the server forms it from one frame's
 * items): a frame ends before a group that would not fit whole; a group
 * larger than a frame fails its members with KVP_ERR_INVALID. */
int32_t store_alloc(struct store_conn *conn, uint32_t n,
                    struct store_alloc_item *items, uint32_t flags)
{
    int32_t st = batch_args(conn, n, items);
    for (uint32_t off = 0; st == KVP_OK && off < n;) {
        uint32_t cnt = frame_count(n, off), end = off + cnt;
        uint32_t g = items[end - 1].group;
        if (end < n && g != 0 && items[end].group == g) {
            while (end > off && items[end - 1].group == g)
                end--; /* the group starts a frame of its own */
            if (end == off) {
                while (end < n && items[end].group == g) {
                    KVP_LOG_E(conn->log, "store: alloc of '%.128s': its "
                              "group has more than %u objects",
                              items[end].key, PROTO_MAX_ITEMS);
                    items[end++].status = KVP_ERR_INVALID;
                }
                off = end;
                continue;
            }
        }
        st = alloc_frame(conn, end - off, items + off, flags);
        off = end;
    }
    return st;
}

static int32_t lookup_frame(struct store_conn *conn, uint32_t n,
                            struct store_lookup_item *items, uint32_t flags)
{
    int32_t st;
    struct keyed k;
    st = keyed_build(conn, n, lookup_key, items, &items[0].status,
                     sizeof(items[0]), &k);
    if (st != KVP_OK)
        return st;
    struct proto_msg req = {
        .type = PROTO_LOOKUP, .flags = flags, .n = k.n, .items = k.wire};
    struct proto_msg rep;
    if (k.n > 0 && (st = rpc(conn, &req, &rep)) == KVP_OK) {
        for (uint32_t j = 0; j < k.n; j++) {
            struct store_lookup_item *it = &items[k.map[j]];
            it->status = rep.status;
            if (rep.status != KVP_OK)
                continue; /* frame-level refusal: no items in the reply */
            it->status = rep.items[j].status;
            it->raddr = rep.items[j].addr;
            it->len = rep.items[j].len;
            it->lease_id = rep.items[j].id;
        }
        proto_msg_free(&rep);
    }
    keyed_free(&k);
    return st;
}

int32_t store_lookup(struct store_conn *conn, uint32_t n,
                     struct store_lookup_item *items, uint32_t flags)
{
    int32_t st = batch_args(conn, n, items);
    for (uint32_t off = 0; st == KVP_OK && off < n;) {
        uint32_t cnt = frame_count(n, off);
        st = lookup_frame(conn, cnt, items + off, flags);
        off += cnt;
    }
    return st;
}

/* The wire items of an id batch (COMMIT, ABORT, RELEASE); NULL: no
 * memory. n > 0. */
static struct proto_item *id_items(uint32_t n, const uint64_t *ids)
{
    struct proto_item *wire = calloc(n, sizeof(*wire));
    for (uint32_t i = 0; wire != NULL && i < n; i++)
        wire[i].id = ids[i];
    return wire;
}

/* COMMIT/ABORT: n ids in, n statuses out (status may be NULL). */
static int32_t id_frame(struct store_conn *conn, uint16_t type, uint32_t n,
                        const uint64_t *ids, int32_t *status)
{
    int32_t st;
    struct proto_item *wire = id_items(n, ids);
    if (wire == NULL)
        return KVP_ERR_NO_MEMORY;
    struct proto_msg req = {.type = type, .n = n, .items = wire};
    struct proto_msg rep;
    st = rpc(conn, &req, &rep);
    if (st == KVP_OK) {
        for (uint32_t i = 0; status != NULL && i < n; i++)
            status[i] = rep.status != KVP_OK ? rep.status : rep.items[i].status;
        /* rep.items has n entries whenever rep.status is OK (rpc checked) */
        proto_msg_free(&rep);
    }
    free(wire);
    return st;
}

static int32_t id_batch(struct store_conn *conn, uint16_t type, uint32_t n,
                        const uint64_t *ids, int32_t *status)
{
    int32_t st = batch_args(conn, n, ids);
    for (uint32_t off = 0; st == KVP_OK && off < n;) {
        uint32_t cnt = frame_count(n, off);
        st = id_frame(conn, type, cnt, ids + off,
                      status != NULL ? status + off : NULL);
        off += cnt;
    }
    return st;
}

int32_t store_commit(struct store_conn *conn, uint32_t n,
                     const uint64_t *alloc_ids, int32_t *status)
{
    return id_batch(conn, PROTO_COMMIT, n, alloc_ids, status);
}

int32_t store_abort(struct store_conn *conn, uint32_t n,
                    const uint64_t *alloc_ids)
{
    return id_batch(conn, PROTO_ABORT, n, alloc_ids, NULL);
}

/* ---- the put arena (docs/protocol.md, "Puts with one round trip") ---- */

uint64_t store_conn_pool_size(const struct store_conn *conn)
{
    return conn != NULL ? conn->pool_size : 0;
}

int store_arena_usable(const struct store_conn *conn)
{
    return (conn->caps & PROTO_SERVER_CAP_ARENA) && rings_alive(conn);
}

uint64_t store_arena_room(const struct store_conn *conn)
{
    return conn->arena_addr + conn->arena_len - conn->arena_cur;
}

uint64_t store_arena_piece(uint64_t len)
{
    uint64_t a = PROTO_ARENA_ALIGN;
    return len > UINT64_MAX - (a - 1) ? UINT64_MAX : (len + a - 1) / a * a;
}

uint64_t store_arena_take(struct store_conn *conn, uint64_t len)
{
    uint64_t at = conn->arena_cur;
    conn->arena_cur += store_arena_piece(len);
    return at;
}

static const char *put_key(const void *arr, uint32_t i)
{
    return ((const struct store_put_item *)arr)[i].key;
}

static int32_t put_at_frame(struct store_conn *conn, uint32_t n,
                            struct store_put_item *items, uint32_t flags,
                            uint64_t want, uint64_t need)
{
    struct keyed k = {0};
    int32_t st = n == 0 ? KVP_OK
                        : keyed_build(conn, n, put_key, items,
                                      &items[0].status, sizeof(items[0]), &k);
    if (st != KVP_OK)
        return st;
    for (uint32_t j = 0; j < k.n; j++) {
        k.wire[j].len = items[k.map[j]].len;
        k.wire[j].addr = items[k.map[j]].raddr;
    }
    struct proto_msg req = {.type = PROTO_PUT_AT,
                            .flags = flags & PROTO_ALLOC_OVERWRITE,
                            .want = want,
                            .need = need,
                            .n = k.n,
                            .items = k.wire};
    struct proto_msg rep;
    if ((k.n > 0 || want > 0) && (st = rpc(conn, &req, &rep)) == KVP_OK) {
        for (uint32_t j = 0; j < k.n; j++)
            items[k.map[j]].status =
                rep.status != KVP_OK ? rep.status : rep.items[j].status;
        if (rep.status == KVP_OK) {
            /* the server's word on the arena: pieces it did not see (a
             * put dropped before its PUT_AT) went back to its pool */
            conn->arena_addr = rep.arena_addr;
            conn->arena_len = rep.arena_len;
            conn->arena_cur = rep.arena_cursor;
        }
        proto_msg_free(&rep);
    }
    keyed_free(&k);
    return st;
}

int32_t store_put_at(struct store_conn *conn, uint32_t n,
                     struct store_put_item *items, uint32_t flags,
                     uint64_t want, uint64_t need)
{
    int32_t st = batch_args(conn, n, items);
    if (st == KVP_OK && n == 0)
        return put_at_frame(conn, 0, NULL, flags, want, need);
    for (uint32_t off = 0; st == KVP_OK && off < n;) {
        uint32_t cnt = frame_count(n, off);
        int last = off + cnt == n;
        st = put_at_frame(conn, cnt, items + off, flags, last ? want : 0,
                          last ? need : 0);
        off += cnt;
    }
    return st;
}

/* RELEASE_NOREPLY: the server releases in order with this connection's
 * other frames; waiting for an answer would only add a round trip to every
 * get. A lease the server does not know is its log line, not our error. */
int32_t store_release(struct store_conn *conn, uint32_t n,
                      const uint64_t *lease_ids)
{
    int32_t st = batch_args(conn, n, lease_ids);
    for (uint32_t off = 0; st == KVP_OK && off < n;) {
        uint32_t cnt = frame_count(n, off);
        struct proto_item *wire = id_items(cnt, lease_ids + off);
        if (wire == NULL)
            return KVP_ERR_NO_MEMORY;
        struct proto_msg req = {
            .type = PROTO_RELEASE_NOREPLY, .n = cnt, .items = wire};
        st = send_frame(conn, &req);
        free(wire);
        off += cnt;
    }
    return st;
}

int32_t store_remove(struct store_conn *conn, const char *key, int32_t *status)
{
    uint16_t len;
    if (conn == NULL || status == NULL || !key_valid(key, &len)) {
        KVP_LOG_E(conn != NULL ? conn->log : NULL,
                  "store: remove: NULL connection/status or invalid key");
        return KVP_ERR_INVALID;
    }
    if (!conn_up(conn))
        return KVP_ERR_DISCONNECTED;
    struct proto_item it = {.key = (const uint8_t *)key, .key_len = len};
    struct proto_msg req = {.type = PROTO_REMOVE, .n = 1, .items = &it};
    struct proto_msg rep;
    int32_t st = rpc(conn, &req, &rep);
    if (st == KVP_OK) {
        *status = rep.status != KVP_OK ? rep.status : rep.items[0].status;
        proto_msg_free(&rep);
    }
    return st;
}

static const char *remove_key(const void *arr, uint32_t i)
{
    return ((const char *const *)arr)[i];
}

static int32_t remove_frame(struct store_conn *conn, uint32_t n,
                            const char *const *keys, int32_t *status)
{
    struct keyed k;
    int32_t st = keyed_build(conn, n, remove_key, keys, status,
                             sizeof(status[0]), &k);
    if (st != KVP_OK)
        return st;
    struct proto_msg req = {.type = PROTO_REMOVE, .n = k.n, .items = k.wire};
    struct proto_msg rep;
    if (k.n > 0 && (st = rpc(conn, &req, &rep)) == KVP_OK) {
        for (uint32_t j = 0; j < k.n; j++)
            status[k.map[j]] =
                rep.status != KVP_OK ? rep.status : rep.items[j].status;
        proto_msg_free(&rep);
    }
    keyed_free(&k);
    return st;
}

int32_t store_remove_many(struct store_conn *conn, uint32_t n,
                          const char *const *keys, int32_t *status)
{
    int32_t st = batch_args(conn, n, keys);
    if (st == KVP_OK && status == NULL)
        st = KVP_ERR_INVALID;
    for (uint32_t off = 0; st == KVP_OK && off < n;) {
        uint32_t cnt = frame_count(n, off);
        st = remove_frame(conn, cnt, keys + off, status + off);
        off += cnt;
    }
    return st;
}

int32_t store_remove_prefix(struct store_conn *conn, const char *prefix,
                            uint64_t *removed_p)
{
    size_t len = prefix != NULL ? strnlen(prefix, PROTO_KEY_MAX + 1) : 0;
    if (conn == NULL || prefix == NULL || len > PROTO_KEY_MAX) {
        KVP_LOG_E(conn != NULL ? conn->log : NULL,
                  "store: remove_prefix: NULL connection/prefix or prefix "
                  "longer than %d bytes", PROTO_KEY_MAX);
        return KVP_ERR_INVALID;
    }
    if (!conn_up(conn))
        return KVP_ERR_DISCONNECTED;
    int32_t st = need_cap(conn, PROTO_SERVER_CAP_REMOVE_PREFIX,
                          "remove_prefix");
    if (st != KVP_OK)
        return st;
    struct proto_msg req = {.type = PROTO_REMOVE_PREFIX,
                            .prefix = (const uint8_t *)prefix,
                            .prefix_len = (uint16_t)len};
    struct proto_msg rep;
    st = rpc(conn, &req, &rep);
    if (st != KVP_OK)
        return st;
    st = rep.status;
    if (removed_p != NULL)
        *removed_p = rep.count;
    proto_msg_free(&rep);
    return st;
}

int32_t store_server_stats(struct store_conn *conn,
                           struct store_server_stats *stats)
{
    if (conn == NULL || stats == NULL)
        return KVP_ERR_INVALID;
    struct proto_msg req = {.type = PROTO_STATS};
    struct proto_msg rep;
    int32_t st = rpc(conn, &req, &rep);
    if (st != KVP_OK)
        return st;
    uint64_t v[PROTO_STATS_MAX] = {0};
    memcpy(v, rep.stats, sizeof(uint64_t) * rep.n_stats);
    proto_msg_free(&rep);
    stats->objects = v[PROTO_STAT_OBJECTS];
    stats->pending = v[PROTO_STAT_PENDING];
    stats->leases = v[PROTO_STAT_LEASES];
    stats->retired = v[PROTO_STAT_RETIRED];
    stats->used_bytes = v[PROTO_STAT_USED_BYTES];
    stats->evictions = v[PROTO_STAT_EVICTIONS];
    stats->lease_expiries = v[PROTO_STAT_LEASE_EXPIRIES];
    stats->pool_size = v[PROTO_STAT_POOL_SIZE];
    stats->connections = v[PROTO_STAT_CONNECTIONS];
    stats->transports = v[PROTO_STAT_TRANSPORTS];
    return KVP_OK;
}

int32_t store_keys(struct store_conn *conn, const char *prefix,
                   uint32_t limit, store_key_fn fn, void *user, int *more_p)
{
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    if (conn == NULL || fn == NULL || limit == 0 ||
        limit > PROTO_MAX_ITEMS || plen > PROTO_KEY_MAX)
        return KVP_ERR_INVALID;
    if (!conn_up(conn))
        return KVP_ERR_DISCONNECTED;
    int32_t st = need_cap(conn, PROTO_SERVER_CAP_KEYS, "keys");
    if (st != KVP_OK)
        return st;
    struct proto_msg req = {.type = PROTO_KEYS};
    req.prefix = (const uint8_t *)prefix;
    req.prefix_len = (uint16_t)plen;
    req.limit = limit;
    struct proto_msg rep;
    st = rpc(conn, &req, &rep);
    if (st != KVP_OK)
        return st;
    st = rep.status;
    for (uint32_t i = 0; st == KVP_OK && i < rep.n; i++)
        fn(user, (const char *)rep.items[i].key, rep.items[i].key_len,
           rep.items[i].len);
    if (more_p != NULL)
        *more_p = (rep.flags & PROTO_KEYS_MORE) != 0;
    proto_msg_free(&rep);
    return st;
}
