/* net.c - poll-bounded TCP I/O and frame reading (see net.h). */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

/* Milliseconds left until deadline (0 = none -> -1 for poll). */
static int left_ms(uint64_t deadline)
{
    if (deadline == 0)
        return -1;
    uint64_t now = kvp_now_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

static uint64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? 0 : kvp_now_ms() + (uint64_t)timeout_ms;
}

/* Waits for events on fd (and readability of wake_fd). */
static int wait_fd(int fd, short events, uint64_t deadline, int wake_fd)
{
    for (;;) {
        struct pollfd p[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
        int n = poll(p, wake_fd >= 0 ? 2 : 1, left_ms(deadline));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return NET_ERROR;
        }
        if (n == 0)
            return NET_TIMEOUT;
        if (wake_fd >= 0 && (p[1].revents & POLLIN))
            return NET_WOKEN;
        if (p[0].revents != 0)
            return NET_OK;
    }
}

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int net_connect(const char *host, uint16_t port, uint32_t timeout_ms,
                const char **err_p, int *errno_p)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port_s[8];
    snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);
    *errno_p = 0;
    if (getaddrinfo(host, port_s, &hints, &res) != 0 || res == NULL) {
        *err_p = "cannot resolve host";
        return -1;
    }
    uint64_t deadline = kvp_now_ms() + timeout_ms;
    int fd = -1;
    *err_p = "connect failed";
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline, -1);
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (w == NET_TIMEOUT) {
                *err_p = "connect timed out";
                errno = ETIMEDOUT;
            } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
                       soerr == 0) {
                rc = 0;
            } else {
                errno = soerr;
            }
        }
        if (rc == 0)
            break;
        *errno_p = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    set_nodelay(fd);
    return fd;
}

int net_listen(const char *host, uint16_t port, uint16_t *port_p)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char port_s[8];
    snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);
    int gai = getaddrinfo(host, port_s, &hints, &res);
    if (gai != 0 || res == NULL) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
            break;
        int e = errno;
        close(fd);
        errno = e;
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            *port_p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else
            *port_p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return fd;
}

int net_send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
    const uint8_t *p = buf;
    uint64_t deadline = deadline_of(timeout_ms);
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_fd(fd, POLLOUT, deadline, -1);
            if (w != NET_OK)
                return w;
            continue;
        }
        return (errno == EPIPE || errno == ECONNRESET) ? NET_CLOSED : NET_ERROR;
    }
    return NET_OK;
}

/* recv first, poll only when nothing is buffered: a request that already
 * arrived costs one syscall, not two. */
static int recv_until(int fd, uint8_t *p, size_t len, uint64_t deadline,
                      int wake_fd)
{
    while (len > 0) {
        ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0)
            return NET_CLOSED;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return errno == ECONNRESET ? NET_CLOSED : NET_ERROR;
        int w = wait_fd(fd, POLLIN, deadline, wake_fd);
        if (w != NET_OK)
            return w;
    }
    return NET_OK;
}

int net_recv_all(int fd, void *buf, size_t len, int timeout_ms, int wake_fd)
{
    return recv_until(fd, buf, len, deadline_of(timeout_ms), wake_fd);
}

int net_recv_frame(int fd, uint32_t max_body, int first_timeout_ms,
                   int rest_timeout_ms, int wake_fd, struct proto_hdr *h,
                   struct proto_buf *body, const char **why)
{
    uint8_t hdr[PROTO_HDR_LEN];
    int r = recv_until(fd, hdr, 1, deadline_of(first_timeout_ms), wake_fd);
    if (r != NET_OK)
        return r;
    uint64_t deadline = deadline_of(rest_timeout_ms);
    r = recv_until(fd, hdr + 1, PROTO_HDR_LEN - 1, deadline, wake_fd);
    if (r != NET_OK)
        return r;
    if (proto_hdr_parse(hdr, max_body, h, why) != PROTO_OK)
        return NET_MALFORMED;
    if (body->cap < h->body_len) {
        uint8_t *d = realloc(body->data, h->body_len);
        if (d == NULL)
            return NET_NO_MEMORY;
        body->data = d;
        body->cap = h->body_len;
    }
    body->len = h->body_len;
    return recv_until(fd, body->data, h->body_len, deadline, wake_fd);
}

const char *net_result_str(int r)
{
    switch (r) {
    case NET_OK:
        return "ok";
    case NET_CLOSED:
        return "connection closed by peer";
    case NET_TIMEOUT:
        return "timed out";
    case NET_WOKEN:
        return "shutting down";
    case NET_ERROR:
        return "socket error";
    case NET_MALFORMED:
        return "malformed frame";
    case NET_NO_MEMORY:
        return "out of memory";
    default:
        return "?";
    }
}
