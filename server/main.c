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
#include "server.h"
#include "token.h"

#ifndef KVP_VERSION_STRING
#define KVP_VERSION_STRING "0.1.0"
#endif

int main(int argc, char **argv)
{
    struct cli_opts o;
    char err[512];
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
    kvp_logger_init_stderr(&p.log, o.log_level);

    struct kvp_server *srv = NULL;
    int32_t st = kvp_server_start(&p, &srv);
    if (token != NULL) {
        memset(token, 0, strlen(token)); /* the server keeps its own copy */
        free(token);
    }
    if (st != KVP_OK) {
        fprintf(stderr,
                "kvplug-server: cannot start (status %d); see the "
                "messages above\n",
                st);
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
    kvp_server_stop(srv);
    return 0;
}
