/* proto.c - bounds-checked encoder/decoder of control frames (proto.h). */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#include "le.h"

/* ---- little-endian reader: every get checks the bytes left ----------- */

struct rd {
    const uint8_t *p;
    size_t left;
    const char *why; /* first error, NULL while fine */
};

static int rd_need(struct rd *r, size_t n, const char *what)
{
    if (r->why != NULL)
        return 0;
    if (r->left < n) {
        r->why = what;
        return 0;
    }
    return 1;
}

static uint64_t rd_le(struct rd *r, size_t n, const char *what)
{
    if (!rd_need(r, n, what))
        return 0;
    uint64_t v = kvp_le_get(r->p, (unsigned)n);
    r->p += n;
    r->left -= n;
    return v;
}

static uint8_t rd_u8(struct rd *r, const char *what)
{
    return (uint8_t)rd_le(r, 1, what);
}
static uint16_t rd_u16(struct rd *r, const char *what)
{
    return (uint16_t)rd_le(r, 2, what);
}
static uint32_t rd_u32(struct rd *r, const char *what)
{
    return (uint32_t)rd_le(r, 4, what);
}
static uint64_t rd_u64(struct rd *r, const char *what)
{
    return rd_le(r, 8, what);
}

static const uint8_t *rd_bytes(struct rd *r, size_t n, const char *what)
{
    if (!rd_need(r, n, what))
        return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static void rd_fail(struct rd *r, const char *why)
{
    if (r->why == NULL)
        r->why = why;
}

/* ---- writer ----------------------------------------------------------- */

static int wr_reserve(struct proto_buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static int wr_le(struct proto_buf *b, uint64_t v, size_t n)
{
    if (wr_reserve(b, n) != 0)
        return -1;
    kvp_le_put(b->data + b->len, v, (unsigned)n);
    b->len += n;
    return 0;
}

static int wr_bytes(struct proto_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (wr_reserve(b, n) != 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void proto_buf_free(struct proto_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- header ----------------------------------------------------------- */

static const char *const type_names[PROTO_TYPE_MAX + 1] = {
    "?",       "HELLO",    "HELLO_R",  "CONNECT",  "CONNECT_R",
    "ALLOC",   "ALLOC_R",  "COMMIT",   "COMMIT_R", "ABORT",
    "ABORT_R", "LOOKUP",   "LOOKUP_R", "RELEASE",  "RELEASE_R",
    "REMOVE",  "REMOVE_R", "STATS",    "STATS_R",  "RELEASE_NOREPLY",
    [PROTO_REMOVE_PREFIX] = "REMOVE_PREFIX",
    [PROTO_REMOVE_PREFIX_R] = "REMOVE_PREFIX_R",
    [PROTO_KEYS] = "KEYS", [PROTO_KEYS_R] = "KEYS_R",
    [PROTO_SHM_ATTACH] = "SHM_ATTACH", [PROTO_SHM_ATTACH_R] = "SHM_ATTACH_R",
    [PROTO_SHM_SWITCH] = "SHM_SWITCH",
    [PROTO_PUT_AT] = "PUT_AT", [PROTO_PUT_AT_R] = "PUT_AT_R"};

const char *proto_type_name(uint16_t type)
{
    const char *n = type <= PROTO_TYPE_MAX ? type_names[type] : NULL;
    return n != NULL ? n : "?";
}

int proto_hdr_parse(const uint8_t buf[PROTO_HDR_LEN], uint32_t max_body,
                    struct proto_hdr *h, const char **why)
{
    struct rd r = {buf, PROTO_HDR_LEN, NULL};
    h->body_len = rd_u32(&r, "header");
    h->version = rd_u16(&r, "header");
    h->type = rd_u16(&r, "header");
    h->req_id = rd_u32(&r, "header");
    const char *bad = NULL;
    if (h->version != PROTO_VERSION)
        bad = "unsupported protocol version";
    else if (h->type == 0 || h->type > PROTO_TYPE_MAX ||
             type_names[h->type] == NULL)
        bad = "unknown frame type";
    else if (h->body_len > max_body)
        bad = "frame length beyond limit";
    if (bad != NULL) {
        if (why != NULL)
            *why = bad;
        return PROTO_ERR_MALFORMED;
    }
    return PROTO_OK;
}

/* ---- decode ----------------------------------------------------------- */

/* Reads n and checks the body can hold n items of at least min_item bytes
 * before anything is allocated, so a huge n costs nothing. */
static int rd_items(struct rd *r, struct proto_msg *m, size_t min_item)
{
    m->n = rd_u32(r, "item count truncated");
    if (r->why != NULL)
        return PROTO_ERR_MALFORMED;
    if (m->n > PROTO_MAX_ITEMS) {
        rd_fail(r, "item count beyond limit");
        return PROTO_ERR_MALFORMED;
    }
    if ((uint64_t)m->n * min_item > r->left) {
        rd_fail(r, "item count larger than the frame");
        return PROTO_ERR_MALFORMED;
    }
    if (m->n == 0)
        return PROTO_OK;
    m->items = calloc(m->n, sizeof(*m->items));
    return m->items != NULL ? PROTO_OK : PROTO_ERR_NO_MEMORY;
}

static void rd_key(struct rd *r, struct proto_item *it)
{
    it->key_len = rd_u16(r, "truncated item (key length)");
    if (r->why != NULL)
        return;
    if (it->key_len == 0 || it->key_len > PROTO_KEY_MAX) {
        rd_fail(r, it->key_len == 0 ? "key length 0" : "key length > 1024");
        return;
    }
    it->key = rd_bytes(r, it->key_len, "truncated item (key bytes)");
}

static const uint8_t *rd_blob(struct rd *r, uint32_t *len_p, const char *what)
{
    *len_p = rd_u32(r, what);
    if (r->why == NULL && *len_p > PROTO_BLOB_MAX) {
        rd_fail(r, "blob longer than 4096 bytes");
        return NULL;
    }
    return rd_bytes(r, *len_p, what);
}

static int decode_body(struct rd *r, struct proto_msg *m)
{
    int st = PROTO_OK;
    switch (m->type) {
    case PROTO_HELLO:
        m->flags = rd_u32(r, "HELLO flags");
        m->name_len = rd_u8(r, "HELLO transport name");
        if (r->why == NULL && m->name_len > PROTO_NAME_MAX)
            rd_fail(r, "transport name longer than 32 bytes");
        m->name = rd_bytes(r, m->name_len, "HELLO transport name");
        break;
    case PROTO_HELLO_R: {
        m->status = (int32_t)rd_u32(r, "HELLO_R status");
        m->flags = rd_u32(r, "HELLO_R flags");
        const uint8_t *nonce = rd_bytes(r, PROTO_NONCE_LEN, "HELLO_R nonce");
        if (nonce != NULL)
            memcpy(m->nonce, nonce, PROTO_NONCE_LEN);
        break;
    }
    case PROTO_CONNECT: {
        m->mac_len = rd_u8(r, "CONNECT mac length");
        if (r->why == NULL && m->mac_len != 0 && m->mac_len != PROTO_MAC_LEN)
            rd_fail(r, "CONNECT mac length not 0 or 32");
        const uint8_t *mac = rd_bytes(r, m->mac_len, "CONNECT mac");
        if (mac != NULL && m->mac_len > 0)
            memcpy(m->mac, mac, m->mac_len);
        m->blob = rd_blob(r, &m->blob_len, "CONNECT blob");
        break;
    }
    case PROTO_CONNECT_R:
        m->status = (int32_t)rd_u32(r, "CONNECT_R status");
        m->pool_base = rd_u64(r, "CONNECT_R pool base");
        m->pool_size = rd_u64(r, "CONNECT_R pool size");
        m->blob = rd_blob(r, &m->blob_len, "CONNECT_R ep blob");
        m->rkey = rd_blob(r, &m->rkey_len, "CONNECT_R rkey blob");
        break;
    case PROTO_ALLOC:
    case PROTO_KEYS_R: /* both: n x {key, len u64} */
        if (m->type == PROTO_KEYS_R)
            m->status = (int32_t)rd_u32(r, "KEYS_R status");
        m->flags = rd_u32(r, "flags");
        if ((st = rd_items(r, m, 2 + 1 + 8)) != PROTO_OK)
            break;
        for (uint32_t i = 0; i < m->n && r->why == NULL; i++) {
            struct proto_item *it = &m->items[i];
            rd_key(r, it);
            it->len = rd_u64(r, "truncated item (length)");
            if (!(m->flags & PROTO_ALLOC_GROUPS))
                continue;
            it->group = rd_u32(r, "truncated item (group)");
            it->base_len = rd_u16(r, "truncated item (base length)");
            if (r->why == NULL && it->group != 0 &&
                (it->base_len == 0 || it->base_len > it->key_len))
                rd_fail(r, "group base length 0 or longer than the key");
        }
        break;
    case PROTO_REMOVE_PREFIX:
        m->prefix_len = rd_u16(r, "REMOVE_PREFIX prefix length");
        if (r->why == NULL && m->prefix_len > PROTO_KEY_MAX)
            rd_fail(r, "prefix length > 1024");
        m->prefix = rd_bytes(r, m->prefix_len, "REMOVE_PREFIX prefix");
        break;
    case PROTO_REMOVE_PREFIX_R:
        m->status = (int32_t)rd_u32(r, "REMOVE_PREFIX_R status");
        m->count = rd_u64(r, "REMOVE_PREFIX_R count");
        break;
    case PROTO_LOOKUP:
    case PROTO_REMOVE:
        if (m->type == PROTO_LOOKUP)
            m->flags = rd_u32(r, "LOOKUP flags");
        if ((st = rd_items(r, m, 2 + 1)) != PROTO_OK)
            break;
        for (uint32_t i = 0; i < m->n && r->why == NULL; i++)
            rd_key(r, &m->items[i]);
        break;
    case PROTO_COMMIT:
    case PROTO_ABORT:
    case PROTO_RELEASE:
    case PROTO_RELEASE_NOREPLY:
        if ((st = rd_items(r, m, 8)) != PROTO_OK)
            break;
        for (uint32_t i = 0; i < m->n; i++)
            m->items[i].id = rd_u64(r, "truncated item (id)");
        break;
    case PROTO_ALLOC_R:
    case PROTO_LOOKUP_R: {
        m->status = (int32_t)rd_u32(r, "reply status");
        size_t sz = m->type == PROTO_ALLOC_R ? 20 : 28;
        if ((st = rd_items(r, m, sz)) != PROTO_OK)
            break;
        for (uint32_t i = 0; i < m->n; i++) {
            struct proto_item *it = &m->items[i];
            it->status = (int32_t)rd_u32(r, "truncated item (status)");
            it->addr = rd_u64(r, "truncated item (addr)");
            if (m->type == PROTO_LOOKUP_R)
                it->len = rd_u64(r, "truncated item (length)");
            it->id = rd_u64(r, "truncated item (id)");
        }
        break;
    }
    case PROTO_COMMIT_R:
    case PROTO_ABORT_R:
    case PROTO_RELEASE_R:
    case PROTO_REMOVE_R:
        m->status = (int32_t)rd_u32(r, "reply status");
        if ((st = rd_items(r, m, 4)) != PROTO_OK)
            break;
        for (uint32_t i = 0; i < m->n; i++)
            m->items[i].status = (int32_t)rd_u32(r, "truncated item");
        break;
    case PROTO_STATS:
        break;
    case PROTO_KEYS:
        m->flags = rd_u32(r, "KEYS flags");
        m->limit = rd_u32(r, "KEYS limit");
        m->prefix_len = rd_u16(r, "KEYS prefix length");
        if (r->why == NULL && (m->limit == 0 || m->limit > PROTO_MAX_ITEMS))
            rd_fail(r, "KEYS limit not 1..16384");
        if (r->why == NULL && m->prefix_len > PROTO_KEY_MAX)
            rd_fail(r, "KEYS prefix longer than 1024 bytes");
        m->prefix = rd_bytes(r, m->prefix_len, "KEYS prefix");
        break;
    case PROTO_SHM_ATTACH:
    case PROTO_SHM_SWITCH:
        m->flags = rd_u32(r, "SHM flags");
        break;
    case PROTO_PUT_AT:
        m->flags = rd_u32(r, "PUT_AT flags");
        m->want = rd_u64(r, "PUT_AT want");
        m->need = rd_u64(r, "PUT_AT need");
        if ((st = rd_items(r, m, 2 + 1 + 8 + 8)) != PROTO_OK)
            break;
        for (uint32_t i = 0; i < m->n && r->why == NULL; i++) {
            struct proto_item *it = &m->items[i];
            rd_key(r, it);
            it->len = rd_u64(r, "truncated item (length)");
            it->addr = rd_u64(r, "truncated item (addr)");
        }
        break;
    case PROTO_PUT_AT_R:
        m->status = (int32_t)rd_u32(r, "PUT_AT_R status");
        m->arena_addr = rd_u64(r, "PUT_AT_R arena addr");
        m->arena_len = rd_u64(r, "PUT_AT_R arena length");
        m->arena_cursor = rd_u64(r, "PUT_AT_R arena cursor");
        if ((st = rd_items(r, m, 4)) != PROTO_OK)
            break;
        for (uint32_t i = 0; i < m->n; i++)
            m->items[i].status = (int32_t)rd_u32(r, "truncated item");
        break;
    case PROTO_SHM_ATTACH_R: {
        m->status = (int32_t)rd_u32(r, "SHM_ATTACH_R status");
        m->shm_pid = rd_u32(r, "SHM_ATTACH_R pid");
        m->shm_fd = rd_u32(r, "SHM_ATTACH_R fd");
        m->shm_pipe_cap = rd_u32(r, "SHM_ATTACH_R pipe capacity");
        const uint8_t *ck =
            rd_bytes(r, PROTO_SHM_COOKIE_LEN, "SHM_ATTACH_R cookie");
        if (ck != NULL)
            memcpy(m->shm_cookie, ck, PROTO_SHM_COOKIE_LEN);
        break;
    }
    case PROTO_STATS_R:
        m->status = (int32_t)rd_u32(r, "STATS_R status");
        m->n_stats = rd_u32(r, "STATS_R count");
        if (r->why == NULL && m->n_stats > PROTO_STATS_MAX)
            rd_fail(r, "STATS_R count beyond limit");
        for (uint32_t i = 0; i < m->n_stats && r->why == NULL; i++)
            m->stats[i] = rd_u64(r, "STATS_R value");
        break;
    default:
        rd_fail(r, "unknown frame type");
    }
    if (st == PROTO_OK && r->why == NULL && r->left != 0)
        rd_fail(r, "trailing bytes after the last field");
    if (st == PROTO_OK && r->why != NULL)
        st = PROTO_ERR_MALFORMED;
    return st;
}

int proto_decode(const struct proto_hdr *h, const uint8_t *body,
                 struct proto_msg *m, const char **why)
{
    memset(m, 0, sizeof(*m));
    m->type = h->type;
    m->req_id = h->req_id;
    struct rd r = {body, h->body_len, NULL};
    if (body == NULL && h->body_len != 0)
        rd_fail(&r, "missing body");
    int st = r.why == NULL ? decode_body(&r, m) : PROTO_ERR_MALFORMED;
    if (st != PROTO_OK) {
        if (why != NULL)
            *why = st == PROTO_ERR_NO_MEMORY ? "out of memory" : r.why;
        proto_msg_free(m);
    }
    return st;
}

void proto_msg_free(struct proto_msg *m)
{
    free(m->items);
    m->items = NULL;
    m->n = 0;
}

/* ---- encode ----------------------------------------------------------- */

static int enc_key(struct proto_buf *b, const struct proto_item *it)
{
    if (it->key_len == 0 || it->key_len > PROTO_KEY_MAX || it->key == NULL)
        return -1;
    return wr_le(b, it->key_len, 2) | wr_bytes(b, it->key, it->key_len);
}

static int enc_blob(struct proto_buf *b, const uint8_t *p, uint32_t len)
{
    if (len > PROTO_BLOB_MAX || (len > 0 && p == NULL))
        return -1;
    return wr_le(b, len, 4) | wr_bytes(b, p, len);
}

static int encode_body(const struct proto_msg *m, struct proto_buf *b)
{
    int rc = 0;
    int batched = (m->type >= PROTO_ALLOC && m->type <= PROTO_REMOVE_R) ||
                  m->type == PROTO_RELEASE_NOREPLY || m->type == PROTO_KEYS_R;
    if (batched && (m->n > PROTO_MAX_ITEMS || (m->n > 0 && !m->items)))
        return -1;
    switch (m->type) {
    case PROTO_HELLO:
        if (m->name_len > PROTO_NAME_MAX)
            return -1;
        rc = wr_le(b, m->flags, 4) | wr_le(b, m->name_len, 1) |
             wr_bytes(b, m->name, m->name_len);
        break;
    case PROTO_HELLO_R:
        rc = wr_le(b, (uint32_t)m->status, 4) | wr_le(b, m->flags, 4) |
             wr_bytes(b, m->nonce, PROTO_NONCE_LEN);
        break;
    case PROTO_CONNECT:
        if (m->mac_len != 0 && m->mac_len != PROTO_MAC_LEN)
            return -1;
        rc = wr_le(b, m->mac_len, 1) | wr_bytes(b, m->mac, m->mac_len) |
             enc_blob(b, m->blob, m->blob_len);
        break;
    case PROTO_CONNECT_R:
        rc = wr_le(b, (uint32_t)m->status, 4) | wr_le(b, m->pool_base, 8) |
             wr_le(b, m->pool_size, 8) | enc_blob(b, m->blob, m->blob_len) |
             enc_blob(b, m->rkey, m->rkey_len);
        break;
    case PROTO_ALLOC:
    case PROTO_LOOKUP:
    case PROTO_REMOVE:
        if (m->type != PROTO_REMOVE)
            rc |= wr_le(b, m->flags, 4);
        rc |= wr_le(b, m->n, 4);
        for (uint32_t i = 0; i < m->n && rc == 0; i++) {
            const struct proto_item *it = &m->items[i];
            rc |= enc_key(b, it);
            if (m->type == PROTO_ALLOC)
                rc |= wr_le(b, it->len, 8);
            if (m->type != PROTO_ALLOC || !(m->flags & PROTO_ALLOC_GROUPS))
                continue;
            if (it->group != 0 &&
                (it->base_len == 0 || it->base_len > it->key_len))
                return -1;
            rc |= wr_le(b, it->group, 4) | wr_le(b, it->base_len, 2);
        }
        break;
    case PROTO_REMOVE_PREFIX:
        if (m->prefix_len > PROTO_KEY_MAX ||
            (m->prefix_len > 0 && m->prefix == NULL))
            return -1;
        rc = wr_le(b, m->prefix_len, 2) | wr_bytes(b, m->prefix, m->prefix_len);
        break;
    case PROTO_REMOVE_PREFIX_R:
        rc = wr_le(b, (uint32_t)m->status, 4) | wr_le(b, m->count, 8);
        break;
    case PROTO_COMMIT:
    case PROTO_ABORT:
    case PROTO_RELEASE:
    case PROTO_RELEASE_NOREPLY:
        rc = wr_le(b, m->n, 4);
        for (uint32_t i = 0; i < m->n && rc == 0; i++)
            rc |= wr_le(b, m->items[i].id, 8);
        break;
    case PROTO_ALLOC_R:
    case PROTO_LOOKUP_R:
        rc = wr_le(b, (uint32_t)m->status, 4) | wr_le(b, m->n, 4);
        for (uint32_t i = 0; i < m->n && rc == 0; i++) {
            const struct proto_item *it = &m->items[i];
            rc |= wr_le(b, (uint32_t)it->status, 4) | wr_le(b, it->addr, 8);
            if (m->type == PROTO_LOOKUP_R)
                rc |= wr_le(b, it->len, 8);
            rc |= wr_le(b, it->id, 8);
        }
        break;
    case PROTO_COMMIT_R:
    case PROTO_ABORT_R:
    case PROTO_RELEASE_R:
    case PROTO_REMOVE_R:
        rc = wr_le(b, (uint32_t)m->status, 4) | wr_le(b, m->n, 4);
        for (uint32_t i = 0; i < m->n && rc == 0; i++)
            rc |= wr_le(b, (uint32_t)m->items[i].status, 4);
        break;
    case PROTO_STATS:
        break;
    case PROTO_KEYS:
        if (m->limit == 0 || m->limit > PROTO_MAX_ITEMS ||
            m->prefix_len > PROTO_KEY_MAX ||
            (m->prefix_len > 0 && m->prefix == NULL))
            return -1;
        rc = wr_le(b, m->flags, 4) | wr_le(b, m->limit, 4) |
             wr_le(b, m->prefix_len, 2) |
             wr_bytes(b, m->prefix, m->prefix_len);
        break;
    case PROTO_KEYS_R:
        rc = wr_le(b, (uint32_t)m->status, 4) | wr_le(b, m->flags, 4) |
             wr_le(b, m->n, 4);
        for (uint32_t i = 0; i < m->n && rc == 0; i++)
            rc |= enc_key(b, &m->items[i]) | wr_le(b, m->items[i].len, 8);
        break;
    case PROTO_SHM_ATTACH:
    case PROTO_SHM_SWITCH:
        rc = wr_le(b, m->flags, 4);
        break;
    case PROTO_PUT_AT:
        rc = wr_le(b, m->flags, 4) | wr_le(b, m->want, 8) |
             wr_le(b, m->need, 8) | wr_le(b, m->n, 4);
        for (uint32_t i = 0; i < m->n && rc == 0; i++)
            rc |= enc_key(b, &m->items[i]) | wr_le(b, m->items[i].len, 8) |
                  wr_le(b, m->items[i].addr, 8);
        break;
    case PROTO_PUT_AT_R:
        rc = wr_le(b, (uint32_t)m->status, 4) | wr_le(b, m->arena_addr, 8) |
             wr_le(b, m->arena_len, 8) | wr_le(b, m->arena_cursor, 8) |
             wr_le(b, m->n, 4);
        for (uint32_t i = 0; i < m->n && rc == 0; i++)
            rc |= wr_le(b, (uint32_t)m->items[i].status, 4);
        break;
    case PROTO_SHM_ATTACH_R:
        rc = wr_le(b, (uint32_t)m->status, 4) | wr_le(b, m->shm_pid, 4) |
             wr_le(b, m->shm_fd, 4) | wr_le(b, m->shm_pipe_cap, 4) |
             wr_bytes(b, m->shm_cookie, PROTO_SHM_COOKIE_LEN);
        break;
    case PROTO_STATS_R:
        if (m->n_stats > PROTO_STATS_MAX)
            return -1;
        rc = wr_le(b, (uint32_t)m->status, 4) | wr_le(b, m->n_stats, 4);
        for (uint32_t i = 0; i < m->n_stats && rc == 0; i++)
            rc |= wr_le(b, m->stats[i], 8);
        break;
    default:
        return -1;
    }
    return rc != 0 ? -1 : 0;
}

int proto_encode(const struct proto_msg *m, struct proto_buf *b)
{
    b->len = 0;
    if (wr_reserve(b, PROTO_HDR_LEN) != 0)
        return -1;
    b->len = PROTO_HDR_LEN; /* header written last, when the size is known */
    if (encode_body(m, b) != 0)
        return -1;
    size_t body = b->len - PROTO_HDR_LEN;
    if (body > PROTO_MAX_BODY)
        return -1;
    uint8_t *h = b->data;
    kvp_le_put32(h, (uint32_t)body);
    kvp_le_put16(h + 4, PROTO_VERSION);
    kvp_le_put16(h + 6, m->type);
    kvp_le_put32(h + 8, m->req_id);
    return 0;
}
