/*
 * fuzz_tensor_hdr.c - libFuzzer target for the tensor object header codec
 * (plugin/tensor_hdr.h) and the TP planner fed by it (plugin/tp_plan.h).
 *
 * The input is a whole tensor object, [304-byte header][payload], exactly as
 * a host or the network hands it over. It is copied into its own heap block
 * of exactly that size, so ASan reports any read past the object. Besides
 * "never crashes", every accepted object must satisfy:
 *   - the verdict does not depend on whether the caller wants the header;
 *   - re-encoding the decoded header gives the same 304 bytes, and those
 *     bytes parse again as valid;
 *   - the payload is exactly data_bytes = numel(local_shape) * elem size;
 *   - for a FULL header with ndim > 0, the TP plan for tp 2 and 4 on the
 *     first and the last dim is either refused with KVP_ERR_INVALID or has
 *     extents inside the payload that cover it exactly once over all ranks,
 *     and every rank's SHARD header is itself a valid header.
 * A broken invariant traps, so libFuzzer saves the input as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvplug/status.h"
#include "kvplug/tensor.h"
#include "tensor_hdr.h"
#include "tp_plan.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One plan: extents inside [0, payload), each payload byte owned by exactly
 * one (rank, extent), and each rank's SHARD header valid for shard_bytes. */
static void check_plan(const struct kvp_tensor_hdr *full, int32_t tp,
                       int32_t split_dim)
{
    struct tp_plan plan;
    int32_t st = tp_plan_make(full, tp, split_dim, &plan);
    if (st != KVP_OK) {
        CHECK(st == KVP_ERR_INVALID);
        return;
    }
    uint64_t payload = full->data_bytes;
    CHECK(plan.tp_size == tp);
    CHECK(plan.split_dim >= 0 && plan.split_dim < full->ndim);
    CHECK(plan.shard_bytes * (uint64_t)tp == payload);

    /* payload <= the fuzzer's max_len, so a byte map is cheap */
    uint8_t *owner = calloc(payload ? payload : 1, 1);
    CHECK(owner != NULL);
    for (int32_t r = 0; r < tp; r++) {
        uint64_t rank_bytes = 0;
        for (uint64_t i = 0; i < plan.n_extents; i++) {
            struct tp_extent e = tp_plan_extent(&plan, r, i);
            uint64_t end;
            CHECK(!__builtin_add_overflow(e.off, e.len, &end));
            CHECK(end <= payload);
            for (uint64_t b = e.off; b < end; b++)
                CHECK(owner[b]++ == 0);
            rank_bytes += e.len;
        }
        CHECK(rank_bytes == plan.shard_bytes);

        struct kvp_tensor_hdr shard;
        uint8_t *obj = calloc(KVP_TENSOR_HDR_SIZE + plan.shard_bytes, 1);
        CHECK(obj != NULL);
        tp_plan_shard_hdr(&plan, full, r, &shard);
        tensor_hdr_encode(&shard, obj);
        CHECK(tensor_hdr_parse(obj, KVP_TENSOR_HDR_SIZE + plan.shard_bytes,
                               NULL) == TH_OK);
        CHECK(shard.layout_kind == KVP_LAYOUT_SHARD);
        free(obj);
    }
    for (uint64_t b = 0; b < payload; b++)
        CHECK(owner[b] == 1);
    free(owner);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* own heap block of exactly `size` bytes: ASan sees any over-read */
    uint8_t *obj = malloc(size ? size : 1);
    if (obj == NULL)
        return 0;
    memcpy(obj, data, size);

    struct kvp_tensor_hdr hdr;
    int32_t rule = tensor_hdr_parse(obj, size, &hdr);
    CHECK(rule >= TH_OK && rule < TH_RULE_COUNT);
    CHECK(tensor_hdr_rule_str(rule) != NULL);
    CHECK(tensor_hdr_parse(obj, size, NULL) == rule);
    CHECK((rule == TH_TOO_SHORT) == (size < KVP_TENSOR_HDR_SIZE));

    if (rule == TH_OK) {
        uint8_t again[KVP_TENSOR_HDR_SIZE];
        tensor_hdr_encode(&hdr, again);
        CHECK(memcmp(again, obj, KVP_TENSOR_HDR_SIZE) == 0);

        uint64_t payload;
        CHECK(tensor_hdr_payload_bytes(&hdr, &payload) == 0);
        CHECK(hdr.data_offset == KVP_TENSOR_HDR_SIZE);
        CHECK(payload == hdr.data_bytes);
        CHECK(size - KVP_TENSOR_HDR_SIZE == hdr.data_bytes);

        if (hdr.layout_kind == KVP_LAYOUT_FULL && hdr.ndim > 0) {
            check_plan(&hdr, 2, 0);
            check_plan(&hdr, 2, -1);
            check_plan(&hdr, 4, 0);
            check_plan(&hdr, 4, -1);
        }
    }
    free(obj);
    return 0;
}
