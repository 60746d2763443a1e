/* cfg_xport.c - the transport module's share of the config: load the
 * module named by transport= and hand it the keys the core does not know
 * (config.h, docs/config.md "Transport options"). */
#include <stdio.h>

#include "config.h"
#include "kvp_transport.h"
#include "ops.h"

int32_t cfg_xport_load(const struct kvp_config *cfg,
                       const struct kvp_transport_ops **ops_p,
                       const char **opts, uint32_t *n_opts,
                       const struct kvp_logger *lg)
{
    const struct kvp_transport_ops *ops = NULL;
    int32_t st = xport_module_load(cfg->transport, lg, &ops);
    if (st != KVP_OK) {
        char hint[96];
        xport_name_hint(cfg->transport, KVP_OPT_KEYS, hint, sizeof(hint));
        KVP_LOG_E(lg,
                  "config: transport '%s': no usable module "
                  "libkvplug_%s.so (see the message above): %s%s",
                  cfg->transport, cfg->transport, kvp_op_status_str(st),
                  hint);
        /* a name no module answers to is a bad value of transport= */
        return st == KVP_ERR_NOT_SUPPORTED ? KVP_ERR_INVALID : st;
    }
    const char *all[KVP_KVLIST_MAX];
    uint32_t n = kvp_kvlist_ptrs(&cfg->xport_opts, all);
    struct kvp_opt_module mod;
    xport_module_opts(ops, &mod);
    char core[1024] = "", err[2048];
    kvp_opt_names(cfg_table, cfg_table_len, KVP_OPT_KEYS, core, sizeof(core));
    uint32_t skipped = 0;
    if (kvp_opts_route(&mod, 1, all, n, KVP_OPT_KEYS, core, opts, n_opts,
                       &skipped, err, sizeof(err)) != 0) {
        KVP_LOG_E(lg, "config: %s", err);
        return KVP_ERR_INVALID;
    }
    if (skipped > 0)
        KVP_LOG_I(lg,
                  "config: %u option(s) for other transports ignored "
                  "(transport is '%s')",
                  skipped, cfg->transport);
    *ops_p = ops;
    return KVP_OK;
}
