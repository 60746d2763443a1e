/* ucx_blob.c - the byte format of the blobs this module hands out: a small
 * self-describing header so a blob from another module, another version or
 * a truncated frame is refused before UCX ever parses it. */
#include "ucx_internal.h"

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void ucx_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t ucx_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void ucx_blob_put_hdr(uint8_t *buf, uint16_t kind, uint32_t payload_len)
{
    put_u32(buf, UCX_BLOB_MAGIC);
    put_u16(buf + 4, UCX_BLOB_VERSION);
    put_u16(buf + 6, kind);
    put_u32(buf + 8, payload_len);
}

static const char *kind_name(uint16_t kind)
{
    return kind == UCX_BLOB_ADDR ? "address" : "rkey";
}

int32_t ucx_blob_check(const struct kvp_logger *lg, const void *blob,
                       uint32_t len, uint16_t kind, uint32_t *payload_len_p)
{
    const uint8_t *p = blob;
    if (blob == NULL || len < UCX_BLOB_HDR) {
        KVP_LOG_E(lg, "ucx: %s blob: %u bytes, need at least %u",
                  kind_name(kind), len, UCX_BLOB_HDR);
        return KVP_ERR_INVALID;
    }
    if (get_u32(p) != UCX_BLOB_MAGIC || get_u16(p + 4) != UCX_BLOB_VERSION) {
        KVP_LOG_E(lg,
                  "ucx: %s blob: bad magic 0x%08x / version %u (not a "
                  "kvplug ucx v%u blob)",
                  kind_name(kind), get_u32(p), get_u16(p + 4),
                  UCX_BLOB_VERSION);
        return KVP_ERR_INVALID;
    }
    if (get_u16(p + 6) != kind) {
        KVP_LOG_E(lg, "ucx: blob: kind %u, expected %u (%s)", get_u16(p + 6),
                  kind, kind_name(kind));
        return KVP_ERR_INVALID;
    }
    uint32_t payload = get_u32(p + 8);
    if (payload == 0 || payload != len - UCX_BLOB_HDR) {
        KVP_LOG_E(lg,
                  "ucx: %s blob: payload length %u does not match the "
                  "%u bytes received",
                  kind_name(kind), payload, len - UCX_BLOB_HDR);
        return KVP_ERR_INVALID;
    }
    *payload_len_p = payload;
    return KVP_OK;
}

int32_t ucx_status_map(ucs_status_t st)
{
    switch (st) {
    case UCS_OK:
        return KVP_OK;
    case UCS_ERR_NO_MEMORY:
        return KVP_ERR_NO_MEMORY;
    case UCS_ERR_TIMED_OUT:
    case UCS_ERR_ENDPOINT_TIMEOUT:
        return KVP_ERR_TIMEOUT;
    case UCS_ERR_INVALID_PARAM:
        return KVP_ERR_INVALID;
    case UCS_ERR_NO_DEVICE:
        return KVP_ERR_NO_DEVICE;
    default:
        return KVP_ERR_TRANSPORT;
    }
}
