/*
 * shm_index.h - the server's shared index segment (docs/protocol.md,
 * "Gets without a round trip"): a sealed memfd holding proto/shidx.h's
 * table, created at start, pre-faulted, named to each same-host client in
 * its ring segment (shm_chan.c) and kept in step by the store
 * (kvstore.c).
 */
#ifndef KVP_SERVER_SHM_INDEX_H
#define KVP_SERVER_SHM_INDEX_H

#include <pthread.h>
#include <stdint.h>

#include "shidx.h"

struct shm_index {
    int fd; /* open for the server's life: clients open /proc/<pid>/fd */
    void *seg;
    size_t seg_len;
    struct shidx ix;
    struct shidx_desc desc;
    pthread_mutex_t readers_lock; /* connection threads take words */
    uint8_t reader_used[SHIDX_READERS];
};

/* A table of one slot per 16 KiB of pool (1024 .. 4 Mi slots). KVP_OK,
 * KVP_ERR_NO_MEMORY or KVP_ERR_INTERNAL (no random seed). */
int32_t shm_index_create(struct shm_index **si_p, uint64_t pool_bytes);
void shm_index_destroy(struct shm_index *si);

/* A free reader word for a new same-host connection (the lowest, so the
 * store's scan stays short), or SHIDX_NO_READER when all are taken (that
 * connection's gets then take the round trip). */
uint32_t shm_index_reader_take(struct shm_index *si);
/* The connection is gone: its word is cleared (a reader killed mid-read
 * no longer holds memory back) and free again. */
void shm_index_reader_give(struct shm_index *si, uint32_t r);

#endif /* KVP_SERVER_SHM_INDEX_H */
