/* shm_index.c - the shared index segment (see shm_index.h). */
#include "shm_index.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auth.h"
#include "kvplug/status.h"

_Static_assert(SHIDX_COOKIE_LEN == PROTO_NONCE_LEN, "the cookie is a nonce");

int32_t shm_index_create(struct shm_index **si_p, uint64_t pool_bytes)
{
    struct shm_index *si = calloc(1, sizeof(*si));
    if (si == NULL)
        return KVP_ERR_NO_MEMORY;
    uint32_t slots = shidx_slots_for(pool_bytes / (16u << 10));
    si->seg_len = shidx_seg_size(slots);
    si->seg = MAP_FAILED;
    si->fd = memfd_create("kvplug-index", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    uint8_t seed[PROTO_NONCE_LEN];
    int32_t st = KVP_ERR_NO_MEMORY;
    /* sealed: no client can shrink it under the server (SIGBUS) */
    if (si->fd < 0 || ftruncate(si->fd, (off_t)si->seg_len) != 0 ||
        fcntl(si->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) !=
            0)
        goto fail;
    if (proto_auth_nonce(seed) != 0 ||
        proto_auth_nonce(si->desc.cookie) != 0) {
        st = KVP_ERR_INTERNAL;
        goto fail;
    }
    /* pre-faulted: a commit must not pay a first touch (~13 us here) */
    si->seg = mmap(NULL, si->seg_len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, si->fd, 0);
    if (si->seg == MAP_FAILED)
        goto fail;
    shidx_init(si->seg, slots, pool_bytes, seed, si->desc.cookie);
    const char *why;
    uint8_t *b = si->seg;
    if (shidx_view(&si->ix, b, si->seg_len, si->desc.cookie,
                   b + shidx_rw_off(), b + shidx_slot_off(slots), &why) != 0)
        goto fail;
    pthread_mutex_init(&si->readers_lock, NULL);
    si->desc.fd = (uint32_t)si->fd;
    si->desc.slots = slots;
    si->desc.bytes = si->seg_len;
    *si_p = si;
    return KVP_OK;
fail:
    shm_index_destroy(si);
    return st;
}

void shm_index_destroy(struct shm_index *si)
{
    if (si == NULL)
        return;
    if (si->seg != MAP_FAILED)
        munmap(si->seg, si->seg_len);
    if (si->fd >= 0)
        close(si->fd);
    free(si);
}

uint32_t shm_index_reader_take(struct shm_index *si)
{
    uint32_t r = SHIDX_NO_READER;
    pthread_mutex_lock(&si->readers_lock);
    for (uint32_t i = 0; i < SHIDX_READERS && r == SHIDX_NO_READER; i++)
        if (!si->reader_used[i])
            r = i;
    if (r != SHIDX_NO_READER) {
        si->reader_used[r] = 1;
        shidx_reader_reset(&si->ix, r);
        if (r >= si->ix.n_readers)
            __atomic_store_n(&si->ix.n_readers, r + 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&si->readers_lock);
    return r;
}

void shm_index_reader_give(struct shm_index *si, uint32_t r)
{
    if (si == NULL || r >= SHIDX_READERS)
        return;
    pthread_mutex_lock(&si->readers_lock);
    shidx_reader_reset(&si->ix, r);
    si->reader_used[r] = 0;
    uint32_t n = si->ix.n_readers;
    while (n > 0 && !si->reader_used[n - 1])
        n--;
    __atomic_store_n(&si->ix.n_readers, n, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&si->readers_lock);
}
