/*
 * cuda_rt.h - the CUDA runtime, loaded with dlopen() when first needed.
 *
 * libkvplug.so never has a NEEDED entry on libcudart: a host with its own
 * CUDA runtime (torch's), or with none, always loads the plugin. Built
 * with the CUDA toolkit (KVP_HAVE_CUDA), cuda_rt.c compiles against the
 * toolkit headers for types only and resolves the few functions it needs
 * from the first runtime that loads (docs/cuda.md "Which runtime"); built
 * without it, cuda_rt_none.c answers "built without CUDA" everywhere.
 *
 * Nothing here initialises the CUDA driver unless the process has already
 * loaded it (libcuda.so.1): device memory cannot exist before that, and a
 * driver initialised before fork() breaks CUDA in the children.
 */
#ifndef KVP_CUDA_RT_H
#define KVP_CUDA_RT_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* What a pointer is, as the CUDA runtime sees it. */
enum kvp_mem_kind {
    KVP_MEM_HOST = 0,    /* plain host memory, or CUDA host-pinned memory */
    KVP_MEM_DEVICE = 1,  /* device memory: reachable only by CUDA copies */
    KVP_MEM_MANAGED = 2, /* managed (unified) memory: staged like device */
};

/* The kind of ptr. KVP_MEM_HOST whenever the runtime cannot say (built
 * without CUDA, no runtime, driver not loaded in this process, not a CUDA
 * pointer); *device_p = the CUDA device of device/managed memory. */
enum kvp_mem_kind kvp_cuda_mem_kind(const void *ptr, int *device_p);

/* 1 if device memory can be registered in this process now: built with
 * CUDA, a runtime loads, the driver is loaded and reports >= 1 device.
 * Else 0, and why (if not NULL) gets one line saying which step failed. */
int kvp_cuda_usable(char *why, size_t why_cap);

/* ---- the staged path's CUDA side (stage.h); KVP_ERR_NOT_SUPPORTED when
 * the runtime is not usable, KVP_ERR_TRANSPORT (logged with CUDA's own
 * words) when CUDA fails. */
struct stage_copier;

/* Pinned, portable host memory for bounce slots (cudaHostAlloc). */
int32_t kvp_cuda_host_alloc(uint64_t len, void **p,
                            const struct kvp_logger *lg);
void kvp_cuda_host_free(void *p);

/* A stage.h copy engine on device `dev`: one non-blocking stream per
 * bounce slot; copies are cudaMemcpy2DAsync (cudaMemcpyAsync for one
 * row). lg must outlive it. */
int32_t kvp_cuda_copier_create(int dev, const struct kvp_logger *lg,
                               struct stage_copier *cp);
void kvp_cuda_copier_destroy(struct stage_copier *cp);

/* A small synchronous copy (the 304-byte tensor header of a device
 * buffer): to_host ? device -> host : host -> device. */
int32_t kvp_cuda_copy_sync(int dev, void *dst, const void *src, uint64_t len,
                           int to_host, const struct kvp_logger *lg);

#endif /* KVP_CUDA_RT_H */
