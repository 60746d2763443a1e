/* ucx_ctx.c - a UCP context + worker per kvp_xport_ctx, the server's progress
 * thread, and the counters. */
#include "ucx_ctx.h"
#include "ucx_netdev.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* The progress thread spins this long without progress before it sleeps on
 * the worker's event fd: short enough not to burn a core when idle, long
 * enough that a burst of puts is served without a wakeup each. */
#define UCX_SPIN_NS 200000ull
/* Upper bound of one sleep: a safety net against a lost wakeup. */
#define UCX_SLEEP_MAX_MS 100

unsigned ucx_ctx_progress(struct kvp_xport_ctx *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    unsigned n = ucp_worker_progress(ctx->worker);
    pthread_mutex_unlock(&ctx->lock);
    return n;
}

ucs_status_t ucx_wait_req(struct kvp_xport_ctx *ctx, void *req,
                          uint64_t deadline_ns)
{
    for (;;) {
        pthread_mutex_lock(&ctx->lock);
        ucp_worker_progress(ctx->worker);
        ucs_status_t st = ucp_request_check_status(req);
        pthread_mutex_unlock(&ctx->lock);
        if (st != UCS_INPROGRESS)
            return st;
        if (kvp_now_ns() >= deadline_ns)
            return UCS_INPROGRESS;
        sched_yield();
    }
}

/* Sleeps on the worker's event fd if nothing is pending. Returns 0 when it
 * slept or found work, -1 when the fd cannot be armed (busy-poll then). */
static int progress_sleep(struct kvp_xport_ctx *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    ucs_status_t st = ucp_worker_arm(ctx->worker);
    pthread_mutex_unlock(&ctx->lock);
    if (st == UCS_ERR_BUSY)
        return 0; /* events pending: progress again */
    if (st != UCS_OK)
        return -1;
    if (atomic_load(&ctx->stop))
        return 0;
    struct epoll_event ev;
    int rc = epoll_wait(ctx->epfd, &ev, 1, UCX_SLEEP_MAX_MS);
    if (rc < 0 && errno != EINTR)
        return -1;
    atomic_fetch_add(&ctx->progress_sleeps, 1);
    return 0;
}

static void *progress_main(void *arg)
{
    struct kvp_xport_ctx *ctx = arg;
    uint64_t idle_since = 0;
    while (!atomic_load(&ctx->stop)) {
        if (ucx_ctx_progress(ctx) != 0) {
            idle_since = 0;
            continue;
        }
        uint64_t now = kvp_now_ns();
        if (idle_since == 0)
            idle_since = now;
        if (ctx->epfd < 0 || now - idle_since < UCX_SPIN_NS) {
            sched_yield();
            continue;
        }
        if (progress_sleep(ctx) != 0) {
            KVP_LOG_W(&ctx->log, "ucx: cannot arm the worker event fd; the "
                                 "progress thread busy-polls from now on");
            close(ctx->epfd);
            ctx->epfd = -1;
        }
        idle_since = 0;
    }
    return NULL;
}

/* Event fd + epoll set for the progress thread; epfd = -1 if unavailable. */
static void progress_setup_wakeup(struct kvp_xport_ctx *ctx)
{
    int efd = -1;
    ctx->epfd = -1;
    if (ucp_worker_get_efd(ctx->worker, &efd) != UCS_OK)
        return;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = efd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) != 0) {
        close(epfd);
        return;
    }
    ctx->epfd = epfd;
}

static void progress_stop(struct kvp_xport_ctx *ctx)
{
    if (!ctx->progress_running)
        return;
    atomic_store(&ctx->stop, 1);
    pthread_mutex_lock(&ctx->lock);
    ucp_worker_signal(ctx->worker);
    pthread_mutex_unlock(&ctx->lock);
    pthread_join(ctx->progress_thread, NULL);
    ctx->progress_running = 0;
    if (ctx->epfd >= 0)
        close(ctx->epfd);
    ctx->epfd = -1;
}

/* PEER error handling is used when UCX_TLS names no shared-memory (or
 * catch-all) transport; see ucx_ctx.h. */
