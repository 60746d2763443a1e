/* fuzz_proto.c - libFuzzer target for the control frame parser: the input
 * is a raw frame (header + body) as a server or client would receive it.
 * Any crash, sanitizer report or accepted frame that does not re-encode to
 * the same bytes is a bug. Built with KVP_FUZZ=ON and clang only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PROTO_HDR_LEN)
        return 0;
    struct proto_hdr h;
    const char *why = NULL;
    if (proto_hdr_parse(data, PROTO_MAX_BODY, &h, &why) != PROTO_OK)
        return 0;
    /* the body the network layer would hand over: exactly body_len bytes,
     * in its own heap block so ASan sees any read past its end */
    size_t avail = size - PROTO_HDR_LEN;
    if (h.body_len > avail)
        h.body_len = (uint32_t)avail;
    uint8_t *body = malloc(h.body_len ? h.body_len : 1);
    if (body == NULL)
        return 0;
    memcpy(body, data + PROTO_HDR_LEN, h.body_len);
    struct proto_msg m;
    if (proto_decode(&h, body, &m, &why) == PROTO_OK) {
        /* an accepted frame re-encodes to exactly the same bytes */
        struct proto_buf b = {0};
        if (proto_encode(&m, &b) != 0 || b.len != PROTO_HDR_LEN + h.body_len ||
            memcmp(b.data + PROTO_HDR_LEN, body, h.body_len) != 0)
            abort();
        proto_buf_free(&b);
        proto_msg_free(&m);
    }
    free(body);
    return 0;
}
