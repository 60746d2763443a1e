/*
 * report.c - turns one run's CSV into table.md (targets, medians, ratios,
 * latencies, TP) and a gnuplot plot of throughput vs value size per
 * system, put and get (throughput.png, or .svg if pngcairo is missing).
 */
#include "suites.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 8192
#define MIB      (1024.0 * 1024.0)

struct rrow {
    char system[32], variant[48], op[16];
    uint64_t size;
    uint32_t batch;
    int tp, split;
    double gbps, p50, p99;
    int failed;
};

static struct rrow rows[MAX_ROWS];
static int nrows;

static int load(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f)
        return -1;
    nrows = 0;
    while (fgets(line, sizeof(line), f) && nrows < MAX_ROWS) {
        struct rrow *r = &rows[nrows];
        char note[256] = "";
        unsigned long long size, calls;
        int rounds;
        if (strncmp(line, "system,", 7) == 0)
            continue;
        int n = sscanf(line,
                       "%31[^,],%47[^,],%15[^,],%llu,%u,%d,%d,%llu,%d,%lf,"
                       "%lf,%lf,%255[^\n]",
                       r->system, r->variant, r->op, &size, &r->batch, &r->tp,
                       &r->split, &calls, &rounds, &r->gbps, &r->p50, &r->p99,
                       note);
        if (n < 12)
            continue;
        r->size = size;
        r->failed = strstr(note, "fail") || strstr(note, "FAIL") ||
                    strstr(note, "skip") || rounds == 0;
        nrows++;
    }
    fclose(f);
    return 0;
}

/* The row of (system, variant, op, size, batch, tp, split); variant may
 * be a prefix ending in '*' (never matching the "/user-mem" rows) or a
 * suffix after a leading '*'. The best gbps if several match. */
static const struct rrow *find(const char *sys, const char *var, const char *op,
                               uint64_t size, uint32_t batch, int tp, int split)
{
    const struct rrow *best = NULL;
    size_t vl = strlen(var);
    int prefix = vl > 0 && var[vl - 1] == '*';
    int suffix = vl > 1 && var[0] == '*';
    for (int i = 0; i < nrows; i++) {
        const struct rrow *r = &rows[i];
        size_t rl = strlen(r->variant);
        if (r->failed || strcmp(r->system, sys) || strcmp(r->op, op) ||
            r->size != size || r->batch != batch || r->tp != tp ||
            r->split != split)
            continue;
        if (suffix ? rl < vl - 1 ||
                         strcmp(r->variant + rl - (vl - 1), var + 1) != 0
            : prefix ? strncmp(r->variant, var, vl - 1) != 0
                     : strcmp(r->variant, var) != 0)
            continue;
        if (prefix && strstr(r->variant, "/user-mem"))
            continue; /* the emulated-RMA ceiling is not the ceiling */
        if (!best || r->gbps > best->gbps)
            best = r;
    }
    return best;
}

/* Redis at its fastest with purging off: best of TCP and unix socket. */
static const struct rrow *redis_best(const char *op, uint64_t size)
{
    const struct rrow *t = find("redis", "tcp/purge-off", op, size, 1, 1, -1);
    const struct rrow *u = find("redis", "unix/purge-off", op, size, 1, 1, -1);
    if (!t || (u && u->gbps > t->gbps))
        return u;
    return t;
}

static void cell(FILE *f, const struct rrow *r)
{
    if (r)
        fprintf(f, " %.2f |", r->gbps);
    else
        fprintf(f, " - |");
}

static void ratio(FILE *f, const struct rrow *a, const struct rrow *b)
{
    if (a && b && b->gbps > 0)
        fprintf(f, " %.2fx |", a->gbps / b->gbps);
    else
        fprintf(f, " - |");
}

static void target(FILE *f, const char *what, const struct rrow *k,
                   const struct rrow *p, const char *pname, double goal)
{
    fprintf(f, "| %s |", what);
    cell(f, k);
    fprintf(f, " %s:", pname);
    cell(f, p);
    ratio(f, k, p);
    fprintf(f, " >= %.2fx |", goal);
    if (k && p && p->gbps > 0) {
        double r = k->gbps / p->gbps;
        if (r >= goal)
            fprintf(f, " hit |\n");
        else
            fprintf(f, " MISSED by %.0f%% |\n", (1 - r / goal) * 100);
    } else {
        fprintf(f, " no data |\n");
    }
}

