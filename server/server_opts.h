/*
 * server_opts.h - the options the plugin config (for its embedded server)
 * and kvplug-server's flags share: one rule each, so `pool_size=64 MiB`
 * and `--pool-size "64 MiB"` accept and refuse the same values. Entries of
 * a struct kvp_opt table (common/options.h); type.field is the target.
 */
#ifndef KVP_SERVER_OPTS_H
#define KVP_SERVER_OPTS_H

#include "options.h"

#define KVP_SRV_OPT_POOL_SIZE(type, field, help)                               \
    {"pool_size", KVP_OPT_SIZE, 0, KVP_OPT_AT(type, field), 4096, 0, NULL,     \
     "SIZE", "a size >= 4096 bytes, e.g. 4GiB, 512MiB, 64mib, \"64 MiB\"",    \
     help, NULL}

#define KVP_SRV_OPT_TOKEN_FILE(type, field, help)                              \
    {"auth_token_file", KVP_OPT_STR, 0, KVP_OPT_AT(type, field), 0, 0, NULL,   \
     "PATH", "a path", help, NULL}

#define KVP_SRV_OPT_LEASE_TIMEOUT(type, field, help)                           \
    {"lease_timeout_ms", KVP_OPT_UINT, 0, KVP_OPT_AT(type, field), 1,          \
     86400000, NULL, "MS", "milliseconds 1..86400000", help, NULL}

#define KVP_SRV_OPT_LOG_LEVEL(type, field)                                     \
    {"log_level", KVP_OPT_LEVEL, 0, KVP_OPT_AT(type, field), 0, 0, NULL,       \
     "LEVEL", "error, warn, info, debug or 0..3",                              \
     "error|warn|info|debug (default warn)", NULL}

#endif /* KVP_SERVER_OPTS_H */
