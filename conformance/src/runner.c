/* runner.c - one child process per case: a hanging or crashing plugin fails
 * that case and the suite goes on. Each case gets a fresh load, a fresh
 * engine and a unique key prefix, so cases never see each other's state. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

static struct conf_outcome *child_out; /* shared with the parent */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void host_log(void *user, int32_t level, const char *msg)
{
    (void)user;
    if (getenv("KVPLUG_CONFORMANCE_VERBOSE") != NULL)
        fprintf(stderr, "# plugin log %d: %s\n", (int)level, msg);
    if (child_out == NULL || level > KVP_LOG_WARN || msg == NULL)
        return;
    pthread_mutex_lock(&log_lock);
    unsigned slot = child_out->log_count % CONF_LOG_KEEP;
    snprintf(child_out->log[slot], sizeof(child_out->log[slot]), "%s", msg);
    child_out->log_count++;
    pthread_mutex_unlock(&log_lock);
}

const struct kvp_host_api conf_host_api = {
    .struct_size = sizeof(struct kvp_host_api),
    .flags = 0,
    .log = host_log,
    .log_user = NULL,
};

#define NEED_SLOT(ctx, field)                                                  \
    do {                                                                       \
        if (!KVP_HAS_OP((ctx)->ops, field)) {                                  \
            conf_fail((ctx), "observed ops->" #field " missing or NULL, "      \
                             "expected every slot the caps and minor promise");\
            return -1;                                                         \
        }                                                                      \
    } while (0)

int conf_require_ops(struct conf_ctx *ctx, uint64_t caps)
{
    NEED_SLOT(ctx, status_str);
    NEED_SLOT(ctx, engine_create);
    NEED_SLOT(ctx, engine_destroy);
    NEED_SLOT(ctx, register_buffer);
    NEED_SLOT(ctx, unregister_buffer);
    NEED_SLOT(ctx, put_from);
    NEED_SLOT(ctx, get_into);
    NEED_SLOT(ctx, exists);
    NEED_SLOT(ctx, stat);
    NEED_SLOT(ctx, remove);
    if (caps & KVP_CAP_BATCH) {
        NEED_SLOT(ctx, batch_put_from);
        NEED_SLOT(ctx, batch_get_into);
    }
    if (caps & KVP_CAP_TP) {
        NEED_SLOT(ctx, put_tensor_with_tp_from);
        NEED_SLOT(ctx, get_tensor_with_tp_into);
    }
    if ((caps & KVP_CAP_TP) && (caps & KVP_CAP_BATCH)) {
        NEED_SLOT(ctx, batch_put_tensor_with_tp_from);
        NEED_SLOT(ctx, batch_get_tensor_with_tp_into);
    }
    return 0;
}

/* Negotiated 1.1: every slot of 1.1 must be there. */
int conf_require_ops_v1_1(struct conf_ctx *ctx)
{
    NEED_SLOT(ctx, batch_exists);
    NEED_SLOT(ctx, batch_remove);
    NEED_SLOT(ctx, batch_put_from_iov);
    NEED_SLOT(ctx, batch_get_into_iov);
    NEED_SLOT(ctx, remove_prefix);
    NEED_SLOT(ctx, get_stats);
    return 0;
}

static const char *cap_names(uint64_t caps)
{
    static char buf[128];
    buf[0] = '\0';
    if (caps & KVP_CAP_THREAD_SAFE)
        strcat(buf, " THREAD_SAFE");
    if (caps & KVP_CAP_TP)
        strcat(buf, " TP");
    if (caps & KVP_CAP_BATCH)
        strcat(buf, " BATCH");
    if (caps & KVP_CAP_OVERWRITE)
        strcat(buf, " OVERWRITE");
    if (caps & KVP_CAP_CUDA)
        strcat(buf, " CUDA");
    return buf;
}

