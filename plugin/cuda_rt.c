/*
 * cuda_rt.c - the CUDA runtime through dlopen() (cuda_rt.h). Compiled only
 * when the build found the CUDA toolkit; its headers give the types, the
 * functions come from dlsym().
 */
#include "cuda_rt.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#ifndef KVP_CUDART_SONAME
#define KVP_CUDART_SONAME "libcudart.so"
#endif

/* The functions used, typed from the toolkit's own prototypes. */
struct cuda_fns {
    __typeof__(cudaPointerGetAttributes) *pointer_get_attributes;
    __typeof__(cudaGetDeviceCount) *get_device_count;
    __typeof__(cudaGetLastError) *get_last_error;
    __typeof__(cudaGetErrorString) *get_error_string;
};

static struct {
    pthread_once_t once;
    void *lib;      /* NULL: no runtime loaded */
    char path[128]; /* the soname that loaded */
    char why[256];  /* why not, when lib is NULL */
    struct cuda_fns f;
} rt = {.once = PTHREAD_ONCE_INIT};

/* Runtimes tried, in order: $KVPLUG_CUDART (a path), one this process has
 * already loaded (the host's own: torch's, say), the one built against,
 * then the unversioned development name. */
static const char *const sonames[] = {KVP_CUDART_SONAME, "libcudart.so.13",
                                      "libcudart.so.12"};

static int resolve(void *lib)
{
#define SYM(field, name)                                                       \
    do {                                                                       \
        void *s = dlsym(lib, name);                                            \
        if (s == NULL) {                                                       \
            snprintf(rt.why, sizeof(rt.why), "the CUDA runtime %s lacks %s",   \
                     rt.path, name);                                           \
            return -1;                                                         \
        }                                                                      \
        memcpy(&rt.f.field, &s, sizeof(s));                                    \
    } while (0)
    SYM(pointer_get_attributes, "cudaPointerGetAttributes");
    SYM(get_device_count, "cudaGetDeviceCount");
    SYM(get_last_error, "cudaGetLastError");
    SYM(get_error_string, "cudaGetErrorString");
#undef SYM
    return 0;
}

static void *try_load(const char *name, int flags)
{
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL | flags);
    if (lib != NULL)
        snprintf(rt.path, sizeof(rt.path), "%s", name);
    return lib;
}

static void load_once(void)
{
    void *lib = NULL;
    const char *env = getenv("KVPLUG_CUDART");
    size_t n = sizeof(sonames) / sizeof(sonames[0]);
    if (env != NULL && env[0] != '\0') {
        lib = try_load(env, 0);
        if (lib == NULL) {
            snprintf(rt.why, sizeof(rt.why), "KVPLUG_CUDART=%s: %s", env,
                     dlerror());
            return;
        }
    }
    for (size_t i = 0; lib == NULL && i < n; i++)
        lib = try_load(sonames[i], RTLD_NOLOAD);
    if (lib == NULL)
        lib = try_load(KVP_CUDART_SONAME, 0);
    if (lib == NULL)
        lib = try_load("libcudart.so", 0);
    if (lib == NULL) {
        snprintf(rt.why, sizeof(rt.why),
                 "no CUDA runtime loads (%s, libcudart.so; set "
                 "KVPLUG_CUDART to its path)",
                 KVP_CUDART_SONAME);
        return;
    }
    if (resolve(lib) != 0) {
        dlclose(lib);
        return;
    }
    rt.lib = lib; /* never closed: the host may hold pointers into it */
}

/* The runtime, or NULL (rt.why says why). */
static const struct cuda_fns *fns(void)
{
    pthread_once(&rt.once, load_once);
    return rt.lib != NULL ? &rt.f : NULL;
}

/* 1 if this process has loaded the CUDA driver (the runtime of any host
 * loads libcuda.so.1 when it initialises). No device memory exists
 * before; querying then would initialise the driver ourselves. */
static int driver_loaded(void)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (h == NULL)
        return 0;
    dlclose(h); /* drops only the reference NOLOAD took */
    return 1;
}

enum kvp_mem_kind kvp_cuda_mem_kind(const void *ptr, int *device_p)
{
    if (!driver_loaded())
        return KVP_MEM_HOST;
    const struct cuda_fns *f = fns();
    if (f == NULL)
        return KVP_MEM_HOST;
    /* Room beyond the struct: runtimes of later majors may grow it. */
    union {
        struct cudaPointerAttributes a;
        unsigned char room[512];
    } attr;
    memset(&attr, 0, sizeof(attr));
    if (f->pointer_get_attributes(&attr.a, ptr) != cudaSuccess) {
        (void)f->get_last_error(); /* not a CUDA pointer: clear it */
        return KVP_MEM_HOST;
    }
    if (device_p != NULL)
        *device_p = attr.a.device;
    if (attr.a.type == cudaMemoryTypeDevice)
        return KVP_MEM_DEVICE;
    if (attr.a.type == cudaMemoryTypeManaged)
        return KVP_MEM_MANAGED;
    return KVP_MEM_HOST; /* unregistered or host-pinned */
}

int kvp_cuda_usable(char *why, size_t why_cap)
{
    const char *reason = NULL;
    char buf[256];
    const struct cuda_fns *f = NULL;
    int n = 0;
    if (!driver_loaded()) {
        reason = "the CUDA driver (libcuda.so.1) is not loaded in this "
                 "process, so it holds no device memory";
    } else if ((f = fns()) == NULL) {
        reason = rt.why;
    } else {
        cudaError_t err = f->get_device_count(&n);
        if (err != cudaSuccess || n < 1) {
            (void)f->get_last_error();
            snprintf(
                buf, sizeof(buf), "%s reports no CUDA device (%s)", rt.path,
                err != cudaSuccess ? f->get_error_string(err) : "0 devices");
            reason = buf;
        }
    }
    if (reason != NULL && why != NULL && why_cap > 0)
        snprintf(why, why_cap, "%s", reason);
    return reason == NULL;
}
