/* engine.c - engine_create/engine_destroy, buffer registration, and the
 * per-server connections every data op goes through. */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_rt.h"
#include "kvp_discovery.h"
#include "ops.h"
#include "router.h"
#include "server.h"
#include "store_client.h"
#include "token.h"
#include "kvp_transport.h"


int32_t eng_check_key(struct kvp_engine *e, const char *what, const char *key)
{
    if (key == NULL) {
        KVP_LOG_E(&e->log, "%s: key is NULL", what);
        return KVP_ERR_INVALID;
    }
    size_t n = strnlen(key, KVP_KEY_MAX + 1);
    if (n == 0 || n > KVP_KEY_MAX) {
        KVP_LOG_E(&e->log, "%s: key '%.64s%s' has %s bytes; keys are 1..%d",
                  what, key, n > 64 ? "..." : "", n == 0 ? "0" : "> 1024",
                  KVP_KEY_MAX);
        return KVP_ERR_INVALID;
    }
    return KVP_OK;
}

int32_t eng_find_buf(struct kvp_engine *e, const char *what, const char *key,
                     const void *ptr, uint64_t len,
                     struct kvp_xport_mem **mem_p, int32_t *device_p,
                     struct reg_entry **ref_p)
{
    *mem_p = NULL;
    *device_p = -1;
    *ref_p = NULL;
    if (len == 0)
        return KVP_OK; /* no byte moves: no registration needed */
    void *h = NULL;
    if (ptr == NULL ||
        registry_acquire(&e->reg, ptr, len, &h, ref_p) != KVP_OK) {
        KVP_LOG_E(&e->log,
                  "%s: key '%.128s': buffer [%p, +%llu) is not inside one "
                  "registered buffer",
                  what, key, ptr, (unsigned long long)len);
        return KVP_ERR_NOT_REGISTERED;
    }
    const struct eng_buf *b = h;
    *mem_p = b->mem;
    *device_p = b->device;
    return KVP_OK;
}

void eng_put_buf(struct kvp_engine *e, struct reg_entry *ref)
{
    registry_release(&e->reg, ref);
}

uint32_t eng_server_of(struct kvp_engine *e, const char *key)
{
    pthread_rwlock_rdlock(&e->members_lock);
    uint32_t s = e->active[router_pick(e->active_seeds, e->n_active, key)];
    pthread_rwlock_unlock(&e->members_lock);
    return s;
}

struct eng_server *eng_acquire(struct kvp_engine *e, uint32_t s)
{
    struct eng_server *slots = &e->servers[(size_t)s * ENG_CONNS_PER_SERVER];
    /* lowest free slot first: extra connections open only under load */
    for (uint32_t k = 0; k < ENG_CONNS_PER_SERVER; k++)
        if (pthread_mutex_trylock(&slots[k].lock) == 0)
            return &slots[k];
    /* all busy: queue on one chosen by thread, spreading the waiters */
    uintptr_t t = (uintptr_t)pthread_self();
    struct eng_server *sv = &slots[(t >> 12) % ENG_CONNS_PER_SERVER];
    pthread_mutex_lock(&sv->lock);
    return sv;
}

void eng_release(struct kvp_engine *e, struct eng_server *sv)
{
    (void)e;
    if (sv->reset && sv->conn != NULL) {
        store_conn_close(sv->conn);
        sv->conn = NULL;
    }
    sv->reset = 0;
    pthread_mutex_unlock(&sv->lock);
}

void eng_acquire_servers(struct kvp_engine *e, const uint8_t *used,
                         struct eng_server **held)
{
    for (uint32_t s = 0; s < e->n_servers; s++)
        held[s] = used[s] ? eng_acquire(e, s) : NULL;
}

void eng_release_servers(struct kvp_engine *e, const uint8_t *used,
                         struct eng_server **held)
{
    for (uint32_t s = e->n_servers; s-- > 0;)
        if (used[s] && held[s] != NULL)
            eng_release(e, held[s]);
}

