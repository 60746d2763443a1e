/* ucx_blob.c - the byte format of the blobs this module hands out
 * (ucx_blob.h). */
#include "ucx_blob.h"

#include "le.h"

void ucx_blob_put_hdr(uint8_t *buf, uint16_t kind, uint32_t payload_len)
{
    kvp_le_put32(buf, UCX_BLOB_MAGIC);
    kvp_le_put16(buf + 4, UCX_BLOB_VERSION);
    kvp_le_put16(buf + 6, kind);
    kvp_le_put32(buf + 8, payload_len);
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
    if (kvp_le_get32(p) != UCX_BLOB_MAGIC ||
        kvp_le_get16(p + 4) != UCX_BLOB_VERSION) {
        KVP_LOG_E(lg,
                  "ucx: %s blob: bad magic 0x%08x / version %u (not a "
                  "kvplug ucx v%u blob)",
                  kind_name(kind), kvp_le_get32(p), kvp_le_get16(p + 4),
                  UCX_BLOB_VERSION);
        return KVP_ERR_INVALID;
    }
    if (kvp_le_get16(p + 6) != kind) {
        KVP_LOG_E(lg, "ucx: blob: kind %u, expected %u (%s)",
                  kvp_le_get16(p + 6), kind, kind_name(kind));
        return KVP_ERR_INVALID;
    }
    uint32_t payload = kvp_le_get32(p + 8);
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
