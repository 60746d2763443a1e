/*
 * kvplug/status.h - status codes of the kvplug ABI.
 *
 * Status is always int32_t. 0 is success, positive values are non-error
 * outcomes, negative values are errors. Codes are APPEND-ONLY: a released
 * code is never removed, renumbered or given another meaning.
 *
 * Since ABI 1.0.
 */
#ifndef KVPLUG_STATUS_H
#define KVPLUG_STATUS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro list: (name, value, short description). Hosts may use it to build
 * their own tables; the plugin's status_str() op returns "NAME: description"
 * (e.g. "KVP_ERR_EXISTS: key already exists"). */
#define KVP_STATUS_LIST(X)                                                    \
    X(KVP_OK, 0, "success")                                                   \
    X(KVP_PARTIAL, 1, "some batch items failed; see per-item results")        \
    X(KVP_ERR_INVALID, -1, "invalid argument")                                \
    X(KVP_ERR_NOT_FOUND, -2, "key not found")                                 \
    X(KVP_ERR_EXISTS, -3, "key already exists")                               \
    X(KVP_ERR_TOO_SMALL, -4, "buffer too small for the object")               \
    X(KVP_ERR_NOT_REGISTERED, -5, "buffer range is not inside one "           \
                                  "registered buffer")                        \
    X(KVP_ERR_NO_SPACE, -6, "store has no space left")                        \
    X(KVP_ERR_TRANSPORT, -7, "transport error")                               \
    X(KVP_ERR_TIMEOUT, -8, "operation timed out")                             \
    X(KVP_ERR_DISCONNECTED, -9, "server disconnected")                        \
    X(KVP_ERR_NOT_SUPPORTED, -10, "operation not supported")                  \
    X(KVP_ERR_NO_DEVICE, -11, "no usable device")                             \
    X(KVP_ERR_TP_MISMATCH, -12, "stored shard has another tp_size or rank")   \
    X(KVP_ERR_ABI_MISMATCH, -13, "ABI major version mismatch")                \
    X(KVP_ERR_AUTH, -14, "authentication failed")                             \
    X(KVP_ERR_NO_MEMORY, -15, "out of memory")                                \
    X(KVP_ERR_INTERNAL, -16, "internal error")

#define KVP_STATUS_ENUM_ENTRY_(name, value, text) name = (value),
/* Enum for convenience in code; never used as a struct field type. */
enum kvp_status_code { KVP_STATUS_LIST(KVP_STATUS_ENUM_ENTRY_) };
#undef KVP_STATUS_ENUM_ENTRY_

/* Lowest (most negative) code defined by this header. */
#define KVP_STATUS_MIN_DEFINED KVP_ERR_INTERNAL

#ifdef __cplusplus
}
#endif

#endif /* KVPLUG_STATUS_H */