static void targets(FILE *f, const char *emb)
{
    const uint64_t M1 = 1 << 20, M16 = 16 << 20;
    char tpv[64];
    fprintf(f,
            "## Targets (%s, 1 MiB values unless stated)\n\n"
            "| target | kvplug GB/s | peer GB/s | ratio | goal | |\n"
            "|---|---|---|---|---|---|\n",
            emb);
    target(f, "batch_put_from b32 vs raw UCX put b32",
           find("kvplug", emb, "put", M1, 32, 1, -1),
           find("ucx-raw", "*", "put", M1, 32, 1, -1), "ucx", 0.9);
    target(f, "batch_get_into b32 vs raw UCX get b32",
           find("kvplug", emb, "get", M1, 32, 1, -1),
           find("ucx-raw", "*", "get", M1, 32, 1, -1), "ucx", 0.9);
    target(f, "put_from vs raw UCX put (single)",
           find("kvplug", emb, "put", M1, 1, 1, -1),
           find("ucx-raw", "*", "put", M1, 1, 1, -1), "ucx", 0.75);
    target(f, "get_into vs raw UCX get (single)",
           find("kvplug", emb, "get", M1, 1, 1, -1),
           find("ucx-raw", "*", "get", M1, 1, 1, -1), "ucx", 0.75);
    target(f, "put_from vs Redis SET, 1 MiB",
           find("kvplug", emb, "put", M1, 1, 1, -1), redis_best("put", M1),
           "redis", 3);
    target(f, "get_into vs Redis GET, 1 MiB",
           find("kvplug", emb, "get", M1, 1, 1, -1), redis_best("get", M1),
           "redis", 4);
    target(f, "put_from vs Redis SET, 16 MiB",
           find("kvplug", emb, "put", M16, 1, 1, -1), redis_best("put", M16),
           "redis", 3);
    target(f, "get_into vs Redis GET, 16 MiB",
           find("kvplug", emb, "get", M16, 1, 1, -1), redis_best("get", M16),
           "redis", 4);
    snprintf(tpv, sizeof(tpv), "%s", emb);
    target(f, "zero-copy TP put vs copy-then-put (tp 4, split_dim 1, 16 MiB)",
           find("kvplug", tpv, "tp_put", M16, 1, 4, 1),
           find("copy-then-put", tpv, "tp_put", M16, 1, 4, 1), "copy", 1.5);
    fprintf(f, "\nRedis peer = best of TCP and unix socket with jemalloc "
               "purging off.\n\n");
    fprintf(f, "Raw UCX with the target region registered from the "
               "caller's mmap (UCX emulates RMA with active messages; the "
               "kvplug server's pool is registered that way; 256 MiB "
               "working set in a full run):\n\n"
               "| op | batch | 1 MiB GB/s | 16 MiB GB/s |\n"
               "|---|---|---|---|\n");
    for (int o = 0; o < 2; o++)
        for (uint32_t bt = 1; bt <= 32; bt += 31) {
            const char *op = o ? "get" : "put";
            fprintf(f, "| %s | %u |", op, bt);
            cell(f, find("ucx-raw", "*/user-mem", op, M1, bt, 1, -1));
            cell(f, find("ucx-raw", "*/user-mem", op, M16, bt, 1, -1));
            fputc('\n', f);
        }
    fputc('\n', f);
}

static int sizes_of(uint64_t *out, int cap)
{
    int n = 0;
    for (int i = 0; i < nrows; i++) {
        if (strcmp(rows[i].op, "put") != 0)
            continue;
        int seen = 0;
        for (int j = 0; j < n; j++)
            seen |= out[j] == rows[i].size;
        if (!seen && n < cap)
            out[n++] = rows[i].size;
    }
    for (int i = 0; i < n; i++) /* ascending */
        for (int j = i + 1; j < n; j++)
            if (out[j] < out[i]) {
                uint64_t t = out[i];
                out[i] = out[j];
                out[j] = t;
            }
    return n;
}

