/* verbs_plan.c - gather list -> work requests (see verbs_plan.h). */
#include "verbs_plan.h"

#include <stddef.h>

void verbs_plan_init(struct verbs_plan *plan, const struct kvp_xport_iov *iov,
                     uint32_t n_iov, uint32_t max_sge, uint32_t max_msg)
{
    plan->iov = iov;
    plan->n_iov = iov != NULL ? n_iov : 0;
    plan->idx = 0;
    plan->off = 0;
    plan->planned = 0;
    plan->max_sge = max_sge > 0 ? max_sge : 1;
    plan->max_msg = max_msg > 0 ? max_msg : 1;
}

/* Moves the cursor past consumed and empty entries. */
static void plan_skip_empty(struct verbs_plan *plan)
{
    while (plan->idx < plan->n_iov && plan->off >= plan->iov[plan->idx].len) {
        plan->idx++;
        plan->off = 0;
    }
}

int verbs_plan_done(const struct verbs_plan *plan)
{
    for (uint32_t i = plan->idx; i < plan->n_iov; i++) {
        uint64_t used = i == plan->idx ? plan->off : 0;
        if (plan->iov[i].len > used)
            return 0;
    }
    return 1;
}

uint32_t verbs_plan_next(struct verbs_plan *plan, struct verbs_piece *pieces,
                         uint64_t *remote_off_p, uint64_t *len_p)
{
    uint32_t n = 0;
    uint64_t wr_len = 0;

    plan_skip_empty(plan);
    *remote_off_p = plan->planned;
    while (plan->idx < plan->n_iov && wr_len < plan->max_msg) {
        const struct kvp_xport_iov *v = &plan->iov[plan->idx];
        uint64_t addr = (uint64_t)(uintptr_t)v->ptr + plan->off;
        uint64_t take = v->len - plan->off;
        if (take > plan->max_msg - wr_len)
            take = plan->max_msg - wr_len;
        /* Contiguous with the previous piece: grow it, no new SGE. */
        if (n > 0 && pieces[n - 1].addr + pieces[n - 1].len == addr) {
            pieces[n - 1].len += (uint32_t)take;
        } else {
            if (n == plan->max_sge)
                break;
            pieces[n].addr = addr;
            pieces[n].len = (uint32_t)take;
            n++;
        }
        wr_len += take;
        plan->off += take;
        plan_skip_empty(plan);
    }
    plan->planned += wr_len;
    *len_p = wr_len;
    return n;
}

int verbs_iov_total(const struct kvp_xport_iov *iov, uint32_t n_iov,
                    uint64_t *total_p)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n_iov; i++) {
        if (iov[i].len > UINT64_MAX - total)
            return -1;
        total += iov[i].len;
    }
    *total_p = total;
    return 0;
}
