/*
 * server.h - the kvplug store server: memory pool + index + control protocol.
 * The same code runs as the kvplug-server binary and embedded inside the
 * plugin (engine_create with no servers=).
 */
#ifndef KVP_SERVER_H
#define KVP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "kvp_transport.h"
#include "log.h"

struct kvp_server;

struct kvp_server_params {
    const char *listen_host;    /* NULL = "127.0.0.1" */
    uint16_t listen_port;       /* 0 = ephemeral */
    uint64_t pool_size;         /* bytes; pre-faulted at start */
    const char *transports;     /* comma list: "ucx", "verbs", "ucx,verbs" */
    struct kvp_xport_params xport; /* device/gid/ucx_tls/timeout for modules;
                                 * role/log fields are set by the server */
    const char *auth_token;     /* NULL = no auth; copied */
    uint32_t lease_timeout_ms;  /* 0 = default (30000) */
    uint32_t summary_ms;        /* info summary line period; 0 = 60000 */
    /* Test hook: PROTO_SERVER_CAP_* bits this server behaves as if it
     * lacked (an older kvplug-server): not offered in HELLO_R, and a frame
     * that needs one closes the connection as an old server's decoder
     * does. 0 in production. */
    uint32_t caps_withheld;
    struct kvp_logger log;
    /* 1: no shared index for same-host clients' lookup-free gets (the
     * embedded server: its clients call it in-process) */
    int shared_index_off;
};

/* Starts listening and serving on threads of its own. *srv_p only on OK. */
int32_t kvp_server_start(const struct kvp_server_params *params,
                         struct kvp_server **srv_p);
/* The port actually bound (useful with listen_port 0). */
uint16_t kvp_server_port(const struct kvp_server *srv);
/* The Prometheus text of the server's gauges and counters (metrics.h):
 * malloc'd, NUL-terminated, *len_p bytes; NULL without memory. */
char *kvp_server_metrics_text(struct kvp_server *srv, size_t *len_p);
/* Stops threads, closes connections, frees the pool. */
void kvp_server_stop(struct kvp_server *srv);

/* ---- in-process link (the embedded server's own clients) -------------- */

struct kvp_server_local;
struct proto_buf;

/* A connection that carries frames by function call instead of TCP: the
 * same protocol, handshake and checks, without the socket round trip and
 * the two thread wake-ups per request. Close every link before
 * kvp_server_stop. */
int32_t kvp_server_local_open(struct kvp_server *srv,
                              struct kvp_server_local **lc_p);
/* Hands one whole encoded frame (header + body) to the server, in the
 * caller's thread, and returns its reply frame in *reply (len 0: the frame
 * has no reply). Calls on one link must be serialised by the caller; links
 * may be used from different threads at once. KVP_ERR_TRANSPORT: malformed
 * frame; KVP_ERR_DISCONNECTED: the link was closed by a protocol violation
 * or the server is stopping. */
int32_t kvp_server_local_call(struct kvp_server_local *lc,
                              const uint8_t *frame, size_t len,
                              struct proto_buf *reply);
void kvp_server_local_close(struct kvp_server_local *lc);

/* The three calls above as the client's carrier (proto_local_link). */
struct proto_local_link;
void kvp_server_local_link(struct kvp_server *srv,
                           struct proto_local_link *link);

#endif /* KVP_SERVER_H */
