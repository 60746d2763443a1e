/*
 * clock.h - the one clock of kvplug: CLOCK_MONOTONIC, for timeouts,
 * deadlines, lease expiry and durations (never wall time: it jumps).
 */
#ifndef KVP_COMMON_CLOCK_H
#define KVP_COMMON_CLOCK_H

#include <stdint.h>

/* Nanoseconds on the monotonic clock (arbitrary origin). */
uint64_t kvp_now_ns(void);

/* Milliseconds on the same clock. */
static inline uint64_t kvp_now_ms(void)
{
    return kvp_now_ns() / 1000000u;
}

#endif /* KVP_COMMON_CLOCK_H */
