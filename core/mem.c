/*
** Huge-page memory for streamed arrays (see mem.h).
*/
#include "mem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *mem_huge_alloc(size_t bytes) {
    const size_t n = (bytes ? bytes + HUGE_PAGE - 1 : HUGE_PAGE) / HUGE_PAGE * HUGE_PAGE;
    if (n < bytes) return NULL; /* overflow */
    void *p = aligned_alloc(HUGE_PAGE, n);
    /* before the first touch: advice given later only helps when khugepaged
    ** gets round to it */
    if (p) madvise(p, n, MADV_HUGEPAGE); /* failure is harmless */
    return p;
}

void *mem_big_alloc(size_t bytes) {
    if (!bytes) return NULL;
    if (bytes >= ((size_t)4 << 20)) return mem_huge_alloc(bytes);
    return aligned_alloc(64, mem_round64(bytes));
}

void *mem_huge_calloc(size_t bytes) {
    void *p = mem_huge_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void *mem_push(void *v, size_t *n, size_t *cap, size_t elem) {
    void **arr = v;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        void *na = nc > ((size_t)-1) / elem ? NULL : realloc(*arr, nc * elem);
        if (!na) return NULL;
        *arr = na;
        *cap = nc;
    }
    char *e = (char *)*arr + (*n)++ * elem;
    memset(e, 0, elem);
    return e;
}