int32_t eng_conn(struct kvp_engine *e, struct eng_server *sv,
                 struct store_conn **c_p)
{
    if (sv->conn != NULL && !store_conn_alive(sv->conn)) {
        store_conn_close(sv->conn);
        sv->conn = NULL;
    }
    if (sv->conn == NULL) {
        struct proto_local_link link;
        if (e->embedded != NULL)
            kvp_server_local_link(e->embedded, &link);
        struct store_conn_params p = {
            .host = sv->addr.host,
            .port = sv->addr.port,
            .tops = e->tops,
            .tctx = e->tctx,
            .auth_token = e->auth_token,
            .timeout_ms = e->cfg.timeout_ms,
            .log = &e->log,
            .local = e->embedded ? &link : NULL, /* frames by call */
            .local_fastpath_off = !e->cfg.local_fastpath,
        };
        if (sv->opened)
            ENG_COUNT(e, reconnects, 1);
        sv->opened = 1;
        int32_t st = store_conn_open(&p, &sv->conn);
        if (st != KVP_OK) {
            sv->conn = NULL;
            KVP_LOG_E(&e->log, "server %s:%u: cannot connect: %s",
                      sv->addr.host, sv->addr.port, kvp_op_status_str(st));
            return st;
        }
        KVP_LOG_D(&e->log, "server %s:%u: connected", sv->addr.host,
                  sv->addr.port);
    }
    *c_p = sv->conn;
    return KVP_OK;
}

int32_t eng_request(struct kvp_engine *e, struct eng_server *sv, eng_req_fn fn,
                    void *arg, struct store_conn **c_p)
{
    int reused = sv->conn != NULL && store_conn_alive(sv->conn);
    struct store_conn *c;
    int32_t st = eng_conn(e, sv, &c);
    if (st == KVP_OK)
        st = fn(c, arg);
    if (st == KVP_ERR_DISCONNECTED && reused) {
        /* the connection went stale (e.g. the server restarted) while
         * idle: one fresh attempt, for requests safe to repeat */
        KVP_LOG_I(&e->log, "server %s:%u: connection lost, reconnecting",
                  sv->addr.host, sv->addr.port);
        store_conn_close(sv->conn);
        sv->conn = NULL;
        st = eng_conn(e, sv, &c);
        if (st == KVP_OK)
            st = fn(c, arg);
    }
    *c_p = st == KVP_OK ? c : NULL;
    return st;
}

void eng_log_stats(struct kvp_engine *e, int32_t level)
{
    struct kvp_xport_stats st;
    memset(&st, 0, sizeof(st));
    st.struct_size = sizeof(st);
    if (e->tops->stats == NULL || e->tops->stats(e->tctx, &st) != KVP_OK)
        memset(&st, 0, sizeof(st));
    kvp_logf(&e->log, level,
             "kvplug stats: bytes_written=%llu bytes_packed=%llu "
             "host_copy_bytes=%llu header_bytes=%llu bytes_read=%llu "
             "ops_posted=%llu mapped_copies=%llu fastget_hits=%llu "
             "fastget_retries=%llu",
             (unsigned long long)st.bytes_written,
             (unsigned long long)st.bytes_packed,
             (unsigned long long)atomic_load(&e->host_copy_bytes),
             (unsigned long long)atomic_load(&e->header_bytes),
             (unsigned long long)st.bytes_read,
             (unsigned long long)st.ops_posted,
             (unsigned long long)st.mapped_copies,
             (unsigned long long)atomic_load(&e->fastget_hits),
             (unsigned long long)atomic_load(&e->fastget_retries));
}

/* Reads the shared secret (common/token.h). */
static int32_t read_token(struct kvp_engine *e, const char *path)
{
    char err[512];
    e->auth_token = kvp_token_read(path, "config: auth_token_file", NULL, err,
                                   sizeof(err));
    if (e->auth_token == NULL) {
        KVP_LOG_E(&e->log, "%s", err);
        return KVP_ERR_INVALID;
    }
    return KVP_OK;
}

