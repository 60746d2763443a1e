/* runner.h - runs one case isolated in a child process, bounded by a
 * timeout, and reports its outcome. */
#ifndef CONF_RUNNER_H
#define CONF_RUNNER_H

#include "conf.h"

#define CONF_LOG_KEEP 4 /* plugin log lines kept for a failing case */

struct conf_outcome {
    int state; /* CONF_PASS/FAIL/SKIP */
    char msg[CONF_MSG_MAX];
    char log[CONF_LOG_KEEP][256]; /* last ERROR/WARN lines of the plugin */
    unsigned log_count;
};

/* Forks, sets the case up (plugin, engine, arena), runs it, and waits at
 * most opt->timeout_s seconds. A crash or a timeout is a failure. */
void conf_run_case(const struct conf_case *tc, const struct conf_options *opt,
                   unsigned index, struct conf_outcome *out);

/* The host API the suite hands the plugin (logs into the outcome). */
extern const struct kvp_host_api conf_host_api;

/* Fails the case unless the table has every slot the case may call. */
int conf_require_ops(struct conf_ctx *ctx, uint64_t caps);
int conf_require_ops_v1_1(struct conf_ctx *ctx);

#endif /* CONF_RUNNER_H */
