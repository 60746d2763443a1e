/*
 * metrics_http.h - kvplug-server --metrics HOST:PORT: GET /metrics answers
 * the Prometheus text of kvp_server_metrics_text() (libmicrohttpd, its own
 * thread). Only in the kvplug-server binary: the plugin's embedded server
 * links no HTTP library.
 */
#ifndef KVP_SERVER_METRICS_HTTP_H
#define KVP_SERVER_METRICS_HTTP_H

#include <stdint.h>

#include "log.h"

struct kvp_server;
struct metrics_http;

/* Listens on host:port (port 0 = ephemeral; *port_p = the one bound).
 * KVP_ERR_INVALID for a host that is not a numeric address, KVP_ERR_EXISTS
 * when it cannot bind (logged, naming the address);
 * KVP_ERR_NOT_SUPPORTED in a build without libmicrohttpd. */
int32_t metrics_http_start(const char *host, uint16_t port,
                           struct kvp_server *srv, const struct kvp_logger *lg,
                           uint16_t *port_p, struct metrics_http **h_p);
void metrics_http_stop(struct metrics_http *h);

#endif /* KVP_SERVER_METRICS_HTTP_H */
