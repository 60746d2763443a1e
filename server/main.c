/*
 * main.c - kvplug-server: parse flags, start the store server, wait for
 * SIGINT/SIGTERM, stop cleanly. Exit 0 on a clean stop, 1 when the server
 * cannot start, 2 on bad arguments.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvp_discovery.h"
#include "server.h"
#include "status_name.h"
#ifdef KVP_HAVE_METRICS
#include "metrics_http.h"
#endif
#include "token.h"

#ifndef KVP_VERSION_STRING
#define KVP_VERSION_STRING "0.1.0"
#endif

/* What runs beside the store: the /metrics endpoint, the etcd member. */
struct extras {
    const struct kvp_discovery_ops *dops;
    struct kvp_disc_reg *reg;
#ifdef KVP_HAVE_METRICS
    struct metrics_http *http;
#endif
};

static int start_metrics(const struct cli_opts *o, struct kvp_server *srv,
                         const struct kvp_logger *lg, struct extras *x)
{
    if (o->metrics_host[0] == '\0')
        return 0;
#ifdef KVP_HAVE_METRICS
    uint16_t port = 0;
    int32_t st = metrics_http_start(o->metrics_host, o->metrics_port, srv, lg,
                                    &port, &x->http);
    if (st != KVP_OK)
        return -1;
    printf("kvplug-server metrics on http://%s:%u/metrics\n", o->metrics_host,
           (unsigned)port);
    return 0;
#else
    (void)srv;
    (void)x;
    KVP_LOG_E(lg, "--metrics: this kvplug-server was built without "
                  "libmicrohttpd (Debian: libmicrohttpd-dev); rebuild");
    return -1;
#endif
}

static int start_member(const struct cli_opts *o, struct kvp_server *srv,
                        const struct kvp_logger *lg, struct extras *x)
{
    if (o->etcd[0] == '\0')
        return 0;
    char adv[300];
    if (o->advertise[0] != '\0') {
        snprintf(adv, sizeof(adv), "%s", o->advertise);
    } else if (strcmp(o->host, "0.0.0.0") == 0 || strcmp(o->host, "::") == 0) {
        KVP_LOG_E(lg, "--etcd: listening on all addresses (%s): say which "
                      "one clients use with --advertise HOST:PORT", o->host);
        return -1;
    } else {
        snprintf(adv, sizeof(adv), strchr(o->host, ':') ? "[%s]:%u" : "%s:%u",
                 o->host, (unsigned)kvp_server_port(srv));
    }
    if (disc_module_load("etcd", lg, &x->dops) != KVP_OK)
        return -1;
    const char *prefix = o->etcd_prefix[0] != '\0' ? o->etcd_prefix : NULL;
    return x->dops->register_start(o->etcd, prefix, adv,
                                   o->etcd_ttl_s, 5000, lg,
                                   &x->reg) == KVP_OK
               ? 0
               : -1;
}

static void extras_stop(struct extras *x)
{
    if (x->reg != NULL)
        x->dops->register_stop(x->reg);
    x->reg = NULL;
#ifdef KVP_HAVE_METRICS
    metrics_http_stop(x->http);
    x->http = NULL;
#endif
}

static int extras_start(const struct cli_opts *o, struct kvp_server *srv,
                        const struct kvp_logger *lg, struct extras *x)
{
    if (start_metrics(o, srv, lg, x) != 0 || start_member(o, srv, lg, x) != 0) {
        extras_stop(x);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cli_opts o;
    char err[2048];
    if (cli_parse(argc, argv, &o, err, sizeof(err)) != 0) {
        fprintf(stderr, "kvplug-server: %s\n", err);
        return 2;
    }
    if (o.help) {
        cli_usage(stdout, o.transports);
        return 0;
    }
    if (o.version) {
        printf("kvplug-server %s\n", KVP_VERSION_STRING);
        return 0;
    }
    char *token = NULL;
    if (o.auth_token_file[0] != '\0') {
        int loose = 0;
        token = kvp_token_read(o.auth_token_file, "--auth-token-file", &loose,
                               err, sizeof(err));
        if (token == NULL) {
            fprintf(stderr, "kvplug-server: %s\n", err);
            return 2;
        }
        if (loose)
            fprintf(stderr,
                    "kvplug-server: warning: %s is readable by "
                    "group/others; chmod 600 it\n",
                    o.auth_token_file);
    }

    /* Signals are taken synchronously by this thread only; every thread
     * the server starts inherits the blocked mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct kvp_server_params p = {0};
    p.listen_host = o.host;
    p.listen_port = o.port;
    p.pool_size = o.pool_size;
    p.transports = strcmp(o.transports, "none") == 0 ? "" : o.transports;
    const char *xopts[KVP_KVLIST_MAX];
    p.xport.struct_size = sizeof(p.xport);
    p.xport.n_opts = kvp_kvlist_ptrs(&o.xport_opts, xopts);
    p.xport.opts = xopts;
    p.auth_token = token;
    p.lease_timeout_ms = o.lease_timeout_ms;
    p.summary_ms = o.summary_ms;
    kvp_logger_init_stderr(&p.log, o.log_level);

    struct kvp_server *srv = NULL;
    int32_t st = kvp_server_start(&p, &srv);
    if (token != NULL) {
        memset(token, 0, strlen(token)); /* the server keeps its own copy */
        free(token);
    }
    if (st != KVP_OK) {
        fprintf(stderr,
                "kvplug-server: cannot start (%s); see the messages above\n",
                kvp_status_name(st));
        return 1;
    }
    struct extras x = {0};
    if (extras_start(&o, srv, &p.log, &x) != 0) {
        kvp_server_stop(srv);
        return 1;
    }
    printf("kvplug-server listening on %s:%u transports=%s\n", o.host,
           (unsigned)kvp_server_port(srv),
           p.transports[0] != '\0' ? p.transports : "none");
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "kvplug-server: %s received, stopping\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    extras_stop(&x); /* leave etcd first: clients stop routing here */
    kvp_server_stop(srv);
    return 0;
}