static int tls_allows_peer_mode(const char *tls)
{
    static const char *const shm[] = {"all",  "sm",  "shm",  "mm",   "posix",
                                      "sysv", "cma", "knem", "xpmem"};
    if (tls == NULL || tls[0] == '\0')
        return 0; /* UCX default: all transports, shm included */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", tls[0] == '^' ? tls + 1 : tls);
    if (tls[0] == '^')
        return 0; /* an exclusion list keeps shm unless it names it */
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save))
        for (size_t i = 0; i < sizeof(shm) / sizeof(shm[0]); i++)
            if (strcmp(t, shm[i]) == 0)
                return 0;
    return 1;
}

int ucx_env_bytes(const char *name, uint64_t *v_p)
{
    const char *env = getenv(name);
    if (env == NULL || env[0] == '\0')
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(env, &end, 10);
    if (errno != 0 || end == env || *end != '\0' || env[0] == '-')
        return -1;
    *v_p = v;
    return 1;
}

static const struct kvp_opt ucx_opts_table[] = {
    {"ucx_tls", KVP_OPT_STR, 0, KVP_OPT_AT(struct ucx_opts, tls), 0, 0, NULL,
     "LIST", "a UCX_TLS value up to 127 characters, e.g. tcp, self,sysv,posix",
     "UCX transports for this context (default: UCX's choice)", NULL},
    {"ucx_pack_below", KVP_OPT_SIZE, 0,
     KVP_OPT_AT(struct ucx_opts, pack_below), 0, 0, NULL, "SIZE",
     "a size, e.g. 8192 or 8KiB (0 = the module default, 2048)",
     "pack writes whose average extent is below this (default 2048)", NULL},
};

const struct kvp_opt *ucx_opt_table(size_t *n_p)
{
    *n_p = sizeof(ucx_opts_table) / sizeof(ucx_opts_table[0]);
    return ucx_opts_table;
}

/* Pack threshold: env KVPLUG_UCX_PACK_BELOW, else the option, else the
 * default. */
static int32_t pack_below_resolve(struct kvp_xport_ctx *ctx,
                                  const struct ucx_opts *o)
{
    ctx->pack_below = UCX_PACK_BELOW_DEFAULT;
    if (o->pack_below != 0)
        ctx->pack_below = o->pack_below;
    if (ucx_env_bytes("KVPLUG_UCX_PACK_BELOW", &ctx->pack_below) < 0) {
        KVP_LOG_E(&ctx->log,
                  "ucx: KVPLUG_UCX_PACK_BELOW='%s' is not a byte "
                  "count",
                  getenv("KVPLUG_UCX_PACK_BELOW"));
        return KVP_ERR_INVALID;
    }
    return KVP_OK;
}

/* Direct copies into mapped peer regions: on unless KVPLUG_UCX_MAPPED=0
 * (for A/B runs of UCP's own shm RMA; docs/transports.md). */
static int32_t use_mapped_resolve(struct kvp_xport_ctx *ctx)
{
    const char *env = getenv("KVPLUG_UCX_MAPPED");
    ctx->use_mapped = 1;
    if (env == NULL || env[0] == '\0')
        return KVP_OK;
    if (strcmp(env, "0") != 0 && strcmp(env, "1") != 0) {
        KVP_LOG_E(&ctx->log, "ucx: KVPLUG_UCX_MAPPED='%s' is not 0 or 1", env);
        return KVP_ERR_INVALID;
    }
    ctx->use_mapped = env[0] == '1';
    return KVP_OK;
}

