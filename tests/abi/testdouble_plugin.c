/*
 * testdouble_plugin.c - TEST DOUBLE plugins for the loader's negative paths.
 * The real libkvplug.so has a correct table of its minor, so the cases
 * "plugin newer than the host", "table too small", "no table" and "table of
 * another major" can only be produced by a deliberately wrong plugin. Each
 * libkvp_testdouble_<case>.so is this file built with one TD_* define.
 */
#include <stddef.h>

#include "kvplug/abi.h"

#ifndef TD_PLUGIN_MINOR
#define TD_PLUGIN_MINOR KVP_ABI_MINOR
#endif
#ifndef TD_OPS_SIZE
#define TD_OPS_SIZE sizeof(struct kvp_ops)
#endif
#ifndef TD_OPS_MAJOR
#define TD_OPS_MAJOR KVP_ABI_MAJOR
#endif

static const char *td_status_str(int32_t status)
{
    (void)status;
    return "test double";
}

static const struct kvp_ops td_ops = {
    .struct_size = (uint32_t)(TD_OPS_SIZE),
    .abi_major = TD_OPS_MAJOR,
    .abi_minor = TD_PLUGIN_MINOR,
    .name = "kvp-testdouble",
    .version = "0",
    .status_str = td_status_str,
};

static uint16_t min_u16(uint16_t a, uint16_t b)
{
    return a < b ? a : b;
}

__attribute__((visibility("default"))) int32_t
kvp_plugin_negotiate_v1(struct kvp_negotiate *io);

int32_t kvp_plugin_negotiate_v1(struct kvp_negotiate *io)
{
    if (io == NULL || io->struct_size < sizeof(*io))
        return KVP_ERR_INVALID;
    io->plugin_abi_major = KVP_ABI_MAJOR;
    io->plugin_abi_minor = TD_PLUGIN_MINOR;
    if (io->host_abi_major != KVP_ABI_MAJOR)
        return KVP_ERR_ABI_MISMATCH;
    io->abi_minor = min_u16(io->host_abi_minor, TD_PLUGIN_MINOR);
#ifdef TD_LIE_MINOR
    io->abi_minor = (uint16_t)(io->host_abi_minor + 1);
#endif
#ifdef TD_NULL_OPS
    (void)td_ops;
    io->ops = NULL;
#else
    io->ops = &td_ops;
#endif
    return KVP_OK;
}
