/*
 * proto.h - codec of the kvplug control protocol (docs/protocol.md).
 *
 * A frame is a 12-byte little-endian header {u32 body_len, u16 version,
 * u16 type, u32 req_id} followed by body_len bytes. Decoding checks every
 * length against the bytes actually present and must consume the body
 * exactly; anything else is a malformed frame (the peer closes the
 * connection). Pure functions: no I/O, no globals.
 */
#ifndef KVP_PROTO_PROTO_H
#define KVP_PROTO_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION            1
#define PROTO_HDR_LEN            12
#define PROTO_MAX_BODY           (32u << 20) /* after the handshake */
#define PROTO_HANDSHAKE_MAX_BODY 16384 /* HELLO/CONNECT and their replies */
#define PROTO_MAX_ITEMS          16384 /* items in one batched frame */
#define PROTO_KEY_MAX            1024
#define PROTO_NAME_MAX           32 /* transport name */
#define PROTO_NONCE_LEN          32
#define PROTO_MAC_LEN            32
#define PROTO_BLOB_MAX           4096 /* = KVP_XPORT_BLOB_MAX */
#define PROTO_STATS_MAX          32

/* Request flags both ends agree on, bit for bit with the store's. */
#define PROTO_ALLOC_OVERWRITE (UINT32_C(1) << 0) /* ALLOC: replace */
/* ALLOC: items carry {group u32, base_len u16}: a run of consecutive items
 * with the same non-zero group forms one TP group (committed, evicted,
 * overwritten and removed as one); base_len is the length of the key
 * prefix that is the group's base key. */
#define PROTO_ALLOC_GROUPS (UINT32_C(1) << 1)
#define PROTO_LOOKUP_NO_LEASE (UINT32_C(1) << 0) /* LOOKUP: stat/exists */

/* Frame types: requests are odd, their replies the next even number. */
#define PROTO_HELLO     1
#define PROTO_HELLO_R   2
#define PROTO_CONNECT   3
#define PROTO_CONNECT_R 4
#define PROTO_ALLOC     5
#define PROTO_ALLOC_R   6
#define PROTO_COMMIT    7
#define PROTO_COMMIT_R  8
#define PROTO_ABORT     9
#define PROTO_ABORT_R   10
#define PROTO_LOOKUP    11
#define PROTO_LOOKUP_R  12
#define PROTO_RELEASE   13
#define PROTO_RELEASE_R 14
#define PROTO_REMOVE    15
#define PROTO_REMOVE_R  16
#define PROTO_STATS     17
#define PROTO_STATS_R   18
/* RELEASE without a reply: the body of RELEASE; the server handles it in
 * order with the connection's other frames and answers nothing, so a get
 * costs one round trip (LOOKUP) instead of two. */
#define PROTO_RELEASE_NOREPLY 19
/* Removes every key starting with a prefix; the reply counts them. */
#define PROTO_REMOVE_PREFIX   21
#define PROTO_REMOVE_PREFIX_R 22
/* Key listing for operators (kvplug-admin keys): committed keys with a
 * prefix, at most `limit`. 20 is left unused (requests stay odd). */
#define PROTO_KEYS      23
#define PROTO_KEYS_R    24
#define PROTO_KEYS_MORE (UINT32_C(1) << 0) /* KEYS_R flags: limit reached */
/* The same-host carrier (docs/protocol.md): the server offers it in
 * HELLO_R flags, the client asks for the segment after CONNECT and says
 * with SHM_SWITCH (no reply) whether it moved onto the rings. */
#define PROTO_SHM_ATTACH   31
#define PROTO_SHM_ATTACH_R 32
#define PROTO_SHM_SWITCH   33
/* Puts from a per-connection arena (docs/protocol.md, "Puts with one
 * round trip"): objects the client wrote into its arena are committed,
 * and the arena refilled, by one frame; n = 0 asks for an arena only. */
#define PROTO_ARENA_ALIGN 64 /* pieces start at multiples of it */
#define PROTO_PUT_AT    35
#define PROTO_PUT_AT_R  36
#define PROTO_TYPE_MAX  36

#define PROTO_SERVER_AUTH_REQUIRED (UINT32_C(1) << 0) /* HELLO_R flags */
#define PROTO_SERVER_SHM_OFFERED   (UINT32_C(1) << 1) /* HELLO_R flags */
/* Capability bits in HELLO_R flags (docs/protocol.md): what this server
 * understands beyond the first release. A server older than these bits
 * sends 0 there, so a client refuses the op itself (NOT_SUPPORTED)
 * instead of sending a frame that would close the connection. */
#define PROTO_SERVER_CAP_GROUPS    (UINT32_C(1) << 2) /* ALLOC GROUPS */
#define PROTO_SERVER_CAP_REMOVE_PREFIX (UINT32_C(1) << 3) /* REMOVE_PREFIX */
#define PROTO_SERVER_CAP_KEYS      (UINT32_C(1) << 4) /* KEYS */
#define PROTO_SERVER_CAP_ARENA     (UINT32_C(1) << 5) /* PUT_AT */
#define PROTO_SERVER_CAPS                                                  \
    (PROTO_SERVER_CAP_GROUPS | PROTO_SERVER_CAP_REMOVE_PREFIX |            \
     PROTO_SERVER_CAP_KEYS | PROTO_SERVER_CAP_ARENA)
#define PROTO_SHM_SWITCH_ATTACHED  (UINT32_C(1) << 0) /* SHM_SWITCH flags */
#define PROTO_SHM_COOKIE_LEN       32

