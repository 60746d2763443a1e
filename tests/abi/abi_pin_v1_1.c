/*
 * abi_pin_v1_1.c - what ABI 1.1 adds, pinned at compile time.
 *
 * The two structs and six slots of DESIGN §2.1, appended after `remove`
 * (abi_pin_v1_0.c pins everything before). Frozen once released, like the
 * 1.0 pin: a later minor gets abi_pin_v1_<minor>.c (docs/abi.md).
 */
#include <stddef.h>
#include <stdint.h>

#include "kvplug/abi.h"

#if UINTPTR_MAX != UINT64_MAX
#error "kvplug ABI 1.1 is defined for LP64 (64-bit pointers)"
#endif

#define FIELD_T(S, f) __typeof__(((struct S *)0)->f)

#define PIN(S, f, off, ...)                                                    \
    _Static_assert(offsetof(struct S, f) == (off), #S "." #f " moved");        \
    _Static_assert(sizeof(FIELD_T(S, f)) == sizeof(__VA_ARGS__),               \
                   #S "." #f " resized");                                      \
    _Static_assert(__builtin_types_compatible_p(FIELD_T(S, f), __VA_ARGS__),   \
                   #S "." #f " retyped")

#define PIN_CONST(name, value)                                                 \
    _Static_assert((name) == (value), #name " changed")

struct kvp_engine;

/* ---- struct kvp_iov (fixed, never grows) -------------------------------- */
PIN(kvp_iov, ptr, 0, void *);
PIN(kvp_iov, len, 8, uint64_t);
_Static_assert(sizeof(struct kvp_iov) == 16, "kvp_iov is fixed at 16 bytes");

/* ---- struct kvp_stats (growable) ---------------------------------------- */
PIN(kvp_stats, struct_size, 0, uint32_t);
PIN(kvp_stats, reserved, 4, uint32_t);
PIN(kvp_stats, puts, 8, uint64_t);
PIN(kvp_stats, put_bytes, 16, uint64_t);
PIN(kvp_stats, gets, 24, uint64_t);
PIN(kvp_stats, get_bytes, 32, uint64_t);
PIN(kvp_stats, get_hits, 40, uint64_t);
PIN(kvp_stats, get_misses, 48, uint64_t);
PIN(kvp_stats, errors, 56, uint64_t);
PIN(kvp_stats, reconnects, 64, uint64_t);
PIN(kvp_stats, removes, 72, uint64_t);
_Static_assert(sizeof(struct kvp_stats) >= 80, "kvp_stats shrank");

/* ---- the slots of 1.1, right after `remove` ------------------------------ */
PIN(kvp_ops, batch_exists, 160,
    int32_t (*)(struct kvp_engine *, uint32_t, const char *const *,
                int32_t *));
PIN(kvp_ops, batch_remove, 168,
    int32_t (*)(struct kvp_engine *, uint32_t, const char *const *,
                int32_t *));
PIN(kvp_ops, batch_put_from_iov, 176,
    int32_t (*)(struct kvp_engine *, uint32_t, const char *const *,
                const struct kvp_iov *const *, const uint32_t *,
                const struct kvp_put_opts *, int32_t *));
PIN(kvp_ops, batch_get_into_iov, 184,
    int32_t (*)(struct kvp_engine *, uint32_t, const char *const *,
                const struct kvp_iov *const *, const uint32_t *, int64_t *));
PIN(kvp_ops, remove_prefix, 192,
    int32_t (*)(struct kvp_engine *, const char *, uint64_t *));
PIN(kvp_ops, get_stats, 200,
    int32_t (*)(struct kvp_engine *, struct kvp_stats *));
PIN_CONST(KVP_OPS_SIZE_V1_1, 208);
_Static_assert(KVP_ABI_MINOR >= 1, "minors only grow");
PIN_CONST(KVP_TP_SIZE_MAX, 16384);

/* An object file must define something. */
extern const int kvp_abi_pin_v1_1;
const int kvp_abi_pin_v1_1 = 1;
