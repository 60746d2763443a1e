/*
 * harness.h - what every kvplug benchmark program shares: the command
 * line, the working set, timing and percentiles, and the CSV row format.
 *
 * Every program (kvplug-bench, kvp-bench-ucx, kvp-bench-redis) writes the
 * same CSV columns so one run's rows can be merged and compared.
 */
#ifndef KVP_BENCH_HARNESS_H
#define KVP_BENCH_HARNESS_H

#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_SIZES   16
#define BENCH_MAX_BATCHES 8
#define BENCH_PAGE        4096u

/* The knobs shared by all benchmark programs. */
struct bench_opts {
    uint64_t sizes[BENCH_MAX_SIZES]; /* value sizes, bytes */
    int n_sizes;
    uint32_t batches[BENCH_MAX_BATCHES];
    int n_batches;
    uint64_t ws_bytes;  /* working set the ops rotate over */
    int rounds;         /* timed passes over the working set */
    double max_round_s; /* stop adding rounds past this much time per case */
    const char *csv;    /* output CSV path ("-" = stdout) */
    int quick;
};

/* Defaults of the full run; --quick trims them. */
void bench_opts_defaults(struct bench_opts *o);
/* Parses one shared option at argv[*i] (advancing *i over its value).
 * Returns 1 if consumed, 0 if not ours, -1 on a bad value (message
 * printed). */
int bench_opts_parse(struct bench_opts *o, int argc, char **argv, int *i);
/* The help text for the shared options. */
void bench_opts_usage(FILE *f);
/* "64K,1M" -> bytes; returns count or -1. Units K/M/G are binary. */
int bench_parse_sizes(const char *s, uint64_t *out, int cap);
/* "1M" -> bytes; 0 on error. */
uint64_t bench_parse_bytes(const char *s);
/* 1048576 -> "1MiB" into buf. */
const char *bench_fmt_size(uint64_t v, char *buf, size_t cap);

uint64_t bench_now_ns(void);

/* An anonymous mapping, NOT touched yet. NULL on failure. */
void *bench_map(uint64_t len);
void bench_unmap(void *p, uint64_t len);
/* Writes every page of [p, p+len) once (first touch) and returns the
 * nanoseconds it took. Fills with a pattern derived from seed so every
 * system moves the same bytes. */
uint64_t bench_prefault(void *p, uint64_t len, uint32_t seed);

/* A loopback TCP port nobody listens on right now, or -1. */
int bench_free_port(void);

/* Latency samples (ns) of one case; grown as needed. */
struct bench_lat {
    uint64_t *v;
    size_t n, cap;
};
int bench_lat_add(struct bench_lat *l, uint64_t ns);
/* q in [0,1]; sorts in place. 0 if empty. */
double bench_lat_quantile_us(struct bench_lat *l, double q);
void bench_lat_free(struct bench_lat *l);

/* Median of n doubles (sorts a copy in place of `v`). */
double bench_median(double *v, int n);

/* One CSV row. Units: gbps = 1e9 B/s; latencies per call in us. */
struct bench_row {
    const char *system;  /* memcpy | ucx-raw | redis | kvplug | copy-then-put */
    const char *variant; /* e.g. embedded/ucx, tcp/purge-off, sm */
    const char *op;      /* put | get | tp_put | tp_get | first_touch */
    uint64_t value_bytes;
    uint32_t batch;
    int32_t tp;
    int32_t split_dim;
    uint64_t calls; /* timed calls over all rounds */
    int rounds;
    double gbps; /* median over rounds */
    double p50_us, p99_us;
    const char *note; /* free text, no commas */
};

#define BENCH_CSV_HEADER                                                       \
    "system,variant,op,value_bytes,batch,tp,split_dim,calls,rounds,gbps,"      \
    "p50_us,p99_us,note"

/* Opens o->csv for appending (header written if the file is empty). */
FILE *bench_csv_open(const char *path);
void bench_csv_row(FILE *f, const struct bench_row *r);

/* One "first_touch" row: len bytes pre-faulted in ns nanoseconds
 * (gbps over the region, p50_us = microseconds per page). */
void bench_csv_first_touch(FILE *f, const char *system, const char *variant,
                           uint64_t len, uint64_t ns, const char *note);

/* One progress line on stderr ("[tag] ..."), overwritten in place on a
 * terminal, one line per call otherwise. */
void bench_progress(const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bench_progress_end(void);

/* Per-case round driver: true while another round should run. */
int bench_more_rounds(const struct bench_opts *o, int done,
                      uint64_t case_start_ns);

/*
 * One measured case: `rounds` timed passes over `nslots` slots of
 * `slot_bytes` each, `batch` slots per call. call() is timed; between()
 * (optional) runs untimed after every pass (e.g. removes what a put
 * pass stored). Fills calls/rounds/gbps/p50/p99 of *row. Returns 0, or the
 * first non-zero code call()/between() returned.
 */
struct bench_case_ops {
    int (*call)(void *ctx, uint32_t first_slot, uint32_t n);
    int (*between)(void *ctx);
};
int bench_case_run(const struct bench_opts *o, const struct bench_case_ops *ops,
                   void *ctx, uint32_t nslots, uint32_t batch,
                   uint64_t slot_bytes, const char *tag, struct bench_row *row);

#endif /* KVP_BENCH_HARNESS_H */
