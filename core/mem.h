/*
** Memory for big arrays that are streamed whole every step: model weights,
** gradients, optimizer moments, KV caches; and growing arrays of rows.
*/
#ifndef QUILL_MEM_H
#define QUILL_MEM_H

#include <stddef.h>

/* bytes (rounded up to whole 2 MB pages), 2 MB aligned and advised to use
** transparent huge pages, so streaming the array does not walk the page
** tables every 4 KB (a token-by-token generation step at batch 8 took half
** as long again without them).  The advice is a hint: where huge pages are
** off this is plain memory.  Contents are undefined, like malloc; release
** with free().  NULL when out of memory. */
void *mem_huge_alloc(size_t bytes);

/* bytes, 64-byte aligned (NULL for 0 or out of memory; release with
** free()): on huge pages (mem_huge_alloc) from 4 MB, the size of a step's
** buffers that the products read in strips of thousands of rows, a TLB
** miss each on 4 KB pages; plain aligned memory below. */
void *mem_big_alloc(size_t bytes);

/* n rounded up to whole cache lines (64 bytes). */
static inline size_t mem_round64(size_t n) {
    return (n + 63) / 64 * 64;
}

/* Part part of parts (equal cuts of whole cache lines) of the bytes at p,
** as [*from, *to) (empty past the end): a product asks for its next block
** of weights a part per call of its kernel, and the kernel one line per
** step of its loop, so the block streams in from memory while the current
** one is in use, without a burst of requests that stalls the loop. */
static inline void mem_ahead_part(const void *p, size_t bytes, int part, int parts,
                                  const char **from, const char **to) {
    const size_t cut = mem_round64(bytes / (size_t)parts), at = cut * (size_t)part;
    *from = (const char *)p + (at < bytes ? at : bytes);
    *to = (const char *)p + (at + cut < bytes ? at + cut : bytes);
}

/* mem_huge_alloc, zero-filled. */
void *mem_huge_calloc(size_t bytes);

/* Append one zeroed element of elem bytes to the array *v of *n elements
** and capacity *cap (doubled as needed, from 16); returns it (counted in
** *n), or NULL when out of memory (the array is left as it was). */
void *mem_push(void *v, size_t *n, size_t *cap, size_t elem);

#endif
