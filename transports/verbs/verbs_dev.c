/*
 * verbs_dev.c - picks the device, port and GID a ctx uses.
 *
 * Default: the first device (in ibv_get_device_list order) with an ACTIVE
 * port. On RoCE the GID is the best of the first VERBS_GID_SCAN entries:
 * RoCE v2 with an IPv4-mapped address, then any RoCE v2, then any non-zero
 * entry. Only a few entries are read because a GID table may hold 1024 and
 * each read is a sysfs/ioctl round trip (slow under emulation). On
 * InfiniBand without an explicit gid_index the path uses LIDs, no GRH.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verbs_int.h"

/* Appends "fmt..." to a bounded "found" list for error messages. */
static void found_add(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void found_add(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 3 >= cap)
        return;
    if (used > 0) {
        memcpy(buf + used, ", ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

static int gid_is_zero(const union ibv_gid *g)
{
    static const uint8_t zero[16];
    return memcmp(g->raw, zero, 16) == 0;
}

static int gid_is_v4mapped(const union ibv_gid *g)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    return memcmp(g->raw, prefix, 12) == 0;
}

/* Reads one GID and its type; type is -1 when only the GID could be read. */
static int gid_read(struct ibv_context *dev, uint8_t port, int index,
                    union ibv_gid *gid, int *type_p)
{
    struct ibv_gid_entry entry;
    if (ibv_query_gid_ex(dev, port, (uint32_t)index, &entry, 0) == 0) {
        *gid = entry.gid;
        *type_p = (int)entry.gid_type;
        return 0;
    }
    *type_p = -1;
    return ibv_query_gid(dev, port, index, gid);
}

static int gid_score(const union ibv_gid *g, int type)
{
    if (gid_is_zero(g))
        return 0;
    if (type == IBV_GID_TYPE_ROCE_V2)
        return gid_is_v4mapped(g) ? 3 : 2;
    return 1;
}

static const char *gid_type_name(int type)
{
    switch (type) {
    case IBV_GID_TYPE_IB:
        return "IB/RoCE v1";
    case IBV_GID_TYPE_ROCE_V2:
        return "RoCE v2";
    default:
        return "unknown type";
    }
}

/* Chooses ctx->gid_index/gid for an open port. KVP_ERR_INVALID when an
 * explicit gid_index is unusable, KVP_ERR_NO_DEVICE when no entry is. */
static int32_t gid_choose(struct kvp_xport_ctx *ctx,
                          const struct ibv_port_attr *pa, int32_t want,
                          int *type_p)
{
    union ibv_gid g;
    int type = -1;
    if (want >= 0) {
        if (want >= pa->gid_tbl_len) {
            KVP_LOG_E(&ctx->lg,
                      "verbs: gid_index %d out of range: %s port %u has "
                      "%d GID entries",
                      want, ctx->dev_name, ctx->port, pa->gid_tbl_len);
            return KVP_ERR_INVALID;
        }
        if (gid_read(ctx->dev, ctx->port, want, &g, &type) != 0 ||
            gid_is_zero(&g)) {
            KVP_LOG_E(&ctx->lg,
                      "verbs: gid_index %d of %s port %u is empty (see "
                      "/sys/class/infiniband/%s/ports/%u/gids/%d)",
                      want, ctx->dev_name, ctx->port, ctx->dev_name, ctx->port,
                      want);
            return KVP_ERR_INVALID;
        }
        ctx->gid_index = want;
        ctx->gid = g;
        *type_p = type;
        return KVP_OK;
    }
    int best = 0, best_index = -1, best_type = -1;
    int limit =
        pa->gid_tbl_len < VERBS_GID_SCAN ? pa->gid_tbl_len : VERBS_GID_SCAN;
    for (int i = 0; i < limit && best < 3; i++) {
        if (gid_read(ctx->dev, ctx->port, i, &g, &type) != 0)
            continue;
        int s = gid_score(&g, type);
        if (s > best) {
            best = s;
            best_index = i;
            best_type = type;
            ctx->gid = g;
        }
    }
    if (best_index < 0)
        return KVP_ERR_NO_DEVICE;
    ctx->gid_index = best_index;
    *type_p = best_type;
    return KVP_OK;
}

/* Takes (dev, port) if the port is ACTIVE and has a usable address.
 * KVP_OK: ctx filled; KVP_ERR_NO_DEVICE: not usable, noted in found. */
static int32_t port_try(struct kvp_xport_ctx *ctx, uint8_t port,
                        const struct ibv_device_attr *da,
                        const struct verbs_opts *params, char *found,
                        size_t found_cap)
{
    struct ibv_port_attr pa;
    if (ibv_query_port(ctx->dev, port, &pa) != 0) {
        found_add(found, found_cap, "%s port %u (query failed: %s)",
                  ctx->dev_name, port, strerror(errno));
        return KVP_ERR_NO_DEVICE;
    }
    int eth = pa.link_layer == IBV_LINK_LAYER_ETHERNET;
    if (pa.state != IBV_PORT_ACTIVE) {
        found_add(found, found_cap, "%s port %u %s (%s)", ctx->dev_name, port,
                  ibv_port_state_str(pa.state),
                  eth ? "Ethernet" : "InfiniBand");
        return KVP_ERR_NO_DEVICE;
    }
    ctx->port = port;
    ctx->link_layer = eth ? VERBS_LINK_ETH : VERBS_LINK_IB;
    ctx->lid = pa.lid;
    ctx->mtu = (uint8_t)pa.active_mtu;
    int type = -1;
    int32_t st = KVP_OK;
    if (eth || params->gid_index >= 0) {
        st = gid_choose(ctx, &pa, params->gid_index, &type);
        ctx->use_grh = 1;
    } else {
        /* IB: LID routing; the GID is informational. */
        ctx->gid_index = 0;
        if (ibv_query_gid(ctx->dev, port, 0, &ctx->gid) != 0)
            memset(&ctx->gid, 0, sizeof(ctx->gid));
        ctx->use_grh = 0;
        if (pa.lid == 0) {
            found_add(found, found_cap,
                      "%s port %u ACTIVE InfiniBand but LID 0 (no subnet "
                      "manager?)",
                      ctx->dev_name, port);
            return KVP_ERR_NO_DEVICE;
        }
    }
    if (st == KVP_ERR_NO_DEVICE) {
        found_add(found, found_cap,
                  "%s port %u ACTIVE Ethernet but no non-zero GID in the "
                  "first %d entries",
                  ctx->dev_name, port, VERBS_GID_SCAN);
        return st;
    }
    if (st != KVP_OK)
        return st;

    ctx->max_msg = pa.max_msg_sz > 0 ? pa.max_msg_sz : (1u << 30);
    /* Test knob: a smaller per-WR limit exercises WR splitting on devices
     * whose limit (2 GiB on rxe) no test buffer reaches. */
    const char *env = getenv("KVPLUG_VERBS_MAX_MSG");
    if (env != NULL && env[0] != '\0') {
        unsigned long v = strtoul(env, NULL, 0);
        if (v > 0 && v < ctx->max_msg)
            ctx->max_msg = (uint32_t)v;
    }
    ctx->max_sge =
        da->max_sge < VERBS_MAX_SGE ? (uint32_t)da->max_sge : VERBS_MAX_SGE;
    if (ctx->max_sge == 0)
        ctx->max_sge = 1;
    ctx->sq_depth = da->max_qp_wr < VERBS_SQ_DEPTH ? (uint32_t)da->max_qp_wr
                                                   : VERBS_SQ_DEPTH;
    ctx->max_cqe = da->max_cqe;
    ctx->rd_atom_resp =
        (uint8_t)(da->max_qp_rd_atom < VERBS_RD_ATOM_MAX ? da->max_qp_rd_atom
                                                         : VERBS_RD_ATOM_MAX);
    ctx->rd_atom_init = (uint8_t)(da->max_qp_init_rd_atom < VERBS_RD_ATOM_MAX
                                      ? da->max_qp_init_rd_atom
                                      : VERBS_RD_ATOM_MAX);

    char gs[INET6_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET6, ctx->gid.raw, gs, sizeof(gs));
    KVP_LOG_I(&ctx->lg,
              "verbs: using %s port %u (%s, mtu %d, max_msg %u, max_sge %u) "
              "gid[%d] %s %s%s",
              ctx->dev_name, port, eth ? "Ethernet/RoCE" : "InfiniBand",
              128 << ctx->mtu, ctx->max_msg, ctx->max_sge, ctx->gid_index, gs,
              ctx->use_grh ? gid_type_name(type) : "LID",
              ctx->use_grh ? "" : " routing");
    return KVP_OK;
}

/* Opens one device and looks for a usable port on it. */
static int32_t dev_try(struct kvp_xport_ctx *ctx, struct ibv_device *d,
                       const struct verbs_opts *params, char *found,
                       size_t found_cap)
{
    snprintf(ctx->dev_name, sizeof(ctx->dev_name), "%s",
             ibv_get_device_name(d));
    ctx->dev = ibv_open_device(d);
    if (ctx->dev == NULL) {
        found_add(found, found_cap, "%s (open failed: %s)", ctx->dev_name,
                  strerror(errno));
        return KVP_ERR_NO_DEVICE;
    }
    struct ibv_device_attr da;
    int32_t st = KVP_ERR_NO_DEVICE;
    if (ibv_query_device(ctx->dev, &da) != 0) {
        found_add(found, found_cap, "%s (query failed: %s)", ctx->dev_name,
                  strerror(errno));
        goto close_dev;
    }
    if (params->port > 0) {
        if (params->port > da.phys_port_cnt) {
            found_add(found, found_cap, "%s (has %u ports, asked port %d)",
                      ctx->dev_name, da.phys_port_cnt, params->port);
            goto close_dev;
        }
        st =
            port_try(ctx, (uint8_t)params->port, &da, params, found, found_cap);
    } else {
        for (uint8_t p = 1; p <= da.phys_port_cnt; p++) {
            st = port_try(ctx, p, &da, params, found, found_cap);
            if (st != KVP_ERR_NO_DEVICE)
                break;
        }
    }
    if (st == KVP_OK)
        return KVP_OK;
close_dev:
    ibv_close_device(ctx->dev);
    ctx->dev = NULL;
    return st;
}

int32_t verbs_dev_open(struct kvp_xport_ctx *ctx,
                       const struct verbs_opts *params)
{
    int n = 0;
    struct ibv_device **list = ibv_get_device_list(&n);
    if (list == NULL || n == 0) {
        KVP_LOG_E(&ctx->lg,
                  "verbs: no RDMA device: ibv_get_device_list() found 0 "
                  "devices%s%s (load an HCA driver, or create a soft-RoCE "
                  "device: rdma link add rxe0 type rxe netdev <if>)",
                  list == NULL ? ": " : "",
                  list == NULL ? strerror(errno) : "");
        if (list != NULL)
            ibv_free_device_list(list);
        return KVP_ERR_NO_DEVICE;
    }
    char found[1024] = "";
    int32_t st = KVP_ERR_NO_DEVICE;
    int matched = 0;
    for (int i = 0; i < n; i++) {
        const char *name = ibv_get_device_name(list[i]);
        if (params->device[0] != '\0' &&
            strcmp(params->device, name) != 0) {
            found_add(found, sizeof(found), "%s", name);
            continue;
        }
        matched = 1;
        st = dev_try(ctx, list[i], params, found, sizeof(found));
        if (st != KVP_ERR_NO_DEVICE)
            break;
    }
    ibv_free_device_list(list);
    if (st == KVP_ERR_NO_DEVICE) {
        if (!matched)
            KVP_LOG_E(&ctx->lg,
                      "verbs: device '%s' not found; found %d device(s): %s",
                      params->device, n, found);
        else
            KVP_LOG_E(&ctx->lg,
                      "verbs: no usable RDMA port (need an ACTIVE port%s); "
                      "found %d device(s): %s",
                      params->port > 0 ? " with the asked number" : "", n,
                      found);
        return KVP_ERR_NO_DEVICE;
    }
    if (st != KVP_OK)
        return st;
    ctx->pd = ibv_alloc_pd(ctx->dev);
    if (ctx->pd == NULL) {
        KVP_LOG_E(&ctx->lg, "verbs: ibv_alloc_pd on %s failed: %s",
                  ctx->dev_name, strerror(errno));
        ibv_close_device(ctx->dev);
        ctx->dev = NULL;
        return KVP_ERR_TRANSPORT;
    }
    return KVP_OK;
}

void verbs_dev_close(struct kvp_xport_ctx *ctx)
{
    if (ctx->pd != NULL) {
        int rc = ibv_dealloc_pd(ctx->pd);
        if (rc != 0)
            KVP_LOG_W(&ctx->lg,
                      "verbs: ibv_dealloc_pd on %s: %s (an ep or region "
                      "still alive?)",
                      ctx->dev_name, strerror(rc));
        ctx->pd = NULL;
    }
    if (ctx->dev != NULL) {
        ibv_close_device(ctx->dev);
        ctx->dev = NULL;
    }
}
