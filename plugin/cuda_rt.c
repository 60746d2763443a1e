/*
 * cuda_rt.c - the CUDA runtime through dlopen() (cuda_rt.h). Compiled only
 * when the build found the CUDA toolkit; its headers give the types, the
 * functions come from dlsym().
 */
#include "cuda_rt.h"
#include "stage.h"

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
    __typeof__(cudaGetDevice) *get_device;
    __typeof__(cudaSetDevice) *set_device;
    __typeof__(cudaHostAlloc) *host_alloc;
    __typeof__(cudaFreeHost) *free_host;
    __typeof__(cudaStreamCreateWithFlags) *stream_create;
    __typeof__(cudaStreamDestroy) *stream_destroy;
    __typeof__(cudaStreamSynchronize) *stream_synchronize;
    __typeof__(cudaMemcpyAsync) *memcpy_async;
    __typeof__(cudaMemcpy2DAsync) *memcpy_2d_async;
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
    SYM(get_device, "cudaGetDevice");
    SYM(set_device, "cudaSetDevice");
    SYM(host_alloc, "cudaHostAlloc");
    SYM(free_host, "cudaFreeHost");
    SYM(stream_create, "cudaStreamCreateWithFlags");
    SYM(stream_destroy, "cudaStreamDestroy");
    SYM(stream_synchronize, "cudaStreamSynchronize");
    SYM(memcpy_async, "cudaMemcpyAsync");
    SYM(memcpy_2d_async, "cudaMemcpy2DAsync");
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

/* ---- the staged path's CUDA side ---------------------------------------- */

static int32_t cuda_fail(const struct kvp_logger *lg, const char *what,
                         cudaError_t err)
{
    KVP_LOG_E(lg, "CUDA %s: %s", what, rt.f.get_error_string(err));
    (void)rt.f.get_last_error();
    return KVP_ERR_TRANSPORT;
}

/* Makes dev current; *prev_p = the device to restore. */
static cudaError_t enter(int dev, int *prev_p)
{
    cudaError_t err = rt.f.get_device(prev_p);
    if (err == cudaSuccess && *prev_p != dev)
        err = rt.f.set_device(dev);
    return err;
}

static void leave(int dev, int prev)
{
    if (prev != dev)
        (void)rt.f.set_device(prev);
}

int32_t kvp_cuda_host_alloc(uint64_t len, void **p, const struct kvp_logger *lg)
{
    *p = NULL;
    if (fns() == NULL)
        return KVP_ERR_NOT_SUPPORTED;
    cudaError_t err = rt.f.host_alloc(p, (size_t)len, cudaHostAllocPortable);
    return err == cudaSuccess ? KVP_OK : cuda_fail(lg, "cudaHostAlloc", err);
}

void kvp_cuda_host_free(void *p)
{
    if (p != NULL && fns() != NULL)
        (void)rt.f.free_host(p);
}

struct cuda_copier {
    int dev;
    const struct kvp_logger *lg;
    cudaStream_t stream[2];
};

static int32_t cc_copy(void *ctx, uint32_t slot, int to_host, void *host,
                       uintptr_t dev_addr, uint64_t dpitch, uint64_t width,
                       uint64_t height)
{
    struct cuda_copier *c = ctx;
    void *d = (void *)dev_addr;
    int prev;
    cudaError_t err = enter(c->dev, &prev);
    if (err == cudaSuccess && height == 1)
        err = rt.f.memcpy_async(
            to_host ? host : d, to_host ? d : host, (size_t)width,
            to_host ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice,
            c->stream[slot]);
    else if (err == cudaSuccess && to_host)
        err = rt.f.memcpy_2d_async(host, (size_t)width, d, (size_t)dpitch,
                                   (size_t)width, (size_t)height,
                                   cudaMemcpyDeviceToHost, c->stream[slot]);
    else if (err == cudaSuccess)
        err = rt.f.memcpy_2d_async(d, (size_t)dpitch, host, (size_t)width,
                                   (size_t)width, (size_t)height,
                                   cudaMemcpyHostToDevice, c->stream[slot]);
    leave(c->dev, prev);
    return err == cudaSuccess ? KVP_OK : cuda_fail(c->lg, "copy", err);
}

static int32_t cc_wait(void *ctx, uint32_t slot)
{
    struct cuda_copier *c = ctx;
    cudaError_t err = rt.f.stream_synchronize(c->stream[slot]);
    return err == cudaSuccess ? KVP_OK
                              : cuda_fail(c->lg, "cudaStreamSynchronize", err);
}

int32_t kvp_cuda_copier_create(int dev, const struct kvp_logger *lg,
                               struct stage_copier *cp)
{
    if (fns() == NULL)
        return KVP_ERR_NOT_SUPPORTED;
    struct cuda_copier *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return KVP_ERR_NO_MEMORY;
    c->dev = dev;
    c->lg = lg;
    int prev;
    cudaError_t err = enter(dev, &prev);
    for (int i = 0; err == cudaSuccess && i < 2; i++)
        err = rt.f.stream_create(&c->stream[i], cudaStreamNonBlocking);
    leave(dev, prev);
    if (err != cudaSuccess) {
        for (int i = 0; i < 2; i++)
            if (c->stream[i] != NULL)
                (void)rt.f.stream_destroy(c->stream[i]);
        free(c);
        return cuda_fail(lg, "cudaStreamCreateWithFlags", err);
    }
    *cp = (struct stage_copier){c, cc_copy, cc_wait};
    return KVP_OK;
}

void kvp_cuda_copier_destroy(struct stage_copier *cp)
{
    struct cuda_copier *c = cp->ctx;
    if (c == NULL)
        return;
    for (int i = 0; i < 2; i++)
        (void)rt.f.stream_destroy(c->stream[i]);
    free(c);
    cp->ctx = NULL;
}

int32_t kvp_cuda_copy_sync(int dev, void *dst, const void *src, uint64_t len,
                           int to_host, const struct kvp_logger *lg)
{
    if (fns() == NULL)
        return KVP_ERR_NOT_SUPPORTED;
    int prev;
    cudaError_t err = enter(dev, &prev);
    /* the legacy default stream would serialise with the host's work:
     * a stream of our own, synchronised */
    cudaStream_t s = NULL;
    if (err == cudaSuccess)
        err = rt.f.stream_create(&s, cudaStreamNonBlocking);
    if (err == cudaSuccess)
        err = rt.f.memcpy_async(
            dst, src, (size_t)len,
            to_host ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice, s);
    if (err == cudaSuccess)
        err = rt.f.stream_synchronize(s);
    if (s != NULL)
        (void)rt.f.stream_destroy(s);
    leave(dev, prev);
    return err == cudaSuccess ? KVP_OK : cuda_fail(lg, "header copy", err);
}
