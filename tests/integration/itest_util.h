/*
 * itest_util.h - what the integration tests share: load the REAL plugin
 * through the loader, capture its log lines, build tensor objects byte by
 * byte (independently of plugin/tensor_hdr.c), and slice a full tensor
 * into a TP shard by a naive element walk (independently of tp_plan.c).
 * A host's view only: abi/ headers and the loader.
 */
#ifndef ITEST_UTIL_H
#define ITEST_UTIL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvp_loader.h"
#include "kvplug/abi.h"
#include "kvplug/tensor.h"

/* ---- log capture -------------------------------------------------------- */

#define ITEST_LOG_CAP (1 << 20)
static pthread_mutex_t itest_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char itest_log_buf[ITEST_LOG_CAP];
static size_t itest_log_len;

static void itest_log(void *user, int32_t level, const char *msg)
{
    (void)user;
    pthread_mutex_lock(&itest_log_lock);
    int n = snprintf(itest_log_buf + itest_log_len,
                     ITEST_LOG_CAP - itest_log_len, "[%d] %s\n", level, msg);
    if (n > 0 && itest_log_len + (size_t)n < ITEST_LOG_CAP)
        itest_log_len += (size_t)n;
    pthread_mutex_unlock(&itest_log_lock);
    if (getenv("ITEST_VERBOSE") != NULL)
        fprintf(stderr, "[%d] %s\n", level, msg);
}

static inline void itest_log_clear(void)
{
    pthread_mutex_lock(&itest_log_lock);
    itest_log_len = 0;
    itest_log_buf[0] = '\0';
    pthread_mutex_unlock(&itest_log_lock);
}

/* 1 if the captured log contains s. */
static inline int itest_log_has(const char *s)
{
    pthread_mutex_lock(&itest_log_lock);
    int r = strstr(itest_log_buf, s) != NULL;
    pthread_mutex_unlock(&itest_log_lock);
    return r;
}

/* Value of "name=<u64>" in the LAST "kvplug stats:" line; -1 if none. */
static inline int64_t itest_stat(const char *name)
{
    pthread_mutex_lock(&itest_log_lock);
    const char *line = NULL, *p = itest_log_buf;
    while ((p = strstr(p, "kvplug stats:")) != NULL)
        line = p++;
    int64_t v = -1;
    if (line != NULL) {
        char pat[64];
        snprintf(pat, sizeof(pat), " %s=", name);
        const char *f = strstr(line, pat);
        const char *eol = strchr(line, '\n');
        if (f != NULL && (eol == NULL || f < eol))
            v = strtoll(f + strlen(pat), NULL, 10);
    }
    pthread_mutex_unlock(&itest_log_lock);
    return v;
}

static struct kvp_host_api itest_host = {sizeof(struct kvp_host_api), 0,
                                         itest_log, NULL};

/* ---- plugin ------------------------------------------------------------- */

static inline const struct kvp_ops *itest_load(struct kvp_plugin *pl)
{
    char err[1024];
    int32_t st = kvp_loader_open(NULL, &itest_host, pl, err, sizeof(err));
    if (st != KVP_OK) {
        fprintf(stderr, "cannot load the plugin ($KVPLUG_PLUGIN): %s\n", err);
        return NULL;
    }
    return pl->ops;
}

/* ---- tensors ------------------------------------------------------------ */

static inline void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t itest_numel(int ndim, const int64_t *shape)
{
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (uint64_t)shape[i];
    return n;
}

/* Writes a FULL tensor object (header + payload of pattern bytes seeded
 * by seed) at obj; returns its length. */
static inline uint64_t itest_make_tensor(unsigned char *obj, int32_t dtype,
                                         int ndim, const int64_t *shape,
                                         uint32_t seed)
{
    uint64_t esz = kvp_dtype_size(dtype);
    uint64_t bytes = itest_numel(ndim, shape) * esz;
    memset(obj, 0, KVP_TENSOR_HDR_SIZE);
    put_le(obj + 0, KVP_TENSOR_MAGIC, 4);
    put_le(obj + 4, 1, 2);
    put_le(obj + 6, KVP_TENSOR_HDR_SIZE, 2);
    put_le(obj + 8, (uint32_t)dtype, 4);
    put_le(obj + 12, (uint32_t)ndim, 4);
    put_le(obj + 16, KVP_LAYOUT_FULL, 4);
    put_le(obj + 24, KVP_TENSOR_HDR_SIZE, 8);
    put_le(obj + 32, bytes, 8);
    for (int i = 0; i < KVP_TENSOR_MAX_DIMS; i++) {
        int64_t d = i < ndim ? shape[i] : -1;
        put_le(obj + 40 + 8 * i, (uint64_t)d, 8);
        put_le(obj + 104 + 8 * i, (uint64_t)d, 8);
    }
    uint32_t x = seed * 2654435761u + 1;
    for (uint64_t i = 0; i < bytes; i++) {
        x = x * 1103515245u + 12345u;
        obj[KVP_TENSOR_HDR_SIZE + i] = (unsigned char)(x >> 16);
    }
    return KVP_TENSOR_HDR_SIZE + bytes;
}

/* Naive reference: the payload of shard `rank` of tp along dim d (>= 0),
 * walking every element of the shard and computing its source index. */
static inline uint64_t itest_ref_shard(const unsigned char *full_obj,
                                       int32_t dtype, int ndim,
                                       const int64_t *shape, int d, int tp,
                                       int rank, unsigned char *out)
{
    uint64_t esz = kvp_dtype_size(dtype);
    int64_t local[KVP_TENSOR_MAX_DIMS];
    for (int i = 0; i < ndim; i++)
        local[i] = shape[i];
    local[d] = shape[d] / tp;
    uint64_t n = itest_numel(ndim, local);
    const unsigned char *src = full_obj + KVP_TENSOR_HDR_SIZE;
    int64_t idx[KVP_TENSOR_MAX_DIMS] = {0};
    for (uint64_t e = 0; e < n; e++) {
        uint64_t rem = e;
        for (int i = ndim - 1; i >= 0; i--) {
            idx[i] = (int64_t)(rem % (uint64_t)local[i]);
            rem /= (uint64_t)local[i];
        }
        uint64_t lin = 0;
        for (int i = 0; i < ndim; i++) {
            int64_t v = idx[i] + (i == d ? rank * local[d] : 0);
            lin = lin * (uint64_t)shape[i] + (uint64_t)v;
        }
        memcpy(out + e * esz, src + lin * esz, esz);
    }
    return n * esz;
}

#endif /* ITEST_UTIL_H */
