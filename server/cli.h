/*
 * cli.h - argument parsing of kvplug-server, kept out of main.c so every
 * rule is unit-tested. Errors are written into err (one line naming the
 * flag and why); the caller prints it and exits 2.
 */
#ifndef KVP_SERVER_CLI_H
#define KVP_SERVER_CLI_H

#include <stddef.h>
#include <stdint.h>

#define CLI_DEFAULT_HOST       "127.0.0.1"
#define CLI_DEFAULT_PORT       7460
#define CLI_DEFAULT_POOL       (UINT64_C(1) << 30)
#define CLI_DEFAULT_TRANSPORTS "ucx"

struct cli_opts {
    char host[256];
    uint16_t port;
    uint64_t pool_size;
    const char *transports;      /* points into argv or the default */
    const char *auth_token_file; /* NULL = no auth */
    uint32_t lease_timeout_ms;   /* 0 = server default */
    int32_t log_level;
    const char *device;
    int32_t gid_index; /* -1 = auto */
    const char *ucx_tls;
    const char *etcd;        /* --etcd URL: register there; NULL = no */
    const char *etcd_prefix; /* NULL = /kvplug */
    const char *advertise;   /* NULL = the --listen address */
    uint32_t etcd_ttl_s;     /* lease TTL, default 10 */
    char metrics_host[256];  /* --metrics HOST:PORT; "" = no endpoint */
    uint16_t metrics_port;
    uint32_t summary_ms;     /* info summary period; 0 = 60000 */
    int help, version;
};

/* "4GiB", "512MiB", "1GB", "4096", "64KiB" (B KiB MiB GiB TiB = 2^10n;
 * KB MB GB TB = 10^3n; case-insensitive). 0 or -1 (with err). */
int cli_parse_size(const char *s, uint64_t *out, char *err, size_t cap);
/* "HOST:PORT", "[v6]:PORT" or ":PORT"/"PORT" (host stays default). */
int cli_parse_listen(const char *s, char *host, size_t host_cap, uint16_t *port,
                     char *err, size_t cap);
/* "ucx", "verbs", "ucx,verbs" or "none"; else -1 with a hint in err. */
int cli_check_transports(const char *list, char *err, size_t cap);
/* Fills o with defaults, then argv. 0 or -1 (with err). */
int cli_parse(int argc, char **argv, struct cli_opts *o, char *err, size_t cap);
/* Reads the token (trailing whitespace/newlines stripped) into a malloc'd
 * string. NULL with err when missing, unreadable or empty. *loose_p = 1
 * when the file is readable by group/others. */
char *cli_read_token(const char *path, int *loose_p, char *err, size_t cap);

void cli_usage(void *stream);

#endif /* KVP_SERVER_CLI_H */
