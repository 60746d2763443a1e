/* fastget.c - gets through the shared index (see fastget.h). */
#include "fastget.h"

#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "shidx.h"
#include "store_client.h"

#define FASTGET_STACK 16

uint32_t fastget_try(struct kvp_engine *e, struct eng_server *sv,
                     struct get_job *jobs, uint32_t *idx, uint32_t cnt)
{
    const struct shidx *ix = NULL;
    if (e->cfg.local_fastget && sv->conn != NULL)
        ix = store_conn_index(sv->conn);
    if (ix == NULL || ix->me == NULL)
        return cnt;
    struct shidx_hit stack[FASTGET_STACK];
    struct shidx_hit *hit =
        cnt <= FASTGET_STACK ? stack : malloc((size_t)cnt * sizeof(*hit));
    if (hit == NULL)
        return cnt;
    struct kvp_xport_ep *ep = store_conn_ep(sv->conn);
    struct kvp_xport_rkey *rkey = store_conn_rkey(sv->conn);
    /* 0: for the LOOKUP path; 1: answered here; 2: read, to be checked */
    uint8_t mark_stack[FASTGET_STACK];
    uint8_t *mark = cnt <= FASTGET_STACK ? mark_stack : malloc(cnt);
    if (mark == NULL) {
        if (hit != stack)
            free(hit);
        return cnt;
    }
    memset(mark, 0, cnt);
    uint32_t posted = 0;
    /* from here to shidx_read_end the server reuses no memory the index
     * names: every copy is of the whole object found */
    uint64_t ticket = shidx_read_begin(ix);
    for (uint32_t i = 0; i < cnt; i++) {
        struct get_job *j = &jobs[idx[i]];
        size_t kl = strlen(j->key);
        if (j->staged || kl > SHIDX_KEY_MAX ||
            shidx_find(ix, j->key, (uint16_t)kl, &hit[i]) != SHIDX_HIT)
            continue;
        if (hit[i].len > j->cap) {
            /* a consistent snapshot: the object was this size then */
            KVP_LOG_E(&e->log, "get: key '%.128s' is %llu bytes, buffer cap %llu",
                      j->key, (unsigned long long)hit[i].len,
                      (unsigned long long)j->cap);
            j->result = KVP_ERR_TOO_SMALL;
            mark[i] = 1;
            continue;
        }
        if (hit[i].len > 0) {
            if (e->tops->read(ep, j->dst, hit[i].len, j->mem, hit[i].raddr,
                              rkey) != KVP_OK)
                continue; /* the LOOKUP path says why, if it fails too */
            posted++;
        }
        mark[i] = 2;
    }
    if (posted > 0 && e->tops->flush(ep, e->cfg.timeout_ms) != KVP_OK) {
        for (uint32_t i = 0; i < cnt; i++)
            if (mark[i] == 2)
                mark[i] = 0;
    }
    /* revoked (stalled past the lease timeout): only the copies whose
     * slot did not move are whole */
    int whole = shidx_read_end(ix, ticket);
    uint32_t rest = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        if (mark[i] == 2) {
            if (whole || shidx_still(ix, &hit[i])) {
                jobs[idx[i]].result = (int64_t)hit[i].len;
                shidx_touch(ix, hit[i].slot);
                atomic_fetch_add(&e->fastget_hits, 1);
                continue;
            }
            atomic_fetch_add(&e->fastget_retries, 1);
        }
        if (mark[i] == 1)
            continue;
        idx[rest++] = idx[i];
    }
    if (hit != stack)
        free(hit);
    if (mark != mark_stack)
        free(mark);
    return rest;
}
