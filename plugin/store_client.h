/*
 * store_client.h - client side of the kvplug control protocol: one TCP
 * control connection + one transport ep to one server.
 *
 * The engine (plugin/) drives the data path itself with the transport ops;
 * this module only speaks the control protocol and owns the connection.
 * The frames travel over TCP, or by function call to an in-process server
 * (params->local): the same protocol either way.
 *
 * Every call is synchronous request/response and must be serialised per
 * connection by the caller. A negative return means the call itself failed
 * (connection lost: KVP_ERR_DISCONNECTED; no answer in timeout_ms:
 * KVP_ERR_TIMEOUT; protocol violation: KVP_ERR_TRANSPORT); the connection is
 * then closed and every later call returns KVP_ERR_DISCONNECTED. KVP_OK means
 * every per-item status was filled.
 */
#ifndef KVP_STORE_CLIENT_H
#define KVP_STORE_CLIENT_H

#include <stdint.h>

#include "kvp_transport.h"
#include "log.h"
#include "proto.h"
#include "shidx.h"

struct store_conn;


struct store_conn_params {
    const char *host;           /* server address (names it in logs) */
    uint16_t port;
    const struct kvp_transport_ops *tops;
    struct kvp_xport_ctx *tctx;    /* client transport ctx */
    const char *auth_token;     /* NULL = none */
    uint32_t timeout_ms;
    const struct kvp_logger *log; /* borrowed for the connection's life */
    /* An in-process server (the embedded one): frames go by function call
     * instead of TCP to host:port. NULL = TCP. Borrowed for the call. */
    const struct proto_local_link *local;
    /* 1: stay on TCP even when the server offers the same-host rings
     * (config local_fastpath=0). */
    int local_fastpath_off;
};

/* Connect, authenticate, exchange transport blobs, unpack the pool rkey. */
int32_t store_conn_open(const struct store_conn_params *params,
                        struct store_conn **conn_p);
void store_conn_close(struct store_conn *conn);
int store_conn_alive(const struct store_conn *conn);
struct kvp_xport_ep *store_conn_ep(struct store_conn *conn);
struct kvp_xport_rkey *store_conn_rkey(struct store_conn *conn);

#define STORE_ALLOC_OVERWRITE PROTO_ALLOC_OVERWRITE

struct store_alloc_item {
    const char *key;      /* in */
    uint64_t len;         /* in */
    uint32_t group;       /* in: 0, or a TP group number: consecutive items
                           * with one number form one group (<= 16384) */
    uint16_t base_len;    /* in, with group: bytes of key that are the
                           * group's base key */
    int32_t status;       /* out: OK, EXISTS, NO_SPACE, INVALID */
    uint64_t raddr;       /* out: remote address to write to */
    uint64_t alloc_id;    /* out: for commit/abort */
};
/* One ALLOC frame per 16384 items (a group never spans two frames). A key
 * already committed or pending gets KVP_ERR_EXISTS unless
 * STORE_ALLOC_OVERWRITE. Every batch call of this header takes any n and
 * sends as many frames as it needs. */
int32_t store_alloc(struct store_conn *conn, uint32_t n,
                    struct store_alloc_item *items, uint32_t flags);
/* One COMMIT frame: makes the objects visible (an overwrite replaces the
 * old object atomically). status[i] per item. */
int32_t store_commit(struct store_conn *conn, uint32_t n,
                     const uint64_t *alloc_ids, int32_t *status);
/* One ABORT frame: frees pending allocations. */
int32_t store_abort(struct store_conn *conn, uint32_t n,
                    const uint64_t *alloc_ids);

/* ---- the put arena (docs/protocol.md, "Puts with one round trip"): a
 * block of the server's pool this connection fills itself; a put is then
 * its copy and one PUT_AT frame. */
struct store_put_item {
    const char *key; /* in */
    uint64_t len;    /* in */
    uint64_t raddr;  /* in: store_arena_take's piece */
    int32_t status;  /* out: OK, EXISTS, INVALID (not an arena piece) */
};
/* The server's pool size (CONNECT_R). */
uint64_t store_conn_pool_size(const struct store_conn *conn);
/* 1 on the same-host rings to a server with the ARENA capability. */
int store_arena_usable(const struct store_conn *conn);
/* Bytes left to take (0: no arena yet). */
uint64_t store_arena_room(const struct store_conn *conn);
/* Arena bytes an object of len takes (rounded up to 64). */
uint64_t store_arena_piece(uint64_t len);
/* The next piece for an object of len bytes (room checked by the
 * caller): where to write it. Pieces are committed in the order taken. */
