/*
 * net.h - TCP helpers shared by the server and the client side: bounded
 * waits everywhere (poll), never SIGPIPE, and frame I/O on top of proto.h.
 */
#ifndef KVP_PROTO_NET_H
#define KVP_PROTO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Results of the I/O helpers (not kvplug status codes). */
#define NET_OK        0
#define NET_CLOSED    (-1) /* peer closed / reset */
#define NET_TIMEOUT   (-2)
#define NET_WOKEN     (-3) /* wake_fd became readable (shutdown) */
#define NET_ERROR     (-4) /* other socket error */
#define NET_MALFORMED (-5) /* frame failed proto checks */
#define NET_NO_MEMORY (-6)

/* Connected TCP socket (TCP_NODELAY) or -1; *err_p names the failure
 * (static text; errno kept in *errno_p). timeout_ms bounds the connect. */
int net_connect(const char *host, uint16_t port, uint32_t timeout_ms,
                const char **err_p, int *errno_p);
/* Listening socket bound to host:port (0 = ephemeral) or -1 (errno set);
 * *port_p = the port bound. */
int net_listen(const char *host, uint16_t port, uint16_t *port_p);

/* timeout_ms < 0: wait forever (until wake_fd). wake_fd < 0: none. */
int net_send_all(int fd, const void *buf, size_t len, int timeout_ms);
int net_recv_all(int fd, void *buf, size_t len, int timeout_ms, int wake_fd);

/* Reads one frame: waits up to first_timeout_ms for its first byte, then
 * up to rest_timeout_ms for the rest. *body grows as needed (caller frees).
 * NET_MALFORMED with *why on a bad header (the body is not read). */
int net_recv_frame(int fd, uint32_t max_body, int first_timeout_ms,
                   int rest_timeout_ms, int wake_fd, struct proto_hdr *h,
                   struct proto_buf *body, const char **why);

const char *net_result_str(int r);

#endif /* KVP_PROTO_NET_H */