static void xport_params_fill(struct kvp_engine *e, struct kvp_xport_params *p,
                              uint32_t role)
{
    memset(p, 0, sizeof(*p));
    p->struct_size = sizeof(*p);
    p->role = role;
    p->timeout_ms = e->cfg.timeout_ms;
    p->log_level = e->cfg.log_level;
    p->log = e->log.fn;
    p->log_user = e->log.user;
    p->opts = e->xopts;
    p->n_opts = e->n_xopts;
    /* with the embedded server everything is on this host: the client's
     * transport needs no listener beyond loopback either */
    int embedded = e->cfg.n_servers == 0 && e->cfg.discovery[0] == '\0';
    p->bind_host = embedded ? "127.0.0.1" : NULL;
}

static int32_t start_embedded(struct kvp_engine *e)
{
    struct kvp_server_params sp;
    memset(&sp, 0, sizeof(sp));
    sp.listen_host = "127.0.0.1";
    sp.listen_port = 0;
    sp.pool_size = e->cfg.pool_size;
    sp.transports = e->cfg.transport;
    xport_params_fill(e, &sp.xport, KVP_XPORT_ROLE_SERVER);
    sp.auth_token = e->auth_token;
    sp.lease_timeout_ms = e->cfg.lease_timeout_ms;
    sp.log = e->log;
    sp.shared_index_off = 1; /* its clients call it in-process */
    int32_t st = kvp_server_start(&sp, &e->embedded);
    if (st != KVP_OK) {
        KVP_LOG_E(&e->log,
                  "engine_create: embedded server (pool_size %llu)"
                  " failed to start: %s",
                  (unsigned long long)e->cfg.pool_size, kvp_op_status_str(st));
        e->embedded = NULL;
        return st;
    }
    e->cfg.n_servers = 1;
    snprintf(e->cfg.servers[0].host, sizeof(e->cfg.servers[0].host), "%s",
             "127.0.0.1");
    e->cfg.servers[0].port = kvp_server_port(e->embedded);
    KVP_LOG_I(&e->log, "embedded server listening on 127.0.0.1:%u",
              e->cfg.servers[0].port);
    return KVP_OK;
}

/* The slot of host:port: the one it had, or a new one (caller holds the
 * members lock for writing). UINT32_MAX when every slot is taken. */
static uint32_t slot_of(struct kvp_engine *e, const char *host, uint16_t port)
{
    const uint32_t K = ENG_CONNS_PER_SERVER;
    for (uint32_t s = 0; s < e->n_known; s++) {
        const struct cfg_server *a = &e->servers[(size_t)s * K].addr;
        if (a->port == port && strcmp(a->host, host) == 0)
            return s;
    }
    if (e->n_known == e->n_servers)
        return UINT32_MAX;
    uint32_t s = e->n_known++;
    for (uint32_t k = 0; k < K; k++) {
        struct cfg_server *a = &e->servers[(size_t)s * K + k].addr;
        snprintf(a->host, sizeof(a->host), "%s", host);
        a->port = port;
    }
    e->seeds[s] = router_server_seed(host, port);
    return s;
}

/* The registry's member list changed: route keys over the new set. Only
 * the keys of a server that left or joined move (rendezvous hashing). An
 * empty list keeps the last one: requests to dead servers fail and are
 * retried by the host, which is better than having nowhere to go. */
static void members_update(void *user, const struct kvp_disc_member *m,
                           uint32_t n)
{
    struct kvp_engine *e = user;
    pthread_rwlock_wrlock(&e->members_lock);
    if (n == 0 && e->n_active > 0) {
        KVP_LOG_W(&e->log, "membership: no server is registered any more; "
                           "keeping the last %u", e->n_active);
        pthread_rwlock_unlock(&e->members_lock);
        return;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = slot_of(e, m[i].host, m[i].port);
        if (s == UINT32_MAX) {
            KVP_LOG_E(&e->log, "membership: more than %u servers; %s:%u is "
                               "not used", e->n_servers, m[i].host,
                      m[i].port);
            continue;
        }
        e->active[k] = s;
        e->active_seeds[k++] = e->seeds[s];
    }
    e->n_active = k;
    pthread_rwlock_unlock(&e->members_lock);
    char list[1024] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < n && used < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s:%u",
                                 i ? "," : "", m[i].host, m[i].port);
    KVP_LOG_I(&e->log, "membership: %u server(s): %s", k, list);
}

