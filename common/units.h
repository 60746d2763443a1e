/*
 * units.h - sizes for people: "64 MiB", "1.5 GiB", "512 B" (powers of
 * 1024, IEC names; exact values print without a fraction).
 */
#ifndef KVP_COMMON_UNITS_H
#define KVP_COMMON_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Writes the size into buf (cap >= 16 is always enough); returns buf. */
const char *kvp_fmt_bytes(uint64_t bytes, char *buf, size_t cap);

#endif /* KVP_COMMON_UNITS_H */
