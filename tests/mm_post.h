/*
** A post epilogue (core/matmul.h mm_post_fn) for the packed products'
** tests: counts its calls on each element and changes it (c -> 2c + 1),
** so that a block posted twice, or not at all, or before its sum is
** complete, shows.
*/
#ifndef QUILL_TEST_MM_POST_H
#define QUILL_TEST_MM_POST_H

#include <stddef.h>

typedef struct mm_mark {
    float *C;
    int ldc;
    unsigned char *hits; /* one count per element of C */
} mm_mark;

static void mm_mark_post(void *ctx, int i0, int rows, int j0, int cols) {
    const mm_mark *e = ctx;
    for (int i = i0; i < i0 + rows; i++)
        for (int j = j0; j < j0 + cols; j++) {
            e->hits[(size_t)i * e->ldc + j]++;
            e->C[(size_t)i * e->ldc + j] = 2.0f * e->C[(size_t)i * e->ldc + j] + 1.0f;
        }
}

#endif
