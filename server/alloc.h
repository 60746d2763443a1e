/*
 * alloc.h - offset allocator for the store's memory pool.
 *
 * Hands out 64-byte aligned ranges of [0, size). The metadata lives outside
 * the pool (clients write the pool remotely, so it can hold no headers).
 * First-fit over an offset-sorted free list; freeing coalesces with both
 * neighbours, so free space never stays split into adjacent pieces.
 * Not thread-safe: the store serialises calls.
 */
#ifndef KVP_SERVER_ALLOC_H
#define KVP_SERVER_ALLOC_H

#include <stdint.h>

#define ALLOC_ALIGN 64

struct alloc_block;

struct alloc {
    uint64_t size; /* usable bytes (multiple of ALLOC_ALIGN) */
    uint64_t free_bytes;
    uint32_t n_free_blocks;
    struct alloc_block *head; /* free blocks, ascending offset */
};

/* size is rounded down to ALLOC_ALIGN. Returns 0, or -1 on no memory. */
int alloc_init(struct alloc *a, uint64_t size);
void alloc_fini(struct alloc *a);

/* Rounds len up to ALLOC_ALIGN. len 0 takes no space: *off_p = 0 and the
 * matching alloc_put is a no-op. Returns 0, or -1 when no free block fits
 * (or metadata memory ran out); *off_p only on success. */
int alloc_get(struct alloc *a, uint64_t len, uint64_t *off_p);
/* Gives back a range from alloc_get (same len). */
void alloc_put(struct alloc *a, uint64_t off, uint64_t len);

/* Bytes a request of len really takes (rounded up). UINT64_MAX on overflow. */
uint64_t alloc_rounded(uint64_t len);
uint64_t alloc_largest_free(const struct alloc *a);

#endif /* KVP_SERVER_ALLOC_H */
