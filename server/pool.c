/* pool.c - the pre-faulted pool (allocated by the first transport when it
 * offers mem_alloc, else mapped here) + per-transport registration. */
#include "pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvp_transport.h"
#include "units.h"
#include "status_name.h"

static void log_bridge(void *user, int32_t level, const char *msg)
{
    const struct kvp_logger *lg = user;
    kvp_logf(lg, level, "%s", msg);
}

/* Writing one byte per page guarantees every page is resident before the
 * first client write (MAP_POPULATE is best effort, and memory a transport
 * allocates comes unfaulted). */
static void prefault(void *base, uint64_t size)
{
    long pg = sysconf(_SC_PAGESIZE);
    volatile uint8_t *b = base;
    for (uint64_t off = 0; off < size; off += (uint64_t)pg)
        b[off] = 0;
}

static void *map_prefaulted(uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    prefault(p, size);
    return p;
}

/* The pool's memory. Allocated by the first transport when it offers
 * mem_alloc (t->mem then owns it: UCX allocates shared memory, so clients
 * on this host put/get with one memcpy and no server work); else an
 * anonymous mapping every transport registers. t == NULL: no transport. */
static int32_t pool_map(struct pool *p, struct pool_xport *t,
                        const struct kvp_logger *log)
{
    char sz[32];
    if (t != NULL && t->ops->mem_alloc != NULL) {
        void *base = NULL;
        int32_t st = t->ops->mem_alloc(t->ctx, p->size, &base, &t->mem);
        if (st == KVP_OK) {
            prefault(base, p->size);
            p->base = base;
            p->xport_allocated = 1;
            KVP_LOG_I(log,
                      "server: pool of %s allocated by transport "
                      "'%s' (pre-faulted)",
                      kvp_fmt_bytes(p->size, sz, sizeof(sz)), t->name);
            return KVP_OK;
        }
        /* Still serviceable from our own mapping, only slower. */
        t->mem = NULL;
        KVP_LOG_W(log,
                  "server: transport '%s' could not allocate the %llu-byte "
                  "pool (%s); mapping it here instead",
                  t->name, (unsigned long long)p->size, kvp_status_name(st));
    }
    p->base = map_prefaulted(p->size);
    if (p->base == NULL) {
        KVP_LOG_E(log, "server: cannot map a pool of %s: %s",
                  kvp_fmt_bytes(p->size, sz, sizeof(sz)), strerror(errno));
        return KVP_ERR_NO_MEMORY;
    }
    KVP_LOG_I(log,
              "server: pool of %s mapped by the server "
              "(pre-faulted; %s)",
              kvp_fmt_bytes(p->size, sz, sizeof(sz)),
              t == NULL                   ? "no transport"
              : t->ops->mem_alloc == NULL ? "the first transport offers no "
                                            "mem_alloc"
                                          : "its mem_alloc failed");
    return KVP_OK;
}

int32_t pool_plan_make(const char *transports, const char *const *opts,
                       uint32_t n_opts, enum kvp_opt_style style,
                       const char *core_names, struct pool_plan *plan,
                       char *err, size_t cap, const struct kvp_logger *log)
{
    memset(plan, 0, sizeof(*plan));
    if (n_opts > KVP_KVLIST_MAX) {
        snprintf(err, cap, "more than %d transport options", KVP_KVLIST_MAX);
        return KVP_ERR_INVALID;
    }
    plan->n_kv = n_opts;
    const char *s = transports != NULL ? transports : "";
    while (*s != '\0') {
        size_t len = strcspn(s, ",");
        if (len == 0 || len > POOL_NAME_MAX ||
            plan->n == POOL_MAX_TRANSPORTS) {
            snprintf(err, cap,
                     "transports list '%s' is invalid (empty/too long name "
                     "or more than %d entries)",
                     transports, POOL_MAX_TRANSPORTS);
            return KVP_ERR_INVALID;
        }
        char *name = plan->names[plan->n];
        memcpy(name, s, len);
        name[len] = '\0';
        for (uint32_t i = 0; i < plan->n; i++) {
            if (strcmp(plan->names[i], name) == 0) {
                snprintf(err, cap, "transport '%s' listed twice", name);
                return KVP_ERR_INVALID;
            }
        }
        int32_t st = xport_module_load(name, log, &plan->ops[plan->n]);
        if (st != KVP_OK) {
            char hint[96];
            xport_name_hint(name, style, hint, sizeof(hint));
            if (st == KVP_ERR_NOT_SUPPORTED)
                snprintf(err, cap,
                         "'%s' is not a transport module: no "
                         "libkvplug_%s.so loads (see the message above; "
                         "kvplug-info lists the modules found)%s",
                         name, name, hint);
            else
                snprintf(err, cap,
                         "transport '%s' could not be loaded: %s (see the "
                         "message above)",
                         name, kvp_status_name(st));
            return st;
        }
        plan->n++;
        s += len;
        if (*s == ',')
            s++;
    }
    struct kvp_opt_module mods[POOL_MAX_TRANSPORTS];
    for (uint32_t i = 0; i < plan->n; i++)
        xport_module_opts(plan->ops[i], &mods[i]);
    uint32_t skipped = 0;
    if (kvp_opts_route(mods, plan->n, opts, n_opts, style, core_names,
                       plan->opts, plan->n_opts, &skipped, err, cap) != 0)
        return KVP_ERR_INVALID;
    if (skipped > 0)
        KVP_LOG_I(log,
                  "server: %u option(s) for transports not in use "
                  "ignored",
                  skipped);
    return KVP_OK;
}

