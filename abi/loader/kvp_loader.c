/*
 * kvp_loader.c - dlopen a kvplug plugin, negotiate the ABI, check the ops
 * table. Every failure explains itself in one line: the path and dlerror()
 * text, the missing symbol, or both versions. The handle is closed on every
 * failure (no engine can exist yet) and never closed on its own otherwise.
 */
#include "kvp_loader.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of struct kvp_ops a plugin must provide for a negotiated minor.
 * Minors this loader does not know yet need at least what it knows. */
static size_t ops_size_for_minor(uint16_t minor)
{
    switch (minor) {
    case 0:
        return KVP_OPS_SIZE_V1_0;
    case 1:
    default:
        return KVP_OPS_SIZE_V1_1;
    }
}

/* Writes the reason to err and, when the host gave one, its logger. */
__attribute__((format(printf, 4, 5))) static void
fail(const struct kvp_host_api *host, char *err, size_t err_cap,
     const char *fmt, ...)
{
    char line[KVP_LOADER_PATH_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (err != NULL && err_cap > 0)
        snprintf(err, err_cap, "%s", line);
    if (host != NULL &&
        host->struct_size >=
            offsetof(struct kvp_host_api, log_user) + sizeof(host->log_user) &&
        host->log != NULL)
        host->log(host->log_user, KVP_LOG_ERROR, line);
}

static const char *dl_reason(void)
{
    const char *e = dlerror();
    return e != NULL ? e : "no dlerror() text";
}

/* Checks what negotiate returned against what the host asked for. */
static int32_t check_ops(const struct kvp_negotiate *io, const char *path,
                         uint16_t host_major, uint16_t host_minor,
                         const struct kvp_host_api *host, char *err,
                         size_t err_cap)
{
    const struct kvp_ops *ops = io->ops;
    if (ops == NULL) {
        fail(host, err, err_cap,
             "kvplug loader: plugin '%s' negotiated ABI %u.%u but returned "
             "no ops table",
             path, host_major, io->abi_minor);
        return KVP_ERR_ABI_MISMATCH;
    }
    /* This loader reads the table with the v1 layout, whatever the host
     * claimed to be (kvp_loader_open_as). */
    if (host_major != KVP_ABI_MAJOR || ops->abi_major != KVP_ABI_MAJOR ||
        io->plugin_abi_major != KVP_ABI_MAJOR) {
        fail(host, err, err_cap,
             "kvplug loader: plugin '%s': ABI mismatch: host %u.%u vs plugin "
             "%u.%u (ops table says major %u)",
             path, host_major, host_minor, io->plugin_abi_major,
             io->plugin_abi_minor, ops->abi_major);
        return KVP_ERR_ABI_MISMATCH;
    }
    if (io->abi_minor > host_minor || io->abi_minor > io->plugin_abi_minor ||
        ops->abi_minor < io->abi_minor) {
        fail(host, err, err_cap,
             "kvplug loader: plugin '%s': negotiated minor %u is not "
             "min(host %u.%u, plugin %u.%u) (ops table says %u.%u)",
             path, io->abi_minor, host_major, host_minor, io->plugin_abi_major,
             io->plugin_abi_minor, ops->abi_major, ops->abi_minor);
        return KVP_ERR_ABI_MISMATCH;
    }
    size_t need = ops_size_for_minor(io->abi_minor);
    if (ops->struct_size < need) {
        fail(host, err, err_cap,
             "kvplug loader: plugin '%s': ops table is %u bytes, ABI %u.%u "
             "needs at least %zu (host %u.%u vs plugin %u.%u)",
             path, ops->struct_size, host_major, io->abi_minor, need,
             host_major, host_minor, io->plugin_abi_major,
             io->plugin_abi_minor);
        return KVP_ERR_ABI_MISMATCH;
    }
    return KVP_OK;
}

int32_t kvp_loader_open_as(const char *path, uint16_t host_major,
                           uint16_t host_minor, const struct kvp_host_api *host,
                           struct kvp_plugin *plugin, char *err, size_t err_cap)
{
    int32_t status;
    void *handle;
    void *sym;
    kvp_negotiate_v1_fn negotiate;
    struct kvp_negotiate io;

    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    if (plugin == NULL) {
        fail(host, err, err_cap, "kvplug loader: plugin out-param is NULL");
        return KVP_ERR_INVALID;
    }
    if (path == NULL || path[0] == '\0') {
        path = getenv("KVPLUG_PLUGIN");
        if (path == NULL || path[0] == '\0') {
            fail(host, err, err_cap,
                 "kvplug loader: no plugin path given and KVPLUG_PLUGIN is "
                 "not set");
            return KVP_ERR_INVALID;
        }
    }
    if (strlen(path) >= KVP_LOADER_PATH_MAX) {
        fail(host, err, err_cap,
             "kvplug loader: plugin path of %zu bytes exceeds %d", strlen(path),
             KVP_LOADER_PATH_MAX - 1);
        return KVP_ERR_INVALID;
    }

    /* LOCAL: the plugin's internals never resolve the host's symbols or
     * another plugin's; NOW: a missing dependency fails here, not mid-op. */
    dlerror();
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fail(host, err, err_cap, "kvplug loader: cannot load plugin '%s': %s",
             path, dl_reason());
        return KVP_ERR_NOT_FOUND;
    }

    dlerror();
    sym = dlsym(handle, KVP_NEGOTIATE_V1_SYMBOL);
    if (sym == NULL) {
        fail(host, err, err_cap,
             "kvplug loader: plugin '%s' does not export %s: %s", path,
             KVP_NEGOTIATE_V1_SYMBOL, dl_reason());
        status = KVP_ERR_NOT_SUPPORTED;
        goto err_close;
    }
    /* POSIX guarantees a function address survives the trip via void *. */
    memcpy(&negotiate, &sym, sizeof negotiate);

    memset(&io, 0, sizeof io);
    io.struct_size = sizeof io;
    io.host_abi_major = host_major;
    io.host_abi_minor = host_minor;
    io.host = host;
    status = negotiate(&io);
    if (status == KVP_ERR_ABI_MISMATCH) {
        fail(host, err, err_cap,
             "kvplug loader: plugin '%s': ABI mismatch: host %u.%u vs plugin "
             "%u.%u",
             path, host_major, host_minor, io.plugin_abi_major,
             io.plugin_abi_minor);
        goto err_close;
    }
    if (status != KVP_OK) {
        fail(host, err, err_cap,
             "kvplug loader: plugin '%s': %s failed with status %d (host ABI "
             "%u.%u)",
             path, KVP_NEGOTIATE_V1_SYMBOL, status, host_major, host_minor);
        goto err_close;
    }
    status = check_ops(&io, path, host_major, host_minor, host, err, err_cap);
    if (status != KVP_OK)
        goto err_close;

    memset(plugin, 0, sizeof *plugin);
    plugin->handle = handle;
    plugin->ops = io.ops;
    plugin->abi_major = io.plugin_abi_major;
    plugin->abi_minor = io.abi_minor;
    plugin->plugin_abi_minor = io.plugin_abi_minor;
    memcpy(plugin->path, path, strlen(path) + 1);
    return KVP_OK;

err_close:
    /* No engine exists yet, so unloading is safe. */
    dlclose(handle);
    return status;
}

int32_t kvp_loader_open(const char *path, const struct kvp_host_api *host,
                        struct kvp_plugin *plugin, char *err, size_t err_cap)
{
    return kvp_loader_open_as(path, KVP_ABI_MAJOR, KVP_ABI_MINOR, host, plugin,
                              err, err_cap);
}

void kvp_loader_close(struct kvp_plugin *plugin)
{
    if (plugin == NULL || plugin->handle == NULL)
        return;
    dlclose(plugin->handle);
    memset(plugin, 0, sizeof *plugin);
}
