/* tp_module.c - dlopen of transport modules, with errors that name paths. */
#include "tp_module.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KVP_INSTALL_LIBDIR
#define KVP_INSTALL_LIBDIR "/usr/local/lib"
#endif

/* Directory of the object that contains this function. */
static int self_dir(char *buf, size_t cap)
{
    Dl_info info;
    if (dladdr((void *)self_dir, &info) == 0 || info.dli_fname == NULL)
        return -1;
    char resolved[PATH_MAX];
    const char *path = info.dli_fname;
    if (realpath(path, resolved) != NULL)
        path = resolved;
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return -1;
    size_t n = (size_t)(slash - path);
    if (n + 1 > cap)
        return -1;
    memcpy(buf, path, n);
    buf[n] = '\0';
    return 0;
}

static int32_t try_open(const char *dir, const char *name,
                        const struct kvp_logger *lg, char *tried,
                        size_t tried_cap,
                        const struct kvp_transport_ops **ops_p)
{
    char path[PATH_MAX];
    int w = snprintf(path, sizeof(path), "%s/libkvplug_%s.so", dir, name);
    if (w < 0 || (size_t)w >= sizeof(path))
        return KVP_ERR_NOT_SUPPORTED; /* cannot name it: not there */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        size_t used = strlen(tried);
        snprintf(tried + used, tried_cap - used, "%s%s (%s)",
                 used ? "; " : "", path, dlerror());
        return KVP_ERR_NOT_SUPPORTED;
    }
    kvp_transport_get_ops_fn get;
    *(void **)&get = dlsym(h, KVP_TRANSPORT_ENTRY_SYMBOL);
    if (get == NULL) {
        KVP_LOG_E(lg, "transport module %s: missing symbol %s: %s", path,
                  KVP_TRANSPORT_ENTRY_SYMBOL, dlerror());
        return KVP_ERR_ABI_MISMATCH;
    }
    const struct kvp_transport_ops *ops = get();
    if (ops == NULL || ops->version != KVP_TRANSPORT_OPS_VERSION ||
        ops->struct_size < sizeof(struct kvp_transport_ops)) {
        KVP_LOG_E(lg,
                  "transport module %s: ops version %u size %u, expected "
                  "version %u size >= %zu",
                  path, ops ? ops->version : 0, ops ? ops->struct_size : 0,
                  KVP_TRANSPORT_OPS_VERSION, sizeof(struct kvp_transport_ops));
        return KVP_ERR_ABI_MISMATCH;
    }
    KVP_LOG_D(lg, "transport module '%s' loaded from %s", name, path);
    *ops_p = ops;
    return KVP_OK;
}

int32_t tp_module_load(const char *name, const struct kvp_logger *lg,
                       const struct kvp_transport_ops **ops_p)
{
    if (name == NULL || strchr(name, '/') != NULL || name[0] == '\0') {
        KVP_LOG_E(lg, "transport: invalid module name");
        return KVP_ERR_INVALID;
    }
    const char *dirs[4];
    int n = 0;
    const char *env = getenv("KVPLUG_TRANSPORT_DIR");
    if (env != NULL && env[0] != '\0')
        dirs[n++] = env;
    char self[PATH_MAX], self_lib[PATH_MAX + 8];
    if (self_dir(self, sizeof(self)) == 0) {
        dirs[n++] = self;
        snprintf(self_lib, sizeof(self_lib), "%s/../lib", self);
        dirs[n++] = self_lib;
    }
    dirs[n++] = KVP_INSTALL_LIBDIR;

    char tried[4 * PATH_MAX + 2048] = "";
    for (int i = 0; i < n; i++) {
        int32_t st = try_open(dirs[i], name, lg, tried, sizeof(tried), ops_p);
        if (st != KVP_ERR_NOT_SUPPORTED)
            return st;
    }
    KVP_LOG_E(lg, "transport '%s' not available: tried %s", name, tried);
    return KVP_ERR_NOT_SUPPORTED;
}
