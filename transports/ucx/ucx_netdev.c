/*
 * ucx_netdev.c - keeps UCX's listeners on one interface: UCX's TCP
 * transport listens on every network device it uses, so a server bound to
 * loopback would also listen on the host's other addresses. UCX 1.13 has
 * no per-transport bind address; its NET_DEVICES setting picks the
 * devices, so the module sets it to the interface that holds the bind
 * address plus every RDMA port (those open no TCP listener).
 */
#include "ucx_netdev.h"

#include "kvp_transport.h"

#include <dirent.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* 1 if sa is the wildcard address of its family. */
static int is_wildcard(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
               htonl(INADDR_ANY);
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(
            &((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >>
                24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(
            &((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

static int same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return 0;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return 0;
}

/* Name of the interface holding sa (a loopback address not configured
 * exactly, like 127.0.0.2, belongs to the loopback interface). */
static int iface_of(const struct sockaddr *sa, char *name, size_t cap)
{
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return -1;
    int found = 0;
    for (struct ifaddrs *i = ifs; i != NULL && !found; i = i->ifa_next)
        if (i->ifa_addr != NULL && same_addr(i->ifa_addr, sa)) {
            snprintf(name, cap, "%s", i->ifa_name);
            found = 1;
        }
    for (struct ifaddrs *i = ifs; i != NULL && !found; i = i->ifa_next)
        if (i->ifa_addr != NULL && (i->ifa_flags & IFF_LOOPBACK) &&
            is_loopback(sa)) {
            snprintf(name, cap, "%s", i->ifa_name);
            found = 1;
        }
    freeifaddrs(ifs);
    return found ? 0 : -1;
}

/* Appends ",DEV:PORT" for every RDMA port in /sys/class/infiniband. */
static void add_rdma_ports(char *list, size_t cap)
{
    DIR *d = opendir("/sys/class/infiniband");
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports",
                 de->d_name);
        DIR *pd = opendir(path);
        if (pd == NULL)
            continue;
        struct dirent *pe;
        while ((pe = readdir(pd)) != NULL) {
            if (pe->d_name[0] == '.')
                continue;
            size_t n = strlen(list);
            snprintf(list + n, cap - n, ",%s:%s", de->d_name, pe->d_name);
        }
        closedir(pd);
    }
    closedir(d);
}

int32_t ucx_bind_net_devices(const struct kvp_logger *log, ucp_config_t *cfg,
                             const char *host)
{
    if (host == NULL || host[0] == '\0')
        return KVP_OK;
    const char *user = getenv("UCX_NET_DEVICES");
    if (user != NULL && user[0] != '\0') {
        KVP_LOG_I(log,
                  "ucx: UCX_NET_DEVICES='%s' is set: it decides where UCX "
                  "listens, not the bind host %s",
                  user, host);
        return KVP_OK;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
        KVP_LOG_E(log, "ucx: cannot resolve the bind host '%s'", host);
        return KVP_ERR_INVALID;
    }
    char ifname[IF_NAMESIZE + 1] = "";
    int wildcard = is_wildcard(res->ai_addr);
    int found = wildcard || iface_of(res->ai_addr, ifname, sizeof(ifname)) == 0;
    freeaddrinfo(res);
    if (wildcard)
        return KVP_OK; /* every interface, as the control port */
    if (!found) {
        KVP_LOG_E(log,
                  "ucx: no network interface holds the bind address of "
                  "'%s'; listen on an address of this host, or choose UCX's "
                  "devices with UCX_NET_DEVICES",
                  host);
        return KVP_ERR_INVALID;
    }
    char list[1024];
    snprintf(list, sizeof(list), "%s", ifname);
    add_rdma_ports(list, sizeof(list));
    ucs_status_t st = ucp_config_modify(cfg, "NET_DEVICES", list);
    if (st != UCS_OK) {
        KVP_LOG_E(log, "ucx: NET_DEVICES='%s' refused by UCX: %s", list,
                  ucs_status_string(st));
        return KVP_ERR_TRANSPORT;
    }
    KVP_LOG_D(log, "ucx: network devices limited to %s (bind host %s)",
              list, host);
    return KVP_OK;
}
