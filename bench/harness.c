/* harness.c - shared command line, working set, timing, CSV. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

void bench_opts_defaults(struct bench_opts *o)
{
    static const uint64_t sizes[] = {64 * KIB, 256 * KIB, 1 * MIB,
                                     4 * MIB,  16 * MIB,  64 * MIB};
    static const uint32_t batches[] = {1, 8, 32};
    memset(o, 0, sizeof(*o));
    memcpy(o->sizes, sizes, sizeof(sizes));
    o->n_sizes = (int)(sizeof(sizes) / sizeof(sizes[0]));
    memcpy(o->batches, batches, sizeof(batches));
    o->n_batches = 3;
    o->ws_bytes = GIB;
    o->rounds = 5;
    o->max_round_s = 4.0;
    o->csv = "-";
}

/* --quick: the sizes the targets name, the batch ends, fewer rounds; the
 * working set stays 1 GiB unless --ws says otherwise. */
static void opts_quick(struct bench_opts *o)
{
    o->sizes[0] = 1 * MIB;
    o->sizes[1] = 16 * MIB;
    o->n_sizes = 2;
    o->batches[0] = 1;
    o->batches[1] = 32;
    o->n_batches = 2;
    o->rounds = 2;
    o->max_round_s = 0.5;
    o->quick = 1;
}

uint64_t bench_parse_bytes(const char *s)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return 0;
    uint64_t mul = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mul = KIB;
        end++;
        break;
    case 'm':
    case 'M':
        mul = MIB;
        end++;
        break;
    case 'g':
    case 'G':
        mul = GIB;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end != '\0' || v == 0 || v > UINT64_MAX / mul)
        return 0;
    return (uint64_t)v * mul;
}

int bench_parse_sizes(const char *s, uint64_t *out, int cap)
{
    char buf[256];
    if (strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        if (n == cap)
            return -1;
        out[n] = bench_parse_bytes(t);
        if (out[n] == 0)
            return -1;
        n++;
    }
    return n > 0 ? n : -1;
}

const char *bench_fmt_size(uint64_t v, char *buf, size_t cap)
{
    if (v >= GIB && v % GIB == 0)
        snprintf(buf, cap, "%" PRIu64 "GiB", v / GIB);
    else if (v >= MIB && v % MIB == 0)
        snprintf(buf, cap, "%" PRIu64 "MiB", v / MIB);
    else if (v >= KIB && v % KIB == 0)
        snprintf(buf, cap, "%" PRIu64 "KiB", v / KIB);
    else
        snprintf(buf, cap, "%" PRIu64 "B", v);
    return buf;
}

void bench_opts_usage(FILE *f)
{
    fprintf(f,
            "  --quick            a short run (1MiB,16MiB; batch 1,32; 2 rounds;"
            " ~2 min here)\n"
            "  --sizes LIST       value sizes, e.g. 64K,1M,16M\n"
            "  --batches LIST     batch sizes, e.g. 1,8,32\n"
            "  --ws BYTES         working set the ops rotate over "
            "(default 1G)\n"
            "  --rounds N         timed passes over the working set (default 5)"
            "\n"
            "  --max-round-s S    no new round once a case ran S seconds\n"
            "  --csv PATH         append rows to PATH (default stdout)\n");
}

static int parse_batches(struct bench_opts *o, const char *s)
{
    uint64_t v[BENCH_MAX_BATCHES];
    char buf[128];
    int n = 0;
    if (strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        char *end = NULL;
        unsigned long b = strtoul(t, &end, 10);
        if (n == BENCH_MAX_BATCHES || *end || b == 0 || b > 1024)
            return -1;
        v[n++] = b;
    }
    for (int i = 0; i < n; i++)
        o->batches[i] = (uint32_t)v[i];
    o->n_batches = n;
    return n > 0 ? 0 : -1;
}

int bench_opts_parse(struct bench_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strcmp(a, "--quick") == 0) {
        opts_quick(o);
        return 1;
    }
    static const char *const with_value[] = {
        "--sizes", "--batches", "--ws", "--rounds", "--max-round-s", "--csv"};
    int k = -1;
    for (int j = 0; j < 6; j++)
        if (strcmp(a, with_value[j]) == 0)
            k = j;
    if (k < 0)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s needs a value\n", a);
        return -1;
    }
    const char *v = argv[++*i];
    int bad = 0;
    switch (k) {
    case 0: {
        int n = bench_parse_sizes(v, o->sizes, BENCH_MAX_SIZES);
        bad = n < 0;
        if (!bad)
            o->n_sizes = n;
        break;
    }
    case 1:
        bad = parse_batches(o, v) < 0;
        break;
    case 2:
        o->ws_bytes = bench_parse_bytes(v);
        bad = o->ws_bytes == 0;
        break;
    case 3:
        o->rounds = atoi(v);
        bad = o->rounds < 1;
        break;
    case 4:
        o->max_round_s = atof(v);
        bad = !(o->max_round_s > 0);
        break;
    case 5:
        o->csv = v;
        break;
    }
    if (bad) {
        fprintf(stderr, "%s: bad value '%s'\n", a, v);
        return -1;
    }
    return 1;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void *bench_map(uint64_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* The bench forks kvplug-server and redis-server. A fork write-protects
     * every private page of the parent for copy-on-write, and the bench's
     * next write to each page then faults (~20 us here): the first get
     * pass after a fork paid it, 64 KiB gets from kvplug-server measured
     * 363 us p50 instead of ~60. Buffers the children never use are not
     * inherited at all. */
    madvise(p, len, MADV_DONTFORK);
    return p;
}

