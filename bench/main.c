/*
 * main.c - kvplug-bench: one run measures kvplug and its peers on
 * the same working set and writes results.csv, table.md and the plot into
 * --out DIR.
 *
 * Order of a run: pre-fault the working set (first-touch row), memcpy,
 * kvplug with the embedded server and with a separate kvplug-server
 * process for each configured transport (plain put/get, batches, TP
 * put/get, copy-then-put), then the child peers kvp-bench-ucx and
 * kvp-bench-redis (found next to this binary), then the report.
 */
#include "suites.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct main_opts {
    struct bench_opts b;
    uint64_t tp_sizes[BENCH_MAX_SIZES];
    int n_tp_sizes;
    const char *out;
    const char *plugin;
    char transports[128];
    const char *ucx_tls;
    const char *server_bin;
    uint64_t pool_size;
    int no_server, no_peers, no_tp;
    int procs[8]; /* client processes of the multi-process server rows */
    int n_procs;
    const char *report_only; /* CSV of an earlier (even cut-short) run */
    char self_dir[PATH_MAX];
};

void bench_row_skip(FILE *csv, const char *system, const char *variant,
                    const char *op, uint64_t size, const char *why)
{
    struct bench_row r = {.system = system,
                          .variant = variant,
                          .op = op,
                          .value_bytes = size,
                          .batch = 1,
                          .tp = 1,
                          .split_dim = -1,
                          .note = why};
    char note[256];
    snprintf(note, sizeof(note), "skipped: %s", why);
    for (char *p = note; *p; p++)
        if (*p == ',')
            *p = ';';
    r.note = note;
    bench_csv_row(csv, &r);
}

static void host_log(void *user, int32_t level, const char *msg)
{
    (void)user;
    if (level <= KVP_LOG_WARN) {
        bench_progress_end();
        fprintf(stderr, "[plugin] %s\n", msg);
    }
}

static const struct kvp_host_api host_api = {
    .struct_size = sizeof(struct kvp_host_api), .log = host_log};

static void usage(FILE *f)
{
    fprintf(f, "usage: kvplug-bench --out DIR [options]\n");
    bench_opts_usage(f);
    fprintf(f,
            "  --out DIR          results.csv, table.md, throughput.png\n"
            "  --plugin PATH      libkvplug.so (default $KVPLUG_PLUGIN, else "
            "../lib/libkvplug.so)\n"
            "  --transports LIST  ucx,verbs (default ucx)\n"
            "  --ucx-tls TLS      UCX transports for kvplug and raw UCX "
            "(default sm)\n"
            "  --tp-sizes LIST    tensor payload sizes of the TP cases "
            "(default 1M,16M)\n"
            "  --pool-size BYTES  store pool (default ws + ws/8 + 64M)\n"
            "  --server-bin PATH  kvplug-server (default next to this "
            "binary)\n"
            "  --no-server        only the embedded server\n"
            "  --no-peers         skip raw UCX and Redis\n"
            "  --no-tp            skip the TP cases\n"
            "  --procs LIST       client processes against one server "
            "(default 1,2,4; 0 = none)\n"
            "  --report CSV       only write table.md and the plot of CSV "
            "into --out\n");
}

