/*
 * cli.h - argument parsing of kvplug-server, kept out of main.c so every
 * rule is unit-tested. The flags come from one table (cli_table, driven by
 * common/options.h like the plugin config): `--pool-size 64MiB`,
 * `--pool-size=64MiB`. A flag the table does not have is a transport
 * module's option (`--gid-index 1` is the verbs module's `gid_index=1`):
 * it is checked against the modules of --transports, which must each
 * load ("tcp" is no module: the message points at --ucx-tls tcp). Flags
 * that depend on another (--advertise, --etcd-prefix need --etcd) are
 * checked after all are read. Errors are written
 * into err (one line naming the flag and why); the caller prints it and
 * exits 2.
 */
#ifndef KVP_SERVER_CLI_H
#define KVP_SERVER_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"

#define CLI_DEFAULT_HOST       "127.0.0.1"
#define CLI_DEFAULT_PORT       7460
#define CLI_DEFAULT_POOL       (UINT64_C(1) << 30)
#define CLI_DEFAULT_TRANSPORTS "ucx"

struct cli_opts {
    char host[256];
    uint16_t port;
    uint64_t pool_size;
    char transports[256];        /* comma list, or "none" */
    char auth_token_file[4096];  /* "" = no auth */
    uint32_t lease_timeout_ms;   /* 0 = server default */
    int32_t log_level;
    char etcd[1024];             /* --etcd URL: register there; "" = no */
    char etcd_prefix[256];       /* "" = /kvplug */
    char advertise[300];         /* "" = the --listen address */
    uint32_t etcd_ttl_s;         /* lease TTL, default 10 */
    char metrics_host[256];      /* --metrics HOST:PORT; "" = no endpoint */
    uint16_t metrics_port;
    uint32_t summary_ms;         /* info summary period; 0 = 60000 */
    int32_t help, version;
    /* The transport modules' flags as "key=value" (--gid-index 1 is
     * "gid_index=1"), in the order given; a flag given twice keeps the
     * last value, like every other flag. */
    struct kvp_kvlist xport_opts;
};

/* The core's flags (docs/operations.md). */
extern const struct kvp_opt cli_table[];
extern const size_t cli_table_len;

/* "HOST:PORT", "[v6]:PORT" or ":PORT"/"PORT" (host stays default). */
int cli_parse_listen(const char *s, char *host, size_t host_cap, uint16_t *port,
                     char *err, size_t cap);
/* Fills o with defaults, then argv. 0 or -1 (with err). */
int cli_parse(int argc, char **argv, struct cli_opts *o, char *err, size_t cap);

/* The flags of the table, then those of each module of `transports` that
 * loads (default: CLI_DEFAULT_TRANSPORTS). */
void cli_usage(void *stream, const char *transports);

#endif /* KVP_SERVER_CLI_H */