void bench_unmap(void *p, uint64_t len)
{
    if (p)
        munmap(p, len);
}

uint64_t bench_prefault(void *p, uint64_t len, uint32_t seed)
{
    uint64_t t0 = bench_now_ns();
    uint64_t x = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (uint64_t off = 0; off < len; off += BENCH_PAGE) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *(volatile uint64_t *)((char *)p + off) = x;
    }
    return bench_now_ns() - t0;
}

int bench_lat_add(struct bench_lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        uint64_t *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ns;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

double bench_lat_quantile_us(struct bench_lat *l, double q)
{
    if (l->n == 0)
        return 0;
    qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
    size_t i = (size_t)(q * (double)(l->n - 1) + 0.5);
    return (double)l->v[i] / 1e3;
}

void bench_lat_free(struct bench_lat *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

FILE *bench_csv_open(const char *path)
{
    if (strcmp(path, "-") == 0) {
        printf("%s\n", BENCH_CSV_HEADER);
        return stdout;
    }
    FILE *f = fopen(path, "a");
    if (!f) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size == 0)
        fprintf(f, "%s\n", BENCH_CSV_HEADER);
    return f;
}

void bench_csv_row(FILE *f, const struct bench_row *r)
{
    fprintf(f,
            "%s,%s,%s,%" PRIu64 ",%u,%d,%d,%" PRIu64 ",%d,%.4f,%.2f,%.2f,%s\n",
            r->system, r->variant, r->op, r->value_bytes, r->batch, r->tp,
            r->split_dim, r->calls, r->rounds, r->gbps, r->p50_us, r->p99_us,
            r->note ? r->note : "");
    fflush(f);
}

static int progress_open;

void bench_progress(const char *tag, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "\r\033[K[%s] %s", tag, line);
        progress_open = 1;
    } else {
        fprintf(stderr, "[%s] %s\n", tag, line);
    }
}

void bench_progress_end(void)
{
    if (progress_open)
        fputc('\n', stderr);
    progress_open = 0;
}

int bench_more_rounds(const struct bench_opts *o, int done,
                      uint64_t case_start_ns)
{
    if (done == 0)
        return 1;
    if (done >= o->rounds)
        return 0;
    double spent = (double)(bench_now_ns() - case_start_ns) / 1e9;
    return spent < o->max_round_s;
}

int bench_case_run(const struct bench_opts *o, const struct bench_case_ops *ops,
                   void *ctx, uint32_t nslots, uint32_t batch,
                   uint64_t slot_bytes, const char *tag, struct bench_row *row)
{
    struct bench_lat lat = {0};
    double gbps[64];
    int rounds = 0, rc = 0;
    uint32_t calls_per_pass = nslots / batch;
    uint64_t start = bench_now_ns();
    char sz[32];

    bench_fmt_size(slot_bytes, sz, sizeof(sz));
    while (rc == 0 && rounds < 64 && bench_more_rounds(o, rounds, start)) {
        if (rounds == 0 || isatty(STDERR_FILENO))
            bench_progress(tag, "%s %s %s %s batch %u round %d/%d", row->system,
                           row->variant, row->op, sz, batch, rounds + 1,
                           o->rounds);
        uint64_t t0 = bench_now_ns();
        for (uint32_t c = 0; c < calls_per_pass; c++) {
            uint64_t a = bench_now_ns();
            rc = ops->call(ctx, c * batch, batch);
            if (rc != 0)
                break;
            bench_lat_add(&lat, bench_now_ns() - a);
        }
        uint64_t dt = bench_now_ns() - t0;
        if (rc != 0)
            break;
        gbps[rounds++] =
            (double)calls_per_pass * batch * (double)slot_bytes / (double)dt;
        if (ops->between)
            rc = ops->between(ctx);
    }
    row->rounds = rounds;
    row->calls = lat.n;
    row->batch = batch;
    row->value_bytes = slot_bytes;
    row->gbps = bench_median(gbps, rounds);
    row->p50_us = bench_lat_quantile_us(&lat, 0.50);
    row->p99_us = bench_lat_quantile_us(&lat, 0.99);
    bench_lat_free(&lat);
    return rc;
}

void bench_csv_first_touch(FILE *f, const char *system, const char *variant,
                           uint64_t len, uint64_t ns, const char *note)
{
    uint64_t pages = len / BENCH_PAGE;
    struct bench_row r = {.system = system,
                          .variant = variant,
                          .op = "first_touch",
                          .value_bytes = len,
                          .batch = 1,
                          .tp = 1,
                          .split_dim = -1,
                          .calls = pages,
                          .rounds = 1,
                          .gbps = (double)len / (double)ns,
                          .p50_us = (double)ns / 1e3 / (double)pages,
                          .note = note};
    bench_csv_row(f, &r);
}

int bench_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int port = -1;
    if (s < 0)
        return -1;
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}