static int32_t discovery_start(struct kvp_engine *e)
{
    char scheme[16];
    const char *name = kvp_disc_scheme(e->cfg.discovery, scheme,
                                       sizeof(scheme));
    int32_t st = disc_module_load(name, &e->log, &e->dops);
    if (st != KVP_OK) {
        KVP_LOG_E(&e->log, "engine_create: servers='%s' needs the discovery "
                           "module libkvplug_%s.so: %s",
                  e->cfg.discovery, name, kvp_op_status_str(st));
        return st;
    }
    st = e->dops->watch_start(e->cfg.discovery, e->cfg.timeout_ms, &e->log,
                              members_update, e, &e->watch);
    if (st != KVP_OK) {
        e->watch = NULL;
        return st;
    }
    if (e->n_active == 0) {
        KVP_LOG_E(&e->log, "engine_create: servers='%s': no server is "
                           "registered there; start kvplug-server with "
                           "--etcd first",
                  e->cfg.discovery);
        return KVP_ERR_NOT_FOUND;
    }
    return KVP_OK;
}

static int32_t servers_init(struct kvp_engine *e)
{
    const uint32_t K = ENG_CONNS_PER_SERVER;
    uint32_t cap = e->cfg.discovery[0] ? CFG_MAX_SERVERS : e->cfg.n_servers;
    e->servers = calloc((size_t)cap * K, sizeof(*e->servers));
    e->seeds = calloc(cap, sizeof(*e->seeds));
    e->active = calloc(cap, sizeof(*e->active));
    e->active_seeds = calloc(cap, sizeof(*e->active_seeds));
    if (e->servers == NULL || e->seeds == NULL || e->active == NULL ||
        e->active_seeds == NULL)
        return KVP_ERR_NO_MEMORY;
    e->n_servers = cap;
    for (size_t i = 0; i < (size_t)cap * K; i++)
        pthread_mutex_init(&e->servers[i].lock, NULL);
    if (e->cfg.discovery[0]) {
        int32_t st = discovery_start(e);
        if (st != KVP_OK)
            return st;
    } else {
        for (uint32_t s = 0; s < cap; s++) {
            e->active[s] = slot_of(e, e->cfg.servers[s].host,
                                   e->cfg.servers[s].port);
            e->active_seeds[s] = e->seeds[s];
        }
        e->n_active = cap;
    }
    /* Connect now so a wrong address fails engine_create, not the first
     * put; more slots connect under load; a lost server is reconnected
     * lazily. A registry's member may be on its way out: only warned. */
    pthread_rwlock_rdlock(&e->members_lock);
    uint32_t n = e->n_active, first[CFG_MAX_SERVERS];
    memcpy(first, e->active, n * sizeof(*first));
    pthread_rwlock_unlock(&e->members_lock);
    for (uint32_t i = 0; i < n; i++) {
        struct store_conn *c;
        struct eng_server *sv = eng_acquire(e, first[i]);
        int32_t st = eng_conn(e, sv, &c);
        eng_release(e, sv);
        if (st != KVP_OK && e->dops == NULL)
            return st;
    }
    return KVP_OK;
}

static void buf_free(struct kvp_engine *e, struct eng_buf *b)
{
    if (b->mem != NULL)
        e->tops->mem_dereg(b->mem);
    free(b);
}

static void engine_free(struct kvp_engine *e)
{
    if (e->watch != NULL)
        e->dops->watch_stop(e->watch); /* no more members_update */
    size_t n_slots =
        e->servers != NULL ? (size_t)e->n_servers * ENG_CONNS_PER_SERVER : 0;
    for (size_t i = 0; i < n_slots; i++) {
        if (e->servers[i].conn != NULL)
            store_conn_close(e->servers[i].conn);
        pthread_mutex_destroy(&e->servers[i].lock);
    }
    void *h;
    if (e->tops != NULL) {
        while (registry_pop(&e->reg, &h))
            buf_free(e, h);
        scratch_fini(&e->scratch);
        stage_pool_fini(&e->stage);
    }
    registry_fini(&e->reg);
    if (e->embedded != NULL)
        kvp_server_stop(e->embedded);
    if (e->tctx != NULL)
        e->tops->ctx_destroy(e->tctx);
    free(e->servers);
    free(e->seeds);
    free(e->active);
    free(e->active_seeds);
    pthread_rwlock_destroy(&e->members_lock);
    free(e->auth_token);
    free(e);
}

