/* cli.c - kvplug-server flags, sizes and the auth token file (cli.h). */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <netdb.h>
#include <unistd.h>

#include "kvplug/abi.h"
#include "log.h"

int cli_parse_size(const char *s, uint64_t *out, char *err, size_t cap)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"k", 1ull << 10},
                 {"kib", 1ull << 10},
                 {"mib", 1ull << 20},
                 {"m", 1ull << 20},
                 {"gib", 1ull << 30},
                 {"g", 1ull << 30},
                 {"tib", 1ull << 40},
                 {"t", 1ull << 40},
                 {"kb", 1000ull},
                 {"mb", 1000000ull},
                 {"gb", 1000000000ull},
                 {"tb", 1000000000000ull}};
    if (s == NULL || !isdigit((unsigned char)s[0])) {
        snprintf(err, cap, "'%s' is not a size (e.g. 4GiB, 512MiB, 1GB)",
                 s ? s : "");
        return -1;
    }
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0) {
        snprintf(err, cap, "'%s' is out of range", s);
        return -1;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].unit) != 0)
            continue;
        if (v > UINT64_MAX / units[i].mul) {
            snprintf(err, cap, "'%s' is out of range", s);
            return -1;
        }
        *out = v * units[i].mul;
        return 0;
    }
    snprintf(err, cap,
             "'%s': unknown unit '%s' (use B, KiB, MiB, GiB, "
             "TiB, KB, MB, GB, TB)",
             s, end);
    return -1;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int cli_parse_listen(const char *s, char *host, size_t host_cap, uint16_t *port,
                     char *err, size_t cap)
{
    const char *port_s = s;
    const char *colon = NULL;
    size_t hlen = 0;
    const char *hstart = s;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, cap, "'%s' is not [IPv6]:PORT", s);
            return -1;
        }
        hstart = s + 1;
        hlen = (size_t)(close - hstart);
        port_s = close + 2;
    } else if ((colon = strrchr(s, ':')) != NULL) {
        hlen = (size_t)(colon - s);
        port_s = colon + 1;
    }
    uint32_t p;
    if (colon == NULL && s[0] != '[' && !isdigit((unsigned char)s[0])) {
        snprintf(err, cap,
                 "'%s' is not HOST:PORT (e.g. 127.0.0.1:7460, "
                 "0.0.0.0:7460, [::1]:7460 or :7460)",
                 s);
        return -1;
    }
    if (parse_u32(port_s, 65535, &p) != 0) {
        snprintf(err, cap, "'%s': port '%s' must be 0..65535", s, port_s);
        return -1;
    }
    if (hlen >= host_cap) {
        snprintf(err, cap, "'%s': host name too long", s);
        return -1;
    }
    if (hlen > 0) {
        char h[256];
        memcpy(h, hstart, hlen);
        h[hlen] = '\0';
        struct addrinfo hints = {.ai_flags = AI_PASSIVE}, *res = NULL;
        int gai = getaddrinfo(h, NULL, &hints, &res);
        if (gai != 0) {
            snprintf(err, cap, "'%s': host '%s' does not resolve (%s)", s, h,
                     gai_strerror(gai));
            return -1;
        }
        freeaddrinfo(res);
        memcpy(host, h, hlen + 1);
    }
    *port = (uint16_t)p;
    return 0;
}