/* Loads the plugin, creates the engine and registers the arena. */
static int case_setup(struct conf_ctx *ctx)
{
    char err[1024] = "";
    int32_t st = kvp_loader_open(ctx->opt->plugin_path, &conf_host_api,
                                 &ctx->plugin, err, sizeof(err));
    if (st != KVP_OK) {
        conf_fail(ctx,
                  "observed kvp_loader_open = %s (%s), expected KVP_OK "
                  "(the plugin must load and negotiate ABI %d.%d)",
                  conf_st(st), err, KVP_ABI_MAJOR, KVP_ABI_MINOR);
        return -1;
    }
    ctx->ops = ctx->plugin.ops;
    uint64_t need = ctx->tc->caps;
    if ((ctx->ops->caps & need) != need) {
        conf_skip(ctx, "plugin caps lack%s", cap_names(need & ~ctx->ops->caps));
        return -1;
    }
    if (conf_require_ops(ctx, need) != 0)
        return -1;
    if ((ctx->tc->flags & CONF_NEED_V1_1) && ctx->plugin.abi_minor < 1) {
        conf_skip(ctx, "plugin negotiated ABI 1.%u; the case needs 1.1",
                  (unsigned)ctx->plugin.abi_minor);
        return -1;
    }
    if ((ctx->tc->flags & CONF_NEED_V1_1) && conf_require_ops_v1_1(ctx) != 0)
        return -1;
    if (!(ctx->tc->flags & CONF_NEED_ENGINE))
        return 0;
    st =
        ctx->ops->engine_create(ctx->opt->config, &conf_host_api, &ctx->engine);
    if (st != KVP_OK || ctx->engine == NULL) {
        conf_fail(ctx,
                  "observed engine_create(\"%s\") = %s, expected KVP_OK "
                  "with an engine",
                  ctx->opt->config, conf_st(st));
        ctx->engine = NULL;
        return -1;
    }
    ctx->arena = aligned_alloc(4096, CONF_ARENA_SIZE);
    if (ctx->arena == NULL) {
        conf_fail(ctx, "observed no memory for the arena (suite)");
        return -1;
    }
    memset(ctx->arena, 0, CONF_ARENA_SIZE);
    st = ctx->ops->register_buffer(ctx->engine, ctx->arena, CONF_ARENA_SIZE);
    if (st != KVP_OK) {
        conf_fail(ctx,
                  "observed register_buffer(arena, %zu) = %s, expected "
                  "KVP_OK",
                  (size_t)CONF_ARENA_SIZE, conf_st(st));
        return -1;
    }
    return 0;
}

static void case_teardown(struct conf_ctx *ctx)
{
    if (ctx->engine != NULL) {
        int32_t st = ctx->ops->engine_destroy(ctx->engine);
        if (st != KVP_OK)
            conf_fail(ctx, "observed engine_destroy = %s, expected KVP_OK",
                      conf_st(st));
    }
}

static void child_main(const struct conf_case *tc,
                       const struct conf_options *opt, unsigned index)
{
    struct conf_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        _exit(3);
    ctx->tc = tc;
    ctx->opt = opt;
    ctx->state = CONF_PASS;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    /* pid + start time: unique even against a long-lived server */
    snprintf(ctx->prefix, sizeof(ctx->prefix), "conf-%d-%lx-%u-", (int)getpid(),
             (unsigned long)now.tv_nsec ^ (unsigned long)now.tv_sec, index);
    if (!(tc->flags & (CONF_NEED_ENGINE | CONF_NEED_OPS)) ||
        case_setup(ctx) == 0)
        tc->fn(ctx);
    case_teardown(ctx);
    child_out->state = ctx->state;
    snprintf(child_out->msg, sizeof(child_out->msg), "%s", ctx->msg);
    _exit(0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void conf_run_case(const struct conf_case *tc, const struct conf_options *opt,
                   unsigned index, struct conf_outcome *out)
{
    memset(out, 0, sizeof(*out));
    struct conf_outcome *shared =
        mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int fds[2];
    if (shared == MAP_FAILED || pipe(fds) != 0) {
        out->state = CONF_FAIL;
        snprintf(out->msg, sizeof(out->msg), "suite: mmap/pipe: %s",
                 strerror(errno));
        return;
    }
    memset(shared, 0, sizeof(*shared));
    shared->state = -1; /* not reported */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_out = shared;
        child_main(tc, opt, index); /* keeps fds[1] open until it exits */
    }
    close(fds[1]);
    int status = 0, timed_out = 0;
    if (pid > 0) {
        double deadline = now_s() + opt->timeout_s;
        for (;;) {
            double left = deadline - now_s();
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
            int r = poll(&pfd, 1, (int)(left * 1000) + 1);
            if (r > 0) {
                char c;
                if (read(fds[0], &c, 1) <= 0)
                    break; /* EOF: the child is gone */
            } else if (r < 0 && errno != EINTR) {
                break;
            }
        }
        if (timed_out)
            kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    close(fds[0]);
    *out = *shared;
    if (pid < 0) {
        out->state = CONF_FAIL;
        snprintf(out->msg, sizeof(out->msg), "suite: fork: %s",
                 strerror(errno));
    } else if (timed_out) {
        out->state = CONF_FAIL;
        snprintf(out->msg, sizeof(out->msg),
                 "observed no return within %u s (killed), expected every "
                 "call to return",
                 opt->timeout_s);
    } else if (WIFSIGNALED(status)) {
        out->state = CONF_FAIL;
        snprintf(out->msg, sizeof(out->msg),
                 "observed the host process killed by signal %d (%s), "
                 "expected no crash",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (shared->state < 0) {
        out->state = CONF_FAIL;
        snprintf(out->msg, sizeof(out->msg),
                 "observed the host process exit(%d) inside the plugin, "
                 "expected no exit",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    munmap(shared, sizeof(*shared));
}
