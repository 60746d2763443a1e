/*
 * kvp_discovery.h - the private interface of a discovery module
 * (libkvplug_<name>.so, today only libkvplug_etcd.so): who the store's
 * members are. The plugin loads it only for servers=etcd://...; the server
 * for --etcd; the tools for etcd:// arguments. So libkvplug.so itself links
 * no HTTP or JSON library (DESIGN §4.2).
 *
 * A member is a server's advertised "HOST:PORT". A module keeps members
 * under a prefix: one key PREFIX/HOST:PORT per server, held by a lease the
 * server keeps alive, so a server that dies drops out when its lease ends.
 */
#ifndef KVP_DISCOVERY_H
#define KVP_DISCOVERY_H

#include <stdint.h>

#include "log.h"
#include "module.h"

#define KVP_DISCOVERY_OPS_VERSION  1
#define KVP_DISCOVERY_ENTRY_SYMBOL "kvp_discovery_get_ops_v1"
#define KVP_DISC_HOST_MAX          256
#define KVP_DISC_DEFAULT_TTL_S     10
#define KVP_DISC_DEFAULT_PREFIX    "/kvplug"

struct kvp_disc_member {
    char host[KVP_DISC_HOST_MAX];
    uint16_t port;
};

/* The whole member list after a change (sorted by "host:port", n may be 0);
 * m is borrowed for the call. Called on the module's watch thread (and
 * once in watch_start's caller). */
typedef void (*kvp_disc_update_fn)(void *user,
                                   const struct kvp_disc_member *m,
                                   uint32_t n);

struct kvp_disc_watch;
struct kvp_disc_reg;

struct kvp_discovery_ops {
    uint32_t version;     /* KVP_DISCOVERY_OPS_VERSION */
    uint32_t struct_size; /* sizeof(struct kvp_discovery_ops) */
    /* url "SCHEME://HOST:PORT[/PREFIX]" (PREFIX default /kvplug).
     * Reads the members now and calls update once with them (in this
     * thread), then watches on a thread of its own and calls update after
     * every change. KVP_ERR_INVALID: bad url (logged, naming it);
     * KVP_ERR_DISCONNECTED: the registry did not answer within timeout_ms.
     * Lost later: the last members stay, it retries every second. lg is
     * copied. */
    int32_t (*watch_start)(const char *url, uint32_t timeout_ms,
                           const struct kvp_logger *lg,
                           kvp_disc_update_fn update, void *user,
                           struct kvp_disc_watch **w_p);
    void (*watch_stop)(struct kvp_disc_watch *w);
    /* One read of the members (tools). *m_p malloc'd (free()), may be NULL
     * with *n_p 0. Errors as watch_start. */
    int32_t (*list)(const char *url, uint32_t timeout_ms,
                    const struct kvp_logger *lg, struct kvp_disc_member **m_p,
                    uint32_t *n_p);
    /* A server joins: endpoint "http://HOST:PORT" (or "HOST:PORT"), prefix
     * ("" = /kvplug), advertise "HOST:PORT" (what clients connect to),
     * ttl_s >= 2 (the lease). Registers now (KVP_ERR_DISCONNECTED if the
     * registry does not answer within timeout_ms), then keeps the lease
     * alive on a thread and registers again after a lost lease. */
    int32_t (*register_start)(const char *endpoint, const char *prefix,
                              const char *advertise, uint32_t ttl_s,
                              uint32_t timeout_ms,
                              const struct kvp_logger *lg,
                              struct kvp_disc_reg **r_p);
    /* Leaves: revokes the lease (clients see the member go at once). */
    void (*register_stop)(struct kvp_disc_reg *r);
};

typedef const struct kvp_discovery_ops *(*kvp_discovery_get_ops_fn)(void);

/* "etcd" for "etcd://...": the module name of a discovery URL, or NULL if
 * url has no "NAME://" (name = lowercase letters, <= 15). */
static inline const char *kvp_disc_scheme(const char *url, char *buf,
                                          unsigned cap)
{
    unsigned i = 0;
    for (; url[i] >= 'a' && url[i] <= 'z'; i++)
        if (i + 1 >= cap)
            return 0;
    if (i == 0 || url[i] != ':' || url[i + 1] != '/' || url[i + 2] != '/')
        return 0;
    for (unsigned k = 0; k < i; k++)
        buf[k] = url[k];
    buf[i] = '\0';
    return buf;
}

/* Loads libkvplug_<name>.so (common/module.h search order) and checks its
 * ops table: KVP_ERR_ABI_MISMATCH on another version or a smaller table. */
static inline int32_t disc_module_load(const char *name,
                                       const struct kvp_logger *lg,
                                       const struct kvp_discovery_ops **ops_p)
{
    void *sym = 0;
    int32_t st = kvp_module_open("discovery", name,
                                 KVP_DISCOVERY_ENTRY_SYMBOL, lg, &sym);
    if (st != KVP_OK)
        return st;
    kvp_discovery_get_ops_fn get;
    *(void **)&get = sym;
    const struct kvp_discovery_ops *ops = get();
    if (ops == 0 || ops->version != KVP_DISCOVERY_OPS_VERSION ||
        ops->struct_size < sizeof(struct kvp_discovery_ops)) {
        KVP_LOG_E(lg, "discovery module '%s': ops version %u, expected %u; "
                      "rebuild the module with this kvplug",
                  name, ops ? ops->version : 0, KVP_DISCOVERY_OPS_VERSION);
        return KVP_ERR_ABI_MISMATCH;
    }
    *ops_p = ops;
    return KVP_OK;
}

#endif /* KVP_DISCOVERY_H */