int32_t kvp_op_engine_create(const char *config,
                             const struct kvp_host_api *host,
                             struct kvp_engine **engine_p)
{
    struct kvp_logger boot;
    kvp_logger_init_stderr(&boot, KVP_LOG_WARN);
    if (host != NULL &&
        host->struct_size >=
            offsetof(struct kvp_host_api, log_user) + sizeof(void *) &&
        host->log != NULL) {
        boot.fn = host->log;
        boot.user = host->log_user;
    }
    if (engine_p == NULL) {
        KVP_LOG_E(&boot, "engine_create: engine_p is NULL");
        return KVP_ERR_INVALID;
    }
    struct kvp_engine *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return KVP_ERR_NO_MEMORY;
    e->log = boot;
    if (e->log.fn == NULL)
        e->log.fn = kvp_log_stderr;
    pthread_rwlock_init(&e->members_lock, NULL);
    atomic_init(&e->host_copy_bytes, 0);
    atomic_init(&e->header_bytes, 0);
    int32_t st = registry_init(&e->reg);
    if (st != KVP_OK) {
        free(e);
        return st;
    }
    st = cfg_load(config, &e->cfg, &e->log);
    if (st != KVP_OK)
        goto out_free;
    e->log.level = e->cfg.log_level;
    if (e->log.level >= KVP_LOG_INFO) {
        char eff[2048];
        cfg_describe(&e->cfg, eff, sizeof(eff));
        KVP_LOG_I(&e->log, "engine_create: effective config (after "
                           "KVPLUG_CONFIG): %s", eff);
    }
    if (e->cfg.auth_token_file[0] != '\0' &&
        (st = read_token(e, e->cfg.auth_token_file)) != KVP_OK)
        goto out_free;
    st = cfg_xport_load(&e->cfg, &e->tops, e->xopts, &e->n_xopts, &e->log);
    if (st != KVP_OK)
        goto out_free;
    struct kvp_xport_params tp;
    xport_params_fill(e, &tp, KVP_XPORT_ROLE_CLIENT);
    st = e->tops->ctx_create(&tp, &e->tctx);
    if (st != KVP_OK) {
        e->tctx = NULL;
        KVP_LOG_E(&e->log, "engine_create: transport '%s' context: %s",
                  e->cfg.transport, kvp_op_status_str(st));
        goto out_free;
    }
    stage_pool_init(&e->stage, e->tops, e->tctx, &e->log);
    st = scratch_init(&e->scratch, e->tops, e->tctx);
    if (st != KVP_OK) {
        KVP_LOG_E(&e->log, "engine_create: header scratch area: %s",
                  kvp_op_status_str(st));
        goto out_free;
    }
    if (e->cfg.n_servers == 0 && e->cfg.discovery[0] == '\0' &&
        (st = start_embedded(e)) != KVP_OK)
        goto out_free;
    st = servers_init(e);
    if (st != KVP_OK)
        goto out_free;
    KVP_LOG_I(&e->log, "engine created: transport %s, %u server(s)%s",
              e->cfg.transport, e->n_active,
              e->embedded != NULL ? " (embedded)" : "");
    *engine_p = e;
    return KVP_OK;
out_free:
    engine_free(e);
    return st;
}

int32_t kvp_op_engine_destroy(struct kvp_engine *engine)
{
    if (engine == NULL)
        return KVP_ERR_INVALID;
    eng_log_stats(engine, KVP_LOG_INFO);
    engine_free(engine);
    return KVP_OK;
}

/* Fills b: device or managed memory is staged (no transport registration,
 * docs/cuda.md); host memory (host-pinned included) is registered with the
 * transport. */