/* The value of --flag VALUE or --flag=VALUE; advances *i. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag,
                              int *matched)
{
    const char *a = argv[*i];
    size_t n = strlen(flag);
    *matched = 0;
    if (strncmp(a, flag, n) != 0)
        return NULL;
    if (a[n] == '=') {
        *matched = 1;
        return a + n + 1;
    }
    if (a[n] != '\0')
        return NULL;
    *matched = 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

int cli_check_transports(const char *list, char *err, size_t cap)
{
    if (strcmp(list, "none") == 0)
        return 0;
    const char *p = list;
    while (1) {
        size_t n = strcspn(p, ",");
        if (n == 0) {
            snprintf(err, cap, "'%s': an empty name (ucx, verbs, ucx,verbs "
                               "or none)", list);
            return -1;
        }
        if (!((n == 3 && strncmp(p, "ucx", 3) == 0) ||
              (n == 5 && strncmp(p, "verbs", 5) == 0))) {
            const char *hint = "";
            if (n == 3 && strncmp(p, "tcp", 3) == 0)
                hint = "; for UCX over TCP use --ucx-tls tcp";
            else if (n == 3 && strncmp(p, "shm", 3) == 0)
                hint = "; for UCX over shared memory use --ucx-tls "
                       "self,sysv,posix";
            snprintf(err, cap,
                     "'%.*s' is not a transport module (ucx, verbs, "
                     "ucx,verbs or none)%s",
                     (int)n, p, hint);
            return -1;
        }
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

int cli_parse(int argc, char **argv, struct cli_opts *o, char *err, size_t cap)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "%s", CLI_DEFAULT_HOST);
    o->port = CLI_DEFAULT_PORT;
    o->pool_size = CLI_DEFAULT_POOL;
    o->transports = CLI_DEFAULT_TRANSPORTS;
    o->log_level = KVP_LOG_WARN;
    o->gid_index = -1;
    o->etcd_ttl_s = 10;
    snprintf(o->metrics_host, sizeof(o->metrics_host), "%s",
             CLI_DEFAULT_HOST);
    int metrics = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
            continue;
        }
        if (strcmp(a, "--version") == 0) {
            o->version = 1;
            continue;
        }
        static const char *const flags[] = {
            "--listen",          "--pool-size",        "--transports",
            "--auth-token-file", "--lease-timeout-ms", "--log-level",
            "--device",          "--gid-index",        "--ucx-tls",
            "--etcd",            "--etcd-prefix",      "--advertise",
            "--etcd-ttl",        "--metrics",          "--summary-ms"};
        int which = -1, m = 0;
        const char *v = NULL;
        for (int f = 0; f < (int)(sizeof(flags) / sizeof(flags[0])); f++) {
            v = flag_value(argc, argv, &i, flags[f], &m);
            if (m) {
                which = f;
                break;
            }
        }
        if (which < 0) {
            snprintf(err, cap, "unknown argument '%s' (see --help)", a);
            return -1;
        }
        if (v == NULL || v[0] == '\0') {
            snprintf(err, cap, "%s needs a value", flags[which]);
            return -1;
        }
        char why[200];
        uint32_t u = 0;
        int bad = 0;
        switch (which) {
        case 0:
            bad = cli_parse_listen(v, o->host, sizeof(o->host), &o->port, why,
                                   sizeof(why));
            break;
        case 1:
            bad = cli_parse_size(v, &o->pool_size, why, sizeof(why));
            if (!bad && o->pool_size == 0) {
                snprintf(why, sizeof(why), "must be > 0");
                bad = -1;
            }
            break;
        case 2:
            o->transports = v;
            bad = cli_check_transports(v, why, sizeof(why));
            break;
        case 3:
            o->auth_token_file = v;
            break;
        case 4:
            bad = parse_u32(v, 86400000u, &o->lease_timeout_ms);
            if (!bad && o->lease_timeout_ms == 0)
                bad = -1;
            snprintf(why, sizeof(why), "'%s' must be 1..86400000", v);
            break;
        case 5:
            o->log_level = kvp_log_level_parse(v);
            bad = o->log_level < 0 ? -1 : 0;
            snprintf(why, sizeof(why),
                     "'%s' is not one of error, warn, info, debug", v);
            break;
        case 6:
            o->device = v;
            break;
        case 7:
            bad = parse_u32(v, 255, &u);
            o->gid_index = (int32_t)u;
            snprintf(why, sizeof(why), "'%s' must be 0..255", v);
            break;
        case 8:
            o->ucx_tls = v;
            break;
        case 9:
            o->etcd = v;
            break;
        case 10:
            o->etcd_prefix = v;
            break;
        case 11:
            o->advertise = v;
            break;
        case 12:
            bad = parse_u32(v, 3600, &o->etcd_ttl_s);
            if (!bad && o->etcd_ttl_s < 2)
                bad = -1;
            snprintf(why, sizeof(why), "'%s' must be 2..3600 seconds", v);
            break;
        case 13:
            bad = cli_parse_listen(v, o->metrics_host, sizeof(o->metrics_host),
                                   &o->metrics_port, why, sizeof(why));
            break;
        case 14:
            bad = parse_u32(v, 86400000u, &o->summary_ms);
            if (!bad && o->summary_ms < 100)
                bad = -1;
            snprintf(why, sizeof(why), "'%s' must be 100..86400000", v);
            break;
        }
        if (bad) {
            snprintf(err, cap, "%s: %s", flags[which], why);
            return -1;
        }
        metrics |= which == 13;
    }
    if (!metrics)
        o->metrics_host[0] = '\0';
    if ((o->etcd_prefix != NULL || o->advertise != NULL) && o->etcd == NULL) {
        snprintf(err, cap, "%s needs --etcd URL",
                 o->advertise ? "--advertise" : "--etcd-prefix");
        return -1;
    }
    return 0;
}

char *cli_read_token(const char *path, int *loose_p, char *err, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "--auth-token-file: cannot open '%s': %s", path,
                 strerror(errno));
        return NULL;
    }
    struct stat sb;
    *loose_p = fstat(fd, &sb) == 0 && (sb.st_mode & 077) != 0;
    char buf[4097];
    size_t n = 0;
    while (n < sizeof(buf) - 1) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\0', n) != NULL) {
        snprintf(err, cap, "--auth-token-file: '%s' is empty or binary", path);
        return NULL;
    }
    char *tok = strdup(buf);
    memset(buf, 0, sizeof(buf));
    if (tok == NULL)
        snprintf(err, cap, "--auth-token-file: out of memory");
    return tok;
}

void cli_usage(void *stream)
{
    fprintf((FILE *)stream,
            "usage: kvplug-server [options]\n"
            "  --listen HOST:PORT        bind address (default %s:%d; port 0 "
            "= ephemeral)\n"
            "  --pool-size SIZE          pool bytes, e.g. 4GiB, 512MiB, 1GB "
            "(default 1GiB)\n"
            "  --transports LIST         ucx, verbs or ucx,verbs (default "
            "%s); 'none' = control only\n"
            "  --auth-token-file PATH    require clients to prove this shared "
            "secret\n"
            "  --lease-timeout-ms N      read leases expire after N ms "
            "(default 30000)\n"
            "  --log-level LEVEL         error|warn|info|debug (default "
            "warn)\n"
            "  --device NAME             verbs device (default: first "
            "active)\n"
            "  --gid-index N             verbs GID index (default: auto)\n"
            "  --ucx-tls LIST            UCX_TLS for the ucx transport\n"
            "  --etcd URL                join the members in etcd "
            "(http://HOST:PORT)\n"
            "  --etcd-prefix P           key prefix there (default "
            "/kvplug)\n"
            "  --advertise HOST:PORT     address clients connect to "
            "(default: --listen)\n"
            "  --etcd-ttl S              membership lease TTL (default 10 "
            "s)\n"
            "  --metrics HOST:PORT       serve Prometheus /metrics there\n"
            "  --summary-ms N            info summary line period "
            "(default 60000)\n"
            "  --version, --help\n",
            CLI_DEFAULT_HOST, CLI_DEFAULT_PORT, CLI_DEFAULT_TRANSPORTS);
}
