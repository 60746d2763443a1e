/* batch.c - batch argument and result rules, one log line per cause, put
 * options. */
#include "batch.h"

#include <stdarg.h>
#include <stdio.h>

#include "ops.h"
#include "store_client.h"

int batch_precheck(struct kvp_engine *e, const char *what, uint32_t n,
                   int32_t *r32, int64_t *r64, int32_t *ret_p, ...)
{
    if (r32 == NULL && r64 == NULL) {
        if (e != NULL && n > 0)
            KVP_LOG_E(&e->log, "%s: results is NULL", what);
        *ret_p = n == 0 ? KVP_OK : KVP_ERR_INVALID;
        return 1;
    }
    int32_t st = KVP_OK;
    if (e == NULL) {
        st = KVP_ERR_INVALID;
    } else if (n == 0) {
        *ret_p = KVP_OK;
        return 1;
    }
    va_list ap;
    va_start(ap, ret_p);
    const char *name;
    while (st == KVP_OK && (name = va_arg(ap, const char *)) != NULL) {
        const void *arr = va_arg(ap, const void *);
        if (arr == NULL) {
            KVP_LOG_E(&e->log, "%s: %s is NULL (%u items)", what, name, n);
            st = KVP_ERR_INVALID;
        }
    }
    va_end(ap);
    if (st == KVP_OK)
        return 0;
    *ret_p = r32 != NULL ? batch_fill32(r32, n, st) : batch_fill64(r64, n, st);
    return 1;
}

void cause_note(struct cause_log *cl, int32_t level, const char *what,
                const char *where, uint32_t server, int32_t status,
                const char *key)
{
    for (uint32_t i = 0; i < cl->n; i++) {
        if (cl->c[i].status == status && cl->c[i].what == what &&
            cl->c[i].where == where && cl->c[i].server == server) {
            cl->c[i].count++;
            return;
        }
    }
    if (cl->n == CAUSE_MAX) {
        cl->more++;
        return;
    }
    cl->c[cl->n].what = what;
    cl->c[cl->n].where = where;
    cl->c[cl->n].status = status;
    cl->c[cl->n].level = level;
    cl->c[cl->n].server = server;
    cl->c[cl->n].count = 1;
    snprintf(cl->c[cl->n].first, sizeof(cl->c[cl->n].first), "%s",
             key != NULL ? key : "");
    cl->n++;
}

void cause_flush(struct kvp_engine *e, struct cause_log *cl)
{
    for (uint32_t i = 0; i < cl->n; i++) {
        char peer[300] = "";
        uint32_t s = cl->c[i].server;
        if (s < e->n_servers) {
            const struct cfg_server *a =
                &e->servers[(size_t)s * ENG_CONNS_PER_SERVER].addr;
            snprintf(peer, sizeof(peer), "%s:%u", a->host, a->port);
        }
        if (cl->c[i].count == 1)
            kvp_logf(&e->log, cl->c[i].level, "%s: key '%s': %s%s%s: %s",
                     cl->c[i].what, cl->c[i].first, cl->c[i].where,
                     peer[0] ? " on " : "", peer,
                     kvp_op_status_str(cl->c[i].status));
        else
            kvp_logf(&e->log, cl->c[i].level,
                     "%s: %llu items (first key '%s'): %s%s%s: %s",
                     cl->c[i].what, (unsigned long long)cl->c[i].count,
                     cl->c[i].first, cl->c[i].where, peer[0] ? " on " : "",
                     peer, kvp_op_status_str(cl->c[i].status));
    }
    if (cl->more > 0)
        KVP_LOG_E(&e->log, "%llu more failed items of other causes",
                  (unsigned long long)cl->more);
    cl->n = 0;
    cl->more = 0;
}

int32_t batch_fill32(int32_t *results, uint32_t n, int32_t st)
{
    for (uint32_t i = 0; results != NULL && i < n; i++)
        results[i] = st;
    return st;
}

int32_t batch_fill64(int64_t *results, uint32_t n, int32_t st)
{
    for (uint32_t i = 0; results != NULL && i < n; i++)
        results[i] = st;
    return st;
}

int32_t batch_outcome32(const int32_t *results, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (results[i] != KVP_OK)
            return KVP_PARTIAL;
    return KVP_OK;
}

int32_t batch_outcome64(const int64_t *results, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (results[i] < 0)
            return KVP_PARTIAL;
    return KVP_OK;
}

int32_t put_opts_flags(struct kvp_engine *e, const char *what,
                       const struct kvp_put_opts *opts, uint32_t *flags_p)
{
    *flags_p = 0;
    if (opts == NULL)
        return KVP_OK;
    if (opts->struct_size < sizeof(uint32_t) * 2) {
        KVP_LOG_E(&e->log,
                  "%s: opts->struct_size %u is smaller than the "
                  "8 bytes of ABI 1.0",
                  what, opts->struct_size);
        return KVP_ERR_INVALID;
    }
    if ((opts->flags & ~KVP_PUT_OVERWRITE) != 0) {
        KVP_LOG_E(&e->log, "%s: opts->flags 0x%x has unknown bits", what,
                  opts->flags);
        return KVP_ERR_INVALID;
    }
    if (opts->flags & KVP_PUT_OVERWRITE)
        *flags_p |= STORE_ALLOC_OVERWRITE;
    return KVP_OK;
}
