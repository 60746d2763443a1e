/*
 * abi_pin_v1_0.c - the ABI 1.0 contract, pinned at compile time.
 *
 * Every offset, size and type of every field and slot released in ABI 1.0,
 * and every released constant. This file is compiled by the normal build, so
 * moving, retyping or removing anything released breaks the BUILD.
 * It is frozen: a later minor gets its own abi_pin_v1_<minor>.c for what it
 * adds; this file is never edited to make a change pass (docs/abi.md).
 *
 * Offsets are those of the LP64 data model (x86_64, aarch64), the only one
 * kvplug supports; the fixed-width parts hold everywhere.
 */
#include <stddef.h>
#include <stdint.h>

#include "kvplug/abi.h"
#include "kvplug/status.h"
#include "kvplug/tensor.h"

#if UINTPTR_MAX != UINT64_MAX
#error "kvplug ABI 1.0 is defined for LP64 (64-bit pointers)"
#endif

#define FIELD_T(S, f) __typeof__(((struct S *)0)->f)

/* Offset, size and exact type of one field. */
#define PIN(S, f, off, ...)                                                    \
    _Static_assert(offsetof(struct S, f) == (off), #S "." #f " moved");        \
    _Static_assert(sizeof(FIELD_T(S, f)) == sizeof(__VA_ARGS__),               \
                   #S "." #f " resized");                                      \
    _Static_assert(__builtin_types_compatible_p(FIELD_T(S, f), __VA_ARGS__),   \
                   #S "." #f " retyped")

#define PIN_CONST(name, value)                                                 \
    _Static_assert((name) == (value), #name " changed")

struct kvp_engine;

/* ---- struct kvp_host_api (growable) ------------------------------------- */
_Static_assert(__builtin_types_compatible_p(kvp_log_fn,
                                            void (*)(void *, int32_t,
                                                     const char *)),
               "kvp_log_fn retyped");
PIN(kvp_host_api, struct_size, 0, uint32_t);
PIN(kvp_host_api, flags, 4, uint32_t);
PIN(kvp_host_api, log, 8, void (*)(void *, int32_t, const char *));
PIN(kvp_host_api, log_user, 16, void *);
_Static_assert(sizeof(struct kvp_host_api) >= 24, "kvp_host_api shrank");

/* ---- struct kvp_negotiate (growable) ------------------------------------ */
PIN(kvp_negotiate, struct_size, 0, uint32_t);
PIN(kvp_negotiate, host_abi_major, 4, uint16_t);
PIN(kvp_negotiate, host_abi_minor, 6, uint16_t);
PIN(kvp_negotiate, host, 8, const struct kvp_host_api *);
PIN(kvp_negotiate, plugin_abi_major, 16, uint16_t);
PIN(kvp_negotiate, plugin_abi_minor, 18, uint16_t);
PIN(kvp_negotiate, abi_minor, 20, uint16_t);
PIN(kvp_negotiate, reserved, 22, uint16_t);
PIN(kvp_negotiate, ops, 24, const struct kvp_ops *);
_Static_assert(sizeof(struct kvp_negotiate) >= 32, "kvp_negotiate shrank");
_Static_assert(__builtin_types_compatible_p(
                   kvp_negotiate_v1_fn, int32_t (*)(struct kvp_negotiate *)),
               "kvp_negotiate_v1_fn retyped");

/* ---- struct kvp_put_opts (growable) ------------------------------------- */
PIN(kvp_put_opts, struct_size, 0, uint32_t);
PIN(kvp_put_opts, flags, 4, uint32_t);
_Static_assert(sizeof(struct kvp_put_opts) >= 8, "kvp_put_opts shrank");

/* ---- struct kvp_ops (append-only) --------------------------------------- */
PIN(kvp_ops, struct_size, 0, uint32_t);
PIN(kvp_ops, abi_major, 4, uint16_t);
PIN(kvp_ops, abi_minor, 6, uint16_t);
PIN(kvp_ops, caps, 8, uint64_t);
PIN(kvp_ops, name, 16, const char *);
PIN(kvp_ops, version, 24, const char *);
PIN(kvp_ops, status_str, 32, const char *(*)(int32_t));
PIN(kvp_ops, engine_create, 40,
    int32_t (*)(const char *, const struct kvp_host_api *,
                struct kvp_engine **));
PIN(kvp_ops, engine_destroy, 48, int32_t (*)(struct kvp_engine *));
PIN(kvp_ops, register_buffer, 56,
    int32_t (*)(struct kvp_engine *, void *, uint64_t));
PIN(kvp_ops, unregister_buffer, 64, int32_t (*)(struct kvp_engine *, void *));
PIN(kvp_ops, put_from, 72,
    int32_t (*)(struct kvp_engine *, const char *, const void *, uint64_t,
                const struct kvp_put_opts *));
PIN(kvp_ops, batch_put_from, 80,
    int32_t (*)(struct kvp_engine *, uint32_t, const char *const *,
                const void *const *, const uint64_t *,
                const struct kvp_put_opts *, int32_t *));
PIN(kvp_ops, get_into, 88,
    int64_t (*)(struct kvp_engine *, const char *, void *, uint64_t));
PIN(kvp_ops, batch_get_into, 96,
    int32_t (*)(struct kvp_engine *, uint32_t, const char *const *,
                void *const *, const uint64_t *, int64_t *));
PIN(kvp_ops, put_tensor_with_tp_from, 104,
    int32_t (*)(struct kvp_engine *, const char *, const void *, uint64_t,
                int32_t, int32_t, int32_t, const struct kvp_put_opts *));
PIN(kvp_ops, batch_put_tensor_with_tp_from, 112,
    int32_t (*)(struct kvp_engine *, uint32_t, const char *const *,
                const void *const *, const uint64_t *, int32_t, int32_t,
                int32_t, const struct kvp_put_opts *, int32_t *));
PIN(kvp_ops, get_tensor_with_tp_into, 120,
    int64_t (*)(struct kvp_engine *, const char *, void *, uint64_t, int32_t,
                int32_t));
PIN(kvp_ops, batch_get_tensor_with_tp_into, 128,
    int32_t (*)(struct kvp_engine *, uint32_t, const char *const *,
                void *const *, const uint64_t *, int32_t, int32_t, int64_t *));
PIN(kvp_ops, exists, 136, int32_t (*)(struct kvp_engine *, const char *));
PIN(kvp_ops, stat, 144, int64_t (*)(struct kvp_engine *, const char *));
PIN(kvp_ops, remove, 152, int32_t (*)(struct kvp_engine *, const char *));
PIN_CONST(KVP_OPS_SIZE_V1_0, 160);
_Static_assert(sizeof(struct kvp_ops) >= 160, "kvp_ops shrank");

/* ---- tensor object header v1 (fixed size, byte format) ------------------ */
PIN(kvp_tensor_axis, kind, 0, int32_t);
PIN(kvp_tensor_axis, axis_index, 4, int32_t);
PIN(kvp_tensor_axis, shard_rank, 8, int32_t);
PIN(kvp_tensor_axis, shard_count, 12, int32_t);
PIN(kvp_tensor_axis, split_dim, 16, int32_t);
PIN(kvp_tensor_axis, reserved0, 20, int32_t);
PIN(kvp_tensor_axis, reserved1, 24, int64_t);
_Static_assert(sizeof(struct kvp_tensor_axis) == 32, "axis is 32 bytes");

PIN(kvp_tensor_hdr, magic, 0, uint32_t);
PIN(kvp_tensor_hdr, version, 4, uint16_t);
PIN(kvp_tensor_hdr, header_size, 6, uint16_t);
PIN(kvp_tensor_hdr, dtype, 8, int32_t);
PIN(kvp_tensor_hdr, ndim, 12, int32_t);
PIN(kvp_tensor_hdr, layout_kind, 16, uint32_t);
PIN(kvp_tensor_hdr, reserved_flags, 20, uint32_t);
PIN(kvp_tensor_hdr, data_offset, 24, uint64_t);
PIN(kvp_tensor_hdr, data_bytes, 32, uint64_t);
PIN(kvp_tensor_hdr, global_shape, 40, int64_t[8]);
PIN(kvp_tensor_hdr, local_shape, 104, int64_t[8]);
PIN(kvp_tensor_hdr, axis_count, 168, uint32_t);
PIN(kvp_tensor_hdr, reserved0, 172, uint32_t);
PIN(kvp_tensor_hdr, axes, 176, struct kvp_tensor_axis[4]);
_Static_assert(sizeof(struct kvp_tensor_hdr) == 304, "header is 304 bytes");

/* ---- constants ---------------------------------------------------------- */
PIN_CONST(KVP_ABI_MAJOR, 1);
_Static_assert(KVP_ABI_MINOR >= 0, "minors only grow");
PIN_CONST(KVP_LOG_ERROR, 0);
PIN_CONST(KVP_LOG_WARN, 1);
PIN_CONST(KVP_LOG_INFO, 2);
PIN_CONST(KVP_LOG_DEBUG, 3);
PIN_CONST(KVP_CAP_THREAD_SAFE, UINT64_C(1) << 0);
PIN_CONST(KVP_CAP_TP, UINT64_C(1) << 1);
PIN_CONST(KVP_CAP_BATCH, UINT64_C(1) << 2);
PIN_CONST(KVP_CAP_OVERWRITE, UINT64_C(1) << 3);
PIN_CONST(KVP_CAP_CUDA, UINT64_C(1) << 4);
PIN_CONST(KVP_PUT_OVERWRITE, UINT32_C(1) << 0);
PIN_CONST(KVP_KEY_MAX, 1024);

PIN_CONST(KVP_TENSOR_MAGIC, 0x4D4F4F4Eu);
PIN_CONST(KVP_TENSOR_VERSION, 1);
PIN_CONST(KVP_TENSOR_HDR_SIZE, 304);
PIN_CONST(KVP_TENSOR_MAX_DIMS, 8);
PIN_CONST(KVP_TENSOR_MAX_AXES, 4);
PIN_CONST(KVP_LAYOUT_FULL, 0);
PIN_CONST(KVP_LAYOUT_SHARD, 1);
PIN_CONST(KVP_AXIS_DP, 0);
PIN_CONST(KVP_AXIS_TP, 1);
PIN_CONST(KVP_AXIS_EP, 2);
PIN_CONST(KVP_AXIS_PP, 3);
PIN_CONST(KVP_DTYPE_F32, 0);
PIN_CONST(KVP_DTYPE_F64, 1);
PIN_CONST(KVP_DTYPE_I8, 2);
PIN_CONST(KVP_DTYPE_U8, 3);
PIN_CONST(KVP_DTYPE_I16, 4);
PIN_CONST(KVP_DTYPE_U16, 5);
PIN_CONST(KVP_DTYPE_I32, 6);
PIN_CONST(KVP_DTYPE_U32, 7);
PIN_CONST(KVP_DTYPE_I64, 8);
PIN_CONST(KVP_DTYPE_U64, 9);
PIN_CONST(KVP_DTYPE_BOOL, 10);
PIN_CONST(KVP_DTYPE_F16, 11);
PIN_CONST(KVP_DTYPE_BF16, 12);
PIN_CONST(KVP_DTYPE_F8E4M3, 13);
PIN_CONST(KVP_DTYPE_F8E5M2, 14);
_Static_assert(KVP_DTYPE_COUNT >= 15, "dtypes only grow");

/* Status codes: never removed, renumbered or reused. */
PIN_CONST(KVP_OK, 0);
PIN_CONST(KVP_PARTIAL, 1);
PIN_CONST(KVP_ERR_INVALID, -1);
PIN_CONST(KVP_ERR_NOT_FOUND, -2);
PIN_CONST(KVP_ERR_EXISTS, -3);
PIN_CONST(KVP_ERR_TOO_SMALL, -4);
PIN_CONST(KVP_ERR_NOT_REGISTERED, -5);
PIN_CONST(KVP_ERR_NO_SPACE, -6);
PIN_CONST(KVP_ERR_TRANSPORT, -7);
PIN_CONST(KVP_ERR_TIMEOUT, -8);
PIN_CONST(KVP_ERR_DISCONNECTED, -9);
PIN_CONST(KVP_ERR_NOT_SUPPORTED, -10);
PIN_CONST(KVP_ERR_NO_DEVICE, -11);
PIN_CONST(KVP_ERR_TP_MISMATCH, -12);
PIN_CONST(KVP_ERR_ABI_MISMATCH, -13);
PIN_CONST(KVP_ERR_AUTH, -14);
PIN_CONST(KVP_ERR_NO_MEMORY, -15);
PIN_CONST(KVP_ERR_INTERNAL, -16);
_Static_assert(KVP_STATUS_MIN_DEFINED <= -16, "codes only grow");

/* An object file must define something. */
extern const int kvp_abi_pin_v1_0;
const int kvp_abi_pin_v1_0 = 1;
