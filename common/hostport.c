/* hostport.c - "HOST:PORT" / "[IPv6]:PORT" (hostport.h). */
#include "hostport.h"

#include <string.h>

int kvp_parse_hostport(const char *s, char *host, size_t host_cap,
                       uint16_t *port)
{
    const char *h = s, *colon;
    size_t hlen;
    if (s == NULL)
        return -1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= host_cap)
        return -1;
    const char *p = colon + 1;
    uint32_t v = 0;
    size_t nd = 0;
    for (; p[nd] >= '0' && p[nd] <= '9'; nd++) {
        v = v * 10 + (uint32_t)(p[nd] - '0');
        if (v > 65535)
            return -1;
    }
    if (nd == 0 || p[nd] != '\0' || v == 0)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)v;
    return 0;
}