static int32_t register_kind(struct kvp_engine *e, void *ptr, uint64_t len,
                             struct eng_buf *b)
{
    int dev = -1;
    enum kvp_mem_kind kind = kvp_cuda_mem_kind(ptr, &dev);
    b->device = -1;
    if (kind != KVP_MEM_HOST) {
        char why[256];
        const char *what = kind == KVP_MEM_DEVICE ? "device" : "managed";
        if (!kvp_cuda_usable(why, sizeof(why))) {
            KVP_LOG_E(&e->log,
                      "register_buffer: %p is CUDA %s memory but CUDA is not "
                      "usable here: %s",
                      ptr, what, why);
            return KVP_ERR_NOT_SUPPORTED;
        }
        b->device = dev < 0 ? 0 : dev;
        KVP_LOG_I(&e->log,
                  "register_buffer: [%p, +%llu) is CUDA %s memory on device "
                  "%d: staged through pinned host buffers",
                  ptr, (unsigned long long)len, what, b->device);
        return KVP_OK;
    }
    int32_t st = e->tops->mem_reg(e->tctx, ptr, len, &b->mem);
    if (st != KVP_OK)
        KVP_LOG_E(&e->log, "register_buffer: [%p, +%llu): transport: %s", ptr,
                  (unsigned long long)len, kvp_op_status_str(st));
    return st;
}

int32_t kvp_op_register_buffer(struct kvp_engine *e, void *ptr, uint64_t len)
{
    if (e == NULL)
        return KVP_ERR_INVALID;
    if (ptr == NULL || len == 0) {
        KVP_LOG_E(&e->log, "register_buffer: %s",
                  ptr == NULL ? "ptr is NULL" : "len is 0");
        return KVP_ERR_INVALID;
    }
    if (len - 1 > UINTPTR_MAX - (uintptr_t)ptr) {
        KVP_LOG_E(&e->log, "register_buffer: [%p, +%llu) wraps around", ptr,
                  (unsigned long long)len);
        return KVP_ERR_INVALID;
    }
    /* Refuse overlap before paying for the transport registration. */
    void *h = NULL;
    if (registry_find(&e->reg, ptr, 1, &h) == KVP_OK) {
        KVP_LOG_E(&e->log,
                  "register_buffer: [%p, +%llu) overlaps a "
                  "registered buffer",
                  ptr, (unsigned long long)len);
        return KVP_ERR_EXISTS;
    }
    struct eng_buf *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return KVP_ERR_NO_MEMORY;
    int32_t st = register_kind(e, ptr, len, b);
    if (st != KVP_OK) {
        free(b);
        return st;
    }
    st = registry_add(&e->reg, ptr, len, b);
    if (st != KVP_OK) {
        buf_free(e, b);
        KVP_LOG_E(&e->log, "register_buffer: [%p, +%llu): %s", ptr,
                  (unsigned long long)len,
                  st == KVP_ERR_EXISTS ? "overlaps a registered buffer"
                                       : kvp_op_status_str(st));
    }
    return st;
}

int32_t kvp_op_unregister_buffer(struct kvp_engine *e, void *ptr)
{
    if (e == NULL)
        return KVP_ERR_INVALID;
    void *h = NULL;
    /* ops using the buffer finish first (bounded by timeout_ms): a
     * transport never moves bytes through a torn-down registration */
    int32_t st = registry_remove(&e->reg, ptr, e->cfg.timeout_ms, &h);
    if (st == KVP_ERR_TIMEOUT) {
        KVP_LOG_E(&e->log,
                  "unregister_buffer: %p: ops still use the buffer after "
                  "timeout_ms=%u; it stays registered (KVP_ERR_TIMEOUT): "
                  "let them finish, then unregister again",
                  ptr, (unsigned)e->cfg.timeout_ms);
        return st;
    }
    if (st != KVP_OK) {
        KVP_LOG_E(&e->log,
                  "unregister_buffer: %p is not the start of a "
                  "registered buffer",
                  ptr);
        return KVP_ERR_NOT_FOUND;
    }
    buf_free(e, h);
    return KVP_OK;
}