static int32_t ucp_open(struct kvp_xport_ctx *ctx, uint32_t role,
                        const char *bind_host)
{
    ucp_config_t *cfg = NULL;
    ucs_status_t st = ucp_config_read(NULL, NULL, &cfg);
    if (st != UCS_OK) {
        KVP_LOG_E(&ctx->log, "ucx: ucp_config_read: %s", ucs_status_string(st));
        return KVP_ERR_TRANSPORT;
    }
    if (ctx->tls[0] != '\0') {
        st = ucp_config_modify(cfg, "TLS", ctx->tls);
        if (st != UCS_OK) {
            KVP_LOG_E(&ctx->log, "ucx: ucx_tls='%s' refused by UCX: %s",
                      ctx->tls, ucs_status_string(st));
            ucp_config_release(cfg);
            return KVP_ERR_INVALID;
        }
    }
    int32_t bst = ucx_bind_net_devices(&ctx->log, cfg, bind_host);
    if (bst != KVP_OK) {
        ucp_config_release(cfg);
        return bst;
    }
    ucp_params_t up = {
        .field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME,
        .features = UCP_FEATURE_RMA | UCP_FEATURE_WAKEUP,
        .name = role == KVP_XPORT_ROLE_SERVER ? "kvplug-server" : "kvplug",
    };
    st = ucp_init(&up, cfg, &ctx->context);
    ucp_config_release(cfg);
    if (st != UCS_OK) {
        KVP_LOG_E(&ctx->log, "ucx: ucp_init (UCX_TLS='%s'): %s", ctx->tls,
                  ucs_status_string(st));
        return st == UCS_ERR_NO_DEVICE ? KVP_ERR_NO_DEVICE : KVP_ERR_TRANSPORT;
    }
    ucp_worker_params_t wp = {
        .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
        .thread_mode = UCS_THREAD_MODE_SINGLE, /* ctx->lock serialises */
    };
    st = ucp_worker_create(ctx->context, &wp, &ctx->worker);
    if (st != UCS_OK) {
        KVP_LOG_E(&ctx->log,
                  "ucx: no usable transport (UCX_TLS='%s'; "
                  "`ucx_info -d` lists them): ucp_worker_create: %s",
                  ctx->tls, ucs_status_string(st));
        ucp_cleanup(ctx->context);
        return KVP_ERR_NO_DEVICE;
    }
    st = ucp_worker_get_address(ctx->worker, &ctx->addr, &ctx->addr_len);
    if (st != UCS_OK) {
        KVP_LOG_E(&ctx->log, "ucx: ucp_worker_get_address: %s",
                  ucs_status_string(st));
        ucp_worker_destroy(ctx->worker);
        ucp_cleanup(ctx->context);
        return KVP_ERR_TRANSPORT;
    }
    return KVP_OK;
}

static void ucp_close(struct kvp_xport_ctx *ctx)
{
    ucp_worker_release_address(ctx->worker, ctx->addr);
    ucp_worker_destroy(ctx->worker); /* last callbacks into zombies */
    while (ctx->zombies != NULL) {
        struct ucx_deferred *d = ctx->zombies;
        ctx->zombies = d->next;
        d->release(d);
    }
    ucp_cleanup(ctx->context);
}