static void medians(FILE *f, const char *op, const char *emb, const char *srv)
{
    uint64_t sizes[BENCH_MAX_SIZES];
    int n = sizes_of(sizes, BENCH_MAX_SIZES);
    fprintf(f,
            "## %s throughput, GB/s (median over rounds)\n\n"
            "| size | memcpy | UCX b1 | UCX b32 | kvplug b1 | kvplug b32 "
            "| kvplug server b1 | Redis best | kvplug/memcpy | "
            "kvplug/UCX b1 | kvplug/UCX b32 | kvplug/Redis |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n",
            strcmp(op, "put") == 0 ? "put (SET)" : "get (GET)");
    for (int i = 0; i < n; i++) {
        char sz[32];
        const struct rrow *m = find("memcpy", "1-thread", op, sizes[i], 1, 1, -1);
        const struct rrow *u1 = find("ucx-raw", "*", op, sizes[i], 1, 1, -1);
        const struct rrow *u32 = find("ucx-raw", "*", op, sizes[i], 32, 1, -1);
        const struct rrow *k1 = find("kvplug", emb, op, sizes[i], 1, 1, -1);
        const struct rrow *k32 = find("kvplug", emb, op, sizes[i], 32, 1, -1);
        const struct rrow *ks = find("kvplug", srv, op, sizes[i], 1, 1, -1);
        const struct rrow *rb = redis_best(op, sizes[i]);
        fprintf(f, "| %s |", bench_fmt_size(sizes[i], sz, sizeof(sz)));
        cell(f, m);
        cell(f, u1);
        cell(f, u32);
        cell(f, k1);
        cell(f, k32);
        cell(f, ks);
        cell(f, rb);
        ratio(f, k1, m);
        ratio(f, k1, u1);
        ratio(f, k32, u32);
        ratio(f, k1, rb);
        fputc('\n', f);
    }
    fputc('\n', f);
}

