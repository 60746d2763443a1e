/* stress_stats.c - prints a kvplug-server's STATS over a control-only
 * connection, for the stress lane's kill rounds:
 *   objects N pending N leases N connections N used N
 * With "clear", every key is removed first (REMOVE_PREFIX ""), so `used`
 * then counts only what no object accounts for (arenas, pending).
 * usage: stress_stats HOST PORT [clear] */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "store_client.h"

int main(int argc, char **argv)
{
    int clear = argc == 4 && strcmp(argv[3], "clear") == 0;
    if (argc != 3 && !clear) {
        fprintf(stderr, "usage: %s HOST PORT [clear]\n", argv[0]);
        return 2;
    }
    struct kvp_logger lg;
    kvp_logger_init_stderr(&lg, KVP_LOG_ERROR);
    struct store_conn_params cp = {.host = argv[1],
                                   .port = (uint16_t)atoi(argv[2]),
                                   .timeout_ms = 5000,
                                   .log = &lg};
    struct store_conn *c = NULL;
    struct store_server_stats s;
    uint64_t removed;
    if (store_conn_open(&cp, &c) != KVP_OK ||
        (clear && store_remove_prefix(c, "", &removed) != KVP_OK) ||
        store_server_stats(c, &s) != KVP_OK)
        return 1;
    printf("objects %llu pending %llu leases %llu connections %llu used "
           "%llu\n",
           (unsigned long long)s.objects, (unsigned long long)s.pending,
           (unsigned long long)s.leases, (unsigned long long)s.connections,
           (unsigned long long)s.used_bytes);
    store_conn_close(c);
    return 0;
}
