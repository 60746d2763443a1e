/*
 * ucx_blob.h - the byte format (little-endian) of the blobs this module
 * hands out: a small self-describing header, so a blob from another
 * module, another version or a truncated frame is refused before UCX ever
 * parses it. The bottom of the module: includes no other ucx_ header.
 */
#ifndef KVP_UCX_BLOB_H
#define KVP_UCX_BLOB_H

#include <stdint.h>

#include "log.h"

#define UCX_BLOB_MAGIC   0x5850564Bu /* "KVPX" */
#define UCX_BLOB_VERSION 1u
#define UCX_BLOB_ADDR    1u  /* worker address */
#define UCX_BLOB_RKEY    2u  /* base u64, len u64, packed rkey */
#define UCX_BLOB_HDR     12u /* magic u32, version u16, kind u16, payload u32 */
#define UCX_RKEY_HDR     (UCX_BLOB_HDR + 16u)

/* Writes a blob header; the payload follows at UCX_BLOB_HDR. */
void ucx_blob_put_hdr(uint8_t *buf, uint16_t kind, uint32_t payload_len);
/* Checks magic/version/kind and that payload_len fits in len exactly;
 * *payload_len_p set on KVP_OK. Logs what is wrong. */
int32_t ucx_blob_check(const struct kvp_logger *lg, const void *blob,
                       uint32_t len, uint16_t kind, uint32_t *payload_len_p);

#endif /* KVP_UCX_BLOB_H */
