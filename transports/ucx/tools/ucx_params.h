/*
 * ucx_params.h - kvp_xport_params for the UCX module, its options given
 * as the core hands them over ("ucx_tls=...", "ucx_pack_below=..."), for
 * the callers that drive the module directly: its unit test and
 * kvplug-ucx-crossover. The strings must outlive ctx_create, so each call
 * takes its own slot of a small ring (8 calls deep).
 */
#ifndef KVP_UCX_PARAMS_H
#define KVP_UCX_PARAMS_H

#include <stdio.h>

#include "kvp_transport.h"

/* tls NULL = UCX's choice; pack_below 0 = the module default. */
static inline struct kvp_xport_params
ucx_params(uint32_t role, const char *tls, uint64_t pack_below,
           uint32_t timeout_ms, kvp_log_fn log)
{
    static char text[8][2][160];
    static const char *kv[8][2];
    static unsigned next;
    unsigned s = next++ % 8;
    uint32_t n = 0;
    if (tls != NULL) {
        snprintf(text[s][n], sizeof(text[s][n]), "ucx_tls=%s", tls);
        kv[s][n] = text[s][n];
        n++;
    }
    if (pack_below != 0) {
        snprintf(text[s][n], sizeof(text[s][n]), "ucx_pack_below=%llu",
                 (unsigned long long)pack_below);
        kv[s][n] = text[s][n];
        n++;
    }
    struct kvp_xport_params p = {
        .struct_size = sizeof(p),
        .role = role,
        .timeout_ms = timeout_ms,
        .log_level = KVP_LOG_WARN,
        .log = log,
        .opts = kv[s],
        .n_opts = n,
    };
    return p;
}

#endif /* KVP_UCX_PARAMS_H */