static int parse_main(struct main_opts *m, int argc, char **argv)
{
    bench_opts_defaults(&m->b);
    m->tp_sizes[0] = 1 << 20;
    m->tp_sizes[1] = 16 << 20;
    m->n_tp_sizes = 2;
    m->procs[0] = 1;
    m->procs[1] = 2;
    m->procs[2] = 4;
    m->n_procs = 3;
    m->out = NULL;
    m->plugin = NULL;
    strcpy(m->transports, "ucx");
    m->ucx_tls = "sm";
    for (int i = 1; i < argc; i++) {
        int r = bench_opts_parse(&m->b, argc, argv, &i);
        if (r < 0)
            return -1;
        if (r == 1) {
            if (strcmp(argv[i], "--quick") == 0) {
                m->tp_sizes[0] = 16 << 20;
                m->n_tp_sizes = 1;
            }
            continue;
        }
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-server") == 0) {
            m->no_server = 1;
        } else if (strcmp(a, "--no-peers") == 0) {
            m->no_peers = 1;
        } else if (strcmp(a, "--no-tp") == 0) {
            m->no_tp = 1;
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (v == NULL) {
            fprintf(stderr, "unknown option or missing value: %s\n", a);
            return -1;
        } else {
            i++;
            if (strcmp(a, "--out") == 0) {
                m->out = v;
            } else if (strcmp(a, "--report") == 0) {
                m->report_only = v;
            } else if (strcmp(a, "--plugin") == 0) {
                m->plugin = v;
            } else if (strcmp(a, "--transports") == 0 &&
                       strlen(v) < sizeof(m->transports)) {
                strcpy(m->transports, v);
            } else if (strcmp(a, "--ucx-tls") == 0) {
                m->ucx_tls = v;
            } else if (strcmp(a, "--server-bin") == 0) {
                m->server_bin = v;
            } else if (strcmp(a, "--pool-size") == 0) {
                m->pool_size = bench_parse_bytes(v);
                if (!m->pool_size)
                    return -1;
            } else if (strcmp(a, "--procs") == 0) {
                m->n_procs = 0;
                for (const char *p = v; *p && m->n_procs < 8;) {
                    int n = atoi(p);
                    if (n < 0 || n > 8) {
                        fprintf(stderr, "--procs: 0..8 processes\n");
                        return -1;
                    }
                    if (n > 0)
                        m->procs[m->n_procs++] = n;
                    p += strcspn(p, ",");
                    p += *p == ',';
                }
            } else if (strcmp(a, "--tp-sizes") == 0) {
                m->n_tp_sizes =
                    bench_parse_sizes(v, m->tp_sizes, BENCH_MAX_SIZES);
                if (m->n_tp_sizes < 0)
                    return -1;
            } else {
                fprintf(stderr, "unknown option: %s\n", a);
                return -1;
            }
        }
    }
    if (!m->out) {
        fprintf(stderr, "--out DIR is required\n");
        return -1;
    }
    if (!m->pool_size)
        m->pool_size = m->b.ws_bytes + m->b.ws_bytes / 8 + (UINT64_C(64) << 20);
    return 0;
}

/* The directory this executable lives in (peers sit next to it). */
static void find_self_dir(struct main_opts *m)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        strcpy(m->self_dir, ".");
        return;
    }
    exe[n] = '\0';
    snprintf(m->self_dir, sizeof(m->self_dir), "%s", dirname(exe));
}

/* The working set plus room for the TP slots' headers (page-aligned
 * header + payload per slot). */
static int ws_alloc(struct kvp_ws *ws, const struct main_opts *m)
{
    uint64_t min = UINT64_MAX;
    for (int i = 0; i < m->b.n_sizes; i++)
        min = m->b.sizes[i] < min ? m->b.sizes[i] : min;
    for (int i = 0; i < m->n_tp_sizes; i++)
        min = m->tp_sizes[i] < min ? m->tp_sizes[i] : min;
    ws->len = m->b.ws_bytes + (m->b.ws_bytes / min + 1) * BENCH_PAGE;
    ws->base = bench_map(ws->len);
    return ws->base ? 0 : -1;
}

/* Waits for pid, at most timeout_s seconds, then kills it. Returns its
 * exit status or -1. */
