/*
 * status_name.h - the name of a kvplug status ("KVP_ERR_EXISTS"), for
 * every message and label that shows one: never a bare number.
 */
#ifndef KVP_COMMON_STATUS_NAME_H
#define KVP_COMMON_STATUS_NAME_H

#include <stdint.h>

/* "KVP_OK", "KVP_ERR_NO_SPACE", ...; "KVP_ERR_UNKNOWN" for a code this
 * build does not know. A static string. */
const char *kvp_status_name(int32_t status);

#endif /* KVP_COMMON_STATUS_NAME_H */
