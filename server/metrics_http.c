/* metrics_http.c - the /metrics endpoint on libmicrohttpd
 * (metrics_http.h). */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "server.h"

struct metrics_http {
    struct MHD_Daemon *d;
    struct kvp_server *srv;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code,
                             const char *text, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *data_len, void **state)
{
    struct metrics_http *h = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n",
                     "text/plain");
    if (strcmp(url, "/metrics") != 0)
        return reply(conn, MHD_HTTP_NOT_FOUND,
                     "kvplug-server serves /metrics\n", "text/plain");
    size_t len = 0;
    char *text = kvp_server_metrics_text(h->srv, &len);
    if (text == NULL)
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n",
                     "text/plain");
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type",
                            "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int32_t metrics_http_start(const char *host, uint16_t port,
                           struct kvp_server *srv, const struct kvp_logger *lg,
                           uint16_t *port_p, struct metrics_http **h_p)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        flags |= MHD_USE_IPv6;
    } else {
        KVP_LOG_E(lg, "--metrics %s:%u: the host must be a numeric address "
                      "(e.g. 127.0.0.1 or 0.0.0.0)", host, port);
        return KVP_ERR_INVALID;
    }
    struct metrics_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return KVP_ERR_NO_MEMORY;
    h->srv = srv;
    h->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, 64u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                            MHD_OPTION_END);
    if (h->d == NULL) {
        KVP_LOG_E(lg, "--metrics %s:%u: cannot listen (%s); is the port "
                      "in use?", host, port, strerror(errno));
        free(h);
        return KVP_ERR_EXISTS;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *port_p = info != NULL ? info->port : port;
    *h_p = h;
    return KVP_OK;
}

void metrics_http_stop(struct metrics_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
