/* verbs_blob.c - connect and rkey blob codec (see verbs_blob.h). */
#include "verbs_blob.h"

#include <string.h>

#include "le.h"

static void put_header(uint8_t *p, uint32_t magic, uint16_t len)
{
    kvp_le_put32(p, magic);
    kvp_le_put16(p + 4, VERBS_BLOB_VERSION);
    kvp_le_put16(p + 6, len);
}

/* Checks magic, version and self-declared length against what arrived. */
static int check_header(const uint8_t *p, uint32_t len, uint32_t magic,
                        uint16_t min_len, const char **why_p)
{
    if (p == NULL || len < 8) {
        *why_p = "blob shorter than its 8-byte header";
        return -1;
    }
    if (kvp_le_get32(p) != magic) {
        *why_p = "bad magic (not a verbs blob of this kind)";
        return -1;
    }
    if (kvp_le_get16(p + 4) != VERBS_BLOB_VERSION) {
        *why_p = "unsupported blob version";
        return -1;
    }
    uint16_t declared = kvp_le_get16(p + 6);
    if (declared < min_len) {
        *why_p = "length field smaller than the version-1 layout";
        return -1;
    }
    if (declared > len) {
        *why_p = "length field larger than the bytes received";
        return -1;
    }
    return 0;
}

int verbs_conn_encode(const struct verbs_conn_info *info, void *buf,
                      uint32_t cap, uint32_t *len_p)
{
    if (buf == NULL || cap < VERBS_CONN_BLOB_LEN)
        return -1;
    uint8_t *p = buf;
    memset(p, 0, VERBS_CONN_BLOB_LEN);
    put_header(p, VERBS_CONN_MAGIC, VERBS_CONN_BLOB_LEN);
    kvp_le_put32(p + 8, info->qpn);
    kvp_le_put32(p + 12, info->psn);
    kvp_le_put16(p + 16, info->lid);
    p[18] = info->mtu;
    p[19] = info->link_layer;
    p[20] = info->rd_atom;
    p[21] = info->flags;
    memcpy(p + 24, info->gid, 16);
    *len_p = VERBS_CONN_BLOB_LEN;
    return 0;
}

int verbs_conn_decode(const void *buf, uint32_t len,
                      struct verbs_conn_info *info, const char **why_p)
{
    const uint8_t *p = buf;
    if (check_header(p, len, VERBS_CONN_MAGIC, VERBS_CONN_BLOB_LEN, why_p))
        return -1;
    struct verbs_conn_info v;
    v.qpn = kvp_le_get32(p + 8);
    v.psn = kvp_le_get32(p + 12);
    v.lid = kvp_le_get16(p + 16);
    v.mtu = p[18];
    v.link_layer = p[19];
    v.rd_atom = p[20];
    v.flags = p[21];
    memcpy(v.gid, p + 24, 16);
    if (v.qpn == 0 || v.qpn > 0xFFFFFF) {
        *why_p = "qpn is 0 or wider than 24 bits";
        return -1;
    }
    if (v.psn > 0xFFFFFF) {
        *why_p = "psn wider than 24 bits";
        return -1;
    }
    if (v.mtu < 1 || v.mtu > 5) {
        *why_p = "mtu is not an IB MTU code (1..5)";
        return -1;
    }
    if (v.link_layer != VERBS_LINK_IB && v.link_layer != VERBS_LINK_ETH) {
        *why_p = "link_layer is neither InfiniBand (1) nor Ethernet (2)";
        return -1;
    }
    *info = v;
    return 0;
}

int verbs_rkey_encode(const struct verbs_rkey_info *info, void *buf,
                      uint32_t cap, uint32_t *len_p)
{
    if (buf == NULL || cap < VERBS_RKEY_BLOB_LEN)
        return -1;
    uint8_t *p = buf;
    memset(p, 0, VERBS_RKEY_BLOB_LEN);
    put_header(p, VERBS_RKEY_MAGIC, VERBS_RKEY_BLOB_LEN);
    kvp_le_put32(p + 8, info->rkey);
    kvp_le_put64(p + 16, info->addr);
    kvp_le_put64(p + 24, info->len);
    *len_p = VERBS_RKEY_BLOB_LEN;
    return 0;
}

int verbs_rkey_decode(const void *buf, uint32_t len,
                      struct verbs_rkey_info *info, const char **why_p)
{
    const uint8_t *p = buf;
    if (check_header(p, len, VERBS_RKEY_MAGIC, VERBS_RKEY_BLOB_LEN, why_p))
        return -1;
    struct verbs_rkey_info v;
    v.rkey = kvp_le_get32(p + 8);
    v.addr = kvp_le_get64(p + 16);
    v.len = kvp_le_get64(p + 24);
    if (v.len == 0) {
        *why_p = "region length is 0";
        return -1;
    }
    if (v.addr > UINT64_MAX - v.len) {
        *why_p = "region addr + len overflows 64 bits";
        return -1;
    }
    *info = v;
    return 0;
}
