/* alloc.c - first-fit, coalescing offset allocator (see alloc.h). */
#include "alloc.h"

#include <stdlib.h>

struct alloc_block {
    uint64_t off;
    uint64_t len;
    struct alloc_block *next;
};

uint64_t alloc_rounded(uint64_t len)
{
    if (len > UINT64_MAX - (ALLOC_ALIGN - 1))
        return UINT64_MAX;
    return (len + ALLOC_ALIGN - 1) & ~(uint64_t)(ALLOC_ALIGN - 1);
}

int alloc_init(struct alloc *a, uint64_t size)
{
    a->size = size & ~(uint64_t)(ALLOC_ALIGN - 1);
    a->free_bytes = 0;
    a->n_free_blocks = 0;
    a->head = NULL;
    if (a->size == 0)
        return 0;
    a->head = malloc(sizeof(*a->head));
    if (a->head == NULL)
        return -1;
    a->head->off = 0;
    a->head->len = a->size;
    a->head->next = NULL;
    a->free_bytes = a->size;
    a->n_free_blocks = 1;
    return 0;
}

void alloc_fini(struct alloc *a)
{
    struct alloc_block *b = a->head;
    while (b != NULL) {
        struct alloc_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->free_bytes = 0;
    a->n_free_blocks = 0;
}

int alloc_get(struct alloc *a, uint64_t len, uint64_t *off_p)
{
    if (len == 0) {
        *off_p = 0;
        return 0;
    }
    uint64_t need = alloc_rounded(len);
    if (need == UINT64_MAX || need > a->free_bytes)
        return -1;
    struct alloc_block **link = &a->head;
    for (struct alloc_block *b = a->head; b != NULL; b = b->next) {
        if (b->len >= need) {
            *off_p = b->off;
            b->off += need;
            b->len -= need;
            a->free_bytes -= need;
            if (b->len == 0) {
                *link = b->next;
                free(b);
                a->n_free_blocks--;
            }
            return 0;
        }
        link = &b->next;
    }
    return -1;
}

void alloc_put(struct alloc *a, uint64_t off, uint64_t len)
{
    if (len == 0)
        return;
    uint64_t sz = alloc_rounded(len);
    struct alloc_block *prev = NULL, *next = a->head;
    while (next != NULL && next->off < off) {
        prev = next;
        next = next->next;
    }
    a->free_bytes += sz;
    int joins_prev = prev != NULL && prev->off + prev->len == off;
    int joins_next = next != NULL && off + sz == next->off;
    if (joins_prev && joins_next) {
        prev->len += sz + next->len;
        prev->next = next->next;
        free(next);
        a->n_free_blocks--;
    } else if (joins_prev) {
        prev->len += sz;
    } else if (joins_next) {
        next->off = off;
        next->len += sz;
    } else {
        struct alloc_block *b = malloc(sizeof(*b));
        if (b == NULL) {
            /* Leaks the range rather than corrupting the list; the pool
             * just shrinks. Only under malloc failure. */
            a->free_bytes -= sz;
            return;
        }
        b->off = off;
        b->len = sz;
        b->next = next;
        if (prev != NULL)
            prev->next = b;
        else
            a->head = b;
        a->n_free_blocks++;
    }
}

uint64_t alloc_largest_free(const struct alloc *a)
{
    uint64_t best = 0;
    for (const struct alloc_block *b = a->head; b != NULL; b = b->next) {
        if (b->len > best)
            best = b->len;
    }
    return best;
}