static int32_t xport_open(struct pool *p, struct pool_xport *t,
                          const struct pool_plan *plan, uint32_t i,
                          const struct kvp_xport_params *xpp,
                          const struct kvp_logger *log)
{
    snprintf(t->name, sizeof(t->name), "%s", plan->names[i]);
    t->ops = plan->ops[i];
    struct kvp_xport_params prm;
    memset(&prm, 0, sizeof(prm));
    prm.struct_size = sizeof(prm);
    prm.role = KVP_XPORT_ROLE_SERVER;
    prm.timeout_ms = xpp != NULL ? xpp->timeout_ms : 0;
    prm.log = log_bridge;
    prm.log_user = (void *)log;
    prm.log_level = log != NULL ? log->level : KVP_LOG_WARN;
    /* every listener of the module on the interface of --listen */
    prm.bind_host = xpp != NULL ? xpp->bind_host : NULL;
    /* this module's share: n_opts[i] entries from slot i * n_kv */
    prm.opts = plan->opts + (size_t)i * plan->n_kv;
    prm.n_opts = plan->n_opts[i];
    int32_t st = t->ops->ctx_create(&prm, &t->ctx);
    if (st != KVP_OK) {
        KVP_LOG_E(log, "server: transport '%s': ctx_create failed: %s%s",
                  t->name, kvp_status_name(st),
                  st == KVP_ERR_NO_DEVICE
                      ? " (no usable RDMA device: see kvplug-info; or "
                        "--transports ucx)"
                      : "");
        return st;
    }
    t->mem = NULL;
    if (p->base == NULL) {
        st = pool_map(p, t, log);
        if (st != KVP_OK)
            goto err_ctx;
    }
    if (t->mem == NULL) {
        st = t->ops->mem_reg(t->ctx, p->base, p->size, &t->mem);
        if (st != KVP_OK) {
            KVP_LOG_E(log,
                      "server: transport '%s': registering the %llu-byte "
                      "pool failed: %s",
                      t->name, (unsigned long long)p->size,
                      kvp_status_name(st));
            goto err_ctx;
        }
    }
    st = t->ops->mem_rkey_pack(t->mem, t->rkey, sizeof(t->rkey), &t->rkey_len);
    if (st != KVP_OK) {
        KVP_LOG_E(log, "server: transport '%s': rkey pack failed: %s", t->name,
                  kvp_status_name(st));
        goto err_mem;
    }
    return KVP_OK;

err_mem:
    t->ops->mem_dereg(t->mem);
    if (p->xport_allocated && p->n_xport == 0) { /* that freed the pool */
        p->base = NULL;
        p->xport_allocated = 0;
    }
err_ctx:
    t->ops->ctx_destroy(t->ctx);
    return st;
}

int32_t pool_create(struct pool *p, uint64_t size, const char *transports,
                    const struct kvp_xport_params *xpp,
                    const struct kvp_logger *log)
{
    memset(p, 0, sizeof(*p));
    long pg = sysconf(_SC_PAGESIZE);
    if (size == 0 || size > UINT64_MAX - (uint64_t)pg) {
        KVP_LOG_E(log, "server: pool_size %llu is invalid (must be > 0)",
                  (unsigned long long)size);
        return KVP_ERR_INVALID;
    }
    p->size = (size + (uint64_t)pg - 1) & ~((uint64_t)pg - 1);
    struct pool_plan *plan = malloc(sizeof(*plan));
    if (plan == NULL)
        return KVP_ERR_NO_MEMORY;
    char err[2048];
    int32_t st = pool_plan_make(
        transports, xpp != NULL ? xpp->opts : NULL,
        xpp != NULL && xpp->struct_size >= KVP_XPORT_PARAMS_MIN_SIZE
            ? xpp->n_opts
            : 0,
        KVP_OPT_KEYS, NULL, plan, err, sizeof(err), log);
    if (st != KVP_OK) {
        KVP_LOG_E(log, "server: %s", err);
        free(plan);
        return st;
    }
    for (uint32_t i = 0; i < plan->n; i++) {
        st = xport_open(p, &p->xport[p->n_xport], plan, i, xpp, log);
        if (st != KVP_OK)
            goto err;
        p->n_xport++;
    }
    free(plan);
    plan = NULL;
    if (p->base == NULL) { /* control only: no transport mapped it */
        st = pool_map(p, NULL, log);
        if (st != KVP_OK)
            goto err;
    }
    return KVP_OK;

err:
    free(plan);
    pool_destroy(p);
    return st;
}

void pool_destroy(struct pool *p)
{
    /* Reverse order: when xport[0] allocated the pool, every other transport
     * deregisters it before xport[0]'s mem_dereg frees it. */
    for (uint32_t i = p->n_xport; i-- > 0;) {
        struct pool_xport *t = &p->xport[i];
        t->ops->mem_dereg(t->mem);
        t->ops->ctx_destroy(t->ctx);
    }
    p->n_xport = 0;
    if (p->base != NULL && !p->xport_allocated)
        munmap(p->base, p->size);
    p->base = NULL;
    p->xport_allocated = 0;
}

struct pool_xport *pool_find_xport(struct pool *p, const void *name,
                             uint32_t name_len)
{
    for (uint32_t i = 0; i < p->n_xport; i++) {
        if (strlen(p->xport[i].name) == name_len &&
            memcmp(p->xport[i].name, name, name_len) == 0)
            return &p->xport[i];
    }
    return NULL;
}
