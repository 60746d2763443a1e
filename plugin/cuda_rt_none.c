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
