/* module.c - dlopen of kvplug modules, with errors that name paths. */
#include "module.h"

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

static int32_t try_open(const char *dir, const char *kind, const char *name,
                        const char *symbol, const struct kvp_logger *lg,
                        char *tried, size_t tried_cap, void **sym_p)
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
    void *sym = dlsym(h, symbol);
    if (sym == NULL) {
        KVP_LOG_E(lg, "%s module %s: missing symbol %s: %s", kind, path,
                  symbol, dlerror());
        return KVP_ERR_ABI_MISMATCH;
    }
    KVP_LOG_D(lg, "%s module '%s' loaded from %s", kind, name, path);
    *sym_p = sym;
    return KVP_OK;
}

int32_t kvp_module_open(const char *kind, const char *name,
                        const char *symbol, const struct kvp_logger *lg,
                        void **sym_p)
{
    if (name == NULL || strchr(name, '/') != NULL || name[0] == '\0') {
        KVP_LOG_E(lg, "%s: invalid module name '%s' (a short name such as "
                      "'ucx', no '/')", kind, name ? name : "(null)");
        return KVP_ERR_INVALID;
    }
    const char *dirs[6];
    int n = 0;
    const char *env = getenv("KVPLUG_MODULE_DIR");
    if (env == NULL || env[0] == '\0')
        env = getenv("KVPLUG_TRANSPORT_DIR");
    if (env != NULL && env[0] != '\0')
        dirs[n++] = env;
    char self[PATH_MAX], self_sub[PATH_MAX + 8], self_lib[PATH_MAX + 8],
        self_lib_sub[PATH_MAX + 16];
    if (self_dir(self, sizeof(self)) == 0) {
        dirs[n++] = self;
        snprintf(self_sub, sizeof(self_sub), "%s/kvplug", self);
        dirs[n++] = self_sub;
        snprintf(self_lib, sizeof(self_lib), "%s/../lib", self);
        dirs[n++] = self_lib;
        snprintf(self_lib_sub, sizeof(self_lib_sub), "%s/../lib/kvplug",
                 self);
        dirs[n++] = self_lib_sub;
    }
    dirs[n++] = KVP_INSTALL_LIBDIR "/kvplug";

    char tried[6 * PATH_MAX + 2048] = "";
    for (int i = 0; i < n; i++) {
        int32_t st = try_open(dirs[i], kind, name, symbol, lg, tried,
                              sizeof(tried), sym_p);
        if (st != KVP_ERR_NOT_SUPPORTED)
            return st;
    }
    KVP_LOG_E(lg, "%s '%s' not available: tried %s", kind, name, tried);
    return KVP_ERR_NOT_SUPPORTED;
}
