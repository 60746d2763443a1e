/* units.c - human-readable sizes (units.h). */
#include "units.h"

#include <stdio.h>

const char *kvp_fmt_bytes(uint64_t bytes, char *buf, size_t cap)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB",
                                       "PiB", "EiB"};
    int u = 0;
    uint64_t whole = bytes;
    while (whole >= 1024 && u < 6) {
        whole >>= 10;
        u++;
    }
    uint64_t scale = (uint64_t)1 << (10 * u);
    if (u == 0 || bytes % scale == 0)
        snprintf(buf, cap, "%llu %s", (unsigned long long)(bytes / scale),
                 unit[u]);
    else
        snprintf(buf, cap, "%.1f %s", (double)bytes / (double)scale,
                 unit[u]);
    return buf;
}
