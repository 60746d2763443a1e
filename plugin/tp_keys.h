/* tp_keys.h - TP shard keys "<key>_tp_<rank>" (decimal rank). */
#ifndef KVP_TP_KEYS_H
#define KVP_TP_KEYS_H

#include <stdint.h>
#include <stdio.h>

#include "kvplug/abi.h"

/* key (<= KVP_KEY_MAX) + "_tp_" + up to 10 digits + NUL */
#define TP_SHARD_KEY_MAX (KVP_KEY_MAX + 4 + 10 + 1)

/* Writes the shard key; returns its length. A shard key, like any key,
 * must be <= KVP_KEY_MAX bytes: the caller refuses a longer one, so a TP
 * user key has 4 + digits(rank) bytes less room (docs/semantics.md). */
static inline int tp_shard_key(char *out, const char *key, int32_t rank)
{
    return snprintf(out, TP_SHARD_KEY_MAX, "%s_tp_%d", key, (int)rank);
}

#endif /* KVP_TP_KEYS_H */
