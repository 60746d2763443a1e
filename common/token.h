/*
 * token.h - the one reader of the shared-secret file (auth_token_file= in
 * the plugin config, --auth-token-file of kvplug-server; DESIGN §4).
 */
#ifndef KVP_COMMON_TOKEN_H
#define KVP_COMMON_TOKEN_H

#include <stddef.h>

/* Longest token accepted, in bytes (after trailing whitespace is
 * stripped). */
#define KVP_TOKEN_MAX 4096

/* Reads the token at path: the file's bytes without trailing whitespace
 * (spaces, tabs, newlines), 1..KVP_TOKEN_MAX bytes of text (no NUL), into
 * a malloc'd string (free it after wiping it). NULL with a message in err
 * naming `what` (the key or flag the path came from) and the path when
 * the file is missing, unreadable, empty, binary or too long. *loose_p
 * (may be NULL) = 1 when the file is readable by group or others. */
char *kvp_token_read(const char *path, const char *what, int *loose_p,
                     char *err, size_t cap);

#endif /* KVP_COMMON_TOKEN_H */
