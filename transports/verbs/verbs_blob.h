/*
 * verbs_blob.h - the bytes verbs peers exchange over the control channel.
 *
 * Pure codec, no libibverbs. Fixed little-endian layouts, each starting
 * with a magic, a version and its own length, so a reader never trusts the
 * transport's framing alone and never reads past what it was given.
 *
 * Connect blob (40 bytes, version 1):
 *   magic u32 "KVPV" @0, version u16 @4, length u16 @6, qpn u32 @8,
 *   psn u32 @12, lid u16 @16, mtu u8 @18 (enum ibv_mtu, 1..5),
 *   link_layer u8 @19 (1 InfiniBand, 2 Ethernet), rd_atom u8 @20 (RDMA READs
 *   the sender accepts in flight as responder), flags u8 @21, reserved u16
 *   @22, gid[16] @24.
 * Rkey blob (32 bytes, version 1):
 *   magic u32 "KVPR" @0, version u16 @4, length u16 @6, rkey u32 @8,
 *   reserved u32 @12, addr u64 @16 (region start), len u64 @24.
 * A longer `length` than known is accepted (fields appended later).
 */
#ifndef KVP_VERBS_BLOB_H
#define KVP_VERBS_BLOB_H

#include <stdint.h>

#define VERBS_CONN_MAGIC    0x5650564Bu /* "KVPV" little-endian */
#define VERBS_RKEY_MAGIC    0x5250564Bu /* "KVPR" little-endian */
#define VERBS_BLOB_VERSION  1
#define VERBS_CONN_BLOB_LEN 40
#define VERBS_RKEY_BLOB_LEN 32

#define VERBS_LINK_IB  1
#define VERBS_LINK_ETH 2

struct verbs_conn_info {
    uint32_t qpn; /* 24 bits */
    uint32_t psn; /* 24 bits */
    uint16_t lid;
    uint8_t mtu;        /* enum ibv_mtu value */
    uint8_t link_layer; /* VERBS_LINK_* */
    uint8_t rd_atom;
    uint8_t flags;
    uint8_t gid[16];
};

struct verbs_rkey_info {
    uint32_t rkey;
    uint64_t addr;
    uint64_t len;
};

/* Encode into buf (cap bytes): *len_p = bytes used. -1 if cap is short. */
int verbs_conn_encode(const struct verbs_conn_info *info, void *buf,
                      uint32_t cap, uint32_t *len_p);
int verbs_rkey_encode(const struct verbs_rkey_info *info, void *buf,
                      uint32_t cap, uint32_t *len_p);

/* Decode len bytes: 0 on success, else -1 and *why_p = a static reason
 * naming the field (for the log). Never reads past buf + len. */
int verbs_conn_decode(const void *buf, uint32_t len,
                      struct verbs_conn_info *info, const char **why_p);
int verbs_rkey_decode(const void *buf, uint32_t len,
                      struct verbs_rkey_info *info, const char **why_p);

#endif /* KVP_VERBS_BLOB_H */