/* STATS_R value slots (append-only). */
#define PROTO_STAT_OBJECTS        0
#define PROTO_STAT_PENDING        1
#define PROTO_STAT_LEASES         2
#define PROTO_STAT_RETIRED        3
#define PROTO_STAT_USED_BYTES     4
#define PROTO_STAT_EVICTIONS      5
#define PROTO_STAT_LEASE_EXPIRIES 6
#define PROTO_STAT_POOL_SIZE      7
#define PROTO_STAT_CONNECTIONS    8
#define PROTO_STAT_TRANSPORTS     9 /* bit 0 ucx, bit 1 verbs: offered */
#define PROTO_STAT_COUNT          10

/* Decoder results. */
#define PROTO_OK            0
#define PROTO_ERR_MALFORMED (-1)
#define PROTO_ERR_NO_MEMORY (-2)

struct proto_hdr {
    uint32_t body_len;
    uint16_t version;
    uint16_t type;
    uint32_t req_id;
};

/* One batch item; which fields travel depends on the frame type. Keys of a
 * decoded frame point into the body (not NUL-terminated). */
struct proto_item {
    const uint8_t *key;
    uint16_t key_len;
    int32_t status;
    uint64_t len;
    uint64_t addr;
    uint64_t id; /* alloc id or lease id */
    uint32_t group;    /* ALLOC with PROTO_ALLOC_GROUPS: 0 = none */
    uint16_t base_len; /* ALLOC with PROTO_ALLOC_GROUPS: base key bytes */
};

struct proto_msg {
    uint16_t type;
    uint32_t req_id;
    int32_t status;           /* replies: frame-level status */
    uint32_t flags;           /* HELLO(client)/HELLO_R(server)/ALLOC/LOOKUP */
    uint32_t n;               /* batched frames: item count */
    struct proto_item *items; /* encode: borrowed; decode: malloc'd */
    const uint8_t *name;      /* HELLO: transport name ("" = control only) */
    uint8_t name_len;
    uint8_t nonce[PROTO_NONCE_LEN]; /* HELLO_R */
    uint8_t mac_len;                /* CONNECT: 0 or PROTO_MAC_LEN */
    uint8_t mac[PROTO_MAC_LEN];
    const uint8_t *blob; /* CONNECT: client ep blob; CONNECT_R: server's */
    uint32_t blob_len;
    const uint8_t *rkey; /* CONNECT_R: packed pool rkey */
    uint32_t rkey_len;
    uint64_t pool_base; /* CONNECT_R */
    uint64_t pool_size;
    const uint8_t *prefix; /* KEYS, REMOVE_PREFIX: 0..PROTO_KEY_MAX bytes */
    uint16_t prefix_len;
    uint32_t limit;   /* KEYS: 1..PROTO_MAX_ITEMS */
    uint64_t count;   /* REMOVE_PREFIX_R: keys removed */
    uint32_t n_stats; /* STATS_R */
    uint64_t stats[PROTO_STATS_MAX];
    uint32_t shm_pid; /* SHM_ATTACH_R: where the client opens the segment */
    uint32_t shm_fd;  /* (/proc/<pid>/fd/<fd>) and how it is laid out */
    uint32_t shm_pipe_cap;
    uint8_t shm_cookie[PROTO_SHM_COOKIE_LEN];
    uint64_t want; /* PUT_AT: arena bytes wanted now (0: keep the arena) */
    uint64_t need; /* PUT_AT: the least arena the client can use */
    uint64_t arena_addr, arena_len, arena_cursor; /* PUT_AT_R: the arena */
};

/* Parses and checks a header: version, known type, body_len <= max_body.
 * On failure *why names the field (static string). */
int proto_hdr_parse(const uint8_t buf[PROTO_HDR_LEN], uint32_t max_body,
                    struct proto_hdr *h, const char **why);

/* Decodes body (h->body_len bytes) into m; m->items is malloc'd (free with
 * proto_msg_free) and keys/blobs point into body, which must outlive m.
 * PROTO_OK, PROTO_ERR_MALFORMED (*why says which field/item),
 * PROTO_ERR_NO_MEMORY. */
int proto_decode(const struct proto_hdr *h, const uint8_t *body,
                 struct proto_msg *m, const char **why);
void proto_msg_free(struct proto_msg *m);

/* A growable output buffer. */
struct proto_buf {
    uint8_t *data;
    size_t len, cap;
};
void proto_buf_free(struct proto_buf *b);

/* An in-process carrier for control frames (the embedded server's own
 * clients): the client hands each whole encoded frame to call() and gets
 * the reply frame back in *reply (len 0: the frame has no reply). The
 * server fills it (kvp_server_local_link); the client sees nothing else of
 * the server. */
struct proto_local_link {
    void *server;
    int32_t (*open)(void *server, void **link_p);
    /* KVP_ERR_TRANSPORT: malformed frame; KVP_ERR_DISCONNECTED: closed. */
    int32_t (*call)(void *link, const uint8_t *frame, size_t len,
                    struct proto_buf *reply);
    void (*close)(void *link);
};

/* Encodes header + body of m into b (b->len = frame size; b is reused).
 * Returns 0, or -1 on no memory or a field beyond its wire limit. */
int proto_encode(const struct proto_msg *m, struct proto_buf *b);

const char *proto_type_name(uint16_t type);

#endif /* KVP_PROTO_PROTO_H */