static void latencies(FILE *f, const char *emb)
{
    uint64_t sizes[BENCH_MAX_SIZES];
    int n = sizes_of(sizes, BENCH_MAX_SIZES);
    fprintf(f, "## Latency per single op, p50 / p99 us\n\n"
               "| size | op | kvplug | UCX raw | Redis best | memcpy |\n"
               "|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++)
        for (int o = 0; o < 2; o++) {
            const char *op = o ? "get" : "put";
            const struct rrow *r[4] = {
                find("kvplug", emb, op, sizes[i], 1, 1, -1),
                find("ucx-raw", "*", op, sizes[i], 1, 1, -1),
                redis_best(op, sizes[i]),
                find("memcpy", "1-thread", op, sizes[i], 1, 1, -1)};
            char sz[32];
            fprintf(f, "| %s | %s |", bench_fmt_size(sizes[i], sz, 32), op);
            for (int k = 0; k < 4; k++)
                if (r[k])
                    fprintf(f, " %.0f / %.0f |", r[k]->p50, r[k]->p99);
                else
                    fprintf(f, " - |");
            fputc('\n', f);
        }
    fputc('\n', f);
}

static void tp_table(FILE *f)
{
    fprintf(f, "## TP put (full tensor in) and per-rank TP get, GB/s\n\n"
               "| variant | size | tp | split_dim | zero-copy put | "
               "copy-then-put | ratio | per-rank get |\n"
               "|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nrows; i++) {
        const struct rrow *r = &rows[i];
        if (strcmp(r->system, "kvplug") || strcmp(r->op, "tp_put"))
            continue;
        const struct rrow *c = find("copy-then-put", r->variant, "tp_put",
                                    r->size, 1, r->tp, r->split);
        const struct rrow *g =
            find("kvplug", r->variant, "tp_get", r->size, 1, r->tp, r->split);
        char sz[32];
        fprintf(f, "| %s | %s | %d | %d |", r->variant,
                bench_fmt_size(r->size, sz, 32), r->tp, r->split);
        cell(f, r->failed ? NULL : r);
        cell(f, c);
        ratio(f, r->failed ? NULL : r, c);
        cell(f, g);
        fputc('\n', f);
    }
    fputc('\n', f);
}

static void all_rows_note(FILE *f)
{
    int failed = 0;
    for (int i = 0; i < nrows; i++)
        failed += rows[i].failed;
    fprintf(f, "%d rows, %d failed or skipped (see results.csv notes).\n",
            nrows, failed);
}

/* gnuplot: one data file per op, one column per system. */
static int plot(const char *dir, const char *emb, const char *srv)
{
    static const char *const ops[2] = {"put", "get"};
    uint64_t sizes[BENCH_MAX_SIZES];
    int n = sizes_of(sizes, BENCH_MAX_SIZES);
    char path[4200];
    for (int o = 0; o < 2; o++) {
        snprintf(path, sizeof(path), "%s/%s.dat", dir, ops[o]);
        FILE *f = fopen(path, "w");
        if (!f)
            return -1;
        fprintf(f, "# MiB memcpy ucx_b1 ucx_b32 kvplug_b1 kvplug_b32 "
                   "kvplug_server_b1 redis_best\n");
        for (int i = 0; i < n; i++) {
            const struct rrow *r[7] = {
                find("memcpy", "1-thread", ops[o], sizes[i], 1, 1, -1),
                find("ucx-raw", "*", ops[o], sizes[i], 1, 1, -1),
                find("ucx-raw", "*", ops[o], sizes[i], 32, 1, -1),
                find("kvplug", emb, ops[o], sizes[i], 1, 1, -1),
                find("kvplug", emb, ops[o], sizes[i], 32, 1, -1),
                find("kvplug", srv, ops[o], sizes[i], 1, 1, -1),
                redis_best(ops[o], sizes[i])};
            fprintf(f, "%g", (double)sizes[i] / MIB);
            for (int k = 0; k < 7; k++)
                if (r[k])
                    fprintf(f, " %.4f", r[k]->gbps);
                else
                    fprintf(f, " NaN");
            fputc('\n', f);
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/throughput.gp", dir);
    FILE *g = fopen(path, "w");
    if (!g)
        return -1;
    fprintf(g, "# usage: gnuplot -e \"term='pngcairo'\" throughput.gp\n"
               "if (!exists(\"term\")) term = 'pngcairo'\n"
               "if (term eq 'svg') { set terminal svg size 1200,500; "
               "set output 'throughput.svg' } else { set terminal pngcairo "
               "size 1200,500; set output 'throughput.png' }\n"
               "set termoption noenhanced\nset datafile missing 'NaN'\n"
               "set logscale x 2\nset logscale y 10\n"
               "set xlabel 'value size (MiB)'\n"
               "set ylabel 'GB/s (1e9 B/s)'\nset key top left font ',8'\n"
               "set grid\n"
               "set multiplot layout 1,2\n");
    for (int o = 0; o < 2; o++)
        fprintf(g,
                "set title '%s'\n"
                "plot '%s.dat' u 1:2 w lp t 'memcpy (1 thread)', "
                "'' u 1:3 w lp t 'raw UCX b1', '' u 1:4 w lp t 'raw UCX b32', "
                "'' u 1:5 w lp lw 2 t 'kvplug b1', "
                "'' u 1:6 w lp lw 2 t 'kvplug b32', "
                "'' u 1:7 w lp t 'kvplug server b1', "
                "'' u 1:8 w lp t 'Redis best (purge off)'\n",
                o ? "get (get_into / GET)" : "put (put_from / SET)", ops[o]);
    fprintf(g, "unset multiplot\n");
    fclose(g);
    char cmd[8600];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && (gnuplot -e \"term='pngcairo'\" throughput.gp || "
             "gnuplot -e \"term='svg'\" throughput.gp) >/dev/null 2>&1",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The same-host server (docs/performance.md): rings vs TCP control vs
 * embedded vs Redis, single and b32, and N client processes. */
static void same_host(FILE *f, const char *emb, const char *srv)
{
    uint64_t sizes[BENCH_MAX_SIZES * 4];
    int n = 0;
    for (int i = 0; i < nrows && n < (int)(sizeof(sizes) / sizeof(sizes[0]));
         i++) {
        const struct rrow *r = &rows[i];
        if (strcmp(r->system, "kvplug") || strcmp(r->variant, srv) ||
            r->size > (UINT64_C(16) << 20))
            continue;
        int seen = 0;
        for (int k = 0; k < n; k++)
            seen |= sizes[k] == r->size;
        if (!seen)
            sizes[n++] = r->size;
    }
    if (n == 0)
        return;
    char tcp[64];
    snprintf(tcp, sizeof(tcp), "server-tcp/%s", strchr(srv, '/') + 1);
    static const char *const ops[] = {"put", "get"};
    fprintf(f, "## Same-host server: rings vs TCP control (GB/s, p50 us)\n\n"
               "| op | size | rings b1 | p50 | TCP b1 | p50 | embedded b1 | "
               "Redis best | rings/Redis | rings/embedded | rings b32 | "
               "TCP b32 | embedded b32 | b32 rings/embedded |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < n; i++) {
            const struct rrow *r1 = find("kvplug", srv, ops[o], sizes[i], 1,
                                         1, -1),
                              *t1 = find("kvplug", tcp, ops[o], sizes[i], 1,
                                         1, -1),
                              *e1 = find("kvplug", emb, ops[o], sizes[i], 1,
                                         1, -1),
                              *rd = redis_best(ops[o], sizes[i]),
                              *r32 = find("kvplug", srv, ops[o], sizes[i], 32,
                                          1, -1),
                              *t32 = find("kvplug", tcp, ops[o], sizes[i], 32,
                                          1, -1),
                              *e32 = find("kvplug", emb, ops[o], sizes[i], 32,
                                          1, -1);
            char sz[32];
            fprintf(f, "| %s | %s |", ops[o],
                    bench_fmt_size(sizes[i], sz, sizeof(sz)));
            cell(f, r1);
            fprintf(f, " %.1f |", r1 ? r1->p50 : 0.0);
            cell(f, t1);
            fprintf(f, " %.1f |", t1 ? t1->p50 : 0.0);
            cell(f, e1);
            cell(f, rd);
            ratio(f, r1, rd);
            ratio(f, r1, e1);
            cell(f, r32);
            cell(f, t32);
            cell(f, e32);
            ratio(f, r32, e32);
            fputc('\n', f);
        }
    fprintf(f, "\n| op | size | procs | rings aggregate | TCP aggregate | "
               "rings/TCP | memcpy 2-thread | rings/memcpy 2-thread |\n"
               "|---|---|---|---|---|---|---|---|\n");
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < n; i++)
            for (int p = 1; p <= 8; p *= 2) {
                char a[96], b[96], sz[32];
                snprintf(a, sizeof(a), "%s/%dproc", srv, p);
                snprintf(b, sizeof(b), "%s/%dproc", tcp, p);
                const struct rrow *ra = find("kvplug", a, ops[o], sizes[i], 1,
                                             1, -1),
                                  *rb = find("kvplug", b, ops[o], sizes[i], 1,
                                             1, -1);
                if (!ra && !rb)
                    continue;
                fprintf(f, "| %s | %s | %d |", ops[o],
                        bench_fmt_size(sizes[i], sz, sizeof(sz)), p);
                const struct rrow *mc = find("memcpy", "2-thread", ops[o],
                                             sizes[i], 1, 1, -1);
                cell(f, ra);
                cell(f, rb);
                ratio(f, ra, rb);
                cell(f, mc);
                ratio(f, ra, mc);
                fputc('\n', f);
            }
    fputc('\n', f);
}

int bench_report(const char *csv_path, const char *dir, const char *meta)
{
    char path[4200];
    const char *emb = "embedded/ucx", *srv = "server/ucx";
    if (load(csv_path) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/table.md", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "# kvplug-bench results\n\n%s\n\n", meta);
    targets(f, emb);
    medians(f, "put", emb, srv);
    medians(f, "get", emb, srv);
    latencies(f, emb);
    same_host(f, emb, srv);
    tp_table(f);
    all_rows_note(f);
    fclose(f);
    if (plot(dir, emb, srv) != 0)
        fprintf(stderr, "gnuplot failed: no plot in %s\n", dir);
    return 0;
}