uint64_t store_arena_take(struct store_conn *conn, uint64_t len);
/* PUT_AT: commits the items (flags: STORE_ALLOC_OVERWRITE) and, with
 * want > 0, has the server replace the arena by one of up to want bytes
 * of free space, at least need (its rest goes back to the pool; room 0
 * after it: the server could not). n 0 with want > 0: a refill alone.
 * A piece taken and not sent is the server's again at the next PUT_AT. */
int32_t store_put_at(struct store_conn *conn, uint32_t n,
                     struct store_put_item *items, uint32_t flags,
                     uint64_t want, uint64_t need);

#define STORE_LOOKUP_NO_LEASE PROTO_LOOKUP_NO_LEASE /* stat/exists */

struct store_lookup_item {
    const char *key;      /* in */
    int32_t status;       /* out: OK or NOT_FOUND */
    uint64_t raddr;       /* out */
    uint64_t len;         /* out: object size */
    uint64_t lease_id;    /* out: 0 with STORE_LOOKUP_NO_LEASE */
};
/* One LOOKUP frame. With a lease the object's memory is not reused until
 * release (or lease timeout on the server). */
int32_t store_lookup(struct store_conn *conn, uint32_t n,
                     struct store_lookup_item *items, uint32_t flags);
/* One RELEASE_NOREPLY frame: sent, not answered (the server releases in
 * order with this connection's later frames). KVP_OK once sent; an unknown
 * or expired lease is logged by the server only. */
int32_t store_release(struct store_conn *conn, uint32_t n,
                      const uint64_t *lease_ids);
/* KVP_OK or KVP_ERR_NOT_FOUND in *status. Memory is freed when the last
 * lease on it is released. */
int32_t store_remove(struct store_conn *conn, const char *key,
                     int32_t *status);


/* ---- additions (after the first version of this header) -------------- */

/* REMOVE frames for n keys: status[i] = KVP_OK or KVP_ERR_NOT_FOUND (or
 * KVP_ERR_INVALID for a bad key, not sent). A member of a TP group takes
 * its whole group with it. */
int32_t store_remove_many(struct store_conn *conn, uint32_t n,
                          const char *const *keys, int32_t *status);
/* One REMOVE_PREFIX frame: every committed key starting with prefix (""
 * = all); *removed_p (optional) = objects removed. */
int32_t store_remove_prefix(struct store_conn *conn, const char *prefix,
                            uint64_t *removed_p);

/* Server-wide counters, for tests and operators. */
struct store_server_stats {
    uint64_t objects;        /* committed, visible objects */
    uint64_t pending;        /* allocations not yet committed/aborted */
    uint64_t leases;         /* leases held by all clients */
    uint64_t retired;        /* replaced/removed objects still leased */
    uint64_t used_bytes;     /* pool bytes in use (64-byte rounded) */
    uint64_t evictions;      /* LRU evictions since start */
    uint64_t lease_expiries; /* leases dropped by timeout since start */
    uint64_t pool_size;
    uint64_t connections;    /* open control connections */
    uint64_t transports;     /* offered: bit 0 ucx, bit 1 verbs */
};
/* One STATS frame. Fields the server did not send stay 0. */
int32_t store_server_stats(struct store_conn *conn,
                           struct store_server_stats *stats);

/* One KEYS frame: up to limit (1..16384) committed keys starting with
 * prefix (NULL/"" = all), each handed to fn (key NOT NUL-terminated,
 * borrowed for the call). *more_p = 1 when the server had more. */
typedef void (*store_key_fn)(void *user, const char *key, uint16_t key_len,
                             uint64_t len);
int32_t store_keys(struct store_conn *conn, const char *prefix,
                   uint32_t limit, store_key_fn fn, void *user, int *more_p);

/* Server capabilities (HELLO_R flags, docs/protocol.md): a server that
 * does not offer one (an older kvplug-server) gets no frame that needs
 * it. Then a TP group member of store_alloc gets status
 * KVP_ERR_NOT_SUPPORTED (the frame's other items go as usual), and
 * store_remove_prefix and store_keys return KVP_ERR_NOT_SUPPORTED; one
 * error line per connection and capability says to upgrade the server.
 * The connection stays usable. */

/* How the frames travel: "tcp", "shm" (same-host rings), "local"
 * (in-process link) or "closed". For logs and tests. */
const char *store_conn_carrier(const struct store_conn *conn);

/* The server's shared index when this connection is on the same-host
 * rings and mapped it (docs/protocol.md, "Gets without a round trip");
 * NULL otherwise. Valid while conn is open. */
const struct shidx *store_conn_index(const struct store_conn *conn);

/* Control-only connections: params->tops and params->tctx both NULL open a
 * connection without a transport ep (store_conn_ep/rkey return NULL); for
 * tools and tests that only need the metadata operations. */

#endif /* KVP_STORE_CLIENT_H */