int32_t ucx_ctx_create(const struct kvp_xport_params *params,
                       struct kvp_xport_ctx **ctx_p)
{
    if (params == NULL || ctx_p == NULL ||
        params->struct_size < KVP_XPORT_PARAMS_MIN_SIZE) {
        kvp_logf(NULL, KVP_LOG_ERROR,
                 "ucx: ctx_create: params/ctx_p NULL "
                 "or params.struct_size too small");
        return KVP_ERR_INVALID;
    }
    struct kvp_logger lg = {params->log, params->log_user, params->log_level};
    struct ucx_opts opts;
    memset(&opts, 0, sizeof(opts));
    char err[1024];
    size_t n_table;
    const struct kvp_opt *table = ucx_opt_table(&n_table);
    if ((params->n_opts > 0 && params->opts == NULL) ||
        kvp_opts_apply(table, n_table, params->opts, params->n_opts, &opts,
                       err, sizeof(err)) != 0) {
        KVP_LOG_E(&lg, "ucx: ctx_create: %s",
                  params->opts == NULL ? "opts is NULL" : err);
        return KVP_ERR_INVALID;
    }
    if (params->role != KVP_XPORT_ROLE_CLIENT &&
        params->role != KVP_XPORT_ROLE_SERVER) {
        KVP_LOG_E(&lg,
                  "ucx: ctx_create: role %u is neither client (0) nor "
                  "server (1)",
                  params->role);
        return KVP_ERR_INVALID;
    }
    struct kvp_xport_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        KVP_LOG_E(&lg, "ucx: ctx_create: out of memory");
        return KVP_ERR_NO_MEMORY;
    }
    ctx->log = lg;
    ctx->role = params->role;
    ctx->timeout_ms =
        params->timeout_ms ? params->timeout_ms : UCX_TIMEOUT_DEFAULT_MS;
    ctx->epfd = -1;
    snprintf(ctx->tls, sizeof(ctx->tls), "%s", opts.tls);
    ctx->peer_err_mode = tls_allows_peer_mode(ctx->tls);
    int32_t status = pack_below_resolve(ctx, &opts);
    if (status == KVP_OK)
        status = use_mapped_resolve(ctx);
    if (status != KVP_OK)
        goto err_free;
    pthread_mutex_init(&ctx->lock, NULL);
    const char *bind_host =
        params->struct_size >= offsetof(struct kvp_xport_params, bind_host) +
                                   sizeof(params->bind_host)
            ? params->bind_host
            : NULL;
    status = ucp_open(ctx, params->role, bind_host);
    if (status != KVP_OK)
        goto err_lock;
    if (ctx->role == KVP_XPORT_ROLE_SERVER) {
        progress_setup_wakeup(ctx);
        if (ctx->epfd < 0)
            KVP_LOG_W(&ctx->log,
                      "ucx: worker has no event fd; the progress "
                      "thread busy-polls (one core while the server runs)");
        if (pthread_create(&ctx->progress_thread, NULL, progress_main, ctx)) {
            KVP_LOG_E(&ctx->log, "ucx: cannot start the progress thread");
            status = KVP_ERR_INTERNAL;
            goto err_ucp;
        }
        ctx->progress_running = 1;
    }
    KVP_LOG_D(&ctx->log,
              "ucx: %s ctx ready (UCX_TLS='%s', pack below %" PRIu64
              " B, peer failure %s)",
              ctx->role ? "server" : "client", ctx->tls, ctx->pack_below,
              ctx->peer_err_mode ? "detected" : "bounded by timeouts");
    *ctx_p = ctx;
    return KVP_OK;

err_ucp:
    if (ctx->epfd >= 0)
        close(ctx->epfd);
    ucp_close(ctx);
err_lock:
    pthread_mutex_destroy(&ctx->lock);
err_free:
    free(ctx);
    return status;
}

void ucx_ctx_destroy(struct kvp_xport_ctx *ctx)
{
    if (ctx == NULL)
        return;
    progress_stop(ctx);
    ucp_close(ctx);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

int32_t ucx_stats(struct kvp_xport_ctx *ctx, struct kvp_xport_stats *stats)
{
    if (ctx == NULL || stats == NULL ||
        stats->struct_size <
            offsetof(struct kvp_xport_stats, ops_posted) + sizeof(uint64_t)) {
        kvp_logf(ctx ? &ctx->log : NULL, KVP_LOG_ERROR,
                 "ucx: stats: ctx/stats NULL or stats.struct_size too small");
        return KVP_ERR_INVALID;
    }
    stats->bytes_written = atomic_load(&ctx->bytes_written);
    stats->bytes_read = atomic_load(&ctx->bytes_read);
    stats->bytes_packed = atomic_load(&ctx->bytes_packed);
    stats->ops_posted = atomic_load(&ctx->ops_posted);
    if (stats->struct_size >=
        offsetof(struct kvp_xport_stats, mapped_copies) + sizeof(uint64_t))
        stats->mapped_copies = atomic_load(&ctx->mapped_copies);
    return KVP_OK;
}

void ucx_ctx_defer(struct kvp_xport_ctx *ctx, struct ucx_deferred *d)
{
    pthread_mutex_lock(&ctx->lock);
    d->next = ctx->zombies;
    ctx->zombies = d;
    pthread_mutex_unlock(&ctx->lock);
}

int32_t ucx_status_map(ucs_status_t st)
{
    switch (st) {
    case UCS_OK:
        return KVP_OK;
    case UCS_ERR_NO_MEMORY:
        return KVP_ERR_NO_MEMORY;
    case UCS_ERR_TIMED_OUT:
    case UCS_ERR_ENDPOINT_TIMEOUT:
        return KVP_ERR_TIMEOUT;
    case UCS_ERR_INVALID_PARAM:
        return KVP_ERR_INVALID;
    case UCS_ERR_NO_DEVICE:
        return KVP_ERR_NO_DEVICE;
    default:
        return KVP_ERR_TRANSPORT;
    }
}
