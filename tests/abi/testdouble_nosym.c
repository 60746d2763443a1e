/*
 * testdouble_nosym.c - TEST DOUBLE: a loadable .so that does not export
 * kvp_plugin_negotiate_v1 (it exports a differently named function), so
 * the loader's "missing symbol" path runs against a real dlopen.
 */
#include <stdint.h>

__attribute__((visibility("default"))) int32_t kvp_plugin_negotiate_v0(void);

int32_t kvp_plugin_negotiate_v0(void)
{
    return 0;
}