static int wait_child(pid_t pid, int timeout_s)
{
    int st = 0;
    for (int i = 0; i < timeout_s * 10; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fprintf(stderr, "child %d ran past %d s: killed\n", (int)pid, timeout_s);
    return -1;
}

/* Starts kvplug-server with its stdout/stderr in DIR/server-PORT.log and
 * waits (bounded) for its "listening" line. */
static pid_t server_start(const struct main_opts *m, const char *transport,
                          int *port_p)
{
    char bin[PATH_MAX + 32], listen_s[64], pool[32], log[PATH_MAX];
    int port = bench_free_port();
    if (m->server_bin)
        snprintf(bin, sizeof(bin), "%s", m->server_bin);
    else
        snprintf(bin, sizeof(bin), "%s/kvplug-server", m->self_dir);
    if (access(bin, X_OK) != 0)
        return -1;
    snprintf(listen_s, sizeof(listen_s), "127.0.0.1:%d", port);
    snprintf(pool, sizeof(pool), "%" PRIu64, m->pool_size);
    snprintf(log, sizeof(log), "%s/server-%d.log", m->out, port);
    /* a fresh file: the line of an earlier server on this port must not be
     * read as this one's before the child truncates it */
    unlink(log);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the bench */
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        /* --ucx.ucx-tls: for the ucx module only, skipped by a verbs-only
         * server (docs/config.md, "Transport options") */
        execl(bin, bin, "--listen", listen_s, "--pool-size", pool,
              "--transports", transport, "--ucx.ucx-tls", m->ucx_tls,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) { /* 60 s: the pool is pre-faulted */
        char buf[512] = "";
        FILE *f = fopen(log, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = '\0';
            fclose(f);
        }
        if (strstr(buf, "kvplug-server listening on")) {
            *port_p = port;
            return pid;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void server_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    if (wait_child(pid, 10) < 0)
        fprintf(stderr, "kvplug-server %d did not stop cleanly\n", (int)pid);
}

/* Runs every kvplug case on one engine config. */
static void run_engine(const struct main_opts *m, const struct kvp_ops *ops,
                       struct kvp_ws *ws, const char *variant,
                       const char *config, FILE *csv)
{
    /* --quick: the tp of the target only */
    static const int32_t all_tps[] = {1, 2, 4, 8}, quick_tps[] = {4};
    struct kvp_target t = {.ops = ops,
                           .variant = variant,
                           .ws = ws,
                           .tps = m->b.quick ? quick_tps : all_tps,
                           .n_tps = m->b.quick ? 1 : 4};
    char why[160];
    int32_t rc = ops->engine_create(config, &host_api, &t.eng);
    if (rc != KVP_OK) {
        snprintf(why, sizeof(why), "engine_create(%s): %s", config,
                 ops->status_str(rc));
        for (char *p = why; *p; p++)
            if (*p == ';')
                *p = ' ';
        bench_progress_end();
        fprintf(stderr, "%s\n", why);
        bench_row_skip(csv, "kvplug", variant, "put", 0, why);
        return;
    }
    rc = ops->register_buffer(t.eng, ws->base, ws->len);
    if (rc != KVP_OK) {
        snprintf(why, sizeof(why), "register_buffer: %s", ops->status_str(rc));
        bench_row_skip(csv, "kvplug", variant, "put", 0, why);
        goto destroy;
    }
    /* Touch the working set again right before timing: engine_create
     * (pool pre-fault, connect) left it idle for seconds, and on the CI VM
     * idle pages go cold (DAMON clears their accessed bits; under shadow
     * paging the next access is a hypervisor exit, ~3 us a page): the
     * first put pass read its sources at 0.8-1 ms per MiB instead of 60 us
     * (docs/performance.md). */
    bench_prefault(ws->base, ws->len, 5);
    bench_kvplug_run(&m->b, &t, csv);
    if (!m->no_tp && m->n_tp_sizes > 0) {
        uint64_t max = 0;
        for (int i = 0; i < m->n_tp_sizes; i++)
            max = m->tp_sizes[i] > max ? m->tp_sizes[i] : max;
        t.staging_len = 2 * (max + 16 * BENCH_PAGE);
        t.staging = bench_map(t.staging_len);
        if (t.staging) {
            bench_prefault(t.staging, t.staging_len, 4);
            if (ops->register_buffer(t.eng, t.staging, t.staging_len) !=
                KVP_OK) {
                bench_unmap(t.staging, t.staging_len);
                t.staging = NULL;
            }
        }
        struct bench_opts tpo = m->b;
        memcpy(tpo.sizes, m->tp_sizes, sizeof(tpo.sizes));
        tpo.n_sizes = m->n_tp_sizes;
        bench_tp_run(&tpo, &t, csv);
        if (t.staging) {
            ops->unregister_buffer(t.eng, t.staging);
            bench_unmap(t.staging, t.staging_len);
        }
    }
    ops->unregister_buffer(t.eng, ws->base);
destroy:
    ops->engine_destroy(t.eng);
}

static void run_kvplug(const struct main_opts *m, struct kvp_ws *ws, FILE *csv)
{
    struct kvp_plugin pl;
    char err[512], path[PATH_MAX + 32];
    const char *p = m->plugin ? m->plugin : getenv("KVPLUG_PLUGIN");
    if (!p || !*p) {
        snprintf(path, sizeof(path), "%s/../lib/libkvplug.so", m->self_dir);
        p = path;
    }
    if (kvp_loader_open(p, &host_api, &pl, err, sizeof(err)) != KVP_OK) {
        fprintf(stderr, "kvplug-bench: %s\n", err);
        bench_row_skip(csv, "kvplug", "-", "put", 0, "plugin did not load");
        return;
    }
    char list[128];
    snprintf(list, sizeof(list), "%s", m->transports);
    for (char *save = NULL, *tr = strtok_r(list, ",", &save); tr;
         tr = strtok_r(NULL, ",", &save)) {
        char variant[64], config[256];
        snprintf(variant, sizeof(variant), "embedded/%s", tr);
        snprintf(config, sizeof(config),
                 "transport=%s;pool_size=%" PRIu64 "%s%s", tr, m->pool_size,
                 strcmp(tr, "ucx") == 0 ? ";ucx_tls=" : "",
                 strcmp(tr, "ucx") == 0 ? m->ucx_tls : "");
        run_engine(m, pl.ops, ws, variant, config, csv);
        if (m->no_server)
            continue;
        int port = 0;
        snprintf(variant, sizeof(variant), "server/%s", tr);
        bench_progress("kvplug", "starting kvplug-server (%s)", tr);
        pid_t pid = server_start(m, tr, &port);
        if (pid < 0) {
            bench_row_skip(csv, "kvplug", variant, "put", 0,
                           "kvplug-server did not start");
            continue;
        }
        snprintf(config, sizeof(config),
                 "transport=%s;servers=127.0.0.1:%d%s%s", tr, port,
                 strcmp(tr, "ucx") == 0 ? ";ucx_tls=" : "",
                 strcmp(tr, "ucx") == 0 ? m->ucx_tls : "");
        run_engine(m, pl.ops, ws, variant, config, csv);
        /* the same server with the control frames over loopback TCP:
         * what remote clients get, and the same-host path before the
         * rings (docs/performance.md) */
        snprintf(variant, sizeof(variant), "server/%s", tr);
        bench_procs_run(&m->b, pl.ops, &host_api, variant, config, m->procs,
                        m->n_procs, csv);
        /* the same rings with both fast paths off - every get asks the
         * server (LOOKUP), every put ALLOCs and COMMITs: the A/B of
         * docs/performance.md's lookup-free gets and arena puts */
        snprintf(variant, sizeof(variant), "server-rt/%s", tr);
        size_t cl = strlen(config);
        snprintf(config + cl, sizeof(config) - cl,
                 ";local_fastget=0;local_arena=0");
        run_engine(m, pl.ops, ws, variant, config, csv);
        bench_procs_run(&m->b, pl.ops, &host_api, variant, config, m->procs,
                        m->n_procs, csv);
        config[cl] = '\0';
        snprintf(variant, sizeof(variant), "server-tcp/%s", tr);
        snprintf(config + cl, sizeof(config) - cl, ";local_fastpath=0");
        run_engine(m, pl.ops, ws, variant, config, csv);
        bench_procs_run(&m->b, pl.ops, &host_api, variant, config, m->procs,
                        m->n_procs, csv);
        server_stop(pid);
    }
    /* never dlclose: the plugin may keep threads of its own */
}

/* Runs a peer next to this binary with the shared options, appending to
 * the same CSV. */
static void run_peer(const struct main_opts *m, const char *name,
                     const char *extra, const char *csv_path, FILE *csv)
{
    char bin[PATH_MAX + 32], ws[32], rounds[16], maxs[32], sizes[256] = "",
                                                           batches[64] = "";
    snprintf(bin, sizeof(bin), "%s/%s", m->self_dir, name);
    if (access(bin, X_OK) != 0) {
        bench_row_skip(csv, name, "-", "put", 0, "not built");
        return;
    }
    snprintf(ws, sizeof(ws), "%" PRIu64, m->b.ws_bytes);
    char ws_diag[32]; /* min(ws, 256 MiB) */
    snprintf(ws_diag, sizeof(ws_diag), "%" PRIu64,
             m->b.ws_bytes < (UINT64_C(256) << 20) ? m->b.ws_bytes
                                                   : UINT64_C(256) << 20);
    snprintf(rounds, sizeof(rounds), "%d", m->b.rounds);
    snprintf(maxs, sizeof(maxs), "%g", m->b.max_round_s);
    for (int i = 0; i < m->b.n_sizes; i++)
        snprintf(sizes + strlen(sizes), sizeof(sizes) - strlen(sizes),
                 "%s%" PRIu64, i ? "," : "", m->b.sizes[i]);
    for (int i = 0; i < m->b.n_batches; i++)
        snprintf(batches + strlen(batches), sizeof(batches) - strlen(batches),
                 "%s%u", i ? "," : "", m->b.batches[i]);
    fflush(csv);
    /* Redis: single ops only (the targets compare single ops; a 1 GiB pass
     * of 16 MiB SETs with jemalloc purging takes seconds). Pipelined
     * batches: kvp-bench-redis --batches 1,8,32 on its own. */
    if (strcmp(name, "kvp-bench-redis") == 0)
        strcpy(batches, "1");
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        setenv("UCX_TLS", m->ucx_tls, 1);
        /* extra: "--target-mem user" - the emulated-RMA ceiling, a
         * diagnostic row: 1 MiB only, 256 MiB working set (it is 10-100x
         * slower than the real ceiling) */
        if (extra)
            execl(bin, bin, "--ws", ws_diag, "--rounds", "2", "--sizes",
                  "1048576", "--batches", "1,32", "--csv", csv_path,
                  "--target-mem", extra, (char *)NULL);
        else
            execl(bin, bin, "--ws", ws, "--rounds", rounds, "--max-round-s",
                  maxs, "--sizes", sizes, "--batches", batches, "--csv",
                  csv_path, (char *)NULL);
        _exit(127);
    }
    int rc = pid > 0 ? wait_child(pid, 1800) : -1;
    if (rc != 0) {
        char why[64];
        snprintf(why, sizeof(why), /* bare-status-ok: a process's exit */
                 "exit status %d", rc);
        bench_row_skip(csv, name, "-", "put", 0, why);
    }
}

static void meta_of(const struct main_opts *m, char *buf, size_t cap,
                    const char *load0)
{
    struct utsname u;
    char load1[64] = "", when[64], ws[32];
    time_t now = time(NULL);
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(load1, sizeof(load1), f))
            load1[0] = '\0';
        fclose(f);
        load1[strcspn(load1, "\n")] = '\0';
    }
    uname(&u);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    snprintf(buf, cap,
             "Finished %s on %s (%s %s), %ld CPUs online. Working set %s, "
             "up to %d rounds per case, UCX_TLS=%s, transports %s. "
             "Load average at start: %s; at end: %s. GB/s = 1e9 B/s.",
             when, u.nodename, u.sysname, u.release,
             sysconf(_SC_NPROCESSORS_ONLN),
             bench_fmt_size(m->b.ws_bytes, ws, sizeof(ws)), m->b.rounds,
             m->ucx_tls, m->transports, load0, load1);
}

