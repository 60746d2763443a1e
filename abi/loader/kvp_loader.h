/*
 * kvp_loader.h - what a host engine uses to load a kvplug plugin.
 *
 * kvp_loader_open() dlopen()s the plugin (RTLD_NOW | RTLD_LOCAL), finds
 * kvp_plugin_negotiate_v1, negotiates KVP_ABI_MAJOR / KVP_ABI_MINOR and
 * checks the returned ops table (struct_size covers the negotiated minor,
 * major matches). Every failure writes a message naming the path and the
 * dlerror() text, the missing symbol, or both versions.
 *
 * Static library; hosts link it and include kvplug/abi.h.
 */
#ifndef KVP_LOADER_H
#define KVP_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "kvplug/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_LOADER_PATH_MAX 4096

struct kvp_plugin {
    void *handle;                 /* dlopen handle */
    const struct kvp_ops *ops;    /* valid while loaded */
    uint16_t abi_major;           /* plugin's major */
    uint16_t abi_minor;           /* negotiated (effective) minor */
    uint16_t plugin_abi_minor;    /* plugin's highest minor */
    uint16_t reserved;
    char path[KVP_LOADER_PATH_MAX]; /* the path actually opened */
};

/*
 * path: plugin .so; NULL or "" = $KVPLUG_PLUGIN. host: optional logger for
 * negotiation (borrowed for the call). err: optional buffer for a one-line
 * reason. Returns KVP_OK, KVP_ERR_INVALID (no path), KVP_ERR_NOT_FOUND
 * (dlopen failed), KVP_ERR_NOT_SUPPORTED (entry symbol missing),
 * KVP_ERR_ABI_MISMATCH (major differs or ops table too small), or what the
 * plugin's negotiate returned. *plugin is filled only on KVP_OK.
 */
int32_t kvp_loader_open(const char *path, const struct kvp_host_api *host,
                        struct kvp_plugin *plugin, char *err, size_t err_cap);

/* Same, but negotiating as a host that knows (major, minor): for tests of
 * the negotiation itself. */
int32_t kvp_loader_open_as(const char *path, uint16_t host_major,
                           uint16_t host_minor,
                           const struct kvp_host_api *host,
                           struct kvp_plugin *plugin, char *err,
                           size_t err_cap);

/* dlclose(). Only when no engine of this plugin is alive (the loader never
 * closes on its own). */
void kvp_loader_close(struct kvp_plugin *plugin);

#ifdef __cplusplus
}
#endif

#endif /* KVP_LOADER_H */
