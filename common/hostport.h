/*
 * hostport.h - the one parser of a peer address "HOST:PORT" or
 * "[IPv6]:PORT" (port 1..65535): the plugin's servers= list, the etcd
 * module's endpoints and members, kvplug-server's --advertise.
 * (kvplug-server's --listen/--metrics also take ":PORT", "PORT" and port
 * 0: server/cli.c cli_parse_listen.)
 */
#ifndef KVP_COMMON_HOSTPORT_H
#define KVP_COMMON_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

/* s into host (without the brackets of an IPv6 address; NUL-terminated,
 * < host_cap) and *port. 0, or -1 with nothing written when s is not
 * HOST:PORT (empty host, host too long, port not 1..65535 in decimal). */
int kvp_parse_hostport(const char *s, char *host, size_t host_cap,
                       uint16_t *port);

#endif /* KVP_COMMON_HOSTPORT_H */
