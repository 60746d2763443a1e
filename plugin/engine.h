/*
 * engine.h - struct kvp_engine (the plugin's per-engine state) and the
 * internal helpers the op files share: key validation, buffer lookup,
 * per-server connections.
 *
 * Locking: the registry has its own rwlock. Each server has
 * ENG_CONNS_PER_SERVER connection slots (control connection + transport
 * ep, opened lazily), each with a mutex held for the whole of one op or
 * batch on that server, so threads overlap on one server up to that many.
 * A batch that spans servers takes one slot per server in ascending
 * server order (eng_acquire_servers), so two batches never deadlock.
 */
#ifndef KVP_ENGINE_H
#define KVP_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "kvp_transport.h"
#include "registry.h"
#include "scratch.h"
#include "stage_pool.h"
#include "log.h"

struct kvp_server;
struct store_conn;
struct kvp_discovery_ops;
struct kvp_disc_watch;

#define ENG_CONNS_PER_SERVER 4

/* One connection slot of one server. */
struct eng_server {
    pthread_mutex_t lock;
    struct cfg_server addr;
    struct store_conn *conn; /* NULL until connected, or after a loss */
    int reset;               /* close conn at unlock (transport failed) */
    int opened;              /* a connection was opened before */
    uint32_t arena_skip;     /* puts left to ALLOC after a refused arena */
};

/* The counters get_stats reports (struct kvp_stats). */
struct eng_counters {
    atomic_uint_fast64_t puts, put_bytes, gets, get_bytes, get_hits,
        get_misses, errors, reconnects, removes;
};

struct kvp_engine {
    struct kvp_config cfg;
    /* The transport module's options (cfg_xport_load): pointers into
     * cfg.xport_opts, "<module>." prefixes dropped. */
    const char *xopts[KVP_KVLIST_MAX];
    uint32_t n_xopts;
    struct kvp_logger log;
    const struct kvp_transport_ops *tops;
    struct kvp_xport_ctx *tctx;
    struct kvp_server *embedded; /* NULL with servers= */
    char *auth_token;            /* NULL = no auth */
    uint32_t n_servers;         /* server slots (the static list, or
                                 * CFG_MAX_SERVERS with a registry) */
    struct eng_server *servers; /* n_servers * ENG_CONNS_PER_SERVER slots:
                                 * server s owns [s*K, s*K + K) */
    uint64_t *seeds;            /* rendezvous seeds, one per server slot */
    /* Membership: the slots keys are routed to. A static list is all of
     * them; with servers=etcd:// the registry's watch replaces the set
     * (a server seen once keeps its slot, so it keeps its connections if
     * it comes back). Readers take the rwlock only to pick a server. */
    pthread_rwlock_t members_lock;
    uint32_t n_known;       /* slots given an address so far */
    uint32_t n_active;      /* members now: active[0..n_active) */
    uint32_t *active;       /* slot index of each member */
    uint64_t *active_seeds; /* seeds[active[i]] */
    const struct kvp_discovery_ops *dops; /* NULL = static list */
    struct kvp_disc_watch *watch;
    struct registry reg;
    struct scratch scratch; /* registered slots for shard headers */
    struct stage_pool stage; /* bounce pairs for device buffers */
    atomic_uint_fast64_t host_copy_bytes; /* payload bytes memcpy'd by us */
    atomic_uint_fast64_t fastget_hits;    /* gets served by fastget.c */
    atomic_uint_fast64_t fastget_retries; /* its copies a check refused */
    atomic_uint_fast64_t header_bytes;    /* shard header bytes posted (from
                                           * the scratch area, not payload) */
    struct eng_counters cnt;
};

/* One registration (the registry's handle): host memory registered with
 * the transport, or CUDA device/managed memory moved through staging. */
struct eng_buf {
    struct kvp_xport_mem *mem; /* NULL for device memory */
    int32_t device;            /* CUDA device, or -1: host memory */
};
#define ENG_COUNT(e, field, v) atomic_fetch_add(&(e)->cnt.field, (v))

/* Key of 1..KVP_KEY_MAX bytes; logs and returns KVP_ERR_INVALID else.
 * `what` names the op for the message. */
int32_t eng_check_key(struct kvp_engine *e, const char *what, const char *key);
/* The transport mem handle of the registration holding [ptr, ptr+len),
 * and *device_p = the CUDA device of a device registration, else -1,
 * with a reference on the registration (*ref_p) that keeps
 * unregister_buffer waiting until eng_put_buf; len 0 needs none (*mem_p =
 * *ref_p = NULL, *device_p = -1). Logs KVP_ERR_NOT_REGISTERED. */
int32_t eng_find_buf(struct kvp_engine *e, const char *what, const char *key,
                     const void *ptr, uint64_t len,
                     struct kvp_xport_mem **mem_p, int32_t *device_p,
                     struct reg_entry **ref_p);
/* Gives back a reference of eng_find_buf once no byte of it moves any
 * more (NULL: nothing). */
void eng_put_buf(struct kvp_engine *e, struct reg_entry *ref);

uint32_t eng_server_of(struct kvp_engine *e, const char *key);
/* Takes a free connection slot of server s (blocking if all are busy). */
struct eng_server *eng_acquire(struct kvp_engine *e, uint32_t s);
/* Closes the slot's connection first if marked reset, then unlocks. */
void eng_release(struct kvp_engine *e, struct eng_server *sv);
/* One slot of every server with used[s] != 0, ascending, into held[s]. */
void eng_acquire_servers(struct kvp_engine *e, const uint8_t *used,
                         struct eng_server **held);
void eng_release_servers(struct kvp_engine *e, const uint8_t *used,
                         struct eng_server **held);
/* With sv held: its live connection, (re)connecting if needed. */
int32_t eng_conn(struct kvp_engine *e, struct eng_server *sv,
                 struct store_conn **c_p);

/* With sv held: fn(conn, arg) on the slot's connection. If it fails
 * with KVP_ERR_DISCONNECTED on a connection an earlier op opened (the
 * server may have restarted meanwhile), reconnects once and repeats it:
 * only for requests safe to repeat (ALLOC, LOOKUP, REMOVE). *c_p = the
 * connection used, on KVP_OK. */
typedef int32_t (*eng_req_fn)(struct store_conn *c, void *arg);
int32_t eng_request(struct kvp_engine *e, struct eng_server *sv, eng_req_fn fn,
                    void *arg, struct store_conn **c_p);

/* Logs "kvplug stats: ..." at `level`. */
void eng_log_stats(struct kvp_engine *e, int32_t level);

#endif /* KVP_ENGINE_H */