int main(int argc, char **argv)
{
    static struct main_opts m;
    struct kvp_ws ws = {0};
    char csv_path[PATH_MAX], load0[64] = "", meta[1024];

    if (parse_main(&m, argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    find_self_dir(&m);
    signal(SIGPIPE, SIG_IGN);
    if (m.report_only) {
        snprintf(meta, sizeof(meta), "Report of %s.", m.report_only);
        return bench_report(m.report_only, m.out, meta) == 0 ? 0 : 1;
    }
    if (mkdir(m.out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", m.out, strerror(errno));
        return 1;
    }
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (!fgets(load0, sizeof(load0), lf))
            load0[0] = '\0';
        fclose(lf);
        load0[strcspn(load0, "\n")] = '\0';
    }
    snprintf(csv_path, sizeof(csv_path), "%s/results.csv", m.out);
    unlink(csv_path);
    FILE *csv = bench_csv_open(csv_path);
    if (!csv)
        return 1;

    if (ws_alloc(&ws, &m) != 0) {
        fprintf(stderr, "cannot map the working set\n");
        return 1;
    }
    bench_progress("bench", "pre-faulting the working set");
    uint64_t ft = bench_prefault(ws.base, ws.len, 1);
    bench_csv_first_touch(csv, "kvplug", "host", ws.len, ft,
                          "user buffers; p50_us = us per page");

    bench_memcpy_run(&m.b, &ws, csv);
    run_kvplug(&m, &ws, csv);
    bench_unmap(ws.base, ws.len); /* the peers map their own */
    if (!m.no_peers) {
        run_peer(&m, "kvp-bench-ucx", NULL, csv_path, csv);
        if (!m.b.quick)
            run_peer(&m, "kvp-bench-ucx", "user", csv_path, csv);
        run_peer(&m, "kvp-bench-redis", NULL, csv_path, csv);
    }
    bench_progress_end();
    fclose(csv);
    meta_of(&m, meta, sizeof(meta), load0);
    if (bench_report(csv_path, m.out, meta) != 0) {
        fprintf(stderr, "report failed\n");
        return 1;
    }
    fprintf(stderr, "results in %s (results.csv, table.md, throughput.png)\n",
            m.out);
    return 0;
}
