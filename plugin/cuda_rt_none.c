/*
 * cuda_rt_none.c - cuda_rt.h for a build without the CUDA toolkit: every
 * pointer is host memory and device memory is never usable.
 */
#include "cuda_rt.h"

#include <stdio.h>

enum kvp_mem_kind kvp_cuda_mem_kind(const void *ptr, int *device_p)
{
    (void)ptr;
    (void)device_p;
    return KVP_MEM_HOST;
}

int kvp_cuda_usable(char *why, size_t why_cap)
{
    if (why != NULL && why_cap > 0)
        snprintf(why, why_cap,
                 "this kvplug was built without CUDA "
                 "(KVP_WITH_CUDA=OFF or no toolkit found)");
    return 0;
}

int32_t kvp_cuda_host_alloc(uint64_t len, void **p, const struct kvp_logger *lg)
{
    (void)len;
    (void)lg;
    *p = NULL;
    return KVP_ERR_NOT_SUPPORTED;
}

void kvp_cuda_host_free(void *p)
{
    (void)p;
}

int32_t kvp_cuda_copier_create(int dev, const struct kvp_logger *lg,
                               struct stage_copier *cp)
{
    (void)dev;
    (void)lg;
    (void)cp;
    return KVP_ERR_NOT_SUPPORTED;
}

void kvp_cuda_copier_destroy(struct stage_copier *cp)
{
    (void)cp;
}

int32_t kvp_cuda_copy_sync(int dev, void *dst, const void *src, uint64_t len,
                           int to_host, const struct kvp_logger *lg)
{
    (void)dev;
    (void)dst;
    (void)src;
    (void)len;
    (void)to_host;
    (void)lg;
    return KVP_ERR_NOT_SUPPORTED;
}
