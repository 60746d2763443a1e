/*
 * log.h - the one logging path of kvplug: every message goes to the host
 * logger (or stderr when the host gave none), filtered by level.
 */
#ifndef KVP_COMMON_LOG_H
#define KVP_COMMON_LOG_H

#include <stdint.h>

#include "kvplug/abi.h"

struct kvp_logger {
    kvp_log_fn fn;   /* NULL: stderr */
    void *user;
    int32_t level;   /* messages with level > this are dropped */
};

/* The stderr sink: "2025-01-31 12:00:00.123 kvplug <level>: msg". */
void kvp_log_stderr(void *user, int32_t level, const char *msg);
/* A logger that writes those lines to stderr. */
void kvp_logger_init_stderr(struct kvp_logger *lg, int32_t level);

/* Formats one line (truncated at 1023 bytes) and hands it to lg. lg may be
 * NULL (stderr, level WARN). */
void kvp_logf(const struct kvp_logger *lg, int32_t level, const char *fmt,
              ...) __attribute__((format(printf, 3, 4)));

/* "error", "warn", "info", "debug"; parses the same names (and 0..3).
 * Returns -1 for an unknown name. */
const char *kvp_log_level_name(int32_t level);
int32_t kvp_log_level_parse(const char *name);

#define KVP_LOG_E(lg, ...) kvp_logf((lg), KVP_LOG_ERROR, __VA_ARGS__)
#define KVP_LOG_W(lg, ...) kvp_logf((lg), KVP_LOG_WARN, __VA_ARGS__)
#define KVP_LOG_I(lg, ...) kvp_logf((lg), KVP_LOG_INFO, __VA_ARGS__)
#define KVP_LOG_D(lg, ...) kvp_logf((lg), KVP_LOG_DEBUG, __VA_ARGS__)

#endif /* KVP_COMMON_LOG_H */
