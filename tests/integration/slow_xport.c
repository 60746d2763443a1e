/*
 * slow_xport.c - a transport that is slow on purpose, for the
 * unregister-during-use test (itest_unregister.c). Built as
 * libkvplug_ucx.so in a directory of its own (KVPLUG_MODULE_DIR points
 * there), it loads the REAL UCX module from $KVPLUG_SLOW_REAL and forwards
 * every op to it; write() and read() first sleep $KVPLUG_SLOW_MS ms (read
 * at ctx_create) with kvp_slow_in_flight counting the calls inside. Not a
 * mock: the bytes move over real UCX, only later.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kvp_transport.h"

/* Calls of write()/read() now between entry and return (the test reads
 * it with dlsym). */
#define SLOW_EXPORT __attribute__((visibility("default")))
extern SLOW_EXPORT atomic_int kvp_slow_in_flight;
atomic_int kvp_slow_in_flight;
SLOW_EXPORT const struct kvp_transport_ops *kvp_transport_get_ops_v1(void);

static struct kvp_transport_ops slow_ops;
static const struct kvp_transport_ops *real;
static atomic_int slow_ms;

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int32_t slow_ctx_create(const struct kvp_xport_params *params,
                               struct kvp_xport_ctx **ctx_p)
{
    const char *ms = getenv("KVPLUG_SLOW_MS");
    atomic_store(&slow_ms, ms != NULL ? atoi(ms) : 0);
    return real->ctx_create(params, ctx_p);
}

static int32_t slow_write(struct kvp_xport_ep *ep,
                          const struct kvp_xport_iov *iov, uint32_t n_iov,
                          struct kvp_xport_mem *lmem, uint64_t raddr,
                          struct kvp_xport_rkey *rkey)
{
    atomic_fetch_add(&kvp_slow_in_flight, 1);
    pause_ms(atomic_load(&slow_ms));
    int32_t st = real->write(ep, iov, n_iov, lmem, raddr, rkey);
    atomic_fetch_sub(&kvp_slow_in_flight, 1);
    return st;
}

static int32_t slow_read(struct kvp_xport_ep *ep, void *dst, uint64_t len,
                         struct kvp_xport_mem *lmem, uint64_t raddr,
                         struct kvp_xport_rkey *rkey)
{
    atomic_fetch_add(&kvp_slow_in_flight, 1);
    pause_ms(atomic_load(&slow_ms));
    int32_t st = real->read(ep, dst, len, lmem, raddr, rkey);
    atomic_fetch_sub(&kvp_slow_in_flight, 1);
    return st;
}

const struct kvp_transport_ops *kvp_transport_get_ops_v1(void)
{
    if (real != NULL)
        return &slow_ops;
    const char *path = getenv("KVPLUG_SLOW_REAL");
    void *h = path != NULL ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    kvp_transport_get_ops_fn fn =
        h != NULL
            ? (kvp_transport_get_ops_fn)dlsym(h, KVP_TRANSPORT_ENTRY_SYMBOL)
            : NULL;
    if (fn == NULL) {
        fprintf(stderr, "slow_xport: cannot load KVPLUG_SLOW_REAL='%s': %s\n",
                path != NULL ? path : "(unset)", dlerror());
        return NULL;
    }
    real = fn();
    slow_ops = *real;
    slow_ops.ctx_create = slow_ctx_create;
    slow_ops.write = slow_write;
    slow_ops.read = slow_read;
    return &slow_ops;
}
